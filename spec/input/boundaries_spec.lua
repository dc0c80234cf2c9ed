-- Every op (1..29) at its boundaries, against a real `hypersub node`: each
-- body is described once as its fields (src/proto/msg.h), and the cases are
-- made from that description: the empty body, every prefix, a byte too
-- many, and each field set in turn to its type's boundary values (u32
-- counts and limits 0 / 1 / 0xFFFFFFFF, u64 offsets 0 / 2^63 / 2^64-1, names
-- of 0 and 255 bytes and with forbidden bytes, a view that cannot be).
-- They are sent as a client (after HELLO) and as a peer (after the peer
-- handshake of an open node). Every request gets an answer, an error reply
-- or a valid one, with its own id and op: none goes unanswered, a long poll
-- is answered once news arrives. Then the node serves a normal client, the
-- topic nobody's cases touch is intact, and the one they all aim at still
-- serves; the node never crashes (no sanitizer report under `make asan`).
local process = require "hypersub.process"

local R = require "support.raw"
local OP, frame, error_of = R.OP, R.frame, R.error_of

local U64_MAX, U64_HALF = -1, math.mininteger -- 2^64-1 and 2^63 as packed
local SELF = 5 -- the node's id: STOP_NODE and LEAVE cases never name it

---------------------------------------------------------------------------
-- Field types: how a value is packed and the boundary values tried.

local LONG = string.rep("n", 255)
local TYPES = {
  u8 = { fmt = "<B", values = { 0, 1, 2, 255 } },
  u32 = { fmt = "<I4", values = { 0, 1, 0xffffffff } },
  u64 = { fmt = "<I8", values = { 0, U64_HALF, U64_MAX } },
  -- a name: empty, the longest, and bytes the name rules forbid
  name = { fmt = "<s1", values = { "", LONG, "a b", 'a"b', "a\\b", "a\0b", "\255" } },
  -- a string that is not a name (a cluster, a prefix, an address)
  str = { fmt = "<s1", values = { "", LONG, "\0\255", "127.0.0.1:99999" } },
  data = { fmt = "<s4", values = { "", "\0" } },
  nonce = { fmt = "c16", values = {} },
  -- the rest of the body, packed already
  rest = { values = {} },
}

