--- The `hypersub` command line: run a script, or run a node.
local hypersub = require "hypersub"
local options = require "hypersub.options"
local uv = require "luv"

local M = {}

local USAGE = [[
usage: hypersub VERB [ARGS] [FLAGS]     (hypersub VERB --help for each)
       hypersub SCRIPT.lua [ARGS...]   run a Lua script (hypersub, luv and
                                       cjson available), then the loop
       hypersub --version | --help

Data:
  pub TOPIC [MSG | -]       publish MSG, or each line of stdin
  sub TOPIC                 print the topic's messages (--follow: as they come)
  read TOPIC                print the topic's messages by offset, with no
                            subscriber (--from OFFSET, --follow)
  topics [PREFIX]           list the cluster's topics
  topic info|create|delete TOPIC
  where TOPIC               the topic's home and replicas
Cluster:
  node [FLAGS]              run a node (hypersub node --help for its flags)
  status                    members, states, what each holds; exits 1 when
                            a member is suspect or dead or the views differ
  stats [--node ID]         a node's counters, gauges and latencies
  leave ID                  node ID hands its topics over and stops
  passwd                    read a password on stdin, print the verifier a
                            node's users option takes
  bench pub|sub|latency     a quick load test against a running cluster
  bench suite [--quick]     the side-by-side suite (from a source tree)
  version                   this hypersub's version

Every verb that talks to a cluster takes --server ADDR[,ADDR] (or
$HYPERSUB_SERVER; default 127.0.0.1:7000), --cluster NAME, --user NAME (the
password from $HYPERSUB_PASSWORD or --password-file FILE), --timeout MS and
--json. Exit codes: 0 done, 1 the cluster said no (or status found a
problem), 2 a usage error, 3 the cluster could not be reached.]]

local function fail(msg)
  io.stderr:write("hypersub: ", msg, "\n")
  return 2
end

