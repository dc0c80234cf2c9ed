-- Every security finding against an earlier version, replayed with the
-- exact bytes that showed it: each `it` names the finding, sends the frames
-- (string.pack per src/proto/wire.h and msg.h: spec/support/raw.lua), and
-- checks the documented answer (error code and the words of its message),
-- that the node is alive (no crash, no sanitizer report) and that the data
-- is intact (topics, messages, the view). Peer frames come from a raw
-- connection that passes the handshake of an open cluster (no
-- --cluster-key) standing in for a running member: it names that member's
-- real address, so the handshake takes it and its view changes nothing.
local uv = require "luv"
local hypersub = require "hypersub"
local process = require "hypersub.process"
local cluster = require "hypersub.cluster"

local R = require "support.raw"
local OP, E, F_REPLY, F_ERROR = R.OP, R.E, R.F_REPLY, R.F_ERROR
local frame, error_of, assert_error = R.frame, R.error_of, R.assert_error

local F_ROUTED = 0x4
-- REPLICATE kinds (src/proto/msg.h)
local REPL = { PUBLISHER = 1, SUBSCRIBER = 2, SYNC = 3, DELETE = 4, APPEND = 5,
  CURSOR = 6, COMMIT = 7 }
local U64_MAX = -1 -- 2^64 - 1 as string.pack writes it
local MIB = 1 << 20

---------------------------------------------------------------------------
-- Bodies

local function replicate(kind, name, tail)
  return string.pack("<Bs1", kind, name) .. (tail or "")
end

