-- bench/cluster_quick.lua — a first look at replication's cost: 8 node
-- processes, 3 copies per topic, a direct client (one hop to the home),
-- 100-byte payloads, 256 publishes in flight.
--
--   build/hypersub bench/cluster_quick.lua [N]
--
-- Prints pipelined msgs/s with ack = "all" (every replica holds it) and
-- ack = "home", and the mean latency of one-at-a-time ack = "all"
-- publishes; one warm-up run is not counted. The full suite (medians,
-- percentiles, NATS JetStream beside us) is bench/'s next step.
local hypersub = require "hypersub"
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local uv = require "luv"

local N = tonumber(arg and arg[1]) or 100000
local PAYLOAD = ("x"):rep(100)
local cl = assert(cluster.start { nodes = 8, replicas = 3, log_level = "warn" })
local ok, err = pcall(function()
  local c = assert(hypersub.connect(cl:nodes()[1].addr, { direct = true }))
  assert(c:create_publisher "p")
  assert(c:create_topic("p", "t"))
  local w = assert(c:where "t")

  local function pipelined(ack)
    local sent, done = 0, 0
    local t0 = uv.hrtime()
    local function on_ack(offset, msg)
      assert(offset, msg)
      done = done + 1
      if sent < N then
        sent = sent + 1
        c:publish("p", "t", PAYLOAD, { ack = ack }, on_ack)
      end
    end
    for _ = 1, 256 do
      sent = sent + 1
      c:publish("p", "t", PAYLOAD, { ack = ack }, on_ack)
    end
    assert(process.wait_until(function() return done == N end, 120000, "acks"))
    return N / ((uv.hrtime() - t0) / 1e9)
  end

  pipelined("all") -- warm-up
  local all, home = pipelined("all"), pipelined("home")
  local n = math.max(N // 50, 1000)
  local t0 = uv.hrtime()
  for _ = 1, n do assert(c:publish("p", "t", PAYLOAD)) end
  local sync_us = (uv.hrtime() - t0) / 1e3 / n
  print(("cores: %d   8 nodes, 3 copies (home %d, replicas %s), N = %d"):format(
    #uv.cpu_info(), w.home, table.concat(w.replicas, ","), N))
  print(("pipelined, 256 in flight: ack=all %.0f msgs/s, ack=home %.0f msgs/s (all/home %.2f)")
    :format(all, home, all / home))
  print(("one at a time, ack=all: %.1f µs mean"):format(sync_us))
  c:close()
end)
cl:close()
if not ok then error(err, 0) end
