--- bench/workloads/restart.lua — a node holding cfg.restart_mb of topic
-- data (1 KiB messages) in its data directory, SIGKILLed and started again
-- from it: how long until it serves again (READY, then the last message
-- pulled through a new subscriber) and how many MB/s of log it replays.
-- Measured twice: with the files still in the page cache, and after
-- dropping the cache (when /proc/sys/vm/drop_caches can be written), as
-- after a power cut. An empty directory's start is the baseline.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local cluster = require "hypersub.cluster"
local lib = require "lib"
local uv = require "luv"

local M = {}
local SIZE = 1024

local function start(flags)
  local t0 = lib.now_us()
  local p = assert(process.start_node(flags, { timeout = 300000 }))
  lib.track(p)
  return p, (lib.now_us() - t0) / 1e3
end

local function stop(p, sig)
  p:kill(sig)
  p:wait(60000)
  p:close()
end

-- From the spawn to the last message in hand, through a new subscriber.
local function restart(flags, topic, n)
  local t0 = lib.now_us()
  local p, ready_ms = start(flags)
  local c = assert(hypersub.connect(p.addr))
  local sid = "restart-" .. math.floor(t0)
  assert(c:create_subscriber(sid))
  assert(c:subscribe(sid, topic, { from = n - 1 }))
  local got = assert(c:pull(sid, topic, { max = 1 }))
  local served_ms = (lib.now_us() - t0) / 1e3
  assert(#got == 1 and got[1].offset == n - 1, "the restarted node lost the last message")
  local held = assert(c:local_topics()).topics[1]
  c:close()
  return p, { ready_ms = ready_ms, served_ms = served_ms, bytes = held.bytes, messages = held.next }
end

local function drop_caches()
  os.execute("sync")
  local f = io.open("/proc/sys/vm/drop_caches", "w")
  if not f then return false end
  local ok = f:write("3\n")
  f:close()
  return ok and true or false
end

-- Bytes under a directory, as the disk holds them.
local function du(dir)
  local p = io.popen(("du -sb '%s' 2>/dev/null"):format(dir))
  local out = p and p:read("a") or ""
  if p then p:close() end
  return tonumber(out:match("^(%d+)")) or 0
end

function M.run(ctx)
  local R = ctx.results
  local built, why = require("peers.hypersub").durable()
  if not built then R.restart = { not_built = why } return end
  local n = ctx.cfg.restart_mb * 1024 * 1024 // SIZE
  local dir = lib.tmpdir("hypersub-restart")
  local port = cluster.free_ports(1)[1]
  local flags = { "--id", "0", "--listen", "127.0.0.1:" .. port, "--data-dir", dir,
    "--fsync", "never", "--log-level", "warn" }
  local out = { size = SIZE, messages = n, runs = {} }
  R.restart = out

  ctx.say("restart: an empty data directory")
  local p, empty_ms = start(flags)
  out.empty_ms = empty_ms
  ctx.say(("restart: filling one topic with %d MB (%d messages of %d B)"):format(ctx.cfg.restart_mb, n, SIZE))
  local t0 = lib.now_us()
  lib.gen("hs", { "pipe", "--addr", p.addr, "--topic", "restart", "--n", tostring(n), "--warmup", "0",
    "--size", tostring(SIZE), "--ack", "home", "--inflight", "256", "--timeout", "60000" })
  out.fill_s = (lib.now_us() - t0) / 1e6
  stop(p, "sigkill")
  out.disk_bytes = du(dir)

  for i = 1, lib.RUNS do
    for _, cold in ipairs { false, true } do
      if not cold or drop_caches() then
        ctx.say(("restart %d: %s page cache"):format(i, cold and "cold" or "warm"))
        local r
        p, r = restart(flags, "restart", n)
        r.cold = cold
        r.mb_s = r.bytes / 1e6 / (r.ready_ms / 1e3)
        out.runs[#out.runs + 1] = r
        stop(p, "sigkill")
      end
    end
  end
end

return M
