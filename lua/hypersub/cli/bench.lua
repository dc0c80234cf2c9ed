--- `hypersub bench pub|sub|latency`: a quick load test against a running
-- cluster (in the manner of `nats bench`, `redis-benchmark`), and `hypersub
-- bench suite`, the side-by-side benchmark suite of a source tree.
local hypersub = require "hypersub"
local args = require "hypersub.cli.args"
local uv = require "luv"

local M = {}

local COMMON = {
  { flag = "topic", arg = "T", kind = "string", help = "the topic (default: a new one, bench-<random>)" },
  { flag = "count", arg = "N", kind = "integer", min = 1, help = "messages (default 10000; latency: 1000)" },
  { flag = "size", arg = "BYTES", kind = "integer", min = 0, help = "payload size (default 100)" },
}

M.specs = {
  bench = {
    synopsis = "bench pub|sub|latency|suite [FLAGS]",
    about = "pub: pipelined publishes (--inflight at once): msgs/s, MB/s and the\n" ..
      "latency of each publish. sub: publishes --count messages, then pulls them in\n" ..
      "batches: msgs/s. latency: one message at a time from publish to a waiting\n" ..
      "pull. suite: the side-by-side suite beside NATS and Redis (a source tree's\n" ..
      "bench/run.lua; its own flags follow, e.g. --quick).",
    flags = {
      COMMON[1], COMMON[2], COMMON[3],
      { flag = "inflight", arg = "K", kind = "integer", min = 1, help = "pub: publishes in flight (default 64)" },
      { flag = "batch", arg = "N", kind = "integer", min = 1, help = "sub: messages per pull (default 100)" },
      { flag = "ack", arg = "all|home|none", kind = "string", values = { "all", "home", "none" },
        help = "the publishes' ack mode (default all)" },
    },
  },
}

-- Latency figures of a list of µs samples.
local function summary(samples)
  table.sort(samples)
  local n = #samples
  local function q(p) return n > 0 and samples[math.max(1, math.ceil(p * n))] or 0 end
  local sum = 0
  for _, v in ipairs(samples) do sum = sum + v end
  return { count = n, mean_us = n > 0 and sum // n or 0, p50_us = q(0.5), p99_us = q(0.99),
    p999_us = q(0.999), max_us = samples[n] or 0 }
end

local function now_us() return uv.hrtime() // 1000 end

-- The topic to use, created with its publisher.
local function prepare(c, flags)
  local topic = flags.topic or args.unique("bench-")
  local ok, m, code = c:create_publisher("bench")
  if ok or code == "EXISTS" then ok, m, code = c:create_topic("bench", topic) end
  if not ok and code ~= "EXISTS" then return nil, m, code end
  return topic
end

