--- What `make demo` runs: a real node process, the quickstart against it,
-- what the node logged, then the seed's story on an 8-node cluster, a
-- failover, and a node killed with SIGKILL and started from its data
-- directory.
--
--   build/hypersub examples/demo.lua
--
-- The node is `hypersub node` started as a child (the runtime is
-- $HYPERSUB_BIN, which the Makefile sets, else this runtime or `hypersub` on
-- PATH); it is stopped at the end, also when the quickstart fails.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

io.stdout:setvbuf("line")

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local quickstart = here .. "/quickstart.lua"
local log_file = os.tmpname()
local LOG_LINES = 30

local function rule(text)
  print()
  print(("-- %s %s"):format(text, ("-"):rep(math.max(0, 72 - #text))))
end

rule("starting a node")
print(("%s node --id 0 --log-file %s --listen 127.0.0.1:0"):format(process.runtime(), log_file))
local node, why = process.start_node({ "--id", "0", "--log-file", log_file })
if not node then
  os.remove(log_file)
  error("could not start the node: " .. tostring(why), 0)
end
print(("node %d is listening on %s (pid %d)"):format(node.id, node.addr, node.pid))

-- The quickstart runs in this process against the node's address, as if run
-- as `hypersub examples/quickstart.lua ADDR`.
local ok, failure = xpcall(function()
  rule("the quickstart against " .. node.addr)
  local chunk = assert(loadfile(quickstart))
  local saved = arg
  arg = { [0] = quickstart, node.addr }
  chunk(node.addr)
  arg = saved
end, debug.traceback)

-- Always stop the node: SIGTERM closes it cleanly; close() kills and reaps it
-- if it did not exit in time.
rule("stopping the node")
node:kill("sigterm")
local code, signal = node:wait(5000)
node:close()
-- Let the loop finish closing the child's handles now: when this script
-- raises, the runtime closes the Lua state without running the loop again,
-- and luv 1.44 crashes on handles still closing then.
uv.run("nowait")
if code then
  print(("the node exited with code %d%s"):format(code,
    signal and signal ~= 0 and (" (signal " .. signal .. ")") or ""))
else
  print("the node did not exit after SIGTERM: killed it (" .. tostring(signal) .. ")")
end

rule("what the node logged (" .. log_file .. ")")
local lines = {}
local f = io.open(log_file, "r")
if f then
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
end
if #lines > LOG_LINES then print(("(the last %d of %d lines)"):format(LOG_LINES, #lines)) end
for i = math.max(1, #lines - LOG_LINES + 1), #lines do print(lines[i]) end
os.remove(log_file)

if not ok then error("the quickstart failed: " .. tostring(failure), 0) end

rule("the same API on an 8-node hypercube (examples/cluster.lua)")
local chunk = assert(loadfile(here .. "/cluster.lua"))
chunk()

rule("failover: kill a topic's home, pull from its replica (examples/failover.lua)")
chunk = assert(loadfile(here .. "/failover.lua"))
chunk()

rule("durability: SIGKILL a node and start it from its data directory (examples/restart.lua)")
chunk = assert(loadfile(here .. "/restart.lua"))
chunk()
print()
print(("hypersub %s: demo done. Next: make test, and README.md"):format(hypersub.version))
