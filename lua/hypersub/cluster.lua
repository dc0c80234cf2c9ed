--- Local clusters of real `hypersub node` processes on 127.0.0.1, for specs,
-- benchmarks and demos.
--
--   local cluster = require "hypersub.cluster"
--   local cl = assert(cluster.start { nodes = 8, replicas = 3 })
--   local c = cl:client()          -- round robin over the live nodes; cl:client(id) for one
--   print(cl:home "news", cl:where("news").replicas[1])
--   cl:kill(3); cl:restart(3)
--   local id = cl:join()           -- one more node, through a running member
--   cl:leave(id)                   -- it hands its topics over and exits
--   cl:close()                     -- every process killed and reaped (also via <close>/__gc)
--
-- The nodes started together know each other from their --peer flags;
-- nodes added later join through a running member (--join). Each node
-- logs to <cl.dir>/node<id>.log; its stdout and stderr (READY, sanitizer
-- reports) go to <cl.dir>/node<id>.out. close() removes cl.dir, unless
-- asked to keep it (keep_logs = true) or something went wrong (cl:check()
-- failed, or a node left a problem in its output): then it says where the
-- logs are.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local core = require "hypersub.core"
local uv = require "luv"

local M = {}

local Cluster = {}
Cluster.__index = Cluster

-- Lets close callbacks run now: luv 1.44 crashes when the Lua state closes
-- with a closed handle the loop has not seen yet. Not from inside the loop.
local function settle()
  if not core.loop_running() then uv.run("nowait") end
end

-- The lowest port the kernel hands out for outgoing connections: ports
-- below it are never taken by a node's own connects.
local function ephemeral_low()
  local f = io.open("/proc/sys/net/ipv4/ip_local_port_range")
  local low = f and tonumber(f:read("n"))
  if f then f:close() end
  return low or 32768
end

