--- The `hypersub` command line: run a script, or run a node.
local hypersub = require "hypersub"
local options = require "hypersub.options"
local uv = require "luv"

local M = {}

local USAGE = [[
usage: hypersub SCRIPT.lua [ARGS...]   run a Lua script (hypersub, luv and
                                       cjson available), then the loop
       hypersub node [FLAGS]           run a node
       hypersub status --node ADDR     the cluster as ADDR sees it: members,
                                       states, epoch, and the topics each
                                       node homes and replicates
       hypersub bench [--quick]        the benchmark suite (from a source
                                       tree): builds the load generators,
                                       installs NATS and Redis if missing,
                                       writes bench/results/
       hypersub --version | --help

Run `hypersub node --help` for the node's flags.]]

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
    if state == "stopped" then shutdown() end
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

--- `hypersub status --node ADDR`: the view of the node at ADDR, and what
-- each live member holds (asked of each member directly).
function M.status(args)
  local addr
  local i = 2
  while i <= #args do
    local a = args[i]
    if a == "--node" then
      addr, i = args[i + 1], i + 2
    elseif a:match("^%-%-node=") then
      addr, i = a:match("^%-%-node=(.*)$"), i + 1
    elseif a == "--help" or a == "-h" then
      print("usage: hypersub status --node HOST:PORT")
      return 0
    else
      return fail(("unexpected argument %q (usage: hypersub status --node HOST:PORT)"):format(a))
    end
  end
  if not addr then return fail("status needs --node HOST:PORT") end
  local c, err = hypersub.connect(addr, { timeout = 3000 })
  if not c then return fail(err) end
  local view, verr = c:view()
  if not view then
    c:close()
    return fail(verr)
  end
  print(("cluster view of node %d: epoch %d, dimension %d, %d copies per topic"):format(
    view.self, view.epoch, view.dim, view.replicas))
  print(("%-6s %-22s %-8s %8s  %s"):format("id", "address", "state", "version", "topics (home / replica)"))
  for _, m in ipairs(view.members) do
    local held = "-"
    if m.state == "alive" or m.state == "suspect" then
      local mc = m.id == view.self and c or hypersub.connect(m.addr, { timeout = 3000 })
      local topics = mc and mc:local_topics()
      if topics then
        local homes, replicas = {}, {}
        for _, t in ipairs(topics.topics) do
          local w = c:where(t.name)
          if w and w.home == m.id then homes[#homes + 1] = t.name
          else replicas[#replicas + 1] = t.name end
        end
        table.sort(homes)
        table.sort(replicas)
        held = ("%d / %d"):format(#homes, #replicas)
        if #homes + #replicas > 0 and #homes + #replicas <= 8 then
          held = held .. ("   home: %s   replica: %s"):format(
            #homes > 0 and table.concat(homes, ",") or "-",
            #replicas > 0 and table.concat(replicas, ",") or "-")
        end
      else
        held = "unreachable"
      end
      if mc and mc ~= c then mc:close() end
    end
    print(("%-6d %-22s %-8s %8d  %s"):format(m.id, m.addr, m.state, m.version, held))
  end
  c:close()
  return 0
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

--- `hypersub bench [--quick] [...]`: bench/run.lua of the source tree this
-- module lives in, after `make bench-deps bench-build` there (what
-- `make bench` does).
function M.bench(args)
  local here = package.searchpath("hypersub.cli", package.path) or ""
  local root = here:match("^(.*)/lua/hypersub/cli%.lua$")
  local driver = root and root .. "/bench/run.lua"
  if not (driver and uv.fs_access(driver, "R")) then
    return fail("bench needs a source tree (bench/run.lua next to lua/hypersub/)")
  end
  local ok = os.execute(("make --no-print-directory -C '%s' bench-deps bench-build >&2"):format(root))
  if not ok then return fail("make bench-build failed") end
  local script = { driver, [0] = args[0] }
  for i = 2, #args do script[#script + 1] = args[i] end
  return M.script(script)
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
  if cmd == "status" then return M.status(args) end
  if cmd == "bench" then return M.bench(args) end
  if cmd:sub(1, 1) == "-" then return fail(("unknown flag %s\n%s"):format(cmd, USAGE)) end
  return M.script(args)
end

return M
