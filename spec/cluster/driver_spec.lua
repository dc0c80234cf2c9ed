-- hypersub.cluster itself: starting, listing, killing, stopping, restarting
-- and closing local clusters of real processes; nothing outlives a cluster.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local uv = require "luv"

-- Whether a process with this pid still exists (a zombie counts: the
-- cluster must have reaped it).
local function exists(pid)
  return uv.kill(pid, 0) == 0
end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- Removes a kept log directory.
local function remove(dir)
  local h = uv.fs_scandir(dir)
  while h do
    local name = uv.fs_scandir_next(h)
    if not name then break end
    os.remove(dir .. "/" .. name)
  end
  assert(uv.fs_rmdir(dir))
end

describe("hypersub.cluster #cluster", function()
  local cl

  after_each(function()
    if cl then
      cl:close()
      cl:check()
    end
    cl = nil
  end)

  it("starts the given ids and lists them sorted, with their logs", function()
    cl = assert(cluster.start { ids = { 5, 0, 3 }, log_level = "info" })
    local nodes = cl:nodes()
    assert.same({ 0, 3, 5 }, { nodes[1].id, nodes[2].id, nodes[3].id })
    local ports = {}
    for _, n in ipairs(nodes) do
      assert.is_true(n.alive)
      assert.is_true(exists(n.pid))
      assert.matches("^127%.0%.0%.1:%d+$", n.addr)
      assert.is_nil(ports[n.addr])
      ports[n.addr] = true
      assert.equal(("%s/node%d.log"):format(cl.dir, n.id), n.log)
      local c = assert(cl:client(n.id))
      assert.equal(n.id, c.node_id)
      assert.equal(3, #assert(c:view()).members)
    end
    assert.truthy(read(nodes[1].log):find("node_started", 1, true))
    assert.matches("^hypersub.cluster: 3 nodes in /tmp/hypersub%-", tostring(cl))
  end)

  it("removes its log directory on close, unless asked to keep it", function()
    local gone = assert(cluster.start { nodes = 1 })
    local dir = gone.dir
    assert.truthy(uv.fs_stat(dir .. "/node0.log"))
    gone:close()
    assert.is_nil(uv.fs_stat(dir))
    local kept = assert(cluster.start { nodes = 1, keep_logs = true })
    dir = kept.dir
    kept:close()
    assert.truthy(uv.fs_stat(dir .. "/node0.log"))
    remove(dir)
  end)

  it("keeps the logs when a check fails, and says where they are", function()
    cl = assert(cluster.start { nodes = 1 })
    local dir = cl.dir
    local f = assert(io.open(dir .. "/node0.out", "a"))
    f:write("ERROR: AddressSanitizer: made up for the spec\n")
    f:close()
    local ok, err = pcall(cl.check, cl)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("the logs are in " .. dir, 1, true), err)
    cl:close()
    cl = nil
    assert.truthy(uv.fs_stat(dir .. "/node0.log"))
    remove(dir)
  end)

  it("gives every node the common flags and each its own", function()
    cl = assert(cluster.start {
      nodes = 2, replicas = 1, flags = { "--max-pull", "7" },
      node_flags = { [1] = { "--max-payload", "100" } },
    })
    local c0, c1 = assert(cl:client(0)), assert(cl:client(1))
    assert.is_true(c0:create_publisher("fp"))
    -- One topic homed on each node: node 1 alone refuses 101 bytes.
    local on = {}
    for i = 1, 100 do
      local t = "flag-topic-" .. i
      on[cl:home(t)] = on[cl:home(t)] or t
    end
    for id = 0, 1 do
      assert.is_true(c0:create_topic("fp", on[id]))
      local ok, _, code = c0:publish("fp", on[id], string.rep("x", 101))
      if id == 1 then assert.equal("TOO_LARGE", code) else assert.equal(0, ok) end
    end
    assert.is_true(c1:create_subscriber("fs"))
    assert.is_true(c1:subscribe("fs", on[0]))
    for i = 1, 9 do assert(c0:publish("fp", on[0], "m" .. i)) end
    assert.equal(7, #assert(c1:pull("fs", on[0]))) -- --max-pull 7
  end)

  it("hands out clients round robin over the live nodes", function()
    cl = assert(cluster.start { nodes = 3 })
    local seen = {}
    for i = 1, 6 do seen[i] = assert(cl:client()).node_id end
    assert.same({ 0, 1, 2, 0, 1, 2 }, seen)
    assert(cl:kill(1))
    for i = 1, 4 do seen[i] = assert(cl:client()).node_id end
    assert.same({ 0, 2, 0, 2 }, { table.unpack(seen, 1, 4) })
    assert.has_error(function() cl:client(9) end)
  end)

  it("kills, stops and restarts a node on the same port", function()
    cl = assert(cluster.start { nodes = 2, replicas = 2 })
    local before = cl:nodes()[2]
    local code, sig = cl:kill(1)
    assert.equal(9, sig, tostring(code))
    assert.is_false(cl:nodes()[2].alive)
    assert.is_false(exists(before.pid))
    -- cl:where leaves out members that are down.
    for i = 1, 20 do
      local w = cl:where("t" .. i)
      assert.equal(0, w.home)
      assert.same({}, w.replicas)
    end
    local again, msg = cl:kill(1)
    assert.is_nil(again)
    assert.matches("not running", msg)

    assert.is_true(cl:restart(1))
    local after = cl:nodes()[2]
    assert.is_true(after.alive)
    assert.equal(before.addr, after.addr)
    assert.are_not.equal(before.pid, after.pid)
    assert.equal(1, assert(cl:client(1)).node_id)
    local ok, why = cl:restart(1)
    assert.is_nil(ok)
    assert.matches("still running", why)

    -- SIGTERM: the node leaves, exits 0, and the others hold it as left;
    -- restarted, it joins again.
    code, sig = cl:stop(0)
    assert.equal(0, code)
    assert.equal(0, sig)
    assert(cl:await_view())
    assert.is_true(cl:nodes()[1].left)
    assert.is_true(cl:restart(0))
    assert.equal(0, assert(cl:client(0)).node_id)
    assert(cl:await_view())
  end)

  it("close kills and reaps every node, closes its clients and keeps the logs when asked", function()
    cl = assert(cluster.start { nodes = 4, keep_logs = true })
    finally(function() remove(cl.dir) end)
    local c = assert(cl:client(2))
    local nodes = cl:nodes()
    cl:close()
    for _, n in ipairs(nodes) do
      assert.is_false(exists(n.pid), "node " .. n.id)
      assert.truthy(read(n.log), n.log)
    end
    for _, n in ipairs(cl:nodes()) do assert.is_false(n.alive) end
    assert.has_error(function() c:view() end, "attempt to use a closed client")
    cl:close() -- twice is fine
  end)

  it("closes with <close>", function()
    local pids = {}
    do
      local scoped <close> = assert(cluster.start { nodes = 2 })
      for _, n in ipairs(scoped:nodes()) do pids[#pids + 1] = n.pid end
    end
    for _, pid in ipairs(pids) do assert.is_false(exists(pid)) end
  end)

  it("kills its nodes when collected without close", function()
    local pids = {}
    do
      local lost = assert(cluster.start { nodes = 2 })
      for _, n in ipairs(lost:nodes()) do pids[#pids + 1] = n.pid end
    end
    collectgarbage()
    collectgarbage()
    assert(process.wait_until(function()
      for _, pid in ipairs(pids) do if exists(pid) then return false end end
      return true
    end, 5000, "the nodes of a collected cluster to exit"))
  end)

  it("gives nil and a message when a node cannot start, leaving nothing behind", function()
    local x, msg = cluster.start { nodes = 3, flags = { "--max-pull", "lots" } }
    assert.is_nil(x)
    assert.matches("node %d did not start", msg)
    -- (Its stderr, which names the flag, may be cut off: process.lua's
    -- wait_line returns at the exit, before the pipe is drained.)
    assert.matches("exited %(code 2", msg)
    local ps = io.popen("env -u LD_PRELOAD pgrep -f '[h]ypersub node.*--max-pull lots'")
    local left = ps:read("a")
    ps:close()
    assert.equal("", left)
  end)

  it("reports sanitizer output in a node's log as a problem", function()
    cl = assert(cluster.start { nodes = 1, keep_logs = true })
    local dir = cl.dir
    finally(function() remove(dir) end)
    cl:close()
    assert.same({}, cl:problems())
    local f = assert(io.open(cl:nodes()[1].log, "a"))
    f:write("==1==ERROR: AddressSanitizer: heap-use-after-free\n")
    f:close()
    local problems = cl:problems()
    assert.equal(1, #problems)
    assert.matches("AddressSanitizer", problems[1])
    assert.has_error(function() cl:check() end)
    cl = nil
  end)

  it("raises for bad options", function()
    assert.has_error(function() cluster.start { nodes = 0 } end)
    assert.has_error(function() cluster.start { ids = { 1, 1 } } end)
    assert.has_error(function() cluster.start { ids = { -1 } } end)
    assert.has_error(function() cluster.start { nodes = 2, replicas = "all" } end)
    assert.has_error(function() cluster.start { node = 2 } end, "unknown cluster option 'node'")
  end)
end)
