-- The three ways to call: a callback (returns at once, answers later), a
-- coroutine (yields), and blocking at top level (runs the loop). Also: a
-- blocking call inside a loop callback raises, many requests in flight on
-- one connection, and the connect and request timeouts.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

local function now_ms()
  return uv.hrtime() / 1e6
end

describe("call styles", function()
  local node, c

  before_each(function()
    node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "error" })
    c = assert(hypersub.connect("127.0.0.1:" .. node:port()))
    assert.is_true(c:create_publisher("p1"))
    assert.is_true(c:create_topic("p1", "news"))
    assert.is_true(c:create_subscriber("s1"))
    assert.is_true(c:subscribe("s1", "news"))
  end)

  after_each(function()
    if c then c:close() end
    if node then node:close() end
    c, node = nil, nil
    uv.run("nowait")
  end)

  describe("callback", function()
    it("returns true at once; the callback fires once the loop runs", function()
      local got = {}
      assert.is_true(c:create_publisher("p2", function(...) got.create = table.pack(...) end))
      assert.is_true(c:publish("p1", "news", "hello", function(...) got.publish = table.pack(...) end))
      assert.is_true(c:publish("p1", "news", "acked", { ack = "home" },
        function(...) got.publish2 = table.pack(...) end))
      assert.is_true(c:stats(function(...) got.stats = table.pack(...) end))
      assert.is_true(c:publish("p1", "nowhere", "x", function(...) got.fail = table.pack(...) end))
      assert.same({}, got, "no callback may fire before the loop runs")
      assert(process.wait_until(function()
        return got.create and got.publish and got.publish2 and got.stats and got.fail
      end, 2000, "the callbacks"))
      assert.is_true(got.create[1])
      assert.equal(0, got.publish[1])
      assert.equal(1, got.publish2[1])
      assert.equal("table", type(got.stats[1]))
      assert.equal(2, got.stats[1].requests.create_publisher)
      assert.same({ n = 3, nil, 'NO_TOPIC: topic "nowhere" does not exist', "NO_TOPIC" }, got.fail)
    end)

    it("pull with options and a callback", function()
      c:publish("p1", "news", "a")
      c:publish("p1", "news", "b")
      local got
      assert.is_true(c:pull("s1", "news", { max = 1 }, function(m) got = m end))
      assert.is_nil(got)
      assert(process.wait_until(function() return got end, 2000, "pull"))
      assert.equal(1, #got)
      assert.equal("a", got[1].data)
    end)

    it("connect with a callback returns the client at once", function()
      local got
      local c2 = hypersub.connect("127.0.0.1:" .. node:port(), function(...) got = table.pack(...) end)
      assert.equal("table", type(c2))
      assert.is_nil(got)
      -- Requests may be issued before the handshake is done.
      local offset
      assert.is_true(c2:publish("p1", "news", "early", function(o) offset = o end))
      assert(process.wait_until(function() return got and offset end, 2000, "connect"))
      assert.equal(c2, got[1])
      assert.equal(0, offset)
      c2:close()
    end)
  end)

  describe("coroutine", function()
    it("hypersub.run yields on each call and returns the results", function()
      local offsets, msgs = hypersub.run(function()
        local co, is_main = coroutine.running()
        assert(not is_main and co)
        local o = {}
        for i = 1, 3 do o[i] = assert(c:publish("p1", "news", "m" .. i)) end
        local m = assert(c:pull("s1", "news"))
        local ok, msg, code = c:publish("p1", "nowhere", "x")
        assert(ok == nil and code == "NO_TOPIC" and msg:find('"nowhere"', 1, true))
        return o, m
      end)
      assert.same({ 0, 1, 2 }, offsets)
      assert.equal(3, #msgs)
      assert.equal("m3", msgs[3].data)
    end)

    it("hypersub.run raises the coroutine's error with its traceback", function()
      local ok, err = pcall(hypersub.run, function()
        assert(c:publish("p1", "news", "x"))
        error("boom in coroutine")
      end)
      assert.is_false(ok)
      assert.truthy(err:find("boom in coroutine", 1, true))
      assert.truthy(err:find("traceback", 1, true))
    end)

    it("coroutines from hypersub.spawn run side by side", function()
      local done = {}
      for i = 1, 3 do
        hypersub.spawn(function()
          local sid = "sub" .. i
          assert(c:create_subscriber(sid))
          assert(c:subscribe(sid, "news"))
          local m = assert(c:pull(sid, "news", { wait = 2000 }))
          done[i] = m[1].data
        end)
      end
      assert.same({}, done)
      hypersub.run(function()
        -- All three wait on the node before this publishes.
        assert(process.wait_until(function()
          return node:stats().pull_waiting == 3
        end, 2000, "three waiting pulls"))
        assert(c:publish("p1", "news", "to all"))
      end)
      assert(process.wait_until(function() return #done == 3 end, 2000, "spawned pulls"))
      assert.same({ "to all", "to all", "to all" }, done)
    end)
  end)

  describe("blocking", function()
    it("runs the loop at top level until the answer", function()
      assert.is_false(coroutine.isyieldable())
      assert.equal(0, c:publish("p1", "news", "x"))
      local m = c:pull("s1", "news")
      assert.equal("x", m[1].data)
      assert.equal("table", type(c:stats()))
    end)

    it("a success returns exactly its documented values, a failure three", function()
      local json = require "cjson"
      assert.equal(1, select("#", c:publish("p1", "news", "x")))
      assert.equal(1, select("#", c:create_topic("p1", "more")))
      assert.equal(1, select("#", c:where("news")))
      assert.equal(1, select("#", c:list_topics()))
      assert.equal(1, select("#", c:pull("s1", "news")))
      assert.equal(3, select("#", c:pull("s1", "nowhere")))
      local w = c:where("news") -- (busted's assert returns more than it got)
      assert.equal("table", type(json.decode(json.encode(w))))
      local direct = assert(hypersub.connect("127.0.0.1:" .. node:port(), { direct = true }))
      assert.equal(1, select("#", direct:publish("p1", "news", "y")))
      direct:close()
      hypersub.run(function()
        assert.equal(1, select("#", c:publish("p1", "news", "z")))
      end)
    end)

    it("raises a clear error inside a luv callback", function()
      local timer = uv.new_timer()
      local result
      timer:start(0, 0, function()
        result = table.pack(pcall(c.publish, c, "p1", "news", "x"))
      end)
      assert(process.wait_until(function() return result end, 2000, "timer"))
      timer:close()
      assert.is_false(result[1])
      assert.matches("coroutine", result[2])
      assert.matches("callback", result[2])
      -- Nothing was sent: the next offset is still 0.
      assert.equal(0, c:publish("p1", "news", "after"))
    end)

    -- A spinning client polls for its answer for `spin` µs, then sleeps in
    -- poll like any other: a long poll answered 300 ms later costs it the
    -- spin (10 ms here), not 300 ms of CPU, nor nothing.
    it("a spinning client gets its answers and sleeps once its spin is over", function()
      local p = assert(process.start_node({ "--log-level", "error" }))
      local ok, err = pcall(function()
        local s = assert(hypersub.connect(p.addr, { spin = 10000 }))
        assert.is_true(s:create_publisher("p1"))
        assert.is_true(s:create_topic("p1", "t"))
        assert.is_true(s:create_subscriber("s1"))
        assert.is_true(s:subscribe("s1", "t"))
        for i = 1, 20 do assert.equal(i - 1, s:publish("p1", "t", "m" .. i)) end
        local got = assert(s:pull("s1", "t", { max = 100 }))
        assert.equal(20, #got)
        assert.equal("m20", got[20].data)
        -- Another client publishes 300 ms into the long poll.
        local other = assert(hypersub.connect(p.addr))
        local timer = uv.new_timer()
        local published
        timer:start(300, 0, function()
          other:publish("p1", "t", "late", function(o) published = o end)
        end)
        local function cpu_ms()
          local u = uv.getrusage()
          return (u.utime.sec + u.stime.sec) * 1e3 + (u.utime.usec + u.stime.usec) / 1e3
        end
        local c0, t0 = cpu_ms(), now_ms()
        local late = assert(s:pull("s1", "t", { wait = 5000 }))
        local cpu, waited = cpu_ms() - c0, now_ms() - t0
        timer:close()
        assert.equal("late", late[1].data)
        assert.equal(20, published)
        assert.is_true(waited >= 290, ("answered after %.0f ms"):format(waited))
        assert.is_true(cpu >= 2, ("%.1f ms of CPU: the client did not spin"):format(cpu))
        assert.is_true(cpu < waited / 2,
          ("%.0f ms of CPU in a %.0f ms wait: the client spun past its spin"):format(cpu, waited))
        other:close()
        s:close()
      end)
      p:close()
      uv.run("nowait")
      assert(ok, err)
    end)

    it("refuses a spin that is not 0 to 10000 µs", function()
      for _, bad in ipairs { -1, 1.5, 10001, "100" } do
        local ok, err = pcall(hypersub.connect, "127.0.0.1:" .. node:port(), { spin = bad })
        assert.is_false(ok)
        assert.matches("bad option 'spin'", err)
      end
    end)

    -- The answer comes from a timer due at once, while a node listens: the
    -- blocking loop must not then sit in poll waiting for some other event.
    it("hypersub.sleep(0) returns at once while a node listens", function()
      local guard = uv.new_timer() -- bounds the wait if it does get stuck
      guard:start(600, 0, function() end)
      local t0 = now_ms()
      hypersub.sleep(0)
      local elapsed = now_ms() - t0
      guard:close()
      assert.is_true(elapsed < 300, ("sleep(0) took %.0f ms"):format(elapsed))
    end)
  end)

  describe("pipelining", function()
    it("1000 publishes in flight on one connection are all answered", function()
      local N = 1000
      local seen, answers, failures = {}, 0, {}
      for i = 1, N do
        assert.is_true(c:publish("p1", "news", "m" .. i, function(offset, msg)
          answers = answers + 1
          if offset then
            seen[offset] = (seen[offset] or 0) + 1
          else
            failures[#failures + 1] = msg
          end
        end))
      end
      assert.equal(N, c:pending())
      assert.equal(0, answers)
      assert(process.wait_until(function() return answers == N end, 10000, "1000 answers"))
      assert.same({}, failures)
      for o = 0, N - 1 do
        assert.equal(1, seen[o], "offset " .. o)
      end
      assert.is_nil(seen[N])
      assert.equal(0, c:pending())
      -- Each offset carries the message sent in that order.
      local msgs = assert(c:pull("s1", "news", { max = N }))
      assert.equal(N, #msgs)
      for i, m in ipairs(msgs) do assert.equal("m" .. i, m.data) end
    end)
  end)
end)

describe("timeouts", function()
  it("connect to a server that never answers gives UNAVAILABLE within the timeout", function()
    local server = uv.new_tcp()
    local accepted = {}
    assert(server:bind("127.0.0.1", 0))
    assert(server:listen(16, function()
      local s = uv.new_tcp()
      server:accept(s)
      s:read_start(function() end) -- read and never answer
      accepted[#accepted + 1] = s
    end))
    local addr = "127.0.0.1:" .. server:getsockname().port
    uv.update_time()
    local t0 = now_ms()
    local x, msg, code = hypersub.connect(addr, { timeout = 200 })
    local elapsed = now_ms() - t0
    assert.is_nil(x)
    assert.equal("UNAVAILABLE", code)
    assert.truthy(msg:find("connect timed out", 1, true), msg)
    assert.truthy(msg:find(addr, 1, true), msg)
    assert.is_true(#accepted == 1, "the TCP connect itself succeeded")
    assert.is_true(elapsed >= 190 and elapsed < 2000, ("took %.0f ms"):format(elapsed))
    for _, s in ipairs(accepted) do s:close() end
    server:close()
    uv.run("nowait")
  end)

  it("a request the node does not answer gives TIMEOUT within the timeout", function()
    local p = assert(process.start_node({ "--log-level", "error" }))
    local ok, err = pcall(function()
      local c = assert(hypersub.connect(p.addr, { timeout = 300 }))
      assert.is_true(c:create_publisher("p1"))
      p:kill("sigstop") -- the node keeps its socket but answers nothing
      uv.update_time()
      local t0 = now_ms()
      local x, msg, code = c:create_publisher("p2")
      local elapsed = now_ms() - t0
      p:kill("sigcont")
      assert.is_nil(x)
      assert.equal("TIMEOUT", code)
      assert.equal("TIMEOUT: no answer to create_publisher within 300 ms", msg)
      assert.is_true(elapsed >= 290 and elapsed < 3000, ("took %.0f ms"):format(elapsed))
      -- The late answer is dropped; the connection keeps working.
      assert.is_true(c:create_publisher("p3"))
      c:close()
    end)
    p:kill("sigcont")
    p:close()
    uv.run("nowait") -- finish closing its handles
    assert(ok, err)
    assert.falsy((p.stderr or ""):find("Sanitizer", 1, true), p.stderr)
  end)

  -- The timeout counts from the call, not from when the loop last ran.
  local function busy(ms)
    local t = now_ms()
    while now_ms() - t < ms do end
  end

  it("a request made after a long stretch without the loop gets its full timeout", function()
    local node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "error" })
    local c = assert(hypersub.connect("127.0.0.1:" .. node:port(), { timeout = 200 }))
    assert.is_true(c:create_publisher("p1"))
    busy(300) -- work at top level: the loop does not run meanwhile
    local ok, msg = c:create_publisher("p2") -- the node answers at once
    c:close()
    node:close()
    uv.run("nowait")
    assert.is_true(ok, msg)
  end)

  it("a connect made after a long stretch without the loop gets its full timeout", function()
    local server = uv.new_tcp()
    local accepted = {}
    assert(server:bind("127.0.0.1", 0))
    assert(server:listen(16, function()
      local s = uv.new_tcp()
      server:accept(s)
      s:read_start(function() end)
      accepted[#accepted + 1] = s
    end))
    local addr = "127.0.0.1:" .. server:getsockname().port
    uv.run("nowait")
    busy(300)
    local t0 = now_ms()
    local x, msg, code = hypersub.connect(addr, { timeout = 200 })
    local elapsed = now_ms() - t0
    for _, s in ipairs(accepted) do s:close() end
    server:close()
    uv.run("nowait")
    assert.is_nil(x)
    assert.equal("UNAVAILABLE", code, msg)
    assert.is_true(elapsed >= 190, ("gave up after %.0f ms of 200"):format(elapsed))
  end)
end)
