--- A walk through every call of the hypersub API, in the seed's order.
--
--   build/hypersub examples/quickstart.lua              starts a node in-process
--   build/hypersub examples/quickstart.lua HOST:PORT    talks to a running node
--
-- Every step prints the call, what it returned, and what happened. The calls
-- are made in the blocking style (outside any coroutine a call runs luv's loop
-- until its answer arrives); the long poll also shows the callback style.
-- Names are fixed, so run it against a fresh node: on a node that has already
-- seen it, the first step fails with EXISTS.
local hypersub = require "hypersub"
local uv = require "luv"

local addr = ...
io.stdout:setvbuf("line") -- keep our lines in order with the node's log

---------------------------------------------------------------------------
-- Printing

local function show(v)
  if type(v) == "string" then return ("%q"):format(v) end
  local mt = getmetatable(v)
  if type(v) ~= "table" or (mt and mt.__tostring) then return tostring(v) end
  if v[1] and v[1].offset then -- messages from pull
    local parts = {}
    for _, m in ipairs(v) do parts[#parts + 1] = ("%d:%q"):format(m.offset, m.data) end
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  if next(v) == nil then return "{}" end
  return "{ ... }"
end

-- The values a call returned, without the trailing nils of a success.
local function result(...)
  local n = select("#", ...)
  while n > 1 and select(n, ...) == nil do n = n - 1 end
  local parts = {}
  for i = 1, n do parts[i] = show((select(i, ...))) end
  return table.concat(parts, ", ")
end

local function title(text)
  print()
  print("== " .. text)
end

--- Prints `call -> result` and why; raises when the call failed.
local function step(call, why, ...)
  print(("%s -> %s"):format(call, result(...)))
  print("    " .. why)
  local ok, msg = ...
  if ok == nil then error(("%s failed: %s"):format(call, msg), 2) end
  return ...
end

--- The same for a call that must fail with `code`.
local function fails(code, call, why, ...)
  print(("%s -> %s"):format(call, result(...)))
  print("    " .. why)
  local ok, _, got = ...
  if ok ~= nil or got ~= code then
    error(("%s: expected a %s failure, got %s"):format(call, code, result(...)), 2)
  end
end

---------------------------------------------------------------------------
-- The node: given by address, or started here

local node
if addr then
  print("hypersub " .. hypersub.version .. ": talking to the node at " .. addr)
else
  node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "warn" })
  addr = "127.0.0.1:" .. node:port()
  print("hypersub " .. hypersub.version .. ": started a node in this process on " .. addr)
end

local c = step(('hypersub.connect(%q)'):format(addr),
  "a client connection; the node answered the HELLO handshake with its id",
  hypersub.connect(addr))
print(("    c.node_id = %d"):format(c.node_id))

title("1. create_publisher")
local ok, msg, code = c:create_publisher("alice")
if code == "EXISTS" then
  error("this node has already run the quickstart (" .. msg .. "): start a " ..
    "fresh node, or run the quickstart without an address", 0)
end
step('c:create_publisher("alice")', "alice may now create topics and publish", ok, msg, code)
step('c:create_publisher("bob")', "a second publisher, used below to show NOT_OWNER",
  c:create_publisher("bob"))

title("2. create_subscriber")
step('c:create_subscriber("s1")', "s1 may now subscribe and pull", c:create_subscriber("s1"))
step('c:create_subscriber("s2")', "a second subscriber", c:create_subscriber("s2"))

title("3. create_topic")
step('c:create_topic("alice", "news")', 'alice owns the topic "news": an empty log',
  c:create_topic("alice", "news"))
step('c:create_topic("alice", "drafts")', "a second topic, deleted in step 7",
  c:create_topic("alice", "drafts"))

title("4. publish (the ack mode says when the node answers)")
step('c:publish("alice", "news", "hello")', 'the first message of "news" gets offset 0 (ack "all", the default)',
  c:publish("alice", "news", "hello"))
step('c:publish("alice", "news", "world", {ack = "home"})', 'offsets are dense: 1 (ack "home": once the home node has it)',
  c:publish("alice", "news", "world", { ack = "home" }))
