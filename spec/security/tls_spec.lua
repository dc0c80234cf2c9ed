-- TLS on the wire: a cluster whose members hold certificates from one CA
-- serves clients and peers over TLS only and links to its members over
-- mutual TLS. A plaintext client, a plaintext peer, a peer with a
-- certificate from another CA and a peer with no certificate are refused;
-- the cluster is unchanged. Certificates are made here with the openssl
-- command (IP 127.0.0.1 in each).
local uv = require "luv"
local hypersub = require "hypersub"
local process = require "hypersub.process"
local cluster = require "hypersub.cluster"

local R = require "support.raw"

local dir
local function sh(cmd)
  local ok = os.execute("(" .. cmd .. ") >/dev/null 2>&1")
  assert(ok, "failed: " .. cmd)
end

-- A CA named `ca` and a certificate `name` it signs, for 127.0.0.1.
local function make_ca(ca)
  sh(("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    .. "-nodes -keyout %s.key -out %s.pem -days 1 -subj /CN=%s"):format(dir, ca, ca, ca))
end
local function make_cert(ca, name)
  local ext = dir .. "/" .. name .. ".ext"
  local f = assert(io.open(ext, "w"))
  f:write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
  f:close()
  sh(("cd '%s' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
    .. "-keyout %s.key -out %s.csr -subj /CN=%s && openssl x509 -req -in %s.csr -CA %s.pem "
    .. "-CAkey %s.key -CAcreateserial -out %s.pem -days 1 -extfile %s.ext")
    :format(dir, name, name, name, name, ca, ca, name, name))
end
local function tls_flags(ca, name)
  return { "--tls-cert", dir .. "/" .. name .. ".pem", "--tls-key", dir .. "/" .. name .. ".key",
    "--tls-ca", dir .. "/" .. ca .. ".pem" }
end
local function free_addr() return "127.0.0.1:" .. cluster.free_ports(1)[1] end

describe("TLS #security", function()
  local cl
  setup(function()
    dir = assert(uv.fs_mkdtemp("/tmp/hypersub-tls-XXXXXX"))
    make_ca("ca")
    make_cert("ca", "node")
    make_ca("other")
    make_cert("other", "stranger")
  end)
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)
  after_each(function()
    if cl then cl:close() cl = nil end
    R.cleanup()
  end)

  local function tls_cluster(n)
    cl = assert(cluster.start { nodes = n, replicas = 3, flags = tls_flags("ca", "node"),
      client = { tls = { ca = dir .. "/ca.pem" } } })
    assert(cl:await_view(10000))
    return cl
  end

  it("a cluster over mutual TLS replicates, fails over and takes a new member", function()
    tls_cluster(4)
    local c = assert(cl:client(0))
    assert(c:create_publisher "p")
    assert(c:create_topic("p", "secret"))
    assert(c:create_subscriber "s")
    assert(c:subscribe("s", "secret"))
    for i = 1, 50 do assert(c:publish("p", "secret", "m" .. i, { ack = "all" })) end
    cl:kill(cl:home "secret")
    local other = assert(cl:client())
    local got = {}
    assert(process.wait_until(function()
      local msgs = other:pull("s", "secret", { max = 100 })
      for _, m in ipairs(msgs or {}) do got[#got + 1] = m.data end
      return #got >= 50
    end, 10000, "the 50 messages after the home's SIGKILL"))
    assert.equal("m50", got[50])
    assert.equal(4, assert(cl:join()))
    assert(cl:await_view(10000))
  end)

  it("a plaintext client is told the port speaks TLS; a client trusting another CA is refused", function()
    tls_cluster(1)
    local c, msg, code = hypersub.connect(cl:addr(0), { timeout = 3000 })
    assert.is_nil(c)
    assert.truthy(code == "PROTOCOL" or code == "UNAVAILABLE", code)
    assert.truthy(msg:find("speaks TLS", 1, true), msg)
    c, msg = hypersub.connect(cl:addr(0), { timeout = 3000, tls = { ca = dir .. "/other.pem" } })
    assert.is_nil(c)
    assert.truthy(msg:find("certificate", 1, true), msg)
    assert(assert(cl:client(0)):stats())
  end)

  it("a plaintext peer and a peer with another CA's certificate cannot join", function()
    tls_cluster(2)
    local epoch = assert(assert(cl:client(0)):view()).epoch
    local code, err = R.node_cli { "--join", cl:addr(0), "--listen", free_addr(), "--replicas", "3" }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("TLS", 1, true), err)
    local flags = { "--join", cl:addr(0), "--listen", free_addr(), "--replicas", "3" }
    for _, f in ipairs(tls_flags("other", "stranger")) do flags[#flags + 1] = f end
    code, err = R.node_cli(flags)
    assert.are_not.equal(0, code)
    assert.truthy(err:find("certificate", 1, true), err)
    local v = assert(assert(cl:client(1)):view())
    assert.equal(2, #v.members)
    assert.equal(epoch, v.epoch)
  end)

  it("a peer that shows no certificate is refused at HELLO (DENIED)", function()
    tls_cluster(1)
    -- openssl s_client: TLS without a client certificate, raw bytes through
    local p = process.spawn("openssl", { "s_client", "-quiet", "-connect", cl:addr(0),
      "-CAfile", dir .. "/ca.pem" }, { stdin_pipe = true })
    R.finally(function() p:close() end)
    local hello = R.frame(R.OP.HELLO, 1, R.peer_hello_body(0xffffffff))
    p.in_pipe:write(hello)
    local out = ""
    p.out_pipe:read_stop()
    p.out_pipe:read_start(function(_, data) if data then out = out .. data end end)
    assert(process.wait_until(function() return #out >= 12 end, R.WAIT, "the HELLO answer"))
    local code, msg = R.error_of({ flags = string.unpack("<H", out, 7), body = out:sub(13) })
    assert.equal(R.E.DENIED, code)
    assert.truthy(msg:find("mutual TLS", 1, true), msg)
  end)
end)
