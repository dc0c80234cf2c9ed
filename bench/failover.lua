-- bench/failover.lua — what a failure costs on 8 node processes with 3
-- copies per topic (default heartbeat 100 ms, suspect 500 ms, dead 1000 ms):
--
--   build/hypersub bench/failover.lua [ROUNDS]
--
-- Each round starts a fresh cluster, lets it idle for 2 s (heartbeat bytes
-- per node per second), then runs one-at-a-time ack = "all" publishes
-- through a node that survives while the topic's home is SIGKILLed. It
-- prints, per round: the heartbeat traffic; the time from the kill until
-- every live node's view says dead (detection); the longest gap between
-- two acknowledged publishes (the window in which publishes waited); the
-- publishes' p50 before and after the failover; retries and failed
-- publishes. Then the median of the rounds, with min–max.
local hypersub = require "hypersub"
local cluster = require "hypersub.cluster"
local uv = require "luv"

local ROUNDS = tonumber(arg and arg[1]) or 3

local function now_ms() uv.update_time(); return uv.hrtime() / 1e6 end

local function median(xs)
  local s = { table.unpack(xs) }
  table.sort(s)
  return s[(#s + 1) // 2], s[1], s[#s]
end

local function p50(xs)
  if #xs == 0 then return 0 end
  return (median(xs))
end

local function round()
  local cl = assert(cluster.start { nodes = 8, replicas = 3, log_level = "warn" })
  local r = {}
  local ok, err = pcall(function()
    assert(cl:await_view(10000))
    -- Idle heartbeat traffic, measured over a 2 s window of the stats.
    local function hb_bytes()
      local sum = 0
      for _, n in ipairs(cl:nodes()) do
        local c = assert(cl:client(n.id))
        sum = sum + assert(c:stats()).heartbeat_bytes
        c:close()
      end
      return sum
    end
    local b0, t0 = hb_bytes(), now_ms()
    hypersub.sleep(2000)
    r.hb = (hb_bytes() - b0) / ((now_ms() - t0) / 1000) / 8

    local topic = cl:topic_away("fo-", 0)
    local c = assert(cl:client(0, { timeout = 10000 }))
    assert(c:create_publisher "p")
    assert(c:create_topic("p", topic))
    local home = cl:home(topic)
    local before, after, gaps, failed = {}, {}, 0, 0
    local killed_at, last_ack, detected
    local stop_at
    hypersub.run(function()
      local i = 0
      while true do
        i = i + 1
        local t = now_ms()
        local off = c:publish("p", topic, ("m%06d"):format(i), { ack = "all" })
        local done = now_ms()
        if off then
          if last_ack and done - last_ack > gaps then gaps = done - last_ack end
          last_ack = done
          local list = killed_at and after or before
          list[#list + 1] = (done - t) * 1000
        else
          failed = failed + 1
        end
        if i == 2000 and not killed_at then
          killed_at = now_ms()
          assert(cl:kill(home))
        end
        if killed_at and not detected then
          -- Detection: checked between publishes, cheaply, from node 0's view.
          local v = c:view()
          for _, m in ipairs(v and v.members or {}) do
            if m.id == home and m.state == "dead" then detected = now_ms() - killed_at end
          end
        end
        if detected and not stop_at then stop_at = i + 2000 end
        if stop_at and i >= stop_at then break end
      end
    end)
    r.detect, r.window, r.failed, r.retries = detected, gaps, failed, c:retries()
    r.p50_before, r.p50_after = p50(before), p50(after)
    c:close()
  end)
  cl:close()
  assert(ok, err)
  return r
end

print(("failover on 8 nodes, replicas 3, %d core(s); %d round(s), each on a fresh cluster")
  :format(#uv.cpu_info(), ROUNDS))
local rows = {}
for k = 1, ROUNDS do
  local r = round()
  rows[k] = r
  print(("round %d: heartbeats %.0f B/s per node; detected in %.0f ms; longest wait for an ack %.0f ms; "
    .. "p50 %.0f us before, %.0f us after; %d retries, %d failed")
    :format(k, r.hb, r.detect, r.window, r.p50_before, r.p50_after, r.retries, r.failed))
end
local function col(key)
  local xs = {}
  for _, r in ipairs(rows) do xs[#xs + 1] = r[key] end
  return median(xs)
end
for _, k in ipairs { { "hb", "heartbeat B/s per node" }, { "detect", "detection ms" },
  { "window", "longest wait for an ack, ms" }, { "p50_before", "sync ack=all p50 before, us" },
  { "p50_after", "sync ack=all p50 after, us" } } do
  local m, lo, hi = col(k[1])
  print(("median %-32s %8.0f   (min %.0f, max %.0f)"):format(k[2], m, lo, hi))
end
