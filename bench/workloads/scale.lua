--- bench/workloads/scale.lua — workload 8: clusters of 2 to 64 node
-- processes on this machine. For each size: heartbeat bytes per node per
-- second at idle (median of 3 windows), peer connections per node (the
-- `connections` gauge less the one client of ours), and the hops publishes
-- take (the nodes' `hops` histograms) when they enter at random nodes,
-- against log2 N (a uniform pair of ids is log2 N / 2 apart).
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"
local lib = require "lib"

local M = {}

local function sum_stats(clients)
  local hb, conns, hops = 0, 0, {}
  for _, c in ipairs(clients) do
    local s = assert(c:stats())
    hb, conns = hb + s.heartbeat_bytes, conns + s.connections - 1
    for h, count in pairs(s.hops) do hops[tonumber(h)] = (hops[tonumber(h)] or 0) + count end
  end
  return hb, conns / #clients, hops
end

local function one_size(ctx, n)
  local cl = lib.track(assert(cluster.start { nodes = n, replicas = 3, log_level = "warn", timeout = 60000 }))
  assert(cl:await_view(60000))
  local clients = {}
  for id = 0, n - 1 do clients[#clients + 1] = assert(cl:client(id, { timeout = 10000 })) end
  local out = { nodes = n, log2 = math.log(n, 2) }

  local rates = {}
  for w = 1, 3 do
    local hb0, t0 = sum_stats(clients), lib.now_us()
    hypersub.sleep(ctx.cfg.hb_window_ms) -- the window the traffic is counted over
    local hb1 = sum_stats(clients)
    rates[w] = (hb1 - hb0) / ((lib.now_us() - t0) / 1e6) / n
  end
  local med, lo, hi = lib.median(rates)
  out.heartbeat = { med = med, min = lo, max = hi }
  local _, idle_links, hops0 = sum_stats(clients)
  out.links_idle = idle_links

  -- Topics made (and their publisher looked up by their homes) first;
  -- then only publishes are counted. Pings, replication and lookups are
  -- served at hop 0, so the mean is the forwarded hops over our publishes.
  math.randomseed(n)
  local entry = function() return clients[math.random(#clients)] end
  local k = ctx.cfg.scale_requests
  assert(entry():create_publisher("sp"))
  for i = 1, k // 4 do
    assert(entry():create_topic("sp", "sc-" .. i))
    assert(entry():publish("sp", "sc-" .. i, "x"))
  end
  local _, _, hops0 = sum_stats(clients)
  for _ = 1, k do
    local t = "sc-" .. math.random(k // 4)
    assert(entry():publish("sp", t, "x"))
  end
  local _, busy_links, hops1 = sum_stats(clients)
  out.links_busy = busy_links
  local total, max = 0, 0
  for h, c1 in pairs(hops1) do
    local d = c1 - (hops0[h] or 0)
    if h > 0 and d > 0 then total, max = total + d * h, math.max(max, h) end
  end
  out.hops_mean, out.hops_max, out.requests = total / k, max, k
  for _, c in ipairs(clients) do c:close() end
  cl:close()
  return out
end

function M.run(ctx)
  for _, n in ipairs(ctx.cfg.scale) do
    ctx.say(("scale: %d nodes"):format(n))
    ctx.results.scale[#ctx.results.scale + 1] = one_size(ctx, n)
  end
end

return M
