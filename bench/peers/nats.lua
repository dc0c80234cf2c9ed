--- bench/peers/nats.lua — NATS JetStream: three nats-server processes
-- (Debian's) clustered on loopback, one stream per run with 3 replicas,
-- in memory or in files under a temporary directory. The generator creates
-- the stream and then talks to its leader (JetStream's best case).
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local lib = require "lib"

local M = {}

local CONF = [[
server_name: %s
listen: 127.0.0.1:%d
jetstream { store_dir: "%s/%s", max_memory_store: 4G, max_file_store: 16G }
cluster { name: bench, listen: 127.0.0.1:%d, routes: [%s] }
]]

--- M.start() -> {js_mem = system, js_file = system, stop = fn}
function M.start()
  local dir = lib.tmpdir("nats")
  local ports = cluster.free_ports(6)
  local routes, servers, procs = {}, {}, {}
  for i = 1, 3 do routes[i] = "nats-route://127.0.0.1:" .. ports[3 + i] end
  for i = 1, 3 do
    local name = "n" .. i
    local conf = ("%s/%s.conf"):format(dir, name)
    local f = assert(io.open(conf, "w"))
    f:write(CONF:format(name, ports[i], dir, name, ports[3 + i], table.concat(routes, ", ")))
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
  local function system(key, label, storage)
    return { key = key, label = label, gen = function(_, mode, o)
      runs = runs + 1
      local args = { mode, "--servers", servers, "--stream", "B" .. runs,
        "--storage", storage, "--replicas", "3" }
      for _, f in ipairs(lib.flags(o)) do args[#args + 1] = f end
      return lib.gen("nats", args)
    end }
  end
  return {
    js_mem = system("js_mem", "JetStream R3, memory", "memory"),
    js_file = system("js_file", "JetStream R3, file", "file"),
    version = io.popen("nats-server --version"):read("l"),
    stop = function() for _, p in ipairs(procs) do p:close() end end,
  }
end

return M
