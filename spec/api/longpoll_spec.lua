-- pull with {wait = ms}: the node holds the pull until a message arrives,
-- the wait expires, the topic is deleted or the client goes away.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

local function now_ms()
  return uv.hrtime() / 1e6
end

describe("long poll", function()
  local node, c1, c2, addr

  before_each(function()
    node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "error" })
    addr = "127.0.0.1:" .. node:port()
    c1 = assert(hypersub.connect(addr))
    c2 = assert(hypersub.connect(addr))
    assert.is_true(c1:create_publisher("p1"))
    assert.is_true(c1:create_topic("p1", "news"))
    for _, sid in ipairs { "s1", "s2" } do
      assert.is_true(c1:create_subscriber(sid))
      assert.is_true(c1:subscribe(sid, "news"))
    end
  end)

  after_each(function()
    if c1 then c1:close() end
    if c2 then c2:close() end
    if node then node:close() end
    c1, c2, node = nil, nil, nil
    uv.run("nowait")
  end)

  local function waiting(n)
    assert(process.wait_until(function()
      return node:stats().pull_waiting == n
    end, 2000, n .. " waiting pulls"))
  end

  it("returns as soon as another client publishes", function()
    local timer = uv.new_timer()
    local published
    timer:start(50, 0, function()
      assert(c2:publish("p1", "news", "wake up", function(o, msg)
        published = o or msg
      end))
    end)
    local t0 = now_ms()
    local msgs, msg = c1:pull("s1", "news", { wait = 5000 })
    local elapsed = now_ms() - t0
    timer:close()
    assert.is_not_nil(msgs, msg)
    assert.equal(1, #msgs)
    assert.same({ 0, "wake up", "p1" }, { msgs[1].offset, msgs[1].data, msgs[1].publisher })
    assert.is_true(elapsed < 4000, ("the pull took %.0f ms"):format(elapsed))
    assert(process.wait_until(function() return published end, 2000, "publish answer"))
    assert.equal(0, published)
    assert.equal(0, node:stats().pull_waiting)
  end)

  it("answers at once when there is already something to pull", function()
    c1:publish("p1", "news", "ready")
    uv.update_time()
    local t0 = now_ms()
    local msgs = assert(c1:pull("s1", "news", { wait = 5000 }))
    assert.is_true(now_ms() - t0 < 2000)
    assert.equal("ready", msgs[1].data)
    assert.equal(0, node:stats().pull_waits)
  end)

  it("returns {} once the wait expires", function()
    local wait = 300
    uv.update_time()
    local t0 = now_ms()
    local msgs, msg = c1:pull("s1", "news", { wait = wait })
    local elapsed = now_ms() - t0
    assert.same({}, msgs, msg)
    assert.is_true(elapsed >= wait - 10, ("returned after %.0f ms of %d"):format(elapsed, wait))
    assert.is_true(elapsed < wait + 2000, ("returned after %.0f ms of %d"):format(elapsed, wait))
    local s = node:stats()
    assert.equal(1, s.pull_wait_timeouts)
    assert.equal(0, s.pull_waiting)
    -- What comes later is still there for the next pull.
    c1:publish("p1", "news", "later")
    assert.equal("later", c1:pull("s1", "news")[1].data)
  end)

  it("wakes every subscriber waiting on the topic", function()
    local got = {}
    assert.is_true(c1:pull("s1", "news", { wait = 5000 }, function(m, msg) got.s1 = m or msg end))
    assert.is_true(c2:pull("s2", "news", { wait = 5000 }, function(m, msg) got.s2 = m or msg end))
    waiting(2)
    assert.same({}, got)
    assert.equal(0, c1:publish("p1", "news", "for both"))
    assert(process.wait_until(function() return got.s1 and got.s2 end, 2000, "both pulls"))
    for _, sid in ipairs { "s1", "s2" } do
      assert.equal("table", type(got[sid]), tostring(got[sid]))
      assert.equal(1, #got[sid])
      assert.equal("for both", got[sid][1].data)
    end
    assert.equal(0, node:stats().pull_waiting)
  end)

  it("gives each message once when one subscriber waits twice", function()
    local got = {}
    for i = 1, 2 do
      assert.is_true(c1:pull("s1", "news", { wait = 300 }, function(m, msg) got[i] = m or msg end))
    end
    waiting(2)
    c2:publish("p1", "news", "only once")
    assert(process.wait_until(function() return got[1] and got[2] end, 3000, "both pulls"))
    local total = {}
    for i = 1, 2 do
      assert.equal("table", type(got[i]), tostring(got[i]))
      for _, m in ipairs(got[i]) do total[#total + 1] = m.data end
    end
    assert.same({ "only once" }, total)
  end)

  it("answers a waiting pull with NO_TOPIC when the topic is deleted", function()
    local got
    assert.is_true(c2:pull("s1", "news", { wait = 5000 }, function(...) got = table.pack(...) end))
    waiting(1)
    assert.is_true(c1:delete_topic("p1", "news"))
    assert(process.wait_until(function() return got end, 2000, "the pull's answer"))
    assert.is_nil(got[1])
    assert.equal("NO_TOPIC", got[3])
    assert.equal('NO_TOPIC: topic "news" was deleted', got[2])
    assert.equal(0, node:stats().pull_waiting)
    -- The node is fine: the topic can come back.
    assert.is_true(c1:create_topic("p1", "news"))
    assert.equal(0, c1:publish("p1", "news", "again"))
  end)

  it("a client closing while its pull waits leaves the node healthy", function()
    local got
    assert.is_true(c2:pull("s1", "news", { wait = 200 }, function(...) got = table.pack(...) end))
    waiting(1)
    c2:close()
    assert.is_not_nil(got, "the pull fails before close returns")
    assert.is_nil(got[1])
    assert.equal("CLOSED", got[3])
    waiting(0)
    assert(process.wait_until(function() return node:stats().connections == 1 end,
      2000, "the node to drop the connection"))
    -- Past the dropped pull's wait (a pull that waits longer expires), the
    -- node still serves and nothing answers the closed connection.
    assert.same({}, c1:pull("s2", "news", { wait = 400 }))
    assert.equal(0, c1:publish("p1", "news", "still serving"))
    assert.equal("still serving", c1:pull("s1", "news")[1].data)
    local s = node:stats()
    assert.equal(0, s.pull_waiting)
    assert.equal(1, s.connections)
  end)
end)
