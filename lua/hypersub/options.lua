--- The node's options: core.node_options (the one list the C node reads),
-- and what only the command line adds to it (--config, --policy FILE,
-- --watch-stdin, a listen default of its own): the flag parser and the
-- `hypersub node --help` text are made from it.
local core = require "hypersub.core"

local M = {}

--- Every node option, in help order: {name =, kind =, default =, min =,
-- max =, values =, flag =, arg =, help =}.
M.list = core.node_options

--- name -> the option's entry.
M.by_name = {}
for _, o in ipairs(M.list) do M.by_name[o.name] = o end

-- The command line serves on a fixed port by default, where a script's
-- node picks a free one; host and port alone default to listen's parts.
local CLI_LISTEN = "127.0.0.1:7000"
local CLI_SHOWN = { listen = CLI_LISTEN, port = math.tointeger(CLI_LISTEN:match(":(%d+)$")) }

-- The command line's own flags, before and after the node's.
local CONFIG = { flag = "config", kind = "file", arg = "FILE",
  help = "a Lua file returning a table of these options (names with " ..
    "underscores: max_payload = 1024, ...); flags given on the command " ..
    "line win" }
local WATCH_STDIN = { flag = "watch-stdin", kind = "switch",
  help = "exit when stdin reaches end of file (a parent that holds the " ..
    "other end takes the node with it when it dies, however it dies)" }
local LEAVE_TIMEOUT = { flag = "leave-timeout", kind = "integer", arg = "MS",
  min = 1, max = 3600000, default = 15000,
  help = "SIGTERM or SIGINT makes the node leave: it hands its topics " ..
    "over and exits 0; past this it stops anyway (exit 1), as does a " ..
    "second signal" }
local HELP = { flag = "help", kind = "switch", help = "this text" }

-- An option's flag: --max-payload for max_payload; a policy is a file.
local function flag_of(o)
  local f = {}
  for k, v in pairs(o) do f[k] = v end
  f.flag = (o.flag or o.name):gsub("_", "-")
  if CLI_SHOWN[o.name] then f.default = CLI_SHOWN[o.name] end
  if o.kind == "table" then
    f.kind, f.arg, f.help = "file", "FILE", "a Lua file returning " .. o.help
  end
  return f
end

