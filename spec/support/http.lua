--- A small HTTP/1.1 client on luv for the specs: raw bytes out, answers
-- parsed back (status, headers, body by Content-Length), on one connection
-- or many. Every wait has a deadline.
local uv = require "luv"
local process = require "hypersub.process"

local M = {}

local Conn = {}
Conn.__index = Conn

--- Opens a connection to 127.0.0.1:port; returns it, or nil, error.
function M.connect(port, timeout_ms)
  local self = setmetatable({ tcp = uv.new_tcp(), buf = "", closed = false }, Conn)
  local done, err = false, nil
  self.tcp:connect("127.0.0.1", port, function(e)
    err, done = e, true
  end)
  local ok, msg = process.wait_until(function() return done end, timeout_ms or 5000, "connect")
  if not ok or err then
    self:close()
    return nil, err or msg
  end
  self.tcp:read_start(function(e, data)
    if e or not data then
      self.closed = true
      return
    end
    self.buf = self.buf .. data
  end)
  return self
end

function Conn:send(bytes)
  self.tcp:write(bytes)
end

-- One whole answer at the front of buf: status, headers, body, the rest
-- (head_only: an answer to HEAD, which has no body whatever its length).
local function parse(buf, head_only)
  local head_end = buf:find("\r\n\r\n", 1, true)
  if not head_end then return nil end
  local head = buf:sub(1, head_end - 1)
  local status = tonumber(head:match("^HTTP/1%.1 (%d%d%d)"))
  local headers = {}
  for name, value in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
    headers[name:lower()] = value
  end
  local len = head_only and 0 or tonumber(headers["content-length"] or "0")
  if #buf < head_end + 3 + len then return nil end
  local body = buf:sub(head_end + 4, head_end + 3 + len)
  return status, headers, body, buf:sub(head_end + 4 + len)
end

--- Waits for the next answer: status, headers, body; or nil, why (the
-- connection closed, or the deadline passed).
function Conn:answer(timeout_ms, head_only)
  local status, headers, body, rest
  local ok = process.wait_until(function()
    status, headers, body, rest = parse(self.buf, head_only)
    return status ~= nil or self.closed
  end, timeout_ms or 5000, "an HTTP answer")
  if not status then return nil, ok and "closed" or "timeout" end
  self.buf = rest
  return status, headers, body
end

--- Waits until the server closes the connection; true, or nil on the
-- deadline.
function Conn:await_close(timeout_ms)
  return process.wait_until(function() return self.closed end, timeout_ms or 5000,
    "the server to close")
end

function Conn:close()
  if not self.tcp:is_closing() then self.tcp:close() end
end

--- GET path on a new connection: status, headers, body.
function M.get(port, path, timeout_ms)
  local c, err = M.connect(port, timeout_ms)
  if not c then return nil, err end
  c:send(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"):format(path))
  local status, headers, body = c:answer(timeout_ms)
  c:close()
  return status, headers, body
end

return M
