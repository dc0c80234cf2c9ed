--- A node with a data directory, killed with SIGKILL and started again
-- from it: the topic, its messages and the subscriber's cursor are back.
--
--   build/hypersub examples/restart.lua
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

local dir = assert(uv.fs_mkdtemp("/tmp/hypersub-restart-XXXXXX"))
local port = require("hypersub.cluster").free_ports(1)[1]
local flags = { "--id", "0", "--listen", "127.0.0.1:" .. port, "--data-dir", dir,
  "--fsync", "always", "--log-level", "warn" }

local function start()
  print(("hypersub node %s"):format(table.concat(flags, " ")))
  return assert(process.start_node(flags))
end

local node = start()
local c = assert(hypersub.connect(node.addr))
assert(c:create_publisher "journal")
assert(c:create_topic("journal", "entries"))
assert(c:create_subscriber "reader")
assert(c:subscribe("reader", "entries"))
for i = 1, 100 do
  -- ack "home": answered once the record is synced to the home's disk
  assert(c:publish("journal", "entries", ("entry %03d"):format(i), { ack = "home" }))
end
local first = assert(c:pull("reader", "entries", { max = 40 }))
print(("published 100 entries, pulled %d (offsets %d..%d)"):format(#first,
  first[1].offset, first[#first].offset))
c:close()

node:kill("sigkill")
local _, sig = node:wait(5000)
node:close()
print(("SIGKILL: the node died (signal %d); its directory %s holds:"):format(sig, dir))
os.execute("ls -R " .. dir .. " | sed 's/^/  /'")

node = start()
c = assert(hypersub.connect(node.addr))
local rest = {}
repeat
  local batch = assert(c:pull("reader", "entries", { max = 50 }))
  for _, m in ipairs(batch) do rest[#rest + 1] = m end
until #batch == 0
print(("after the restart the reader pulls on from its cursor: %d entries, offsets %d..%d (\"%s\" .. \"%s\")")
  :format(#rest, rest[1].offset, rest[#rest].offset, rest[1].data, rest[#rest].data))
assert(#rest == 60 and rest[1].offset == 40, "the restart lost something")
c:close()
node:kill("sigterm")
node:wait(5000)
node:close()
uv.run("nowait")
os.execute("rm -rf '" .. dir .. "'")
