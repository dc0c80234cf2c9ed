--- Debian's headless Chromium driven over the DevTools protocol on a pipe
-- (--remote-debugging-pipe: JSON messages ending in a NUL, commands on its
-- fd 3, answers and events on its fd 4), for the specs: open a page,
-- evaluate JavaScript in it, take a screenshot. No download, no network:
-- a fresh profile directory, removed at close; every wait has a deadline.
local uv = require "luv"
local cjson = require "cjson"
local process = require "hypersub.process"

local M = {}

M.PATH = "/usr/bin/chromium"

local Browser = {}
Browser.__index = Browser

--- Whether the browser is installed.
function M.available()
  return uv.fs_access(M.PATH, "X")
end

--- Starts it on `url` (width x height); returns a Browser or raises.
function M.open(url, width, height)
  local profile = assert(uv.fs_mkdtemp("/tmp/hypersub-chromium-XXXXXX"))
  local self = setmetatable({ profile = profile, buf = "", answers = {}, next_id = 1,
    stderr = "" }, Browser)
  local to_browser, from_browser = uv.new_pipe(false), uv.new_pipe(false)
  local err = uv.new_pipe(false)
  self.pipes = { to_browser, from_browser, err }
  -- The sanitizer runtime `make asan` preloads must not reach the browser.
  local env = {}
  for k, v in pairs(uv.os_environ()) do
    if k ~= "LD_PRELOAD" and not k:match("SAN_OPTIONS$") then env[#env + 1] = k .. "=" .. v end
  end
  local args = {
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
    "--user-data-dir=" .. profile, "--remote-debugging-pipe",
    ("--window-size=%d,%d"):format(width or 1280, height or 800), url,
  }
  local handle, pid = uv.spawn(M.PATH, {
    args = args, env = env, stdio = { nil, nil, err, to_browser, from_browser },
  }, function(code, sig) self.exited, self.code, self.signal = true, code, sig end)
  if not handle then
    for _, p in ipairs(self.pipes) do p:close() end
    error("could not start " .. M.PATH .. ": " .. tostring(pid))
  end
  self.handle, self.pid = handle, pid
  err:read_start(function(_, data)
    if data and #self.stderr < 65536 then self.stderr = self.stderr .. data end
  end)
  from_browser:read_start(function(_, data)
    if not data then
      self.closed = true
      return
    end
    self.buf = self.buf .. data
    while true do
      local nul = self.buf:find("\0", 1, true)
      if not nul then break end
      local msg = cjson.decode(self.buf:sub(1, nul - 1))
      self.buf = self.buf:sub(nul + 1)
      if msg.id then self.answers[msg.id] = msg end
    end
  end)
  self.to_browser = to_browser
  return self
end

--- Sends a command (to a session when given) and waits for its answer:
-- the result, or raises with the browser's error.
function Browser:call(method, params, session, timeout_ms)
  local id = self.next_id
  self.next_id = id + 1
  self.to_browser:write(cjson.encode { id = id, method = method, params = params or {},
    sessionId = session } .. "\0")
  local ok, why = process.wait_until(function()
    return self.answers[id] ~= nil or self.closed or self.exited
  end, timeout_ms or 15000, method)
  local answer = self.answers[id]
  self.answers[id] = nil
  if not answer then
    error(("%s: %s (browser stderr: %s)"):format(method, why or "the browser went away",
      self.stderr:sub(-2000)), 2)
  end
  if answer.error then error(method .. ": " .. cjson.encode(answer.error), 2) end
  return answer.result
end

--- Attaches to the page it opened; returns the session id.
function Browser:page_session()
  if self.session then return self.session end
  local targets
  assert(process.wait_until(function()
    targets = self:call("Target.getTargets").targetInfos
    for _, t in ipairs(targets) do
      if t.type == "page" then return true end
    end
    return false
  end, 15000, "a page target"))
  for _, t in ipairs(targets) do
    if t.type == "page" then
      self.session = self:call("Target.attachToTarget", { targetId = t.targetId, flatten = true }).sessionId
      return self.session
    end
  end
end

--- The value of a JavaScript expression in the page.
function Browser:eval(expression)
  local r = self:call("Runtime.evaluate", { expression = expression, returnByValue = true },
    self:page_session())
  if r.exceptionDetails then error("in the page: " .. cjson.encode(r.exceptionDetails), 2) end
  return r.result.value
end

--- Waits until the expression is true in the page (polled every 100 ms).
function Browser:wait_for(expression, timeout_ms, what)
  local deadline = uv.now() + (timeout_ms or 15000)
  repeat
    if self:eval(expression) == true then return true end
    require("hypersub").sleep(100)
    uv.update_time()
  until uv.now() >= deadline
  return nil, ("%s not seen in the page within %d ms"):format(what or expression, timeout_ms or 15000)
end

-- Decodes base64.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function unbase64(s)
  local map = {}
  for i = 1, #B64 do map[B64:sub(i, i)] = i - 1 end
  local out, bits, n = {}, 0, 0
  for ch in s:gmatch("[%w+/]") do
    bits = (bits << 6) | map[ch]
    n = n + 6
    if n >= 8 then
      n = n - 8
      out[#out + 1] = string.char((bits >> n) & 0xff)
    end
  end
  return table.concat(out)
end

--- Writes a PNG of the page to path.
function Browser:screenshot(path)
  local r = self:call("Page.captureScreenshot", { format = "png" }, self:page_session())
  local f = assert(io.open(path, "wb"))
  f:write(unbase64(r.data))
  f:close()
end

--- Closes the browser, waits for it, removes the profile.
function Browser:close()
  if not self.exited then
    pcall(function() self.to_browser:write(cjson.encode { id = 0, method = "Browser.close" } .. "\0") end)
    process.wait_until(function() return self.exited end, 5000, "the browser to exit")
    if not self.exited then uv.kill(self.pid, "sigkill") end
    process.wait_until(function() return self.exited end, 5000, "the browser to die")
  end
  for _, p in ipairs(self.pipes) do if not p:is_closing() then p:close() end end
  if self.handle and not self.handle:is_closing() then self.handle:close() end
  os.execute("rm -rf '" .. self.profile .. "'")
  if not require("hypersub.core").loop_running() then uv.run("nowait") end
end

return M
