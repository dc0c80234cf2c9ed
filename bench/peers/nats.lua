--- bench/peers/nats.lua — NATS JetStream: three nats-server processes
-- (Debian's) clustered on loopback, one stream per run with 3 replicas,
-- in memory or in files under a temporary directory. The generator creates
-- the stream and then talks to its leader (JetStream's best case) or, for
-- the *_follower systems, to one of the two other servers (as a client
-- connected to any server of the cluster may be).
-- Started with {sync = "always"}, the servers fsync every write to a file
-- stream before acknowledging it (`sync_interval: always`) when this
-- nats-server has that option (2.10 on); an older one syncs its files on
-- its own schedule (every 2 minutes), which the system's label says.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local lib = require "lib"

local M = {}

local CONF = [[
server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: "%s/%s", max_memory_store: 4G, max_file_store: 16G%s }
cluster { name: bench, listen: 127.0.0.1:%d, routes: [%s] }
]]

--- Whether this nats-server takes `sync_interval: always` (2.9 refuses the
-- field): its own check of a configuration (`nats-server -t`).
function M.has_sync_always()
  if M._sync_always == nil then
    local dir = lib.tmpdir("nats-probe")
    local conf = dir .. "/probe.conf"
    local f = assert(io.open(conf, "w"))
    f:write(('listen: 127.0.0.1:-1\njetstream { store_dir: "%s", sync_interval: always }\n'):format(dir))
    f:close()
    M._sync_always = os.execute(("nats-server -t -c '%s' >/dev/null 2>&1"):format(conf)) == true
  end
  return M._sync_always
end

--- M.start([{sync = "always"}]) -> {js_mem = system, js_file = system,
-- js_mem_follower = system, js_file_follower = system, js_sync = system
-- (with sync), stop = fn, sync = "always" | nil (what the servers were
-- given)}
function M.start(opts)
  opts = opts or {}
  local sync = opts.sync == "always" and M.has_sync_always() and "always" or nil
  local dir = lib.tmpdir("nats")
  local ports = cluster.free_ports(6)
  local routes, servers, procs = {}, {}, {}
  for i = 1, 3 do routes[i] = "nats-route://127.0.0.1:" .. ports[3 + i] end
  for i = 1, 3 do
    local name = "n" .. i
    local conf = ("%s/%s.conf"):format(dir, name)
    local f = assert(io.open(conf, "w"))
    f:write(CONF:format(name, ports[i], dir, name, sync and ", sync_interval: always" or "",
      ports[3 + i], table.concat(routes, ", ")))
    f:close()
    procs[i] = lib.track(process.spawn("nats-server", { "-c", conf },
      { log = ("%s/%s.log"):format(dir, name) }))
    servers[i] = ("%s=127.0.0.1:%d"):format(name, ports[i])
  end
  for i = 1, 3 do assert(lib.await_port("127.0.0.1", ports[i], 20000)) end
  servers = table.concat(servers, ",")
  -- Ready when a replicated stream can be made (retried inside, bounded).
  lib.gen_ready("nats", { "ready", "--servers", servers, "--stream", "PROBE", "--timeout", "30000" })
  local runs = 0
  local function system(key, label, storage, via)
    return { key = key, label = label, gen = function(_, mode, o)
      runs = runs + 1
      local args = { mode, "--servers", servers, "--stream", "B" .. runs,
        "--storage", storage, "--replicas", "3", "--via", via or "leader" }
      for _, f in ipairs(lib.flags(o)) do args[#args + 1] = f end
      return lib.gen("nats", args)
    end }
  end
  return {
    js_mem = system("js_mem", "JetStream R3, memory, via the leader", "memory"),
    js_file = system("js_file", "JetStream R3, file, via the leader", "file"),
    js_mem_follower = system("js_mem_follower", "JetStream R3, memory, via a follower", "memory", "follower"),
    js_file_follower = system("js_file_follower", "JetStream R3, file, via a follower", "file", "follower"),
    -- the file streams of servers asked to sync every write
    js_sync = opts.sync and system("js_sync", sync and "JetStream R3 file, sync_interval always"
      or "JetStream R3 file, synced every 2 min (this nats-server has no sync_interval)", "file"),
    version = io.popen("nats-server --version"):read("l"),
    sync = sync,
    stop = function() for _, p in ipairs(procs) do p:close() end end,
  }
end

return M
