--- The seed's failure story on 8 real node processes: kill a topic's home
-- with SIGKILL while a publisher streams, pull from the node that took over
-- (a former replica), and read in the nodes' logs what happened.
--
--   build/hypersub examples/failover.lua
local hypersub = require "hypersub"
local cluster = require "hypersub.cluster"
local uv = require "luv"

io.stdout:setvbuf("line")

local function step(title)
  print()
  print("== " .. title)
end

local function ids(list) return table.concat(list, ", ") end

step("start 8 nodes, 3 copies of every topic; heartbeats every 100 ms, dead after 1 s")
local cl = assert(cluster.start { nodes = 8, replicas = 3, log_level = "info" })
local ok, failure = xpcall(function()
  assert(cl:await_view(10000)) -- every node has heard from its neighbours
  local c = assert(cl:client(0, { timeout = 10000 }))
  assert(c:create_publisher "alice")
  assert(c:create_subscriber "bob")
  -- A topic whose copies are all away from node 0, the node we talk to.
  local topic = cl:topic_away("alerts-", 0)
  assert(c:create_topic("alice", topic))
  assert(c:subscribe("bob", topic))
  local w = assert(c:where(topic))
  print(("topic %q: home %d, replicas %s (asked through node 0)"):format(topic, w.home, ids(w.replicas)))

  step("publish 200 messages with ack = \"all\", 64 in flight; SIGKILL the home after 100")
  local home, acked, failed, sent, t_kill = w.home, 0, 0, 0, nil
  local worst_ms, started = 0, {}
  local function one()
    sent = sent + 1
    local i = sent
    started[i] = uv.hrtime()
    assert(c:publish("alice", topic, ("alert %03d"):format(i), { ack = "all" }, function(off)
      local ms = (uv.hrtime() - started[i]) / 1e6
      if ms > worst_ms then worst_ms = ms end
      if off then acked = acked + 1 else failed = failed + 1 end
      if acked == 100 and not t_kill then
        t_kill = uv.hrtime()
        print(("SIGKILL to node %d after %d acknowledged publishes"):format(home, acked))
        assert(cl:kill(home))
      end
      if sent < 200 then one() end
    end))
  end
  for _ = 1, 64 do one() end
  assert(hypersub.run_until(function() return acked + failed == 200 end))
  print(("acknowledged %d, failed %d; the slowest publish took %.0f ms (it waited for the failover)")
    :format(acked, failed, worst_ms))
  print(("the client sent %d requests again"):format(c:retries()))

  step("the cluster agrees that node " .. home .. " is dead, and the topic has a new home")
  assert(cl:await_view(10000))
  assert(cl:await_copies(topic, 10000))
  local v = assert(c:view())
  for _, m in ipairs(v.members) do
    if m.state ~= "alive" then print(("node %d: %s (epoch %d)"):format(m.id, m.state, v.epoch)) end
  end
  local w2 = assert(c:where(topic))
  print(("topic %q: home %d (was a replica), replicas %s (one refilled)"):format(topic, w2.home, ids(w2.replicas)))

  step("pull everything through node 0: each message once, in order")
  local got, last, seen = 0, -1, {}
  while true do
    local batch = assert(c:pull("bob", topic, { max = 100 }))
    if #batch == 0 then break end
    for _, m in ipairs(batch) do
      assert(m.offset == last + 1, "offsets are dense")
      assert(not seen[m.data], "stored twice: " .. m.data)
      seen[m.data], last, got = true, m.offset, got + 1
    end
  end
  print(("pulled %d messages, offsets 0..%d, served by node %d"):format(got, last, w2.home))

  step("what the logs say (node " .. w2.home .. " took over; every node saw the failure)")
  local wanted = { "node_suspected", "node_failed", "topic_promoted_here",
    "replica_refilled", "topic_replicated_here", "client_retried", "publish_deduplicated" }
  for _, n in ipairs(cl:nodes()) do
    local f = io.open(n.log)
    local shown = 0
    for line in (f and f:lines() or function() end) do
      for _, ev in ipairs(wanted) do
        if line:find(ev, 1, true) and shown < 6 and (n.id == w2.home or ev == "node_failed"
            or ev == "client_retried" or ev == "replica_refilled") then
          print(line)
          shown = shown + 1
          break
        end
      end
    end
    if f then f:close() end
  end

  step("the new home's counters")
  local st = assert(c:stats()) -- node 0's
  local home_st = assert(assert(cl:client(w2.home)):stats())
  print(("node %d: promotions %d, failovers %d, refills %d (%d messages), deduplicated %d")
    :format(w2.home, home_st.promotions, home_st.failovers, home_st.refills,
      home_st.refilled_messages, home_st.deduplicated))
  print(("node 0: failures detected %d, retries received %d"):format(st.failures, st.retries))
  c:close()
end, debug.traceback)

cl:close()
if not ok then error(failure, 0) end
print()
print("failover demo done")
