-- Garbage and malformed input against a real `hypersub node`: random bytes,
-- bad headers, truncated bodies, unknown ops, oversize frames, a reader too
-- slow for its replies and too many connections. Each case talks to the node
-- over raw luv TCP (frames built with string.pack: spec/support/raw.lua) and checks
-- that the node answers as documented, keeps serving a normal client, and
-- never crashes (still running, no sanitizer report on its stderr).
local uv = require "luv"
local hypersub = require "hypersub"
local process = require "hypersub.process"

local R = require "support.raw"
local HEADER, HEADER_LEN, OP, E, WAIT = R.HEADER, R.HEADER_LEN, R.OP, R.E, R.WAIT
local F_REPLY, F_ERROR = R.F_REPLY, R.F_ERROR
local frame, hello_body, error_of = R.frame, R.hello_body, R.error_of
local raw, start_node, assert_alive = R.raw, R.start_node, R.assert_alive
local client, wait_stats, assert_serves = R.client, R.wait_stats, R.assert_serves

---------------------------------------------------------------------------

describe("garbage and malformed input #input", function()
  after_each(R.cleanup)
  it("1 MiB of random bytes: an answer, the connection closed, clients served", function()
    local node = start_node {}
    local r = raw(node):start_reading()
    math.randomseed(20240601)
    local chunks = {}
    for i = 1, (1 << 20) // 8 do chunks[i] = string.pack("<j", math.random(0)) end
    r:send(table.concat(chunks))
    local ok, msg = r:wait_closed(3000)
    -- Whatever came back before the close is error replies.
    for _, f in ipairs(r.frames) do
      local code = error_of(f)
      assert.is_truthy(code == E.PROTOCOL or code == E.TOO_LARGE,
        ("unexpected frame op %d flags %d code %s"):format(f.op, f.flags, code))
    end
    assert(ok, ("%s; the node answered %d frame(s): %s"):format(msg, #r.frames,
      r.frames[1] and select(2, error_of(r.frames[1])) or "none"))
    assert_serves(node, "after-garbage")
    assert_alive(node)
  end)

  describe("headers and HELLO", function()
    -- Each sends one frame on a fresh connection: the node answers with an
    -- error reply (PROTOCOL, DENIED, or INVALID for a HELLO it cannot read)
    -- naming the problem, then closes the connection.
    local cases = {
      { "wrong version", function()
          return frame(OP.HELLO, 5, hello_body(), { version = hypersub.wire_version + 1 })
        end,
        E.PROTOCOL, "version" },
      { "version 0", function() return frame(OP.STATS, 5, "", { version = 0 }) end,
        E.PROTOCOL, "version" },
      { "length smaller than the header", function() return string.pack("<I4", 4) .. "abcd" end,
        E.PROTOCOL, "shorter" },
      { "length 0", function() return string.pack("<I4", 0) .. string.rep("\0", 8) end,
        E.PROTOCOL, "shorter" },
      { "a request before HELLO", function() return frame(OP.STATS, 7, "") end,
        E.PROTOCOL, "HELLO", 7 },
      { "a publish before HELLO", function()
          return frame(OP.PUBLISH, 8, string.pack("<s1s1BI8I8s4", "p", "t", 2, 0, 0, "x"))
        end, E.PROTOCOL, "HELLO", 8 },
      { "HELLO with the wrong cluster", function() return frame(OP.HELLO, 9, hello_body("other")) end,
        E.DENIED, "other", 9 },
      { "HELLO with an empty cluster", function() return frame(OP.HELLO, 9, hello_body("")) end,
        E.DENIED, "cluster", 9 },
      { "HELLO from an unknown role", function() return frame(OP.HELLO, 10, hello_body(nil, 7)) end,
        E.DENIED, "role", 10 },
      { "HELLO with a truncated body", function() return frame(OP.HELLO, 11, "\1\8hyp") end,
        E.INVALID, "cluster", 11 },
      { "a reply before HELLO", function() return frame(OP.STATS, 12, "", { flags = F_REPLY }) end,
        E.PROTOCOL, "replies", 12 },
    }
    for _, case in ipairs(cases) do
      local name, make, want_code, want_word, want_id = table.unpack(case)
      it(name .. ": answered " .. want_code .. " and closed", function()
        local node = start_node {}
        local r = raw(node):start_reading()
        r:send(make())
        local f = assert(r:next_frame())
        local code, msg = error_of(f)
        assert.equal(want_code, code)
        assert.is_true(f.flags & F_REPLY ~= 0)
        assert.is_truthy(msg:find(want_word, 1, true), msg)
        if want_id then assert.equal(want_id, f.id) end
        assert(r:wait_closed())
        assert.equal(0, #r.frames)
        assert_serves(node, "x")
        assert_alive(node)
      end)
    end

    it("a frame with the REPLY flag after HELLO: PROTOCOL and closed", function()
      local node = start_node {}
      local r = raw(node):start_reading()
      r:hello()
      local f = r:request(OP.STATS, "", { flags = F_REPLY })
      local code, msg = error_of(f)
      assert.equal(E.PROTOCOL, code)
      assert.is_truthy(msg:find("replies", 1, true), msg)
      assert(r:wait_closed())
      assert_alive(node)
    end)

    it("a second HELLO: PROTOCOL, and the connection stays usable", function()
      local node = start_node {}
      local r = raw(node):start_reading()
      r:hello()
      local code = error_of(r:request(OP.HELLO, hello_body()))
      assert.equal(E.PROTOCOL, code)
      local f = r:request(OP.STATS, "")
      assert.is_nil(error_of(f))
      assert_alive(node)
    end)
  end)

  describe("bodies", function()
    it("a PUBLISH truncated at every length: INVALID naming the field, connection usable", function()
      local node = start_node {}
      local c = client(node)
      assert(c:create_publisher("p1"))
      assert(c:create_topic("p1", "news"))
      local r = raw(node):start_reading()
      r:hello()
      local body = string.pack("<s1s1BI8I8s4", "p1", "news", 2, 7, 1, "hello")
      -- Where each field ends in the body.
      local fields = { { "publisher", 3 }, { "topic", 8 }, { "ack", 9 }, { "producer", 17 },
        { "seq", 25 }, { "data", #body } }
      for cut = 0, #body - 1 do
        local want
        for _, fe in ipairs(fields) do
          if cut < fe[2] then want = fe[1] break end
        end
        local f = r:request(OP.PUBLISH, body:sub(1, cut))
        local code, msg = error_of(f)
        assert.equal(E.INVALID, code, ("cut at %d: %s"):format(cut, msg))
        assert.is_truthy(msg:find('"' .. want .. '"', 1, true),
          ("cut at %d: expected field %q in %q"):format(cut, want, msg))
        local s = r:request(OP.STATS, "")
        assert.is_nil(error_of(s), "stats after cut " .. cut)
        local json = string.unpack("<s4", s.body)
        assert.is_truthy(json:find('"connections"', 1, true))
      end
      -- A byte too many is named too, and the whole body works.
      local code, msg = error_of(r:request(OP.PUBLISH, body .. "!"))
      assert.equal(E.INVALID, code)
      assert.is_truthy(msg:find("after the last field", 1, true), msg)
      local ok = r:request(OP.PUBLISH, body)
      assert.is_nil(error_of(ok))
      assert.equal(0, string.unpack("<I8", ok.body))
      assert.is_false(r.closed)
      assert_alive(node)
    end)

    it("unknown op 200: INVALID, connection usable", function()
      local node = start_node {}
      local r = raw(node):start_reading()
      r:hello()
      local code, msg = error_of(r:request(200, "whatever"))
      assert.equal(E.INVALID, code)
      assert.is_truthy(msg:find("200", 1, true), msg)
      code = error_of(r:request(0, ""))
      assert.equal(E.INVALID, code)
      assert.is_nil(error_of(r:request(OP.STATS, "")))
      assert.is_false(r.closed)
      assert_alive(node)
    end)
  end)

  describe("oversize", function()
    it("a payload over --max-payload: TOO_LARGE, the client stays usable", function()
      local node = start_node { "--max-payload", "1024" }
      local c = client(node)
      assert(c:create_publisher("p"))
      assert(c:create_topic("p", "t"))
      local off, msg, code = c:publish("p", "t", string.rep("x", 2000))
      assert.is_nil(off)
      assert.equal("TOO_LARGE", code)
      assert.is_truthy(msg:find("^TOO_LARGE"), msg)
      assert.equal(0, assert(c:publish("p", "t", string.rep("y", 10))))
      assert.equal(1, assert(c:publish("p", "t", string.rep("z", 1024))))
      assert_alive(node)
    end)

    it("a 10 MB frame: skipped, answered TOO_LARGE with its id, the next frame served", function()
      local node = start_node { "--max-payload", "1024" }
      local r = raw(node):start_reading()
      r:hello()
      local total = 10 * 1000 * 1000
      local big = string.pack(HEADER, total - 4, 1, OP.PUBLISH, 0, 4242) ..
          string.rep("\0", total - HEADER_LEN)
      r:send(big .. frame(OP.STATS, 4243, ""))
      local f = assert(r:next_frame())
      assert.equal(4242, f.id)
      assert.equal(OP.PUBLISH, f.op)
      local code, msg = error_of(f)
      assert.equal(E.TOO_LARGE, code, msg)
      f = assert(r:next_frame())
      assert.equal(4243, f.id)
      assert.is_nil(error_of(f))
      assert.is_truthy(string.unpack("<s4", f.body):find('"frames_in"', 1, true))
      assert.is_false(r.closed)
      assert_alive(node)
    end)

    -- Every frame before HELLO is a protocol error that ends the connection,
    -- however long it says it is: a stranger's 4 GiB header must not buy a
    -- TOO_LARGE answer and an open connection that discards bytes forever.
    it("an oversize frame before HELLO: PROTOCOL and closed", function()
      local node = start_node {}
      local r = raw(node):start_reading()
      r:send(string.pack(HEADER, 0xfffffff0, 1, OP.STATS, 0, 99) .. string.rep("\0", 4096))
      local f = assert(r:next_frame())
      local code, msg = error_of(f)
      assert.equal(E.PROTOCOL, code, msg)
      assert(r:wait_closed())
      assert_alive(node)
    end)
  end)

  describe("slow readers", function()
    -- The limit is on output the node still holds, not on bytes the reader
    -- has already received. R parks a PULL, then 40 connections that
    -- never read park theirs; one publish of 786 KiB wakes them all, and
    -- the node writes R's reply first, then the noise replies (time for R
    -- to react). The moment R has every byte of that reply it asks for
    -- another 786 KiB: the node holds just that one reply, under 1 MiB.
    it("a reader that has received every byte is not dropped", function()
      local NOISE, BIG = 40, 786 * 1024
      local node = start_node { "--max-output", "1048576", "--max-payload", "917504" }
      local c = client(node)
      assert(c:create_publisher("p"))
      assert(c:create_topic("p", "t"))
      for _, sid in ipairs { "r1", "r2" } do
        assert(c:create_subscriber(sid))
        assert(c:subscribe(sid, "t"))
      end
      local r = raw(node):start_reading()
      r:hello()
      r.count_only = true
      r:send(frame(OP.PULL, 1, string.pack("<s1s1I4I8I4", "r1", "t", 1, -1, 10000)))
      wait_stats(c, function(s) return s.pull_waiting == 1 end, "R's pull parked")
      for i = 1, NOISE do
        assert(c:create_subscriber("n" .. i))
        assert(c:subscribe("n" .. i, "t"))
        local n = raw(node):start_reading()
        n:hello()
        n.tcp:read_stop()
        n:send(frame(OP.PULL, 1, string.pack("<s1s1I4I8I4", "n" .. i, "t", 1, -1, 10000)))
      end
      wait_stats(c, function(s) return s.pull_waiting == 1 + NOISE end,
        "the noise pulls parked")
      r.on_frame = function(f)
        if f.id == 1 then
          r:send(frame(OP.PULL, 2, string.pack("<s1s1I4I8I4", "r2", "t", 1, -1, 0)))
        end
      end
      assert(c:publish("p", "t", string.rep("m", BIG)))
      assert(process.wait_until(function() return #r.frames >= 2 or r.closed end,
        WAIT, "both replies to R"))
      assert(not r.closed, ("R was dropped after receiving every byte of %d " ..
        "reply; the node says: %s"):format(#r.frames,
        (node.stderr or ""):match("[^\n]*dropped_slow_reader[^\n]*") or "?"))
      for i, f in ipairs(r.frames) do
        assert.equal(i, f.id)
        assert.equal(0, f.flags & F_ERROR)
        assert.is_true(f.len > BIG)
      end
      assert.equal(0, c:stats().connections_dropped_slow)
      assert_alive(node)
    end)

    -- A topic of 24 messages of 32 KiB and 64 subscribers at its start: a
    -- PULL for any of them answers ~786 KiB, under the 1 MiB limit on its
    -- own. One PULL at a time (sent once the node has handled the one
    -- before, seen in its stats), so only the full socket, not a batch of
    -- requests, can hold the replies back.
    it("a reader that never reads is dropped at --max-output; others are served", function()
      local MSG, PER_PULL, SUBS = 32 * 1024, 24, 64
      local node = start_node { "--max-output", "1048576", "--max-payload", "917504" }
      local c = client(node)
      assert(c:create_publisher("p"))
      assert(c:create_topic("p", "big"))
      local data = string.rep("m", MSG)
      for _ = 1, PER_PULL do assert(c:publish("p", "big", data)) end
      for k = 1, SUBS do
        assert(c:create_subscriber("s" .. k))
        assert(c:subscribe("s" .. k, "big"))
      end
      local r = raw(node):start_reading()
      r:hello()
      r.tcp:read_stop()
      local base = wait_stats(c, function() return true end, "stats")
      local pulls0 = base.requests.pull or 0
      local dropped_at, st
      for k = 1, SUBS do
        r:send(frame(OP.PULL, k, string.pack("<s1s1I4I8I4", "s" .. k, "big", PER_PULL, -1, 0)))
        st = wait_stats(c, function(s)
          return (s.requests.pull or 0) >= pulls0 + k
        end, "pull " .. k .. " handled")
        if st.connections_dropped_slow > 0 then dropped_at = k break end
      end
      assert(dropped_at, "no drop after " .. SUBS .. " pulls of ~786 KiB")
      assert.equal(1, st.connections_dropped_slow)
      -- The node hung up on it: reading now ends in the end of the stream.
      r.count_only = true
      r:start_reading()
      assert(r:wait_closed(10000))
      assert.is_true(#r.frames < dropped_at)
      -- And everyone else is still served.
      assert(c:create_subscriber("fresh"))
      assert(c:subscribe("fresh", "big"))
      assert.equal(PER_PULL, #assert(c:pull("fresh", "big", { max = PER_PULL })))
      assert_serves(node, "after-slow")
      assert_alive(node)
    end)
  end)

  it("--max-connections 2: a third client is refused at HELLO (UNAVAILABLE), the first two work", function()
    local node = start_node { "--max-connections", "2" }
    local c1, c2 = client(node), client(node)
    local r = raw(node):start_reading()
    r:send(frame(OP.HELLO, 1, hello_body()))
    local f = assert(r:next_frame())
    local code, msg = error_of(f)
    assert.equal(E.UNAVAILABLE, code)
    assert.truthy(msg:find("2 client connections at most (max_connections)", 1, true), msg)
    assert(r:wait_closed())
    local none, why, name = hypersub.connect(node.addr, { timeout = 2000 })
    assert.is_nil(none)
    assert.equal("UNAVAILABLE", name)
    assert.truthy(why:find("max_connections", 1, true), why)
    assert(c1:create_publisher("p"))
    assert(c2:create_topic("p", "t"))
    assert(c1:create_subscriber("s"))
    assert(c2:subscribe("s", "t"))
    assert.equal(0, assert(c1:publish("p", "t", "one")))
    assert.equal("one", assert(c2:pull("s", "t"))[1].data)
    local st = assert(c1:stats())
    assert.equal(2, st.connections_refused)
    assert.equal(2, st.connections)
    -- A slot freed is a slot taken again.
    c2:close()
    wait_stats(c1, function(s) return s.connections == 1 end, "c2 gone")
    local c3 = client(node)
    assert.equal(1, assert(c3:publish("p", "t", "two")))
    assert_alive(node)
  end)
end)
