--- bench/lib.lua — what the workloads share: the configuration of a full
-- or a quick run, running a load generator and reading its RESULT line,
-- medians with min–max, and the record of every process and directory the
-- run made, so an error or Ctrl-C leaves none behind.
local process = require "hypersub.process"
local cjson = require "cjson"
local uv = require "luv"

local M = {}

M.RUNS = 3 -- each figure is the median of this many runs

-- Sizes of a full run and of `--quick` (under 2 minutes on 2 cores).
M.FULL = {
  sync_n = 5000, pipe_n = 200000, pull_n = 200000, poll_n = 2000,
  sweep = { 16, 256, 1024, 4096, 16384, 65536 }, sweep_bytes = 32 << 20,
  api_n = 1000, conc_n = 50000, failover_rounds = 3, failover_ms = 4000,
  scale = { 64, 128 }, scale_sim = { 64, 256, 1024, 4096 }, scale_requests = 400,
  hb_window_ms = 2000,
  jl_calm_ms = 3000, jl_bucket_ms = 100,
  durable_sync_n = 1000, durable_pipe_n = 30000, fsync_n = 500, restart_mb = 1024,
  -- JetStream's sweep through the leader only: one more stream made for
  -- each size and each follower column doubles its time for little news
  sweep_systems = { hypersub = true, js_mem = true, js_file = true, redis_wait = true, redis = true },
}
M.QUICK = {
  sync_n = 1000, pipe_n = 30000, pull_n = 30000, poll_n = 300,
  sweep = { 16, 4096, 65536 }, sweep_bytes = 8 << 20,
  -- the acknowledged publishes, JetStream through the leader only
  sweep_systems = { hypersub = true, js_mem = true, redis_wait = true },
  api_n = 1000, conc_n = 10000, failover_rounds = 3, failover_ms = 2500,
  scale = { 32, 64 }, scale_sim = { 64, 256, 1024 }, scale_requests = 200,
  hb_window_ms = 500,
  jl_calm_ms = 1500, jl_bucket_ms = 100,
  durable_sync_n = 200, durable_pipe_n = 5000, fsync_n = 200, restart_mb = 128,
}

-- The repository root: bench/.. of this file.
M.root = debug.getinfo(1, "S").source:match("^@(.*)/bench/lib%.lua$") or "."
if M.root:sub(1, 1) ~= "/" then M.root = uv.cwd() .. "/" .. M.root end
M.bin = M.root .. "/build/bench"

---- cleanup ---------------------------------------------------------------

local procs, dirs = {}, {}

