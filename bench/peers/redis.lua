--- bench/peers/redis.lua — Redis Streams: one redis-server (Debian's) with
-- two replicas on loopback, in-memory (no RDB, no AOF), data under a
-- temporary directory. Two ways to publish are measured: XADD followed by
-- WAIT 2 (acknowledged by both replicas, like our ack=all) and plain XADD.
-- Started with {fsync = "always"}, the primary and both replicas keep an
-- append-only file synced before each answer (`appendonly yes`,
-- `appendfsync always`).
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local lib = require "lib"

local M = {}

local function server(dir, port, primary, fsync)
  local args = { "--port", tostring(port), "--bind", "127.0.0.1", "--save", "",
    "--appendonly", fsync and "yes" or "no", "--appendfsync", fsync or "everysec",
    "--appendfilename", "appendonly-" .. port .. ".aof", "--appenddirname", "aof-" .. port,
    "--dir", dir, "--dbfilename", "dump-" .. port .. ".rdb",
    -- a replica's first sync starts at once instead of after 5 s
    "--repl-diskless-sync-delay", "0" }
  if primary then
    args[#args + 1] = "--replicaof"
    args[#args + 1] = "127.0.0.1"
    args[#args + 1] = tostring(primary)
  end
  local p = lib.track(process.spawn("redis-server", args, { log = dir .. "/redis-" .. port .. ".log" }))
  assert(p:wait_line("Ready to accept connections", 20000))
  return p
end

--- M.start([{fsync = "always"}]) -> {redis_wait = system, redis = system,
-- stop = fn}; with fsync the systems' keys are redis_aof_wait and redis_aof.
function M.start(opts)
  local fsync = opts and opts.fsync
  local dir = lib.tmpdir("redis")
  local ports = cluster.free_ports(3)
  local procs = { server(dir, ports[1], nil, fsync) }
  procs[2] = server(dir, ports[2], ports[1], fsync)
  procs[3] = server(dir, ports[3], ports[1], fsync)
  local addr = "127.0.0.1:" .. ports[1]
  -- Ready when a write is acknowledged by both replicas (bounded inside).
  lib.gen_ready("resp", { "ready", "--addr", addr, "--timeout", "20000" })
  local runs = 0
  local function system(key, label, wait)
    return { key = key, label = label, gen = function(_, mode, o)
      runs = runs + 1
      local args = { mode, "--addr", addr, "--key", "bench:" .. runs, "--wait", wait }
      for _, f in ipairs(lib.flags(o)) do args[#args + 1] = f end
      return lib.gen("resp", args)
    end }
  end
  local aof = fsync and "Redis AOF fsync " .. fsync .. ", " or "Redis "
  return {
    redis_wait = system(fsync and "redis_aof_wait" or "redis_wait", aof .. "XADD + WAIT 2", "1"),
    redis = system(fsync and "redis_aof" or "redis", aof .. "XADD, no WAIT", "0"),
    version = io.popen("redis-server --version"):read("l"),
    stop = function() for _, p in ipairs(procs) do p:close() end end,
  }
end

return M
