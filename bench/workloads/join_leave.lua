--- bench/workloads/join_leave.lua — workload 7: nodes join and leave an
-- 8-node cluster (3 copies, ack=all) under load. Pipelined publishes (256
-- in flight) and a long-polled puller (publish -> pulled) run through
-- node 0, which never leaves, while the run joins one node (8 -> 9, the
-- cube grows a dimension), joins a second, makes the first joined node
-- leave and then the publish topic's home among the original nodes. Calm
-- periods separate the events, so what each one disturbs is seen alone.
-- Each round is a fresh cluster.
--
-- Per event: how long it takes (the call, then every node agreeing on the
-- view), the longest time without an acknowledgement from its start to the
-- next event's start, the publish rate while it runs, and the errors the
-- clients saw (the client retries UNAVAILABLE and CLOSED within its
-- timeout, so only what outlasts that shows).
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"
local lib = require "lib"

local M = {}

-- "t_us acks errors gap_us gap_end_us" per bucket (hs.c pipe --bucket-ms).
local function read_buckets(path)
  local out = {}
  for line in io.lines(path) do
    local t, a, e, g, ge = line:match("^(%S+) (%S+) (%S+) (%S+) (%S+)$")
    out[#out + 1] = { t = tonumber(t), acks = tonumber(a), errors = tonumber(e),
      gap = tonumber(g), gap_end = tonumber(ge) }
  end
  return out
end

