-- What a stranger can make a node hold has a limit and a clear error:
-- time and sockets in the handshake, client and peer connections in their
-- own budgets, parked long polls per connection and per node, a pull's
-- wait, topics, identities, subscriptions, and replies that would pass a
-- frame. Real `hypersub node` processes; raw frames where the bytes
-- matter (spec/support/raw.lua).
local hypersub = require "hypersub"
local process = require "hypersub.process"
local cluster = require "hypersub.cluster"

local R = require "support.raw"
local OP, E, frame, error_of = R.OP, R.E, R.frame, R.error_of

-- A raw peer asking to join (id ANY) past AUTH on an open node.
local function raw_peer(node)
  local r = R.raw(node):start_reading()
  local f = r:request(OP.HELLO, R.peer_hello_body(0xffffffff))
  local code, msg = error_of(f)
  if code then return nil, code, msg end
  assert.is_nil(error_of(r:request(OP.AUTH, string.pack("<s1", ""))))
  return r
end

local function expect_error(code, words, ok, msg, name)
  assert.is_nil(ok)
  assert.equal(code, name)
  assert.truthy(msg:find(words, 1, true), msg)
end

describe("limits #security", function()
  after_each(R.cleanup)

  it("a connection silent past handshake_ms is closed; one that says HELLO in time stays", function()
    local node = R.start_node { "--handshake-ms", "300" }
    local idle = R.raw(node):start_reading()
    local talker = R.raw(node):start_reading()
    talker:hello()
    assert(idle:wait_closed())
    local c = R.client(node)
    local st = R.wait_stats(c, function(s) return s.handshake_timeouts == 1 end, "the timeout")
    assert.equal(1, st.handshake_timeouts)
    assert.is_false(talker.closed)
    assert.is_nil(error_of(talker:request(OP.STATS, "")))
    R.assert_alive(node)
  end)

  it("past max_handshakes a new connection closes the oldest still in its handshake", function()
    local node = R.start_node { "--max-handshakes", "3" }
    local idle = {}
    for i = 1, 3 do idle[i] = R.raw(node):start_reading() end
    local fourth = R.raw(node):start_reading()
    assert(idle[1]:wait_closed())
    fourth:hello() -- the newest got in
    local c = R.client(node)
    local st = R.wait_stats(c, function(s) return s.handshakes_evicted == 1 end, "the eviction")
    assert.equal(1, st.handshakes_evicted)
    assert.is_false(idle[2].closed or idle[3].closed)
    R.assert_serves(node, "after-evictions")
  end)

  it("clients and peers have budgets of their own", function()
    local node = R.start_node { "--max-connections", "1", "--max-peer-connections", "1" }
    local c = R.client(node)
    -- the client budget is full, yet a peer gets in
    assert(raw_peer(node))
    -- and the peer budget is full now
    local none, code, msg = raw_peer(node)
    assert.is_nil(none)
    assert.equal(E.UNAVAILABLE, code)
    assert.truthy(msg:find("1 peer connections at most (max_peer_connections)", 1, true), msg)
    expect_error("UNAVAILABLE", "max_connections", hypersub.connect(node.addr, { timeout = 2000 }))
    assert(c:stats())
    R.assert_alive(node)
  end)

  it("parked long polls: LIMIT per connection and per node; a pull's wait is cut to max_wait_ms", function()
    local node = R.start_node { "--max-parked-per-connection", "2", "--max-parked", "3",
      "--max-wait-ms", "200" }
    local c = R.client(node)
    assert(c:create_publisher "p")
    assert(c:create_subscriber "s")
    for _, t in ipairs { "a", "b", "c", "d" } do
      assert(c:create_topic("p", t))
      assert(c:subscribe("s", t))
    end
    -- a wait of a minute comes back empty, well before the client's timeout
    local quick = assert(hypersub.connect(node.addr, { timeout = 3000 }))
    R.finally(function() quick:close() end)
    assert.same({}, assert(quick:pull("s", "a", { wait = 60000 })))

    local r = R.raw(node):start_reading()
    r:hello()
    local function park(id, topic)
      r:send(frame(OP.PULL, id, string.pack("<s1s1I4I8I4", "s", topic, 0, -1, 5000)))
    end
    park(101, "a")
    park(102, "b")
    park(103, "c") -- a third on this connection
    local f = assert(r:next_frame())
    local code, msg = error_of(f)
    assert.equal(103, f.id)
    assert.equal(E.LIMIT, code)
    assert.truthy(msg:find("max_parked_per_connection", 1, true), msg)
    -- one more elsewhere fills the node; the next is refused
    local other = R.raw(node):start_reading()
    other:hello()
    other:send(frame(OP.PULL, 201, string.pack("<s1s1I4I8I4", "s", "c", 0, -1, 5000)))
    other:send(frame(OP.PULL, 202, string.pack("<s1s1I4I8I4", "s", "d", 0, -1, 5000)))
    f = assert(other:next_frame())
    code, msg = error_of(f)
    assert.equal(202, f.id)
    assert.equal(E.LIMIT, code)
    assert.truthy(msg:find("max_parked", 1, true), msg)
    local st = assert(c:stats())
    assert.equal(3, st.pull_waiting)
    assert.equal(2, st.limit_refusals)
    R.assert_alive(node)
  end)

  it("topics, identities and subscriptions stop at their limits with LIMIT", function()
    local node = R.start_node { "--max-topics", "2", "--max-identities", "3",
      "--max-subscriptions", "1" }
    local c = R.client(node)
    assert(c:create_publisher "p")
    assert(c:create_subscriber "s1")
    assert(c:create_subscriber "s2")
    expect_error("LIMIT", "holds 3 publishers and subscribers, its limit (max_identities)",
      c:create_subscriber "s3")
    assert(c:create_topic("p", "t1"))
    assert(c:create_topic("p", "t2"))
    expect_error("LIMIT", "max_topics", c:create_topic("p", "t3"))
    assert(c:subscribe("s1", "t1"))
    assert(c:subscribe("s1", "t1")) -- again: no new subscription
    expect_error("LIMIT", "max_subscriptions", c:subscribe("s2", "t1"))
    assert(c:delete_topic("p", "t1")) -- its subscription goes with it
    assert(c:subscribe("s2", "t2"))
    R.assert_alive(node)
  end)

  it("a listing that would pass a frame is TOO_LARGE; a narrower prefix is answered", function()
    -- max_payload 1024: frames of 65 KiB + 1 KiB, replies of about 65 KiB
    local node = R.start_node { "--max-payload", "1024", "--max-output", "1048576" }
    local c = R.client(node)
    assert(c:create_publisher "p")
    local pad = ("x"):rep(200)
    local left = 400
    for i = 1, 400 do
      c:create_topic("p", ("%s.%s.%d"):format(i % 2 == 0 and "even" or "odd", pad, i),
        function(ok, msg) assert(ok, msg) left = left - 1 end)
    end
    assert(process.wait_until(function() return left == 0 end, R.WAIT, "400 topics"))
    expect_error("TOO_LARGE", "list a narrower prefix", c:list_topics())
    assert.equal(200, #assert(c:list_topics "even."))
    local mine = assert(c:local_topics())
    assert.is_true(mine.more) -- LOCAL answers what fits, and says so
    assert.truthy(#mine.topics > 0 and #mine.topics < 400)
    R.assert_alive(node)
  end)

  it("a restarted member learns its identities back over several HOLDING pages", function()
    -- Frames of about 65 KiB: 800 publishers of 200 bytes take three
    -- pages. The restart comes before anyone thinks the node dead, so the
    -- view does not change and HOLDING alone brings them back.
    local cl = assert(cluster.start { nodes = 2, replicas = 2,
      flags = { "--max-payload", "1024", "--max-output", "1048576",
        "--suspect-ms", "30000", "--dead-ms", "60000" } })
    R.finally(function() cl:close() end)
    assert(cl:await_view(10000))
    local c = assert(cl:client(0))
    local left = 800
    for i = 1, 800 do
      c:create_publisher(("pub%03d."):format(i) .. ("y"):rep(190),
        function(ok, msg) assert(ok, msg) left = left - 1 end)
    end
    assert(process.wait_until(function() return left == 0 end, R.WAIT, "800 publishers"))
    R.wait_stats(assert(cl:client(1)), function(s) return s.publishers == 800 end,
      "800 publishers on node 1")
    cl:kill(1)
    assert(cl:restart(1))
    local st = R.wait_stats(assert(cl:client(1)), function(s) return s.publishers == 800 end,
      "800 publishers back on node 1")
    assert.equal(800, st.publishers)
  end)
end)
