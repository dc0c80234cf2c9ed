-- Who may talk to a node: peers prove the cluster key (a mutual challenge
-- over fresh nonces, bound to both ids), clients log in as a user, and
-- each user has topic permissions and may or may not run the node. Real
-- `hypersub node` processes; raw frames (spec/support/raw.lua) where the
-- bytes matter: a forged proof, a replayed handshake, peer ops from a
-- client, an impostor id.
local uv = require "luv"
local hypersub = require "hypersub"
local process = require "hypersub.process"
local cluster = require "hypersub.cluster"

local R = require "support.raw"
local OP, E, frame, error_of = R.OP, R.E, R.frame, R.error_of

local dir -- this spec's files: keys, users
local function write(name, text)
  local path = dir .. "/" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

local function random_key(name)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(32)
  f:close()
  return write(name, (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end)))
end

-- The users file: alice runs the node; bob publishes under orders. but not
-- orders.secret, and subscribes to anything but audit.>.
local ALICE, BOB = "alice-pw", "bob-pw"
local function users_file()
  return write("users.lua", ([[
return {
  { name = "alice", password = %q, admin = true },
  { name = "bob", password = %q,
    publish = { allow = { "orders.>", "bob" }, deny = { "orders.secret" } },
    subscribe = { deny = { "audit.>" } } },
}]]):format(hypersub.password_hash(ALICE, 1, 8), hypersub.password_hash(BOB, 1, 8)))
end

local node_cli = require("support.raw").node_cli

local function free_addr() return "127.0.0.1:" .. cluster.free_ports(1)[1] end