-- "t_us latency_us" per delivery (hs.c longpoll --series).
local function read_times(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = tonumber(line:match("^(%S+)")) end
  return out
end

-- "t_us CODE" per failed request (hs.c --errors).
local function read_errors(path)
  local out = {}
  for line in io.lines(path) do
    local t, code = line:match("^(%S+) (%S+)$")
    out[#out + 1] = { t = tonumber(t), code = code }
  end
  return out
end

-- A topic homed on `home` that node 0 holds no copy of.
local function topic_on(cl, home, prefix)
  for n = 1, 100000 do
    local w = cl:where(prefix .. n)
    local clear = w.home == home
    for _, r in ipairs(w.replicas) do clear = clear and r ~= 0 end
    if clear then return prefix .. n end
  end
end

-- Times one event: `fn` (join or leave), then the view agreed everywhere.
local function event(cl, name, fn)
  local ev = { name = name, t0 = lib.now_us() }
  ev.id = assert(fn())
  assert(cl:await_view(30000))
  ev.t1 = lib.now_us()
  return ev
end

-- The figures of one event, over [ev.t0, t_next).
local function measure(ev, t_next, buckets, bucket_us, deliveries, errors)
  local gap, poll_gap, acks, n_b, codes = 0, 0, 0, 0, {}
  for _, b in ipairs(buckets) do
    if b.gap_end >= ev.t0 and b.gap_end < t_next then gap = math.max(gap, b.gap) end
    if b.t < ev.t1 and b.t + bucket_us > ev.t0 then acks, n_b = acks + b.acks, n_b + 1 end
  end
  local prev
  for _, t in ipairs(deliveries) do
    if prev and t >= ev.t0 and t < t_next then poll_gap = math.max(poll_gap, t - prev) end
    prev = t
  end
  local n = 0
  for _, e in ipairs(errors) do
    if e.t >= ev.t0 and e.t < t_next then n, codes[e.code] = n + 1, (codes[e.code] or 0) + 1 end
  end
  return { name = ev.name, id = ev.id, takes_ms = (ev.t1 - ev.t0) / 1e3, gap_ms = gap / 1e3,
    poll_gap_ms = poll_gap / 1e3, rate = n_b > 0 and acks / (n_b * bucket_us / 1e6) or 0,
    errors = n, codes = codes }
end

local function round(ctx)
  local cfg = ctx.cfg
  local cl = lib.track(assert(cluster.start { nodes = 8, replicas = 3, log_level = "warn" }))
  assert(cl:await_view(30000))
  local pub_topic = cl:topic_away("jl-", 0)
  local poll_topic = assert(topic_on(cl, cl:home(pub_topic), "jp-"))
  local addrs = { cl:addr(0) }
  for _, id in ipairs(cl:members()) do if id ~= 0 then addrs[#addrs + 1] = cl:addr(id) end end
  addrs = table.concat(addrs, ",")
  local dir = lib.tmpdir("joinleave")
  local common = { "--addr", addrs, "--duration-ms", "600000", "--timeout", "15000" }
  local pub = lib.gen_start("hs", { "pipe", "--topic", pub_topic, "--inflight", "256",
    "--warmup", "20000", "--bucket-ms", tostring(cfg.jl_bucket_ms),
    "--series", dir .. "/pub.txt", "--errors", dir .. "/pub.err", table.unpack(common) })
  local poll = lib.gen_start("hs", { "longpoll", "--topic", poll_topic, "--warmup", "200",
    "--series", dir .. "/poll.txt", "--errors", dir .. "/poll.err", table.unpack(common) })
  for _, p in ipairs { pub, poll } do assert(p:wait_line("^STARTED$", 30000)) end

  local calm = function() hypersub.sleep(cfg.jl_calm_ms) end
  local evs = {}
  calm()
  evs[1] = event(cl, "join, 8 → 9 nodes", function() return cl:join() end)
  calm()
  evs[2] = event(cl, "join, 9 → 10 nodes", function() return cl:join() end)
  calm()
  local joined = evs[1].id
  evs[3] = event(cl, "leave of the first joined node, 10 → 9", function()
    return cl:leave(joined) and joined end)
  calm()
  -- The publish topic's home if it is an original node other than 0, else
  -- the first original that holds a copy, else any original.
  local w, gone, role = cl:where(pub_topic), nil, "none"
  for i, id in ipairs { w.home, table.unpack(w.replicas) } do
    if not gone and id ~= 0 and id < 8 then gone, role = id, i == 1 and "home" or "copy" end
  end
  gone = gone or 1
  evs[4] = event(cl, "leave of an original node, 9 → 8", function()
    return cl:leave(gone) and gone end)
  evs[4].role = role
  calm()
  local t_end = lib.now_us()

  for _, p in ipairs { pub, poll } do p:kill("sigusr1") end
  local r_pub, r_poll = lib.gen_result(pub, 60000), lib.gen_result(poll, 60000)
  cl:close()
  local buckets, deliveries = read_buckets(dir .. "/pub.txt"), read_times(dir .. "/poll.txt")
  local errors = read_errors(dir .. "/pub.err")
  for _, e in ipairs(read_errors(dir .. "/poll.err")) do errors[#errors + 1] = e end

  -- Before the first event: the steady rate, from whole buckets.
  local base = {}
  for _, b in ipairs(buckets) do
    if b.t + cfg.jl_bucket_ms * 1e3 <= evs[1].t0 then base[#base + 1] = b.acks * 1000 / cfg.jl_bucket_ms end
  end
  local out = { base_rate = lib.median(base) or 0, events = {}, errors = #errors, codes = {},
    pub_rate = r_pub.rate, poll_rate = r_poll.rate, t0 = r_pub.t0, raw = { evs = evs, buckets = buckets } }
  for i, ev in ipairs(evs) do
    out.events[i] = measure(ev, evs[i + 1] and evs[i + 1].t0 or t_end, buckets,
      cfg.jl_bucket_ms * 1e3, deliveries, errors)
    out.events[i].role = ev.role -- of the original node that left: home, copy or none
  end
  for _, e in ipairs(errors) do out.codes[e.code] = (out.codes[e.code] or 0) + 1 end
  out.max_gap_ms = 0
  for _, e in ipairs(out.events) do out.max_gap_ms = math.max(out.max_gap_ms, e.gap_ms) end
  return out
end

-- The series of one round, for the plot: msgs/s per bucket against seconds
-- since the measured phase began, and each event's span.
local function series(r, bucket_ms)
  local pts, bands = {}, {}
  for _, b in ipairs(r.raw.buckets) do
    pts[#pts + 1] = { (b.t - r.t0) / 1e6, b.acks * 1000 / bucket_ms }
  end
  for _, ev in ipairs(r.raw.evs) do
    bands[#bands + 1] = { label = ("%s %d"):format(ev.name:match("^%a+"), ev.id),
      x0 = (ev.t0 - r.t0) / 1e6, x1 = (ev.t1 - r.t0) / 1e6 }
  end
  return { points = pts, bands = bands, bucket_ms = bucket_ms }
end

function M.run(ctx)
  local rounds = {}
  for k = 1, lib.RUNS do
    ctx.say(("join/leave: round %d (fresh 8-node cluster; join, join, leave, leave)"):format(k))
    rounds[k] = round(ctx)
  end
  local function st(get)
    local xs = {}
    for _, r in ipairs(rounds) do xs[#xs + 1] = get(r) end
    local m, lo, hi = lib.median(xs)
    return { med = m, min = lo, max = hi }
  end
  local J = { rounds = #rounds, calm_ms = ctx.cfg.jl_calm_ms, base_rate = st(function(r) return r.base_rate end),
    errors = st(function(r) return r.errors end), codes = {}, events = {} }
  for i, e in ipairs(rounds[1].events) do
    local function f(key) return st(function(r) return r.events[i][key] end) end
    J.events[i] = { name = e.name, takes_ms = f("takes_ms"), gap_ms = f("gap_ms"),
      poll_gap_ms = f("poll_gap_ms"), rate = f("rate"), errors = f("errors") }
  end
  for _, r in ipairs(rounds) do
    for code, n in pairs(r.codes) do J.codes[code] = (J.codes[code] or 0) + n end
  end
  -- The representative round: the one whose longest gap is the median.
  local med = st(function(r) return r.max_gap_ms end).med
  for k, r in ipairs(rounds) do
    if not J.shown and r.max_gap_ms == med then J.shown = k end
  end
  ctx.results.join_leave_series = series(rounds[J.shown], ctx.cfg.jl_bucket_ms)
  for _, r in ipairs(rounds) do r.raw = nil end
  J.runs = rounds
  ctx.results.join_leave = J
end

return M