-- SYNC's fields after the topic: owner, first, next, committed, the
-- home's terms (none here), cursors ({subscriber, next} pairs; prev =
-- next).
local function sync_tail(owner, first, next, committed, cursors)
  cursors = cursors or {}
  local parts = { string.pack("<s1I8I8I8I4I4", owner, first, next, committed, 0, #cursors) }
  for _, c in ipairs(cursors) do
    parts[#parts + 1] = string.pack("<s1I8I8", c[1], c[2], c[2])
  end
  return table.concat(parts)
end

local function publish_body(publisher, topic, data)
  return string.pack("<s1s1BI8I8s4", publisher, topic, 1, 0, 0, data)
end

local function pull_body(sid, topic, max, wait_ms)
  return string.pack("<s1s1I4I8I4", sid, topic, max, U64_MAX, wait_ms)
end

---------------------------------------------------------------------------
-- Clusters, stand-ins and the data they hold

local function open_cluster(nodes, replicas)
  local cl = assert(cluster.start { nodes = nodes, replicas = replicas })
  R.finally(function() cl:close() end)
  assert(cl:await_view(10000))
  return cl
end

-- A raw connection to node `at`, past the handshake as member `as` (its
-- real address, `at`'s own view of the cluster).
local function stand_in(cl, at, as)
  local v = assert(assert(cl:client(at)):view())
  return R.peer(cl:addr(at), as, R.view_body(v.members), { replicas = cl.replicas })
end

-- Every node of cl still running; no sanitizer report or assertion in any
-- node's output.
local function assert_cluster_alive(cl)
  for _, n in ipairs(cl:nodes()) do
    assert(n.alive, ("node %d is not running"):format(n.id))
  end
  cl:check()
end

-- Every member of every node's view alive at its own address.
local function assert_view_whole(cl)
  for _, id in ipairs(cl:members()) do
    local v = assert(assert(cl:client(id)):view())
    assert.equal(#cl:members(), #v.members)
    for _, m in ipairs(v.members) do
      assert.equal("alive", m.state, ("node %d sees node %d %s"):format(id, m.id, m.state))
      assert.equal(cl:addr(m.id), m.addr)
    end
  end
end

-- Publishes n messages to a new topic (ack all): their data.
local function seed(c, topic, n)
  c:create_publisher "p" -- EXISTS the second time: fine
  assert(c:create_topic("p", topic))
  local data = {}
  for i = 1, n do
    data[i] = ("%s-%d"):format(topic, i)
    assert.equal(i - 1, assert(c:publish("p", topic, data[i], { ack = "all" })))
  end
  return data
end

-- A fresh subscriber reads the whole topic through c: exactly `want`.
local checks = 0
local function assert_log(c, topic, want)
  checks = checks + 1
  local sid = "check" .. checks
  assert(c:create_subscriber(sid))
  assert(c:subscribe(sid, topic))
  local got = {}
  for _, m in ipairs(assert(c:pull(sid, topic, { max = 1000 }))) do got[#got + 1] = m.data end
  assert.same(want, got)
end

-- The node holding no copy of the topic in a 3-node cluster of 2 copies.
local function outsider(cl, w)
  for _, id in ipairs(cl:members()) do
    if id ~= w.home and id ~= w.replicas[1] then return id end
  end
end

local function free_addr() return "127.0.0.1:" .. cluster.free_ports(1)[1] end

---------------------------------------------------------------------------

describe("security findings #security", function()
  after_each(R.cleanup)

  describe("1. a member's address in a peer's view", function()
    local function member_view(node, id, addr)
      return R.view_body {
        { id = 0, state = "alive", version = 1, addr = node.addr },
        { id = id, state = "alive", version = 1, addr = addr },
      }
    end

    it('"zz" in the AUTH view: INVALID naming view.addr, closed, the node serves (was SIGSEGV)', function()
      local node = R.start_node {}
      local f, r = R.peer_auth(node, 5, member_view(node, 5, "zz"))
      assert_error(f, E.INVALID, 'malformed peer view: field "view.addr"')
      assert(r:wait_closed())
      R.assert_serves(node, "zz")
      local v = assert(R.client(node):view())
      assert.equal(1, #v.members)
      R.assert_alive(node)
    end)

    it('an address with a quote (1"): refused in AUTH, GOSSIP and JOIN; a client still decodes the view', function()
      local node = R.start_node {}
      local f, r = R.peer_auth(node, 5, member_view(node, 5, '1"'))
      assert_error(f, E.INVALID, 'malformed peer view: field "view.addr"')
      assert(r:wait_closed())
      -- The same address from a member already past the handshake.
      local v = assert(R.client(node):view())
      local p = R.peer(node, 0, R.view_body(v.members))
      assert_error(p:request(OP.GOSSIP, member_view(node, 5, '1"')), E.INVALID,
        'malformed gossip: field "view.addr"')
      assert_error(p:request(OP.JOIN, string.pack("<I4s1I4", 5, '1"', 3)), E.INVALID,
        "is not host:port")
      -- A normal client connects and its VIEW decodes: one member, as before.
      local c = R.client(node)
      v = assert(c:view())
      assert.equal(1, #v.members)
      assert.equal(node.addr, v.members[1].addr)
      R.assert_serves(node, "quote")
      R.assert_alive(node)
    end)
  end)

  it("2. a connect failing at once (no file descriptor left): nil and an error, no crash", function()
    local dir = assert(uv.fs_mkdtemp("/tmp/hypersub-findings-XXXXXX"))
    R.finally(function() os.execute("rm -rf '" .. dir .. "'") end)
    local script = dir .. "/emfile.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
local hypersub = require "hypersub"
local files = {}
while true do
  local fh, err = io.open("/dev/null")
  if not fh then io.stderr:write("open: ", tostring(err), "\n") break end
  files[#files + 1] = fh
end
local c, msg, code = hypersub.connect("127.0.0.1:1", { timeout = 2000 })
print("RESULT", tostring(c), tostring(code), tostring(msg))
for _, fh in ipairs(files) do fh:close() end
]])
    f:close()
    local p = process.spawn("sh", { "-c", 'ulimit -n 32; exec "$0" "$1"',
      process.runtime(), script })
    R.finally(function() p:close() end)
    local code, signal = p:wait(10000)
    local out = table.concat(p.lines, "\n")
    assert.equal(0, signal, "killed by a signal: " .. (p.stderr or ""))
    assert.equal(0, code, out .. (p.stderr or ""))
    assert.truthy((p.stderr or ""):find("Too many open files", 1, true), p.stderr)
    local got, ecode, msg = out:match("RESULT\t(%S+)\t(%S+)\t([^\n]*)")
    assert.equal("nil", got, out)
    assert.truthy(ecode == "UNAVAILABLE" or ecode == "IO", out)
    -- It failed where the socket is made, not at the port.
    assert.truthy(msg:find("127.0.0.1:1", 1, true) and msg:find("too many open files", 1, true), msg)
  end)

  describe("replication from a peer that is not the topic's home", function()
    it("3. SYNC with first 2^62 to the home: INVALID, the home keeps its log (it used to drop it); first > next: INVALID", function()
      local cl = open_cluster(2, 2)
      local c = assert(cl:client(0))
      local w = cl:where "orders"
      local data = seed(c, "orders", 5)
      local r = stand_in(cl, w.home, w.replicas[1])
      assert_error(r:request(OP.REPLICATE, replicate(REPL.SYNC, "orders",
        sync_tail("p", 1 << 62, 1 << 62, 0))), E.INVALID,
        "the home would drop records it holds")
      assert_error(r:request(OP.REPLICATE, replicate(REPL.SYNC, "orders",
        sync_tail("p", 5, 2, 0))), E.INVALID, "its first offset is past its next")
      assert_error(r:request(OP.REPLICATE, replicate(REPL.SYNC, "orders",
        sync_tail("p", U64_MAX, U64_MAX, U64_MAX))), E.INVALID,
        "the home would drop records it holds")
      assert_log(c, "orders", data)
      assert(cl:await_copies("orders", 5000))
      assert_cluster_alive(cl)
    end)

    it("3. SYNC to the home saying records up to 2^62 are on their way: held back a peer timeout at most, then whole", function()
      local cl = assert(cluster.start { nodes = 2, replicas = 2, flags = { "--peer-timeout", "300" } })
      R.finally(function() cl:close() end)
      assert(cl:await_view(10000))
      local c = assert(cl:client(0))
      local w = cl:where "orders"
      local data = seed(c, "orders", 3)
      assert(c:create_subscriber "reader")
      assert(c:subscribe("reader", "orders"))
      assert.equal(3, #assert(c:pull("reader", "orders")))
      local r = stand_in(cl, w.home, w.replicas[1])
      local f = r:request(OP.REPLICATE, replicate(REPL.SYNC, "orders",
        sync_tail("p", 0, 1 << 62, 0, { { "reader", 1 << 62 } })))
      assert.is_nil(error_of(f))
      assert_error(r:request(OP.PUBLISH, publish_body("p", "orders", "x")), E.UNAVAILABLE,
        ("is being handed to node %d by node %d"):format(w.home, w.replicas[1]))
      -- Nothing comes: the home cuts the hand-over and serves what it has
      -- (the client retries meanwhile); no cursor points past it.
      data[4] = "orders-4"
      assert.equal(3, assert(c:publish("p", "orders", data[4], { ack = "all" })))
      local log = assert(io.open(("%s/node%d.log"):format(cl.dir, w.home))):read("a")
      assert.truthy(log:find('handover_cut.*why="nothing came"'), log)
      assert.same({ data[4] }, (function()
        local got = {}
        for _, m in ipairs(assert(c:pull("reader", "orders"))) do got[#got + 1] = m.data end
        return got
      end)())
      assert_log(c, "orders", data)
      assert(cl:await_copies("orders", 5000))
      assert_cluster_alive(cl)
    end)

    it("4. DELETE from a peer that is not the topic's home: ignored, the topic and its messages intact", function()
      local cl = open_cluster(3, 2)
      local c = assert(cl:client(0))
      local w = cl:where "orders"
      local data = seed(c, "orders", 4)
      local home, replica, other = w.home, w.replicas[1], outsider(cl, w)
      -- {at, as}: to the home from its replica, from the outsider and from
      -- itself; to the replica from the outsider and from itself.
      for _, pair in ipairs { { home, replica }, { home, other }, { home, home },
                              { replica, other }, { replica, replica } } do
        local r = stand_in(cl, pair[1], pair[2])
        local f = r:request(OP.REPLICATE, replicate(REPL.DELETE, "orders"))
        assert.is_nil(error_of(f))
      end
      assert_log(c, "orders", data)
      assert(cl:await_copies("orders", 5000))
      assert.same({ "orders" }, assert(cl:client(other):list_topics("orders")))
      assert_cluster_alive(cl)
    end)

    it("5. COMMIT from a peer that is not the home: ignored; the home's own is clamped; reads from the replica stay right", function()
      local cl = open_cluster(3, 2)
      local c = assert(cl:client(0))
      local w = cl:where "orders"
      local data = seed(c, "orders", 3)
      local home, replica, other = w.home, w.replicas[1], outsider(cl, w)
      for _, as in ipairs { other, replica, home } do
        local r = stand_in(cl, replica, as)
        local f = r:request(OP.REPLICATE, replicate(REPL.COMMIT, "orders",
          string.pack("<I8", 1 << 62)))
        assert.is_nil(error_of(f))
        -- The answer is the copy's next offset: what it holds, no more.
        assert.equal(3, (string.unpack("<I8", f.body)))
      end
      local rc = assert(cl:client(replica))
      local before = assert(rc:stats()).replica_reads
      assert_log(rc, "orders", data)
      data[4] = "orders-4"
      assert.equal(3, assert(c:publish("p", "orders", data[4], { ack = "all" })))
      assert_log(rc, "orders", data)
      assert.is_true(assert(rc:stats()).replica_reads > before)
      assert(cl:await_copies("orders", 5000))
      assert_cluster_alive(cl)
    end)
  end)

  describe("6. a view that marks every member dead", function()
    local function all_dead(v, version)
      local dead = {}
      for i, m in ipairs(v.members) do
        dead[i] = { id = m.id, addr = m.addr, state = "dead", version = version }
      end
      return R.view_body(dead)
    end

    it("at version 2^64-1, past the cap (2^48+1) or at it (2^48): INVALID naming view.version in GOSSIP, HOLDING and AUTH; the cluster serves", function()
      local cl = open_cluster(3, 3)
      local v = assert(assert(cl:client(0)):view())
      local r = stand_in(cl, 0, 1)
      for _, version in ipairs { U64_MAX, (1 << 48) + 1, 1 << 48 } do
        local body = all_dead(v, version)
        assert_error(r:request(OP.GOSSIP, body), E.INVALID,
          'malformed gossip: field "view.version"')
        assert_error(r:request(OP.HOLDING, string.pack("<I8I8", 0, 0) .. body), E.INVALID,
          'malformed holding request: field "view.version"')
        local f = R.peer_auth(cl:addr(2), 1, body, { replicas = 3 })
        assert_error(f, E.INVALID, 'malformed peer view: field "view.version"')
      end
      local c = assert(cl:client(2))
      assert(c:create_publisher "p")
      assert(c:create_topic("p", "after"))
      assert.equal(0, assert(c:publish("p", "after", "m", { ack = "all" })))
      assert_view_whole(cl)
      assert.equal(v.epoch, assert(assert(cl:client(0)):view()).epoch)
      assert_cluster_alive(cl)
    end)

    it("one below the cap (2^48-1): taken, and every member refutes it; the cluster serves", function()
      local cl = open_cluster(3, 3)
      local v = assert(assert(cl:client(0)):view())
      local r = stand_in(cl, 0, 1)
      assert.is_nil(error_of(r:request(OP.GOSSIP, all_dead(v, (1 << 48) - 1))))
      assert(cl:await_view(10000))
      for _, id in ipairs(cl:members()) do
        for _, m in ipairs(assert(assert(cl:client(id)):view()).members) do
          assert.equal(1 << 48, m.version) -- each refuted its own, at the cap
        end
      end
      local c = assert(cl:client(1))
      assert(c:create_publisher "p")
      assert(c:create_topic("p", "after"))
      assert.equal(0, assert(c:publish("p", "after", "m", { ack = "all" })))
      assert_view_whole(cl)
      assert_cluster_alive(cl)
    end)
  end)

  describe("7. ops a client may not send", function()
    it("JOIN with an unreachable address from a client: DENIED, membership unchanged", function()
      local node = R.start_node {}
      local c = R.client(node)
      local v0 = assert(c:view())
      local r = R.raw(node):start_reading()
      r:hello()
      for _, id in ipairs { 0xffffffff, 1, 0 } do
        assert_error(r:request(OP.JOIN, string.pack("<I4s1I4", id, "10.255.255.1:9", 3)),
          E.DENIED, "only peers send join")
      end
      local v = assert(c:view())
      assert.equal(v0.epoch, v.epoch)
      assert.equal(1, #v.members)
      assert.equal("alive", v.members[1].state)
      R.assert_alive(node)
    end)

    it("every peer-only op with a well-formed body from a client: DENIED; REWIND moves no cursor", function()
      local node = R.start_node {}
      local c = R.client(node)
      local data = seed(c, "t", 3)
      assert(c:create_subscriber "s")
      assert(c:subscribe("s", "t"))
      assert.equal(3, #assert(c:pull("s", "t")))
      local view = R.view_body(assert(c:view()).members)
      local r = R.raw(node):start_reading()
      r:hello()
      local bodies = {
        LOOKUP = string.pack("<Bs1", 1, "p"),
        REPLICATE = replicate(REPL.DELETE, "t"),
        HOMED = string.pack("<I4s1", 0, ""),
        REWIND = string.pack("<s1s1I8I8", "s", "t", 0, 3),
        UNPARK = string.pack("<s1s1", "s", "t"),
        PING = string.pack("<I8I8", 0, 0),
        GOSSIP = view,
        READ = string.pack("<I4", 0) .. pull_body("s", "t", 0, 0),
        CLAIM = string.pack("<s1s1I4I8I8I4I8I4", "s", "t", 0, 0, 3, 10, U64_MAX, 0),
        JOIN = string.pack("<I4s1I4", 7, "127.0.0.1:1", 3),
        HOLDING = string.pack("<I8I8", 0, 0) .. view,
      }
      for op, body in pairs(bodies) do
        assert_error(r:request(OP[op], body), E.DENIED, "only peers send " .. op:lower())
      end
      -- The cursor stayed at the end, the topic is whole.
      assert.equal(0, #assert(c:pull("s", "t")))
      assert_log(c, "t", data)
      R.assert_alive(node)
    end)

    it("STOP_NODE and LEAVE from a user who is not an admin: DENIED; an open node's client may stop it", function()
      local dir = assert(uv.fs_mkdtemp("/tmp/hypersub-findings-XXXXXX"))
      R.finally(function() os.execute("rm -rf '" .. dir .. "'") end)
      local users = dir .. "/users.lua"
      local f = assert(io.open(users, "w"))
      f:write(("return { { name = \"bob\", password = %q } }"):format(
        hypersub.password_hash("bob-pw", 1, 8)))
      f:close()
      local node = R.start_node { "--users", users }
      local bob = assert(hypersub.connect(node.addr, { user = "bob", password = "bob-pw" }))
      R.finally(function() bob:close() end)
      local ok, msg, code = bob:stop_node(node.id)
      assert.is_nil(ok)
      assert.equal("DENIED", code)
      assert.truthy(msg:find('user "bob" may not stop_node', 1, true), msg)
      ok, msg, code = bob:leave(node.id)
      assert.is_nil(ok)
      assert.equal("DENIED", code)
      assert.truthy(msg:find('user "bob" may not leave', 1, true), msg)
      local v = assert(bob:view())
      assert.equal("alive", v.members[1].state)
      R.assert_alive(node)
      -- An open node: its clients run it (README, Security).
      local open = R.start_node {}
      assert(R.client(open):stop_node(open.id))
      assert(process.wait_until(function() return open.exited end, R.WAIT, "the open node to stop"))
      assert.equal(0, open.code)
    end)
  end)

  it("8. an id alive elsewhere, and a node without --id, on an open cluster: EXISTS, exit non-zero, the view unchanged", function()
    local cl = open_cluster(2, 2)
    local epoch = assert(assert(cl:client(0)):view()).epoch
    local quick = { "--dead-ms", "300", "--suspect-ms", "200", "--replicas", "2" }
    local function run(flags)
      for _, fl in ipairs(quick) do flags[#flags + 1] = fl end
      return R.node_cli(flags)
    end
    local code, err = run { "--id", "1", "--listen", free_addr(), "--peer", "0=" .. cl:addr(0) }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("EXISTS", 1, true) and
      err:find("node 1 is alive at " .. cl:addr(1), 1, true), err)
    -- No --id: the node is 0, which is alive at another address.
    code, err = run { "--listen", free_addr(), "--peer", "1=" .. cl:addr(1) }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("EXISTS", 1, true) and
      err:find("node 0 is alive at " .. cl:addr(0), 1, true), err)
    assert_view_whole(cl)
    assert.equal(epoch, assert(assert(cl:client(1)):view()).epoch)
    assert_cluster_alive(cl)
  end)

  it("9. names that break the rules in REPLICATE (identities, owner, cursors, records): INVALID naming the field", function()
    local node = R.start_node {}
    local c = R.client(node)
    local data = seed(c, "t", 2)
    local p = R.peer(node, 0, R.view_body(assert(c:view()).members))
    local cases = {
      { "name", function(bad) return replicate(REPL.PUBLISHER, bad) end },
      { "name", function(bad) return replicate(REPL.SUBSCRIBER, bad) end },
      { "owner", function(bad) return replicate(REPL.SYNC, "t", sync_tail(bad, 0, 2, 2)) end },
      { "cursor.subscriber", function(bad)
          return replicate(REPL.SYNC, "t", sync_tail("p", 0, 2, 2, { { "ok", 0 }, { bad, 1 } }))
        end },
      { "subscriber", function(bad)
          return replicate(REPL.CURSOR, "t", string.pack("<s1I8I8", bad, 0, 0))
        end },
      { "record.publisher", function(bad)
          return replicate(REPL.APPEND, "t", string.pack("<I8I8I8I4I8s1I8I8s4", 2, 2, 1, 1, 0, bad, 0, 0, "x"))
        end },
    }
    for _, bad in ipairs { "", "a b", 'a"b', "a\\b", "a\0b", "\127" } do
      for _, case in ipairs(cases) do
        assert_error(p:request(OP.REPLICATE, case[2](bad)), E.INVALID,
          ('malformed replicate request: field "%s"'):format(case[1]))
      end
    end
    -- Nothing of theirs was stored: the listing and the log are as they were.
    assert.same({ "t" }, assert(c:list_topics("")))
    assert_log(c, "t", data)
    R.assert_serves(node, "names")
    R.assert_alive(node)
  end)

  it("10. a slow reader with parked pulls, woken by 1 MiB publishes over its max_output: dropped, the node serves (was a use after free)", function()
    -- The answers one wake-up writes pile up in the connection's output
    -- before any of it is sent (the flusher writes once per loop turn), so
    -- the second 1 MiB answer of a walk is over 1114112 bytes whatever the
    -- socket holds: the drop comes in the middle of the walk, with more of
    -- the connection's waiters after it on the same topic and on another.
    local node = R.start_node { "--max-payload", tostring(MIB), "--max-output", "1114112" }
    local c = R.client(node)
    assert(c:create_publisher "p")
    assert(c:create_topic("p", "t1"))
    assert(c:create_topic("p", "t2"))
    local r = R.raw(node):start_reading()
    r:hello()
    local parked = { { "s1", "t1" }, { "s2", "t1" }, { "s3", "t1" }, { "s1", "t2" }, { "s2", "t2" } }
    for i = 1, 3 do
      assert.is_nil(error_of(r:request(OP.CREATE_SUBSCRIBER, string.pack("<s1", "s" .. i))))
    end
    for _, k in ipairs(parked) do
      assert.is_nil(error_of(r:request(OP.SUBSCRIBE, string.pack("<s1s1BI8", k[1], k[2], 0, 0))))
    end
    r.tcp:read_stop()
    for i, k in ipairs(parked) do
      r:send(frame(OP.PULL, 100 + i, pull_body(k[1], k[2], 1, 5000)))
    end
    R.wait_stats(c, function(s) return s.pull_waiting == #parked end, "the pulls parked")
    local big = string.rep("m", MIB)
    assert.equal(0, assert(c:publish("p", "t1", big, { ack = "home" })))
    R.wait_stats(c, function(s) return s.connections_dropped_slow == 1 end,
      "the slow reader dropped")
    assert.equal(0, assert(c:publish("p", "t2", big, { ack = "home" })))
    local st = R.wait_stats(c, function(s) return s.pull_waiting == 0 end, "no pull left parked")
    assert.equal(1, st.connections_dropped_slow)
    assert(process.wait_until(function()
      return (node.stderr or ""):find("dropped_slow_reader", 1, true) ~= nil
    end, R.WAIT, "the drop in the node's log"))
    assert(c:create_subscriber "fresh")
    assert(c:subscribe("fresh", "t2"))
    assert.equal(MIB, #assert(c:pull("fresh", "t2"))[1].data)
    R.assert_serves(node, "after-slow")
    R.assert_alive(node)
  end)

  it("11. a forwarded request with hops 255: answered with the hop limit, not wrapped; the node serves", function()
    local cl = open_cluster(3, 2)
    local c = assert(cl:client(0))
    assert(c:create_publisher "p")
    local away, here
    for i = 1, 100 do
      local home = cl:home("t" .. i)
      if home ~= 0 and not away then away = "t" .. i end
      if home == 0 and not here then here = "t" .. i end
    end
    assert(c:create_topic("p", away))
    assert(c:create_topic("p", here))
    local r = stand_in(cl, 0, 1)
    for _, hops in ipairs { 255, 254, 6 } do
      local f = r:request(OP.PUBLISH, string.pack("<B", hops) .. publish_body("p", away, "x"),
        { flags = F_ROUTED })
      assert.equal(F_REPLY | F_ERROR, f.flags)
      assert_error(f, E.UNAVAILABLE, ("no route to node %d within 6 hops"):format(cl:home(away)))
    end
    -- Where the request has arrived, the count does not matter.
    local f = r:request(OP.PUBLISH, string.pack("<B", 255) .. publish_body("p", here, "y"),
      { flags = F_ROUTED })
    assert.is_nil(error_of(f))
    assert.equal(0, (string.unpack("<I8", f.body)))
    assert.equal(0, assert(c:publish("p", away, "z", { ack = "all" })))
    assert_cluster_alive(cl)
    -- A limit a u8 count could not pass is not an option.
    local code, err = R.node_cli { "--hop-limit", "255", "--listen", free_addr() }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("--hop-limit needs an integer in 0..254", 1, true), err)
  end)

  it("12. a node answering HELLO with max_frame 0xFFFFFFFF: the client caps it, a 4 GiB reply header closes the connection", function()
    -- A fake node: a luv server that answers HELLO, VIEW and PUBLISH.
    local server, conns = uv.new_tcp(), {}
    R.finally(function()
      for _, h in ipairs(conns) do if not h:is_closing() then h:close() end end
      if not server:is_closing() then server:close() end
      uv.run("nowait") -- the close callbacks, before the state can close
    end)
    assert(server:bind("127.0.0.1", 0))
    local giant, hung_up, publishes = false, false, 0
    local function reply(s, op, id, body)
      s:write(frame(op, id, body, { flags = F_REPLY }))
    end
    server:listen(8, function()
      local s = uv.new_tcp()
      conns[#conns + 1] = s
      server:accept(s)
      local buf = ""
      s:read_start(function(err, data)
        if not data then hung_up = true return end
        buf = buf .. data
        while #buf >= R.HEADER_LEN do
          local len, _, op, _, id = string.unpack(R.HEADER, buf)
          if #buf < len + 4 then break end
          buf = buf:sub(len + 5)
          if op == OP.HELLO then
            reply(s, op, id, string.pack("<I4I4B", 9, 0xffffffff, 0) ..
              string.rep("n", 16) .. string.rep("s", 16) .. string.pack("<I4I4", 0, 0))
          elseif op == OP.VIEW then
            reply(s, op, id, string.pack("<s4", '{"epoch":0,"members":[]}'))
          elseif op == OP.PUBLISH and giant then
            giant = false
            s:write(string.pack(R.HEADER, 0xfffffff0, hypersub.wire_version, op, F_REPLY, id))
          elseif op == OP.PUBLISH then
            publishes = publishes + 1
            reply(s, op, id, string.pack("<I8", publishes - 1))
          end
        end
      end)
    end)
    local addr = "127.0.0.1:" .. server:getsockname().port
    local c = assert(hypersub.connect(addr, { timeout = 3000 }))
    R.finally(function() c:close() end)
    assert.equal(9, c.node_id)
    assert.equal(0, assert(c:publish("p", "t", "small")))
    -- A reply that says it is 4 GiB long: the client hangs up at once
    -- instead of waiting for (and buffering) it.
    giant = true
    local off, msg, code = c:publish("p", "t", "again")
    assert(process.wait_until(function() return hung_up end, R.WAIT, "the client hanging up"))
    if off == nil then
      assert.truthy(code == "CLOSED" or code == "PROTOCOL" or code == "UNAVAILABLE", msg)
    else
      assert.equal(1, off) -- sent again on a new connection and answered
    end
  end)
end)