function M.node(args)
  local flags, err = options.parse_args(args, 2)
  if not flags then return fail(err .. " (see hypersub node --help)") end
  if flags.help then
    print(options.usage())
    return 0
  end
  local opts, extra = options.resolve(flags)
  if not opts then return fail(extra) end
  local ok, node, msg = pcall(hypersub.node, opts)
  if not ok then return fail(tostring(node):gsub("^[^:]*:%d+: ", "")) end
  if not node then return fail(msg) end
  local status = 0
  local handles = {}
  local function shutdown()
    for _, h in ipairs(handles) do
      if not h:is_closing() then h:close() end
    end
    node:close()
  end
  node:on_state(function(state)
    if state ~= "stopped" then return end
    local why = node:last_error()
    if why ~= "" then -- stopped by a failure, not asked to
      io.stderr:write("hypersub: node stopped: ", why, "\n")
      status = 1
    end
    shutdown()
  end)
  -- SIGTERM or SIGINT: leave gracefully (topics handed over, then exit 0);
  -- past the leave timeout, or at a second signal, stop at once (exit 1).
  local leaving = false
  local function stop_now(why)
    io.stderr:write(("hypersub: node %d stops before its leave finished (%s)\n")
      :format(node:id(), why))
    status = 1
    shutdown()
  end
  local function on_signal(name)
    if leaving then return stop_now("a second " .. name:upper()) end
    leaving = true
    -- (A node alone stops inside leave(), closing what is in `handles`.)
    local timer = uv.new_timer()
    handles[#handles + 1] = timer
    timer:start(extra.leave_timeout, 0, function()
      stop_now(("no hand-over within %d ms"):format(extra.leave_timeout))
    end)
    if not node:leave() then shutdown() end
  end
  for _, name in ipairs { "sigint", "sigterm" } do
    local s = uv.new_signal()
    s:start(name, function() on_signal(name) end)
    handles[#handles + 1] = s
  end
  if extra.watch_stdin then
    local stdin = uv.new_pipe(false)
    stdin:open(0)
    handles[#handles + 1] = stdin
    stdin:read_start(function(_, data)
      if not data then shutdown() end -- end of file or error: parent gone
    end)
  end
  io.stdout:write(("READY %d %d\n"):format(node:id(), node:port()))
  io.stdout:flush()
  uv.run()
  return status
end

function M.script(args)
  local path = args[1]
  local chunk, err = loadfile(path)
  if not chunk then return fail(err) end
  local script_args = { [0] = path }
  for i = 2, #args do script_args[i - 1] = args[i] end
  script_args[-1] = args[0]
  _G.arg = script_args
  local ok, trace = xpcall(chunk, debug.traceback,
    table.unpack(script_args, 1, #script_args))
  if not ok then
    io.stderr:write("hypersub: ", tostring(trace), "\n")
    -- Let the close callbacks of what the script closed run before the
    -- state goes away.
    uv.run("nowait")
    return 1
  end
  -- Idle clients do not hold the loop; a node does: say so once.
  local serving = require("hypersub.node").serving()
  if #serving > 0 then
    local names = {}
    for _, n in ipairs(serving) do
      names[#names + 1] = ("node %d (port %d, %s)"):format(n.id, n.port, n.state)
    end
    io.stderr:write(("hypersub: %s is done; the loop runs on for %s until "
      .. "it is closed or stopped (Ctrl-C ends it)\n"):format(path, table.concat(names, ", ")))
  end
  uv.run()
  return 0
end

--- `hypersub passwd`: a password from stdin (its first line) to the
-- verifier for a node's users option; the password is never an argument,
-- so it is not in the process list or the shell's history.
function M.passwd(args)
  if args[2] == "--help" or args[2] == "-h" then
    print("usage: hypersub passwd < FILE   (or type the password and Enter)")
    return 0
  end
  if args[2] then return fail("passwd takes no arguments: the password comes on stdin") end
  local tty = os.execute("test -t 0")
  if tty then
    io.stderr:write("password: ")
    os.execute("stty -echo 2>/dev/null")
  end
  local pw = io.stdin:read("l")
  if tty then
    os.execute("stty echo 2>/dev/null")
    io.stderr:write("\n")
  end
  if not pw or pw == "" then return fail("no password on stdin") end
  print(hypersub.password_hash(pw))
  return 0
end

-- The verbs of the command line: their module (which has specs[verb]
-- and the function of that name).
local VERBS = {
  pub = "hypersub.cli.data", sub = "hypersub.cli.data", read = "hypersub.cli.data",
  topics = "hypersub.cli.data",
  topic = "hypersub.cli.data", where = "hypersub.cli.data",
  stats = "hypersub.cli.admin", status = "hypersub.cli.admin",
  leave = "hypersub.cli.admin", version = "hypersub.cli.admin",
  bench = "hypersub.cli.bench",
}

-- Runs a verb: its flags parsed, --help answered, then its function.
local function run_verb(verb, args)
  local mod = require(VERBS[verb])
  local spec = mod.specs[verb]
  local cliargs = require "hypersub.cli.args"
  if verb == "bench" and args[2] == "suite" then
    return mod.suite(verb, args, 3, M.script)
  end
  local flags, pos = cliargs.parse(spec, args, 2)
  if not flags then
    return cliargs.fail(verb, cliargs.USAGE, "%s (see hypersub %s --help)", pos, verb)
  end
  if flags.help then
    print(cliargs.usage(spec))
    return 0
  end
  return mod[verb](verb, flags, pos)
end

function M.main(args)
  local cmd = args[1]
  if cmd == nil or cmd == "--help" or cmd == "-h" or cmd == "help" then
    print(USAGE)
    return cmd == nil and 2 or 0
  end
  if cmd == "--version" then
    print("hypersub " .. hypersub.version)
    return 0
  end
  if cmd == "node" then return M.node(args) end
  if cmd == "passwd" then return M.passwd(args) end
  if VERBS[cmd] then return run_verb(cmd, args) end
  if cmd == "run" then -- hypersub run SCRIPT: a script whatever its name
    table.remove(args, 1)
    if not args[1] then return fail("run needs a script") end
    return M.script(args)
  end
  -- A script is named as a path: it ends in .lua or has a slash.
  if cmd:match("%.lua$") or cmd:find("/", 1, true) then return M.script(args) end
  if cmd:sub(1, 1) == "-" then return fail(("unknown flag %s\n%s"):format(cmd, USAGE)) end
  local names = {}
  for v in pairs(VERBS) do names[#names + 1] = v end
  names[#names + 1] = "node"
  names[#names + 1] = "passwd"
  table.sort(names)
  return fail(("unknown verb %q; the verbs are %s (a script is named as a path: x.lua, ./x)")
    :format(cmd, table.concat(names, ", ")))
end

return M
