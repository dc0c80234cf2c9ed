-- One broken link kills nobody: cube neighbours 0 and 1 reach each other
-- through relays (node 0 with `--dial 1=<relay>`, node 1 with `--dial
-- 0=<relay>`); every other link is direct. The relays are SIGSTOPped: the
-- links between 0 and 1 stay open and carry nothing, either way. Each
-- hears nothing from the other, so each asks its other neighbours to
-- probe (PROBE, passed on through a neighbour of the silent node); they
-- reach it, so neither is ever suspected nor declared dead, on any node,
-- for many dead times. Then node 1 itself stops (SIGSTOP): no path
-- reaches it and it is declared dead.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local hypersub = require "hypersub"
local uv = require "luv"

local DEAD_MS = 600

local function stats(cl, id)
  local c = assert(cl:client(id, { timeout = 3000 }))
  local s = assert(c:stats())
  local v = assert(c:view())
  c:close()
  return s, v
end

local function state_of(v, id)
  for _, m in ipairs(v.members) do if m.id == id then return m.state end end
end

describe("a broken link #cluster", function()
  local cl, relays, stopped = nil, {}, nil

  after_each(function()
    if stopped then uv.kill(stopped, "sigcont") end
    for _, r in ipairs(relays) do
      r:kill("sigcont")
      r:close()
    end
    if cl then
      cl:close()
      assert(cl:check())
    end
    cl, relays, stopped = nil, {}, nil
  end)

  local function relay()
    local r = process.spawn(process.runtime(), { "spec/support/relay.lua" }, { stdin_pipe = true })
    relays[#relays + 1] = r
    return r, assert(r:wait_line("^READY (%d+)$", 5000))
  end

  it("does not get a healthy node declared dead while another path reaches it", function()
    local to1, port1 = relay()
    local to0, port0 = relay()
    cl = assert(cluster.start {
      nodes = 8, log_level = "info",
      flags = { "--suspect-ms", tostring(DEAD_MS // 2), "--dead-ms", tostring(DEAD_MS) },
      node_flags = { [0] = { "--dial", "1=127.0.0.1:" .. port1 },
                     [1] = { "--dial", "0=127.0.0.1:" .. port0 } },
    })
    to1.in_pipe:write(("TARGET %d\n"):format(cl._port[1]))
    to0.in_pipe:write(("TARGET %d\n"):format(cl._port[0]))
    assert(cl:await_view(10000))

    to1:kill("sigstop")
    to0:kill("sigstop")
    -- Wait for the probes to have said "alive" again and again: ten probe
    -- rounds span five dead times.
    local deadline = uv.now() + 20 * DEAD_MS
    local s0 = stats(cl, 0)
    local confirmed = 0
    repeat
      for _, id in ipairs(cl:members()) do
        local _, v = stats(cl, id)
        assert.equal("alive", state_of(v, 1), ("node %d holds node 1 %s"):format(id, state_of(v, 1)))
        assert.equal("alive", state_of(v, 0), ("node %d holds node 0 %s"):format(id, state_of(v, 0)))
      end
      local s = stats(cl, 0)
      confirmed = s.probes_confirmed - s0.probes_confirmed
      assert.is_true(uv.now() < deadline, "node 0's probes of node 1 did not say alive ten times")
      hypersub.sleep(100)
      uv.update_time()
    until confirmed >= 10
    for _, n in ipairs(cl:nodes()) do
      local s = stats(cl, n.id)
      assert.equal(0, s.failures, "node " .. n.id .. " declared a member dead")
    end
    -- the probes went through other nodes, which served them
    local served = 0
    for id = 2, 7 do served = served + stats(cl, id).probes_served end
    assert.is_true(served >= 10)

    -- Now node 1 itself stalls: nothing reaches it, and it is dead.
    stopped = cl:nodes()[2].pid
    uv.kill(stopped, "sigstop")
    deadline = uv.now() + 10 * DEAD_MS
    repeat
      local _, v = stats(cl, 2)
      local st = state_of(v, 1)
      if st == "dead" then break end
      assert.is_true(uv.now() < deadline, "node 1 stopped and was not declared dead: " .. st)
      hypersub.sleep(50)
      uv.update_time()
    until false
  end)
end)
