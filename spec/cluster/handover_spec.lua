-- A long poll waiting at a topic's home when a join hands the topic to the
-- new node: the old home (still a copy) answers it UNAVAILABLE at once,
-- the client asks again, and the poll is served through the new home — it
-- does not sit out its wait at a node that owns the cursor no more. The
-- poll enters at another copy, which serves it and asks the home for the
-- cursor (CLAIM): the claim is what waits at the home.
--
-- And the copy serving a long poll leaves: it answers the poll UNAVAILABLE
-- and releases its claim at the home at once, so neither the client nor
-- the leave sits out the poll's wait.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"

-- A topic whose home is `new` once it joins, its former home and its
-- first replica staying copies; returns it, the home and that replica.
local function moving_topic(before, new)
  local after = { table.unpack(before) }
  after[#after + 1] = new
  for i = 1, 100000 do
    local t = "mv-" .. i
    local was, now = hypersub.placement(t, before, 3), hypersub.placement(t, after, 3)
    local stays = {}
    for k = 2, 3 do stays[now[k]] = true end
    if now[1] == new and stays[was[1]] and stays[was[2]] then return t, was[1], was[2] end
  end
end

describe("hand-over of a topic with a long poll parked #cluster", function()
  local cl
  after_each(function()
    if cl then
      cl:close()
      assert(cl:check())
    end
    cl = nil
  end)

  it("the poll is answered by the new home, not after its wait", function()
    cl = assert(cluster.start { nodes = 4, replicas = 3 })
    assert(cl:await_view())
    local topic, home, copy = moving_topic({ 0, 1, 2, 3 }, 4)
    assert(topic, "no topic moves to the joining node")
    local c = assert(cl:client(copy, { timeout = 20000 }))
    assert(c:create_publisher "p")
    assert(c:create_subscriber "s")
    assert(c:create_topic("p", topic))
    assert(c:subscribe("s", topic))
    assert(c:publish("p", topic, "before"))
    assert.equal("before", assert(c:pull("s", topic))[1].data)
    -- Parked at the home: nothing to take yet. Left there, it would come
    -- back empty after its wait.
    local got, err
    assert(c:pull("s", topic, { wait = 15000 }, function(r, msg) got, err = r, msg end))
    local watch = assert(cl:client(home))
    local parked = false
    repeat parked = assert(watch:stats()).pull_waits >= 1 until parked
    assert.equal(4, cl:join())
    assert(cl:await_view())
    assert.equal(4, cl:home(topic))
    local p = assert(cl:client(0))
    assert(p:publish("p", topic, "after"))
    hypersub.run_until(function() return got or err end)
    assert.is_nil(err)
    assert.equal(1, #got)
    assert.equal("after", got[1].data)
  end)

  it("a copy serving a long poll leaves without waiting for it", function()
    cl = assert(cluster.start { nodes = 4, replicas = 3 })
    assert(cl:await_view())
    local topic, home, copy
    for i = 1, 10000 do
      local t = "lv-" .. i
      local at = hypersub.placement(t, { 0, 1, 2, 3 }, 3)
      if at[1] ~= 3 and (at[2] == 3 or at[3] == 3) then topic, home, copy = t, at[1], 3 break end
    end
    assert(topic, "no topic with node 3 as a replica")
    local c = assert(cl:client(home))
    assert(c:create_publisher "p")
    assert(c:create_subscriber "s")
    assert(c:create_topic("p", topic))
    assert(c:subscribe("s", topic))
    assert(c:publish("p", topic, "before"))
    assert(cl:await_copies(topic))
    -- The poll enters at the copy, which claims the cursor at the home;
    -- when the copy goes, the client asks the home itself.
    local poller = assert(hypersub.connect({ cl:addr(copy), cl:addr(home) }, { timeout = 20000 }))
    assert.equal("before", assert(poller:pull("s", topic))[1].data)
    local got, err
    assert(poller:pull("s", topic, { wait = 15000 }, function(r, msg) got, err = r, msg end))
    local parked = false
    repeat parked = assert(c:stats()).pull_waits >= 1 until parked
    local t0 = require("luv").hrtime()
    assert(cl:leave(copy)) -- before: "left with 1 hand-overs or view updates unanswered"
    local took_ms = (require("luv").hrtime() - t0) / 1e6
    assert(c:publish("p", topic, "after"))
    hypersub.run_until(function() return got or err end)
    assert.is_nil(err)
    assert.equal(1, #got)
    assert.equal("after", got[1].data)
    -- Not a speed: the poll's wait is 15 s, the leave's patience 10 s.
    assert.is_true(took_ms < 9000, ("the leave took %.0f ms"):format(took_ms))
    poller:close()
  end)
end)
