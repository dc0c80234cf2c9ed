-- One loop for everything: a luv timer publishing with callbacks while a
-- spawned coroutine long-polls with blocking-looking calls, both on luv's
-- loop next to an in-process node. Everything is closed at the end and the
-- loop has nothing left.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local uv = require "luv"

describe("one loop", function()
  it("a repeating timer publishes while a coroutine long-polls", function()
    local N = 20
    local node = assert(hypersub.node { listen = "127.0.0.1:0", log_level = "error" })
    local addr = "127.0.0.1:" .. node:port()
    local pub = assert(hypersub.connect(addr))
    local sub = assert(hypersub.connect(addr))
    assert.is_true(pub:create_publisher("ticker"))
    assert.is_true(pub:create_topic("ticker", "ticks"))
    assert.is_true(sub:create_subscriber("reader"))
    assert.is_true(sub:subscribe("reader", "ticks"))

    -- The publisher: every 10 ms, one message, callback style; stops itself
    -- after N.
    local sent, acked, pub_errors = 0, {}, {}
    local timer = uv.new_timer()
    timer:start(10, 10, function()
      sent = sent + 1
      local i = sent
      assert(pub:publish("ticker", "ticks", "tick " .. i, function(offset, msg)
        if offset then acked[#acked + 1] = offset else pub_errors[#pub_errors + 1] = msg end
      end))
      if sent == N then timer:stop() end
    end)

    -- The reader: a coroutine whose calls yield to the loop.
    local got, polls, failure, finished = {}, 0, nil, false
    hypersub.spawn(function()
      local ok, err = pcall(function()
        while #got < N do
          polls = polls + 1
          local msgs = assert(sub:pull("reader", "ticks", { wait = 2000 }))
          for _, m in ipairs(msgs) do got[#got + 1] = m end
        end
        -- Nothing more comes: a last short poll is empty.
        local rest = assert(sub:pull("reader", "ticks", { wait = 50 }))
        assert(#rest == 0, "more than " .. N .. " messages")
      end)
      if not ok then failure = err end
      finished = true
    end)
    assert.is_false(finished, "the coroutine waits for the loop")

    local ok, err = process.wait_until(function() return finished end, 5000, "the reader")
    timer:close()
    sub:close()
    pub:close()
    node:close()
    uv.run("nowait") -- close callbacks
    assert(ok, err)
    assert.is_nil(failure)

    assert.equal(N, sent)
    assert.same({}, pub_errors)
    assert.equal(N, #acked)
    assert.equal(N, #got)
    for i, m in ipairs(got) do
      assert.equal(i - 1, m.offset)
      assert.equal("tick " .. i, m.data)
      assert.equal("ticker", m.publisher)
      assert.equal(i - 1, acked[i])
    end
    assert.is_true(polls >= 2, "the reader waited more than once")
    assert.is_false(uv.loop_alive(), "a handle was left open on the loop")
  end)
end)
