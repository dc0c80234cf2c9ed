-- Written as a user would: three nodes, a subscriber pulls 25 of 50
-- messages through one client, the topic's home is SIGKILLed, 50 more are
-- published, and a new client on a survivor pulls the rest: exactly
-- offsets 25 to 99, each once. (The pull's cursor reached every copy
-- before its answer left.) `HYPERSUB_REPEAT=50 make test
-- BUSTED_ARGS=spec/durability/pull_after_failover_spec.lua` runs it 50
-- times, each on a fresh cluster.
local cluster = require "hypersub.cluster"

local RUNS = math.tointeger(tonumber(os.getenv("HYPERSUB_REPEAT") or "1")) or 1

describe("a pull after failover, through another client #durability #cluster", function()
  local cl
  after_each(function()
    if cl then
      cl:close()
      cl = nil
    end
  end)

  for run = 1, RUNS do
  it(("pull 25 of 50, SIGKILL the home, publish 50 more, a new client gets exactly 25..99 (run %d)"):format(run), function()
    cl = assert(cluster.start { nodes = 3, replicas = 3,
      flags = { "--heartbeat-ms", "20", "--suspect-ms", "100", "--dead-ms", "200" } })
    assert(cl:await_view(10000))
    local home = cl:home "orders"
    local survivor = cl:where("orders").replicas[1]
    local first = assert(cl:client(home, { timeout = 10000 }))
    assert(first:create_publisher "shop")
    assert(first:create_topic("shop", "orders"))
    assert(first:create_subscriber "billing")
    assert(first:subscribe("billing", "orders"))
    for i = 0, 49 do assert.equal(i, first:publish("shop", "orders", "o" .. i, { ack = "all" })) end
    local got = assert(first:pull("billing", "orders", { max = 25 }))
    assert.equal(25, #got)
    assert.equal(24, got[25].offset)

    cl:kill(home)
    local second = assert(cl:client(survivor, { timeout = 10000 }))
    for i = 50, 99 do assert.equal(i, second:publish("shop", "orders", "o" .. i, { ack = "all" })) end
    local offsets = {}
    repeat
      local batch = assert(second:pull("billing", "orders", { max = 30 }))
      for _, m in ipairs(batch) do
        assert.equal("o" .. m.offset, m.data)
        offsets[#offsets + 1] = m.offset
      end
    until #batch == 0
    assert.equal(75, #offsets)
    for i, off in ipairs(offsets) do assert.equal(24 + i, off) end
  end)
  end
end)
