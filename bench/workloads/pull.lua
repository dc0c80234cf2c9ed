--- bench/workloads/pull.lua — workload 4 on the systems of ctx.systems
-- (run once per group of systems, each group alone): a topic filled
-- beforehand and read in batches of 100 (msgs/s), and long-poll delivery
-- latency: a poll armed, one publish, the time until it is pulled.
-- Ours is read twice: by PULL (a subscriber's cursor, kept by the cluster)
-- and by FETCH (an offset the reader keeps). Redis has one reader, XREAD,
-- which reads by an id the reader keeps: its runs fill both rows, and only
-- its plain entry is measured.
local lib = require "lib"

local M = {}

function M.run(ctx)
  local cfg, R = ctx.cfg, ctx.results
  local sec = "4. pull"
  local rate = lib.row(R, sec, "batches of 100", "msgs/s", "higher")
  local by_offset = lib.row(R, sec, "batches of 100, by offset", "msgs/s", "higher")
  local p50 = lib.row(R, sec, "long-poll delivery p50", "µs", "lower")
  local p99 = lib.row(R, sec, "long-poll delivery p99", "µs", "lower")
  for _, sys in ipairs(ctx.systems) do
    if sys.key ~= "redis_wait" then
      ctx.say("pull: " .. sys.label)
      local rs = lib.runs(sys, "pull", { n = cfg.pull_n, warmup = cfg.pull_n // 10, batch = 100 }, R.cpu, "pull")
      rate.cells[sys.key] = lib.stat(rs, "rate")
      if sys.key == "redis" then
        by_offset.cells[sys.key] = rate.cells[sys.key]
      elseif sys.key == "hypersub" then
        ctx.say("fetch: " .. sys.label)
        rs = lib.runs(sys, "fetch", { n = cfg.pull_n, warmup = cfg.pull_n // 10, batch = 100 }, R.cpu, "fetch")
        by_offset.cells[sys.key] = lib.stat(rs, "rate")
      end
      ctx.say("long-poll: " .. sys.label)
      rs = lib.runs(sys, "longpoll", { n = cfg.poll_n, warmup = cfg.poll_n // 10 }, R.cpu, "long-poll")
      p50.cells[sys.key], p99.cells[sys.key] = lib.stat(rs, "p50"), lib.stat(rs, "p99")
    end
  end
end

return M
