-- The `hypersub` runtime executable: help and version, running a script
-- (hypersub, luv and cjson available, arguments passed, the loop run after
-- it), script errors, and `hypersub node` with its flags, JSON log file and
-- config file.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local cjson = require "cjson"
local uv = require "luv"

local BIN = process.runtime()

local NODE_FLAGS = { "--id", "--listen", "--config", "--log-level", "--log-file",
  "--log-format", "--max-payload" }

local temps = {}

local function temp_file(content, suffix)
  local path = os.tmpname() .. (suffix or "")
  temps[#temps + 1] = path
  if content then
    local f = assert(io.open(path, "w"))
    f:write(content)
    f:close()
  end
  return path
end

local function read_file(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("a")
  f:close()
  return s
end

-- Runs the runtime to the end: returns code, stdout, stderr. Waits for the
-- exit and for both pipes to reach end of file, then releases the handles.
local function run(args)
  local p = process.spawn(BIN, args)
  local ok, err = process.wait_until(function()
    return p.exited and p.out_pipe:is_closing() and p.err_pipe:is_closing()
  end, 10000, "hypersub " .. table.concat(args, " "))
  p:close()
  uv.run("nowait")
  assert(ok, err)
  local out = table.concat(p.lines, "\n") .. (#p.lines > 0 and "\n" or "") .. (p.stdout_buf or "")
  return p.code, out, p.stderr or "", p.signal
end

local function assert_clean(stderr)
  for _, bad in ipairs { "Sanitizer", "runtime error:", "Segmentation" } do
    assert.falsy(stderr:find(bad, 1, true), stderr)
  end
end

describe("runtime", function()
  local procs, clients = {}, {}

  local function start_node(flags)
    local p, err = process.start_node(flags)
    assert(p, err)
    procs[#procs + 1] = p
    return p
  end

  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    for _, p in ipairs(procs) do p:close() end
    uv.run("nowait")
    for _, p in ipairs(procs) do assert_clean(p.stderr or "") end
    procs, clients = {}, {}
    for _, path in ipairs(temps) do os.remove(path) end
    temps = {}
  end)

  describe("help and version", function()
    it("hypersub --help exits 0 and points to the node's flags", function()
      local code, out = run { "--help" }
      assert.equal(0, code)
      assert.truthy(out:find("usage: hypersub", 1, true), out)
      assert.truthy(out:find("hypersub node", 1, true), out)
      assert.truthy(out:find("--version", 1, true), out)
      assert.truthy(out:find("node --help", 1, true), out)
    end)

    it("hypersub node --help exits 0 and mentions every flag", function()
      local code, out = run { "node", "--help" }
      assert.equal(0, code)
      for _, flag in ipairs(NODE_FLAGS) do
        assert.truthy(out:find(flag, 1, true), flag .. " missing from:\n" .. out)
      end
      -- Every node option has its flag (max_payload: --max-payload).
      for _, o in ipairs(require("hypersub.core").node_options) do
        local flag = "--" .. (o.flag or o.name):gsub("_", "-") .. " "
        assert.truthy(out:find(flag, 1, true), flag .. "missing from:\n" .. out)
      end
      assert.truthy(out:find("READY", 1, true), out)
    end)

    it("hypersub without arguments shows the usage and exits 2", function()
      local code, out = run {}
      assert.equal(2, code)
      assert.truthy(out:find("usage: hypersub", 1, true), out)
    end)

    it("hypersub --version prints the version", function()
      local code, out = run { "--version" }
      assert.equal(0, code)
      assert.equal("hypersub " .. hypersub.version .. "\n", out)
      assert.matches("^%d+%.%d+%.%d+$", hypersub.version)
    end)
  end)

  describe("scripts", function()
    it("runs a script with its arguments; hypersub, luv and cjson are there", function()
      local script = temp_file([[
local hypersub = require "hypersub"
local uv = require "luv"
local cjson = require "cjson"
local varargs = { ... }
local node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "error" })
local c = assert(hypersub.connect("127.0.0.1:" .. node:port()))
assert(c:create_publisher("p"))
assert(c:create_topic("p", "t"))
assert(c:create_subscriber("s"))
assert(c:subscribe("s", "t"))
local offset = assert(c:publish("p", "t", "hello " .. arg[1]))
local msgs = assert(c:pull("s", "t"))
print("RESULT " .. cjson.encode {
  arg1 = arg[1], arg2 = arg[2], n = #arg, script = arg[0],
  varargs = varargs, offset = offset, data = msgs[1].data,
  luv = type(uv.new_timer),
})
c:close()
node:close()
-- The loop runs after the script: this timer still fires.
local t = uv.new_timer()
t:start(10, 0, function() print("LATER") t:close() end)
]], ".lua")
      local code, out, err = run { script, "a", "b" }
      assert.equal(0, code, err)
      assert_clean(err)
      local json = out:match("RESULT (%b{})")
      assert.truthy(json, out .. err)
      local r = cjson.decode(json)
      assert.same({
        arg1 = "a", arg2 = "b", n = 2, script = script, varargs = { "a", "b" },
        offset = 0, data = "hello a", luv = "function",
      }, r)
      assert.truthy(out:find("LATER\n", 1, true), out)
    end)

    it("exits once the script is done and only idle clients remain", function()
      local node = start_node({ "--log-level", "error" })
      local script = temp_file(([[
local hypersub = require "hypersub"
local c = assert(hypersub.connect("%s"))
assert(c:create_publisher("idle"))
local direct = assert(hypersub.connect("%s", { direct = true }))
assert(direct:create_topic("idle", "idle-topic"))
print("DONE")
]]):format(node.addr, node.addr), ".lua")
      local code, out, err = run { script }
      assert.equal(0, code, err)
      assert.equal("DONE\n", out)
      assert.equal("", err)
    end)

    it("says what it waits for when the script leaves a node serving", function()
      local script = temp_file([[
local hypersub = require "hypersub"
local uv = require "luv"
local node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "error" })
local t = uv.new_timer()
t:start(50, 0, function() t:close() node:close() end)
]], ".lua")
      local code, _, err = run { script }
      assert.equal(0, code, err)
      assert.matches("is done; the loop runs on for node 0 %(port %d+, running%)", err)
    end)

    it("a script error exits non-zero with the traceback on stderr", function()
      local script = temp_file([[
local function inner() error("boom from the script") end
local function outer() inner() end
outer()
]], ".lua")
      local code, out, err = run { script }
      assert.is_true(code ~= 0, "exit code " .. tostring(code))
      assert.truthy(err:find("boom from the script", 1, true), err)
      assert.truthy(err:find("stack traceback", 1, true), err)
      assert.truthy(err:find("inner", 1, true), err)
      assert.equal("", out)
    end)

    it("a script that does not compile exits non-zero with the reason", function()
      local script = temp_file("local x = = 1\n", ".lua")
      local code, _, err = run { script }
      assert.is_true(code ~= 0)
      assert.truthy(err:find(script, 1, true), err)
    end)

    it("a missing script exits non-zero naming it", function()
      local missing = temp_file(nil, ".lua")
      local code, _, err = run { missing }
      assert.is_true(code ~= 0)
      assert.truthy(err:find(missing, 1, true), err)
    end)
  end)

  describe("node", function()
    it("--log-format json --log-file writes JSON lines, node_started first", function()
      local log = temp_file(nil, ".log")
      local p = start_node { "--id", "4", "--log-format", "json", "--log-file", log }
      assert.equal(4, p.id)
      local c = assert(hypersub.connect(p.addr))
      clients[#clients + 1] = c
      assert.is_true(c:create_publisher("p1"))
      assert.is_true(c:create_topic("p1", "news"))
      c:close()
      p:kill("sigterm")
      assert.equal(0, (p:wait(5000)))

      local events = {}
      for line in read_file(log):gmatch("[^\n]+") do
        local ok, ev = pcall(cjson.decode, line)
        assert(ok, "not JSON: " .. line)
        events[#events + 1] = ev
        assert.equal("string", type(ev.time))
        assert.equal("string", type(ev.level))
        assert.equal(4, ev.node)
        assert.equal("string", type(ev.component))
        assert.equal("string", type(ev.event))
      end
      assert.is_true(#events >= 3, "expected several events")
      local started = events[1]
      assert.equal("node_started", started.event)
      assert.equal("info", started.level)
      assert.equal("node", started.component)
      assert.equal(4, started.id)
      assert.equal(p.port, started.port)
      local names = {}
      for _, ev in ipairs(events) do names[ev.event] = ev end
      assert.truthy(names.publisher_created)
      assert.equal("p1", names.publisher_created.publisher)
      assert.truthy(names.topic_created)
      assert.equal("news", names.topic_created.topic)
      -- Nothing went to stderr: the log has its file.
      assert.falsy((p.stderr or ""):find("node_started", 1, true))
    end)

    it("--config FILE sets the id and max_payload", function()
      local cfg = temp_file("return { id = 3, max_payload = 100 }\n", ".lua")
      local p = start_node { "--config", cfg }
      assert.equal(3, p.id)
      assert.truthy(p.lines[1]:match("^READY 3 %d+$"), p.lines[1])
      local c = assert(hypersub.connect(p.addr))
      clients[#clients + 1] = c
      assert.equal(3, c.node_id)
      assert.is_true(c:create_publisher("p1"))
      assert.is_true(c:create_topic("p1", "news"))
      assert.equal(0, c:publish("p1", "news", ("x"):rep(100)))
      local ok, msg, code = c:publish("p1", "news", ("x"):rep(200))
      assert.is_nil(ok)
      assert.equal("TOO_LARGE", code)
      assert.truthy(msg:find("200", 1, true) and msg:find("100", 1, true), msg)
      assert.equal(1, c:publish("p1", "news", "small"))
      assert.is_true(c:stop_node(3))
    end)

    it("flags on the command line win over the config file", function()
      local cfg = temp_file("return { id = 3, max_payload = 100 }\n", ".lua")
      local p = start_node { "--config", cfg, "--id", "9", "--max-payload", "300" }
      assert.equal(9, p.id)
      local c = assert(hypersub.connect(p.addr))
      clients[#clients + 1] = c
      assert.is_true(c:create_publisher("p1"))
      assert.is_true(c:create_topic("p1", "news"))
      assert.equal(0, c:publish("p1", "news", ("x"):rep(200)))
    end)

    it("an unknown flag exits 2 with a message", function()
      local code, out, err = run { "node", "--bogus", "1" }
      assert.equal(2, code)
      assert.truthy(err:find("unknown flag --bogus", 1, true), err)
      assert.equal("", out)
      code, _, err = run { "--bogus" }
      assert.equal(2, code)
      assert.truthy(err:find("unknown flag --bogus", 1, true), err)
    end)

    it("a flag without its value, or a bad integer, exits 2 with a message", function()
      local code, _, err = run { "node", "--id" }
      assert.equal(2, code)
      assert.truthy(err:find("--id needs a value", 1, true), err)
      code, _, err = run { "node", "--max-payload", "lots" }
      assert.equal(2, code)
      assert.truthy(err:find("--max-payload", 1, true), err)
    end)

    it("a config file that is missing or wrong exits 2 naming it", function()
      local missing = temp_file(nil, ".lua")
      local code, _, err = run { "node", "--config", missing }
      assert.equal(2, code)
      assert.truthy(err:find(missing, 1, true), err)
      local bad = temp_file("return 42\n", ".lua")
      code, _, err = run { "node", "--config", bad }
      assert.equal(2, code)
      assert.truthy(err:find(bad, 1, true), err)
    end)

    -- Values the parser takes but the node refuses are usage errors too:
    -- a message and exit 2, like the others, not a Lua traceback.
    it("a bad flag value exits 2 with a message and no traceback", function()
      for _, args in ipairs {
        { "node", "--log-level", "loud" },
        { "node", "--log-format", "xml" },
        { "node", "--listen", "127.0.0.1:notaport" },
        { "node", "--listen", "127.0.0.1:0", "--max-payload", "0" },
      } do
        local code, _, err = run(args)
        local what = table.concat(args, " ")
        assert.equal(2, code, what .. ": " .. err)
        assert.matches("^hypersub: ", err, what)
        assert.falsy(err:find("stack traceback", 1, true), what .. ": " .. err)
      end
    end)

    it("a port already in use exits non-zero naming the address", function()
      local p = start_node {}
      finally(function() p:close() end)
      local code, _, err = run { "node", "--listen", p.addr }
      assert.is_true(code ~= 0)
      assert.truthy(err:find(p.addr, 1, true), err)
      assert.truthy(err:find("address already in use", 1, true), err)
    end)
  end)
end)
