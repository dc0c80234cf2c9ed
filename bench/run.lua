--- bench/run.lua — the benchmark suite's driver (`make bench`,
-- `hypersub bench suite [--quick]`):
--
--   build/hypersub bench/run.lua [--quick] [--no-peers]
--     [--only seed,publish,durable,restart,pull,concurrency,failover,join_leave,scale]
--
-- Starts what it needs (an 8-node hypersub cluster, three nats-server, a
-- Redis primary with two replicas), each system alone on the machine while
-- its workloads run and stopped before the next starts; stops everything
-- it started (also on an error or Ctrl-C), writes bench/results/ and prints
-- the table. The load generators are bench/loadgen/*.c (make bench-build).
-- `publish` includes the durable publishes (`durable` alone runs only
-- those): each system again with its acknowledgements synced to disk.
local uv = require "luv"

local here = debug.getinfo(1, "S").source:match("^@(.*)/run%.lua$") or "bench"
package.path = here .. "/?.lua;" .. package.path
local lib = require "lib"
local report = require "report"

local args = { ... }
local quick, peers, only = false, true, nil
local i = 1
while i <= #args do
  local a = args[i]
  if a == "--quick" then quick = true
  elseif a == "--no-peers" then peers = false
  elseif a == "--only" then i = i + 1 only = {} for w in args[i]:gmatch("[^,]+") do only[w] = true end
  else io.stderr:write("usage: bench/run.lua [--quick] [--only LIST] [--no-peers]\n") os.exit(2) end
  i = i + 1
end
local function wanted(w) return not only or only[w] end

for _, g in ipairs { "hs-loadgen", "nats-loadgen", "resp-loadgen", "fsync-probe", "rtt-probe" } do
  if not uv.fs_access(lib.bin .. "/" .. g, "X") then
    io.stderr:write("bench: " .. lib.bin .. "/" .. g .. " is missing: run `make bench-build`\n")
    os.exit(2)
  end
end

local t_start = lib.now_us()
local function say(msg)
  io.stderr:write(("[%6.1f s] %s\n"):format((lib.now_us() - t_start) / 1e6, msg))
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local out = p and p:read("l")
  if p then p:close() end
  return out
end

local cpu = uv.cpu_info()
local R = {
  rows = {}, cpu = {}, sweep = {}, seed = {}, failover = {}, failover_series = {},
  concurrency = {}, scale = {},
  env = {
    -- a part of the suite is named by its own command line
    command = (only or not peers) and "build/hypersub bench/run.lua " .. table.concat(args, " ")
      or quick and "make bench BENCH_ARGS=--quick" or "make bench",
    date = os.date("!%Y-%m-%d %H:%M UTC"), cores = #cpu, cpu = cpu[1] and cpu[1].model or "?",
    load = uv.loadavg(), runs = lib.RUNS, quick = quick,
    commit = sh("git -C '" .. lib.root .. "' rev-parse --short HEAD") or "?",
  },
}
local cfg = quick and lib.QUICK or lib.FULL
R.env.api_n = cfg.api_n
local ctx = { cfg = cfg, results = R, say = say }

-- Ctrl-C or SIGTERM: stop every child at once and leave (the loop cannot
-- be run again from inside a signal callback).
local signals = {}
for _, name in ipairs { "sigint", "sigterm" } do
  local s = uv.new_signal()
  s:start(name, function()
    io.stderr:write("bench: interrupted, stopping what it started\n")
    lib.cleanup(true)
    os.exit(130)
  end)
  signals[#signals + 1] = s
end

-- Publish and pull on one group of systems (started alone on the machine).
local function publish_pull(systems)
  ctx.systems = systems
  if wanted("publish") then require("workloads.publish").run(ctx) end
  if wanted("pull") then require("workloads.pull").run(ctx) end
end

-- Each system alone on the machine while it is measured: hypersub, then
-- JetStream, then Redis, each stopped before the next starts (their
-- heartbeats and replication would otherwise disturb each other's figures).
local function main()
  say(("%d cores; %s run"):format(#cpu, quick and "quick" or "full"))
  R.env.alone = true
  if wanted("seed") or wanted("publish") or wanted("pull") or wanted("concurrency") then
    say("starting 8 hypersub nodes")
    ctx.ours = require("peers.hypersub").start { nodes = 8 }
    if wanted("seed") then require("workloads.seed_api").run(ctx) end
    publish_pull { ctx.ours }
    if wanted("concurrency") then require("workloads.concurrency").run(ctx) end
    ctx.ours:stop()
  end
  if peers and (wanted("publish") or wanted("pull")) then
    say("starting 3 nats-server (JetStream cluster)")
    local nats = require("peers.nats").start()
    R.env.nats_version = nats.version
    publish_pull { nats.js_mem, nats.js_mem_follower, nats.js_file, nats.js_file_follower }
    nats.stop()
    say("starting redis-server with 2 replicas")
    local redis = require("peers.redis").start()
    R.env.redis_version = redis.version
    publish_pull { redis.redis_wait, redis.redis }
    redis.stop()
  end
  if wanted("publish") or wanted("durable") then require("workloads.durable").run(ctx, peers) end
  if wanted("restart") then require("workloads.restart").run(ctx) end
  if wanted("failover") then require("workloads.failover").run(ctx) end
  if wanted("join_leave") then require("workloads.join_leave").run(ctx) end
  if wanted("scale") then require("workloads.scale").run(ctx) end
end

local ok, err = xpcall(main, debug.traceback)
say(ok and "done; stopping what it started" or "failed; stopping what it started")
lib.cleanup()
for _, s in ipairs(signals) do s:close() end
if not ok then
  io.stderr:write("bench: ", tostring(err), "\n")
  os.exit(1)
end
local md = report.write(R, lib.root .. "/bench/results")
print(md)
say("wrote " .. lib.root .. "/bench/results/ (results.md, results.json, *.svg)")
