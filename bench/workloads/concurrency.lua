--- bench/workloads/concurrency.lua — workload 6: N = 4 and 8 clients, each
-- its own process running bench/loadgen/hs.c (pipelined ack=all publishes,
-- 256 in flight), on separate topics (each client at its topic's home) or
-- one shared topic. The clients warm up, wait at a barrier, and start
-- together; total msgs/s = all messages / (last end - first start).
local lib = require "lib"

local M = {}

local function run_once(ctx, n, shared)
  local ours, per = ctx.ours, ctx.cfg.conc_n
  local topic, home = ours:topic()
  local gens = {}
  for i = 1, n do
    if not shared and i > 1 then topic, home = ours:topic() end
    gens[i] = lib.gen_start("hs", { "pipe", "--addr", ours:addrs(home), "--topic", topic,
      "--n", tostring(per), "--warmup", tostring(per // 10), "--inflight", "256",
      "--barrier", "1" }, { barrier = true })
  end
  for _, p in ipairs(gens) do assert(p:wait_line("^READY$", 60000)) end
  for _, p in ipairs(gens) do p.in_pipe:write("GO\n") end
  local ops, t0, t1, cpu = 0, math.huge, 0, {}
  for i, p in ipairs(gens) do
    local r = lib.gen_result(p)
    ops, t0, t1 = ops + r.ops, math.min(t0, r.t0), math.max(t1, r.t1)
    cpu[i] = r.cpu
  end
  return ops / ((t1 - t0) / 1e6), lib.median(cpu)
end

function M.run(ctx)
  for _, n in ipairs { 4, 8 } do
    for _, shared in ipairs { false, true } do
      ctx.say(("concurrency: %d clients, %s"):format(n, shared and "one shared topic" or "separate topics"))
      local rates = {}
      for r = 1, lib.RUNS do
        local cpu
        rates[r], cpu = run_once(ctx, n, shared)
        ctx.results.cpu[#ctx.results.cpu + 1] = { system = "hypersub",
          what = ("%d clients (each)"):format(n), share = cpu }
      end
      local med, lo, hi = lib.median(rates)
      ctx.results.concurrency[#ctx.results.concurrency + 1] = {
        clients = n, topics = shared and "shared" or "separate",
        rate = { med = med, min = lo, max = hi } }
    end
  end
end

return M
