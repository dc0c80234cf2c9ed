--- Nodes in this process: hypersub.node starts one on luv's loop.
local core = require "hypersub.core"
local json = require "hypersub.json"
local options = require "hypersub.options"
local uv = require "luv"

local M = {}

--- hypersub.split_addr("host:port") -> host, port ("[::1]:7000" for IPv6)
function M.split_addr(addr)
  local host, port = addr:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = addr:match("^([^:]+):(%d+)$") end
  if not host then
    error(("bad listen address %q: expected host:port"):format(addr), 2)
  end
  return host, tonumber(port)
end

--- hypersub.node(opts [, log_hook]) -> node | nil, message, code
-- Starts a node on luv's loop. opts: the options of hypersub.options
-- (listen = "host:port", id, cluster, peers, replicas, log_level, ...); a
-- bad value raises. join = "host:port" of any member joins its cluster
-- (id: the one asked for, else the lowest free one): the call returns once
-- the node has its place, or nil, message, code.
function M.new(opts, hook)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad options: expected a table", 2) end
  for k in pairs(opts) do
    if not options.by_name[k] then error(("unknown node option '%s'"):format(k), 2) end
  end
  local node, msg, code = core.node(opts, hook)
  if not node or not opts.join then return node, msg, code end
  -- Joining: the loop runs until the cluster has answered.
  while node:state() == "joining" do uv.run("once") end
  if node:state() ~= "running" then
    msg = node:last_error()
    node:close()
    return nil, msg, msg:match("^could not join the cluster via [^:]+:%d+: (%u[%u_]*)") or "UNAVAILABLE"
  end
  return node
end

-- Methods written in Lua on the C node type.
do
  local mt = debug.getregistry()["hypersub.node"]
  local methods = mt.__index
  function methods.stats(node) return json.decode(node:stats_json()) end
end

return M
