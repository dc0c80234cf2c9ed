-- The command line against a 3-node cluster: every verb, its output as
-- text and as JSON (parsed back), and the exit codes (0 done, 1 the
-- cluster said no or status found a problem, 2 usage, 3 unreachable).
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local cjson = require "cjson"

local VERBS = { "pub", "sub", "read", "topics", "topic", "where", "stats", "status", "leave",
  "bench", "version", "node" }

-- Runs `hypersub ARGS...` (stdin: text to feed it; env: extra "K=V");
-- returns the exit code, stdout and stderr.
local function hs(argv, stdin, env)
  local p = process.spawn(process.runtime(), argv, { stdin_pipe = stdin ~= nil, env = env })
  if stdin then
    p.in_pipe:write(stdin)
    p.in_pipe:shutdown()
  end
  local code = p:wait(20000)
  local out = table.concat(p.lines, "\n") .. (#p.lines > 0 and "\n" or "") .. (p.stdout_buf or "")
  local err = p.stderr or ""
  p:close()
  return code, out, err
end

-- The JSON lines of an output, decoded.
local function json_lines(out)
  local rows = {}
  for line in out:gmatch("[^\n]+") do rows[#rows + 1] = cjson.decode(line) end
  return rows
end

describe("the command line #cluster", function()
  local cl, S

  setup(function()
    cl = assert(cluster.start { nodes = 3 })
    assert(cl:await_view())
    S = { "--server", cl:addr(0) .. "," .. cl:addr(1) }
  end)

  teardown(function()
    cl:close()
    cl:check()
  end)

  -- argv with the server flags after it.
  local function with_server(...)
    local argv = { ... }
    for _, f in ipairs(S) do argv[#argv + 1] = f end
    return argv
  end

  it("every verb has --help (exit 0); an unknown verb lists them (exit 2)", function()
    for _, verb in ipairs(VERBS) do
      local code, out = hs { verb, "--help" }
      assert.equal(0, code, verb)
      assert.truthy(out:find("usage: hypersub " .. verb, 1, true), out)
    end
    local code, out, err = hs { "publish", "news" }
    assert.equal(2, code)
    assert.equal("", out)
    for _, verb in ipairs(VERBS) do assert.truthy(err:find(verb, 1, true), err) end
    assert.truthy(err:find('unknown verb "publish"', 1, true), err)
    code, _, err = hs { "pub", "news", "--bogus" }
    assert.equal(2, code)
    assert.truthy(err:find("unknown flag --bogus", 1, true), err)
  end)

  it("version, as text and JSON", function()
    local code, out = hs { "version" }
    assert.equal(0, code)
    assert.matches("^hypersub %d+%.%d+%.%d+\n$", out)
    code, out = hs { "version", "--json" }
    assert.equal(0, code)
    local v = cjson.decode(out)
    assert.equal(require("hypersub").version, v.version)
    assert.equal(require("hypersub").wire_version, v.wire_version)
  end)

  it("pub creates when asked, prints offsets, reads stdin; a missing topic exits 1", function()
    local code, out, err = hs(with_server("pub", "cli-news", "hello", "--create", "--count", "3"))
    assert.equal(0, code, err)
    assert.equal("0\n1\n2\n", out)
    code, out = hs(with_server("pub", "cli-news", "-", "--json", "--ack", "home"), "line a\nline b\n")
    assert.equal(0, code)
    local rows = json_lines(out)
    assert.same({ { topic = "cli-news", offset = 3 }, { topic = "cli-news", offset = 4 } }, rows)
    code, out, err = hs(with_server("pub", "cli-missing", "x"))
    assert.equal(1, code)
    assert.equal("", out)
    assert.truthy(err:find("NO_TOPIC", 1, true), err)
  end)

  it("sub prints the messages, as text or JSON, from where it is told", function()
    local code, out, err = hs(with_server("pub", "cli-sub", "m", "--create", "--count", "4"))
    assert.equal(0, code, err)
    code, out = hs(with_server("sub", "cli-sub"))
    assert.equal(0, code)
    assert.equal("m\nm\nm\nm\n", out)
    code, out = hs(with_server("sub", "cli-sub", "--json", "--from", "2", "--count", "1"))
    assert.equal(0, code)
    local rows = json_lines(out)
    assert.equal(1, #rows)
    assert.equal(2, rows[1].offset)
    assert.equal("cli", rows[1].publisher)
    assert.equal("m", rows[1].data)
    -- A named subscriber resumes where it stopped.
    hs(with_server("sub", "cli-sub", "--subscriber", "resumer", "--count", "3"))
    code, out = hs(with_server("sub", "cli-sub", "--subscriber", "resumer", "--json"))
    assert.equal(0, code)
    assert.equal(3, json_lines(out)[1].offset)
    code, _, err = hs(with_server("sub", "cli-nothing"))
    assert.equal(1, code)
    assert.truthy(err:find("NO_TOPIC", 1, true), err)
  end)

  it("read prints the messages from an offset, with no subscriber", function()
    local code, _, err = hs(with_server("pub", "cli-read", "--create", "-"), "r0\nr1\nr2\nr3\n")
    assert.equal(0, code, err)
    local function subscribers()
      local n = 0
      for _, node in ipairs(cl:nodes()) do n = n + assert(cl:client(node.id):stats()).subscribers end
      return n
    end
    local before = subscribers()
    local out
    code, out = hs(with_server("read", "cli-read"))
    assert.equal(0, code)
    assert.equal("r0\nr1\nr2\nr3\n", out)
    code, out = hs(with_server("read", "cli-read", "--json", "--from", "1", "--count", "2"))
    assert.equal(0, code)
    local rows = json_lines(out)
    assert.equal(2, #rows)
    assert.equal(1, rows[1].offset)
    assert.equal("r2", rows[2].data)
    assert.equal(before, subscribers(), "no subscriber made")
    code, _, err = hs(with_server("read", "cli-nothing"))
    assert.equal(1, code)
    assert.truthy(err:find("NO_TOPIC", 1, true), err)
  end)

  it("sub --follow prints messages as they arrive", function()
    assert.equal(0, (hs(with_server("topic", "create", "cli-follow"))))
    local argv = with_server("sub", "cli-follow", "--follow", "--from", "latest", "--count", "2")
    local p = process.spawn(process.runtime(), argv)
    finally(function() p:close() end)
    -- It is subscribed (from the latest) once a node holds its pull.
    local c = assert(cl:client(0))
    local parked = false
    for _ = 1, 500 do
      for _, n in ipairs(cl:nodes()) do
        local st = assert(cl:client(n.id)):stats()
        parked = parked or (st and st.pull_waiting > 0)
      end
      if parked then break end
      require("hypersub").sleep(20)
    end
    assert.is_true(parked)
    for i = 1, 2 do assert(c:publish("cli", "cli-follow", "live " .. i)) end
    assert.equal(0, (p:wait(10000)))
    assert.same({ "live 1", "live 2" }, p.lines)
  end)

  it("topics, topic create, info and delete, where", function()
    assert.equal(0, (hs(with_server("topic", "create", "cli-t1"))))
    assert.equal(0, (hs(with_server("topic", "create", "cli-t2", "--publisher", "owner"))))
    local code, _, err = hs(with_server("topic", "create", "cli-t1"))
    assert.equal(1, code)
    assert.truthy(err:find("EXISTS", 1, true), err)
    local out
    code, out = hs(with_server("topics", "cli-t"))
    assert.equal(0, code)
    assert.equal("cli-t1\ncli-t2\n", out)
    code, out = hs(with_server("topics", "cli-t", "--json"))
    assert.same({ "cli-t1", "cli-t2" }, cjson.decode(out))
    code, out = hs(with_server("topics", "cli-none-", "--json"))
    assert.same({}, cjson.decode(out))

    local w = cl:where("cli-t1")
    code, out = hs(with_server("where", "cli-t1", "--json"))
    assert.equal(0, code)
    local got = cjson.decode(out)
    assert.equal(w.home, got.home)
    assert.same(w.replicas, got.replicas)
    code, out = hs(with_server("where", "cli-t1"))
    assert.matches("^home " .. w.home .. ", replicas [%d ]+, epoch %d+\n$", out)

    code, out = hs(with_server("topic", "info", "cli-t1", "--json"))
    assert.equal(0, code)
    local info = cjson.decode(out)
    assert.equal(w.home, info.home)
    assert.equal(3, #info.copies)
    assert.equal("home", info.copies[1].role)
    assert.equal(0, info.copies[1].next)
    code, out = hs(with_server("topic", "info", "cli-t1"))
    assert.truthy(out:find("topic cli-t1: home " .. w.home, 1, true), out)

    code, _, err = hs(with_server("topic", "delete", "cli-t2"))
    assert.equal(1, code)
    assert.truthy(err:find("NOT_OWNER", 1, true), err)
    assert.equal(0, (hs(with_server("topic", "delete", "cli-t2", "--publisher", "owner"))))
    code, _, err = hs(with_server("topic", "info", "cli-t2"))
    assert.equal(1, code)
    assert.truthy(err:find("NO_TOPIC", 1, true), err)
  end)

  it("stats of the node connected to, or of --node ID", function()
    local code, out = hs(with_server("stats", "--node", "2", "--json"))
    assert.equal(0, code)
    local st = cjson.decode(out)
    assert.equal(2, st.node)
    assert.equal("number", type(st.uptime_ms))
    code, out = hs(with_server("stats"))
    assert.equal(0, code)
    assert.truthy(out:find("\nnode 0\n", 1, true), out)
    code = hs(with_server("stats", "--node", "9"))
    assert.equal(1, code)
  end)

  it("the server may come from HYPERSUB_SERVER; an unreachable one exits 3", function()
    local code, out = hs({ "topics" }, nil, { "HYPERSUB_SERVER=" .. cl:addr(2) })
    assert.equal(0, code)
    assert.truthy(out:find("cli-news", 1, true), out)
    local port = cluster.free_ports(1)[1]
    local err
    code, _, err = hs { "topics", "--server", "127.0.0.1:" .. port }
    assert.equal(3, code)
    assert.truthy(err:find("UNAVAILABLE", 1, true), err)
    code = hs { "topics", "--server", "127.0.0.1:" .. port, "--cluster", "other", "--timeout", "500" }
    assert.equal(3, code)
  end)

  it("bench pub, sub and latency report as text and JSON", function()
    for _, kind in ipairs { "pub", "sub", "latency" } do
      local code, out, err = hs(with_server("bench", kind, "--count", "300", "--size", "10", "--json"))
      assert.equal(0, code, err)
      local r = cjson.decode(out)
      assert.equal(kind, r.bench)
      assert.equal(300, r.count)
      assert.is_true(r.msgs_per_s > 0)
      if kind ~= "sub" then assert.equal(300, r.latency.count) end
    end
    local code, out = hs(with_server("bench", "pub", "--count", "100"))
    assert.equal(0, code)
    assert.matches("^pub: 100 messages of 100 bytes in [%d.]+ s: %d+ msgs/s", out)
    code = hs(with_server("bench", "nothing"))
    assert.equal(2, code)
  end)

  it("status: 0 when all is well, 1 with the problem named when a member is dead; leave", function()
    local code, out = hs(with_server("status"))
    assert.equal(0, code, out)
    assert.truthy(out:find("cluster view of node 0", 1, true), out)
    for _, n in ipairs(cl:nodes()) do
      assert.matches("\n" .. n.id .. "%s+" .. n.addr:gsub("%p", "%%%0") .. "%s+alive", out)
    end
    code, out = hs(with_server("status", "--json"))
    local st = cjson.decode(out)
    assert.is_true(st.healthy)
    assert.equal(3, #st.members)

    cl:kill(2)
    assert(cl:await_view())
    code, out = hs(with_server("status"))
    assert.equal(1, code)
    assert.truthy(out:find("problem: node 2 is dead", 1, true), out)
    code, out = hs(with_server("status", "--json"))
    assert.equal(1, code)
    assert.is_false(cjson.decode(out).healthy)
    assert(cl:restart(2))
    assert(cl:await_view())

    local p = cl._proc[2]
    p.expected_exit = true
    code, out = hs(with_server("leave", "2", "--json"))
    assert.equal(0, code)
    assert.same({ left = 2 }, cjson.decode(out))
    assert.equal(0, (p:wait(10000)))
    code = hs(with_server("leave", "7"))
    assert.equal(1, code)
    cl._left[2] = true
    assert(cl:await_view())
    code, out = hs(with_server("status"))
    assert.equal(0, code, out)
  end)
end)
