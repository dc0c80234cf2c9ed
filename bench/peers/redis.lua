--- bench/peers/redis.lua — Redis Streams: one redis-server (Debian's) with
-- two replicas on loopback, in-memory (no RDB, no AOF), data under a
-- temporary directory. Two ways to publish are measured: XADD followed by
-- WAIT 2 (acknowledged by both replicas, like our ack=all) and plain XADD.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local lib = require "lib"

local M = {}

local function server(dir, port, primary)
  local args = { "--port", tostring(port), "--bind", "127.0.0.1", "--save", "",
    "--appendonly", "no", "--dir", dir, "--dbfilename", "dump-" .. port .. ".rdb",
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

--- M.start() -> {redis_wait = system, redis = system, stop = fn}
function M.start()
  local dir = lib.tmpdir("redis")
  local ports = cluster.free_ports(3)
  local procs = { server(dir, ports[1]) }
  procs[2] = server(dir, ports[2], ports[1])
  procs[3] = server(dir, ports[3], ports[1])
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
  return {
    redis_wait = system("redis_wait", "Redis XADD + WAIT 2", "1"),
    redis = system("redis", "Redis XADD, no WAIT", "0"),
    version = io.popen("redis-server --version"):read("l"),
    stop = function() for _, p in ipairs(procs) do p:close() end end,
  }
end

return M
