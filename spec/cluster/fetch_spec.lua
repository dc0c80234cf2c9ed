-- c:fetch reads a topic from an offset the reader keeps: no subscriber, no
-- cursor, one round trip. Any copy serves it from its own log, handing out
-- only committed offsets; with a wait it parks until its offset is
-- committed.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"
local uv = require "luv"

-- A topic homed at `home`, made through a client there, with n messages
-- acknowledged by every copy.
local function topic_at(cl, home, n)
  local topic = cl:topic_at("fetch-", home)
  local c = assert(cl:client(home, { timeout = 20000 }))
  assert(c:create_publisher "p")
  assert(c:create_topic("p", topic))
  assert(cl:await_copies(topic))
  for i = 0, n - 1 do assert(c:publish("p", topic, "m" .. i, { ack = "all" })) end
  return topic, c
end

local function not_a_copy(cl, w)
  for _, id in ipairs(cl:members()) do
    if id ~= w.home and id ~= w.replicas[1] and id ~= w.replicas[2] then return id end
  end
end

local function assert_run(msgs, first, count)
  assert.equal(count, #msgs)
  for i, m in ipairs(msgs) do
    assert.equal(first + i - 1, m.offset)
    assert.equal("m" .. (first + i - 1), m.data)
    assert.equal("p", m.publisher)
  end
end

local function fetches(c) return assert(c:stats()).requests.fetch or 0 end

-- Asks again (a node's state, no event to wait on) until cond() holds;
-- fails after 10 s with why().
local function poll_until(cond, why)
  local deadline = uv.now() + 10000
  while not cond() do
    assert(uv.now() < deadline, why())
    hypersub.sleep(5)
  end
end

describe("fetch: reads by offset #cluster", function()
  local cl

  after_each(function()
    if cl then
      cl:close()
      assert(cl:check())
    end
    cl = nil
  end)

  it("reads from any offset through any node, and says where to read on", function()
    cl = assert(cluster.start { nodes = 8, replicas = 3 })
    assert(cl:await_view())
    local topic = topic_at(cl, 0, 50)
    local w = cl:where(topic)
    local r = assert(cl:client(not_a_copy(cl, w)))
    local msgs, next = r:fetch(topic, 0, { max = 20 })
    assert_run(msgs, 0, 20)
    assert.equal(20, next)
    msgs, next = r:fetch(topic, next, { max = 20 })
    assert_run(msgs, 20, 20)
    msgs, next = r:fetch(topic, 45)
    assert_run(msgs, 45, 5)
    assert.equal(50, next)
    -- Past the end: nothing, and the same offset to read on at.
    msgs, next = r:fetch(topic, 50)
    assert.same({}, msgs)
    assert.equal(50, next)
    msgs, next = r:fetch(topic, 1000)
    assert.same({}, msgs)
    assert.equal(1000, next)
    -- Two readers at different offsets do not disturb each other.
    local a = assert(r:fetch(topic, 10, { max = 1 }))
    local b = assert(r:fetch(topic, 3, { max = 1 }))
    assert.equal("m10", a[1].data)
    assert.equal("m3", b[1].data)
  end)

  it("is served by the copy it enters at, from that copy's log", function()
    cl = assert(cluster.start { nodes = 4, replicas = 3 })
    assert(cl:await_view())
    local topic, home = topic_at(cl, 0, 30)
    local w = cl:where(topic)
    for _, id in ipairs(w.replicas) do
      local c = assert(cl:client(id))
      -- A replica hears of the last commit with the home's next frame or
      -- tick; until then it serves what it knows is committed, or passes
      -- the fetch on to the home. Asked until it served all 30 itself.
      poll_until(function()
        local ran = fetches(c)
        return #assert(c:fetch(topic, 0, { max = 100 })) == 30 and fetches(c) > ran
      end, function() return "replica " .. id .. " never heard of the commit" end)
      local before, at_home = fetches(c), fetches(home)
      local pulled = assert(c:stats()).messages_pulled
      local msgs = assert(c:fetch(topic, 0, { max = 100 }))
      assert_run(msgs, 0, 30)
      assert.equal(before + 1, fetches(c), "replica " .. id .. " ran it")
      assert.equal(at_home, fetches(home), "the home took no part")
      assert.equal(pulled + 30, assert(c:stats()).messages_pulled)
    end
  end)

  it("hands out only committed messages, and a wait ends at the commit", function()
    cl = assert(cluster.start { nodes = 4, replicas = 3 })
    assert(cl:await_view())
    local topic, home = topic_at(cl, 0, 5)
    local w = cl:where(topic)
    -- A stopped replica: a publish acknowledged by the home alone is
    -- stored there but not committed.
    cl:pause(w.replicas[1])
    assert.equal(5, assert(home:publish("p", topic, "m5", { ack = "home" })))
    local msgs, next = home:fetch(topic, 0)
    assert_run(msgs, 0, 5)
    assert.equal(5, next, "offset 5 is not committed")
    local got, err
    local parked = assert(home:stats()).pull_waits
    assert(home:fetch(topic, 5, { wait = 20000 }, function(m, e) got, err = m, m == nil and e or nil end))
    hypersub.run_until(function() return assert(home:stats()).pull_waits > parked end)
    assert.is_nil(got)
    cl:resume(w.replicas[1])
    hypersub.run_until(function() return got or err end)
    assert.is_nil(err)
    assert_run(got, 5, 1)
    -- A wait with nothing coming ends empty at its end.
    local t0 = uv.hrtime()
    msgs, next = home:fetch(topic, 6, { wait = 200 })
    assert.same({}, msgs)
    assert.equal(6, next)
    assert.is_true((uv.hrtime() - t0) / 1e6 >= 190)
  end)

  it("reads every acknowledged message after the home is killed", function()
    cl = assert(cluster.start { nodes = 4, replicas = 3 })
    assert(cl:await_view())
    local topic = topic_at(cl, 0, 40)
    local w = cl:where(topic)
    local r = assert(cl:client(w.replicas[1], { timeout = 20000 }))
    assert(cl:kill(w.home))
    assert(cl:await_view(10000))
    local got, next = {}, 0
    while #got < 40 do
      local msgs
      msgs, next = assert(r:fetch(topic, next, { max = 7, wait = 5000 }))
      for _, m in ipairs(msgs) do got[#got + 1] = m end
    end
    assert_run(got, 0, 40)
  end)

  it("a long poll passed on is released at the home when its client or the node it entered leaves", function()
    cl = assert(cluster.start { nodes = 4, replicas = 2 })
    assert(cl:await_view())
    local topic, home = topic_at(cl, 0, 1)
    local w = cl:where(topic)
    local entry = not_a_copy(cl, w)
    local function parked() return assert(home:stats()).pull_waiting end
    local function await_parked(n)
      poll_until(function() return parked() == n end, function()
        return ("%d long polls parked at the home, not %d"):format(parked(), n)
      end)
    end
    -- The client goes: the home answers the poll now, not in 15 s.
    local r = assert(cl:client(entry, { timeout = 20000 }))
    assert(r:fetch(topic, 1, { wait = 15000 }, function() end))
    await_parked(1)
    r:close()
    await_parked(0)
    -- The node it entered leaves: its leave does not wait for the poll.
    r = assert(cl:client(entry, { timeout = 20000 }))
    assert(r:fetch(topic, 1, { wait = 15000 }, function() end))
    await_parked(1)
    local t0 = uv.hrtime()
    assert(cl:leave(entry))
    local took_ms = (uv.hrtime() - t0) / 1e6
    -- Not a speed: the poll's wait is 15 s, the leave's patience 10 s.
    assert.is_true(took_ms < 9000, ("the leave took %.0f ms"):format(took_ms))
    -- Told UNAVAILABLE, the client asks again through another node and
    -- may park again; that poll goes with the client.
    r:close()
    await_parked(0)
  end)

  it("reads from the first retained message when the offset asked for is gone", function()
    cl = assert(cluster.start { nodes = 2, replicas = 2, flags = { "--retain-messages", "10" } })
    local c = assert(cl:client(0))
    assert(c:create_publisher "p")
    assert(c:create_topic("p", "kept"))
    local big = ("x"):rep(64 * 1024) -- whole 1 MiB chunks go: these fill several
    for i = 0, 39 do assert(c:publish("p", "kept", i .. big, { ack = "all" })) end
    local msgs, next = assert(c:fetch("kept", 0, { max = 3 }))
    local first = msgs[1].offset
    assert.is_true(first > 0, "retention dropped the oldest")
    for i, m in ipairs(msgs) do
      assert.equal(first + i - 1, m.offset)
      assert.equal(m.offset .. big, m.data)
    end
    assert.equal(first + 3, next)
  end)

  it("refuses what it cannot read", function()
    cl = assert(cluster.start { nodes = 2, replicas = 2 })
    local c = assert(cl:client(0))
    local ok, msg, code = c:fetch("no-such-topic", 0)
    assert.is_nil(ok)
    assert.equal("NO_TOPIC", code)
    assert.matches("does not exist", msg)
    ok, msg, code = c:fetch("bad name!", 0)
    assert.is_nil(ok)
    assert.equal("INVALID", code)
    assert.has_error(function() c:fetch("t", -1) end)
    assert.has_error(function() c:fetch("t", 0, { max = -1 }) end)
    assert.has_error(function() c:fetch("t", 0, { wait = 1.5 }) end)
  end)
end)
