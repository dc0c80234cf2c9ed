--- hypersub: the public Lua API.
--
--   local hypersub = require "hypersub"
--   local c = assert(hypersub.connect "127.0.0.1:7000")
--   assert(c:create_publisher "p1")
--
-- Every client call works three ways:
--   * with a callback as its last argument it returns at once, and the
--     callback gets (result) or (nil, message, code) later;
--   * inside a coroutine it yields until the answer;
--   * anywhere else it runs luv's loop until the answer or the timeout.
-- Failures return nil, "CODE: message", "CODE"; wrong argument types raise.
local core = require "hypersub.core"
local uv = require "luv"
local cjson = require "cjson"

local M = {
  placement = core.placement, -- (topic, ids [, copies]) -> ids, home first
  version = core.version,
  wire_version = core.wire_version,
  errors = core.errors, -- CODE -> negative number
}

---------------------------------------------------------------------------
-- Waiting for answers

-- Coroutines started by hypersub.run report their errors here instead of
-- raising inside a loop callback.
local catchers = setmetatable({}, { __mode = "k" })

local function resume(co, ...)
  local ok, err = coroutine.resume(co, ...)
  if not ok then
    local catch = catchers[co]
    if catch then
      catch(err, co)
    else
      error(debug.traceback(co, err), 0)
    end
  end
end

local function in_coroutine()
  local _, main = coroutine.running()
  return not main and coroutine.isyieldable()
end

-- Handles for waiting are pooled and never closed: luv 1.44 frees a
-- closing handle when it is collected, before libuv is done with it, which
-- crashes the next loop run (or lua_close). A stopped handle costs nothing.
local spare = { timer = {}, check = {} }
local function take(kind)
  return table.remove(spare[kind]) or (kind == "timer" and uv.new_timer() or uv.new_check())
