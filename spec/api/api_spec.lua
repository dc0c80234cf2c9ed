-- The client API, call by call: every success and every error code a call
-- can give, each failure's message checked to name the thing it is about.
-- A fresh in-process node (and a client on it) per test, closed after.
local hypersub = require "hypersub"
local uv = require "luv"

local MAX_PAYLOAD = 4096

-- Runs the loop once without blocking so close callbacks finish.
local function drain()
  uv.run("nowait")
end

-- Asserts a failure: nil, "CODE: ...", "CODE", with `needle` in the message.
local function fails(code, needle, ok, msg, got)
  assert.is_nil(ok, ("expected %s, got a result: %s"):format(code, tostring(ok)))
  assert.equal(code, got, msg)
  assert.equal(code .. ": ", msg:sub(1, #code + 2), msg)
  if needle then
    assert.truthy(msg:find(needle, 1, true),
      ("message %q should mention %q"):format(msg, needle))
  end
end

describe("api", function()
  local node, c

  before_each(function()
    node = assert(hypersub.node {
      listen = "127.0.0.1:0", max_payload = MAX_PAYLOAD, log_level = "error",
    })
    c = assert(hypersub.connect("127.0.0.1:" .. node:port()))
  end)

  after_each(function()
    if c then c:close() end
    if node then node:close() end
    c, node = nil, nil
    drain()
  end)

  -- A publisher "p1" with topic "news" and a subscriber "s1".
  local function setup_topic()
    assert.is_true(c:create_publisher("p1"))
    assert.is_true(c:create_topic("p1", "news"))
    assert.is_true(c:create_subscriber("s1"))
  end

  describe("connect", function()
    it("names the node it reached", function()
      assert.equal(0, c.node_id)
      assert.matches("^hypersub.client %-> 127.0.0.1:%d+$", tostring(c))
    end)

    it("gives UNAVAILABLE for a port with nothing listening", function()
      -- A port that was just free: bind, learn it, close.
      local probe = uv.new_tcp()
      assert(probe:bind("127.0.0.1", 0))
      local port = probe:getsockname().port
      probe:close()
      drain()
      local addr = "127.0.0.1:" .. port
      local x, msg, code = hypersub.connect(addr, { timeout = 2000 })
      fails("UNAVAILABLE", addr, x, msg, code)
    end)

    it("tries the addresses in turn: a dead first one, then the node", function()
      local probe = uv.new_tcp()
      assert(probe:bind("127.0.0.1", 0))
      local dead = "127.0.0.1:" .. probe:getsockname().port
      probe:close()
      drain()
      local c2 = assert(hypersub.connect({ dead, "127.0.0.1:" .. node:port() }))
      assert.is_true(c2:create_publisher("via-second"))
      c2:close()
      -- The first client sees what the second did: same node.
      fails("EXISTS", '"via-second"', c:create_publisher("via-second"))
    end)

    it("rejects an address that is not host:port", function()
      fails("INVALID", nil, hypersub.connect("no-port-here"))
      assert.has_error(function() hypersub.connect(42) end)
      assert.has_error(function() hypersub.connect("127.0.0.1:1", { timeout = 0 }) end)
    end)
  end)

  describe("create_publisher", function()
    it("creates, then EXISTS naming the publisher", function()
      assert.is_true(c:create_publisher("p1"))
      fails("EXISTS", 'publisher "p1" already exists', c:create_publisher("p1"))
    end)

    it("accepts a name of 255 bytes and the edges of printable ASCII", function()
      assert.is_true(c:create_publisher(("x"):rep(255)))
      assert.is_true(c:create_publisher("!~#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}"))
    end)

    it("gives INVALID for bad names", function()
      for _, bad in ipairs { "", ("x"):rep(256), "has space", 'q"uote',
        "back\\slash", "nul\0byte", "tab\t", "del\127", "\200high" } do
        fails("INVALID", "publisher id", c:create_publisher(bad))
      end
    end)
  end)

  describe("create_subscriber", function()
    it("creates, then EXISTS naming the subscriber", function()
      assert.is_true(c:create_subscriber("s1"))
      fails("EXISTS", 'subscriber "s1" already exists', c:create_subscriber("s1"))
    end)

    it("gives INVALID for bad names", function()
      for _, bad in ipairs { "", ("x"):rep(256), "has space" } do
        fails("INVALID", "subscriber id", c:create_subscriber(bad))
      end
    end)

    it("keeps publishers and subscribers apart", function()
      assert.is_true(c:create_publisher("same"))
      assert.is_true(c:create_subscriber("same"))
    end)
  end)

  describe("create_topic", function()
    it("creates, then EXISTS naming the topic", function()
      assert.is_true(c:create_publisher("p1"))
      assert.is_true(c:create_topic("p1", "news"))
      fails("EXISTS", 'topic "news" already exists', c:create_topic("p1", "news"))
    end)

    it("gives NO_PUBLISHER naming the publisher", function()
      fails("NO_PUBLISHER", 'publisher "ghost" does not exist',
        c:create_topic("ghost", "news"))
    end)

    it("gives INVALID for bad names", function()
      assert.is_true(c:create_publisher("p1"))
      for _, bad in ipairs { "", ("t"):rep(256), "two words" } do
        fails("INVALID", "topic name", c:create_topic("p1", bad))
        fails("INVALID", "publisher id", c:create_topic(bad, "news"))
      end
    end)
  end)

  describe("delete_topic", function()
    it("deletes; the topic is gone", function()
      setup_topic()
      assert.is_true(c:delete_topic("p1", "news"))
      fails("NO_TOPIC", 'topic "news" does not exist', c:delete_topic("p1", "news"))
      fails("NO_TOPIC", 'topic "news" does not exist', c:publish("p1", "news", "x"))
      fails("NO_TOPIC", 'topic "news" does not exist', c:subscribe("s1", "news"))
    end)

    it("removes messages and subscriptions: a recreated topic starts over", function()
      setup_topic()
      assert.is_true(c:subscribe("s1", "news"))
      for i = 1, 3 do assert.equal(i - 1, c:publish("p1", "news", "old" .. i)) end
      assert.equal(3, node:stats().messages)
      assert.is_true(c:delete_topic("p1", "news"))
      assert.equal(0, node:stats().messages)
      assert.equal(0, node:stats().topics)

      assert.is_true(c:create_topic("p1", "news"))
      assert.equal(0, c:publish("p1", "news", "new"))
      fails("NOT_SUBSCRIBED", 'subscriber "s1" is not subscribed to topic "news"',
        c:pull("s1", "news"))
      assert.is_true(c:create_subscriber("s2"))
      assert.is_true(c:subscribe("s2", "news"))
      local msgs = assert(c:pull("s2", "news"))
      assert.equal(1, #msgs)
      assert.same({ 0, "new" }, { msgs[1].offset, msgs[1].data })
    end)

    it("gives NOT_OWNER to another publisher, naming both", function()
      setup_topic()
      assert.is_true(c:create_publisher("p2"))
      fails("NOT_OWNER", 'topic "news" belongs to publisher "p1", not "p2"',
        c:delete_topic("p2", "news"))
      -- The topic is still there.
      assert.equal(0, c:publish("p1", "news", "still here"))
    end)

    it("gives NO_TOPIC naming the topic", function()
      assert.is_true(c:create_publisher("p1"))
      fails("NO_TOPIC", 'topic "nothing" does not exist', c:delete_topic("p1", "nothing"))
    end)

    it("gives INVALID for bad names", function()
      fails("INVALID", "topic name", c:delete_topic("p1", ""))
      fails("INVALID", "publisher id", c:delete_topic("has space", "news"))
    end)
  end)

  describe("publish", function()
    it("gives dense offsets from 0, per topic", function()
      setup_topic()
      assert.is_true(c:create_topic("p1", "other"))
      for i = 0, 9 do assert.equal(i, c:publish("p1", "news", "m" .. i)) end
      assert.equal(0, c:publish("p1", "other", "first"))
      assert.equal(10, c:publish("p1", "news", "m10"))
    end)

    it("takes every ack mode", function()
      setup_topic()
      assert.equal(0, c:publish("p1", "news", "a", { ack = "none" }))
      assert.equal(1, c:publish("p1", "news", "b", { ack = "home" }))
      assert.equal(2, c:publish("p1", "news", "c", { ack = "all" }))
      assert.has_error(function() c:publish("p1", "news", "d", { ack = "most" }) end)
    end)

    it("any publisher may publish to a topic", function()
      setup_topic()
      assert.is_true(c:create_publisher("p2"))
      assert.equal(0, c:publish("p2", "news", "from p2"))
    end)

    it("gives NO_PUBLISHER naming the publisher", function()
      setup_topic()
      fails("NO_PUBLISHER", 'publisher "ghost" does not exist',
        c:publish("ghost", "news", "x"))
    end)

    it("gives NO_TOPIC naming the topic", function()
      setup_topic()
      fails("NO_TOPIC", 'topic "nowhere" does not exist', c:publish("p1", "nowhere", "x"))
    end)

    it("gives INVALID for bad names", function()
      setup_topic()
      fails("INVALID", "topic name", c:publish("p1", ("t"):rep(256), "x"))
      fails("INVALID", "publisher id", c:publish("", "news", "x"))
    end)

    it("takes exactly max_payload; TOO_LARGE above it, and the connection stays usable", function()
      setup_topic()
      assert.equal(0, c:publish("p1", "news", ("a"):rep(MAX_PAYLOAD)))
      fails("TOO_LARGE", tostring(MAX_PAYLOAD + 1),
        c:publish("p1", "news", ("b"):rep(MAX_PAYLOAD + 1)))
      assert.equal(1, c:publish("p1", "news", "after"))
      -- Far over the frame limit too: the node skips the frame and answers.
      fails("TOO_LARGE", nil, c:publish("p1", "news", ("c"):rep(256 * 1024)))
      assert.equal(2, c:publish("p1", "news", "after again"))
      assert.is_true(c:subscribe("s1", "news"))
      local msgs = assert(c:pull("s1", "news"))
      assert.same({ ("a"):rep(MAX_PAYLOAD), "after", "after again" },
        { msgs[1].data, msgs[2].data, msgs[3].data })
      assert.equal(3, #msgs)
    end)
  end)

  describe("subscribe", function()
    it("from earliest (the default) sees what was published before", function()
      setup_topic()
      assert.equal(0, c:publish("p1", "news", "before"))
      assert.is_true(c:subscribe("s1", "news"))
      local msgs = assert(c:pull("s1", "news"))
      assert.equal(1, #msgs)
      assert.equal("before", msgs[1].data)
    end)

    it("from latest skips what was published before", function()
      setup_topic()
      assert.equal(0, c:publish("p1", "news", "before"))
      assert.is_true(c:subscribe("s1", "news", { from = "latest" }))
      assert.same({}, c:pull("s1", "news"))
      assert.equal(1, c:publish("p1", "news", "after"))
      local msgs = assert(c:pull("s1", "news"))
      assert.equal(1, #msgs)
      assert.same({ 1, "after" }, { msgs[1].offset, msgs[1].data })
    end)

    it("from an offset starts there", function()
      setup_topic()
      for i = 0, 4 do c:publish("p1", "news", "m" .. i) end
      assert.is_true(c:subscribe("s1", "news", { from = 3 }))
      local msgs = assert(c:pull("s1", "news"))
      assert.equal(2, #msgs)
      assert.same({ 3, 4 }, { msgs[1].offset, msgs[2].offset })
    end)

    it("from an offset past the end starts at the end", function()
      setup_topic()
      c:publish("p1", "news", "m0")
      assert.is_true(c:subscribe("s1", "news", { from = 5 }))
      assert.same({}, c:pull("s1", "news"))
      c:publish("p1", "news", "m1")
      local msgs = assert(c:pull("s1", "news"))
      assert.equal(1, #msgs)
      assert.equal("m1", msgs[1].data)
    end)

    it("subscribing again keeps the cursor", function()
      setup_topic()
      for i = 0, 3 do c:publish("p1", "news", "m" .. i) end
      assert.is_true(c:subscribe("s1", "news"))
      assert.equal(2, #assert(c:pull("s1", "news", { max = 2 })))
      assert.is_true(c:subscribe("s1", "news"))
      local msgs = assert(c:pull("s1", "news"))
      assert.equal(2, #msgs)
      assert.same({ 2, 3 }, { msgs[1].offset, msgs[2].offset })
    end)

    it("gives NO_SUBSCRIBER naming the subscriber", function()
      setup_topic()
      fails("NO_SUBSCRIBER", 'subscriber "ghost" does not exist', c:subscribe("ghost", "news"))
    end)

    it("gives NO_TOPIC naming the topic", function()
      setup_topic()
      fails("NO_TOPIC", 'topic "nowhere" does not exist', c:subscribe("s1", "nowhere"))
    end)

    it("gives INVALID for bad names", function()
      fails("INVALID", "subscriber id", c:subscribe(("s"):rep(256), "news"))
      fails("INVALID", "topic name", c:subscribe("s1", "a b"))
    end)

    it("raises on a bad 'from'", function()
      setup_topic()
      assert.has_error(function() c:subscribe("s1", "news", { from = "middle" }) end)
      assert.has_error(function() c:subscribe("s1", "news", { from = -1 }) end)
      assert.has_error(function() c:subscribe("s1", "news", { from = 1.5 }) end)
    end)
  end)

  describe("pull", function()
    it("returns exactly the published data with offset, publisher and time", function()
      setup_topic()
      assert.is_true(c:create_publisher("p2"))
      local payloads = {
        "plain",
        "",
        "nul\0in\0the\0middle\0",
        "\255\0\255\254\1",
        ("\0"):rep(100) .. ("\255"):rep(100),
      }
      local all = {}
      for b = 0, 255 do all[#all + 1] = string.char(b) end
      payloads[#payloads + 1] = table.concat(all)
      payloads[#payloads + 1] = ("z"):rep(MAX_PAYLOAD)
      assert.is_true(c:subscribe("s1", "news"))
      -- The precise clock the node stamps with (os.time reads a coarse
      -- clock that can lag it by a tick).
      local function now_ms()
        local sec, usec = require("luv").gettimeofday()
        return sec * 1000 + usec // 1000
      end
      local before = now_ms()
      for i, p in ipairs(payloads) do
        local pid = i % 2 == 0 and "p2" or "p1"
        assert.equal(i - 1, c:publish(pid, "news", p))
      end
      local after = now_ms()
      local msgs = assert(c:pull("s1", "news"))
      assert.equal(#payloads, #msgs)
      for i, m in ipairs(msgs) do
        assert.equal(i - 1, m.offset)
        assert.equal(#payloads[i], #m.data)
        assert.is_true(payloads[i] == m.data, "payload " .. i .. " differs")
        assert.equal(i % 2 == 0 and "p2" or "p1", m.publisher)
        assert.equal("integer", math.type(m.time))
        assert.is_true(m.time >= before and m.time <= after,
          ("time %d outside [%d, %d]"):format(m.time, before, after))
      end
    end)

    it("returns {} when nothing is new, and advances the cursor", function()
      setup_topic()
      assert.is_true(c:subscribe("s1", "news"))
      assert.same({}, c:pull("s1", "news"))
      c:publish("p1", "news", "one")
      assert.equal(1, #c:pull("s1", "news"))
      assert.same({}, c:pull("s1", "news"))
      c:publish("p1", "news", "two")
      local msgs = c:pull("s1", "news")
      assert.same({ 1, "two" }, { msgs[1].offset, msgs[1].data })
    end)

    it("honours max", function()
      setup_topic()
      for i = 0, 9 do c:publish("p1", "news", "m" .. i) end
      assert.is_true(c:subscribe("s1", "news"))
      local seen = {}
      for _ = 1, 4 do
        local msgs = assert(c:pull("s1", "news", { max = 3 }))
        assert.is_true(#msgs <= 3)
        for _, m in ipairs(msgs) do seen[#seen + 1] = m.offset end
      end
      assert.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, seen)
      assert.has_error(function() c:pull("s1", "news", { max = -1 }) end)
      assert.has_error(function() c:pull("s1", "news", { wait = "soon" }) end)
    end)

    it("a batch bigger than a frame comes in parts, nothing lost", function()
      setup_topic()
      local N = 100 -- 100 x 4 KiB is several times the node's frame limit
      for i = 0, N - 1 do
        c:publish("p1", "news", string.char(65 + i % 26):rep(MAX_PAYLOAD))
      end
      assert.is_true(c:subscribe("s1", "news"))
      local next_offset, parts = 0, 0
      while true do
        local msgs = assert(c:pull("s1", "news", { max = N }))
        if #msgs == 0 then break end
        parts = parts + 1
        for _, m in ipairs(msgs) do
          assert.equal(next_offset, m.offset)
          assert.is_true(m.data == string.char(65 + next_offset % 26):rep(MAX_PAYLOAD))
          next_offset = next_offset + 1
        end
      end
      assert.equal(N, next_offset)
      assert.is_true(parts > 1)
    end)

    it("keeps one cursor per subscriber", function()
      setup_topic()
      assert.is_true(c:create_subscriber("s2"))
      assert.is_true(c:subscribe("s1", "news"))
      assert.is_true(c:subscribe("s2", "news"))
      c:publish("p1", "news", "x")
      assert.equal(1, #c:pull("s1", "news"))
      assert.equal(1, #c:pull("s2", "news"))
    end)

    it("gives NO_SUBSCRIBER naming the subscriber", function()
      setup_topic()
      fails("NO_SUBSCRIBER", 'subscriber "ghost" does not exist', c:pull("ghost", "news"))
    end)

    it("gives NO_TOPIC naming the topic", function()
      setup_topic()
      fails("NO_TOPIC", 'topic "nowhere" does not exist', c:pull("s1", "nowhere"))
    end)

    it("gives NOT_SUBSCRIBED naming subscriber and topic", function()
      setup_topic()
      fails("NOT_SUBSCRIBED", 'subscriber "s1" is not subscribed to topic "news"',
        c:pull("s1", "news"))
    end)

    it("gives INVALID for bad names", function()
      fails("INVALID", "subscriber id", c:pull("", "news"))
      fails("INVALID", "topic name", c:pull("s1", ("t"):rep(256)))
    end)
  end)

  describe("stop_node", function()
    it("answers true, then the node stops", function()
      local states = {}
      node:on_state(function(s) states[#states + 1] = s end)
      assert.is_true(c:stop_node(0))
      assert(require("hypersub.process").wait_until(function()
        return node:state() == "stopped"
      end, 2000, "node stopped"))
      assert.same({ "stopped" }, states)
      assert.equal(0, node:port())
    end)

    it("gives NO_NODE naming the node", function()
      fails("NO_NODE", "node 7 does not exist", c:stop_node(7))
      assert.has_error(function() c:stop_node("0") end)
      assert.has_error(function() c:stop_node(0, { restart_after = -1 }) end)
      assert.equal("running", node:state())
    end)
  end)

  describe("stats", function()
    it("counts requests and times them per op", function()
      setup_topic()
      for i = 1, 5 do c:publish("p1", "news", "m" .. i) end
      local s = assert(c:stats())
      assert.equal(0, s.node)
      assert.equal(5, s.requests.publish)
      assert.equal(1, s.requests.create_topic)
      assert.equal(5, s.latency_us.publish.count)
      for _, k in ipairs { "mean", "p50", "p99", "p999", "max" } do
        assert.equal("number", type(s.latency_us.publish[k]), k)
      end
      assert.is_true(s.latency_us.publish.p50 <= s.latency_us.publish.max)
      assert.equal(5, s.messages)
      assert.equal(5, s.messages_published)
      assert.equal(1, s.connections)
    end)

    it("counts errors by code", function()
      setup_topic()
      c:publish("p1", "nowhere", "x")
      c:create_publisher("p1")
      local s = assert(c:stats())
      assert.equal(1, s.errors.NO_TOPIC)
      assert.equal(1, s.errors.EXISTS)
    end)
  end)

  describe("arguments", function()
    it("wrong types raise", function()
      setup_topic()
      assert.has_error(function() c:publish(1, {}, "x") end)
      assert.has_error(function() c:publish("p1", "news", {}) end)
      assert.has_error(function() c:publish("p1", "news", nil) end)
      assert.has_error(function() c:create_publisher({}) end)
      assert.has_error(function() c:create_topic("p1", nil) end)
      assert.has_error(function() c:subscribe("s1", "news", "earliest") end)
      assert.has_error(function() c:pull(nil, "news") end)
      -- The connection is still good.
      assert.equal(0, c:publish("p1", "news", "fine"))
    end)
  end)

  describe("close", function()
    it("a closed client raises on use", function()
      c:close()
      for _, call in ipairs {
        function() c:create_publisher("p1") end,
        function() c:publish("p1", "news", "x") end,
        function() c:pull("s1", "news") end,
        function() c:stats() end,
      } do
        assert.has_error(call, "attempt to use a closed client")
      end
      c:close() -- twice is fine
      assert.matches("%(closed%)$", tostring(c))
    end)

    it("a request in flight fails with CLOSED", function()
      local got
      assert.is_true(c:stats(function(...) got = table.pack(...) end))
      c:close()
      assert.is_not_nil(got, "the callback runs before close returns")
      fails("CLOSED", nil, got[1], got[2], got[3])
    end)
  end)
end)

describe("in-process node", function()
  it("reports its port, id and state, and closes", function()
    local node = assert(hypersub.node { listen = "127.0.0.1:0", id = 12, log_level = "error" })
    assert.is_true(node:port() > 0)
    assert.equal(12, node:id())
    assert.equal("running", node:state())
    assert.equal(("hypersub.node 12 (port %d, running)"):format(node:port()), tostring(node))
    local s = node:stats()
    assert.equal(12, s.node)
    assert.equal(0, s.connections)
    node:close()
    node:close() -- twice is fine
    assert.equal("closed", node:state())
    assert.has_error(function() node:port() end, "attempt to use a closed node")
    drain()
  end)

  it("on_log gets events as tables, at the level asked", function()
    local node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "error" })
    local events, warnings = {}, {}
    node:on_log(function(ev) events[#events + 1] = ev end, "debug")
    local c = assert(hypersub.connect("127.0.0.1:" .. node:port()))
    assert.is_true(c:create_publisher("p1"))
    assert.is_true(c:create_topic("p1", "news"))
    local created
    for _, ev in ipairs(events) do
      if ev.event == "topic_created" then created = ev end
    end
    assert.truthy(created, "a topic_created event")
    assert.equal("info", created.level)
    assert.equal("store", created.component)
    assert.equal(0, created.node)
    assert.equal("news", created.topic)
    assert.equal("p1", created.publisher)
    assert.equal("integer", math.type(created.time))
    -- Only warnings and worse now.
    node:on_log(function(ev) warnings[#warnings + 1] = ev end, "warn")
    assert.is_true(c:create_subscriber("s1"))
    assert.same({}, warnings)
    node:on_log(nil)
    c:close()
    node:close()
    drain()
  end)

  it("a port in use gives nil, a message naming the address, a code", function()
    local a = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "off" })
    local addr = "127.0.0.1:" .. a:port()
    local b, msg, code = hypersub.node { listen = addr, log_level = "off" }
    a:close()
    drain()
    assert.is_nil(b)
    assert.equal("string", type(code))
    assert.truthy(msg:find(addr, 1, true), msg)
    assert.truthy(msg:find("address already in use", 1, true), msg)
  end)

  it("raises on bad options", function()
    assert.has_error(function() hypersub.node { listen = "nowhere" } end)
    assert.has_error(function() hypersub.node { listen = "127.0.0.1:0", log_level = "loud" } end)
    assert.has_error(function() hypersub.node { listen = "127.0.0.1:0", max_payload = 0 } end)
    assert.has_error(function() hypersub.node { listen = "127.0.0.1:0", id = "x" } end)
  end)
end)
