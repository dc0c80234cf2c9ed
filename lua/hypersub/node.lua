--- Nodes in this process: hypersub.node starts one on luv's loop and
-- returns a Node, which holds the C node (hypersub.core) and adds what is
-- written in Lua.
--
-- A running C node holds a reference to itself, so it keeps serving when
-- the script drops its Node; once it stops for good and nobody holds it,
-- the collector closes it. A Node closes it with close() or <close>.
local core = require "hypersub.core"
local json = require "hypersub.json"
local options = require "hypersub.options"
local uv = require "luv"

local M = {}

local Node = { __name = "hypersub.node" }
Node.__index = Node
M.Node = Node

-- The C nodes made here (weak: a node that stopped for good and is
-- unreachable is collected), so the runtime can say what it waits for.
local made = setmetatable({}, { __mode = "k" })

--- The nodes of this process that still serve or will again:
-- {{id =, port =, state =}, ...}.
function M.serving()
  local out = {}
  for node in pairs(made) do
    local state = node:state()
    if state == "running" or state == "joining" or state == "restarting" then
      out[#out + 1] = { id = node:id(), port = node:port(), state = state }
    end
  end
  table.sort(out, function(a, b) return a.id < b.id end)
  return out
end

-- The C node, when it is still open; else raises at the method's caller.
local function open_node(self)
  local node = self._node
  if node:state() == "closed" then error("attempt to use a closed node", 3) end
  return node
end

-- Methods of the C node, called on it.
for _, name in ipairs { "port", "id", "stop", "leave", "on_log", "on_state",
  "stats_json", "last_error", "http_port" } do
  Node[name] = function(self, ...)
    local node = open_node(self)
    return node[name](node, ...)
  end
end

--- node:state() -> "running", "joining", "restarting", "stopped" or "closed"
function Node:state()
  return self._node:state()
end

--- node:stats() -> the stats as a table, counters as integers.
function Node:stats()
  return json.decode(open_node(self):stats_json())
end

--- Closes the listener and every connection, and frees the node (again is
-- fine).
function Node:close()
  self._node:close()
end
Node.__close = Node.close

function Node:__tostring()
  return tostring(self._node)
end

--- hypersub.split_addr("host:port") -> host, port ("[::1]:7000" for IPv6)
function M.split_addr(addr)
  local host, port = addr:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = addr:match("^([^:]+):(%d+)$") end
  if not host then
    error(("bad listen address %q: expected host:port"):format(addr), 2)
  end
  return host, tonumber(port)
end

-- Runs the loop until a joining C node has its place: nothing then, else
-- the node is closed and the failure returned (message, code).
local function joined(node)
  while node:state() == "joining" do uv.run("once") end
  if node:state() == "running" then return nil end
  local msg = node:last_error()
  node:close()
  return msg, msg:match("^could not join the cluster via [^:]+:%d+: (%u[%u_]*)") or "UNAVAILABLE"
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
  if not node then return nil, msg, code end
  made[node] = true
  if opts.join then
    msg, code = joined(node)
    if msg then return nil, msg, code end
  end
  return setmetatable({ _node = node }, Node)
end

return M
