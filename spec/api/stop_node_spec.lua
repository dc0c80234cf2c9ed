-- stop_node: answered first, then the node drops its connections and closes
-- its port; with restart_after it comes back on the same port with the
-- state it had. Real `hypersub node` processes, and an in-process node for
-- the state hook.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

local function now_ms()
  return uv.hrtime() / 1e6
end

-- Sanitizer reports or assertion failures in a child's stderr fail the spec.
local function assert_clean(p)
  local err = p.stderr or ""
  for _, bad in ipairs { "Sanitizer", "runtime error:", "Assertion", "Segmentation" } do
    assert.falsy(err:find(bad, 1, true), ("node stderr has %q:\n%s"):format(bad, err))
  end
end

describe("stop_node (process)", function()
  local procs, clients = {}, {}

  local function start(flags)
    local p = assert(process.start_node(flags))
    procs[#procs + 1] = p
    return p
  end

  local function connect(addr, opts)
    local c, msg, code = hypersub.connect(addr, opts)
    if c then clients[#clients + 1] = c end
    return c, msg, code
  end

  after_each(function()
    for _, c in ipairs(clients) do c:close() end
    for _, p in ipairs(procs) do p:close() end
    uv.run("nowait") -- finish closing the handles
    for _, p in ipairs(procs) do assert_clean(p) end
    procs, clients = {}, {}
  end)

  it("answers true; then the process exits and the port refuses connections", function()
    local p = start { "--id", "0" }
    local c = assert(connect(p.addr))
    local other = assert(connect(p.addr))
    assert.is_true(other:create_publisher("p1"))
    assert.is_true(other:create_topic("p1", "t"))
    assert.is_true(other:create_subscriber("s1"))
    assert.is_true(other:subscribe("s1", "t"))
    -- A long poll on another connection shows that connection dropping.
    local dropped
    assert.is_true(other:pull("s1", "t", { wait = 5000 }, function(...) dropped = table.pack(...) end))

    assert.is_true(c:stop_node(0))
    local code, signal = p:wait(5000)
    assert.equal(0, code, "exit code")
    assert.equal(0, signal)
    assert(process.wait_until(function() return dropped end, 2000, "the waiting pull to fail"))
    -- The client tried again on a new connection; nothing listens any more.
    assert.is_nil(dropped[1])
    assert.equal("UNAVAILABLE", dropped[3])
    assert.truthy(dropped[2]:find(p.addr, 1, true), dropped[2])
    assert.equal(1, other:retries())

    local x, msg, ecode = hypersub.connect(p.addr, { timeout = 2000 })
    assert.is_nil(x)
    assert.equal("UNAVAILABLE", ecode)
    assert.truthy(msg:find(p.addr, 1, true), msg)
    assert.truthy(p.stderr:find("stop_requested", 1, true), p.stderr)
  end)

  it("with restart_after: answers true, drops the connection, comes back with its state", function()
    local p = start { "--id", "0" }
    local c = assert(connect(p.addr))
    assert.is_true(c:create_publisher("p1"))
    assert.is_true(c:create_topic("p1", "news"))
    assert.is_true(c:create_subscriber("s1"))
    assert.is_true(c:subscribe("s1", "news"))
    for i = 0, 4 do assert.equal(i, c:publish("p1", "news", "before " .. i)) end
    assert.equal(2, #c:pull("s1", "news", { max = 2 })) -- the cursor moves to 2

    local watcher = assert(connect(p.addr))
    assert.is_true(watcher:create_subscriber("w"))
    assert.is_true(watcher:subscribe("w", "news", { from = "latest" }))
    local dropped
    assert.is_true(watcher:pull("w", "news", { wait = 5000 }, function(...) dropped = table.pack(...) end))

    uv.update_time()
    local t0 = now_ms()
    assert.is_true(c:stop_node(0, { restart_after = 300 }))
    assert(process.wait_until(function() return dropped end, 2000, "the connection to drop"))
    -- Its retry found the port closed.
    assert.equal("UNAVAILABLE", dropped[3])
    -- While it is down the port refuses.
    local x, _, code = hypersub.connect(p.addr, { timeout = 2000 })
    if now_ms() - t0 < 250 then
      assert.is_nil(x)
      assert.equal("UNAVAILABLE", code)
    elseif x then
      x:close()
    end

    -- Back after the delay: the node says so in its log, and connects work.
    local c2
    assert(process.wait_until(function()
      return (p.stderr or ""):find("node_restarted", 1, true)
    end, 5000, "node_restarted in the log"))
    assert(process.wait_until(function()
      c2 = c2 or connect(p.addr, { timeout = 1000 })
      return c2
    end, 5000, "a connect to succeed"))
    assert.is_true(now_ms() - t0 >= 290, "restarted too early")
    assert.is_false(p.exited)

    -- Its state survived: registrations, topic, messages and the cursor.
    assert.same({ 2, 3, 4 }, (function()
      local o = {}
      for _, m in ipairs(assert(c2:pull("s1", "news"))) do o[#o + 1] = m.offset end
      return o
    end)())
    assert.is_true(c2:create_subscriber("s2"))
    assert.is_true(c2:subscribe("s2", "news"))
    local all = assert(c2:pull("s2", "news"))
    assert.equal(5, #all)
    for i, m in ipairs(all) do assert.equal("before " .. (i - 1), m.data) end
    assert.equal(5, c2:publish("p1", "news", "after"))
    local ok, msg, ecode = c2:create_publisher("p1")
    assert.is_nil(ok)
    assert.equal("EXISTS", ecode, msg)
    -- The old client reconnects on its next request.
    assert.equal(6, c:publish("p1", "news", "old client"))
  end)

  it("gives NO_NODE for another id, and the node keeps serving", function()
    local p = start { "--id", "0" }
    local c = assert(connect(p.addr))
    local ok, msg, code = c:stop_node(7)
    assert.is_nil(ok)
    assert.equal("NO_NODE", code)
    assert.equal("NO_NODE: node 7 does not exist", msg)
    assert.is_true(c:create_publisher("p1"))
    assert.is_false(p.exited)
  end)

  it("stops a node by its own id", function()
    local p = start { "--id", "5" }
    local c = assert(connect(p.addr))
    assert.equal(5, c.node_id)
    local ok, _, code = c:stop_node(0)
    assert.is_nil(ok)
    assert.equal("NO_NODE", code)
    assert.is_true(c:stop_node(5))
    assert.equal(0, (p:wait(5000)))
  end)
end)

describe("stop (in-process)", function()
  local node, c

  before_each(function()
    node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "error" })
    c = assert(hypersub.connect("127.0.0.1:" .. node:port()))
  end)

  after_each(function()
    if c then c:close() end
    if node then node:close() end
    uv.run("nowait")
  end)

  it("on_state sees restarting then running, with the same port", function()
    local states = {}
    node:on_state(function(s) states[#states + 1] = s end)
    local port = node:port()
    assert.is_true(c:create_publisher("p1"))
    assert.is_true(c:stop_node(0, { restart_after = 100 }))
    assert(process.wait_until(function() return #states >= 2 end, 3000, "two states"))
    assert.same({ "restarting", "running" }, states)
    assert.equal("running", node:state())
    assert.equal(port, node:port())
    -- State kept; the client reconnects.
    local ok, _, code = c:create_publisher("p1")
    assert.is_nil(ok)
    assert.equal("EXISTS", code)
  end)

  it("node:stop(ms) does the same from Lua", function()
    local states = {}
    node:on_state(function(s) states[#states + 1] = s end)
    assert.is_true(node:stop(50))
    assert.equal("restarting", node:state())
    assert.equal(0, node:port())
    local ok, _, code = node:stop()
    assert.is_nil(ok)
    assert.equal("INVALID", code)
    assert(process.wait_until(function() return #states >= 2 end, 3000, "two states"))
    assert.same({ "restarting", "running" }, states)
    assert.is_true(c:create_publisher("p1"))
  end)

  it("node:stop() without a restart stays stopped", function()
    local states = {}
    node:on_state(function(s) states[#states + 1] = s end)
    assert.is_true(node:stop())
    assert.same({ "stopped" }, states)
    assert.equal("stopped", node:state())
    local ok, _, code = c:create_publisher("p1")
    assert.is_nil(ok)
    assert.is_true(code == "CLOSED" or code == "UNAVAILABLE", code)
  end)
end)
