--- Child processes on luv's loop: start `hypersub node` processes, wait for
-- their READY line, collect output, kill and reap them. Used by specs and by
-- scripts that drive local clusters. Every wait is on an event with a
-- deadline, never a fixed sleep.
local uv = require "luv"

local M = {}

-- Children still running, killed when the Lua state closes (also after an
-- error): no process outlives the script that started it.
local live = setmetatable({}, { __mode = "k" })
local reaper = setmetatable({}, {
  __gc = function()
    for p in pairs(live) do
      if not p.exited then uv.kill(p.pid, "sigkill") end
    end
  end,
})
M._reaper = reaper -- kept alive by the module

local Proc = {}
Proc.__index = Proc

--- Runs the loop until cond() is true or timeout_ms passes.
-- Returns true, or nil, "TIMEOUT: <what> after <ms> ms", "TIMEOUT".
function M.wait_until(cond, timeout_ms, what)
  if cond() then return true end
  local loop = require "hypersub.loop"
  local expired = false
  local timer = loop.take_handle("timer")
  timer:start(timeout_ms, 0, function() expired = true end)
  local function settled() return expired or cond() end
  -- Inside a coroutine (hypersub.run / spawn): a check handle looks at the
  -- condition after every loop turn and resumes us, so the loop is never
  -- run re-entrantly. Conditions only change on events: no turn is wasted.
  local co, main = coroutine.running()
  if not main and coroutine.isyieldable() then
    local check = loop.take_handle("check")
    check:start(function()
      if settled() then
        check:stop()
        local ok, err = coroutine.resume(co)
        if not ok then error(debug.traceback(co, err), 0) end
      end
    end)
    coroutine.yield()
    loop.give_handle("check", check)
  else
    loop.run_until(settled)
  end
  loop.give_handle("timer", timer)
  if cond() then return true end
  return nil, ("TIMEOUT: %s after %d ms"):format(what or "condition", timeout_ms), "TIMEOUT"
end

-- The executable `path` resolves to, or nil. Checked before uv.spawn:
-- luv 1.44 crashes at exit after a spawn that failed to find its program.
local function resolve(path)
  if path:find("/", 1, true) then
    return uv.fs_access(path, "X") and path or nil
  end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local full = dir .. "/" .. path
    if uv.fs_access(full, "X") then return full end
  end
end