-- A membership view (the node's own, so taking it changes nothing) and
-- views that cannot be.
local function views(self_view)
  local v = self_view
  return {
    "", -- no view at all
    string.pack("<I8I4", 0, 0), -- no member
    string.pack("<I8I4", 0, 0xffffffff), -- a count past the bytes
    v:sub(1, #v - 1), -- a member cut short
    R.view_body({ { id = SELF, state = "dead", version = U64_MAX, addr = "127.0.0.1:1" } }),
    R.view_body({ { id = 0xffffffff, state = "alive", version = 1, addr = "127.0.0.1:1" } }),
    R.view_body({ { id = SELF, state = 9, version = 1, addr = "127.0.0.1:1" } }),
  }
end

-- A list: its count, then entries packed already.
local function list(count, entries) return string.pack("<I4", count) .. (entries or "") end
local function lists(one)
  return { list(0), list(1, one), list(0xffffffff), list(2, one) }
end

---------------------------------------------------------------------------
-- The bodies: {op, fields}, each field {name, type, base value[, extra
-- values]}. The base body is a valid request on the fixture (topic "t" of
-- publisher "p", subscriber "s" on it), except where a valid one would
-- stop the node or let a stranger in (STOP_NODE, LEAVE and JOIN name
-- another id or keep another number of copies).

local function bodies(self_view, self_addr)
  local view_values = views(self_view)
  local record = string.pack("<I8s1I8I8s4", 1, "p", 0, 0, "r")
  local cursor = string.pack("<s1I8I8", "s", 0, 0)
  local cursors = lists(cursor)
  cursors[#cursors + 1] = list(1, string.pack("<s1I8", "s", U64_MAX))
  local pull = {
    { "subscriber", "name", "s" }, { "topic", "name", "t" }, { "max", "u32", 0 },
    { "seen", "u64", U64_MAX }, { "wait_ms", "u32", 0 },
  }
  local function with(head, tail)
    local out = {}
    for _, f in ipairs(head) do out[#out + 1] = f end
    for _, f in ipairs(tail) do out[#out + 1] = f end
    return out
  end
  local function repl(kind, tail)
    return with({ { "kind", "u8", kind }, { "name", "name", "t" } }, tail or {})
  end
  return {
    { "HELLO", { { "role", "u8", 1 }, { "cluster", "str", "hypersub" },
        { "user", "str", "" }, { "nonce", "nonce", string.rep("n", 16) } } },
    { "AUTH", { { "proof", "str", "" }, { "view", "rest", self_view, view_values } } },
    { "CREATE_PUBLISHER", { { "id", "name", "p" } } },
    { "CREATE_SUBSCRIBER", { { "id", "name", "s" } } },
    { "CREATE_TOPIC", { { "publisher", "name", "p" }, { "topic", "name", "t" } } },
    { "DELETE_TOPIC", { { "publisher", "name", "p" }, { "topic", "name", "doomed" } } },
    { "PUBLISH", { { "publisher", "name", "p" }, { "topic", "name", "t" }, { "ack", "u8", 1 },
        { "producer", "u64", 0 }, { "seq", "u64", 0 }, { "data", "data", "d" } } },
    { "SUBSCRIBE", { { "subscriber", "name", "s2" }, { "topic", "name", "t" },
        { "from", "u8", 2 }, { "offset", "u64", 0 } } },
    { "PULL", pull },
    { "STOP_NODE", { { "node", "u32", 0 }, { "restart_after_ms", "u32", 0 } } },
    { "STATS", {} },
    { "WHERE", { { "topic", "name", "t" } } },
    { "VIEW", {} },
    { "LOOKUP", { { "kind", "u8", 1 }, { "id", "name", "p" } } },
    { "REPLICATE", repl(1) }, -- a publisher
    { "REPLICATE", repl(2) }, -- a subscriber
    -- SYNC aims at a topic of its own: it may align that topic's copy and
    -- its cursors (checked at the end).
    { "REPLICATE", { { "kind", "u8", 3 }, { "name", "name", "synced" },
        { "owner", "name", "p" }, { "first", "u64", 0 }, { "next", "u64", 0 },
        { "committed", "u64", 0 }, { "terms", "rest", list(0) .. list(1, cursor),
          { list(1, string.pack("<I8I8", 1, 0)) .. list(1, cursor),
            list(0xffffffff) .. list(0) } } } },
    { "REPLICATE", { { "kind", "u8", 4 }, { "name", "name", "doomed2" } } },
    { "REPLICATE", repl(5, { { "committed", "u64", 0 }, { "first", "u64", 0 },
        { "term", "u64", 1 }, { "records", "rest", list(1, record), lists(record) } }) },
    { "REPLICATE", repl(6, { { "subscriber", "name", "s" }, { "next", "u64", 0 },
        { "prev", "u64", 0 } }) },
    { "REPLICATE", repl(7, { { "committed", "u64", 0 } }) },
    { "LOCAL", {} },
    { "LIST_TOPICS", { { "prefix", "str", "" } } },
    { "HOMED", { { "node", "u32", SELF }, { "prefix", "str", "" } } },
    { "REWIND", { { "subscriber", "name", "s" }, { "topic", "name", "t" },
        { "from", "u64", 0 }, { "expect", "u64", 0 } } },
    { "UNPARK", { { "subscriber", "name", "s" }, { "topic", "name", "t" } } },
    { "PING", { { "epoch", "u64", 0 }, { "digest", "u64", 0 } } },
    { "GOSSIP", { { "view", "rest", self_view, view_values } } },
    { "READ", with({ { "server", "u32", SELF } }, pull) },
    { "CLAIM", { { "subscriber", "name", "s" }, { "topic", "name", "t" },
        { "server", "u32", SELF }, { "first", "u64", 0 }, { "next", "u64", 0 },
        { "max", "u32", 0 }, { "seen", "u64", U64_MAX }, { "wait_ms", "u32", 0 } } },
    { "JOIN", { { "id", "u32", 0xffffffff }, { "addr", "str", self_addr },
        { "replicas", "u32", 0 } } },
    { "LEAVE", { { "node", "u32", 0 } } },
    { "HOLDING", { { "skip", "u64", 0 }, { "layout", "u64", 0 },
        { "view", "rest", self_view, view_values } } },
    { "SPREAD", { { "dim", "u8", 0 }, { "hops", "u8", 1 },
        { "view", "rest", self_view, view_values } } },
    -- a target of its own is answered at once, and so is a wait of 0
    { "PROBE", { { "target", "u32", SELF }, { "timeout_ms", "u32", 0 },
        { "relays", "u8", 0 } } },
  }
end

local function pack_field(f, value)
  local t = TYPES[f[2]]
  return t.fmt and string.pack(t.fmt, value) or value
end

local function pack_fields(fields, i, value)
  local parts = {}
  for k, f in ipairs(fields) do parts[k] = pack_field(f, k == i and value or f[3]) end
  return table.concat(parts)
end

-- Every case of one body: {what, op, body}.
local function cases_of(op_name, fields, out)
  local op = OP[op_name]
  local base = pack_fields(fields)
  local function add(what, body)
    out[#out + 1] = { ("%s %s"):format(op_name, what), op, body }
  end
  for cut = 0, #base - 1 do add(("cut at %d"):format(cut), base:sub(1, cut)) end
  add("whole", base)
  add("a byte too many", base .. "!")
  for i, f in ipairs(fields) do
    for _, v in ipairs(f[4] or TYPES[f[2]].values) do
      add(("%s = %q"):format(f[1], tostring(v):sub(1, 12)), pack_fields(fields, i, v))
    end
  end
end

---------------------------------------------------------------------------
-- Sending them

-- A long poll may wait for news; nothing else may leave a request open.
local MAY_WAIT = { [OP.PULL] = true, [OP.READ] = true, [OP.CLAIM] = true }

-- Connects and passes the handshake of `role`.
local function connect(node, role, self_view)
  if role == "peer" then return R.peer(node, SELF, self_view) end
  local r = R.raw(node):start_reading()
  r:hello()
  return r
end

-- Sends each case with a STATS behind it: replies come in the order the
-- node handles requests, so when the STATS is answered the case has been
-- too, unless it waits for news. A connection the node closed (a HELLO or
-- AUTH it cannot take) is opened again. Returns the cases still waiting.
local function run_cases(node, role, self_view, cases)
  local r = connect(node, role, self_view)
  local waiting, id = {}, 1000
  for _, case in ipairs(cases) do
    local what, op, body = case[1], case[2], case[3]
    local cid, mid = id, id + 1
    id = id + 2
    r:send(frame(op, cid, body) .. frame(OP.STATS, mid, ""))
    local answer
    while true do
      local f = r:next_frame()
      if not f then break end
      if f.id == cid then
        -- READ's answer is a PULL's, with its op
        assert.is_true(f.op == op or (op == OP.READ and f.op == OP.PULL), what)
        assert.is_true(f.flags & R.F_REPLY ~= 0, what)
        answer = f
      elseif f.id == mid then
        break
      else
        local w = waiting[f.id]
        assert(w, ("%s: a reply to an unknown request %d"):format(what, f.id))
        waiting[f.id] = nil
      end
    end
    assert(answer or not r.closed,
      what .. ": the node closed the connection without an answer")
    if not answer then
      assert(MAY_WAIT[op], what .. ": no answer")
      waiting[cid] = { what = what, r = r }
    end
    -- A HELLO or AUTH after the handshake may end the connection: start
    -- afresh (the long polls parked on the old one go with it).
    if r.closed or op == OP.HELLO or op == OP.AUTH then
      for wid, w in pairs(waiting) do
        if w.r == r then waiting[wid] = nil end
      end
      r:close()
      r = connect(node, role, self_view)
    end
  end
  return waiting
end

---------------------------------------------------------------------------

describe("every op at its boundaries #input", function()
  after_each(R.cleanup)

  for _, role in ipairs { "client", "peer" } do
    it("as a " .. role .. ": every case answered, the node serves, the data intact", function()
      local node = R.start_node { "--id", tostring(SELF) }
      local c = R.client(node)
      assert(c:create_publisher "p")
      for _, t in ipairs { "t", "keep", "doomed", "doomed2", "synced" } do
        assert(c:create_topic("p", t))
      end
      local kept = {}
      for i = 1, 3 do
        kept[i] = "keep-" .. i
        assert(c:publish("p", "keep", kept[i]))
        assert(c:publish("p", "t", "t-" .. i))
      end
      assert(c:create_subscriber "s")
      assert(c:create_subscriber "s2")
      assert(c:subscribe("s", "t"))
      local self_view = R.view_body(assert(c:view()).members)
      local cases = {}
      for _, b in ipairs(bodies(self_view, node.addr)) do cases_of(b[1], b[2], cases) end
      local waiting = run_cases(node, role, self_view, cases)
      -- News on "t" answers every long poll still waiting.
      assert(c:publish("p", "t", "news"))
      for cid, w in pairs(waiting) do
        local function answered()
          for _, f in ipairs(w.r.frames) do if f.id == cid then return true end end
          return w.r.closed
        end
        local ok, msg = process.wait_until(answered, R.WAIT, w.what .. " answered")
        assert(ok and not w.r.closed, ("%s: %s"):format(w.what, msg or "closed"))
      end
      R.wait_stats(c, function(s) return s.pull_waiting == 0 end, "no poll left")
      -- A new subscriber's cursor at an offset past the end is the end.
      local r = connect(node, role, self_view)
      local next_t = assert(c:publish("p", "t", "end")) + 1
      for i, offset in ipairs { 0, U64_HALF, U64_MAX } do
        assert(c:create_subscriber("o" .. i))
        local f = r:request(OP.SUBSCRIBE, string.pack("<s1s1BI8", "o" .. i, "t", 2, offset))
        assert.is_nil(error_of(f))
        assert.equal(offset == 0 and 0 or next_t, (string.unpack("<I8", f.body)))
      end
      R.assert_serves(node, role)
      -- The topic no case names is whole; the one they all aim at serves.
      assert(c:create_subscriber "check")
      assert(c:subscribe("check", "keep"))
      local got = {}
      for _, m in ipairs(assert(c:pull("check", "keep"))) do got[#got + 1] = m.data end
      assert.same(kept, got)
      assert(c:subscribe("check", "t"))
      assert(c:pull("check", "t"))
      -- "synced" serves, and no cursor a SYNC moved points past its records.
      local off = assert(c:publish("p", "synced", "after"))
      assert(c:subscribe("s", "synced"))
      local msgs = assert(c:pull("s", "synced", { max = 1000 }))
      assert.is_true(#msgs >= 1 and msgs[#msgs].offset == off, "s missed the record")
      assert.equal(3, assert(c:publish("p", "keep", "more", { ack = "all" })))
      R.assert_alive(node)
    end)
  end
end)
