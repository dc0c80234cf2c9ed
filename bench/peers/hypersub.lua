--- bench/peers/hypersub.lua — our side: an 8-node cluster of real
-- `hypersub node` processes (3 copies per topic, default settings), and
-- runs of bench/loadgen/hs.c against it. Each run gets a fresh topic and
-- talks to that topic's home (its best case, as JetStream's runs talk to
-- their stream's leader); the other nodes are listed for reconnects.
local cluster = require "hypersub.cluster"
local lib = require "lib"

local M = {}

--- M.start{nodes = 8} -> system with :gen(mode, opts), :addrs(first), :stop().
function M.start(opts)
  local cl = assert(cluster.start { nodes = opts.nodes or 8, replicas = 3, log_level = "warn" })
  lib.track(cl)
  assert(cl:await_view(30000))
  local self = { key = "hypersub", cl = cl, runs = 0,
    label = ("hypersub, %d nodes, 3 copies, ack=all"):format(opts.nodes or 8) }

  --- "host:port,..." with node `first` first.
  function self:addrs(first)
    local out = { "127.0.0.1:" .. cl._port[first] }
    for _, n in ipairs(cl:nodes()) do
      if n.id ~= first then out[#out + 1] = n.addr end
    end
    return table.concat(out, ",")
  end

  --- A fresh topic name and its home.
  function self:topic()
    self.runs = self.runs + 1
    local t = "bench-" .. self.runs
    return t, cl:home(t)
  end

  --- One run of hs-loadgen `mode` on a fresh topic; returns its RESULT.
  function self:gen(mode, o)
    local topic, home = self:topic()
    local args = { mode, "--addr", self:addrs(home), "--topic", topic }
    for _, f in ipairs(lib.flags(o)) do args[#args + 1] = f end
    return lib.gen("hs", args)
  end

  function self:stop() cl:close() end
  return self
end

return M
