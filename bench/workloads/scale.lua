--- bench/workloads/scale.lua — workload 8: how the cube grows. Two ways,
-- each size on its own:
--   - node processes on this machine (64 and 128; 32 and 64 quick): the
--     real thing, every byte over loopback TCP;
--   - the simulation (build/bench/hs-cubesim, bench/sim/cubesim.c): the
--     node's own membership code (view, placement, failure detection,
--     spreading) for 64 to 4096 members in one process over an in-process
--     transport on a virtual clock, each message taking a fixed latency.
-- Per size: peer links per node (idle, and after publishes for the
-- processes), messages and bytes per node per second at idle, the steps,
-- messages and time a join, a leave and a kill take to reach every
-- member, how long a killed node takes to be declared dead, the hops of a
-- publish (mean and max) and the memory per node.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"
local lib = require "lib"

local M = {}

local IDLE_MS = 2000 -- link_idle_ms of the processes: links a change made close

local function wall_ms()
  local s, us = uv.gettimeofday()
  return s * 1000 + us // 1000
end

-- A counter's growth over the nodes running before and after.
local function grown(before, after, field)
  local sum = 0
  for id, s in pairs(after) do
    if before[id] then sum = sum + (s[field] or 0) - (before[id][field] or 0) end
  end
  return sum
end

local function links(all)
  local sum, max, n = 0, 0, 0
  for _, s in pairs(all) do
    sum, max, n = sum + s.peer_links, math.max(max, s.peer_links), n + 1
  end
  return { mean = sum / n, max = max }
end

-- Messages of membership a node sent and received: pings and their
-- answers both ways, view changes, repairs, probes.
local function messages(s)
  local pinged = s.requests and s.requests.ping or 0
  return 2 * (s.heartbeats + pinged) + s.view_messages_sent + s.view_messages_received
    + 2 * (s.view_repairs + s.probes_sent + s.probes_served)
end

-- Waits until no node holds more links than the cube has dimensions (the
-- ones a catch-up or a detour made close once idle), or 3 idle times.
local function await_idle(cl)
  local max_id = 0
  for _, id in ipairs(cl:members()) do max_id = math.max(max_id, id) end
  local dim = 0
  while (max_id >> dim) ~= 0 do dim = dim + 1 end
  local deadline = uv.now() + 3 * IDLE_MS + 2000
  repeat
    local l = links(cl:stats(10000))
    if l.max <= dim then return end
    hypersub.sleep(250)
    uv.update_time()
  until uv.now() > deadline
end

-- What one change took: from t0 (wall ms; nil: the first node to change)
-- to the last node that changed, steps, messages, repairs.
local function change(before, after, t0)
  local first, last, steps = math.huge, 0, 0
  for id, s in pairs(after) do
    -- (a node that joined took its view from its JOIN's answer)
    if before[id] and s.view_changed_ms ~= before[id].view_changed_ms then
      first, last = math.min(first, s.view_changed_ms), math.max(last, s.view_changed_ms)
      steps = math.max(steps, s.view_steps)
    end
  end
  return {
    ms = last - (t0 or first), first_ms = first - (t0 or first), steps = steps,
    messages = grown(before, after, "view_messages_received"),
    repairs = grown(before, after, "view_repairs"),
  }
end

local function rss_kb(pid)
  local f = io.open(("/proc/%d/status"):format(pid))
  local kb = f and tonumber(f:read("a"):match("VmRSS:%s*(%d+)"))
  if f then f:close() end
  return kb or 0
end

-- Publishes entering at random nodes: hops from the nodes' histograms.
local function traffic(ctx, cl, n)
  local clients = {}
  for _, node in ipairs(cl:nodes()) do
    if node.alive then clients[#clients + 1] = assert(cl:client(node.id, { timeout = 10000 })) end
  end
  math.randomseed(n)
  local entry = function() return clients[math.random(#clients)] end
  local k = ctx.cfg.scale_requests
  assert(entry():create_publisher("sp"))
  for i = 1, k // 4 do
    assert(entry():create_topic("sp", "sc-" .. i))
    assert(entry():publish("sp", "sc-" .. i, "x"))
  end
  local before = cl:stats(10000)
  for _ = 1, k do assert(entry():publish("sp", "sc-" .. math.random(k // 4), "x")) end
  local after = cl:stats(10000)
  for _, c in ipairs(clients) do c:close() end
  local total, max = 0, 0
  for id, s in pairs(after) do
    for h, c1 in pairs(s.hops) do
      local d = c1 - ((before[id].hops or {})[h] or 0)
      h = tonumber(h)
      if h > 0 and d > 0 then total, max = total + d * h, math.max(max, h) end
    end
  end
  return total / k, max, links(after)
end

local function processes(ctx, n)
  local cl = lib.track(assert(cluster.start { nodes = n, replicas = 3, log_level = "warn",
    timeout = 60000, flags = { "--link-idle-ms", tostring(IDLE_MS) } }))
  assert(cl:await_view(120000))
  await_idle(cl)
  local out = { kind = "processes", nodes = n, log2 = math.log(n, 2) }

  local rates, bytes = {}, {}
  for w = 1, 3 do
    local s0, t0 = cl:stats(10000), lib.now_us()
    hypersub.sleep(ctx.cfg.hb_window_ms)
    local s1 = cl:stats(10000)
    local secs = (lib.now_us() - t0) / 1e6
    local m, b = 0, 0
    for id, s in pairs(s1) do
      m, b = m + messages(s) - messages(s0[id]), b + s.heartbeat_bytes - s0[id].heartbeat_bytes
    end
    rates[w], bytes[w] = m / secs / n, b / secs / n
  end
  out.idle_msgs, out.idle_bytes = lib.median(rates), lib.median(bytes)
  local idle = cl:stats(10000)
  out.links_idle = links(idle)
  local rss = 0
  for _, node in ipairs(cl:nodes()) do rss = rss + rss_kb(node.pid) end
  out.mem_bytes = rss * 1024 / n

  out.hops_mean, out.hops_max, out.links_busy = traffic(ctx, cl, n)
  await_idle(cl)

  local before = cl:stats(10000)
  assert(cl:join())
  assert(cl:await_view(60000))
  out.join = change(before, cl:stats(10000))
  await_idle(cl)

  before = cl:stats(10000)
  local t0 = wall_ms()
  assert(cl:leave(n // 2 + 1))
  assert(cl:await_view(60000))
  out.leave = change(before, cl:stats(10000), t0)
  await_idle(cl)

  before = cl:stats(10000)
  t0 = wall_ms()
  cl:kill(n // 4 + 3)
  assert(cl:await_view(60000))
  out.crash = change(before, cl:stats(10000), t0)
  out.detect_ms = out.crash.first_ms
  cl:close()
  return out
end

local function simulated(n)
  local p = lib.track(process.spawn(lib.bin .. "/hs-cubesim", { "--nodes", tostring(n) }))
  local r = lib.gen_result(p, 600000)
  r.kind, r.log2 = "simulation", math.log(n, 2)
  r.links_idle = { mean = r.links_mean, max = r.links_max }
  return r
end

function M.run(ctx)
  for _, n in ipairs(ctx.cfg.scale) do
    ctx.say(("scale: %d node processes"):format(n))
    ctx.results.scale[#ctx.results.scale + 1] = processes(ctx, n)
  end
  for _, n in ipairs(ctx.cfg.scale_sim) do
    ctx.say(("scale: %d members simulated"):format(n))
    ctx.results.scale[#ctx.results.scale + 1] = simulated(n)
  end
end

return M
