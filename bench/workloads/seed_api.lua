--- bench/workloads/seed_api.lua — workload 1, the seed's API benchmark:
-- 1000 sequential requests of each API through the Lua client (blocking
-- style, `direct = true`: each request goes to its key's home), on the
-- 8-node cluster, publishes with ack = "all". Average latency and
-- requests/s beside the seed's Python system, twice: with a client that
-- sleeps while it waits (the default) and with one that spins (`spin`,
-- SPIN_US), each beside what one loopback round trip costs in the same
-- run for a program that waits the same way (rtt-probe block / spin).
local hypersub = require "hypersub"
local lib = require "lib"

local M = {}

-- The seed's figures (requests/s), from its README's benchmark.
M.SEED = { publish = 385, create_topic = 340, subscribe = 1540, pull = 1400 }
-- How long the spinning client polls before it sleeps (µs).
M.SPIN_US = 1000
M.ORDER = { "create_publisher", "create_subscriber", "create_topic", "publish",
  "subscribe", "pull", "delete_topic" }

-- One pass: n requests of each API with names under `tag`; seconds per API.
local function pass(c, tag, n)
  local payload = ("x"):rep(100)
  local function name(kind, i) return ("%s-%s%d"):format(tag, kind, i) end
  local calls = {
    create_publisher = function(i) return c:create_publisher(name("p", i)) end,
    create_subscriber = function(i) return c:create_subscriber(name("s", i)) end,
    create_topic = function(i) return c:create_topic(name("p", 1), name("t", i)) end,
    publish = function(i) return c:publish(name("p", 1), name("t", i), payload) end,
    subscribe = function(i) return c:subscribe(name("s", i), name("t", i)) end,
    pull = function(i) return c:pull(name("s", i), name("t", i), { max = 100 }) end,
    delete_topic = function(i) return c:delete_topic(name("p", 1), name("t", i)) end,
  }
  local secs = {}
  for _, api in ipairs(M.ORDER) do
    local call = calls[api]
    local t0 = lib.now_us()
    for i = 1, n do assert(call(i)) end
    secs[api] = (lib.now_us() - t0) / 1e6
  end
  return secs
end

-- Mean µs of one loopback round trip: one run of rtt-probe in `mode`.
local function round_trip(ctx, mode)
  return lib.tool("rtt-probe", { mode, "--n", tostring(ctx.cfg.api_n * 5) }).mean
end

function M.run(ctx)
  local n = ctx.cfg.api_n
  local ours = ctx.ours
  local addrs = {}
  for a in ours:addrs(0):gmatch("[^,]+") do addrs[#addrs + 1] = a end
  local clients = {}
  for _, spin in ipairs { 0, M.SPIN_US } do
    local c = assert(hypersub.connect(addrs, { direct = true, timeout = 10000, spin = spin }))
    clients[#clients + 1] = { c = c, spin = spin, runs = {} }
  end
  ctx.say("seed API benchmark: warm-up")
  for _, k in ipairs(clients) do pass(k.c, "w" .. k.spin .. "-", math.max(n // 10, 10)) end
  -- The round trips run between the API runs: the machine's mood drifts.
  local rtt = { block = {}, spin = {} }
  for r = 1, lib.RUNS do
    ctx.say(("seed API benchmark: run %d, loopback round trips"):format(r))
    rtt.block[r], rtt.spin[r] = round_trip(ctx, "block"), round_trip(ctx, "spin")
    for _, k in ipairs(clients) do
      ctx.say(("seed API benchmark: run %d, spin %d µs"):format(r, k.spin))
      k.runs[r] = pass(k.c, ("r%d-%d-"):format(r, k.spin), n)
    end
  end
  for _, k in ipairs(clients) do k.c:close() end
  ctx.results.seed_rtt = { spin_us = M.SPIN_US }
  for mode, means in pairs(rtt) do
    local med, lo, hi = lib.median(means)
    ctx.results.seed_rtt[mode] = { med = med, min = lo, max = hi }
  end
  for _, api in ipairs(M.ORDER) do
    local row = { api = api, seed_rps = M.SEED[api] }
    for _, k in ipairs(clients) do
      local rps, lat = {}, {}
      for r = 1, lib.RUNS do
        rps[r] = n / k.runs[r][api]
        lat[r] = k.runs[r][api] / n * 1e6
      end
      local med, lo, hi = lib.median(rps)
      row[k.spin == 0 and "block" or "spin"] = {
        rps = { med = med, min = lo, max = hi }, latency_us = { med = (lib.median(lat)) },
        ratio = M.SEED[api] and med / M.SEED[api] or nil,
      }
    end
    ctx.results.seed[#ctx.results.seed + 1] = row
  end
end

return M