-- Publishes count messages with `inflight` in flight; returns the µs of
-- each, the wall µs, or nil, message, code.
local function publish_all(c, topic, count, size, inflight, ack)
  local data = ("x"):rep(size)
  local sent, done, failure = 0, 0, nil
  local lat = {}
  local function send()
    if sent >= count or failure then return end
    sent = sent + 1
    local t0 = now_us()
    local ok, m, code = c:publish("bench", topic, data, { ack = ack }, function(off, em, ec)
      done = done + 1
      if not off then failure = failure or { em, ec } end
      lat[#lat + 1] = now_us() - t0
      send()
    end)
    if not ok then failure = failure or { m, code } end
  end
  local start = now_us()
  for _ = 1, math.min(inflight, count) do send() end
  hypersub.run_until(function() return done >= sent and (sent >= count or failure) end)
  if failure then return nil, failure[1], failure[2] end
  return lat, now_us() - start
end

local function report(flags, what, result)
  if flags.json then
    args.print_json(result)
    return
  end
  print(("%s: %d messages of %d bytes in %.3f s: %.0f msgs/s, %.2f MB/s"):format(what,
    result.count, result.size, result.seconds, result.msgs_per_s, result.mb_per_s))
  if result.latency then
    local l = result.latency
    print(("  %s µs: mean %d, p50 %d, p99 %d, p99.9 %d, max %d"):format(result.latency_of,
      l.mean_us, l.p50_us, l.p99_us, l.p999_us, l.max_us))
  end
end

local function rates(count, size, us)
  local s = math.max(us, 1) / 1e6
  return s, count / s, count * size / s / 1e6
end

local function bench_pub(verb, flags, c)
  local topic, m, code = prepare(c, flags)
  if not topic then return args.request_failed(verb, m, code) end
  local count, size = flags.count or 10000, flags.size or 100
  local lat, us, c2 = publish_all(c, topic, count, size, flags.inflight or 64, flags.ack or "all")
  if not lat then return args.request_failed(verb, us, c2) end
  local s, mps, mbps = rates(count, size, us)
  report(flags, "pub", { bench = "pub", topic = topic, count = count, size = size,
    inflight = flags.inflight or 64, ack = flags.ack or "all", seconds = s, msgs_per_s = mps,
    mb_per_s = mbps, latency_of = "publish", latency = summary(lat) })
  return args.OK
end

local function bench_sub(verb, flags, c)
  local topic, m, code = prepare(c, flags)
  if not topic then return args.request_failed(verb, m, code) end
  local count, size = flags.count or 10000, flags.size or 100
  local lat, err, ecode = publish_all(c, topic, count, size, flags.inflight or 64, flags.ack or "all")
  if not lat then return args.request_failed(verb, err, ecode) end
  local sid = args.unique("bench-")
  local ok
  ok, m, code = c:create_subscriber(sid)
  if ok then ok, m, code = c:subscribe(sid, topic) end
  if not ok then return args.request_failed(verb, m, code) end
  local got, start = 0, now_us()
  while got < count do
    local batch
    batch, m, code = c:pull(sid, topic, { max = flags.batch or 100 })
    if not batch then return args.request_failed(verb, m, code) end
    if #batch == 0 then break end
    got = got + #batch
  end
  local s, mps, mbps = rates(got, size, now_us() - start)
  report(flags, "sub", { bench = "sub", topic = topic, count = got, size = size,
    batch = flags.batch or 100, seconds = s, msgs_per_s = mps, mb_per_s = mbps })
  return got == count and args.OK or args.FAILED
end

local function bench_latency(verb, flags, c)
  local topic, m, code = prepare(c, flags)
  if not topic then return args.request_failed(verb, m, code) end
  local count, size = flags.count or 1000, flags.size or 100
  local sid = args.unique("bench-")
  local ok
  ok, m, code = c:create_subscriber(sid)
  if ok then ok, m, code = c:subscribe(sid, topic, { from = "latest" }) end
  if not ok then return args.request_failed(verb, m, code) end
  local data = ("x"):rep(size)
  local lat, failure = {}, nil
  local start = now_us()
  hypersub.run(function()
    for _ = 1, count do
      local t0, got = now_us(), nil
      -- The pull waits first; the publish then wakes it.
      assert(c:pull(sid, topic, { wait = 5000 }, function(batch, em, ec)
        got = batch or false
        if not batch then failure = failure or { em, ec } end
      end))
      local off, em, ec = c:publish("bench", topic, data, { ack = flags.ack or "all" })
      if not off then failure = failure or { em, ec } break end
      while got == nil do hypersub.sleep(0) end
      if not got or failure then break end
      if #got == 0 then failure = { "TIMEOUT: the pull did not see the message", "TIMEOUT" } break end
      lat[#lat + 1] = now_us() - t0
    end
  end)
  if failure then return args.request_failed(verb, failure[1], failure[2]) end
  local s, mps, mbps = rates(#lat, size, now_us() - start)
  report(flags, "latency", { bench = "latency", topic = topic, count = #lat, size = size,
    seconds = s, msgs_per_s = mps, mb_per_s = mbps, latency_of = "publish to pulled",
    latency = summary(lat) })
  return args.OK
end

--- `hypersub bench suite [...]`: bench/run.lua of the source tree this
-- module lives in, after `make bench-deps bench-build` there (what `make
-- bench` does).
function M.suite(verb, argv, first, script)
  local here = package.searchpath("hypersub.cli.bench", package.path) or ""
  local root = here:match("^(.*)/lua/hypersub/cli/bench%.lua$")
  local driver = root and root .. "/bench/run.lua"
  if not (driver and uv.fs_access(driver, "R")) then
    return args.fail(verb, args.USAGE, "the suite needs a source tree (bench/run.lua next to lua/hypersub/)")
  end
  local ok = os.execute(("make --no-print-directory -C '%s' bench-deps bench-build >&2"):format(root))
  if not ok then return args.fail(verb, args.FAILED, "make bench-build failed") end
  local run = { driver, [0] = argv[0] }
  for i = first, #argv do run[#run + 1] = argv[i] end
  return script(run)
end

local KINDS = { pub = bench_pub, sub = bench_sub, latency = bench_latency }

function M.bench(verb, flags, pos)
  local kind = KINDS[pos[1]]
  if not kind or #pos > 1 then
    return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.bench.synopsis)
  end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local code = kind(verb, flags, c)
  c:close()
  return code
end

return M
