-- bench/quick.lua — a first, single-node look at the hot path, beside Redis
-- measured in the same run on the same machine. The full suite (cluster,
-- replicas, JetStream, plots) is bench/run.lua (`make bench`).
--
--   build/hypersub bench/quick.lua [N]
--
-- One `hypersub node` process and one Lua client process (this script), 100-byte
-- payloads; Redis (if `redis-server` and `redis-benchmark` are installed) as
-- one server with redis-benchmark as its client. Each figure is the median of
-- 3 runs after one warm-up run that is not counted.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

local N = tonumber(arg and arg[1]) or 200000
local PAYLOAD = string.rep("x", 100)
local RUNS = 3

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2], xs[1], xs[#xs]
end

local function measure(fn)
  fn() -- warm-up, not counted
  local xs = {}
  for i = 1, RUNS do xs[i] = fn() end
  return median(xs)
end

local node = assert(process.start_node({ "--log-level", "warn" }))
local c = assert(hypersub.connect(node.addr))
assert(c:create_publisher "p")
assert(c:create_subscriber "s")
local topics = 0

local function fresh_topic()
  topics = topics + 1
  local t = "t" .. topics
  assert(c:create_topic("p", t))
  return t
end

-- Pipelined publish: 256 in flight, callback style.
local function pipelined()
  local topic, inflight, sent, done = fresh_topic(), 256, 0, 0
  local t0 = uv.hrtime()
  local function on_ack(offset, msg)
    assert(offset, msg)
    done = done + 1
    if sent < N then
      sent = sent + 1
      c:publish("p", topic, PAYLOAD, on_ack)
    end
  end
  for _ = 1, inflight do
    sent = sent + 1
    c:publish("p", topic, PAYLOAD, on_ack)
  end
  assert(process.wait_until(function() return done == N end, 120000, "acks"))
  return N / ((uv.hrtime() - t0) / 1e9)
end

-- Sync publish: one outstanding request, blocking style.
local function sync()
  local topic, n = fresh_topic(), math.max(N // 20, 1000)
  local t0 = uv.hrtime()
  for _ = 1, n do assert(c:publish("p", topic, PAYLOAD)) end
  return (uv.hrtime() - t0) / 1e3 / n -- µs per request
end

-- Pull in batches of 100 from a topic filled beforehand.
local function pull()
  local topic = fresh_topic()
  local done = 0
  for _ = 1, N do
    c:publish("p", topic, PAYLOAD, function() done = done + 1 end)
  end
  assert(process.wait_until(function() return done == N end, 120000, "fill"))
  assert(c:subscribe("s", topic))
  local got, t0 = 0, uv.hrtime()
  while got < N do got = got + #assert(c:pull("s", topic, { max = 100 })) end
  return N / ((uv.hrtime() - t0) / 1e9)
end

local ours = {}
ours.pipelined = { measure(pipelined) }
ours.sync = { measure(sync) }
ours.pull = { measure(pull) }
c:close()
node:close()

-- Redis, same machine, same run.
local function which(cmd)
  local p = io.popen("command -v " .. cmd .. " 2>/dev/null")
  local out = p:read("l")
  p:close()
  return out
end

local redis = {}
if which("redis-server") and which("redis-benchmark") then
  local port = 26379
  local srv = process.spawn(which("redis-server"), {
    "--port", tostring(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
  })
  -- requests/s of the test whose -q line starts with `label`
  local function rps(args, label)
    local cmd = ("redis-benchmark -h 127.0.0.1 -p %d -q -d 100 %s"):format(port, args)
    local p = io.popen(cmd .. " 2>/dev/null")
    local out = p:read("a")
    p:close()
    for line in out:gmatch("[^\r\n]+") do
      local v = line:sub(1, #label) == label and line:match("([%d%.]+) requests per second")
      if v then return tonumber(v) end -- (progress lines share the label)
    end
  end
  -- redis-benchmark retries a refused connection forever: wait until ready.
  assert(srv:wait_line("Ready to accept connections", 10000))
  redis.pipelined = { measure(function()
    return rps(("-t set -P 256 -c 1 -n %d"):format(N), "SET")
  end) }
  redis.sync = { measure(function()
    return 1e6 / rps(("-t set -c 1 -n %d"):format(math.max(N // 20, 1000)), "SET")
  end) }
  redis.pull = { measure(function()
    return 100 * rps(("-t lrange_100 -c 1 -n %d"):format(N // 100), "LRANGE_100")
  end) }
  srv:close()
end

local function fmt(v, unit)
  return unit == "us" and ("%.1f µs"):format(v) or ("%.0f msgs/s"):format(v)
end
local rows = {
  { "publish, 256 in flight", "pipelined", "msgs" },
  { "publish, one at a time (mean latency)", "sync", "us" },
  { "pull, batches of 100", "pull", "msgs" },
}
print(("cores: %d   N = %d   payload 100 B   median of %d runs (min-max), warm-up excluded")
  :format(#uv.cpu_info(), N, RUNS))
print(("| %-38s | %-28s | %-28s | %s |"):format("workload", "hypersub (1 node)", "redis (1 server)", "ratio"))
print("|" .. ("-"):rep(40) .. "|" .. ("-"):rep(30) .. "|" .. ("-"):rep(30) .. "|-------|")
for _, r in ipairs(rows) do
  local o, rr = ours[r[2]], redis[r[2]]
  local ratio = "n/a"
  if rr then
    ratio = r[3] == "us" and ("%.2fx"):format(rr[1] / o[1]) or ("%.2fx"):format(o[1] / rr[1])
  end
  print(("| %-38s | %-28s | %-28s | %5s |"):format(r[1],
    ("%s (%s-%s)"):format(fmt(o[1], r[3]), fmt(o[2], r[3]):match("[%d%.]+"), fmt(o[3], r[3]):match("[%d%.]+")),
    rr and ("%s (%s-%s)"):format(fmt(rr[1], r[3]), fmt(rr[2], r[3]):match("[%d%.]+"), fmt(rr[3], r[3]):match("[%d%.]+")) or "not installed",
    ratio))
end
print("ratio > 1 means hypersub is faster. redis pull = LRANGE of 100 items x 100.")
