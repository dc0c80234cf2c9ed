-- A node process stopped by a signal leaves gracefully: SIGTERM (or SIGINT)
-- hands its topics over and exits 0, the others hold it as left (no
-- node_failed) and nothing acknowledged is lost; past --leave-timeout, or at
-- a second signal, it stops at once and exits 1. c:leave(id) through
-- another node answers true once the node left.
local cluster = require "hypersub.cluster"
local uv = require "luv"

local function read(path)
  local f = io.open(path)
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Topics with a few acknowledged messages each; returns their names.
local function fill(c, n)
  assert(c:create_publisher "p")
  local topics = {}
  for i = 1, n do
    local t = "g" .. i
    assert(c:create_topic("p", t))
    for k = 1, 5 do assert(c:publish("p", t, t .. "/" .. k)) end
    topics[#topics + 1] = t
  end
  return topics
end

describe("graceful leave #cluster", function()
  local cl, frozen
  after_each(function()
    if frozen then uv.kill(frozen, "sigcont") end
    if cl then
      cl:close()
      assert(cl:check())
    end
    cl, frozen = nil, nil
  end)

  it("SIGTERM hands the topics over and exits 0; the others hold the node as left", function()
    cl = assert(cluster.start { nodes = 3 })
    assert(cl:await_view())
    local c = assert(cl:client(0))
    local topics = fill(c, 8)
    local code, sig = cl:stop(2)
    assert.equal(0, code)
    assert.equal(0, sig)
    assert(cl:await_view())
    for _, t in ipairs(topics) do assert(cl:await_copies(t)) end
    assert.truthy(read(cl:nodes()[3].log):find("cluster: left ", 1, true))
    for _, n in ipairs(cl:nodes()) do
      assert.falsy(read(n.log):find("node_failed", 1, true), n.log)
    end
    assert(c:create_subscriber "s")
    for _, t in ipairs(topics) do
      assert(c:subscribe("s", t))
      local got = assert(c:pull("s", t))
      assert.equal(5, #got, t)
      assert.equal(t .. "/5", got[5].data)
    end
  end)

  it("c:leave(id) through another node answers true once the node left", function()
    cl = assert(cluster.start { nodes = 4 })
    assert(cl:await_view())
    local c = assert(cl:client(0))
    fill(c, 4)
    local p = cl._proc[3]
    p.expected_exit = true
    assert.equal(1, select("#", c:leave(3)))
    assert.is_true(c:leave(2))
    assert.equal(0, (p:wait(10000)))
  end)

  it("stops at once at a second signal, or past --leave-timeout, with exit 1", function()
    cl = assert(cluster.start { nodes = 2, flags = { "--leave-timeout", "300" } })
    assert(cl:await_view())
    fill(assert(cl:client(0)), 4)
    -- Node 1 cannot answer: node 0's hand-overs wait.
    frozen = cl:nodes()[2].pid
    uv.kill(frozen, "sigstop")
    local p = cl._proc[0]
    p.expected_exit = true
    local t0 = uv.hrtime()
    p:kill("sigterm")
    assert.equal(1, (p:wait(10000)))
    assert.truthy(p.stderr:find("no hand-over within 300 ms", 1, true), p.stderr)
    assert.is_true((uv.hrtime() - t0) / 1e6 >= 300)
    uv.kill(frozen, "sigcont")
    frozen = nil
  end)

  it("a second SIGINT stops the leave at once", function()
    cl = assert(cluster.start { nodes = 2 })
    assert(cl:await_view())
    fill(assert(cl:client(0)), 4)
    frozen = cl:nodes()[2].pid
    uv.kill(frozen, "sigstop")
    local p = cl._proc[0]
    p.expected_exit = true
    p:kill("sigint")
    -- (Two signals sent at once may arrive as one: the second waits for
    -- the leave to have begun.)
    local log = cl:nodes()[1].log
    for _ = 1, 250 do
      if read(log):find("cluster: leaving", 1, true) then break end
      require("hypersub").sleep(20)
    end
    p:kill("sigint")
    assert.equal(1, (p:wait(10000)))
    assert.truthy(p.stderr:find("a second SIGINT", 1, true), p.stderr)
  end)
end)
