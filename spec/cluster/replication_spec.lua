-- Replication: every topic lives on its home and the next R-1 nodes of its
-- preference list, nowhere else, and every copy is byte-identical to the
-- home's (equal digests over offsets, times, publishers and payloads).
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"

-- Which nodes hold `topic`, and what they hold: {[id] = {next=, digest=, cursors=}}
local function holders(cl, topic)
  local out = {}
  for _, n in ipairs(cl:nodes()) do
    if n.alive then
      local c = cl:client(n.id)
      for _, t in ipairs(assert(c:local_topics()).topics) do
        if t.name == topic then out[n.id] = t end
      end
    end
  end
  return out
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

local function expected_copies(w)
  local ids = { w.home }
  for _, r in ipairs(w.replicas) do ids[#ids + 1] = r end
  table.sort(ids)
  return ids
end

describe("replication #cluster", function()
  describe("8 nodes, replicas = 3", function()
    local cl
    setup(function() cl = assert(cluster.start { nodes = 8, replicas = 3 }) end)
    teardown(function()
      if cl then
        cl:close()
        assert(cl:check())
      end
    end)

    it("after a mixed workload, each topic is on its home and 2 replicas only, byte-identical", function()
      local c = cl:client(0)
      assert(c:create_publisher "rp1")
      assert(c:create_publisher "rp2")
      assert(c:create_subscriber "rs1")
      local topics = {}
      for i = 1, 12 do
        topics[i] = "mixed-" .. i
        assert(cl:client(i % 8):create_topic(i % 2 == 0 and "rp1" or "rp2", topics[i]))
      end
      -- Publishes of varied, binary payloads through every node, some with
      -- each ack mode; subscriptions and pulls that move cursors.
      local done, want = 0, 0
      for round = 1, 40 do
        for i, t in ipairs(topics) do
          local payload = string.char(round % 256, 0, 255, i) .. ("x"):rep((round * i) % 300)
          local ack = ({ "all", "home", "none" })[round % 3 + 1]
          want = want + 1
          assert(cl:client((round + i) % 8):publish(i % 2 == 0 and "rp1" or "rp2", t, payload,
            { ack = ack }, function(off, msg) assert(off, msg) done = done + 1 end))
        end
      end
      assert(process.wait_until(function() return done == want end, 20000, "acks"))
      for i = 1, 6 do
        assert(cl:client(i):subscribe("rs1", topics[i]))
        assert(#assert(cl:client(7 - i):pull("rs1", topics[i], { max = 7 })) == 7)
      end
      assert(cl:client(3):delete_topic("rp1", topics[12]))

      for i = 1, 11 do
        local t = topics[i]
        local w = assert(c:where(t))
        assert.equal(2, #w.replicas)
        -- ack "home" and "none" answers may run ahead of the replicas: wait
        -- until every copy has caught up, then compare.
        local got
        assert(process.wait_until(function()
          got = holders(cl, t)
          local first
          for _, h in pairs(got) do
            first = first or h
            if h.digest ~= first.digest or h.next ~= 40 then return false end
          end
          return first ~= nil
        end, 10000, "copies of " .. t .. " to agree"))
        assert.same(expected_copies(w), sorted_keys(got), t .. " is held by exactly home + replicas")
        for _, h in pairs(got) do
          assert.equal(got[w.home].digest, h.digest)
          assert.equal(got[w.home].cursors, h.cursors)
        end
      end
      assert.same({}, holders(cl, topics[12]), "a deleted topic is gone from every copy")
    end)

    it("a publish acknowledged with ack = all is on every replica when the answer arrives", function()
      local c = cl:client(5)
      assert(c:create_publisher "ap")
      assert(c:create_topic("ap", "acked"))
      local w = assert(c:where "acked")
      for i = 1, 20 do
        local off = assert(c:publish("ap", "acked", "m" .. i, { ack = "all" }))
        for _, r in ipairs(w.replicas) do
          local h = holders(cl, "acked")[r]
          assert.is_truthy(h, "replica " .. r .. " holds the topic")
          assert.is_true(h.next > off, ("replica %d has offset %d"):format(r, off))
        end
      end
    end)

    it("registrations are replicated with their identity's placement", function()
      local c = cl:client(1)
      assert(c:create_publisher "reg-p")
      -- the publisher works through every node (its home answers lookups)
      for id = 0, 7 do
        assert(cl:client(id):create_topic("reg-p", "reg-" .. id))
      end
      assert.same({ "reg-0", "reg-1", "reg-2", "reg-3", "reg-4", "reg-5", "reg-6", "reg-7" },
        assert(c:list_topics "reg-"))
    end)
  end)

  describe("replicas = \"neighbours\"", function()
    it("puts each topic on its home and every cube neighbour (the seed's rule)", function()
      local cl = assert(cluster.start { nodes = 8, replicas = "neighbours" })
      finally(function() cl:close(); cl:check() end)
      local c = cl:client(0)
      assert(c:create_publisher "np")
      for i = 1, 6 do
        local t = "nb-" .. i
        assert(c:create_topic("np", t))
        assert(c:publish("np", t, "hello"))
        local w = assert(c:where(t))
        assert.equal(3, #w.replicas)
        for _, r in ipairs(w.replicas) do
          local x, bits = r ~ w.home, 0
          while x > 0 do bits, x = bits + (x & 1), x >> 1 end
          assert.equal(1, bits, ("replica %d is a neighbour of home %d"):format(r, w.home))
        end
        assert.same(expected_copies(w), sorted_keys(holders(cl, t)))
      end
    end)
  end)
end)
