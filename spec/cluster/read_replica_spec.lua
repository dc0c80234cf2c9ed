-- Pulls served by any copy of a topic: the copy sends the records from its
-- own log while the home alone moves the cursor (a CLAIM), so whichever
-- copy serves, a subscriber sees the home's sequence, across a failover
-- too.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

local POLICY = "examples/policy_read_replicas.lua"

local function pull_until(c, sid, topic, n, got)
  got = got or {}
  local deadline = uv.now() + 20000
  while #got < n do
    assert(uv.now() < deadline, ("only %d of %d pulled"):format(#got, n))
    for _, m in ipairs(assert(c:pull(sid, topic, { max = 37, wait = 500 }))) do
      got[#got + 1] = m
    end
  end
  return got
end

local function sum(cl, field)
  local total = 0
  for _, n in ipairs(cl:nodes()) do
    if n.alive then total = total + assert(cl:client(n.id):stats())[field] end
  end
  return total
end

local function assert_dense(got, n, name)
  assert.equal(n, #got, name)
  for i, m in ipairs(got) do
    assert.equal(i - 1, m.offset, name)
    assert.equal("r-" .. i, m.data, name)
  end
end

describe("read replicas #cluster", function()
  local cl
  after_each(function()
    if cl then
      cl:close()
      assert(cl:check())
      cl = nil
    end
  end)

  it("by default a copy serves the pulls entering at it, and every copy's subscriber sees the same sequence", function()
    cl = assert(cluster.start { nodes = 8, replicas = 3 })
    local topic = "spread"
    local w = cl:where(topic)
    local copies = { w.home, w.replicas[1], w.replicas[2] }
    local pub = assert(cl:client(copies[1]))
    assert(pub:create_publisher "rp")
    assert(pub:create_topic("rp", topic))
    local readers = {}
    for i, id in ipairs(copies) do
      readers[i] = assert(cl:client(id))
      assert(readers[i]:create_subscriber("rs" .. i))
      assert(readers[i]:subscribe("rs" .. i, topic))
    end
    for i = 1, 200 do assert(pub:publish("rp", topic, "r-" .. i, { ack = "all" })) end
    local before = {}
    for i, id in ipairs(copies) do before[i] = assert(cl:client(id):stats()) end
    for i = 1, #copies do
      assert_dense(pull_until(readers[i], "rs" .. i, topic, 200), 200, "subscriber " .. i)
    end
    for i, id in ipairs(copies) do
      local st = assert(cl:client(id):stats())
      -- Each copy sent its own subscriber's 200 messages from its log.
      assert.equal(200, st.messages_pulled - before[i].messages_pulled, "copy " .. id)
      if i > 1 then assert.is_true(st.replica_reads > before[i].replica_reads) end
    end
    -- The home granted the replicas' claims: it moved every cursor.
    assert.is_true(assert(cl:client(copies[1]):stats()).claims >= 2 * math.ceil(200 / 37))
  end)

  it("a long poll at a replica waits at the home and is woken by a publish", function()
    cl = assert(cluster.start { nodes = 4, replicas = 2 })
    local topic = "poll"
    local w = cl:where(topic)
    local replica = w.replicas[1]
    local reader = assert(cl:client(replica))
    local pub = assert(cl:client(w.home))
    assert(pub:create_publisher "lp")
    assert(pub:create_topic("lp", topic))
    assert(reader:create_subscriber "ls")
    assert(reader:subscribe("ls", topic))
    local got
    assert(reader:pull("ls", topic, { wait = 8000 }, function(...) got = table.pack(...) end))
    -- (polled: a blocking call may not run inside the loop's callbacks)
    local home = cl:client(w.home)
    local deadline = uv.now() + 5000
    while assert(home:stats()).pull_waiting ~= 1 do
      assert(uv.now() < deadline, "the claim to wait at the home: not seen within 5000 ms")
      hypersub.sleep(10)
      uv.update_time()
    end
    assert.equal(0, assert(pub:publish("lp", topic, "wake", { ack = "all" })))
    assert(process.wait_until(function() return got end, 5000, "the long poll's answer"))
    assert.equal(1, #got[1])
    assert.equal("wake", got[1][1].data)
    assert.is_true(assert(cl:client(replica):stats()).replica_reads >= 1)
  end)

  it("a subscriber pulling through a replica-reading policy sees exactly the home's sequence, across a failover", function()
    -- Node 0 takes the policy (pulls go to the least-read replica, never
    -- the home) and holds no copy of the topic; a direct client pulls
    -- at the home, old and new.
    cl = assert(cluster.start { nodes = 8, replicas = 3, node_flags = { [0] = { "--policy", POLICY } } })
    assert(cl:await_view(10000))
    local topic = cl:topic_away("rr-", 0)
    local home = cl:home(topic)
    local c = assert(cl:client(0, { timeout = 10000 }))
    local via_replicas = assert(cl:client(0, { timeout = 10000 }))
    local at_home = assert(hypersub.connect(cl:nodes()[home + 1].addr, { direct = true, timeout = 10000 }))
    finally(function() at_home:close() end)
    assert(c:create_publisher "fp")
    assert(c:create_topic("fp", topic))
    assert(via_replicas:create_subscriber "via-replicas")
    assert(via_replicas:subscribe("via-replicas", topic))
    assert(at_home:create_subscriber "at-home")
    assert(at_home:subscribe("at-home", topic))
    for i = 1, 300 do assert(c:publish("fp", topic, "r-" .. i, { ack = "all" })) end
    local a = pull_until(via_replicas, "via-replicas", topic, 150)
    local b = pull_until(at_home, "at-home", topic, 200)
    local reads = sum(cl, "replica_reads")
    assert.is_true(reads > 0, "replicas served the policy's pulls")
    local home_stats = assert(cl:client(home):stats())
    assert.equal(#b, home_stats.messages_pulled, "the home served only the home's subscriber")

    assert(cl:kill(home))
    for i = 301, 600 do assert(c:publish("fp", topic, "r-" .. i, { ack = "all" })) end
    pull_until(via_replicas, "via-replicas", topic, 600, a)
    pull_until(at_home, "at-home", topic, 600, b)
    assert_dense(a, 600, "through the replicas")
    assert_dense(b, 600, "at the home")
    assert.is_true(sum(cl, "replica_reads") > reads, "replicas served after the failover too")
    local new_home = cl:home(topic)
    assert.are_not.equal(home, new_home)
    assert.is_true(assert(cl:client(new_home):stats()).claims > 0)
  end)

  it("a policy answering a node that holds no copy is logged and the default serves", function()
    local dir = assert(require("luv").fs_mkdtemp("/tmp/hypersub-read-XXXXXX"))
    local path = dir .. "/bad.lua"
    local f = assert(io.open(path, "w"))
    f:write("return { read_replica = function() return 999 end }\n")
    f:close()
    finally(function() os.remove(path); os.remove(dir) end)
    cl = assert(cluster.start { nodes = 4, replicas = 2, node_flags = { [0] = { "--policy", path } } })
    local topic = cl:topic_away("bad-", 0)
    local c = assert(cl:client(0))
    assert(c:create_publisher "bp")
    assert(c:create_subscriber "bs")
    assert(c:create_topic("bp", topic))
    assert(c:subscribe("bs", topic))
    for i = 1, 20 do assert(c:publish("bp", topic, "r-" .. i)) end
    assert_dense(pull_until(c, "bs", topic, 20), 20, "with the default")
    local log = assert(io.open(cl:nodes()[1].log)):read("a")
    assert.truthy(log:find("policy_ignored", 1, true), log)
  end)
end)