--- The flags of `hypersub node`, in help order: {flag =, name =, kind =,
-- arg =, help =, ...} (name: the option it sets).
M.flags = { CONFIG }
for _, o in ipairs(M.list) do M.flags[#M.flags + 1] = flag_of(o) end
M.flags[#M.flags + 1] = WATCH_STDIN
M.flags[#M.flags + 1] = LEAVE_TIMEOUT
M.flags[#M.flags + 1] = HELP

local by_flag = {}
for _, f in ipairs(M.flags) do
  by_flag[f.flag] = f
  f.name = f.name or f.flag:gsub("%-", "_")
end
by_flag.h = HELP

---------------------------------------------------------------------------
-- Parsing

-- A flag's value as its option takes it, or nil, message.
local function convert(f, value)
  if f.kind == "integer" then
    for _, word in ipairs(f.values or {}) do
      if value == word then return value end
    end
    local n = math.tointeger(tonumber(value))
    if n and n >= f.min and n <= f.max then return n end
    local words = f.values and (' or "%s"'):format(table.concat(f.values, '" or "')) or ""
    return nil, ("flag --%s needs an integer in %d..%d%s, got %q"):format(
      f.flag, f.min, f.max, words, value)
  end
  if f.kind == "enum" then
    for _, word in ipairs(f.values) do
      if value == word then return value end
    end
    return nil, ("flag --%s needs one of %s, got %q"):format(
      f.flag, table.concat(f.values, " | "), value)
  end
  return value
end

--- Parses node flags from args[first..]: returns a table of option names
-- (and config, watch_stdin, help when given), or nil, message.
function M.parse_args(args, first)
  local opts = {}
  local i = first or 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-]+)$") or a:match("^%-(h)$") end
    if not name then return nil, ("unexpected argument %q"):format(a) end
    local f = by_flag[name]
    if not f then return nil, ("unknown flag --%s"):format(name) end
    if f == HELP then return { help = true } end
    if f.kind == "switch" then
      value = true
    elseif value == nil then
      i = i + 1
      value = args[i]
      if value == nil then return nil, ("flag --%s needs a value"):format(name) end
    end
    local v, err = convert(f, value)
    if v == nil then return nil, err end
    if f.kind == "list" then
      opts[f.name] = opts[f.name] or {}
      table.insert(opts[f.name], v)
    else
      opts[f.name] = v
    end
    i = i + 1
  end
  return opts
end

--- Runs a Lua file that returns a table (`what`, for the message): the
-- table, or nil, message.
function M.load_file(path, what)
  local chunk, err = loadfile(path, "t")
  if not chunk then return nil, err end
  local ok, t = pcall(chunk)
  if not ok then return nil, ("%s: %s"):format(path, t) end
  if type(t) ~= "table" then
    return nil, ("%s must return %s"):format(path, what or "a table")
  end
  return t
end

--- The node's options from parsed flags: the --config file under them, the
-- files of --policy and --users loaded, the command line's defaults. Returns the options
-- and what is not a node option ({watch_stdin =}), or nil, message.
function M.resolve(flags)
  local opts = {}
  for k, v in pairs(flags) do opts[k] = v end
  if flags.config then
    local cfg, err = M.load_file(flags.config, "a table of options")
    if not cfg then return nil, err end
    for k, v in pairs(cfg) do
      if opts[k] == nil then opts[k] = v end
    end
  end
  local extra = { watch_stdin = opts.watch_stdin,
    leave_timeout = opts.leave_timeout or LEAVE_TIMEOUT.default }
  opts.watch_stdin, opts.config, opts.leave_timeout = nil, nil, nil
  for _, o in ipairs(M.list) do -- a table option given as a file
    if o.kind == "table" and type(opts[o.name]) == "string" then
      local t, err = M.load_file(opts[o.name], "a table (" .. o.name .. ")")
      if not t then return nil, err end
      opts[o.name] = t
    end
  end
  opts.listen = opts.listen or CLI_LISTEN
  return opts, extra
end

---------------------------------------------------------------------------
-- Help

local COLUMN, WIDTH = 25, 77

-- The help line with what the option takes and its default.
local function describe(f)
  local text = f.help
  if f.kind == "enum" then
    return ("%s: %s (default %s)"):format(text, table.concat(f.values, " | "), f.default)
  end
  local facts = {}
  if f.default ~= nil then facts[#facts + 1] = "default " .. tostring(f.default) end
  if f.kind == "integer" and f.max ~= math.maxinteger then
    facts[#facts + 1] = ("%d..%d"):format(f.min, f.max)
  end
  for _, word in ipairs(f.kind == "integer" and f.values or {}) do
    facts[#facts + 1] = "or " .. word
  end
  if #facts > 0 then text = ("%s (%s)"):format(text, table.concat(facts, ", ")) end
  return text
end

-- "  --flag ARG   text", the text wrapped under itself.
local function flag_lines(f, out)
  local left = "  --" .. f.flag .. (f.arg and " " .. f.arg or "")
  local line = left .. (" "):rep(math.max(1, COLUMN - #left))
  local first = true
  for word in describe(f):gmatch("%S+") do
    if not first and #line + 1 + #word > WIDTH then
      out[#out + 1] = line
      line = (" "):rep(COLUMN) .. word
    else
      line = line .. (first and "" or " ") .. word
    end
    first = false
  end
  out[#out + 1] = line
end

--- The text of `hypersub node --help`.
function M.usage()
  local out = { "usage: hypersub node [FLAGS]", "" }
  for _, f in ipairs(M.flags) do flag_lines(f, out) end
  out[#out + 1] = ""
  out[#out + 1] = "Flags take --flag VALUE or --flag=VALUE. Once listening the node prints"
  out[#out + 1] = "\"READY <id> <port>\" on stdout. SIGTERM or SIGINT makes it leave the"
  out[#out + 1] = "cluster gracefully; a second one, or STOP_NODE, stops it at once."
  return table.concat(out, "\n")
end

return M
