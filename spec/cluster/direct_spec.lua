-- A direct client caches the view and sends each request straight to its
-- key's home: one hop, no forwarding by the node it connected to.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"

describe("direct clients #cluster", function()
  local cl
  setup(function()
    cl = assert(cluster.start { nodes = 8, replicas = 3 })
    assert(cl:await_view()) -- a steady view: homes do not move under the test
  end)
  teardown(function()
    if cl then
      cl:close()
      cl:check() -- raises on a crashed node or a sanitizer report
    end
  end)

  local function forwards()
    local total = 0
    for _, n in ipairs(cl:nodes()) do total = total + assert(cl:client(n.id):stats()).forwards end
    return total
  end

  it("reach every home in one hop, with the same answers as routed clients", function()
    local entry = cl:nodes()[1].addr
    local direct = assert(hypersub.connect(entry, { direct = true }))
    finally(function() direct:close() end)
    local routed = cl:client(0)
    assert(direct:create_publisher "dp")
    assert(direct:create_subscriber "ds")
    local topics = {}
    for i = 1, 16 do
      topics[i] = "direct-" .. i
      assert(direct:create_topic("dp", topics[i]))
      assert(direct:subscribe("ds", topics[i]))
    end
    local before = forwards()
    for round = 1, 5 do
      for _, t in ipairs(topics) do
        assert.equal(round - 1, direct:publish("dp", t, "r" .. round))
      end
    end
    -- Homes knew the identities already (they were created through them):
    -- nothing was forwarded.
    assert.equal(before, forwards(), "no node forwarded a direct request")
    for _, t in ipairs(topics) do
      local got = assert(routed:pull("ds", t))
      assert.equal(5, #got)
      assert.equal("r5", got[5].data)
    end
    -- errors are the same
    local _, _, code = direct:publish("nobody", topics[1], "x")
    assert.equal("NO_PUBLISHER", code)
    _, _, code = direct:pull("ds", "no-such-topic")
    assert.equal("NO_TOPIC", code)
  end)

  it("falls back to routing through the entry node when a home cannot be reached", function()
    local direct = assert(hypersub.connect(cl:nodes()[1].addr, { direct = true, timeout = 2000 }))
    finally(function() direct:close() end)
    assert(direct:create_publisher "fp")
    -- Point the cached address of some other node at a dead port: requests
    -- homed there fail to connect and go through the cube instead.
    local dead = cluster.free_ports(1)[1]
    local victim
    for id in pairs(direct._direct.addrs) do
      if id ~= direct.node_id then victim = id break end
    end
    direct._direct.addrs[victim] = "127.0.0.1:" .. dead
    local topic
    for i = 1, 1000 do
      if cl:home("fb-" .. i) == victim then topic = "fb-" .. i break end
    end
    assert(direct:create_topic("fp", topic))
    assert.equal(0, direct:publish("fp", topic, "via the cube"))
    assert.is_false(direct._direct.conns[victim])
  end)
end)
