-- Membership by hand: which id a joining node gets, and what a join or a
-- leave that cannot be done answers. (Joins and leaves under load are in
-- churn_spec.lua.)
local cluster = require "hypersub.cluster"

local node_cli = require("support.raw").node_cli

local function alive_ids(v)
  local ids = {}
  for _, m in ipairs(v.members) do
    if m.state == "alive" then ids[#ids + 1] = m.id end
  end
  table.sort(ids)
  return ids
end

describe("membership #cluster", function()
  local cl
  after_each(function()
    if cl then
      cl:close()
      assert(cl:check())
      cl = nil
    end
  end)

  it("a join gets the id it asks for, else the lowest free one; a left id is free again", function()
    cl = assert(cluster.start { nodes = 4, replicas = 2 })
    assert(cl:await_view(10000))
    assert.equal(6, assert(cl:join(6)))
    assert.equal(4, assert(cl:join()))
    assert(cl:leave(4))
    assert(cl:await_view(10000))
    assert.equal(4, assert(cl:join())) -- the id node 4 left is given again
    assert.equal(5, assert(cl:join()))
    assert(cl:await_view(10000))
    local v = assert(assert(cl:client(6)):view())
    assert.same({ 0, 1, 2, 3, 4, 5, 6 }, alive_ids(v))
    assert.equal(3, v.dim)
  end)

  it("a node started alone watches the member that joins it: killed, it is declared dead", function()
    cl = assert(cluster.start { nodes = 1, replicas = 2,
      flags = { "--suspect-ms", "200", "--dead-ms", "400" } })
    assert.equal(1, assert(cl:join()))
    assert(cl:await_view(10000))
    assert.is_true(assert(assert(cl:client(0)):stats()).heartbeats > 0)
    cl:kill(1)
    assert(cl:await_view(10000)) -- node 0 says node 1 is dead
  end)

  it("a join that cannot be done says why, and the cluster is unchanged", function()
    cl = assert(cluster.start { nodes = 2, replicas = 2 })
    assert(cl:await_view(10000))
    local via = cl:addr(0)
    local function listen() return "127.0.0.1:" .. cluster.free_ports(1)[1] end
    local epoch = assert(assert(cl:client(0)):view()).epoch

    local code, err = node_cli { "--join", via, "--listen", listen(), "--id", "1", "--replicas", "2" }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("EXISTS", 1, true), err)

    code, err = node_cli { "--join", via, "--listen", listen(), "--replicas", "3" }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("DENIED", 1, true) and err:find("placement differs", 1, true), err)

    code, err = node_cli { "--join", listen(), "--listen", listen(), "--replicas", "2" }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("UNAVAILABLE", 1, true), err)

    local v = assert(assert(cl:client(1)):view())
    assert.same({ 0, 1 }, alive_ids(v))
    assert.equal(epoch, v.epoch)
  end)

  it("leave names a node that is not a member: NO_NODE", function()
    cl = assert(cluster.start { nodes = 2, replicas = 2 })
    local c = assert(cl:client(0))
    local ok, msg, code = c:leave(9)
    assert.is_nil(ok)
    assert.equal("NO_NODE", code, msg)
  end)
end)
