-- hypersub.history: each check fails on a history made to break it, with a
-- message naming what broke, and a clean history (concurrent publishers,
-- failed publishes, a subscriber moving between clients) passes.
local history = require "hypersub.history"

-- {offset =, data =} messages from {offset, data} pairs.
local function msgs(list)
  local out = {}
  for i, x in ipairs(list) do out[i] = { offset = x[1], data = x[2] } end
  return out
end

-- Messages m<from>..m<to> at offsets from..to.
local function run(from, to, name)
  local out = {}
  for o = from, to do out[#out + 1] = { offset = o, data = (name or "m") .. o } end
  return out
end

-- A history where m0..m<n-1> were published one at a time, each acked at
-- its own offset.
local function published(n, topic)
  local h = history.new()
  for i = 0, n - 1 do
    h:publish_sent(topic or "t", "m" .. i)
    h:publish_acked(topic or "t", "m" .. i, i)
  end
  return h
end

local function fails(h, kind, pattern, opts)
  local ok, report, v = h:check(opts)
  assert.is_nil(ok, "the check passed; expected " .. kind)
  assert.equal(kind, v.kind, report)
  assert.truthy(report:find(pattern, 1, true), ("%q not in the report:\n%s"):format(pattern, report))
  return report, v
end

describe("hypersub.history", function()
  it("passes a clean history: two publishers interleaved, failures absent or present once, a subscriber across clients", function()
    local h = history.new()
    h:subscribed("t", "s1", 0)
    -- a and b publish concurrently; acks come back out of order.
    h:publish_sent("t", "a1")
    h:publish_sent("t", "b1")
    h:publish_acked("t", "b1", 0)
    h:publish_sent("t", "b2")
    h:publish_acked("t", "a1", 1)
    h:publish_sent("t", "a2")
    h:publish_failed("t", "b2", "TIMEOUT: no answer within 5000 ms") -- it landed anyway
    h:pulled("t", "s1", msgs { { 0, "b1" }, { 1, "a1" } }, "client x")
    h:publish_sent("t", "b3")
    h:publish_acked("t", "a2", 3)
    h:publish_failed("t", "b3", "CLOSED: connection closed") -- it did not
    h:pulled("t", "s1", {}, "client x")
    h:pulled("t", "s1", msgs { { 2, "b2" }, { 3, "a2" } }, "client y")
    h:pulled("t", "s1", {}, "client y")
    h:read_all("t", msgs { { 0, "b1" }, { 1, "a1" }, { 2, "b2" }, { 3, "a2" } })
    assert.is_true(h:check { complete = true })
    assert.same({}, h:violations { complete = true })
    assert.same({ events = 16, sent = 5, acked = 3, failed = 2, pulled = 4 }, h:stats())
  end)

  it("passes a subscriber that started later, and a final read of a trimmed log", function()
    local h = published(10)
    h:subscribed("t", "late", 6)
    h:pulled("t", "late", run(6, 9))
    h:read_all("t", run(4, 9), 4)
    assert.is_true(h:check { complete = true })
  end)

  it("lost: an acknowledged message missing from the final read", function()
    local h = published(43)
    local all = run(0, 42)
    table.remove(all, 42) -- offset 41
    h:read_all("t", all)
    local report = fails(h, "lost", 'lost: "m41" acked at offset 41 on topic t, not in the final read')
    -- The report shows the events it rests on and the ones just before.
    assert.truthy(report:find('publish_acked  t "m41" at offset 41', 1, true), report)
    assert.truthy(report:find("the last 5 events of topic t before #87", 1, true), report)
    assert.truthy(report:find("read_all       t 42 messages, offsets 0..40, 42", 1, true), report)
  end)

  it("lost: an acknowledged message never delivered to a subscriber that pulled until the end", function()
    local h = published(5)
    h:pulled("t", "s1", run(0, 3))
    h:pulled("t", "s1", {})
    fails(h, "lost", 'lost: "m4" acked at offset 4 on topic t, never delivered to subscriber s1',
      { complete = true })
    -- Without `complete`, a subscriber may stop early.
    assert.is_true(h:check())
  end)

  it("duplicated: one payload at two offsets", function()
    local h = published(4)
    h:read_all("t", msgs { { 0, "m0" }, { 1, "m1" }, { 2, "m2" }, { 3, "m3" }, { 4, "m2" } })
    fails(h, "duplicated", 'duplicated: "m2" (acked at offset 2) is at offsets 2 and 4 on topic t')
  end)

  it("duplicated: a publish of unknown outcome present twice (once is fine)", function()
    local h = published(2)
    h:publish_sent("t", "u")
    h:publish_failed("t", "u", "TIMEOUT: no answer within 5000 ms")
    h:read_all("t", msgs { { 0, "m0" }, { 1, "m1" }, { 2, "u" } })
    assert.is_true(h:check())
    h:read_all("t", msgs { { 0, "m0" }, { 1, "m1" }, { 2, "u" }, { 3, "u" } })
    fails(h, "duplicated",
      'duplicated: "u" (outcome unknown: TIMEOUT: no answer within 5000 ms) is at offsets 2 and 3 on topic t')
  end)

  it("gap: a pull's answer skips an offset", function()
    local h = published(6)
    h:pulled("t", "s1", msgs { { 0, "m0" }, { 1, "m1" }, { 3, "m3" } }, "client a")
    fails(h, "gap", "gap: pull #1 of s1 (client a) jumps from offset 1 to 3 on topic t: offset 2 missing")
  end)

  it("gap: the final read has a hole", function()
    local h = history.new()
    h:publish_sent("t", "m0")
    h:publish_acked("t", "m0", 0)
    h:publish_sent("t", "m5")
    h:publish_failed("t", "m5", "CLOSED")
    h:read_all("t", msgs { { 0, "m0" }, { 2, "m5" } })
    fails(h, "gap", "gap: the final read of topic t jumps to offset 2: offset 1 missing")
  end)

  it("reordered: a publish sent after another was acked lands below it", function()
    local h = history.new()
    h:publish_sent("t", "first")
    h:publish_acked("t", "first", 1)
    h:publish_sent("t", "second")
    h:publish_acked("t", "second", 0)
    fails(h, "reordered", 'reordered: "first" was acked at offset 1 on topic t (event #2) before "second" was sent (event #3), yet "second" is at offset 0, below it')
  end)

  it("reordered: a subscriber gets offsets out of order", function()
    local h = published(4)
    h:pulled("t", "s1", run(0, 1))
    h:pulled("t", "s1", msgs { { 3, "m3" } })
    h:pulled("t", "s1", msgs { { 2, "m2" } })
    fails(h, "reordered", "reordered: subscriber s1 got offset 3 before offset 2 on topic t (pull #2 of s1, then pull #3 of s1)")
  end)

  it("misplaced: an acknowledged payload read at another offset than its ack's", function()
    local h = published(4)
    h:read_all("t", msgs { { 0, "m0" }, { 1, "m1" }, { 2, "m3" }, { 3, "m2" } })
    fails(h, "misplaced", 'misplaced: "m2" was acked at offset 2 on topic t, but the final read has it at offset 3')
  end)

  it("repeated: a subscriber gets an offset again after moving to another client", function()
    local h = published(8)
    h:pulled("t", "s1", run(0, 4), "client a")
    h:pulled("t", "s1", run(3, 7), "client b")
    fails(h, "repeated",
      'repeated: subscriber s1 got offset 3 ("m3") twice on topic t: in pull #1 of s1 (client a) and in pull #2 of s1 (client b)')
  end)

  it("skipped: a pull begins past where the last one ended", function()
    local h = published(8)
    h:pulled("t", "s1", run(0, 2), "client a")
    h:pulled("t", "s1", run(5, 7), "client b")
    fails(h, "skipped",
      "skipped: pull #2 of s1 (client b) began at offset 5 on topic t, but the pull before ended at 2: offsets 3..4 never delivered")
  end)

  it("skipped: a subscriber's first pull begins past its cursor's start", function()
    local h = published(8)
    h:subscribed("t", "s1", 2)
    h:pulled("t", "s1", run(4, 7))
    fails(h, "skipped",
      "skipped: subscriber s1 began at offset 4 on topic t, not at 2 where its cursor started: offsets 2..3 never delivered")
  end)

  it("conflict: two payloads acked at one offset", function()
    local h = history.new()
    h:publish_sent("t", "x")
    h:publish_sent("t", "y")
    h:publish_acked("t", "x", 0)
    h:publish_acked("t", "y", 0)
    fails(h, "conflict", 'conflict: "x" and "y" were both acked at offset 0 on topic t')
  end)

  it("diverged: one offset read with two payloads", function()
    local h = history.new()
    h:publish_sent("t", "x")
    h:publish_sent("t", "y")
    h:publish_failed("t", "x", "TIMEOUT")
    h:publish_failed("t", "y", "TIMEOUT")
    h:pulled("t", "s1", msgs { { 0, "x" } })
    h:read_all("t", msgs { { 0, "y" } })
    fails(h, "diverged", 'diverged: offset 0 of topic t held "x" (event #5) and then "y" (event #6)')
  end)

  it("a fetch's answer is held to the other reads: diverged, misplaced, phantom", function()
    local h = published(3)
    h:fetched("t", msgs { { 1, "m1" }, { 2, "m2" } }, "reader")
    h:read_all("t", msgs { { 0, "m0" }, { 1, "m1" }, { 2, "m2" } })
    assert.is_true(h:check { complete = true })
    h = published(2)
    h:fetched("t", msgs { { 1, "m0" } }, "reader")
    fails(h, "misplaced", 'misplaced: "m0" was acked at offset 0 on topic t, but fetch #1 (reader) has it at offset 1')
    h = history.new()
    h:publish_sent("t", "x")
    h:publish_failed("t", "x", "TIMEOUT")
    h:fetched("t", msgs { { 0, "x" } })
    h:fetched("t", msgs { { 0, "marker" } })
    fails(h, "diverged", 'diverged: offset 0 of topic t held "x" (event #3) and then "marker" (event #4)')
    local kinds = {}
    for _, v in ipairs(h:violations()) do kinds[v.kind] = true end
    assert.is_true(kinds.diverged and kinds.phantom)
  end)

  it("phantom: a payload nobody published, unless foreign payloads are allowed", function()
    local h = published(1)
    h:read_all("t", msgs { { 0, "m0" }, { 1, "marker" } })
    fails(h, "phantom", 'phantom: offset 1 of topic t holds "marker", which was never published')
    assert.is_true(h:check { foreign = true })
  end)

  it("checks topics apart, and reports the earliest violation with a count of the rest", function()
    local h = published(3, "a")
    h:publish_sent("b", "m0")
    h:publish_acked("b", "m0", 0)
    h:read_all("b", {})                  -- b lost m0 ...
    h:read_all("a", msgs { { 0, "m0" } }) -- ... then a lost m1 and m2
    local ok, report, v = h:check()
    assert.is_nil(ok)
    assert.equal("b", v.topic)
    assert.truthy(report:find("(2 more violations after it)", 1, true), report)
    local all = h:violations()
    assert.equal(3, #all)
    assert.same({ "b", "a", "a" }, { all[1].topic, all[2].topic, all[3].topic })
  end)

  it("tells payloads apart by opts.id_of", function()
    local h = history.new { id_of = function(data) return data:match("^(%w+)|") end }
    h:publish_sent("t", "m0")
    h:publish_acked("t", "m0", 0)
    h:read_all("t", msgs { { 0, "m0|padding" } })
    assert.is_true(h:check())
  end)

  it("raises on programming errors", function()
    local h = history.new()
    h:publish_sent("t", "m0")
    assert.has_error(function() h:publish_sent("t", "m0") end,
      'bad argument #2 to \'publish_sent\' (payload "m0" was already sent on topic t: give each publish an id of its own)')
    h:publish_acked("t", "m0", 0)
    assert.has_error(function() h:publish_failed("t", "m0") end)
    assert.has_error(function() h:publish_acked("t", "m1", -1) end)
    assert.has_error(function() h:publish_acked("t", "m1", 1.5) end)
    assert.has_error(function() h:pulled("t", "s1", { { data = "m0" } }) end)
    assert.has_error(function() h:pulled(nil, "s1", {}) end)
    assert.has_error(function() history.new { context = -1 } end)
    assert.has_error(function() h.check({}) end, "bad self to 'check' (hypersub.history expected)")
  end)
end)