describe("trust #security", function()
  local cl
  before_each(function() dir = assert(uv.fs_mkdtemp("/tmp/hypersub-auth-XXXXXX")) end)
  after_each(function()
    if cl then cl:close() cl = nil end
    R.cleanup()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  describe("peers", function()
    it("a cluster with a key forms, replicates and fails over as one without", function()
      local key = random_key("key")
      cl = assert(cluster.start { nodes = 3, replicas = 3, flags = { "--cluster-key", key } })
      assert(cl:await_view(10000))
      local c = assert(cl:client(0))
      assert(c:create_publisher "p")
      assert(c:create_topic("p", "t"))
      assert.equal(0, assert(c:publish("p", "t", "one", { ack = "all" })))
      assert.equal(3, assert(cl:join()))
      assert(cl:await_view(10000))
    end)

    it("a node with another key, or none, cannot join: DENIED, and the cluster is unchanged", function()
      local key = random_key("key")
      cl = assert(cluster.start { nodes = 2, replicas = 2, flags = { "--cluster-key", key } })
      assert(cl:await_view(10000))
      local epoch = assert(assert(cl:client(0)):view()).epoch
      local code, err = node_cli { "--join", cl:addr(0), "--listen", free_addr(),
        "--replicas", "2", "--cluster-key", random_key("other") }
      assert.are_not.equal(0, code)
      assert.truthy(err:find("DENIED", 1, true) and err:find("cluster key", 1, true), err)
      code, err = node_cli { "--join", cl:addr(0), "--listen", free_addr(), "--replicas", "2" }
      assert.are_not.equal(0, code)
      assert.truthy(err:find("cluster key", 1, true), err)
      local v = assert(assert(cl:client(1)):view())
      assert.equal(2, #v.members)
      assert.equal(epoch, v.epoch)
    end)

    it("a forged proof is refused and the connection closed; the node logs who tried", function()
      local node = R.start_node { "--cluster-key", random_key("key") }
      local f, r = R.peer_auth(node, 7, nil, { proof = string.rep("x", 32) })
      local code, msg = error_of(f)
      assert.equal(E.DENIED, code)
      assert.truthy(msg:find("node 7 did not prove the cluster key", 1, true), msg)
      assert(r:wait_closed())
      -- no proof at all, and one of the wrong length
      for _, proof in ipairs { "", "short" } do
        f = R.peer_auth(node, 7, nil, { proof = proof })
        assert.equal(E.DENIED, (error_of(f)))
      end
      R.assert_serves(node, "after-forgery")
      R.assert_alive(node)
    end)

    it("a recorded handshake replayed on a new connection is refused (the node's nonce is fresh)", function()
      local key = random_key("key")
      local a = R.start_node { "--cluster-key", key, "--replicas", "1" }
      -- A proxy in front of a records what the joining node sends it.
      local server, recorded, conns = uv.new_tcp(), "", {}
      assert(server:bind("127.0.0.1", 0))
      server:listen(8, function()
        local down, up = uv.new_tcp(), uv.new_tcp()
        conns[#conns + 1], conns[#conns + 2] = down, up
        server:accept(down)
        up:connect("127.0.0.1", a.port, function(err)
          if err then down:close() return end
          down:read_start(function(_, data)
            if data then recorded = recorded .. data up:write(data) end
          end)
          up:read_start(function(_, data) if data then down:write(data) end end)
        end)
      end)
      local via = "127.0.0.1:" .. server:getsockname().port
      local b = R.start_node { "--join", via, "--cluster-key", key, "--replicas", "1" }
      assert.equal(1, b.id)
      server:close()
      for _, h in ipairs(conns) do if not h:is_closing() then h:close() end end
      -- The first two frames the joiner sent: its HELLO and its AUTH.
      local frames, pos = {}, 1
      while #frames < 2 do
        local len = string.unpack("<I4", recorded, pos)
        frames[#frames + 1] = recorded:sub(pos, pos + len + 3)
        pos = pos + len + 4
      end
      assert.equal(OP.HELLO, frames[1]:byte(6))
      assert.equal(OP.AUTH, frames[2]:byte(6))
      local r = R.raw(a):start_reading()
      r:send(frames[1])
      assert.is_nil(error_of(assert(r:next_frame())))
      r:send(frames[2])
      local f = assert(r:next_frame())
      local code, msg = error_of(f)
      assert.equal(E.DENIED, code)
      assert.truthy(msg:find("did not prove the cluster key", 1, true), msg)
      assert(r:wait_closed())
      R.assert_alive(a)
    end)

    it("an id alive at another address is refused (EXISTS) and the impostor stops", function()
      local key = random_key("key")
      cl = assert(cluster.start { nodes = 2, replicas = 2, flags = { "--cluster-key", key } })
      assert(cl:await_view(10000))
      -- node 1 again, elsewhere, naming node 0 as its peer
      local code, err = node_cli { "--id", "1", "--listen", free_addr(), "--replicas", "2",
        "--peer", "0=" .. cl:addr(0), "--cluster-key", key, "--dead-ms", "300",
        "--suspect-ms", "200" }
      assert.are_not.equal(0, code)
      assert.truthy(err:find("EXISTS", 1, true) and err:find("node 1 is alive at " .. cl:addr(1), 1, true), err)
      local v = assert(assert(cl:client(0)):view())
      for _, m in ipairs(v.members) do
        assert.equal("alive", m.state)
        assert.equal(cl:addr(m.id), m.addr)
      end
    end)

    it("a restarted member (new incarnation, same address) is taken back", function()
      local key = random_key("key")
      cl = assert(cluster.start { nodes = 2, replicas = 2, flags = { "--cluster-key", key } })
      assert(cl:await_view(10000))
      cl:kill(1)
      assert(cl:restart(1))
      assert(cl:await_view(10000))
    end)
  end)

  describe("clients", function()
    local node
    before_each(function() node = R.start_node { "--users", users_file() } end)

    local function login(user, pw)
      local c, msg, code = hypersub.connect(node.addr, { user = user, password = pw })
      if c then R.finally(function() c:close() end) end
      return c, msg, code
    end

    it("must log in: no user, an unknown user and a wrong password are DENIED", function()
      local c, msg, code = hypersub.connect(node.addr)
      assert.is_nil(c)
      assert.equal("DENIED", code)
      assert.truthy(msg:find("serves users only", 1, true), msg)
      c, msg, code = login("mallory", "x")
      assert.is_nil(c)
      assert.equal("DENIED", code)
      assert.truthy(msg:find('user "mallory" is unknown', 1, true), msg)
      c, msg, code = login("bob", "not-bob")
      assert.is_nil(c)
      assert.equal("DENIED", code)
      assert.truthy(msg:find('user "bob": wrong password', 1, true), msg)
      assert(login("bob", BOB))
      R.assert_alive(node)
    end)

    it("publish and subscribe follow the user's patterns; DENIED names user, op and topic", function()
      local bob = assert(login("bob", BOB))
      assert(bob:create_publisher "bob")
      assert(bob:create_topic("bob", "orders.eu"))
      assert.equal(0, assert(bob:publish("bob", "orders.eu", "m")))
      local ok, msg, code = bob:create_topic("bob", "orders.secret")
      assert.is_nil(ok)
      assert.equal("DENIED", code)
      assert.truthy(msg:find('user "bob"', 1, true) and msg:find("orders.secret", 1, true)
        and msg:find("publish", 1, true), msg)
      ok, msg, code = bob:create_topic("bob", "news")
      assert.equal("DENIED", code)
      local alice = assert(login("alice", ALICE))
      assert(alice:create_publisher "alice")
      assert(alice:create_topic("alice", "audit.log"))
      assert(bob:create_subscriber "bob-sub")
      assert(bob:subscribe("bob-sub", "orders.eu"))
      ok, msg, code = bob:subscribe("bob-sub", "audit.log")
      assert.is_nil(ok)
      assert.equal("DENIED", code)
      assert.truthy(msg:find('user "bob"', 1, true) and msg:find("audit.log", 1, true)
        and msg:find("subscribe", 1, true), msg)
      -- A read by offset needs the subscribe right too.
      assert.equal(1, #assert(bob:fetch("orders.eu", 0)))
      ok, msg, code = bob:fetch("audit.log", 0)
      assert.is_nil(ok)
      assert.equal("DENIED", code)
      assert.truthy(msg:find("audit.log", 1, true) and msg:find("(fetch)", 1, true), msg)
    end)

    it("only an admin may stop the node", function()
      local bob = assert(login("bob", BOB))
      local ok, msg, code = bob:stop_node(node.id)
      assert.is_nil(ok)
      assert.equal("DENIED", code)
      assert.truthy(msg:find('user "bob"', 1, true), msg)
      R.assert_alive(node)
      local alice = assert(login("alice", ALICE))
      assert(alice:stop_node(node.id))
      assert(process.wait_until(function() return node.exited end, 5000, "the node to exit"))
    end)
  end)

  it("peer-only ops on a client connection are DENIED and change nothing", function()
    local node = R.start_node {}
    local c = R.client(node)
    assert(c:create_publisher "p")
    assert(c:create_topic("p", "t"))
    assert.equal(0, assert(c:publish("p", "t", "kept")))
    local r = R.raw(node):start_reading()
    r:hello()
    for _, op in ipairs { "LOOKUP", "REPLICATE", "HOMED", "REWIND", "UNPARK", "READ",
                          "CLAIM", "JOIN", "PING", "GOSSIP", "HOLDING", "SPREAD",
                          "PROBE", "RELEASE" } do
      local f = r:request(OP[op], string.rep("\0", 40))
      local code, msg = error_of(f)
      assert.equal(E.DENIED, code, op)
      assert.truthy(msg:find("peer", 1, true), op .. ": " .. tostring(msg))
    end
    assert(c:create_subscriber "s")
    assert(c:subscribe("s", "t"))
    local msgs = assert(c:pull("s", "t"))
    assert.equal(1, #msgs)
    assert.equal("kept", msgs[1].data)
    R.assert_alive(node)
  end)

  it("a node says at start whom it is open to", function()
    local function said(node, pattern)
      return process.wait_until(function()
        return (node.stderr or ""):find(pattern) ~= nil
      end, R.WAIT, pattern)
    end
    assert(said(R.start_node {}, 'node_open to="clients and peers"'))
    assert(said(R.start_node { "--cluster-key", random_key("key") }, 'node_open to="clients"'))
    assert(said(R.start_node { "--users", users_file() }, 'node_open to="peers"'))
    local closed = R.start_node { "--users", users_file(), "--cluster-key", random_key("key2") }
    assert(said(closed, "node_started"))
    assert.is_nil(closed.stderr:find("node_open", 1, true))
  end)
end)
