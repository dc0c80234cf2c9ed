-- A node's own routing policy changes the route its requests take while
-- every answer stays right; nodes whose placement differs refuse each other.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"

local POLICY = "examples/policy_high_bit_first.lua"

-- Forwards counted by each node so far.
local function forwards(cl)
  local out = {}
  for _, n in ipairs(cl:nodes()) do out[n.id] = assert(cl:client(n.id):stats()).forwards end
  return out
end

local function delta(before, after)
  local d = {}
  for id, v in pairs(after) do d[id] = v - before[id] end
  return d
end

-- A topic whose home is `home` in an 8-node cube.
local function topic_homed_at(home, prefix)
  for i = 1, 10000 do
    local t = prefix .. i
    if hypersub.placement(t, { 0, 1, 2, 3, 4, 5, 6, 7 }, 1)[1] == home then return t end
  end
end

describe("routing policies #cluster", function()
  it("a node's policy changes the route and every answer stays right", function()
    -- Only node 0 takes the policy: fix the highest differing bit first.
    local cl = assert(cluster.start { nodes = 8, node_flags = { [0] = { "--policy", POLICY } } })
    finally(function() cl:close(); cl:check() end)
    local c0 = cl:client(0)
    assert(c0:create_publisher "pp")
    assert(c0:create_subscriber "ps")
    local topic = assert(topic_homed_at(7, "pol-"))
    assert(c0:create_topic("pp", topic))
    assert(c0:subscribe("ps", topic))

    local before = forwards(cl)
    for i = 1, 10 do assert.equal(i - 1, c0:publish("pp", topic, "m" .. i)) end
    local d = delta(before, forwards(cl))
    -- The default from 0 to 7 goes 0 -> 1 -> 3 -> 7; the policy sends 0's
    -- requests to 4 first, and 4 (default) goes on by 5.
    assert.equal(10, d[0])
    assert.equal(10, d[4], "node 4 carried node 0's requests")
    assert.equal(0, d[1], "node 1 was bypassed")

    local got = assert(cl:client(3):pull("ps", topic))
    assert.equal(10, #got)
    for i, m in ipairs(got) do
      assert.equal(i - 1, m.offset)
      assert.equal("m" .. i, m.data)
    end
    -- and the same through a node without a policy
    assert.equal(10, c0:publish("pp", topic, "m11"))
    assert.equal("m11", assert(cl:client(1):pull("ps", topic))[1].data)
  end)

  it("a policy that raises is logged as the node's event and the default route is used", function()
    local dir = assert(require("luv").fs_mkdtemp("/tmp/hypersub-policy-XXXXXX"))
    local path = dir .. "/broken.lua"
    local f = assert(io.open(path, "w"))
    f:write("return { next_hop = function() error('this policy is broken') end }\n")
    f:close()
    local cl = assert(cluster.start { nodes = 4, node_flags = { [0] = { "--policy", path } } })
    finally(function()
      cl:close()
      cl:check()
      os.remove(path)
      require("luv").fs_rmdir(dir)
    end)
    local c0 = cl:client(0)
    assert(c0:create_publisher "bp")
    for i = 1, 8 do
      assert(c0:create_topic("bp", "broken-" .. i))
      assert.equal(0, c0:publish("bp", "broken-" .. i, "still served"))
    end
    -- In the node's own log, as events: loaded, then failing.
    local fh = assert(io.open(cl:nodes()[1].log))
    local text = fh:read("a")
    fh:close()
    assert.matches("policy: policy_loaded next_hop=1 read_replica=0", text)
    assert.matches('policy: policy_failed hook="next_hop" error="[^"]*this policy is broken', text)
  end)
end)

describe("placement agreement #cluster", function()
  it("nodes whose replica count differs refuse each other at HELLO", function()
    local ports = cluster.free_ports(2)
    local peers = function(self, other)
      return { "--id", tostring(self), "--listen", "127.0.0.1:" .. ports[self + 1],
        "--peer", ("%d=127.0.0.1:%d"):format(other, ports[other + 1]) }
    end
    local process = require "hypersub.process"
    local a = assert(process.start_node(peers(0, 1)))
    finally(function() a:close() end)
    local flags = peers(1, 0)
    flags[#flags + 1] = "--replicas"
    flags[#flags + 1] = "2"
    local b = assert(process.start_node(flags))
    finally(function() b:close() end)
    local c = assert(hypersub.connect(a.addr))
    finally(function() c:close() end)
    -- Identities homed at node 1 must be created there: node 0 forwards,
    -- and node 1 refuses node 0's HELLO.
    local refused
    for i = 1, 50 do
      local pid = "who-" .. i
      local home = hypersub.placement("p:" .. pid, { 0, 1 }, 1)[1]
      if home == 1 then
        local ok, msg, code = c:create_publisher(pid)
        assert.is_nil(ok)
        assert.equal("DENIED", code)
        assert.truthy(msg:find("placement differs", 1, true), msg)
        refused = true
        break
      end
    end
    assert.is_true(refused, "no identity homed at node 1 among 50 tries")
  end)

  it("a policy needs next_hop or read_replica, as functions", function()
    for _, policy in ipairs {
      {},
      { next_hop = 5 },
      { read_replica = "node 3" },
      { next_hop = function() end, read_replica = true },
    } do
      local ok, err = pcall(hypersub.node, { policy = policy })
      assert.is_false(ok)
      assert.truthy(tostring(err):find("read_replica(self, topic, candidates, stats)", 1, true), err)
    end
    local n = assert(hypersub.node { policy = { read_replica = function() end } })
    n:close()
  end)
end)
