--- bench/workloads/failover.lua — workload 5: a topic's home is SIGKILLed
-- while one-at-a-time ack=all publishes (workload 2) and long-polled pulls
-- (workload 4, publish -> pulled) run on two topics with that same home.
-- Both clients enter through node 0, which holds neither topic, and know
-- every node for reconnects. Each round is a fresh 8-node cluster with
-- default failure detection (heartbeat 100 ms, dead after 1000 ms).
--
-- The unavailability window is the longest time between two completed
-- operations (acks, or deliveries) of a series: the kill falls inside it.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"
local lib = require "lib"

local M = {}

local function read_series(path)
  local out = {}
  for line in io.lines(path) do
    local t, lat = line:match("^(%S+) (%S+)$")
    out[#out + 1] = { t = tonumber(t), lat = tonumber(lat) }
  end
  return out
end

-- Longest gap between completions, and the p50 latency before and after.
local function summarise(series, kill_us)
  local gap, before, after = 0, {}, {}
  for i, s in ipairs(series) do
    if i > 1 and s.t - series[i - 1].t > gap then gap = s.t - series[i - 1].t end
    local list = s.t < kill_us and before or after
    list[#list + 1] = s.lat
  end
  return { window_ms = gap / 1e3, p50_before_us = lib.median(before) or 0,
    p50_after_us = lib.median(after) or 0, ops = #series }
end

-- A topic homed on `home` that node 0 holds no copy of.
local function topic_on(cl, home, prefix)
  for n = 1, 100000 do
    local t = prefix .. n
    local w = cl:where(t)
    local clear = w.home == home
    for _, r in ipairs(w.replicas) do clear = clear and r ~= 0 end
    if clear then return t end
  end
end

local function round(ctx, k)
  local cfg = ctx.cfg
  local cl = lib.track(assert(cluster.start { nodes = 8, replicas = 3, log_level = "warn" }))
  assert(cl:await_view(30000))
  local pub_topic = cl:topic_away("fo-", 0)
  local home = cl:home(pub_topic)
  local poll_topic = assert(topic_on(cl, home, "fl-"))
  local addrs = { "127.0.0.1:" .. cl._port[0] }
  for _, n in ipairs(cl:nodes()) do if n.id ~= 0 then addrs[#addrs + 1] = n.addr end end
  addrs = table.concat(addrs, ",")
  local dir = lib.tmpdir("failover")
  local gens = {}
  for _, g in ipairs { { "sync", pub_topic }, { "longpoll", poll_topic } } do
    gens[#gens + 1] = lib.gen_start("hs", { g[1], "--addr", addrs, "--topic", g[2],
      "--warmup", "200", "--duration-ms", tostring(cfg.failover_ms),
      "--series", ("%s/%s.txt"):format(dir, g[1]), "--timeout", "15000" })
  end
  for _, p in ipairs(gens) do assert(p:wait_line("^STARTED$", 30000)) end
  hypersub.sleep(1000) -- a second of normal service before the kill, for the plot
  local kill_us = lib.now_us()
  assert(cl:kill(home))
  local out = { home = home }
  for i, g in ipairs { "sync", "longpoll" } do
    lib.gen_result(gens[i])
    local series = read_series(("%s/%s.txt"):format(dir, g))
    out[g] = summarise(series, kill_us)
    if k == 1 then -- the first round's series, for the plot
      local pts = {}
      for _, s in ipairs(series) do pts[#pts + 1] = { (s.t - kill_us) / 1e6, s.lat / 1e3 } end
      ctx.results.failover_series[g] = pts
    end
  end
  cl:close()
  return out
end

function M.run(ctx)
  local rounds = {}
  for k = 1, ctx.cfg.failover_rounds do
    ctx.say(("failover: round %d (fresh 8-node cluster, SIGKILL of a home)"):format(k))
    rounds[k] = round(ctx, k)
  end
  local F = ctx.results.failover
  for _, g in ipairs { "sync", "longpoll" } do
    local w, b, a = {}, {}, {}
    for _, r in ipairs(rounds) do
      w[#w + 1], b[#b + 1], a[#a + 1] = r[g].window_ms, r[g].p50_before_us, r[g].p50_after_us
    end
    local function st(xs) local m, lo, hi = lib.median(xs) return { med = m, min = lo, max = hi } end
    F[g] = { window_ms = st(w), p50_before_us = st(b), p50_after_us = st(a), rounds = #rounds }
  end
end

return M
