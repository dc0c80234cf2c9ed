-- Raw frames against real `hypersub node` processes, for the specs that
-- send exact bytes: frames built with string.pack per src/proto/wire.h and
-- msg.h, a TCP connection that reads whole frames with a deadline, a peer's
-- handshake with a view of our making, and the checks that a node survived
-- (still running, no sanitizer report).
local uv = require "luv"
local hypersub = require "hypersub"
local process = require "hypersub.process"

local assert = require "luassert"

local M = {}
-- What start_node, raw and client made, closed by M.cleanup (the spec
-- file's after_each).
local made = {}
local function finally(close) made[#made + 1] = close end
function M.cleanup()
  for i = #made, 1, -1 do made[i]() end
  made = {}
end

local HEADER = "<I4BBHI4" -- length, version, op, flags, id
local HEADER_LEN = 12
-- Every op, by the numbers src/proto/wire.h gives them.
local OP = {
  HELLO = 1, CREATE_PUBLISHER = 2, CREATE_SUBSCRIBER = 3, CREATE_TOPIC = 4,
  DELETE_TOPIC = 5, PUBLISH = 6, SUBSCRIBE = 7, PULL = 8, STOP_NODE = 9,
  STATS = 10, WHERE = 11, VIEW = 12, LOOKUP = 13, REPLICATE = 14, LOCAL = 15,
  LIST_TOPICS = 16, HOMED = 17, REWIND = 18, UNPARK = 19, PING = 20,
  GOSSIP = 21, READ = 22, CLAIM = 23, JOIN = 24, LEAVE = 25, HOLDING = 26,
  AUTH = 27, SPREAD = 28, PROBE = 29, FETCH = 30, RELEASE = 31,
}
local F_REPLY, F_ERROR = 1, 2
local E = {}
for name, num in pairs(hypersub.errors) do E[name] = -num end
local WAIT = 5000 -- ms: the deadline of every wait

---------------------------------------------------------------------------
-- Frames

local function frame(op, id, body, o)
  body = body or ""
  o = o or {}
  return string.pack(HEADER, o.len or 8 + #body, o.version or hypersub.wire_version,
    op, o.flags or 0, id) .. body
end

-- A client's HELLO: role, cluster, user, a 16-byte nonce.
local function hello_body(cluster, role, user)
  return string.pack("<Bs1s1", role or 1, cluster or "hypersub", user or "") ..
    string.rep("n", 16)
end

-- A peer's HELLO: role 2, cluster, node, incarnation, replicas, nonce.
local function peer_hello_body(node, o)
  o = o or {}
  return string.pack("<Bs1I4I8I4", 2, o.cluster or "hypersub", node,
    o.incarnation or 1, o.replicas or 3) .. (o.nonce or string.rep("p", 16))
end

-- An error reply's code and message, or nil when f is not an error reply.
local function error_of(f)
  if f.flags & F_ERROR == 0 then return nil end
  local code, msg = string.unpack("<Hs2", f.body)
  return code, msg
end

-- Asserts that f is an error reply with this code whose message holds
-- every one of the words (plain substrings); returns the message.
local function assert_error(f, code, ...)
  local got, msg = error_of(f)
  assert.equal(code, got, ("expected error %d, got %s: %s"):format(code,
    tostring(got), tostring(msg)))
  for _, word in ipairs { ... } do
    assert.is_truthy(msg:find(word, 1, true), ("%q not in %q"):format(word, msg))
  end
  return msg
end

-- A membership view as AUTH, GOSSIP and HOLDING carry it (src/cube/view.h):
-- u64 epoch, u32 count, then per member u32 id, u8 state, u64 version,
-- str8 "host:port", ids ascending. members: {id =, state =, version =,
-- addr =}, the state by number or by the name a client's view() gives;
-- the epoch is the sum of the versions (mod 2^64) unless o.epoch is given.
local STATE = { alive = 1, suspect = 2, dead = 3, left = 4 }
local function view_body(members, o)
  local sorted = table.move(members, 1, #members, 1, {})
  table.sort(sorted, function(a, b) return a.id < b.id end)
  local epoch, parts = 0, {}
  for i, m in ipairs(sorted) do
    epoch = epoch + m.version
    parts[i] = string.pack("<I4BI8s1", m.id, STATE[m.state] or m.state,
      m.version, m.addr)
  end
  return string.pack("<I8I4", o and o.epoch or epoch, #sorted) ..
    table.concat(parts)
end

---------------------------------------------------------------------------
-- A raw TCP connection that reads whole frames with a deadline

local Raw = {}
Raw.__index = Raw

local function raw_connect(port)
  local self = setmetatable({ buf = "", frames = {}, closed = false,
    bytes = 0, skip = 0, next_id = 1 }, Raw)
  self.tcp = uv.new_tcp()
  local status
  self.tcp:connect("127.0.0.1", port, function(err) status = err or "ok" end)
  assert(process.wait_until(function() return status ~= nil end, WAIT,
    "tcp connect"))
  assert(status == "ok", status)
  return self
end

-- A whole frame arrived: keep it and tell self.on_frame, if set.
function Raw:push(f)
  self.frames[#self.frames + 1] = f
  if self.on_frame then self.on_frame(f) end
end

-- Splits whole frames off the input.
function Raw:parse()
  while #self.buf >= 4 do
    local len = string.unpack("<I4", self.buf)
    if len < 8 or #self.buf < len + 4 then break end
    local _, version, op, flags, id = string.unpack(HEADER, self.buf)
    self:push({ len = len, version = version, op = op, flags = flags, id = id,
      body = self.buf:sub(HEADER_LEN + 1, len + 4) })
    self.buf = self.buf:sub(len + 5)
  end
end

-- With count_only, only headers are kept: bodies are skipped as they
-- stream in, so large replies cost no copying.
function Raw:skim(data)
  local pos, n = 1, #data
  while pos <= n do
    if self.skip > 0 then
      local k = math.min(self.skip, n - pos + 1)
      self.skip, pos = self.skip - k, pos + k
    else
      local need = HEADER_LEN - #self.buf
      self.buf = self.buf .. data:sub(pos, pos + need - 1)
      pos = pos + need
      if #self.buf < HEADER_LEN then break end
      local len, version, op, flags, id = string.unpack(HEADER, self.buf)
      self.buf = ""
      self.current = { len = len, version = version, op = op, flags = flags, id = id }
      self.skip = len + 4 - HEADER_LEN
    end
    if self.skip == 0 and self.current then
      local f = self.current
      self.current = nil
      self:push(f)
    end
  end
end

function Raw:start_reading()
  self.tcp:read_start(function(err, data)
    if err then
      self.closed, self.read_error = true, err
    elseif data then
      self.bytes = self.bytes + #data
      if self.count_only then
        self:skim(data)
      else
        self.buf = self.buf .. data
        self:parse()
      end
    else
      self.closed = true
    end
  end)
  return self
end

function Raw:send(data)
  self.tcp:write(data, function(err) if err then self.write_error = err end end)
end

-- The next whole frame, or nil, "closed" | "TIMEOUT: ...".
function Raw:next_frame(timeout)
  local ok, msg = process.wait_until(function()
    return #self.frames > 0 or self.closed
  end, timeout or WAIT, "a frame from the node")
  if #self.frames > 0 then return table.remove(self.frames, 1) end
  return nil, ok and "closed" or msg
end

-- Sends a request with a fresh id; returns its reply (checked to carry the
-- id and the op).
function Raw:request(op, body, o)
  local id = self.next_id
  self.next_id = id + 1
  self:send(frame(op, id, body, o))
  local f = assert(self:next_frame())
  assert.equal(id, f.id)
  assert.equal(op, f.op)
  assert.is_true(f.flags & F_REPLY ~= 0)
  return f
end

function Raw:hello()
  local f = self:request(OP.HELLO, hello_body())
  assert.is_nil(error_of(f))
  return f
end

-- True once the node has closed the connection (end of stream or reset).
function Raw:wait_closed(timeout)
  return process.wait_until(function() return self.closed end,
    timeout or WAIT, "the node closing the connection")
end

function Raw:close()
  if not self.tcp:is_closing() then self.tcp:close() end
end

---------------------------------------------------------------------------
-- Nodes and clients, cleaned up when the `it` ends

local function start_node(flags)
  local node = assert(process.start_node(flags))
  finally(function() node:close() end)
  return node
end

local function assert_alive(node)
  assert.is_false(node.exited, ("the node exited (code %s, signal %s): %s")
    :format(node.code, node.signal, node.stderr or ""))
  local err = node.stderr or ""
  assert.is_nil(err:find("AddressSanitizer", 1, true), err)
  assert.is_nil(err:find("runtime error", 1, true), err)
end

-- A raw connection to a node started here or to a "host:port".
local function raw(target)
  local r = raw_connect(type(target) == "string"
    and tonumber(target:match(":(%d+)$")) or target.port)
  finally(function() r:close() end)
  return r
end

-- A peer's handshake on a fresh connection: HELLO as node `id`, then AUTH
-- with o.proof (empty: an open cluster) and the view (none: a node asking
-- to join). Returns the AUTH reply (or the HELLO's error reply) and the
-- connection.
local function peer_auth(target, id, view, o)
  o = o or {}
  local r = raw(target):start_reading()
  local f = r:request(OP.HELLO, peer_hello_body(id, o))
  if error_of(f) then return f, r end
  return r:request(OP.AUTH, string.pack("<s1", o.proof or "") .. (view or "")), r
end

-- A connection past the handshake as member `id` of an open cluster,
-- sending `view` (a view_body). To stand in for a running member without
-- being refused with EXISTS, give the view that member's real address.
local function peer(target, id, view, o)
  local f, r = peer_auth(target, id, view, o)
  local code, msg = error_of(f)
  assert(code == nil, ("peer handshake as node %d refused: %s %s"):format(id,
    tostring(code), tostring(msg)))
  return r
end

local function client(node)
  local c = assert(hypersub.connect(node.addr))
  finally(function() c:close() end)
  return c
end

-- Runs `hypersub node` with the given flags to its end: its exit code and
-- what it printed on stderr.
local function node_cli(flags)
  local argv = { "node" }
  for _, f in ipairs(flags) do argv[#argv + 1] = f end
  local p = process.spawn(process.runtime(), argv)
  local code = p:wait(15000)
  local err = p.stderr or ""
  p:close()
  return code, err
end

-- Polls the node's stats through c until pred(stats) holds: each poll is a
-- request whose answer is the event that wakes the wait.
local function wait_stats(c, pred, what)
  local last, inflight, failure = nil, false, nil
  local ok, msg = process.wait_until(function()
    if failure then return true end
    if last and pred(last) then return true end
    if not inflight then
      inflight = true
      c:stats(function(st, m)
        inflight = false
        if st then last = st else failure = m end
      end)
    end
    return false
  end, WAIT, what)
  assert(ok, msg)
  assert(not failure, failure)
  return last
end

-- The whole seed API on a fresh client: the node is serving.
local function assert_serves(node, tag)
  local c = client(node)
  local pub, topic, sub = "p-" .. tag, "t-" .. tag, "s-" .. tag
  assert(c:create_publisher(pub))
  assert(c:create_topic(pub, topic))
  assert(c:create_subscriber(sub))
  assert(c:subscribe(sub, topic))
  assert.equal(0, assert(c:publish(pub, topic, "still here")))
  local msgs = assert(c:pull(sub, topic))
  assert.equal(1, #msgs)
  assert.equal("still here", msgs[1].data)
  c:close()
end

M.HEADER, M.HEADER_LEN, M.OP, M.E, M.WAIT = HEADER, HEADER_LEN, OP, E, WAIT
M.F_REPLY, M.F_ERROR = F_REPLY, F_ERROR
M.frame, M.hello_body, M.peer_hello_body, M.error_of = frame, hello_body,
  peer_hello_body, error_of
M.assert_error, M.view_body = assert_error, view_body
M.Raw, M.raw_connect, M.raw, M.peer_auth, M.peer = Raw, raw_connect, raw,
  peer_auth, peer
M.start_node, M.assert_alive, M.client = start_node, assert_alive, client
M.wait_stats, M.assert_serves = wait_stats, assert_serves
M.finally, M.node_cli = finally, node_cli
return M
