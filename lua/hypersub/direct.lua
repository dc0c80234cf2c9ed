--- What a client knows of the cluster's view: the members to reconnect
-- through when its node dies, and, for a direct client, each key's home
-- and a connection to it, so a request takes one hop.
--
-- The view lives in client._direct: {addrs = {[id] = addr}, ids = {...},
-- conns = {[id] = raw connection, or false once it failed}, homes = {[key]
-- = id}, cached =, epoch =, learned = when it was read, refreshing =}.
local core = require "hypersub.core"
local json = require "hypersub.json"
local uv = require "luv"

local M = {}

-- Requests placed by a key: its kind, and which argument holds it.
local KEYED = {
  create_topic = { "topic", 2 }, delete_topic = { "topic", 2 },
  publish = { "topic", 2 }, subscribe = { "topic", 2 }, pull = { "topic", 2 },
  fetch = { "topic", 1 },
  create_publisher = { "p:", 1 }, create_subscriber = { "s:", 1 },
  stop_node = { "node", 1 }, leave = { "node", 1 },
}

-- How often a direct client reads the cluster's view again while in use.
local VIEW_REFRESH_MS = 1000

-- The homes of this many keys are remembered, then forgotten at once.
local HOMES_CACHED = 100000

--- Reads the cluster's view: the client then reconnects through any live
-- member when its node dies (the given addresses first), and a direct
-- client finds each key's home in it. cb(true) or cb(nil, msg, code).
function M.learn(client, cb)
  local raw = client._c
  raw:view(function(text, vm, vc)
    if not text then
      if cb then cb(nil, vm, vc) end
      return
    end
    if raw:is_closed() then return end
    local v = json.decode(text)
    local list, seen = {}, {}
    for _, a in ipairs(client.addrs) do list[#list + 1], seen[a] = a, true end
    local old = client._direct
    local d = { addrs = {}, ids = {}, conns = old and old.conns or {},
      homes = {}, cached = 0, epoch = v.epoch, learned = uv.now() }
    for _, m in ipairs(v.members) do
      if m.state == "alive" or m.state == "suspect" then
        d.addrs[m.id], d.ids[#d.ids + 1] = m.addr, m.id
        if not seen[m.addr] then list[#list + 1], seen[m.addr] = m.addr, true end
      end
    end
    raw:set_addrs(list)
    if cb and not old then client._direct = d
    elseif old and old.epoch ~= d.epoch then
      -- a new view: homes that failed before may be back
      for id, conn in pairs(d.conns) do if conn == false then d.conns[id] = nil end end
      client._direct = d
    elseif old then old.learned = d.learned end
    if cb then cb(true) end
  end)
end

-- The node that owns a request's key, from the cached view (a direct
-- client only); nil when the request is not keyed.
local function home_of(d, method, a, b)
  local keyed = KEYED[method]
  if not (d and keyed) then return nil end
  local kind, key = keyed[1], keyed[2] == 2 and b or a
  if kind == "node" then return d.addrs[key] and key or nil end
  if type(key) ~= "string" then return nil end -- the C side raises
  if kind ~= "topic" then key = kind .. key end
  local home = d.homes[key]
  if not home then
    home = core.placement(key, d.ids, 1)[1]
    if d.cached > HOMES_CACHED then d.homes, d.cached = {}, 0 end
    d.homes[key], d.cached = home, d.cached + 1
  end
  return home
end

--- The home of a request's key and the connection to send it on, or nil
-- when it goes through the node the client connected to (not a direct
-- client, not keyed, the home is that node, or its connection failed).
function M.route(client, method, a, b)
  local d = client._direct
  local home = home_of(d, method, a, b)
  if not home then return nil end
  if not d.refreshing and uv.now() - d.learned >= VIEW_REFRESH_MS then
    -- The view moves (failures, joins): read it again now and then, so
    -- requests keep going to the current homes rather than being forwarded.
    d.refreshing, d.learned = true, uv.now()
    M.learn(client, function() d.refreshing = false end)
  end
  if home == client.node_id then return nil end
  local raw = d.conns[home]
  if raw == nil then -- opened on first use; false when it failed
    raw = core.client({ d.addrs[home] }, client.timeout, function() end,
      client.login) or false
    d.conns[home] = raw
  end
  return raw and home, raw
end

--- A home's connection failed: requests go through the cube from now on,
-- and the view is read again to find the new homes.
function M.failed(client, home, raw)
  client._direct.conns[home] = false
  raw:close()
  M.learn(client)
end

--- Closes every connection to a home.
function M.close(client)
  if not client._direct then return end
  for _, raw in pairs(client._direct.conns) do
    if raw then raw:close() end
  end
  client._direct = nil
end

return M
