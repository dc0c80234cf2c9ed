--- bench/peers/hypersub.lua — our side: an 8-node cluster of real
-- `hypersub node` processes (3 copies per topic, default settings), and
-- runs of bench/loadgen/hs.c against it. Each run gets a fresh topic and
-- talks to that topic's home (its best case, as JetStream's "via the
-- leader" runs talk to their stream's leader); the other nodes are listed
-- for reconnects.
-- Started with {fsync = "always"}, every node keeps its topics on disk
-- under a data directory of its own and syncs each record before it
-- counts as stored, when the runtime has those flags (M.durable()).
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local lib = require "lib"
local uv = require "luv"

local M = {}

--- M.durable() -> true, or nil and why not: whether `hypersub node` takes
-- --data-dir and --fsync (its --help lists every flag it takes).
function M.durable()
  local p = io.popen(("'%s' node --help 2>&1"):format(process.runtime()))
  local help = p and p:read("a") or ""
  if p then p:close() end
  if help:find("--data-dir", 1, true) and help:find("--fsync", 1, true) then return true end
  return nil, "`hypersub node --help` lists no --data-dir and --fsync: this build keeps topics in memory only"
end

--- M.start{nodes = 8 [, fsync = "always"]} -> system with :gen(mode, opts),
-- :addrs(first), :stop().
function M.start(opts)
  local n = opts.nodes or 8
  local node_flags
  if opts.fsync then
    assert(M.durable())
    local dir = lib.tmpdir("hypersub-data")
    node_flags = {}
    for id = 0, n - 1 do
      local d = ("%s/node%d"):format(dir, id)
      assert(uv.fs_mkdir(d, tonumber("700", 8)))
      node_flags[id] = { "--data-dir", d, "--fsync", opts.fsync }
    end
  end
  local cl = assert(cluster.start { nodes = n, replicas = 3, log_level = "warn", node_flags = node_flags })
  lib.track(cl)
  assert(cl:await_view(30000))
  local self = { key = opts.fsync and "hypersub_fsync" or "hypersub", cl = cl, runs = 0,
    label = ("hypersub, %d nodes, 3 copies, ack=all%s"):format(n,
      opts.fsync and (", --fsync " .. opts.fsync) or "") }

  --- "host:port,..." with node `first` first.
  function self:addrs(first)
    local out = { "127.0.0.1:" .. cl._port[first] }
    for _, node in ipairs(cl:nodes()) do
      if node.id ~= first then out[#out + 1] = node.addr end
    end
    return table.concat(out, ",")
  end

  --- A fresh topic name and its home.
  function self:topic()
    self.runs = self.runs + 1
    local t = "bench-" .. self.runs
    return t, cl:home(t)
  end

  --- One run of hs-loadgen `mode` on a fresh topic, deleted at its end
  -- (as the peers' generators delete their stream or key); returns its
  -- RESULT.
  function self:gen(mode, o)
    local topic, home = self:topic()
    local args = { mode, "--addr", self:addrs(home), "--topic", topic, "--drop", "1" }
    for _, f in ipairs(lib.flags(o)) do args[#args + 1] = f end
    return lib.gen("hs", args)
  end

  function self:stop() cl:close() end
  return self
end

return M