step('c:publish("alice", "news", "!", {ack = "none"})', 'offset 2 (ack "none"; one node has no replicas, so all three modes answer alike)',
  c:publish("alice", "news", "!", { ack = "none" }))

title("5. subscribe")
step('c:subscribe("s1", "news")', "from the earliest message (the default): s1's cursor is at offset 0",
  c:subscribe("s1", "news"))
step('c:subscribe("s2", "news", {from = "latest"})', "from the next new message: s2's cursor is at offset 3",
  c:subscribe("s2", "news", { from = "latest" }))

title("6. pull")
step('c:pull("s1", "news", {max = 2})', "at most 2 messages; the cursor moves past them",
  c:pull("s1", "news", { max = 2 }))
step('c:pull("s1", "news")', "the rest of the batch (up to the node's max_pull, 1000 by default)",
  c:pull("s1", "news"))
step('c:pull("s2", "news")', "s2 subscribed at the latest offset: nothing yet, and no wait asked for",
  c:pull("s2", "news"))

-- A long poll: the pull waits on the node until a message arrives. A luv timer
-- publishes one in the meantime, in the callback style (a blocking call is not
-- allowed inside a loop callback).
local timer = uv.new_timer()
timer:start(300, 0, function()
  timer:close()
  c:publish("alice", "news", "late news", function(offset, err)
    print(('  (timer, 300 ms later) c:publish("alice", "news", "late news", callback) -> callback(%s)')
      :format(result(offset, err)))
  end)
end)
local t0 = uv.hrtime()
step('c:pull("s2", "news", {wait = 5000})', "a long poll: the node held it until the timer's message arrived",
  c:pull("s2", "news", { wait = 5000 }))
print(("    answered after %d ms, not 5000"):format((uv.hrtime() - t0) // 1000000))
step('c:fetch("news", 1, {max = 2})', "a read by offset (not in the seed): no subscriber, no cursor; then where to read on",
  c:fetch("news", 1, { max = 2 }))

title("7. delete_topic, and two errors")
fails("NOT_OWNER", 'c:delete_topic("bob", "drafts")', "only the publisher that created a topic may delete it",
  c:delete_topic("bob", "drafts"))
step('c:delete_topic("alice", "drafts")', "the topic and its messages are gone",
  c:delete_topic("alice", "drafts"))
fails("NO_TOPIC", 'c:publish("alice", "drafts", "x")', 'failures are nil, "CODE: message", "CODE"',
  c:publish("alice", "drafts", "x"))

title("8. stats")
local stats = step("c:stats()", "the node's counters and latency figures, as a table",
  c:stats())
print(("    topics=%d publishers=%d subscribers=%d messages=%d messages_published=%d messages_pulled=%d")
  :format(stats.topics, stats.publishers, stats.subscribers, stats.messages,
    stats.messages_published, stats.messages_pulled))
if stats.latency_us.publish then
  print(("    publish latency: p50=%dus p99=%dus over %d requests")
    :format(stats.latency_us.publish.p50, stats.latency_us.publish.p99, stats.latency_us.publish.count))
end

title("9. stop_node (last)")
step(("c:stop_node(%d, {restart_after = 500})"):format(c.node_id),
  "the node drops every connection like a crash, keeps its state in memory, and listens again after 500 ms",
  c:stop_node(c.node_id, { restart_after = 500 }))
c:close()
if node then
  print(("node:state() -> %q"):format(node:state()))
end

-- Reconnect once the node listens again (connection refused until then).
local c2, err
local deadline = uv.hrtime() + 10e9
repeat
  hypersub.sleep(100)
  c2, err = hypersub.connect(addr, { timeout = 1000 })
until c2 or uv.hrtime() > deadline
step(('hypersub.connect(%q)'):format(addr), "the node is back on the same port", c2, err)
if node then
  print(("node:state() -> %q"):format(node:state()))
end
local after = step("c2:stats()", "what the node held survived the stop", c2:stats())
print(("    topics=%d publishers=%d subscribers=%d messages=%d")
  :format(after.topics, after.publishers, after.subscribers, after.messages))
step('c2:pull("s1", "news")', "s1's cursor survived too: it gets only the message it had not pulled",
  c2:pull("s1", "news"))

c2:close()
if node then node:close() end
print()
print("done: every call of the API, two errors, a stop and a restart")