end
local function give(kind, h)
  h:stop()
  spare[kind][#spare[kind] + 1] = h
end
M._take_handle, M._give_handle = take, give

-- Runs the loop until cond() holds. A "once" turn runs due timers and then
-- blocks in poll; when a timer of that turn settled cond, the prepare handle
-- stops the loop so poll does not wait for some other event. Returns false
-- when the loop has nothing left that could settle it.
local waker, waker_cond
local function run_until(cond)
  if cond() then return true end
  if not waker then
    waker = uv.new_prepare()
    waker:unref() -- waiting alone must not keep the loop alive
  end
  local outer = waker_cond
  waker_cond = cond
  waker:start(function() if waker_cond() then uv.stop() end end)
  local alive = true
  while alive and not cond() do alive = uv.run("once") end
  waker_cond = outer
  if outer then waker:start(function() if waker_cond() then uv.stop() end end)
  else waker:stop() end
  return cond()
end
M.run_until = run_until

-- start(done) issues a request with `done` as its callback and returns true,
-- or nil, message, code. await returns what `done` receives.
local function await(start)
  if in_coroutine() then
    local co = coroutine.running()
    local ok, msg, code = start(function(...) resume(co, ...) end)
    if not ok then return nil, msg, code end
    return coroutine.yield()
  end
  if core.loop_running() then
    error("blocking hypersub call inside a loop callback: call it from a " ..
      "coroutine (hypersub.spawn) or pass a callback", 3)
  end
  local done, r1, r2, r3 = false, nil, nil, nil
  local ok, msg, code = start(function(a, b, c)
    done, r1, r2, r3 = true, a, b, c
  end)
  if not ok then return nil, msg, code end
  run_until(function() return done end)
  return r1, r2, r3
end
M.await = await

--- Runs fn(...) in a new coroutine now; its blocking calls yield.
function M.spawn(fn, ...)
  local co = coroutine.create(fn)
  resume(co, ...)
  return co
end

--- Runs fn(...) in a coroutine and the loop until it returns; returns its
-- results, or raises its error here (with the coroutine's traceback).
function M.run(fn, ...)
  if in_coroutine() then return fn(...) end
  local args = table.pack(...)
  local finished, results, failure = false, nil, nil
  local co = coroutine.create(function()
    results = table.pack(fn(table.unpack(args, 1, args.n)))
    finished = true
  end)
  catchers[co] = function(err, c)
    failure = debug.traceback(c, tostring(err))
  end
  resume(co)
  if not run_until(function() return finished or failure end) then
    failure = "hypersub.run: the coroutine waits, but nothing is left " ..
      "on the loop that could wake it"
  end
  if failure then error(failure, 0) end
  return table.unpack(results, 1, results.n)
end

--- Waits ms milliseconds (yields in a coroutine, else runs the loop).
function M.sleep(ms)
  local timer = take("timer")
  await(function(done)
    timer:start(ms, 0, function() done(true) end)
    return true
  end)
  give("timer", timer)
  return true
end

-- cjson decodes every number as a float; counters read better as integers.
local function integers(t)
  for k, v in pairs(t) do
    if type(v) == "table" then
      integers(v)
    elseif math.type(v) == "float" then
      t[k] = math.tointeger(v) or v
    end
  end
  return t
end
local function decode_stats(json) return integers(cjson.decode(json)) end

---------------------------------------------------------------------------
-- Clients

local Client = {}
Client.__index = Client
M.Client = Client

local ACK = { none = 0, home = 1, all = 2 }

-- Calls self._c[method](self._c, ..., cb) in the caller's style.
-- Requests placed by a key, and which argument holds it.
local KEYED = {
  create_topic = "topic", delete_topic = "topic", publish = "topic",
  subscribe = "topic", pull = "topic",
  create_publisher = "p:", create_subscriber = "s:", stop_node = "node",
  leave = "node",
}

-- How often a direct client reads the cluster's view again while in use.
local VIEW_REFRESH_MS = 1000

-- The node that owns a request's key, from the client's cached view (a
-- direct client only); nil when the request is not keyed.
local function home_of(self, method, a, b)
  local d, kind = self._direct, KEYED[method]
  if not (d and kind) then return nil end
  if kind == "node" then return d.addrs[a] and a or nil end
  local key = kind == "topic" and b or a
  if type(key) ~= "string" then return nil end -- the C side raises
  if kind ~= "topic" then key = kind .. key end
  local home = d.homes[key]
  if not home then
    home = core.placement(key, d.ids, 1)[1]
    if d.cached > 100000 then d.homes, d.cached = {}, 0 end
    d.homes[key], d.cached = home, d.cached + 1
  end
  return home
end

-- The connection to `home`, opened on first use; false when it failed.
local function direct_conn(self, home)
  local d = self._direct
  local raw = d.conns[home]
  if raw == nil then
    raw = core.client({ d.addrs[home] }, self.timeout, function() end, self.cluster) or false
    d.conns[home] = raw
  end
  return raw
end

local function dispatch(raw, method, cb, a, b, c, d)
  local f = raw[method]
  if d ~= nil then return f(raw, a, b, c, d, cb) end
  if c ~= nil then return f(raw, a, b, c, cb) end
  if b ~= nil then return f(raw, a, b, cb) end
  if a ~= nil then return f(raw, a, cb) end
  return f(raw, cb)
end

-- Calls the method on the right connection in the caller's style: the
-- entry node's (which routes along the cube), or, for a direct client, the
-- key's home (one hop). A direct request that could not be sent at all
-- (UNAVAILABLE: the home's connection failed) goes through the entry node.
local function call(self, cb, method, a, b, c, d)
  if not self._c then error("attempt to use a closed client", 3) end
  if not cb then
    return await(function(done) return call(self, done, method, a, b, c, d) end)
  end
  if method == "stats" or method == "view" or method == "local_topics" then
    return self._c[method](self._c, function(json, msg, code)
      if json then cb(decode_stats(json)) else cb(nil, msg, code) end
    end)
  end
  local home = home_of(self, method, a, b)
  local dv = self._direct
  if home and not dv.refreshing and uv.now() - dv.learned >= VIEW_REFRESH_MS then
    -- The view moves (failures, joins): read it again now and then, so
    -- requests keep going to the current homes rather than being forwarded.
    dv.refreshing, dv.learned = true, uv.now()
    self:_learn_members(function() dv.refreshing = false end)
  end
  local raw = home and home ~= self.node_id and direct_conn(self, home)
  if not raw then return dispatch(self._c, method, cb, a, b, c, d) end
  return dispatch(raw, method, function(r, msg, code)
    if r == nil and (code == "UNAVAILABLE" or code == "CLOSED") and self._c then
      self._direct.conns[home] = false -- use the cube from now on
      raw:close()
      self:_learn_members() -- the view moved: find the new homes
      local ok, m2, c2 = dispatch(self._c, method, cb, a, b, c, d)
      if not ok then cb(nil, m2, c2) end
      return
    end
    cb(r, msg, code)
  end, a, b, c, d)
end

local function split_opts(opts, cb)
  if type(opts) == "function" and cb == nil then return nil, opts end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad options: expected a table, got " .. type(opts), 3)
  end
  return opts, cb
end

local function addr_list(addr)
  if type(addr) == "string" then return { addr } end
  if type(addr) ~= "table" or #addr == 0 then
    error("bad address: expected \"host:port\" or a list of them", 3)
  end
  return addr
end

--- hypersub.connect(addr [, opts] [, cb]) -> client | nil, message, code
-- addr: "host:port" or a list, tried in turn; opts.timeout (ms, default
-- 5000) bounds the connect and every request; opts.cluster names the
-- cluster to join (default "hypersub"); opts.direct = true caches the
-- cluster's view and sends each request straight to its key's home (one
-- hop) instead of through the node it connected to. With cb, returns the client
-- at once and calls cb(client) or cb(nil, message, code).
function M.connect(addr, opts, cb)
  opts, cb = split_opts(opts, cb)
  local addrs = addr_list(addr)
  local timeout = opts and opts.timeout or 5000
  if math.type(timeout) ~= "integer" or timeout <= 0 then
    error("bad option 'timeout': expected a positive integer (ms)", 2)
  end
  local cluster = opts and opts.cluster or "hypersub"
  if type(cluster) ~= "string" then
    error("bad option 'cluster': expected a string", 2)
  end
  local self = setmetatable({ addrs = addrs, timeout = timeout, cluster = cluster },
    Client)
  local direct = opts and opts.direct
  local function start(done)
    local raw, msg, code = core.client(addrs, timeout, function(node, m, c)
      if not node then return done(nil, m, c) end
      self.node_id = node
      if not direct then
        self:_learn_members()
        return done(self)
      end
      self:_learn_members(function(ok, vm, vc)
        if not ok then return done(nil, vm, vc) end
        done(self)
      end)
    end, cluster)
    if not raw then return nil, msg, code end
    self._c = raw
    return true
  end
  if cb then
    local ok, msg, code = start(cb)
    if not ok then return nil, msg, code end
    return self
  end
  local c, msg, code = await(start)
  if not c then
    if self._c then self._c:close() end
    return nil, msg, code
  end
  return c
end

-- Reads the cluster's view: the connection then reconnects through any
-- live member when its node dies (the given addresses first), and a direct
-- client finds each key's home in it. cb(true) or cb(nil, msg, code).
function Client:_learn_members(cb)
  local raw = self._c
  raw:view(function(json, vm, vc)
    if not json then
      if cb then cb(nil, vm, vc) end
      return
    end
    if raw:is_closed() then return end
    local v = decode_stats(json)
    local list, seen = {}, {}
    for _, a in ipairs(self.addrs) do list[#list + 1], seen[a] = a, true end
    local d = { addrs = {}, ids = {}, conns = self._direct and self._direct.conns or {},
      homes = {}, cached = 0, epoch = v.epoch, learned = uv.now() }
    for _, m in ipairs(v.members) do
      if m.state == "alive" or m.state == "suspect" then
        d.addrs[m.id], d.ids[#d.ids + 1] = m.addr, m.id
        if not seen[m.addr] then list[#list + 1], seen[m.addr] = m.addr, true end
      end
    end
    raw:set_addrs(list)
    if cb and not self._direct then self._direct = d
    elseif self._direct and self._direct.epoch ~= d.epoch then
      -- a new view: homes that failed before may be back
      for id, conn in pairs(d.conns) do if conn == false then d.conns[id] = nil end end
      self._direct = d
    elseif self._direct then self._direct.learned = d.learned end
    if cb then cb(true) end
  end)
end

--- Requests this client sent again because a node died on their way.
function Client:retries()
  return self._c and self._c:retries() or 0
end

function Client:create_publisher(pid, cb)
  return call(self, cb, "create_publisher", pid)
end

function Client:create_subscriber(sid, cb)
  return call(self, cb, "create_subscriber", sid)
end

function Client:create_topic(pid, topic, cb)
  return call(self, cb, "create_topic", pid, topic)
end

function Client:delete_topic(pid, topic, cb)
  return call(self, cb, "delete_topic", pid, topic)
end

--- c:publish(pid, topic, data [, {ack = "none"|"home"|"all"}] [, cb])
-- -> the message's offset
function Client:publish(pid, topic, data, opts, cb)
  opts, cb = split_opts(opts, cb)
  local ack = 2
  if opts and opts.ack ~= nil then
    ack = ACK[opts.ack]
    if not ack then
      error("bad option 'ack': expected \"none\", \"home\" or \"all\"", 2)
    end
  end
  return call(self, cb, "publish", pid, topic, data, ack)
end

--- c:subscribe(sid, topic [, {from = "earliest"|"latest"|offset}] [, cb])
-- A subscriber that is already subscribed keeps its cursor: `from` only
-- places a new one.
function Client:subscribe(sid, topic, opts, cb)
  opts, cb = split_opts(opts, cb)
  local from, offset = 0, 0
  local f = opts and opts.from
  if f == "latest" then
    from = 1
  elseif math.type(f) == "integer" and f >= 0 then
    from, offset = 2, f
  elseif f ~= nil and f ~= "earliest" then
    error("bad option 'from': expected \"earliest\", \"latest\" or an offset", 2)
  end
  return call(self, cb, "subscribe", sid, topic, from, offset)
end

--- c:pull(sid, topic [, {max = N, wait = ms}] [, cb])
-- -> { {offset=, data=, publisher=, time=}, ... }
function Client:pull(sid, topic, opts, cb)
  opts, cb = split_opts(opts, cb)
  local max = opts and opts.max or 0
  local wait = opts and opts.wait or 0
  if math.type(max) ~= "integer" or max < 0 then
    error("bad option 'max': expected a non-negative integer", 2)
  end
  if math.type(wait) ~= "integer" or wait < 0 then
    error("bad option 'wait': expected a non-negative integer (ms)", 2)
  end
  return call(self, cb, "pull", sid, topic, max, wait)
end

--- c:stop_node(id [, {restart_after = ms}] [, cb])
function Client:stop_node(id, opts, cb)
  opts, cb = split_opts(opts, cb)
  local after = opts and opts.restart_after or 0
  if math.type(after) ~= "integer" or after < 0 then
    error("bad option 'restart_after': expected a non-negative integer", 2)
  end
  if math.type(id) ~= "integer" then
    error("bad argument #1 to 'stop_node' (integer expected)", 2)
  end
  return call(self, cb, "stop_node", id, after)
end

--- c:leave(id [, cb]) -> true once node `id` has handed its topics to the
-- others and stopped (it is LEFT in every view; its id is free again).
function Client:leave(id, cb)
  if math.type(id) ~= "integer" then
    error("bad argument #1 to 'leave' (integer expected)", 2)
  end
  return call(self, cb, "leave", id)
end

--- c:stats([cb]) -> the node's counters and latency figures
function Client:stats(cb)
  return call(self, cb, "stats")
end

--- c:where(topic [, cb]) -> {home = id, replicas = {ids...}, epoch = n}
function Client:where(topic, cb)
  return call(self, cb, "where", topic)
end

--- c:view([cb]) -> the membership view as the node sees it:
-- {self =, epoch =, dim =, replicas =, members = {{id=, addr=, state=, version=}...}}
function Client:view(cb)
  return call(self, cb, "view")
end

--- c:list_topics([prefix] [, cb]) -> the cluster's topic names, sorted
function Client:list_topics(prefix, cb)
  if type(prefix) == "function" and cb == nil then prefix, cb = nil, prefix end
  return call(self, cb, "list_topics", prefix or "")
end

--- c:local_topics([cb]) -> what the connected node itself holds:
-- {topics = {{name=, first=, next=, bytes=, cursors=, digest=}, ...}}
-- (home or replica; equal digests mean byte-identical logs)
function Client:local_topics(cb)
  return call(self, cb, "local_topics")
end

--- Requests sent and not yet answered.
function Client:pending()
  return self._c and self._c:pending() or 0
end

--- Closes the connection; requests in flight fail with CLOSED.
function Client:close()
  if self._c then
    local raw = self._c
    self._c = nil
    raw:close()
  end
  if self._direct then
    for _, raw in pairs(self._direct.conns) do
      if raw then raw:close() end
    end
    self._direct = nil
  end
end
Client.__close = Client.close

function Client:__tostring()
  return ("hypersub.client -> %s%s"):format(table.concat(self.addrs, ","),
    self._c and "" or " (closed)")
end

---------------------------------------------------------------------------
-- Nodes

local function split_addr(addr)
  local host, port = addr:match("^%[(.+)%]:(%d+)$")
  if not host then host, port = addr:match("^([^:]+):(%d+)$") end
  if not host then
    error(("bad listen address %q: expected host:port"):format(addr), 3)
  end
  return host, tonumber(port)
end
M.split_addr = split_addr

--- hypersub.node(opts [, log_hook]) -> node | nil, message, code
-- Starts a node on luv's loop. opts: the names of core.node_options
-- (listen = "host:port", id, cluster, peers, replicas, log_level, ...);
-- join = "host:port" of any member joins its cluster (id: the one asked
-- for, else the lowest free one): the call returns once the node has its
-- place, or nil, message.
local NODE_OPTIONS = {}
for _, o in ipairs(core.node_options) do NODE_OPTIONS[o.name] = true end

function M.node(opts, hook)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad options: expected a table", 2) end
  for k in pairs(opts) do
    if not NODE_OPTIONS[k] then error(("unknown node option '%s'"):format(k), 2) end
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
  function methods.stats(node) return decode_stats(node:stats_json()) end
end

return M
