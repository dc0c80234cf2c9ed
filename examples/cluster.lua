--- The seed's story on an 8-node hypercube: nodes 000..111, each linked to
-- the nodes one bit away; topics placed on a home and replicated to the
-- nodes nearest to it; every request accepted by any node and carried to
-- the topic's home along the cube.
--
--   build/hypersub examples/cluster.lua
local hypersub = require "hypersub"
local cluster = require "hypersub.cluster"

io.stdout:setvbuf("line")

local function bits(id) -- 5 -> "101"
  local s = ""
  for b = 2, 0, -1 do s = s .. ((id >> b) & 1) end
  return s
end

local function step(title)
  print()
  print("== " .. title)
end

step("start 8 nodes (real processes on 127.0.0.1), 3 copies of every topic")
local cl = assert(cluster.start { nodes = 8, replicas = 3, log_level = "info" })
local ok, failure = xpcall(function()
  for _, n in ipairs(cl:nodes()) do
    local neighbours = {}
    for b = 0, 2 do neighbours[#neighbours + 1] = bits(n.id ~ (1 << b)) end
    print(("node %d = %s at %s   neighbours %s"):format(n.id, bits(n.id), n.addr,
      table.concat(neighbours, " ")))
  end

  step("create: each request enters at some node and is carried to its home")
  local c = {}
  for id = 0, 7 do c[id] = assert(cl:client(id)) end
  assert(c[0]:create_publisher "alice")
  print('node 0: create_publisher("alice") -> true')
  assert(c[6]:create_subscriber "bob")
  print('node 6: create_subscriber("bob") -> true')
  local topics = { "news", "sports", "weather", "markets" }
  for i, t in ipairs(topics) do
    assert(c[i]:create_topic("alice", t))
    print(('node %d: create_topic("alice", %q) -> true'):format(i, t))
  end

  step("where each topic lives: home = the node nearest its hash, replicas next")
  for _, t in ipairs(topics) do
    local w = assert(c[7]:where(t))
    local reps = {}
    for _, r in ipairs(w.replicas) do reps[#reps + 1] = ("%d (%s)"):format(r, bits(r)) end
    print(("%-8s home %d (%s)   replicas %s"):format(t, w.home, bits(w.home),
      table.concat(reps, ", ")))
  end

  step("publish through three different nodes")
  for i, via in ipairs { 1, 2, 5 } do
    local off = assert(c[via]:publish("alice", "news", "headline " .. i))
    print(('node %d: publish("alice", "news", "headline %d") -> offset %d'):format(via, i, off))
  end

  step("subscribe at node 6, pull at node 7: same topic, same cursor")
  assert(c[6]:subscribe("bob", "news"))
  for _, m in ipairs(assert(c[7]:pull("bob", "news"))) do
    print(("node 7: pull -> %d %q (from %s)"):format(m.offset, m.data, m.publisher))
  end
  print(("node 3: pull -> %d new messages (the cursor moved for every node)"):format(
    #assert(c[3]:pull("bob", "news"))))

  step("the copies: what each node holds, with a digest of every record")
  local w = assert(c[0]:where "news")
  for _, n in ipairs(cl:nodes()) do
    for _, t in ipairs(assert(c[n.id]:local_topics()).topics) do
      if t.name == "news" then
        print(("node %d holds news: offsets %d..%d, %d cursor(s), digest %s%s"):format(
          n.id, t.first, t.next - 1, t.cursors, t.digest,
          n.id == w.home and "   (home)" or ""))
      end
    end
  end

  step("how requests travelled: served at the home, by hops taken")
  local st = assert(c[w.home]:stats())
  local hops = {}
  for h, count in pairs(st.hops) do hops[#hops + 1] = ("%s hop(s): %d"):format(h, count) end
  table.sort(hops)
  print(("node %d (home of news): %s"):format(w.home, table.concat(hops, ", ")))
  for id = 0, 7 do c[id]:close() end
end, debug.traceback)

cl:close()
if not ok then error(failure, 0) end
print()
print("cluster demo done")