--- n distinct free ports on 127.0.0.1, below the kernel's range for
-- outgoing connections, so a connect elsewhere cannot take one before its
-- node binds it. Each is bound to check it is free, and all are held until
-- every one is known.
function M.free_ports(n)
  local handles, ports, seen = {}, {}, {}
  local low = math.min(ephemeral_low(), 65536)
  local floor = low > 12000 and 10000 or 1024
  local tries = 0
  while #ports < n do
    tries = tries + 1
    if tries > 100 * n + 1000 then
      for _, h in ipairs(handles) do h:close() end
      settle()
      error(("could not find %d free ports below %d"):format(n, low), 2)
    end
    local port = math.random(floor, low - 1)
    if not seen[port] then
      seen[port] = true
      local tcp = uv.new_tcp()
      if tcp:bind("127.0.0.1", port) and tcp:listen(1, function() end) then
        handles[#handles + 1] = tcp
        ports[#ports + 1] = port
      else
        tcp:close()
      end
    end
  end
  for _, h in ipairs(handles) do h:close() end
  settle()
  return ports
end

-- The cube dimension of a set of ids: the bits of the largest.
local function dim_of(ids)
  local max, d = 0, 0
  for _, id in ipairs(ids) do if id > max then max = id end end
  while (max >> d) ~= 0 do d = d + 1 end
  return d
end

local function check_ids(opts)
  local ids = {}
  if opts.ids then
    local seen = {}
    for i, id in ipairs(opts.ids) do
      if math.type(id) ~= "integer" or id < 0 or seen[id] then
        error(("bad ids[%d]: expected distinct non-negative integers"):format(i), 3)
      end
      seen[id], ids[i] = true, id
    end
    table.sort(ids)
  else
    local n = opts.nodes or 1
    if math.type(n) ~= "integer" or n < 1 then
      error("bad option 'nodes': expected a positive integer", 3)
    end
    for i = 1, n do ids[i] = i - 1 end
  end
  if #ids == 0 then error("a cluster needs at least one node", 3) end
  return ids
end

-- A node's data directory and how it syncs (opts.data: true for "always",
-- or the fsync mode), kept in the cluster's directory across restarts.
local function data_flags(self, id, opts)
  return { "--data-dir", self:data_dir(id), "--fsync",
    opts.data == true and "always" or opts.data }
end

--- cl:data_dir(id) -> where node id keeps its data (cluster.start{data =}).
function Cluster:data_dir(id)
  return ("%s/data%d"):format(self.dir, id)
end

-- The flags node `id` is started with (the same on every restart).
local function node_flags(self, id, opts)
  local flags = {
    "--id", tostring(id),
    "--listen", self:addr(id),
    "--replicas", tostring(self.replicas),
    "--log-file", ("%s/node%d.log"):format(self.dir, id),
    "--log-level", opts.log_level or "info",
  }
  for _, other in ipairs(self.ids) do
    if other ~= id then
      flags[#flags + 1] = "--peer"
      flags[#flags + 1] = ("%d=%s"):format(other, self:addr(other))
    end
  end
  if self._http[id] then
    table.move({ "--http", self:http_addr(id) }, 1, 2, #flags + 1, flags)
  end
  if opts.data then table.move(data_flags(self, id, opts), 1, 4, #flags + 1, flags) end
  for _, f in ipairs(opts.flags or {}) do flags[#flags + 1] = f end
  for _, f in ipairs(opts.node_flags and opts.node_flags[id] or {}) do
    flags[#flags + 1] = f
  end
  return flags
end

-- Starts node `id` in a coroutine; done(proc) or done(nil, message).
local function launch(self, id, done)
  hypersub.spawn(function()
    local ok, p, why = pcall(process.start_node, self._flags[id], {
      log = ("%s/node%d.out"):format(self.dir, id),
      timeout = self.timeout,
      wrap = self._wrap[id],
    })
    if not ok then p, why = nil, tostring(p) end
    done(p, why)
  end)
end

--- cluster.start(opts) -> cluster | nil, message
-- opts: nodes = N (ids 0..N-1) or ids = {...}; replicas = R | "neighbours"
-- (default 3); log_level (default "info"); flags = {extra flags for every
-- node}; node_flags = {[id] = {extra flags for that node}}; timeout = ms
-- each node gets to print READY (default 20000); hosts = {[id] = "ip"}
-- (default 127.0.0.1) and wrap = {[id] = {argv prefix}} start a node
-- elsewhere, e.g. {"ip", "netns", "exec", "ns1"} in a network namespace;
-- client = {options every cl:client gets, e.g. user = and password =};
-- data = true (or "interval", "never") gives every node a data directory,
-- cl:data_dir(id), kept across cl:kill and cl:restart;
-- keep_logs = true keeps the log directory after close(); http = true gives
-- every node a monitoring port on a free port (cl:http_addr(id)). Every
-- process
-- is started first, then every READY awaited. On failure whatever started is
-- killed and reaped.
local OPTIONS = {
  nodes = true, ids = true, replicas = true, log_level = true, flags = true,
  node_flags = true, timeout = true, hosts = true, wrap = true, client = true,
  keep_logs = true, http = true, data = true,
}

function M.start(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad options: expected a table", 2) end
  for k in pairs(opts) do
    if not OPTIONS[k] then error(("unknown cluster option '%s'"):format(k), 2) end
  end
  local ids = check_ids(opts)
  local replicas = opts.replicas or 3
  if replicas ~= "neighbours" and (math.type(replicas) ~= "integer" or replicas < 1) then
    error("bad option 'replicas': expected a positive integer or \"neighbours\"", 2)
  end
  local dir = assert(uv.fs_mkdtemp("/tmp/hypersub-XXXXXX"))
  local self = setmetatable({
    dir = dir, ids = ids, replicas = replicas, dim = dim_of(ids),
    timeout = opts.timeout or 20000,
    _port = {}, _flags = {}, _proc = {}, _clients = {}, _next = 0, _retired = {},
    _left = {}, _opts = opts, _host = opts.hosts or {}, _wrap = opts.wrap or {},
    _http = {},
  }, Cluster)
  local ports = M.free_ports(opts.http and 2 * #ids or #ids)
  for i, id in ipairs(ids) do
    self._port[id] = ports[i]
    if opts.http then self._http[id] = ports[#ids + i] end
  end
  for _, id in ipairs(ids) do self._flags[id] = node_flags(self, id, opts) end

  local t0 = uv.hrtime()
  local waiting, failure = #ids, nil
  for _, id in ipairs(ids) do
    launch(self, id, function(p, why)
      waiting = waiting - 1
      if p and self._closed then p:close() -- too late: start gave up
      elseif p then self._proc[id] = p
      else failure = failure or ("node %d did not start: %s"):format(id, why) end
    end)
  end
  local ok, msg = process.wait_until(function() return waiting == 0 end,
    self.timeout + 5000, "READY from every node")
  self.start_ms = (uv.hrtime() - t0) / 1e6
  if not (ok and not failure) then
    self:close()
    return nil, failure or msg
  end
  return self
end

--- The live node for `id` (raises for an unknown id).
local function proc_of(self, id, what)
  if not self._port[id] then
    error(("bad argument to '%s': %s is not a node of this cluster"):format(what, tostring(id)), 3)
  end
  return self._proc[id]
end

local function alive(p) return p ~= nil and not p.exited end

--- cl:client([id] [, opts]) -> client | nil, message, code
-- Connects to node `id`, or to the next live node in turn; opts go to
-- hypersub.connect. The cluster closes its clients when it closes.
function Cluster:client(id, opts)
  if type(id) == "table" then id, opts = nil, id end
  if id == nil then
    for _ = 1, #self.ids do
      self._next = self._next % #self.ids + 1
      local cand = self.ids[self._next]
      if alive(self._proc[cand]) then id = cand break end
    end
    if id == nil then return nil, "UNAVAILABLE: no node is running", "UNAVAILABLE" end
  end
  proc_of(self, id, "client")
  if self._opts.client then -- the cluster's login and other defaults
    local merged = {}
    for k, v in pairs(self._opts.client) do merged[k] = v end
    for k, v in pairs(opts or {}) do merged[k] = v end
    opts = merged
  end
  local c, msg, code = hypersub.connect(self:addr(id), opts)
  if c then self._clients[#self._clients + 1] = c end
  return c, msg, code
end

--- cl:where(topic) -> {home = id, replicas = {ids...}}: the nodes' rule,
-- computed here. Members that are down keep their bit in the dimension (as
-- in the nodes' view) but hold nothing.
function Cluster:where(topic)
  local copies = self.replicas == "neighbours" and self.dim + 1 or self.replicas
  local order = hypersub.placement(topic, self:members())
  local out = {}
  for _, id in ipairs(order) do
    if #out == copies then break end
    if alive(self._proc[id]) then out[#out + 1] = id end
  end
  return { home = out[1], replicas = table.move(out, 2, #out, 1, {}) }
end

-- Polls fn() -> done, detail every few ms (each poll is a round of
-- requests whose answers wake the wait) until done or timeout.
local function poll(fn, timeout_ms, what)
  local deadline = uv.now() + (timeout_ms or 10000)
  local detail
  repeat
    local done
    done, detail = fn()
    if done then return true end
    hypersub.sleep(20)
    uv.update_time()
  until uv.now() >= deadline
  return nil, ("%s not seen within %d ms%s"):format(what, timeout_ms or 10000,
    detail and (": " .. detail) or "")
end

--- cl:await_view([timeout_ms]) -> true | nil, message
-- Waits until every live node's view says alive exactly for the nodes
-- running and dead for the others (after kill / stop / restart), with one
-- epoch everywhere, and every node has heard from the peers it watches
-- (so failure detection is armed).
function Cluster:await_view(timeout_ms)
  return poll(function()
    local epoch
    for _, id in ipairs(self.ids) do
      if alive(self._proc[id]) then
        local c = self:client(id, { timeout = 2000 })
        local v = c and c:view()
        local st = c and c:stats()
        if c then c:close() end
        if not (v and st) then return false, "node " .. id .. " did not answer" end
        if (st.unheard or 0) > 0 then
          return false, ("node %d has not heard from %d of its peers yet"):format(id, st.unheard)
        end
        if epoch and v.epoch ~= epoch then return false, "epochs differ" end
        epoch = v.epoch
        if #v.members ~= #self.ids then
          return false, ("node %d knows %d members, not %d"):format(id, #v.members, #self.ids)
        end
        for _, m in ipairs(v.members) do
          local want = self._left[m.id] and "left" or alive(self._proc[m.id]) and "alive" or "dead"
          if m.state ~= want then
            return false, ("node %d sees node %d %s"):format(id, m.id, m.state)
          end
        end
      end
    end
    return true
  end, timeout_ms, "one view of the cluster everywhere")
end

--- cl:holders(topic) -> {[id] = {next=, first=, digest=, cursors=}}: the
-- live nodes holding a copy, from each node's own account.
function Cluster:holders(topic)
  local out = {}
  for _, id in ipairs(self.ids) do
    if alive(self._proc[id]) then
      local c = self:client(id, { timeout = 2000 })
      local l = c and c:local_topics()
      if c then c:close() end
      for _, t in ipairs(l and l.topics or {}) do
        if t.name == topic then out[id] = t end
      end
    end
  end
  return out
end

--- cl:stats([timeout_ms]) -> {[id] = c:stats()} of every running node
-- (raises when one does not answer within timeout_ms, default 5000).
function Cluster:stats(timeout_ms)
  local out = {}
  for _, id in ipairs(self.ids) do
    if alive(self._proc[id]) then
      local c = assert(self:client(id, { timeout = timeout_ms or 5000 }))
      out[id] = assert(c:stats())
      c:close()
    end
  end
  return out
end

--- cl:await_copies(topic [, timeout_ms]) -> true | nil, message
-- Waits until the topic is held by exactly the nodes cl:where names, with
-- byte-identical logs (a failover's refill is over).
function Cluster:await_copies(topic, timeout_ms)
  return poll(function()
    local w = self:where(topic)
    local want = { [w.home] = true }
    for _, r in ipairs(w.replicas) do want[r] = true end
    local h, digest = self:holders(topic), nil
    for id in pairs(want) do
      if not h[id] then return false, ("node %d has no copy"):format(id) end
      if digest and h[id].digest ~= digest then
        local parts = {}
        for hid, t in pairs(h) do
          parts[#parts + 1] = ("node %d: first %d, next %d, digest %s"):format(
            hid, t.first, t.next, tostring(t.digest))
        end
        table.sort(parts)
        return false, "copies differ (" .. table.concat(parts, "; ") .. ")"
      end
      digest = h[id].digest
    end
    for id in pairs(h) do
      if not want[id] then return false, ("node %d still has a copy"):format(id) end
    end
    return true
  end, timeout_ms, ("the copies of %q"):format(topic))
end

--- cl:topic_away(prefix, id) -> prefix .. n, the first such name for which
-- node `id` holds no copy (a topic that survives that node's clients, or
-- whose home can be killed while `id` stays out of the story).
function Cluster:topic_away(prefix, id)
  for n = 1, 100000 do
    local topic, w = prefix .. n, self:where(prefix .. n)
    local clear = w.home ~= id
    for _, r in ipairs(w.replicas) do clear = clear and r ~= id end
    if clear then return topic end
  end
  error(("no topic %s<n> avoids node %s"):format(prefix, tostring(id)), 2)
end

--- cl:topic_at(prefix, id) -> prefix .. n, the first such name that node
-- `id` is the home of in the current view.
function Cluster:topic_at(prefix, id)
  for n = 1, 100000 do
    local topic = prefix .. n
    if self:where(topic).home == id then return topic end
  end
  error(("no topic %s<n> is homed at node %s"):format(prefix, tostring(id)), 2)
end

--- cl:home(topic) -> the id of the topic's home.
function Cluster:home(topic)
  return self:where(topic).home
end

--- cl:nodes() -> {{id=, addr=, pid=, log=, alive=, left=, http=}, ...}
-- sorted by id.
function Cluster:nodes()
  local out = {}
  for _, id in ipairs(self.ids) do
    local p = self._proc[id]
    out[#out + 1] = {
      id = id, addr = self:addr(id), pid = p and p.pid,
      log = ("%s/node%d.log"):format(self.dir, id), alive = alive(p),
      http = self:http_addr(id),
      left = self._left[id] == true,
    }
  end
  return out
end

--- cl:http_addr(id) -> "host:port" of node `id`'s monitoring port (a
-- cluster started with http = true), or nil.
function Cluster:http_addr(id)
  local port = self._http[id]
  return port and ("%s:%d"):format(self._host[id] or "127.0.0.1", port)
end

--- cl:addr(id) -> "host:port" of node `id`.
function Cluster:addr(id)
  return ("%s:%d"):format(self._host[id] or "127.0.0.1", self._port[id])
end

--- cl:members() -> the ids of the nodes that have not left, ascending.
function Cluster:members()
  local out = {}
  for _, id in ipairs(self.ids) do
    if not self._left[id] then out[#out + 1] = id end
  end
  return out
end

--- cl:join([id]) -> id | nil, message: starts one more node that joins
-- the cluster through a running member; without `id` the cluster gives
-- it the lowest free one (the driver predicts it, to name the log file).
function Cluster:join(id)
  local members = {}
  for _, m in ipairs(self:members()) do members[m] = true end
  local want = id
  if want == nil then
    want = 0
    while members[want] do want = want + 1 end
  elseif math.type(want) ~= "integer" or want < 0 or members[want] then
    error(("bad argument to 'join': %s is a member already or not an id"):format(tostring(id)), 2)
  end
  local via
  for _, m in ipairs(self:members()) do
    if alive(self._proc[m]) then via = m break end
  end
  if not via then return nil, "no running member to join through" end
  local old = self._proc[want]
  if alive(old) then return nil, ("node %d is still running"):format(want) end
  if old then
    old:close()
    self._retired[#self._retired + 1] = old
  end
  self._port[want] = self._port[want] or M.free_ports(1)[1]
  local opts = self._opts
  local flags = {
    "--join", self:addr(via),
    "--listen", self:addr(want),
    "--replicas", tostring(self.replicas),
    "--log-file", ("%s/node%d.log"):format(self.dir, want),
    "--log-level", opts.log_level or "info",
  }
  if opts.http then
    self._http[want] = self._http[want] or M.free_ports(1)[1]
    table.move({ "--http", self:http_addr(want) }, 1, 2, #flags + 1, flags)
  end
  if opts.data then table.move(data_flags(self, want, opts), 1, 4, #flags + 1, flags) end
  for _, f in ipairs(opts.flags or {}) do flags[#flags + 1] = f end
  if id then table.move({ "--id", tostring(id) }, 1, 2, #flags + 1, flags) end
  self._flags[want] = flags
  local p, why, done = nil, nil, false
  launch(self, want, function(proc, msg) p, why, done = proc, msg, true end)
  process.wait_until(function() return done end, self.timeout + 5000,
    ("READY from joining node %d"):format(want))
  if not p then return nil, ("node %d did not join: %s"):format(want, why or "timeout") end
  self._proc[want] = p
  if p.id ~= want then
    return nil, ("the cluster gave id %d, not the lowest free id %d"):format(p.id, want)
  end
  -- Restarted later, it asks for the same id again.
  table.move({ "--id", tostring(want) }, 1, 2, #flags + 1, flags)
  self._left[want] = nil
  local known = false
  for _, k in ipairs(self.ids) do known = known or k == want end
  if not known then
    self.ids[#self.ids + 1] = want
    table.sort(self.ids)
  end
  self.dim = dim_of(self:members())
  return want
end

--- cl:leave(id) -> true | nil, message: node `id` hands its topics over
-- and exits cleanly (LEAVE); the others mark it left.
function Cluster:leave(id)
  local p = proc_of(self, id, "leave")
  if not alive(p) then return nil, ("node %d is not running"):format(id) end
  local c, msg = self:client(id, { timeout = 5000 })
  if not c then return nil, msg end
  p.expected_exit = true
  local ok, err = c:leave(id)
  c:close()
  if not ok then return nil, err end
  local code, sig = p:wait(10000)
  if code ~= 0 then
    return nil, ("node %d exited with code %s, signal %s"):format(id, tostring(code), tostring(sig))
  end
  self._left[id] = true
  self.dim = dim_of(self:members())
  return true
end

--- cl:wait(id [, ms]) -> code, signal once node `id` has exited
-- (or nil, message on the deadline, default 10 s).
function Cluster:wait(id, ms)
  local p = proc_of(self, id, "wait")
  if not p then return nil, ("node %d was never started"):format(id) end
  return p:wait(ms or 10000)
end

local function signal(self, id, sig, what)
  local p = proc_of(self, id, what)
  if not alive(p) then return nil, ("node %d is not running"):format(id) end
  p.expected_exit = true
  p:kill(sig)
  return p:wait(10000)
end

--- cl:kill(id) -> code, signal: SIGKILL, then waits for the exit.
function Cluster:kill(id) return signal(self, id, "sigkill", "kill") end

--- cl:pause(id) / cl:resume(id): SIGSTOP and SIGCONT, for a node that
-- goes silent without exiting.
function Cluster:pause(id)
  local p = proc_of(self, id, "pause")
  if alive(p) then p:kill("sigstop") end
end

function Cluster:resume(id)
  local p = proc_of(self, id, "resume")
  if alive(p) then p:kill("sigcont") end
end

--- cl:stop(id) -> code, signal: SIGTERM, then waits for the exit. The
-- node leaves gracefully (hands its topics over, exits 0); the others
-- then hold it as left.
function Cluster:stop(id)
  local code, sig = signal(self, id, "sigterm", "stop")
  if code == 0 and #self:members() > 1 then
    self._left[id] = true
    self.dim = dim_of(self:members())
  end
  return code, sig
end

--- cl:restart(id) -> true | nil, message: starts node `id` again on its port
-- with its flags and waits for READY (a node that left joins again). The
-- node must have exited.
function Cluster:restart(id)
  local old = proc_of(self, id, "restart")
  if alive(old) then return nil, ("node %d is still running"):format(id) end
  if self._left[id] then -- it left (cl:stop): it comes back by joining
    local joined, why = self:join(id)
    if not joined then return nil, why end
    return true
  end
  if old then
    old:close()
    self._retired[#self._retired + 1] = old
  end
  local p, why, done = nil, nil, false
  launch(self, id, function(proc, msg) p, why, done = proc, msg, true end)
  process.wait_until(function() return done end, self.timeout + 5000,
    ("READY from node %d"):format(id))
  if not p then return nil, ("node %d did not restart: %s"):format(id, why or "timeout") end
  self._proc[id] = p
  return true
end

-- Removes a directory of files (the nodes' logs).
local function remove_dir(dir)
  local h = uv.fs_scandir(dir)
  while h do
    local name = uv.fs_scandir_next(h)
    if not name then break end
    os.remove(dir .. "/" .. name)
  end
  uv.fs_rmdir(dir)
end

--- cl:close(): closes the clients, kills every node and reaps it, then
-- removes the log directory unless it is to be kept (keep_logs, a failed
-- check, a problem in a node's output: then it says where it is). Safe to
-- call twice.
function Cluster:close()
  local first = not self._closed
  self._closed = true
  for _, c in ipairs(self._clients) do c:close() end
  self._clients = {}
  for _, p in pairs(self._proc) do
    if not p.exited then p.expected_exit = true p:kill("sigkill") end
  end
  for id, p in pairs(self._proc) do
    p:close()
    self._retired[#self._retired + 1] = p
    self._proc[id] = nil
  end
  settle()
  if not first or self._opts.keep_logs then return end
  local problems = self._check_failed and {} or self:problems()
  if self._check_failed or #problems > 0 then
    io.stderr:write(("hypersub.cluster: the nodes' logs are kept in %s%s\n"):format(
      self.dir, #problems > 0 and (" (" .. #problems .. " problem(s) found)") or ""))
  else
    remove_dir(self.dir)
  end
end
Cluster.__close = Cluster.close

-- Collected without close(): no waiting here (the collector may run inside
-- a loop callback); SIGKILL each child, the process module reaps them.
function Cluster:__gc()
  for _, p in pairs(self._proc or {}) do
    if not p.exited then uv.kill(p.pid, "sigkill") end
  end
  if not self._closed and self.dir and not (self._opts and self._opts.keep_logs) then
    remove_dir(self.dir)
  end
end

local BAD = { "Sanitizer", "runtime error:", "Assertion", "Segmentation" }

--- cl:problems() -> a list of strings, empty when all is well: sanitizer
-- reports or assertion failures in a node's output, and nodes that died
-- by themselves with a failure status (not by kill/stop/close, nor a
-- clean stop_node). Reads every incarnation of every node.
function Cluster:problems()
  local out = {}
  for _, p in ipairs(self._retired) do
    if p.exited and not p.expected_exit and (p.code ~= 0 or p.signal ~= 0) then
      out[#out + 1] = ("node %s (pid %d) exited with code %s, signal %s"):format(
        p.id or "?", p.pid, p.code, p.signal)
    end
  end
  for _, id in ipairs(self.ids) do
    local p = self._proc[id]
    if p and p.exited and not p.expected_exit and (p.code ~= 0 or p.signal ~= 0) then
      out[#out + 1] = ("node %d exited with code %s, signal %s"):format(id, p.code, p.signal)
    end
    for _, name in ipairs { "out", "log" } do
      local path = ("%s/node%d.%s"):format(self.dir, id, name)
      local f = io.open(path)
      local text = f and f:read("a") or ""
      if f then f:close() end
      for _, bad in ipairs(BAD) do
        local at = text:find(bad, 1, true)
        if at then
          out[#out + 1] = ("%s: %q at byte %d: %s"):format(path, bad, at,
            text:sub(math.max(1, at - 200), at + 800))
          break
        end
      end
    end
  end
  return out
end

--- cl:check() -> true, or raises with every problem (see cl:problems())
-- and where the logs are; close() then keeps them.
function Cluster:check()
  local problems = self:problems()
  if #problems > 0 then
    self._check_failed = true
    error(table.concat(problems, "\n") .. "\n(the logs are in " .. self.dir .. ")", 2)
  end
  return true
end

function Cluster:__tostring()
  return ("hypersub.cluster: %d nodes in %s"):format(#self.ids, self.dir)
end

return M
