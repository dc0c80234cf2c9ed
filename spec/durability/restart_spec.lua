-- A node with a data directory, killed with SIGKILL and started again from
-- it: topics, messages, cursors and identities are back; damage on disk
-- (a torn last record, a flipped bit, an empty file) is found, cut away and
-- said; a directory that is not this node's is refused with its path.
-- Real `hypersub node` processes, real SIGKILL, real files.
local uv = require "luv"
local hypersub = require "hypersub"
local process = require "hypersub.process"

local R = require "support.raw"

local dir
local function data(name) return dir .. "/" .. name end

-- Starts a node on its data directory (and a fixed port: restarts find it
-- where clients expect it).
local function start(path, extra)
  local flags = { "--data-dir", path, "--replicas", "1" }
  for _, f in ipairs(extra or {}) do flags[#flags + 1] = f end
  return R.start_node(flags)
end

local function kill(node)
  node:kill("sigkill")
  assert(node:wait(5000))
end

-- 100 messages on topic t (ack "home": on disk before the answer), and a
-- subscriber that pulled the first 10.
local function fill(node)
  local c = R.client(node)
  assert(c:create_publisher "p")
  assert(c:create_topic("p", "t"))
  assert(c:create_subscriber "s")
  assert(c:subscribe("s", "t"))
  for i = 0, 99 do assert.equal(i, c:publish("p", "t", "m" .. i, { ack = "home" })) end
  assert.equal(10, #assert(c:pull("s", "t", { max = 10 })))
  c:close()
end

local function said(node, pattern)
  return process.wait_until(function()
    return (node.stderr or ""):find(pattern) ~= nil
  end, R.WAIT, pattern)
end

-- The segment file of topic t (the only topic: directory t1).
local function segment(path)
  local p = io.popen("ls " .. path .. "/t1/*.seg")
  local name = p:read("l")
  p:close()
  return name
end

local function file_size(path)
  local st = uv.fs_stat(path)
  return st and st.size
end

describe("restart from a data directory #durability", function()
  before_each(function() dir = assert(uv.fs_mkdtemp("/tmp/hypersub-data-XXXXXX")) end)
  after_each(function()
    R.cleanup()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("topics, messages, cursors and identities come back after SIGKILL", function()
    local node = start(data "n")
    fill(node)
    kill(node)
    node = start(data "n")
    assert(said(node, 'loaded dir=.- topics=1 messages=100'))
    local c = R.client(node)
    local msgs = assert(c:pull("s", "t", { max = 1000 }))
    assert.equal(90, #msgs)
    assert.equal(10, msgs[1].offset)
    assert.equal("m10", msgs[1].data)
    assert.equal("m99", msgs[90].data)
    local ok, _, code = c:create_publisher "p"
    assert.is_nil(ok)
    assert.equal("EXISTS", code)
    assert.equal(100, assert(c:publish("p", "t", "after")))
  end)

  for _, mode in ipairs { "never", "interval" } do
    it(("with --fsync %s, a SIGKILL at the last acknowledgement of 6000 pipelined 8 KiB publishes loses none"):format(mode), function()
      -- interval: long enough that no sync runs in between; only the
      -- write before the answer keeps the records
      local node = start(data "n", { "--fsync", mode, "--fsync-interval-ms", "60000" })
      local c = R.client(node)
      assert(c:create_publisher "p")
      assert(c:create_topic("p", "t"))
      local N, acked, failed = 6000, 0, {} -- 48 MB: under the client's unsent cap
      local payload = ("x"):rep(8192)
      for i = 1, N do
        assert(c:publish("p", "t", payload, { ack = "home" }, function(offset, msg)
          if not offset then failed[#failed + 1] = msg return end
          acked = acked + 1
          if acked == N then node:kill("sigkill") end -- at once, in the callback
        end))
      end
      assert(process.wait_until(function() return acked + #failed == N end, 30000, "the acks"))
      assert.same({}, failed)
      assert(node:wait(5000))
      c:close()
      node = start(data "n", { "--fsync", mode })
      assert(said(node, ("loaded dir=.- topics=1 messages=%d"):format(N)))
      c = R.client(node)
      local mine = assert(c:local_topics()).topics[1]
      assert.equal(N, mine.next)
    end)
  end

  it("a deleted topic stays deleted; retention removes whole files", function()
    local node = start(data "n", { "--retain-messages", "1" })
    local c = R.client(node)
    assert(c:create_publisher "p")
    assert(c:create_topic("p", "gone"))
    assert(c:create_topic("p", "kept"))
    local big = ("x"):rep(400 * 1024) -- a chunk holds two: the third starts another
    for _ = 1, 6 do assert(c:publish("p", "kept", big, { ack = "home" })) end
    assert(c:delete_topic("p", "gone"))
    c:close()
    kill(node)
    node = start(data "n", { "--retain-messages", "1" })
    c = R.client(node)
    local names = assert(c:list_topics())
    assert.same({ "kept" }, names)
    local mine = assert(c:local_topics())
    assert.equal(6, mine.topics[1].next)
    assert.truthy(mine.topics[1].first >= 4, mine.topics[1].first)
    local p = io.popen("ls " .. data "n" .. " | grep -c '^t'")
    assert.equal("1", p:read("l")) -- the deleted topic's directory is gone
    p:close()
  end)

  it("a torn last record is cut at the last whole one, and said", function()
    local node = start(data "n")
    fill(node)
    kill(node)
    local seg = segment(data "n")
    local size = file_size(seg)
    local fd = assert(uv.fs_open(seg, "r+", 420))
    assert(uv.fs_ftruncate(fd, size - 3))
    uv.fs_close(fd)
    node = start(data "n")
    assert(said(node, "torn_tail"))
    local c = R.client(node)
    local mine = assert(c:local_topics())
    assert.equal(99, mine.topics[1].next) -- the last one was torn
    assert.equal(99, assert(c:publish("p", "t", "again")))
  end)

  it("a flipped bit in the middle ends the log there; with no copy to hand it back, data_lost names the offsets", function()
    local node = start(data "n")
    fill(node)
    kill(node)
    local seg = segment(data "n")
    local f = assert(io.open(seg, "rb"))
    local bytes = f:read("a")
    f:close()
    local at = assert(bytes:find("m50", 1, true)) -- message 50's payload
    local fd = assert(uv.fs_open(seg, "r+", 420))
    assert(uv.fs_write(fd, string.char(bytes:byte(at + 1) ~ 0x10), at)) -- the "5"
    uv.fs_close(fd)
    node = start(data "n")
    assert(said(node, "corrupt_record"))
    -- the records past the damaged one still read well: they are counted
    assert(said(node, 'records_damaged topic="t" from=50 to=100'))
    assert(said(node, 'data_lost topic="t" from=50 to=100'))
    local c = R.client(node)
    local msgs = assert(c:pull("s", "t", { max = 1000 }))
    -- nothing damaged is served: exactly the records before it
    assert.equal(40, #msgs)
    for i, m in ipairs(msgs) do assert.equal("m" .. (9 + i), m.data) end
    assert.equal(50, assert(c:publish("p", "t", "after"))) -- offsets stay dense
  end)

  it("an empty segment and an empty journal are no harm", function()
    local node = start(data "n")
    fill(node)
    kill(node)
    local f = assert(io.open(data "n/t1/" .. ("%020d.seg"):format(100), "w"))
    f:close()
    node = start(data "n")
    local c = R.client(node)
    assert.equal(100, assert(c:local_topics()).topics[1].next)
    kill(node)
    -- an empty journal: the topic comes back from its directory's name file
    assert(io.open(data "n/meta.log", "w")):close()
    node = start(data "n")
    assert(said(node, "topic_without_meta"))
    c = R.client(node)
    assert.equal(100, assert(c:local_topics()).topics[1].next)
  end)

  it("another cluster's directory, a foreign one and one that cannot be written: refused, naming the path", function()
    local node = start(data "n")
    kill(node)
    local code, err = R.node_cli { "--data-dir", data "n", "--cluster", "other",
      "--listen", "127.0.0.1:0" }
    assert.are_not.equal(0, code)
    assert.truthy(err:find('belongs to cluster "hypersub"', 1, true) and
      err:find(data "n", 1, true), err)
    os.execute("mkdir -p '" .. data "foreign" .. "' && touch '" .. data "foreign/notes.txt" .. "'")
    code, err = R.node_cli { "--data-dir", data "foreign", "--listen", "127.0.0.1:0" }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("not a hypersub data directory", 1, true), err)
    code, err = R.node_cli { "--data-dir", "/proc/hypersub-data", "--listen", "127.0.0.1:0" }
    assert.are_not.equal(0, code)
    assert.truthy(err:find("/proc/hypersub-data", 1, true), err)
  end)

  it("without a data directory the node says it lives in memory", function()
    local node = R.start_node {}
    assert(said(node, "in_memory"))
  end)
end)
