--- bench/workloads/pull.lua — workload 4 on every system: a topic filled
-- beforehand and read in batches of 100 (msgs/s), and long-poll delivery
-- latency: a poll armed, one publish, the time until it is pulled.
-- Redis has one reader (XREAD), so only its plain entry is measured.
local lib = require "lib"

local M = {}

function M.run(ctx)
  local cfg, R = ctx.cfg, ctx.results
  local sec = "4. pull"
  local rate = { section = sec, metric = "batches of 100", unit = "msgs/s", better = "higher", cells = {} }
  local p50 = { section = sec, metric = "long-poll delivery p50", unit = "µs", better = "lower", cells = {} }
  local p99 = { section = sec, metric = "long-poll delivery p99", unit = "µs", better = "lower", cells = {} }
  for _, sys in ipairs(ctx.systems) do
    if sys.key ~= "redis_wait" then
      ctx.say("pull: " .. sys.label)
      local rs = lib.runs(sys, "pull", { n = cfg.pull_n, warmup = cfg.pull_n // 10, batch = 100 }, R.cpu, "pull")
      rate.cells[sys.key] = lib.stat(rs, "rate")
      ctx.say("long-poll: " .. sys.label)
      rs = lib.runs(sys, "longpoll", { n = cfg.poll_n, warmup = cfg.poll_n // 10 }, R.cpu, "long-poll")
      p50.cells[sys.key], p99.cells[sys.key] = lib.stat(rs, "p50"), lib.stat(rs, "p99")
    end
  end
  R.rows[#R.rows + 1] = rate
  R.rows[#R.rows + 1] = p50
  R.rows[#R.rows + 1] = p99
end

return M
