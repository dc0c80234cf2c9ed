--- What every verb of the command line shares: its flags (the verb's own
-- and --server, --cluster, --timeout, --json, --help), the connection they
-- describe, printing data as text or JSON, and the exit codes.
local hypersub = require "hypersub"
local json = require "cjson"

local M = {}

--- Exit codes scripts can trust.
M.OK, M.FAILED, M.USAGE, M.UNREACHABLE = 0, 1, 2, 3

M.DEFAULT_SERVER = "127.0.0.1:7000"

-- The flags every verb that talks to a cluster takes.
M.COMMON = { -- json last
  { flag = "server", arg = "ADDR[,ADDR]", kind = "string",
    help = "the nodes to connect to, tried in turn (default $HYPERSUB_SERVER, else " ..
      M.DEFAULT_SERVER .. ")" },
  { flag = "cluster", arg = "NAME", kind = "string",
    help = "the cluster's name (default $HYPERSUB_CLUSTER, else hypersub)" },
  { flag = "user", arg = "NAME", kind = "string",
    help = "log in as this user (default $HYPERSUB_USER); the password comes " ..
      "from $HYPERSUB_PASSWORD or --password-file" },
  { flag = "password-file", arg = "FILE", kind = "string",
    help = "a file whose first line is the user's password" },
  { flag = "timeout", arg = "MS", kind = "integer", min = 1,
    help = "bound on connecting and on each request (default 5000)" },
  { flag = "json", kind = "switch", help = "print data as JSON" },
}
local JSON = M.COMMON[#M.COMMON] -- the one a verb without a cluster may take

local HELP = { flag = "help", kind = "switch", help = "this text" }

--- Says what went wrong on stderr (prefixed "hypersub VERB: ") and gives
-- the exit code.
function M.fail(verb, code, fmt, ...)
  io.stderr:write(("hypersub %s: %s\n"):format(verb, fmt:format(...)))
  return code
end

--- The usage text of a verb: spec = {verb =, synopsis =, about =, flags =,
-- offline = true when it needs no cluster}.
function M.usage(spec)
  local out = { "usage: hypersub " .. spec.synopsis, "" }
  if spec.about then
    out[#out + 1] = spec.about
    out[#out + 1] = ""
  end
  local all = {}
  for _, f in ipairs(spec.flags or {}) do all[#all + 1] = f end
  if not spec.offline then
    for _, f in ipairs(M.COMMON) do all[#all + 1] = f end
  elseif spec.json then
    all[#all + 1] = JSON
  end
  all[#all + 1] = HELP
  for _, f in ipairs(all) do
    local left = "  --" .. f.flag .. (f.arg and " " .. f.arg or "")
    out[#out + 1] = left .. (" "):rep(math.max(1, 26 - #left)) .. f.help
  end
  return table.concat(out, "\n")
end

--- Parses args[first..] for a verb: returns the flags by name (dashes as
-- underscores), the positional arguments, or nil, message. Flags take
-- --flag VALUE or --flag=VALUE; "-" alone is a positional argument.
function M.parse(spec, args, first)
  local by_flag = { help = HELP, h = HELP }
  for _, f in ipairs(spec.flags or {}) do by_flag[f.flag] = f end
  if not spec.offline or spec.json then
    for _, f in ipairs(M.COMMON) do
      if not spec.offline or f == JSON then by_flag[f.flag] = f end
    end
  end
  local flags, pos = {}, {}
  local i = first
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-]+)$") or a:match("^%-(h)$") end
    if not name then
      if a:sub(1, 1) == "-" and a ~= "-" and not a:match("^%-%d") then
        return nil, ("unknown flag %s"):format(a)
      end
      pos[#pos + 1] = a
    else
      local f = by_flag[name]
      if not f then return nil, ("unknown flag --%s"):format(name) end
      if f == HELP then return { help = true }, {} end
      if f.kind == "switch" then
        value = true
      elseif value == nil then
        i = i + 1
        value = args[i]
        if value == nil then return nil, ("flag --%s needs a value"):format(name) end
      end
      if f.kind == "integer" then
        local n = math.tointeger(tonumber(value))
        if not n or n < (f.min or 0) then
          return nil, ("flag --%s needs an integer of at least %d, got %q"):format(
            name, f.min or 0, value)
        end
        value = n
      elseif f.values then
        local ok = false
        for _, v in ipairs(f.values) do ok = ok or v == value end
        if not ok then
          return nil, ("flag --%s needs one of %s, got %q"):format(name,
            table.concat(f.values, " | "), value)
        end
      end
      flags[(f.flag:gsub("%-", "_"))] = value
    end
    i = i + 1
  end
  return flags, pos
end

--- The addresses a verb connects to: --server, else $HYPERSUB_SERVER, else
-- the default; "a,b" is a list.
function M.servers(flags)
  local list = {}
  local s = flags.server or os.getenv("HYPERSUB_SERVER") or M.DEFAULT_SERVER
  for addr in s:gmatch("[^,%s]+") do list[#list + 1] = addr end
  return list
end

--- The options hypersub.connect gets from the flags.
function M.connect_opts(flags)
  local opts = { timeout = flags.timeout or 5000,
    cluster = flags.cluster or os.getenv("HYPERSUB_CLUSTER") or "hypersub" }
  local user = flags.user or os.getenv("HYPERSUB_USER")
  if user then
    local password = os.getenv("HYPERSUB_PASSWORD")
    local file = flags.password_file
    if file then
      local f = io.open(file, "r")
      password = f and f:read("l")
      if f then f:close() end
    end
    opts.user, opts.password = user, password or ""
  end
  return opts
end

--- Connects as the flags say: the client, or nil and the exit code (the
-- failure said on stderr).
function M.connect(verb, flags, addrs)
  local servers = addrs or M.servers(flags)
  if #servers == 0 then return nil, M.fail(verb, M.USAGE, "--server names no address") end
  local ok, c, msg, code = pcall(hypersub.connect, servers, M.connect_opts(flags))
  if not ok then return nil, M.fail(verb, M.USAGE, "%s", tostring(c):gsub("^[^:]*:%d+: ", "")) end
  if not c then
    local exit = (code == "UNAVAILABLE" or code == "TIMEOUT") and M.UNREACHABLE or M.FAILED
    return nil, M.fail(verb, exit, "%s", msg)
  end
  return c
end

--- The exit code for a request that failed (said on stderr).
function M.request_failed(verb, msg, code)
  local exit = (code == "UNAVAILABLE" or code == "TIMEOUT") and M.UNREACHABLE or M.FAILED
  return M.fail(verb, exit, "%s", msg)
end

-- A table that encodes as a JSON array even when empty.
local ARRAY = setmetatable({}, { __mode = "k" })

--- An empty list that prints as [] (Debian's cjson has no empty_array).
function M.array() local t = {} ARRAY[t] = true return t end

-- JSON text of a value: sequences as arrays, integers as integers.
local function encode(v, out)
  local kind = type(v)
  if kind == "table" then
    local n = #v
    if n > 0 or ARRAY[v] then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = json.encode(k)
        out[#out + 1] = ":"
        local x = v[k]
        if x == nil then x = v[math.tointeger(tonumber(k))] end
        encode(x, out)
      end
      out[#out + 1] = "}"
    end
  elseif math.type(v) == "integer" then
    out[#out + 1] = ("%d"):format(v)
  else
    out[#out + 1] = json.encode(v)
  end
  return out
end

--- A name no other run will pick: prefix and 16 random hex digits (from
-- the system's generator; math.random's seed may repeat between
-- processes started in the same second).
function M.unique(prefix)
  local bytes = require("luv").random(8, {})
  return prefix .. (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

--- Prints a value as one line of JSON (keys sorted).
function M.print_json(v)
  io.stdout:write(table.concat(encode(v, {})), "\n")
end

return M
