-- A copy new to a topic's copy set does not hold the topic's publishes
-- back: `ack = "all"` counts the copies that were caught up while the new
-- one fills, and the new one from when it holds what they hold. Node 0
-- reaches node 3 through a relay (`--dial 3=<relay>`); the relay is
-- SIGSTOPped, so once node 1 leaves and node 3 joins the topic's copies,
-- its fill cannot move at all until the relay goes on.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"

local function log_of(cl, id)
  return assert(io.open(cl:nodes()[id + 1].log)):read("a")
end

describe("a copy new to a topic #cluster", function()
  local cl, relay

  after_each(function()
    if relay then
      relay:kill("sigcont")
      relay:close()
    end
    if cl then
      cl:close()
      assert(cl:check())
    end
    cl, relay = nil, nil
  end)

  it("does not hold ack=all publishes back while it fills, and counts once caught up", function()
    relay = process.spawn(process.runtime(), { "spec/support/relay.lua" }, { stdin_pipe = true })
    local port = assert(relay:wait_line("^READY (%d+)$", 5000))
    cl = assert(cluster.start {
      nodes = 4, replicas = 3, log_level = "info",
      node_flags = { [0] = { "--dial", "3=127.0.0.1:" .. port } },
    })
    relay.in_pipe:write(("TARGET %d\n"):format(cl._port[3]))
    assert(cl:await_view(10000))
    -- A topic homed at 0 whose copies are 0, 1 and 2: when 1 leaves, 3
    -- takes its place.
    local topic
    for n = 1, 10000 do
      local w = cl:where("t" .. n)
      if w.home == 0 and w.replicas[1] ~= 3 and w.replicas[2] ~= 3 and
          (w.replicas[1] == 1 or w.replicas[2] == 1) then
        topic = "t" .. n
        break
      end
    end
    assert(topic, "no topic with copies 0, 1, 2 homed at 0")
    local c = assert(cl:client(0, { timeout = 10000 }))
    assert(c:create_publisher "p")
    assert(c:create_topic("p", topic))
    for i = 0, 199 do assert.equal(i, c:publish("p", topic, "before-" .. i, { ack = "all" })) end

    relay:kill("sigstop")
    assert(cl:leave(1))
    local w = cl:where(topic)
    assert.same({ 0, 2, 3 }, { w.home, math.min(w.replicas[1], w.replicas[2]),
      math.max(w.replicas[1], w.replicas[2]) })
    -- Node 3 cannot have a record of the topic; the publishes are
    -- acknowledged by 0 and 2.
    for i = 200, 219 do assert.equal(i, c:publish("p", topic, "during-" .. i, { ack = "all" })) end
    assert.falsy(log_of(cl, 0):find('replica_caught_up topic="' .. topic .. '" replica=3', 1, true))

    relay:kill("sigcont")
    assert(process.wait_until(function()
      return log_of(cl, 0):find('replica_caught_up topic="' .. topic .. '" replica=3', 1, true)
    end, 10000, "node 3 to catch up"))
    for i = 220, 229 do assert.equal(i, c:publish("p", topic, "after-" .. i, { ack = "all" })) end
    assert(cl:await_copies(topic, 10000))
  end)
end)