--- Remembers a process (or a cluster) so cleanup() can stop it.
function M.track(p) procs[#procs + 1] = p return p end

--- A fresh temporary directory, removed by cleanup().
function M.tmpdir(tag)
  local d = assert(uv.fs_mkdtemp("/tmp/hypersub-bench-" .. tag .. "-XXXXXX"))
  dirs[#dirs + 1] = d
  return d
end

--- Stops every tracked process still running (SIGKILL) and removes the
-- temporary directories. `quick` skips the waits (from a signal handler,
-- where the loop cannot be run again).
function M.cleanup(quick)
  for _, p in ipairs(procs) do
    if p.nodes then -- a cluster
      if quick then
        for _, n in ipairs(p:nodes()) do if n.alive then uv.kill(n.pid, "sigkill") end end
      else p:close() end
    elseif not p.exited then
      if quick then uv.kill(p.pid, "sigkill") else p:close() end
    end
  end
  procs = {}
  for _, d in ipairs(dirs) do os.execute("rm -rf '" .. d .. "'") end
  dirs = {}
end

---- numbers ---------------------------------------------------------------

--- median, min, max of a list of numbers (nil for an empty list).
function M.median(xs)
  if #xs == 0 then return nil end
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  return s[(#s + 1) // 2], s[1], s[#s]
end

--- {med =, min =, max =} of field `key` over a list of results.
function M.stat(results, key)
  local xs = {}
  for _, r in ipairs(results) do xs[#xs + 1] = r[key] end
  local med, lo, hi = M.median(xs)
  return med and { med = med, min = lo, max = hi } or nil
end

function M.now_us() return uv.hrtime() / 1e3 end

--- RUNS runs of system:gen(mode, opts); the results, and each one's CPU
-- share noted in `cpu` (a list) under `what`.
function M.runs(system, mode, opts, cpu, what)
  local out = {}
  for i = 1, M.RUNS do
    -- A run that fails is made again once, on a fresh topic, stream or key
    -- (a JetStream stream now and then is not found through a follower
    -- for longer than the generator waits); a second failure ends the suite.
    local ok, r = pcall(system.gen, system, mode, opts)
    if not ok then
      io.stderr:write(("bench: %s %s failed, run again once: %s\n"):format(
        system.key or "?", mode, tostring(r):match("[^\n]*")))
      r = system:gen(mode, opts)
    end
    out[i] = r
    if cpu then cpu[#cpu + 1] = { system = system.key, what = what or mode, share = out[i].cpu } end
  end
  return out
end

--- The row of R.rows with this section, metric and unit, appended (with
-- `better`, "lower" or "higher") when there is none yet: a workload run
-- once per group of systems fills cells of the same rows.
function M.row(R, section, metric, unit, better)
  for _, row in ipairs(R.rows) do
    if row.section == section and row.metric == metric and row.unit == unit then return row end
  end
  local row = { section = section, metric = metric, unit = unit, better = better, cells = {} }
  R.rows[#R.rows + 1] = row
  return row
end

---- load generators -------------------------------------------------------

--- Starts generator `name` (hs, nats, resp) with `args`; opts.barrier keeps
-- a pipe to its stdin. Returns the process (see gen_result).
function M.gen_start(name, args, opts)
  local p = process.spawn(M.bin .. "/" .. name .. "-loadgen", args,
    { stdin_pipe = opts and opts.barrier })
  return M.track(p)
end

--- Waits for the generator to exit; returns its RESULT as a table (or
-- true when `bare`: the readiness modes print none), or raises with what
-- it printed on stderr.
function M.gen_result(p, timeout_ms, bare)
  local code, sig = p:wait(timeout_ms or 600000)
  if code ~= 0 then
    p:close()
    error(("%s %s failed (exit %s, signal %s): %s"):format(p.path,
      table.concat(p.args, " "), tostring(code or sig), tostring(sig),
      p.stderr or ""), 0)
  end
  p:close()
  if bare then return true end
  for _, line in ipairs(p.lines) do
    local json = line:match("^RESULT (.*)$")
    if json then return cjson.decode(json) end
  end
  error(("%s printed no RESULT"):format(p.path), 0)
end

--- Runs a generator to its end and returns its RESULT.
function M.gen(name, args)
  return M.gen_result(M.gen_start(name, args))
end

--- Runs build/bench/<name> (a tool that is not a load generator, such as
-- fsync-probe) to its end and returns its RESULT.
function M.tool(name, args)
  return M.gen_result(M.track(process.spawn(M.bin .. "/" .. name, args)))
end

--- Runs a generator's readiness mode to its end (raises unless it exits 0).
function M.gen_ready(name, args)
  return M.gen_result(M.gen_start(name, args), 60000, true)
end

--- Flags from a table: {n = 5, size = 100} -> {"--n", "5", "--size", "100"}.
function M.flags(t)
  local out = {}
  for k, v in pairs(t) do
    out[#out + 1] = "--" .. k:gsub("_", "-")
    out[#out + 1] = tostring(v)
  end
  return out
end

--- Blocks until a TCP connection to addr is accepted, or `ms` passes
-- (readiness of a server's port; polled every 20 ms).
function M.await_port(host, port, ms)
  local deadline = uv.now() + (ms or 10000)
  repeat
    local done, ok = false, false
    local tcp = uv.new_tcp()
    tcp:connect(host, port, function(err) ok, done = not err, true end)
    process.wait_until(function() return done end, 1000, "connect")
    tcp:close()
    if ok then uv.run("nowait") return true end
    require("hypersub").sleep(20)
    uv.update_time()
  until uv.now() >= deadline
  return nil, ("nothing listens on %s:%d after %d ms"):format(host, port, ms or 10000)
end

return M
