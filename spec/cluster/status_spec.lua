-- `hypersub status --node ADDR` prints the view and what each node holds.
local cluster = require "hypersub.cluster"
local process = require "hypersub.process"

describe("hypersub status #cluster", function()
  it("lists every member with its state and the topics it homes and replicates", function()
    local cl = assert(cluster.start { nodes = 4, replicas = 2 })
    finally(function() cl:close(); cl:check() end)
    local c = cl:client(0)
    assert(c:create_publisher "sp")
    local homes = {}
    for i = 1, 6 do
      local t = "st-" .. i
      assert(c:create_topic("sp", t))
      local h = cl:home(t)
      homes[h] = (homes[h] or 0) + 1
    end
    local p = process.spawn(process.runtime(), { "status", "--node", cl:nodes()[3].addr })
    finally(function() p:close() end)
    assert.equal(0, p:wait(10000))
    local out = table.concat(p.lines, "\n")
    assert.truthy(out:find("cluster view of node 2", 1, true), out)
    for _, n in ipairs(cl:nodes()) do
      -- "<id> <addr> alive <version> <homes> / <replicas>"
      local line = out:match("\n" .. n.id .. "%s+" .. n.addr:gsub("%p", "%%%0") .. "[^\n]*")
      assert.truthy(line, "a line for node " .. n.id .. ":\n" .. out)
      assert.truthy(line:find("alive", 1, true), line)
      local h = tonumber(line:match("alive%s+%d+%s+(%d+) /"))
      assert.equal(homes[n.id] or 0, h, line)
    end
  end)

  it("says what is wrong when the node cannot be reached", function()
    local port = cluster.free_ports(1)[1]
    local p = process.spawn(process.runtime(), { "status", "--node", "127.0.0.1:" .. port })
    finally(function() p:close() end)
    assert.equal(2, p:wait(10000))
    assert.truthy((p.stderr or ""):find("UNAVAILABLE", 1, true), p.stderr)
  end)
end)
