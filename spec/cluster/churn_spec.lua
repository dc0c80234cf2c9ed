-- Churn: nodes join, leave, die and come back while publishers stream with
-- ack = "all" and subscribers pull; afterwards every acknowledged message
-- was pulled exactly once, in order, every topic has its copies, and every
-- node sees the same view.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"

local TOPICS = { "churn-a", "churn-b" }

-- Background load on the luv loop: one publisher per topic keeping 8
-- publishes in flight, and two subscribers long-polling every topic.
-- Runs while the spec's own calls (joins, leaves, kills) run the loop.
local function start_load(c)
  local load = { acked = {}, failed = {}, got = {}, inflight = 0, stopping = false }
  assert(c:create_publisher "churn-p")
  for _, t in ipairs(TOPICS) do assert(c:create_topic("churn-p", t)) end
  for s = 1, 2 do
    assert(c:create_subscriber("churn-s" .. s))
    for _, t in ipairs(TOPICS) do assert(c:subscribe("churn-s" .. s, t)) end
  end
  local sent = {}
  local function publish(t)
    if load.stopping then return end
    sent[t] = (sent[t] or 0) + 1
    local data = ("%s-%06d"):format(t, sent[t])
    load.inflight = load.inflight + 1
    assert(c:publish("churn-p", t, data, { ack = "all" }, function(off, msg, code)
      load.inflight = load.inflight - 1
      if code == "CLOSED" then return end -- the spec is over
      if off then load.acked[data] = off else load.failed[#load.failed + 1] = msg end
      publish(t)
    end))
  end
  for _, t in ipairs(TOPICS) do
    load.acked[t] = nil
    for _ = 1, 8 do publish(t) end
  end
  load.pulling = 0
  local function pull(sid, t)
    local key = sid .. "/" .. t
    load.got[key] = load.got[key] or {}
    if load.stopping then return end
    load.pulling = load.pulling + 1
    assert(c:pull(sid, t, { max = 50, wait = 200 }, function(msgs, msg, code)
      load.pulling = load.pulling - 1
      if code == "CLOSED" then return end -- the spec is over
      if msgs then
        for _, m in ipairs(msgs) do table.insert(load.got[key], m) end
      else
        load.failed[#load.failed + 1] = "pull: " .. tostring(msg)
      end
      pull(sid, t)
    end))
  end
  for s = 1, 2 do
    for _, t in ipairs(TOPICS) do pull("churn-s" .. s, t) end
  end
  return load
end

-- Stops the load, lets what is in flight finish, then pulls the rest.
local function finish_load(c, load)
  load.stopping = true
  assert(process.wait_until(function() return load.inflight == 0 and load.pulling == 0 end,
    30000, "the load's requests in flight"))
  for s = 1, 2 do
    for _, t in ipairs(TOPICS) do
      local got = load.got["churn-s" .. s .. "/" .. t]
      repeat
        local batch = assert(c:pull("churn-s" .. s, t, { max = 500 }))
        for _, m in ipairs(batch) do got[#got + 1] = m end
      until #batch == 0
    end
  end
end

-- Every acknowledged message of every topic pulled exactly once, in
-- offset order, by both subscribers; returns how many were acknowledged.
local function assert_exactly_once(load)
  local total = 0
  for s = 1, 2 do
    for _, t in ipairs(TOPICS) do
      local got, seen, last = load.got["churn-s" .. s .. "/" .. t], {}, -1
      for _, m in ipairs(got) do
        assert(m.offset > last, ("%s %s: offset %d after %d"):format(s, t, m.offset, last))
        last = m.offset
        assert(not seen[m.data], ("delivered twice: %s at offsets %s and %d"):format(m.data, tostring(seen[m.data]), m.offset))
        seen[m.data] = m.offset
      end
      local acked, missing = 0, {}
      for data, off in pairs(load.acked) do
        if data:sub(1, #t + 1) == t .. "-" then
          acked = acked + 1
          if seen[data] ~= off then missing[#missing + 1] = data end
        end
      end
      assert.equal(0, #missing, ("subscriber %d, %s: acknowledged but not pulled at its offset: %s")
        :format(s, t, table.concat(missing, " ", 1, math.min(#missing, 10))))
      if s == 1 then total = total + acked end
    end
  end
  return total
end

describe("churn #cluster", function()
  local cl
  after_each(function()
    if cl then
      cl:close()
      assert(cl:check())
      cl = nil
    end
  end)

  it("grows 4 -> 8 -> 13 and shrinks 13 -> 6 under load: every ack pulled exactly once, R copies, one view", function()
    cl = assert(cluster.start { nodes = 4, replicas = 3 })
    assert(cl:await_view(10000))
    local c = assert(cl:client(0, { timeout = 15000 }))
    local load = start_load(c)
    for _ = 1, 4 do assert(cl:join()) end
    assert.same({ 0, 1, 2, 3, 4, 5, 6, 7 }, cl:members())
    for _ = 1, 5 do assert(cl:join()) end
    assert.equal(13, #cl:members())
    assert(cl:await_view(10000))
    for _, id in ipairs { 12, 11, 10, 9, 8, 5, 2 } do assert(cl:leave(id)) end
    assert.same({ 0, 1, 3, 4, 6, 7 }, cl:members())
    finish_load(c, load)
    assert.equal(0, #load.failed, table.concat(load.failed, "\n"))
    assert.is_true(assert_exactly_once(load) > 0)
    assert(cl:await_view(10000))
    for _, t in ipairs(TOPICS) do assert(cl:await_copies(t, 10000)) end
    -- A join grew the cube's dimension, and leaving shrank it back.
    assert.equal(3, assert(c:view()).dim)
  end)

  it("a node killed and restarted three times under load ends with the topics it had, nothing lost", function()
    cl = assert(cluster.start { nodes = 8, replicas = 3 })
    assert(cl:await_view(10000))
    local victim = cl:where(TOPICS[1]).home
    if victim == 0 then victim = cl:where(TOPICS[1]).replicas[1] end
    local via = victim == 7 and 6 or 7
    local c = assert(cl:client(via, { timeout = 15000 }))
    local load = start_load(c)
    local function held()
      local names = {}
      for _, t in ipairs(assert(assert(cl:client(victim)):local_topics()).topics) do
        names[#names + 1] = t.name
      end
      table.sort(names)
      return names
    end
    local copies = 0
    for _, t in ipairs(TOPICS) do
      local w = cl:where(t)
      local on = w.home == victim
      for _, r in ipairs(w.replicas) do on = on or r == victim end
      if on then copies = copies + 1 end
    end
    assert(process.wait_until(function() return #held() == copies end, 5000, "the victim's copies"))
    local before = held()
    local marker = assert(cl:client(via, { timeout = 15000 }))
    assert(marker:create_publisher "marker")
    for round = 1, 3 do
      -- Each round starts from a settled cluster: the victim caught up, and
      -- a publish acknowledged by every copy of each topic since.
      assert(process.wait_until(function()
        local log = assert(io.open(cl:nodes()[victim + 1].log)):read("a")
        local n = 0
        for _ in log:gmatch("caught_up") do n = n + 1 end
        return n >= round
      end, 10000, "the victim to catch up"))
      for _, t in ipairs(TOPICS) do
        assert(marker:publish("marker", t, "marker-" .. round, { ack = "all" }))
      end
      assert(cl:kill(victim))
      assert(cl:await_view(10000))
      assert(cl:restart(victim))
      assert(cl:await_view(10000))
      -- Its copies come back from the others (the load goes on).
      assert(process.wait_until(function()
        return table.concat(held(), " ") == table.concat(before, " ")
      end, 10000, "the restarted node's topics"))
    end
    finish_load(c, load)
    for _, t in ipairs(TOPICS) do assert(cl:await_copies(t, 10000)) end
    assert.equal(0, #load.failed, table.concat(load.failed, "\n"))
    assert.is_true(assert_exactly_once(load) > 0)
    local log = assert(io.open(cl:nodes()[victim + 1].log)):read("a")
    assert.truthy(log:find("caught_up", 1, true))
  end)
end)
