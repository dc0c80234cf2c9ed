--- bench/workloads/publish.lua — workloads 2 and 3 on the systems of
-- ctx.systems (run once per group of systems, each group alone on the
-- machine): one publish outstanding (latency percentiles), 256 in flight
-- (throughput, 100-byte payloads), and 256 in flight over a sweep of
-- payload sizes.
local lib = require "lib"

local M = {}

function M.run(ctx)
  local cfg, R = ctx.cfg, ctx.results
  -- 2. sync publish
  local sync = "2. sync publish, 100 B"
  local rows = {
    p50 = lib.row(R, sync, "p50 latency", "µs", "lower"),
    p99 = lib.row(R, sync, "p99 latency", "µs", "lower"),
    p999 = lib.row(R, sync, "p999 latency", "µs", "lower"),
    rate = lib.row(R, sync, "throughput", "msgs/s", "higher"),
  }
  for _, sys in ipairs(ctx.systems) do
    ctx.say("sync publish: " .. sys.label)
    local rs = lib.runs(sys, "sync", { n = cfg.sync_n, warmup = cfg.sync_n // 10 }, R.cpu, "sync publish")
    for k, row in pairs(rows) do row.cells[sys.key] = lib.stat(rs, k) end
  end

  -- 3. pipelined publish, 100 B
  local pipe = "3. pipelined publish, 256 in flight, 100 B"
  local rate = lib.row(R, pipe, "throughput", "msgs/s", "higher")
  local mbps = lib.row(R, pipe, "throughput", "MB/s", "higher")
  for _, sys in ipairs(ctx.systems) do
    ctx.say("pipelined publish: " .. sys.label)
    local rs = lib.runs(sys, "pipe", { n = cfg.pipe_n, warmup = cfg.pipe_n // 10, inflight = 256 }, R.cpu, "pipelined publish")
    rate.cells[sys.key], mbps.cells[sys.key] = lib.stat(rs, "rate"), lib.stat(rs, "mbps")
  end

  -- 3. payload sweep: the same number of bytes at each size (a quick run
  -- sweeps only the acknowledged publishes)
  for _, sys in ipairs(ctx.systems) do
    if cfg.sweep_systems and not cfg.sweep_systems[sys.key] then goto next end
    R.sweep[sys.key] = {}
    for _, size in ipairs(cfg.sweep) do
      ctx.say(("payload sweep: %s, %d B"):format(sys.label, size))
      local n = math.max(2000, math.min(cfg.pipe_n, cfg.sweep_bytes // size))
      local rs = lib.runs(sys, "pipe", { n = n, warmup = n // 10, inflight = 256, size = size })
      local s = lib.stat(rs, "mbps")
      s.size, s.rate = size, lib.stat(rs, "rate").med
      table.insert(R.sweep[sys.key], s)
    end
    ::next::
  end
end

return M
