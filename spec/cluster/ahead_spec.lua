-- A long poll at a topic's home sends its cursor to the copies right
-- behind the records it waits for, so its answer leaves at the commit
-- (src/node/ahead.c). Then: a failover after the answer neither repeats
-- nor loses a message, and a poll whose wait runs out before the commit
-- tells the copies its cursor again — else a new home would skip the
-- record nobody was given.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"

-- A topic of node `home`'s, with the client that made it and a subscriber.
local function topic_at(cl, home)
  local topic = cl:topic_at("ahead-", home)
  local c = assert(cl:client(home, { timeout = 20000 }))
  assert(c:create_publisher "p")
  assert(c:create_subscriber "s")
  assert(c:create_topic("p", topic))
  assert(c:subscribe("s", topic))
  assert(cl:await_copies(topic))
  return topic, c
end

local function other_than(cl, ids)
  for _, id in ipairs(cl:members()) do
    local taken = false
    for _, x in ipairs(ids) do taken = taken or x == id end
    if not taken then return id end
  end
end

describe("a long poll's cursor sent with its records #cluster", function()
  local cl

  -- A 4-node cluster and a topic of node 0's: the topic, the client at its
  -- home that made it, and where its copies are.
  local function start()
    cl = assert(cluster.start { nodes = 4, replicas = 3 })
    assert(cl:await_view())
    local topic, c = topic_at(cl, 0)
    return topic, c, cl:where(topic)
  end

  after_each(function()
    if cl then
      cl:close()
      assert(cl:check())
    end
    cl = nil
  end)

  it("the answer leaves at the commit, and a failover after it repeats nothing", function()
    local topic, c, w = start()
    local poller = assert(cl:client(other_than(cl, { w.home }), { timeout = 20000 }))
    for round = 1, 3 do
      local got, err
      local parked = assert(c:stats()).pull_waits
      assert(c:pull("s", topic, { wait = 10000 }, function(r, msg) got, err = r, msg end))
      repeat until assert(c:stats()).pull_waits > parked
      assert(poller:publish("p", topic, "m" .. round))
      hypersub.run_until(function() return got or err end)
      assert.is_nil(err)
      assert.equal(1, #got)
      assert.equal("m" .. round, got[1].data)
    end
    assert.is_true(assert(c:stats()).pulls_ahead >= 1)
    -- The copies hold the cursor past m3: the new home hands out m4 alone.
    assert(cl:kill(w.home))
    assert(cl:await_view(10000))
    assert(poller:publish("p", topic, "m4"))
    local after = assert(poller:pull("s", topic, { max = 100 }))
    assert.equal(1, #after)
    assert.equal("m4", after[1].data)
  end)

  it("a poll whose wait ends before the commit gives the copies its cursor back", function()
    local topic, c, w = start()
    -- The replica that stops is the second: the first, which takes over
    -- once the home dies, hears the cursor sent ahead at once.
    local stalled = w.replicas[2]
    local poller = assert(cl:client(other_than(cl, { w.home, stalled }), { timeout = 20000 }))
    -- A stopped replica: the record reaches the other one, the cursor sent
    -- ahead too, but nothing commits.
    cl:pause(stalled)
    local got, err
    assert(c:pull("s", topic, { wait = 500 }, function(r, msg) got, err = r, msg end))
    repeat until assert(c:stats()).pull_waits >= 1
    local offset
    assert(poller:publish("p", topic, "late", function(o) offset = o end))
    hypersub.run_until(function() return got or err end)
    assert.is_nil(err)
    assert.same({}, got) -- the wait ran out: nothing was committed
    assert.is_true(assert(c:stats()).pulls_ahead >= 1)
    assert.is_nil(offset)
    cl:resume(stalled)
    hypersub.run_until(function() return offset end)
    assert.equal(0, offset)
    -- The home dies; the record must still come to the subscriber.
    assert(cl:kill(w.home))
    assert(cl:await_view(10000))
    local again = assert(poller:pull("s", topic, { max = 100 }))
    assert.equal(1, #again, "the new home skipped the record nobody was given")
    assert.equal("late", again[1].data)
  end)
end)
