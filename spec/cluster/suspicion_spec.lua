-- Suspicion before death: a node stalled for a few hundred milliseconds
-- (SIGSTOP, then SIGCONT) is at most suspected and moves nothing; a node
-- killed with SIGKILL is declared dead once, and its topics move once.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local uv = require "luv"

-- Sums a counter over the live nodes' stats.
local function total(cl, key)
  local sum = 0
  for _, n in ipairs(cl:nodes()) do
    if n.alive then
      local c = assert(cl:client(n.id))
      sum = sum + (assert(c:stats())[key] or 0)
      c:close()
    end
  end
  return sum
end

describe("suspicion #cluster", function()
  local cl
  before_each(function()
    cl = assert(cluster.start { nodes = 8, replicas = 3 })
    assert(cl:await_view(10000))
  end)
  after_each(function()
    if cl then
      cl:close()
      assert(cl:check())
    end
  end)

  it("a SIGSTOP of 300 ms causes no failover; a SIGKILL causes exactly one", function()
    local c = assert(cl:client(0))
    assert(c:create_publisher "sp")
    for i = 1, 20 do assert(c:create_topic("sp", "calm-" .. i)) end
    local pid = cl:nodes()[6].pid -- node 5
    assert.equal(0, uv.kill(pid, "sigstop"))
    -- Wait 300 ms on a timer: the stall itself is what is tested.
    local resumed = false
    local t = uv.new_timer()
    t:start(300, 0, function() uv.kill(pid, "sigcont"); resumed = true end)
    assert(process.wait_until(function() return resumed end, 5000, "the stall to end"))
    assert(cl:await_view(10000))
    assert.equal(0, total(cl, "failovers"))
    assert.equal(0, total(cl, "promotions"))
    assert.equal(0, total(cl, "failures"))
    -- Now a real death: every node moves its topics exactly once.
    assert(cl:kill(5))
    assert(cl:await_view(10000))
    assert.is_true(total(cl, "failures") >= 1)
    for _, n in ipairs(cl:nodes()) do
      if n.alive then
        local st = assert(assert(cl:client(n.id)):stats())
        assert.equal(1, st.failovers, "node " .. n.id)
      end
    end
    local v = assert(c:view())
    for _, m in ipairs(v.members) do
      assert.equal(m.id == 5 and "dead" or "alive", m.state)
    end
    for i = 1, 20 do assert(cl:await_copies("calm-" .. i, 10000)) end
  end)
end)
