--- spec/support/relay.lua — a TCP relay for specs, run by the hypersub
-- runtime: `hypersub spec/support/relay.lua` listens on a free loopback
-- port, prints "READY <port>", reads the port to relay to from its stdin
-- (a line "TARGET <port>"), then copies bytes both ways between each
-- connection and 127.0.0.1:<port> (a connection before that is closed).
-- SIGSTOP it and every connection through it stalls (open, but nothing
-- moves): one broken link. It exits when its stdin closes (the spec that
-- started it died).
local uv = require "luv"

local target
local server = uv.new_tcp()
assert(server:bind("127.0.0.1", 0))

local function pipe(from, to)
  from:read_start(function(err, data)
    if err or not data then
      from:close()
      if not to:is_closing() then to:close() end
    elseif not to:is_closing() then
      to:write(data)
    end
  end)
end

assert(server:listen(64, function()
  local client = uv.new_tcp()
  server:accept(client)
  if not target then return client:close() end
  local up = uv.new_tcp()
  up:connect("127.0.0.1", target, function(err)
    if err then
      client:close()
      up:close()
      return
    end
    pipe(client, up)
    pipe(up, client)
  end)
end))

local stdin = uv.new_pipe(false)
stdin:open(0)
stdin:read_start(function(_, data)
  if not data then os.exit(0) end
  target = tonumber(data:match("TARGET (%d+)")) or target
end)

io.stdout:write(("READY %d\n"):format(server:getsockname().port))
io.stdout:flush()
