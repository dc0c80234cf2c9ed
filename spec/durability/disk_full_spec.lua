-- A full disk, for real: a node's data directory on a 2 MiB tmpfs this
-- spec mounts. Publishes fail with STORAGE once nothing fits, naming the
-- directory; reads go on; nothing acknowledged is lost; once room is made
-- the node takes publishes again; killed and started again, it has every
-- acknowledged message. (Needs root to mount; skipped otherwise.)
local uv = require "luv"
local process = require "hypersub.process"

local R = require "support.raw"

-- (Without the sanitizer the specs may run under: dd is not built for it.)
local function sh(cmd) return os.execute("env -u LD_PRELOAD " .. cmd .. " >/dev/null 2>&1") end

describe("a full disk #durability", function()
  local mnt
  before_each(function()
    mnt = assert(uv.fs_mkdtemp("/tmp/hypersub-full-XXXXXX"))
  end)
  after_each(function()
    R.cleanup()
    sh("umount '" .. mnt .. "'")
    sh("rmdir '" .. mnt .. "'")
  end)

  it("STORAGE when nothing fits, reads go on, nothing acknowledged lost, publishes again once there is room", function()
    if not sh("mount -t tmpfs -o size=2m tmpfs '" .. mnt .. "'") then
      return pending("cannot mount a tmpfs here (needs root)")
    end
    -- A filler takes most of the room; removed later to make some.
    assert(sh("dd if=/dev/zero of='" .. mnt .. "/filler' bs=1k count=1024"))
    local dir = mnt .. "/data"
    local flags = { "--data-dir", dir, "--replicas", "1", "--max-payload", "65536",
      "--max-output", "1048576" }
    local node = R.start_node(flags)
    local c = R.client(node)
    assert(c:create_publisher "p")
    assert(c:create_topic("p", "t"))
    local big = ("x"):rep(16 * 1024)
    local acked, failure, code = {}, nil, nil
    for i = 1, 200 do
      local off, msg, cd = c:publish("p", "t", big .. i, { ack = "home" })
      if not off then
        failure, code = msg, cd
        break
      end
      acked[#acked + 1] = { off, big .. i }
    end
    assert.equal("STORAGE", code, failure)
    assert.truthy(failure:find(dir, 1, true), failure)
    assert.truthy(#acked > 10 and #acked < 200, #acked)
    assert(process.wait_until(function()
      return (node.stderr or ""):find("storage_failed") ~= nil
    end, R.WAIT, "storage_failed in the log"))
    -- Reads go on, and hold every acknowledged message.
    assert(c:create_subscriber "s")
    assert(c:subscribe("s", "t"))
    local got = {}
    repeat
      local batch = assert(c:pull("s", "t", { max = 50 }))
      for _, m in ipairs(batch) do got[#got + 1] = m end
    until #batch == 0
    assert.truthy(#got >= #acked)
    for i, a in ipairs(acked) do
      assert.equal(a[1], got[i].offset)
      assert.equal(a[2], got[i].data)
    end
    -- Room again: the retries pass, publishes are taken.
    os.remove(mnt .. "/filler")
    assert(process.wait_until(function()
      return (node.stderr or ""):find("storage_recovered") ~= nil
    end, R.WAIT, "storage_recovered in the log"))
    local off = assert(c:publish("p", "t", "after", { ack = "home" }))
    c:close()
    -- Killed and started again: every acknowledged message is there.
    node:kill("sigkill")
    assert(node:wait(5000))
    node = R.start_node(flags)
    c = R.client(node)
    assert(c:create_subscriber "s2")
    assert(c:subscribe("s2", "t", { from = "earliest" }))
    got = {}
    repeat
      local batch = assert(c:pull("s2", "t", { max = 50 }))
      for _, m in ipairs(batch) do got[#got + 1] = m end
    until #batch == 0
    for i, a in ipairs(acked) do assert.equal(a[2], got[i].data) end
    assert.equal("after", got[#got].data)
    assert.equal(off, got[#got].offset)
  end)
end)
