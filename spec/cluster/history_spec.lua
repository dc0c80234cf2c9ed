-- A recorded history on a real cluster: two publishers with ack = "all"
-- and a subscriber pulling (and a reader fetching by offset) while the
-- topic's home is killed with SIGKILL;
-- then the rest is pulled through another node, the whole log read, and
-- hypersub.history finds nothing lost, duplicated, reordered, repeated or
-- skipped.
local cluster = require "hypersub.cluster"
local history = require "hypersub.history"
local hypersub = require "hypersub"
local process = require "hypersub.process"

local TOPIC = "orders"

-- Pulls until an empty answer, recording each answer; returns them all.
local function drain(c, h, sid, label)
  local all = {}
  repeat
    local got = assert(c:pull(sid, TOPIC, { max = 200 }))
    if h then h:pulled(TOPIC, sid, got, label) end
    table.move(got, 1, #got, #all + 1, all)
  until #got == 0
  return all
end

describe("a recorded history #cluster", function()
  local cl
  after_each(function()
    if cl then
      cl:close()
      assert(cl:check())
      cl = nil
    end
  end)

  it("two ack=all publishers and a pulling subscriber across a SIGKILL of the topic's home: the checker passes", function()
    cl = assert(cluster.start { nodes = 3, replicas = 3 })
    assert(cl:await_view(10000))
    local home = cl:home(TOPIC)
    local others = {}
    for _, id in ipairs(cl.ids) do if id ~= home then others[#others + 1] = id end end
    -- Publisher a and the subscriber talk to the home, which dies under
    -- them; publisher b to another node; the rest is pulled through the
    -- third.
    local ca = assert(cl:client(home, { timeout = 10000 }))
    local cb = assert(cl:client(others[1], { timeout = 10000 }))
    local cc = assert(cl:client(others[2], { timeout = 10000 }))
    assert(cc:create_publisher "pa")
    assert(cc:create_publisher "pb")
    assert(cc:create_topic("pa", TOPIC))
    assert(cc:create_subscriber "s1")
    -- Subscribed through the client it pulls with: another client's
    -- subscribe would leave that client a cursor of 0 to retry with.
    assert(ca:subscribe("s1", TOPIC))

    local h = history.new()
    h:subscribed(TOPIC, "s1", 0)
    local acked, stopping, running = 0, false, 0
    local function outcome(id, offset, msg)
      if offset then
        h:publish_acked(TOPIC, id, offset)
        acked = acked + 1
      else
        h:publish_failed(TOPIC, id, msg)
      end
    end

    -- Publisher a: a coroutine, one publish at a time.
    running = running + 1
    hypersub.spawn(function()
      local n = 0
      while not stopping do
        n = n + 1
        local id = ("a%05d"):format(n)
        h:publish_sent(TOPIC, id)
        outcome(id, ca:publish("pa", TOPIC, id, { ack = "all" }))
      end
      running = running - 1
    end)

    -- Publisher b: callbacks, 8 in flight.
    local nb, inflight = 0, 0
    local function publish_b()
      if stopping then return end
      nb = nb + 1
      local id = ("b%05d"):format(nb)
      h:publish_sent(TOPIC, id)
      inflight = inflight + 1
      assert(cb:publish("pb", TOPIC, id, { ack = "all" }, function(offset, msg)
        inflight = inflight - 1
        outcome(id, offset, msg)
        publish_b()
      end))
    end
    for _ = 1, 8 do publish_b() end

    -- The subscriber: long polls through the home's client until told to
    -- stop and nothing is left.
    running = running + 1
    hypersub.spawn(function()
      repeat
        local done = stopping
        local got, msg = ca:pull("s1", TOPIC, { max = 50, wait = 100 })
        assert(got, msg) -- its client retries within the timeout
        h:pulled(TOPIC, "s1", got, "client of node " .. home)
      until done and #got == 0
      running = running - 1
    end)

    -- A reader by offset through the third node: what it is given is held
    -- to every other read, so a record handed out and later replaced
    -- would show as diverged.
    local fetched, at = 0, 0
    local function fetch_once()
      local got, next = cc:fetch(TOPIC, at, { max = 50, wait = 100 })
      assert(got, next) -- its client retries within the timeout
      h:fetched(TOPIC, got, "client of node " .. others[2])
      fetched, at = fetched + #got, next
      return #got
    end
    running = running + 1
    hypersub.spawn(function()
      repeat local done = stopping until fetch_once() == 0 and done
      running = running - 1
    end)

    assert(process.wait_until(function() return acked >= 400 end, 10000, "400 acks"))
    h:note(("node %d, the home of %s, killed"):format(home, TOPIC))
    assert(cl:kill(home))
    local at_kill = acked
    assert(process.wait_until(function() return acked >= at_kill + 600 end, 10000, "600 acks after the kill"))
    stopping = true
    assert(process.wait_until(function() return running == 0 and inflight == 0 end, 15000,
      "the publishers and the subscriber to finish"))
    assert.is_true(cl:home(TOPIC) ~= home)

    -- The rest through the third node, then the whole log by a new subscriber.
    drain(cc, h, "s1", "client of node " .. others[2])
    assert(cc:create_subscriber "audit")
    assert(cc:subscribe("audit", TOPIC))
    local all = drain(cc, nil, "audit")
    h:read_all(TOPIC, all)
    repeat until fetch_once() == 0
    assert.equal(#all, fetched, "the reader by offset read the whole log")

    local st = h:stats()
    assert.is_true(st.acked >= 1000, tostring(h))
    assert(h:check { complete = true })
    assert.is_true(ca:retries() > 0) -- the home's death was felt
  end)
end)
