--- bench/workloads/durable.lua — workloads 2 and 3 with every
-- acknowledgement made durable on disk first, each system started alone
-- with its durable settings and stopped before the next:
--   * hypersub, 8 nodes, ack=all, --data-dir per node and --fsync always
--     (a "not built" column when the runtime has no such flags);
--   * JetStream R3 on files with `sync_interval: always` (when the
--     nats-server has the option; else its own sync schedule, as labelled);
--   * Redis with `appendonly yes`, `appendfsync always` on the primary and
--     both replicas, XADD + WAIT 2.
-- And first, with nothing else running, what one fdatasync costs on the
-- disk their data directories are on (bench/loadgen/fsync.c).
local lib = require "lib"

local M = {}

-- The filesystem a directory is on: "ext4 on /dev/vda", or nil.
local function filesystem(dir)
  local p = io.popen(("df -PT '%s' 2>/dev/null"):format(dir))
  local out = p and p:read("a") or ""
  if p then p:close() end
  local dev, kind = out:match("\n(%S+)%s+(%S+)")
  return dev and ("%s on %s"):format(kind, dev) or nil
end

-- fdatasync alone: appending a record, appending a batch, overwriting.
local function probe(ctx)
  local dir = lib.tmpdir("fsync")
  local out = { dir = dir:match("^(.*)/[^/]*$"), filesystem = filesystem(dir), per_batch = 256, size = 100 }
  for _, mode in ipairs { "record", "batch", "overwrite" } do
    ctx.say("fsync probe: " .. mode)
    local rs = {}
    for i = 1, lib.RUNS do
      rs[i] = lib.tool("fsync-probe", { mode, "--dir", dir, "--n", tostring(ctx.cfg.fsync_n),
        "--size", tostring(out.size), "--batch", tostring(out.per_batch) })
    end
    out[mode] = { p50 = lib.stat(rs, "p50"), p99 = lib.stat(rs, "p99"), mean = lib.stat(rs, "mean"),
      rate = lib.stat(rs, "rate") }
  end
  return out
end

-- Sync and pipelined publishes on one system, into the rows' cells.
local function measure(ctx, sys, rows)
  local cfg, R = ctx.cfg, ctx.results
  ctx.say("durable sync publish: " .. sys.label)
  local rs = lib.runs(sys, "sync", { n = cfg.durable_sync_n, warmup = cfg.durable_sync_n // 10 },
    R.cpu, "durable sync publish")
  for _, k in ipairs { "p50", "p99", "rate" } do rows[k].cells[sys.key] = lib.stat(rs, k) end
  ctx.say("durable pipelined publish: " .. sys.label)
  rs = lib.runs(sys, "pipe", { n = cfg.durable_pipe_n, warmup = cfg.durable_pipe_n // 10, inflight = 256 },
    R.cpu, "durable pipelined publish")
  rows.pipe.cells[sys.key] = lib.stat(rs, "rate")
end

--- M.run(ctx, peers): peers false leaves JetStream and Redis out.
function M.run(ctx, peers)
  local R = ctx.results
  R.fsync = probe(ctx)
  local sync = "2d. durable sync publish, 100 B"
  local rows = {
    p50 = { section = sync, metric = "p50 latency", unit = "µs", better = "lower", cells = {} },
    p99 = { section = sync, metric = "p99 latency", unit = "µs", better = "lower", cells = {} },
    rate = { section = sync, metric = "throughput", unit = "msgs/s", better = "higher", cells = {} },
    pipe = { section = "3d. durable pipelined publish, 256 in flight, 100 B", metric = "throughput",
      unit = "msgs/s", better = "higher", cells = {} },
  }
  local D = { columns = {}, rows = { rows.p50, rows.p99, rows.rate, rows.pipe } }
  R.durable = D

  local hs = require "peers.hypersub"
  local ours = { key = "hypersub_fsync", label = "hypersub, 8 nodes, 3 copies, ack=all, --fsync always" }
  D.columns[1] = { key = ours.key, head = ours.label }
  local built, why = hs.durable()
  if built then
    ctx.say("starting 8 hypersub nodes with --data-dir and --fsync always")
    local sys = hs.start { nodes = 8, fsync = "always" }
    measure(ctx, sys, rows)
    sys:stop()
  else
    D.not_built = why
    for _, row in ipairs(D.rows) do row.cells[ours.key] = { missing = "not built" } end
  end
  if not peers then return end

  ctx.say("starting 3 nats-server (JetStream cluster, asked to sync every write)")
  local nats = require("peers.nats").start { sync = "always" }
  local js = nats.js_sync
  D.nats_sync, D.nats_version = nats.sync, nats.version
  D.columns[#D.columns + 1] = { key = js.key, head = js.label }
  measure(ctx, js, rows)
  nats.stop()

  ctx.say("starting redis-server with 2 replicas, appendfsync always")
  local redis = require("peers.redis").start { fsync = "always" }
  D.columns[#D.columns + 1] = { key = redis.redis_wait.key, head = redis.redis_wait.label }
  measure(ctx, redis.redis_wait, rows)
  redis.stop()
end

return M