--- Starts `path` with `args`. opts.log: file for stderr (and stdout lines);
-- opts.env: extra environment entries ("K=V"). Returns a Proc.
function M.spawn(path, args, opts)
  opts = opts or {}
  local exe = resolve(path)
  if not exe then
    error(("could not start %s: no such executable"):format(path), 2)
  end
  path = exe
  local self = setmetatable({
    path = path, args = args, lines = {}, exited = false, log = opts.log,
    stdout_buf = "",
  }, Proc)
  local out, err = uv.new_pipe(false), uv.new_pipe(false)
  self.out_pipe, self.err_pipe = out, err
  -- opts.stdin_pipe: the child's stdin is a pipe we hold open; it reaches
  -- end of file when we close it or die (see `hypersub node --watch-stdin`).
  local inp = opts.stdin_pipe and uv.new_pipe(false) or nil
  self.in_pipe = inp
  local logf = opts.log and assert(io.open(opts.log, "a"))
  self.logf = logf
  local env
  if opts.env then
    env = {}
    for k, v in pairs(uv.os_environ()) do env[#env + 1] = k .. "=" .. v end
    for _, kv in ipairs(opts.env) do env[#env + 1] = kv end
  end
  local handle, pid = uv.spawn(path, {
    args = args, stdio = { inp, out, err }, env = env,
  }, function(code, signal)
    self.exited, self.code, self.signal = true, code, signal
    live[self] = nil
  end)
  if not handle then
    out:close()
    err:close()
    if inp then inp:close() end
    if logf then logf:close() end
    error(("could not start %s: %s"):format(path, pid), 2)
  end
  self.handle, self.pid = handle, pid
  live[self] = true
  out:read_start(function(e, data)
    if not data then
      self.out_eof = true
      if not out:is_closing() then out:close() end
      return
    end
    self.stdout_buf = self.stdout_buf .. data
    for line in self.stdout_buf:gmatch("([^\n]*)\n") do
      self.lines[#self.lines + 1] = line
      if logf then logf:write(line, "\n") end
    end
    self.stdout_buf = self.stdout_buf:match("([^\n]*)$")
  end)
  err:read_start(function(e, data)
    if not data then
      self.err_eof = true
      if not err:is_closing() then err:close() end
      return
    end
    if logf then logf:write(data) logf:flush() end
    self.stderr = (self.stderr or "") .. data
  end)
  return self
end

-- Exited, and everything it wrote has been read.
local function finished(self)
  return self.exited and self.out_eof and self.err_eof
end

--- Waits for a stdout line matching `pattern`; returns its captures.
function Proc:wait_line(pattern, timeout_ms)
  local found
  local ok, msg = M.wait_until(function()
    for _, line in ipairs(self.lines) do
      local caps = { line:match(pattern) }
      if caps[1] then found = caps return true end
    end
    return finished(self)
  end, timeout_ms or 10000, ("line %q from %s"):format(pattern, self.path))
  if found then return table.unpack(found) end
  if ok then
    return nil, ("%s exited (code %s, signal %s) before printing %q: %s"):format(
      self.path, self.code, self.signal, pattern, self.stderr or "")
  end
  return nil, msg
end

--- Sends a signal ("sigkill", "sigterm", ... or a number).
function Proc:kill(sig)
  if not self.exited and self.handle and not self.handle:is_closing() then
    self.handle:kill(sig or "sigterm")
  end
end

--- Waits for the process to exit and its output to be read; returns code,
-- signal.
function Proc:wait(timeout_ms)
  local ok, msg = M.wait_until(function() return finished(self) end,
    timeout_ms or 10000, "exit of " .. self.path)
  if not ok then return nil, msg end
  return self.code, self.signal
end

--- Kills (if needed), reaps and releases the handles.
function Proc:close()
  if not self.exited then
    self:kill("sigkill")
    self:wait(5000)
  end
  for _, h in ipairs { self.handle, self.out_pipe, self.err_pipe, self.in_pipe } do
    if h and not h:is_closing() then h:close() end
  end
  if self.logf then
    self.logf:close()
    self.logf = nil
  end
  -- Let the close callbacks run now: luv 1.44 crashes when the state
  -- closes with them pending. Not possible from inside a loop callback.
  if not require("hypersub.core").loop_running() then uv.run("nowait") end
end

-- The runtime that came with these modules: PREFIX/bin/hypersub beside
-- PREFIX/share/lua/5.4/hypersub/ (make install, a rock tree), or a source
-- tree's build/hypersub beside lua/hypersub/.
local function runtime_beside_modules()
  local here = package.searchpath("hypersub.process", package.path)
  if not here then return nil end
  here = here:gsub("^%./", (uv.cwd() or ".") .. "/")
  local candidates = {}
  local prefix = here:match("^(.*)/share/lua/5%.4/hypersub/process%.lua$")
  if prefix then candidates[#candidates + 1] = prefix .. "/bin/hypersub" end
  local root = here:match("^(.*)/lua/hypersub/process%.lua$")
  if root then candidates[#candidates + 1] = root .. "/build/hypersub" end
  for _, path in ipairs(candidates) do
    if uv.fs_access(path, "X") then return path end
  end
end

--- The hypersub runtime to start: $HYPERSUB_BIN, else the running
-- runtime, else the one installed with these modules, else `hypersub` on
-- PATH.
function M.runtime()
  local env = os.getenv("HYPERSUB_BIN")
  if env then return env end
  local self = uv.exepath()
  if self and self:match("/hypersub$") then return self end
  return runtime_beside_modules() or "hypersub"
end

--- Starts `hypersub node` with the given flags (listen defaults to a free
-- loopback port) and waits for READY. Returns proc with .id, .port, .addr.
-- opts.wrap: an argv prefix the runtime is started under.
-- The node watches a stdin pipe held by this process, so it exits when this
-- process does, even when it is killed.
function M.start_node(flags, opts)
  opts = opts or {}
  opts.stdin_pipe = true
  local args = { "node", "--watch-stdin" }
  local has_listen = false
  for _, f in ipairs(flags or {}) do
    args[#args + 1] = f
    if f == "--listen" or f:match("^%-%-listen=") then has_listen = true end
  end
  if not has_listen then
    args[#args + 1] = "--listen"
    args[#args + 1] = "127.0.0.1:0"
  end
  local program = M.runtime()
  if opts.wrap then -- e.g. {"ip", "netns", "exec", "ns1"}: run it there
    local wrapped = table.move(opts.wrap, 2, #opts.wrap, 1, {})
    wrapped[#wrapped + 1] = program
    table.move(args, 1, #args, #wrapped + 1, wrapped)
    program, args = opts.wrap[1], wrapped
  end
  local p = M.spawn(program, args, opts)
  local id, port = p:wait_line("^READY (%d+) (%d+)$", opts.timeout or 10000)
  if not id then
    local why = port
    p:close()
    return nil, why
  end
  p.id, p.port = tonumber(id), tonumber(port)
  p.addr = "127.0.0.1:" .. port
  return p
end

return M
