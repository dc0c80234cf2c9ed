--- Waiting on luv's loop: the three call styles' machinery (await), and
-- run, spawn, sleep and run_until for scripts.
--
-- A blocking call made inside a coroutine yields until its answer; made
-- anywhere else it runs the loop until the answer arrives. The loop is
-- never run from inside one of its own callbacks (uv_run is not reentrant).
local core = require "hypersub.core"
local uv = require "luv"

local M = {}

-- Coroutines started by run report their errors here instead of raising
-- inside a loop callback.
local catchers = setmetatable({}, { __mode = "k" })

local function resume(co, ...)
  local ok, err = coroutine.resume(co, ...)
  if not ok then
    local catch = catchers[co]
    if catch then
      catch(err, co)
    else
      error(debug.traceback(co, err), 0)
    end
  end
end

local function in_coroutine()
  local _, main = coroutine.running()
  return not main and coroutine.isyieldable()
end

-- Handles for waiting are pooled and never closed: luv 1.44 frees a
-- closing handle when it is collected, before libuv is done with it, which
-- crashes the next loop run (or lua_close). A stopped handle costs nothing.
local spare = { timer = {}, check = {}, idle = {} }

--- A stopped "timer", "check" or "idle" handle to use and give back.
function M.take_handle(kind)
  return table.remove(spare[kind]) or
    (kind == "timer" and uv.new_timer() or kind == "idle" and uv.new_idle() or uv.new_check())
end

function M.give_handle(kind, h)
  h:stop()
  spare[kind][#spare[kind] + 1] = h
end

--- Runs the loop until cond() holds. A "once" turn runs due timers and then
-- blocks in poll; when a timer of that turn settled cond, the prepare
-- handle stops the loop so poll does not wait for some other event.
-- With spin_us, it first polls without blocking for up to that many
-- microseconds: an answer that comes back within it finds the process
-- awake, instead of paying for waking it (on a virtual machine, waking a
-- process on an idle CPU can cost more than the round trip itself).
-- Returns false when the loop has nothing left that could settle it.
local waker, waker_cond
function M.run_until(cond, spin_us)
  if cond() then return true end
  if spin_us and spin_us > 0 then
    local stop = uv.hrtime() + spin_us * 1000
    repeat
      uv.run("nowait")
      if cond() then return true end
    until uv.hrtime() >= stop
  end
  if not waker then
    waker = uv.new_prepare()
    waker:unref() -- waiting alone must not keep the loop alive
  end
  local outer = waker_cond
  waker_cond = cond
  waker:start(function() if waker_cond() then uv.stop() end end)
  local alive = true
  while alive and not cond() do alive = uv.run("once") end
  waker_cond = outer
  if outer then waker:start(function() if waker_cond() then uv.stop() end end)
  else waker:stop() end
  return cond()
end

--- start(done) issues a request with `done` as its callback and returns
-- true, or nil, message, code. await returns what `done` receives; outside
-- a coroutine it waits as run_until(cond, spin_us) does.
function M.await(start, spin_us)
  if in_coroutine() then
    local co = coroutine.running()
    local ok, msg, code = start(function(...) resume(co, ...) end)
    if not ok then return nil, msg, code end
    return coroutine.yield()
  end
  if core.loop_running() then
    error("blocking hypersub call inside a loop callback: call it from a " ..
      "coroutine (hypersub.spawn) or pass a callback", 3)
  end
  -- Exactly what `done` got: a success is one value, not one and two nils.
  local results
  local ok, msg, code = start(function(...) results = table.pack(...) end)
  if not ok then return nil, msg, code end
  M.run_until(function() return results ~= nil end, spin_us)
  return table.unpack(results, 1, results.n)
end

--- Runs fn(...) in a new coroutine now; its blocking calls yield.
function M.spawn(fn, ...)
  local co = coroutine.create(fn)
  resume(co, ...)
  return co
end

--- Runs fn(...) in a coroutine and the loop until it returns; returns its
-- results, or raises its error here (with the coroutine's traceback).
function M.run(fn, ...)
  if in_coroutine() then return fn(...) end
  local args = table.pack(...)
  local finished, results, failure = false, nil, nil
  local co = coroutine.create(function()
    results = table.pack(fn(table.unpack(args, 1, args.n)))
    finished = true
  end)
  catchers[co] = function(err, c)
    failure = debug.traceback(c, tostring(err))
  end
  resume(co)
  if not M.run_until(function() return finished or failure end) then
    failure = "hypersub.run: the coroutine waits, but nothing is left " ..
      "on the loop that could wake it"
  end
  if failure then error(failure, 0) end
  return table.unpack(results, 1, results.n)
end

--- Waits ms milliseconds (yields in a coroutine, else runs the loop).
-- sleep(0) waits for one turn of the loop, which polls I/O without
-- blocking: an idle handle, not a timer, since libuv runs a 0 ms timer
-- started by a timer callback in the same turn, so a loop of sleep(0)
-- would never reach the I/O it waits for.
function M.sleep(ms)
  local kind = ms == 0 and "idle" or "timer"
  local h = M.take_handle(kind)
  M.await(function(done)
    if kind == "idle" then
      h:start(function() h:stop() done(true) end)
    else
      h:start(ms, 0, function() done(true) end)
    end
    return true
  end)
  M.give_handle(kind, h)
  return true
end

return M
