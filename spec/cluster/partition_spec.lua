-- A partition: five nodes, three on this host's side of a veth pair and two
-- in a network namespace on the other side. Cutting the link leaves the
-- two without a majority: they refuse (UNAVAILABLE) rather than write what
-- the three would not know of, while the three go on. When the link comes
-- back the two rejoin, and every acknowledged message is there once.
-- Needs root (ip netns); the namespace and links are removed afterwards.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local hypersub = require "hypersub"
local uv = require "luv"

local PID = math.tointeger(uv.os_getpid())
local NS = "hs-part-" .. PID
local HOST_IF, NS_IF = "hsa" .. PID % 100000, "hsb" .. PID % 100000
local NET = ("10.211.%d"):format(PID % 250 + 1)
local MAJORITY, MINORITY = { 0, 1, 2 }, { 3, 4 }

local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok == true or ok == 0
end

local function make_namespace()
  return sh("ip netns add " .. NS)
    and sh(("ip link add %s type veth peer name %s"):format(HOST_IF, NS_IF))
    and sh(("ip link set %s netns %s"):format(NS_IF, NS))
    and sh(("ip addr add %s.1/24 dev %s"):format(NET, HOST_IF))
    and sh(("ip link set %s up"):format(HOST_IF))
    and sh(("ip netns exec %s ip addr add %s.2/24 dev %s"):format(NS, NET, NS_IF))
    and sh(("ip netns exec %s ip link set %s up"):format(NS, NS_IF))
    and sh(("ip netns exec %s ip link set lo up"):format(NS))
end

local function remove_namespace()
  sh("ip link del " .. HOST_IF) -- takes its peer with it
  sh("ip netns del " .. NS)
end

-- Runs a Lua snippet with the hypersub runtime inside the namespace (the
-- minority's side) and returns what it printed.
local function run_in_namespace(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local p = assert(io.popen(("ip netns exec %s %s %s 2>&1"):format(NS, process.runtime(), path)))
  local out = p:read("a")
  p:close()
  os.remove(path)
  return out
end

-- Polls fn (which may make requests) every 50 ms until it is true.
local function poll(fn, ms, what)
  local deadline = uv.now() + ms
  while not fn() do
    assert(uv.now() < deadline, what .. " not seen within " .. ms .. " ms")
    hypersub.sleep(50)
    uv.update_time()
  end
  return true
end

local function log_has(cl, id, text)
  local f = io.open(cl:nodes()[id + 1].log)
  local all = f and f:read("a") or ""
  if f then f:close() end
  return all:find(text, 1, true) ~= nil
end

describe("partitions #cluster #netns", function()
  local ready = false
  setup(function()
    remove_namespace() -- leftovers of an interrupted run
    ready = make_namespace()
  end)
  teardown(remove_namespace)

  it("the minority refuses, the majority goes on, and after healing every ack is there once", function()
    if not ready then
      pending("needs root and ip netns to build a partition (ip netns add failed)")
      return
    end
    local hosts, wrap = {}, {}
    for _, id in ipairs(MAJORITY) do hosts[id] = NET .. ".1" end
    for _, id in ipairs(MINORITY) do
      hosts[id] = NET .. ".2"
      wrap[id] = { "ip", "netns", "exec", NS }
    end
    local cl = assert(cluster.start { nodes = 5, replicas = 3, hosts = hosts, wrap = wrap })
    finally(function()
      sh(("ip link set %s up"):format(HOST_IF))
      cl:close()
      assert(cl:check())
    end)
    assert(cl:await_view(10000))
    -- A topic homed on the minority side with a copy on the majority's.
    local topic
    for n = 1, 10000 do
      local w = cl:where("cut-" .. n)
      local home_away = w.home == 3 or w.home == 4
      local copy_here = false
      for _, r in ipairs(w.replicas) do copy_here = copy_here or r <= 2 end
      if home_away and copy_here then topic = "cut-" .. n break end
    end
    local c = assert(cl:client(0, { timeout = 15000 }))
    assert(c:create_publisher "pp")
    assert(c:create_subscriber "ps")
    assert(c:create_topic("pp", topic))
    assert(c:subscribe("ps", topic))
    for i = 1, 50 do assert(c:publish("pp", topic, "before-" .. i, { ack = "all" })) end

    -- Cut.
    assert(sh(("ip link set %s down"):format(HOST_IF)))
    poll(function()
      local v = assert(c:view())
      for _, m in ipairs(v.members) do
        if m.id >= 3 and m.state ~= "dead" then return false end
      end
      return true
    end, 10000, "the majority to declare the minority dead")
    poll(function()
      return log_has(cl, 3, "quorum_lost") and log_has(cl, 4, "quorum_lost")
    end, 10000, "the minority to see it has no majority")
    -- The majority goes on: a replica of its side serves the topic.
    for i = 1, 50 do assert(c:publish("pp", topic, "during-" .. i, { ack = "all" })) end
    -- The minority refuses, through either of its nodes.
    for _, id in ipairs(MINORITY) do
      local out = run_in_namespace(([[
        local hypersub = require "hypersub"
        local c = assert(hypersub.connect(%q, { timeout = 1500 }))
        local ok, msg, code = c:publish("pp", %q, "from the minority", { ack = "home" })
        print("PUBLISH", ok and "ok" or code, msg)
        local got, msg2, code2 = c:pull("ps", %q)
        print("PULL", got and "ok" or code2, msg2)
        c:close()
      ]]):format(cl:addr(id), topic, topic))
      assert.truthy(out:find("PUBLISH\tUNAVAILABLE", 1, true), out)
      assert.truthy(out:find("PULL\tUNAVAILABLE", 1, true), out)
    end

    -- Heal: the two come back, say they are alive and get their topics.
    assert(sh(("ip link set %s up"):format(HOST_IF)))
    assert(cl:await_view(20000))
    assert(cl:await_copies(topic, 10000))
    assert.is_true(log_has(cl, 3, "quorum_regained"))
    -- The copies are alike; the home may still be hearing its replicas'
    -- acknowledgements (what is served is what every copy holds): long
    -- polls wait for the records to become readable.
    local got = {}
    repeat
      local batch = assert(c:pull("ps", topic, { max = 500, wait = 5000 }))
      for _, m in ipairs(batch) do got[#got + 1] = m end
    until #batch == 0 or #got >= 100
    assert.equal(0, #assert(c:pull("ps", topic)))
    if #got ~= 100 then
      local parts = {}
      for id, t in pairs(cl:holders(topic)) do
        parts[#parts + 1] = ("node %d: first %d next %d"):format(id, t.first, t.next)
      end
      error(("pulled %d messages (offsets %s..%s); copies: %s"):format(#got,
        got[1] and got[1].offset or "-", got[#got] and got[#got].offset or "-",
        table.concat(parts, ", ")))
    end
    for i, m in ipairs(got) do
      assert.equal(i - 1, m.offset)
      assert.equal(i <= 50 and ("before-" .. i) or ("during-" .. (i - 50)), m.data)
    end
  end)
end)
