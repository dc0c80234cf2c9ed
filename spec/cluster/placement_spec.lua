-- hypersub.placement(topic, ids [, copies]): the preference list the nodes
-- use (DESIGN.md, "The cube"), checked against the documented rule. Pure:
-- no processes here; routing_spec.lua and sizes_spec.lua check that running
-- nodes answer WHERE the same way.
local hypersub = require "hypersub"
local core = require "hypersub.core"

local function popcount(x)
  local n = 0
  while x ~= 0 do n, x = n + (x & 1), x >> 1 end
  return n
end

local function dim_of(ids)
  local max, d = 0, 0
  for _, id in ipairs(ids) do max = math.max(max, id) end
  while (max >> d) ~= 0 do d = d + 1 end
  return d
end

-- The rule written out: every id ordered by (popcount(id ~ h'), id ~ h'),
-- h' the topic's hash cut to D bits.
local function by_the_rule(topic, ids)
  local hd = core.cube_hash(topic) & ((1 << dim_of(ids)) - 1)
  local out = table.move(ids, 1, #ids, 1, {})
  table.sort(out, function(a, b)
    local da, db = popcount(a ~ hd), popcount(b ~ hd)
    if da ~= db then return da < db end
    return (a ~ hd) < (b ~ hd)
  end)
  return out
end

local function range(n)
  local t = {}
  for i = 1, n do t[i] = i - 1 end
  return t
end

local function sorted(t)
  local c = table.move(t, 1, #t, 1, {})
  table.sort(c)
  return c
end

local PARTIAL = {
  { 0, 1, 2, 3, 4 },          -- 0..4: not a full cube
  { 0, 1, 2, 5, 6, 9 },       -- holes, D = 4
  { 3 },                      -- one node, not id 0
  { 0, 7 },                   -- opposite corners
  { 1, 2, 4, 8, 16, 32, 63 },
}

local function topics(n)
  local t = {}
  for i = 1, n do t[i] = "topic-" .. i end
  return t
end

describe("placement", function()
  it("on a full cube with copies 0 gives the home and its D neighbours", function()
    for _, d in ipairs { 1, 2, 3, 4, 6 } do
      local ids = range(1 << d)
      for _, topic in ipairs(topics(50)) do
        local p = hypersub.placement(topic, ids, 0)
        assert.equal(d + 1, #p, topic)
        local home = p[1]
        -- On a full cube the home is the hash cut to D bits.
        assert.equal(core.cube_hash(topic) & ((1 << d) - 1), home, topic)
        local want = { home }
        for b = 0, d - 1 do want[#want + 1] = home ~ (1 << b) end
        assert.same(sorted(want), sorted(p), topic)
        for i = 2, #p do assert.equal(1, popcount(p[i] ~ home)) end
      end
    end
  end)

  it("orders every id by (popcount(id ~ h'), id ~ h'), home first", function()
    for _, ids in ipairs { range(8), range(16), table.unpack(PARTIAL) } do
      for _, topic in ipairs(topics(100)) do
        assert.same(by_the_rule(topic, ids), hypersub.placement(topic, ids), topic)
      end
    end
  end)

  it("on a partial cube gives a permutation of the ids", function()
    for _, ids in ipairs(PARTIAL) do
      for _, topic in ipairs(topics(100)) do
        assert.same(sorted(ids), sorted(hypersub.placement(topic, ids)), topic)
      end
    end
  end)

  it("does not depend on the order the ids are given in", function()
    local ids = { 9, 0, 6, 2, 5, 1 }
    local rev = { 1, 5, 2, 6, 0, 9 }
    for _, topic in ipairs(topics(50)) do
      assert.same(hypersub.placement(topic, sorted(ids)), hypersub.placement(topic, ids))
      assert.same(hypersub.placement(topic, ids), hypersub.placement(topic, rev))
    end
  end)

  it("with copies gives the first copies of the full list", function()
    for _, ids in ipairs { range(8), table.unpack(PARTIAL) } do
      for _, topic in ipairs(topics(30)) do
        local full = hypersub.placement(topic, ids)
        for copies = 1, #ids + 2 do
          local want = table.move(full, 1, math.min(copies, #full), 1, {})
          assert.same(want, hypersub.placement(topic, ids, copies))
        end
        -- copies 0 is "neighbours": D + 1, or all when fewer.
        local n = math.min(dim_of(ids) + 1, #ids)
        assert.same(table.move(full, 1, n, 1, {}), hypersub.placement(topic, ids, 0))
      end
    end
  end)

  it("spreads topics over every node", function()
    local homes = {}
    for _, topic in ipairs(topics(4000)) do
      local h = hypersub.placement(topic, range(8), 1)[1]
      homes[h] = (homes[h] or 0) + 1
    end
    for id = 0, 7 do
      -- 500 expected each; a fair hash stays well inside this.
      assert.is_true((homes[id] or 0) > 350 and homes[id] < 650,
        ("node %d is home to %d of 4000 topics"):format(id, homes[id] or 0))
    end
  end)

  it("keeps a topic on its home when a node that is not its home is added", function()
    -- Only topics that now prefer the new node move (DESIGN.md).
    local before, after = range(7), range(8)
    for _, topic in ipairs(topics(200)) do
      local a = hypersub.placement(topic, after, 1)[1]
      if a ~= 7 then assert.equal(hypersub.placement(topic, before, 1)[1], a, topic) end
    end
  end)

  it("raises for ids that are not integers in range", function()
    assert.has_error(function() hypersub.placement("t", { 1, "x" }) end)
    assert.has_error(function() hypersub.placement("t", { -1 }) end)
    assert.has_error(function() hypersub.placement("t", { 1 << 20 }) end)
    assert.has_error(function() hypersub.placement("t", "0,1") end)
    assert.has_error(function() hypersub.placement(nil, { 0 }) end)
  end)

  it("gives an empty list for no ids", function()
    assert.same({}, hypersub.placement("t", {}))
  end)
end)
