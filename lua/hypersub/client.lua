--- Clients: hypersub.connect and the methods of a connection.
--
-- Every call works three ways: with a callback as its last argument it
-- returns at once and the callback gets (result) or (nil, message, code)
-- later; inside a coroutine it yields until the answer; anywhere else it
-- runs luv's loop until the answer or the timeout (hypersub.loop).
local core = require "hypersub.core"
local direct = require "hypersub.direct"
local json = require "hypersub.json"
local loop = require "hypersub.loop"

local M = {}

local Client = {}
Client.__index = Client

local ACK = { none = 0, home = 1, all = 2 }

-- A blocking call polls at most this long (µs) before it sleeps: past a
-- few round trips, spinning only burns a core.
local MAX_SPIN_US = 10000

-- Requests answered with JSON text, handed on decoded.
local JSON_REPLY = { stats = true, view = true, local_topics = true }

-- Calls raw[method](raw, ..., cb), the arguments given and cb last.
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
    return loop.await(function(done) return call(self, done, method, a, b, c, d) end,
      self.spin)
  end
  if JSON_REPLY[method] then
    return self._c[method](self._c, function(text, msg, code)
      if text then cb(json.decode(text)) else cb(nil, msg, code) end
    end)
  end
  local home, raw = direct.route(self, method, a, b)
  if not raw then return dispatch(self._c, method, cb, a, b, c, d) end
  return dispatch(raw, method, function(r, ...)
    local code = select(2, ...)
    if r == nil and (code == "UNAVAILABLE" or code == "CLOSED") and self._c then
      direct.failed(self, home, raw)
      local ok, m2, c2 = dispatch(self._c, method, cb, a, b, c, d)
      if not ok then cb(nil, m2, c2) end
      return
    end
    cb(r, ...)
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
-- cluster to join (default "hypersub"); opts.user and opts.password log
-- in to nodes that have users; opts.tls = true or {ca =, cert =, key =}
-- (PEM files) speaks TLS, checking the node's certificate against ca (the
-- system's CAs without one); opts.direct = true caches the
-- cluster's view and sends each request straight to its key's home (one
-- hop) instead of through the node it connected to; opts.spin (µs, default
-- 0) lets a blocking call poll without sleeping for that long before it
-- sleeps. With cb, returns the client at once and calls cb(client) or
-- cb(nil, message, code).
function M.connect(addr, opts, cb)
  opts, cb = split_opts(opts, cb)
  local addrs = addr_list(addr)
  local timeout = opts and opts.timeout or 5000
  if math.type(timeout) ~= "integer" or timeout <= 0 then
    error("bad option 'timeout': expected a positive integer (ms)", 2)
  end
  local spin = opts and opts.spin or 0
  if math.type(spin) ~= "integer" or spin < 0 or spin > MAX_SPIN_US then
    error(("bad option 'spin': expected an integer from 0 to %d (µs)"):format(MAX_SPIN_US), 2)
  end
  local cluster = opts and opts.cluster or "hypersub"
  if type(cluster) ~= "string" then
    error("bad option 'cluster': expected a string", 2)
  end
  local login = { cluster = cluster }
  for _, k in ipairs { "user", "password" } do
    local v = opts and opts[k]
    if v ~= nil and type(v) ~= "string" then
      error(("bad option '%s': expected a string"):format(k), 2)
    end
    login[k] = v
  end
  if (login.user == nil) ~= (login.password == nil) then
    error("options 'user' and 'password' go together", 2)
  end
  local tls = opts and opts.tls
  if tls == true then
    login.tls = true
  elseif type(tls) == "table" then
    login.tls = true
    for _, k in ipairs { "ca", "cert", "key" } do
      if tls[k] ~= nil and type(tls[k]) ~= "string" then
        error(("bad option 'tls.%s': expected a file name"):format(k), 2)
      end
      login["tls_" .. k] = tls[k]
    end
  elseif tls ~= nil and tls ~= false then
    error("bad option 'tls': expected true or {ca =, cert =, key =}", 2)
  end
  local self = setmetatable({ addrs = addrs, timeout = timeout, cluster = cluster,
    login = login, spin = spin }, Client)
  local wants_direct = opts and opts.direct
  local function start(done)
    local raw, msg, code = core.client(addrs, timeout, function(node, m, c)
      if not node then return done(nil, m, c) end
      self.node_id = node
      if not wants_direct then
        direct.learn(self)
        return done(self)
      end
      direct.learn(self, function(ok, vm, vc)
        if not ok then return done(nil, vm, vc) end
        done(self)
      end)
    end, login)
    if not raw then return nil, msg, code end
    self._c = raw
    return true
  end
  if cb then
    local ok, msg, code = start(cb)
    if not ok then return nil, msg, code end
    return self
  end
  local c, msg, code = loop.await(start)
  if not c then
    if self._c then self._c:close() end
    return nil, msg, code
  end
  return c
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

-- A read's `max` and `wait` (0 and 0 when absent); raises on bad ones.
local function read_opts(opts)
  local max = opts and opts.max or 0
  local wait = opts and opts.wait or 0
  if math.type(max) ~= "integer" or max < 0 then
    error("bad option 'max': expected a non-negative integer", 3)
  end
  if math.type(wait) ~= "integer" or wait < 0 then
    error("bad option 'wait': expected a non-negative integer (ms)", 3)
  end
  return max, wait
end

--- c:pull(sid, topic [, {max = N, wait = ms}] [, cb])
-- -> { {offset=, data=, publisher=, time=}, ... }
function Client:pull(sid, topic, opts, cb)
  opts, cb = split_opts(opts, cb)
  local max, wait = read_opts(opts)
  return call(self, cb, "pull", sid, topic, max, wait)
end

--- c:fetch(topic, offset [, {max = N, wait = ms}] [, cb])
-- -> { {offset=, data=, publisher=, time=}, ... }, the offset to read on at
-- A read of the committed messages from `offset` on, with no subscriber
-- and no cursor: the reader keeps its own position.
function Client:fetch(topic, offset, opts, cb)
  opts, cb = split_opts(opts, cb)
  if math.type(offset) ~= "integer" or offset < 0 then
    error("bad argument #2 to 'fetch' (expected a non-negative integer offset)", 2)
  end
  local max, wait = read_opts(opts)
  return call(self, cb, "fetch", topic, offset, max, wait)
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
  direct.close(self)
end
Client.__close = Client.close

function Client:__tostring()
  return ("hypersub.client -> %s%s"):format(table.concat(self.addrs, ","),
    self._c and "" or " (closed)")
end

M.Client = Client

return M
