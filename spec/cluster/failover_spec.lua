-- Failover: a node killed with SIGKILL is detected by its neighbours, its
-- topics are served on by their replicas, copies are refilled to R, and
-- clients carry on: nothing acknowledged is lost or delivered twice.
local cluster = require "hypersub.cluster"
local hypersub = require "hypersub"
local process = require "hypersub.process"

-- Pulls everything the subscriber has not seen, in batches.
local function pull_all(c, sid, topic)
  local got = {}
  while true do
    local batch = assert(c:pull(sid, topic, { max = 500 }))
    if #batch == 0 then return got end
    for _, m in ipairs(batch) do got[#got + 1] = m end
  end
end

-- Every acknowledged payload exactly once, offsets strictly increasing,
-- and no payload twice at all.
local function assert_exactly_once(got, acked)
  local seen, last = {}, -1
  for _, m in ipairs(got) do
    assert(m.offset > last, ("offset %d after %d"):format(m.offset, last))
    last = m.offset
    assert(not seen[m.data], "delivered twice: " .. m.data)
    seen[m.data] = true
  end
  local missing = 0
  for data in pairs(acked) do
    if not seen[data] then missing = missing + 1 end
  end
  assert.equal(0, missing, "acknowledged messages missing")
end

-- Streams n publishes with `inflight` outstanding through c; calls
-- at(k) once k publishes were acknowledged. Returns acked {data = offset},
-- and the failures.
local function stream(c, pid, topic, n, inflight, at)
  local acked, failed, sent, done, count = {}, {}, 0, 0, 0
  local fired = {}
  local function one()
    sent = sent + 1
    local data = ("m-%05d"):format(sent)
    assert(c:publish(pid, topic, data, { ack = "all" }, function(off, msg)
      done = done + 1
      if off then
        acked[data] = off
        count = count + 1
      else
        failed[#failed + 1] = msg
      end
      for k, fn in pairs(at) do
        if count >= k and not fired[k] then fired[k] = true; fn() end
      end
      if sent < n then one() end
    end))
  end
  for _ = 1, inflight do one() end
  assert(process.wait_until(function() return done == n end, 60000, "every publish to finish"))
  return acked, failed
end

-- One request on a fresh raw connection (HELLO first): the reply frame's
-- flags and body. Lets a spec send the very same PUBLISH twice, as a
-- client's retry would.
local uv = require "luv"
local function raw_request(port, op, body)
  local tcp, buf, replies = uv.new_tcp(), "", {}
  local function frame(o, id, b) return string.pack("<I4BBHI4", 8 + #b, hypersub.wire_version, o, 0, id) .. b end
  tcp:connect("127.0.0.1", port, function(err)
    assert(not err, err)
    tcp:read_start(function(_, data)
      buf = buf .. (data or "")
      while #buf >= 4 do
        local len = string.unpack("<I4", buf)
        if #buf < len + 4 then break end
        local _, _, _, flags, id = string.unpack("<I4BBHI4", buf)
        replies[id] = { flags = flags, body = buf:sub(13, len + 4) }
        buf = buf:sub(len + 5)
      end
    end)
    tcp:write(frame(1, 1, string.pack("<Bs1s1", 1, "hypersub", "") .. string.rep("n", 16)) ..
      frame(op, 2, body))
  end)
  assert(process.wait_until(function() return replies[2] end, 10000, "the raw reply"))
  tcp:read_stop()
  tcp:close()
  return replies[2]
end

describe("failover #cluster", function()
  describe("8 nodes, replicas = 3", function()
    local cl
    before_each(function()
      cl = assert(cluster.start { nodes = 8, replicas = 3 })
      assert(cl:await_view(10000)) -- every node heard from its peers
    end)
    after_each(function()
      if cl then
        cl:close()
        assert(cl:check())
      end
    end)

    it("a stream with ack=all, 64 in flight, survives its home's SIGKILL: every ack pulled exactly once", function()
      local via = 0
      local topic = cl:topic_away("stream-", via)
      local home = cl:home(topic)
      local c = assert(cl:client(via, { timeout = 10000 }))
      assert(c:create_publisher "fp")
      assert(c:create_subscriber "fs")
      assert(c:create_topic("fp", topic))
      assert(c:subscribe("fs", topic))
      -- The subscriber pulls a little before the kill, so its cursor moved.
      local before = {}
      local acked, failed = stream(c, "fp", topic, 3000, 64, {
        [500] = function()
          assert(cl:kill(home))
        end,
      })
      assert.equal(0, #failed, table.concat(failed, "\n"))
      assert.equal(3000, (function() local n = 0 for _ in pairs(acked) do n = n + 1 end return n end)())
      assert(cl:await_view(10000))
      assert.is_true(cl:where(topic).home ~= home)
      assert(cl:await_copies(topic, 10000))
      for _, m in ipairs(pull_all(c, "fs", topic)) do before[#before + 1] = m end
      assert_exactly_once(before, acked)
      -- The logs tell what happened.
      local new_home = cl:home(topic)
      local log = assert(io.open(cl:nodes()[new_home + 1].log)):read("a")
      assert.truthy(log:find("node_failed", 1, true))
      assert.truthy(log:find("topic_promoted_here", 1, true))
      local st = assert(cl:client(new_home)):stats()
      assert.is_true(st.promotions >= 1)
      assert.is_true(st.failovers >= 1)
      assert.is_true(c:retries() > 0)
    end)

    it("a subscriber pulling across the kill sees every message once, in order", function()
      local via = 0
      local topic = cl:topic_away("pulls-", via)
      local home = cl:home(topic)
      local c = assert(cl:client(via, { timeout = 10000 }))
      local reader = assert(cl:client(via, { timeout = 10000 }))
      assert(c:create_publisher "pp")
      assert(c:create_subscriber "ps")
      assert(c:create_topic("pp", topic))
      assert(reader:subscribe("ps", topic))
      for i = 1, 300 do assert(c:publish("pp", topic, "a-" .. i, { ack = "all" })) end
      local got = {}
      for _ = 1, 10 do
        for _, m in ipairs(assert(reader:pull("ps", topic, { max = 20 }))) do got[#got + 1] = m end
      end
      assert(cl:kill(home))
      for i = 1, 300 do assert(c:publish("pp", topic, "b-" .. i, { ack = "all" })) end
      for _, m in ipairs(pull_all(reader, "ps", topic)) do got[#got + 1] = m end
      assert.equal(600, #got)
      for i, m in ipairs(got) do
        assert.equal(i - 1, m.offset)
        assert.equal(i <= 300 and ("a-" .. i) or ("b-" .. (i - 300)), m.data)
      end
    end)

    it("replicas = 3 and three homes killed one after another: every ack is still there", function()
      local via = 0
      local topic = cl:topic_away("triple-", via)
      local c = assert(cl:client(via, { timeout = 10000 }))
      assert(c:create_publisher "tp")
      assert(c:create_subscriber "ts")
      assert(c:create_topic("tp", topic))
      assert(c:subscribe("ts", topic))
      local acked, k = {}, 0
      local function burst(n)
        for _ = 1, n do
          k = k + 1
          local data = "t-" .. k
          acked[data] = assert(c:publish("tp", topic, data, { ack = "all" }))
        end
      end
      local killed = {}
      for round = 1, 3 do
        burst(100)
        assert(cl:await_copies(topic, 10000))
        local home = cl:home(topic)
        assert.are_not.equal(via, home)
        killed[round] = home
        assert(cl:kill(home))
        assert(cl:await_view(10000))
        assert(cl:await_copies(topic, 10000)) -- refilled to 3 copies
        local n = 0
        for _ in pairs(cl:holders(topic)) do n = n + 1 end
        assert.equal(3, n)
      end
      burst(100)
      assert_exactly_once(pull_all(c, "ts", topic), acked)
      -- A refill happened somewhere, and the log names it.
      local refilled = false
      for _, n in ipairs(cl:nodes()) do
        if n.alive then
          local log = assert(io.open(n.log)):read("a")
          refilled = refilled or log:find("replica_refilled", 1, true) ~= nil
        end
      end
      assert.is_true(refilled)
    end)

    it("a publish sent again after its home died is stored once (sequence numbers travel with the log)", function()
      local via = 0
      local topic = cl:topic_away("dedup-", via)
      local c = assert(cl:client(via))
      assert(c:create_publisher "dp")
      assert(c:create_topic("dp", topic))
      local port = tonumber(cl:nodes()[via + 1].addr:match(":(%d+)$"))
      local body = string.pack("<s1s1BI8I8s4", "dp", topic, 2, 0x5eed, 1, "only once")
      local function send()
        -- Sent again on UNAVAILABLE (10), as a client does: a new home
        -- hears from its replicas before it takes a record.
        local r
        for _ = 1, 200 do
          r = raw_request(port, 6, body) -- PUBLISH
          if r.flags & 2 == 0 or string.unpack("<I2", r.body) ~= 10 then break end
          hypersub.sleep(25) -- the client's back-off between retries
        end
        assert.equal(0, r.flags & 2, "an error reply")
        return (string.unpack("<I8", r.body))
      end
      assert.equal(0, send())
      assert.equal(0, send()) -- the same (producer, seq): answered, not stored
      assert.equal(0, assert(c:publish("dp", topic, "next")) - 1)
      local home = cl:home(topic)
      assert(cl:await_copies(topic, 10000))
      assert(cl:kill(home))
      assert(cl:await_view(10000))
      assert.equal(0, send()) -- the new home knows it from the replicated log
      local new_home = cl:home(topic)
      local st = assert(cl:client(new_home)):stats()
      assert.equal(1, st.deduplicated)
      assert(cl:await_copies(topic, 10000))
      for _, t in pairs(cl:holders(topic)) do assert.equal(2, t.next) end
    end)

    it("a killed home restarted rejoins and gets its topic back; nothing is lost", function()
      local c = assert(cl:client(0, { timeout = 10000 }))
      local topic = cl:topic_away("back-", 0)
      assert(c:create_publisher "bp")
      assert(c:create_subscriber "bs")
      assert(c:create_topic("bp", topic))
      assert(c:subscribe("bs", topic))
      for i = 1, 50 do assert(c:publish("bp", topic, "a" .. i)) end
      local home = cl:home(topic)
      assert(cl:kill(home))
      assert(cl:await_view(10000))
      for i = 1, 50 do assert(c:publish("bp", topic, "b" .. i)) end
      assert.is_true(cl:restart(home))
      assert(cl:await_view(10000)) -- it said it is alive, with a higher version
      assert(cl:await_copies(topic, 10000)) -- handed back to it
      assert.equal(home, cl:home(topic))
      for i = 1, 50 do assert(c:publish("bp", topic, "c" .. i)) end
      local got = pull_all(c, "bs", topic)
      assert.equal(150, #got)
      for i, m in ipairs(got) do assert.equal(i - 1, m.offset) end
      local log = assert(io.open(cl:nodes()[home + 1].log)):read("a")
      assert.truthy(log:find("topic_handed_here", 1, true))
      -- it synced its replicas once the handed records were in, not before
      -- (a SYNC with a committed offset past its next is refused)
      assert.falsy(log:find("sync_failed", 1, true))
    end)

    it("requests through a node whose neighbours died still reach every home", function()
      local via = 0
      local c = assert(cl:client(via, { timeout = 10000 }))
      assert(c:create_publisher "rp")
      for i = 1, 40 do assert(c:create_topic("rp", "around-" .. i)) end
      -- Kill two of node 0's three neighbours.
      assert(cl:kill(1))
      assert(cl:kill(2))
      assert(cl:await_view(10000))
      for i = 1, 40 do
        local t = "around-" .. i
        assert.equal(0, assert(c:publish("rp", t, "x")))
        local w = assert(c:where(t))
        assert.equal(cl:home(t), w.home)
      end
      -- No request found the way blocked (a new home hearing from its
      -- replicas may still have said UNAVAILABLE once; the client retried).
      for _, n in ipairs(cl:nodes()) do
        if n.alive then assert.equal(0, assert(cl:client(n.id)):stats().no_route) end
      end
    end)
  end)
end)
