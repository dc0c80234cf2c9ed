-- Many clients at once on an 8-node cube: each client is connected to a
-- different node, publishes 200 messages with ack = "all" to a shared topic
-- and 200 to its own topic, while long polls pull them. Afterwards every
-- subscriber has every acknowledged message exactly once, in offset order,
-- with its payload: no loss, duplication or reordering.
local hypersub = require "hypersub"
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"

local MESSAGES = 200 -- per client and topic
local DEADLINE = 60000

-- A payload that names its message, binary bytes and a varying length.
local function payload(pid, topic, i)
  return ("%s|%s|%d|"):format(pid, topic, i) .. string.char(i % 256, 0, 255)
    .. string.rep("x", i % 97)
end

-- The clients of a round: worker k on node nodes[k], publisher, subscriber
-- and own topic named after the round, subscribed to the shared topic and
-- to the next worker's own topic.
local function prepare(cl, tag, nodes)
  local shared = tag .. "-shared"
  local workers = {}
  for k, node in ipairs(nodes) do
    local w = {
      k = k, node = node, c = assert(cl:client(node)),
      pid = ("%s-pub%d"):format(tag, k), sid = ("%s-sub%d"):format(tag, k),
      own = ("%s-own%d"):format(tag, k),
    }
    assert.equal(node, w.c.node_id)
    assert.is_true(w.c:create_publisher(w.pid))
    assert.is_true(w.c:create_topic(w.pid, w.own))
    assert.is_true(w.c:create_subscriber(w.sid))
    workers[k] = w
  end
  assert.is_true(workers[1].c:create_topic(workers[1].pid, shared))
  local subs = {} -- {w =, sid =, topic =, expect =, got = {}}
  for k, w in ipairs(workers) do
    local next_own = workers[k % #workers + 1].own
    for _, topic in ipairs { shared, next_own } do
      assert.is_true(w.c:subscribe(w.sid, topic))
      subs[#subs + 1] = {
        w = w, sid = w.sid, topic = topic, got = {},
        expect = topic == shared and MESSAGES * #workers or MESSAGES,
      }
    end
  end
  return shared, workers, subs
end

-- What every round checks once all is done.
local function verify(shared, workers, subs, acked, failures, ordered)
  assert.same({}, failures)
  -- Offsets handed out: dense from 0 per topic, each once (checked as
  -- they came in), as many as were published.
  assert.equal(MESSAGES * #workers, #acked[shared])
  for _, w in ipairs(workers) do assert.equal(MESSAGES, #acked[w.own]) end
  for topic, list in pairs(acked) do
    for off = 0, #list - 1 do
      assert.is_string(list[off], ("%s: no ack for offset %d"):format(topic, off))
    end
  end
  for _, s in ipairs(subs) do
    local where = ("%s on %s"):format(s.sid, s.topic)
    assert.equal(s.expect, #s.got, where)
    for n, m in ipairs(s.got) do
      assert.equal(n - 1, m.offset, where) -- in order, each once
      assert.equal(acked[s.topic][m.offset], m.data, where)
    end
  end
  if ordered then
    -- One publish at a time per publisher: its messages keep their order.
    local last = {}
    for off = 0, #acked[shared] - 1 do
      local pid, i = acked[shared][off]:match("^([^|]+)|[^|]+|(%d+)|")
      i = tonumber(i)
      assert.is_true(i > (last[pid] or 0), ("%s: message %d after %d"):format(pid, i, last[pid] or 0))
      last[pid] = i
    end
  end
end

local function record_ack(acked, failures, topic, data)
  return function(off, msg)
    if not off then
      failures[#failures + 1] = ("publish to %s: %s"):format(topic, msg)
      return
    end
    acked[topic] = acked[topic] or {}
    if acked[topic][off] ~= nil then
      failures[#failures + 1] = ("%s: offset %d given twice"):format(topic, off)
    end
    acked[topic][off] = data
  end
end

-- Sequence tables indexed from 0: # counts from 1, so keep n explicitly.
local function zero_len(t)
  local n = 0
  while t[n] ~= nil do n = n + 1 end
  return n
end

local function finish(acked)
  for topic, list in pairs(acked) do
    acked[topic] = setmetatable(list, { __len = zero_len })
  end
  return acked
end

describe("concurrent clients #cluster", function()
  local cl

  setup(function()
    cl = assert(cluster.start { nodes = 8, replicas = 3, log_level = "warn" })
  end)

  teardown(function()
    if cl then
      cl:close()
      cl:check()
    end
  end)

  it("4 clients in coroutines: publish with ack = all while long polls pull", function()
    local shared, workers, subs = prepare(cl, "co", { 0, 3, 5, 6 })
    local acked, failures, running = {}, {}, 0
    local function task(name, fn)
      running = running + 1
      hypersub.spawn(function()
        local ok, err = pcall(fn)
        if not ok then failures[#failures + 1] = name .. ": " .. tostring(err) end
        running = running - 1
      end)
    end
    for _, w in ipairs(workers) do
      task("publisher " .. w.pid, function()
        for i = 1, MESSAGES do
          for _, topic in ipairs { shared, w.own } do
            local data = payload(w.pid, topic, i)
            record_ack(acked, failures, topic, data)(
              w.c:publish(w.pid, topic, data, { ack = "all" }))
          end
        end
      end)
    end
    for _, s in ipairs(subs) do
      task("puller " .. s.sid .. " " .. s.topic, function()
        while #s.got < s.expect do
          local msgs = assert(s.w.c:pull(s.sid, s.topic, { max = 64, wait = 2000 }))
          table.move(msgs, 1, #msgs, #s.got + 1, s.got)
        end
      end)
    end
    assert(process.wait_until(function() return running == 0 end, DEADLINE, "every task"))
    verify(shared, workers, subs, finish(acked), failures, true)
  end)

  it("8 clients in callback style: pipelined publishes with ack = all while long polls pull", function()
    local shared, workers, subs = prepare(cl, "cb", { 0, 1, 2, 3, 4, 5, 6, 7 })
    local acked, failures, running = {}, {}, 0
    local WINDOW = 16
    for _, w in ipairs(workers) do
      for _, topic in ipairs { shared, w.own } do
        -- Up to WINDOW publishes in flight per client and topic.
        local sent, done = 0, 0
        running = running + 1
        local function send()
          if sent == MESSAGES then return end
          sent = sent + 1
          local data = payload(w.pid, topic, sent)
          local rec = record_ack(acked, failures, topic, data)
          local ok, msg = w.c:publish(w.pid, topic, data, { ack = "all" }, function(off, m, code)
            rec(off, m, code)
            done = done + 1
            if done == MESSAGES then running = running - 1 else send() end
          end)
          if not ok then
            failures[#failures + 1] = "could not send: " .. tostring(msg)
            running = running - 1
          end
        end
        for _ = 1, WINDOW do send() end
      end
    end
    for _, s in ipairs(subs) do
      running = running + 1
      local function pull()
        local ok, err = s.w.c:pull(s.sid, s.topic, { max = 64, wait = 2000 }, function(msgs, msg)
          if not msgs then
            failures[#failures + 1] = ("pull %s %s: %s"):format(s.sid, s.topic, msg)
            running = running - 1
            return
          end
          table.move(msgs, 1, #msgs, #s.got + 1, s.got)
          if #s.got < s.expect then pull() else running = running - 1 end
        end)
        if not ok then
          failures[#failures + 1] = "could not pull: " .. tostring(err)
          running = running - 1
        end
      end
      pull()
    end
    assert(process.wait_until(function() return running == 0 end, DEADLINE, "every request"))
    verify(shared, workers, subs, finish(acked), failures, false)
  end)
end)
