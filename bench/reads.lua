-- bench/reads.lua — what serving pulls from any copy costs and gives:
-- 8 node processes, 3 copies per topic, 100-byte payloads, pulls of 100.
--
--   build/hypersub bench/reads.lua [N]
--
-- The same N messages are pulled by three subscribers, each through a
-- different entry: the home itself (a direct client), a replica (it serves
-- from its own log and claims each range at the home), and a node holding
-- no copy (it forwards to the nearest copy). Each figure is the median of
-- 3 runs after one warm-up run that is not counted; the data was written
-- and acknowledged by every copy before any pull is timed.
local hypersub = require "hypersub"
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"
local uv = require "luv"

local N = tonumber(arg and arg[1]) or 100000
local RUNS = 3
local PAYLOAD = ("x"):rep(100)

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2], xs[1], xs[#xs]
end

local cl = assert(cluster.start { nodes = 8, replicas = 3, log_level = "warn" })
local ok, err = pcall(function()
  local topic = cl:topic_away("reads-", 0)
  local w = cl:where(topic)
  local pub = assert(hypersub.connect(cl:nodes()[w.home + 1].addr, { direct = true }))
  assert(pub:create_publisher "p")
  assert(pub:create_topic("p", topic))

  -- Publishes n more messages, 256 in flight, all acknowledged by every copy.
  local function fill(n)
    local sent, done = 0, 0
    local function on_ack(off, msg)
      assert(off, msg)
      done = done + 1
      if sent < n then sent = sent + 1; pub:publish("p", topic, PAYLOAD, { ack = "all" }, on_ack) end
    end
    for _ = 1, math.min(256, n) do sent = sent + 1; pub:publish("p", topic, PAYLOAD, { ack = "all" }, on_ack) end
    assert(process.wait_until(function() return done == n end, 120000, "acks"))
  end

  local entries = {
    { name = "at the home (direct)", connect = function()
      return hypersub.connect(cl:nodes()[w.home + 1].addr, { direct = true }) end },
    { name = "at a replica", connect = function() return cl:client(w.replicas[1]) end },
    { name = "at a node with no copy", connect = function() return cl:client(0) end },
  }
  local subs = 0
  local function run(entry)
    subs = subs + 1
    local sid = "s" .. subs
    local c = assert(entry.connect())
    assert(c:create_subscriber(sid))
    assert(c:subscribe(sid, topic, { from = "latest" }))
    fill(N)
    local got, t0 = 0, uv.hrtime()
    while got < N do got = got + #assert(c:pull(sid, topic, { max = 100 })) end
    local rate = N / ((uv.hrtime() - t0) / 1e9)
    c:close()
    return rate
  end

  print(("cores: %d   8 nodes, 3 copies (home %d, replicas %s), N = %d, pulls of 100")
    :format(#uv.cpu_info(), w.home, table.concat(w.replicas, ","), N))
  local base
  for _, entry in ipairs(entries) do
    run(entry) -- warm-up
    local xs = {}
    for i = 1, RUNS do xs[i] = run(entry) end
    local m, lo, hi = median(xs)
    base = base or m
    print(("pull %-24s %9.0f msgs/s  (min %.0f, max %.0f)  %.2fx the home's")
      :format(entry.name, m, lo, hi, m / base))
  end
end)
cl:close()
if not ok then error(err, 0) end
