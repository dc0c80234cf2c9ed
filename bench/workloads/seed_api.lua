--- bench/workloads/seed_api.lua — workload 1, the seed's API benchmark:
-- 1000 sequential requests of each API through the Lua client (blocking
-- style, `direct = true`: each request goes to its key's home), on the
-- 8-node cluster, publishes with ack = "all". Average latency and
-- requests/s beside the seed's Python system.
local hypersub = require "hypersub"
local lib = require "lib"

local M = {}

-- The seed's figures (requests/s), from its README's benchmark.
M.SEED = { publish = 385, create_topic = 340, subscribe = 1540, pull = 1400 }
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

function M.run(ctx)
  local n = ctx.cfg.api_n
  local ours = ctx.ours
  local addrs = {}
  for a in ours:addrs(0):gmatch("[^,]+") do addrs[#addrs + 1] = a end
  local c = assert(hypersub.connect(addrs, { direct = true, timeout = 10000 }))
  ctx.say("seed API benchmark: warm-up")
  pass(c, "w", math.max(n // 10, 10)) -- warm-up, not counted
  local runs = {}
  for r = 1, lib.RUNS do
    ctx.say(("seed API benchmark: run %d"):format(r))
    runs[r] = pass(c, "r" .. r, n)
  end
  c:close()
  for _, api in ipairs(M.ORDER) do
    local rps, lat = {}, {}
    for r = 1, lib.RUNS do
      rps[r] = n / runs[r][api]
      lat[r] = runs[r][api] / n * 1e6
    end
    local med, lo, hi = lib.median(rps)
    ctx.results.seed[#ctx.results.seed + 1] = {
      api = api, rps = { med = med, min = lo, max = hi },
      latency_us = { med = (lib.median(lat)) }, seed_rps = M.SEED[api],
      ratio = M.SEED[api] and med / M.SEED[api] or nil,
    }
  end
end

return M
