-- Clusters whose nodes keep data directories, under real SIGKILL: every
-- node killed at once in the middle of acknowledged traffic and started
-- again loses nothing acknowledged (hypersub.history checks), three times
-- over on the same directories; a node restarted from its directory
-- fetches only what it missed; a home cut off from its replicas, whose
-- uncommitted records a later home wrote over, never serves them after it
-- comes back; a replica restored from its directory hands out by offset
-- only what its home said is committed.
local cluster = require "hypersub.cluster"
local history = require "hypersub.history"
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

local TOPIC = "ledger"
-- Failures found fast: a killed node is declared dead in a fifth of a
-- second.
local FAST = { "--heartbeat-ms", "20", "--suspect-ms", "100", "--dead-ms", "200" }

-- Every record of the topic, read through a fresh subscriber.
local function read_all(c, sid)
  assert(c:create_subscriber(sid))
  assert(c:subscribe(sid, TOPIC, { from = "earliest" }))
  local all = {}
  repeat
    local got = assert(c:pull(sid, TOPIC, { max = 1000 }))
    table.move(got, 1, #got, #all + 1, all)
  until #got == 0
  return all
end

-- Two publishers with ack = "all" in callbacks (8 in flight each), into h,
-- until stop() is called; returns stop, which waits for what is in flight.
local function publishers(ca, cb, h, round)
  local stopping, inflight, n = false, 0, { a = 0, b = 0 }
  local function go(c, who)
    if stopping then return end
    n[who] = n[who] + 1
    local id = ("r%d-%s%06d"):format(round, who, n[who])
    h:publish_sent(TOPIC, id)
    inflight = inflight + 1
    assert(c:publish("p" .. who, TOPIC, id, { ack = "all" }, function(off, msg)
      inflight = inflight - 1
      if off then h:publish_acked(TOPIC, id, off) else h:publish_failed(TOPIC, id, msg) end
      go(c, who)
    end))
  end
  for _ = 1, 8 do
    go(ca, "a")
    go(cb, "b")
  end
  return function()
    stopping = true
    return process.wait_until(function() return inflight == 0 end, 20000,
      "the publishes in flight")
  end, n
end

describe("durable clusters #durability #cluster", function()
  local cl
  after_each(function()
    if cl then
      cl:close()
      cl = nil
    end
  end)

  it("every node SIGKILLed at once under two ack=all publishers, restarted: nothing acknowledged lost, three times over", function()
    cl = assert(cluster.start { nodes = 5, replicas = 3, data = true, flags = FAST })
    assert(cl:await_view(10000))
    local setup = assert(cl:client(0))
    assert(setup:create_publisher "pa")
    assert(setup:create_publisher "pb")
    assert(setup:create_topic("pa", TOPIC))
    local h = history.new()
    for round = 1, 3 do
      local ca = assert(cl:client(round % 5, { timeout = 20000 }))
      local cb = assert(cl:client((round + 2) % 5, { timeout = 20000 }))
      local stop = publishers(ca, cb, h, round)
      -- some traffic first, then every node at once
      local acked0 = h:stats().acked or 0
      assert(process.wait_until(function() return (h:stats().acked or 0) >= acked0 + 200 end,
        10000, "200 acknowledged publishes"))
      h:note(("round %d: every node killed"):format(round))
      for _, id in ipairs(cl.ids) do cl:kill(id) end
      assert(stop()) -- their answers: failures, or acks that came first
      for _, id in ipairs(cl.ids) do assert(cl:restart(id)) end
      assert(cl:await_view(15000))
      ca:close()
      cb:close()
    end
    local c = assert(cl:client(0, { timeout = 20000 }))
    h:read_all(TOPIC, read_all(c, "final"))
    local ok, report = h:check { complete = true }
    assert(ok, report)
    assert.truthy((h:stats().acked or 0) >= 600)
  end)

  it("a node restarted from its directory fetches only what it missed", function()
    cl = assert(cluster.start { nodes = 3, replicas = 3, data = true, flags = FAST })
    assert(cl:await_view(10000))
    local c = assert(cl:client(cl:home(TOPIC), { timeout = 10000 }))
    assert(c:create_publisher "p")
    assert(c:create_topic("p", TOPIC))
    for i = 1, 100 do assert(c:publish("p", TOPIC, "m" .. i, { ack = "all" })) end
    local victim = cl:where(TOPIC).replicas[1]
    cl:kill(victim)
    assert(cl:await_view(10000))
    for i = 101, 150 do assert(c:publish("p", TOPIC, "m" .. i, { ack = "all" })) end
    assert(cl:restart(victim))
    assert(cl:await_copies(TOPIC, 10000))
    local log = assert(io.open(cl:nodes()[victim + 1].log)):read("a")
    assert.truthy(log:find('loaded dir=.- topics=1 messages=100'), "the victim loaded its 100")
    local home_log = assert(io.open(cl:nodes()[cl:home(TOPIC) + 1].log)):read("a")
    local refills = {}
    for n in home_log:gmatch('replica_refilled topic="' .. TOPIC .. '" replica=' .. victim .. ' from=%d+ messages=(%d+)') do
      refills[#refills + 1] = tonumber(n)
    end
    assert.equal(50, refills[#refills]) -- after the restart: the 50 it missed, not 150
  end)

  it("a flipped bit in a replica's segment: the damaged range is refetched from the other copies, and said", function()
    cl = assert(cluster.start { nodes = 3, replicas = 3, data = true, flags = FAST })
    assert(cl:await_view(10000))
    local c = assert(cl:client(cl:home(TOPIC), { timeout = 10000 }))
    assert(c:create_publisher "p")
    assert(c:create_topic("p", TOPIC))
    for i = 0, 99 do assert.equal(i, c:publish("p", TOPIC, ("m%03d"):format(i), { ack = "all" })) end
    local victim = cl:where(TOPIC).replicas[1]
    cl:kill(victim)
    local p = io.popen("ls " .. cl:data_dir(victim) .. "/t*/*.seg")
    local seg = p:read("l")
    p:close()
    local f = assert(io.open(seg, "r+b"))
    local bytes = f:read("a")
    local at = assert(bytes:find("m040", 1, true))
    f:seek("set", at + 1) -- the "4"
    f:write(string.char(bytes:byte(at + 2) ~ 0x10))
    f:close()
    assert(cl:restart(victim))
    assert(cl:await_copies(TOPIC, 10000))
    local node = cl:nodes()[victim + 1]
    assert(process.wait_until(function()
      return assert(io.open(node.log)):read("a"):find('records_refetched topic="' .. TOPIC .. '" from=40 to=100')
    end, 10000, "records_refetched"))
    local log = assert(io.open(node.log)):read("a")
    assert.truthy(log:find('records_damaged topic="' .. TOPIC .. '" from=40 to=100'), log)
    assert.falsy(log:find("data_lost"), log)
    -- the victim's copy is whole again, read from it
    local v = assert(cl:client(victim, { timeout = 10000 }))
    local mine = assert(v:local_topics()).topics[1]
    assert.equal(100, mine.next)
  end)

  it("a home cut off from its replicas: its uncommitted records are cut when it comes back, never served", function()
    -- Heartbeats slow enough that the home takes two publishes before it
    -- finds its replicas gone.
    cl = assert(cluster.start { nodes = 3, replicas = 3, data = true,
      flags = { "--heartbeat-ms", "200", "--suspect-ms", "400", "--dead-ms", "800" } })
    assert(cl:await_view(10000))
    local home = cl:home(TOPIC)
    local c = assert(cl:client(home, { timeout = 10000 }))
    assert(c:create_publisher "p")
    assert(c:create_topic("p", TOPIC))
    for i = 1, 10 do assert(c:publish("p", TOPIC, "committed-" .. i, { ack = "all" })) end
    -- Both replicas die; before the home finds out, it takes two publishes
    -- on its own disk (ack "home": never committed), then dies too.
    local reps = cl:where(TOPIC).replicas
    for _, id in ipairs(reps) do cl:kill(id) end
    assert.equal(10, assert(c:publish("p", TOPIC, "lost-1", { ack = "home" })))
    assert.equal(11, assert(c:publish("p", TOPIC, "lost-2", { ack = "home" })))
    cl:kill(home)
    -- The replicas come back: one of them is home now (a new term) and
    -- writes the same offsets with other records, acknowledged by both.
    for _, id in ipairs(reps) do assert(cl:restart(id)) end
    local other = assert(cl:client(reps[1], { timeout = 10000 }))
    assert.equal(10, assert(other:publish("p", TOPIC, "new-1", { ack = "all" })))
    assert.equal(11, assert(other:publish("p", TOPIC, "new-2", { ack = "all" })))
    -- The old home comes back from its directory, home again by
    -- placement: a replica's log is newer from 10 on, so it cuts its own.
    -- Until it has heard from them it hands out nothing, by offset either
    -- (the replicas are stopped for a moment to hold it there).
    for _, id in ipairs(reps) do cl:pause(id) end
    assert(cl:restart(home))
    local early = assert(cl:client(home, { timeout = 500 }))
    local msgs, _, code = early:fetch(TOPIC, 10)
    assert.is_nil(msgs, "a fetch at a home still receiving its topics")
    assert.truthy(code == "UNAVAILABLE" or code == "TIMEOUT", code)
    early:close()
    for _, id in ipairs(reps) do cl:resume(id) end
    assert(cl:await_view(10000))
    assert(cl:await_copies(TOPIC, 10000))
    local log = assert(io.open(cl:nodes()[home + 1].log)):read("a")
    assert.truthy(log:find('stale_home_cut topic="' .. TOPIC .. '" from=10'), "the old home cut its log at 10")
    -- Whichever copy serves: offsets 10 and 11 are the new records.
    for _, id in ipairs(cl.ids) do
      local got = read_all(assert(cl:client(id)), "reader" .. id)
      assert.equal(12, #got)
      assert.equal("new-1", got[11].data)
      assert.equal("new-2", got[12].data)
      local by_offset = assert(cl:client(id):fetch(TOPIC, 10))
      assert.same({ "new-1", "new-2" }, { by_offset[1].data, by_offset[2].data })
    end
  end)

  it("a replica restored from its directory hands out by offset only what its home said is committed", function()
    -- Slow failure detection: a stopped replica stays in the copy set.
    cl = assert(cluster.start { nodes = 3, replicas = 3, data = true,
      flags = { "--heartbeat-ms", "200", "--suspect-ms", "15000", "--dead-ms", "20000" } })
    assert(cl:await_view(10000))
    local home = cl:home(TOPIC)
    local c = assert(cl:client(home, { timeout = 10000 }))
    assert(c:create_publisher "p")
    assert(c:create_topic("p", TOPIC))
    for i = 0, 4 do assert(c:publish("p", TOPIC, "c" .. i, { ack = "all" })) end
    local a, b = table.unpack(cl:where(TOPIC).replicas)
    -- b stopped: "u5" reaches the home and a, but is not committed.
    cl:pause(b)
    assert.equal(5, assert(c:publish("p", TOPIC, "u5", { ack = "home" })))
    local msgs, next = c:fetch(TOPIC, 5)
    assert.same({}, msgs)
    assert.equal(5, next)
    -- a restarts from its directory, which holds u5. While it catches up
    -- (b does not answer) it passes fetches on to the home; until its view
    -- has the others back it may take itself for the home, still
    -- receiving its topics (UNAVAILABLE). The rule itself, that a copy
    -- made from its own log hands out only what a home told it, is
    -- spec/unit/c/test_repl.c's.
    cl:kill(a)
    assert(cl:restart(a))
    local ca = assert(cl:client(a, { timeout = 1000 }))
    local function fetch_at_a(offset)
      local deadline = uv.now() + 20000
      while true do
        local got, nxt, code = ca:fetch(TOPIC, offset, { max = 100 })
        if got then return got, nxt end
        assert.truthy(code == "UNAVAILABLE" or code == "TIMEOUT", nxt)
        assert(uv.now() < deadline, "node " .. a .. " never served a fetch: " .. nxt)
        hypersub.sleep(50)
      end
    end
    assert.equal(5, #fetch_at_a(0))
    msgs, next = fetch_at_a(5)
    assert.same({}, msgs, "u5 is not committed")
    assert.equal(5, next)
    -- b back: u5 commits, and a fetch waiting for it gets it.
    cl:resume(b)
    local cw = assert(cl:client(a, { timeout = 20000 }))
    msgs = assert(cw:fetch(TOPIC, 5, { wait = 10000 }))
    assert.equal("u5", msgs[1].data)
  end)
end)
