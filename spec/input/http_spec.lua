-- The monitoring port against clients that are wrong, slow or many: every
-- route answers, unknown paths get 404, other methods 405, garbage 400,
-- headers over the limit 431, a body 413, connections past the limit
-- 503; a client that sends its headers a byte at a time is cut off at the
-- timeout while others are served; 10,000 pipelined requests are all
-- answered; through all of it the node serves its own protocol.
local hypersub = require "hypersub"
local process = require "hypersub.process"
local cluster = require "hypersub.cluster"
local http = require "spec.support.http"
local uv = require "luv"

local TIMEOUT_MS, MAX_CONNS = 500, 16

describe("the HTTP port #input", function()
  local node, port

  setup(function()
    port = cluster.free_ports(1)[1]
    node = assert(process.start_node {
      "--http", "127.0.0.1:" .. port, "--http-timeout-ms", tostring(TIMEOUT_MS),
      "--http-max-connections", tostring(MAX_CONNS), "--log-level", "warn",
    })
  end)

  teardown(function()
    node:kill("sigterm")
    assert.equal(0, (node:wait(10000)))
    local err = node.stderr or ""
    node:close()
    for _, bad in ipairs { "Sanitizer", "runtime error:", "Segmentation" } do
      assert.falsy(err:find(bad, 1, true), err)
    end
  end)

  -- The node's own protocol still answers.
  local function serves()
    local c = assert(hypersub.connect(node.addr, { timeout = 2000 }))
    local st = c:stats()
    c:close()
    return st ~= nil
  end

  it("answers every route, 404 an unknown path, 405 another method; HEAD has no body", function()
    for path, want in pairs {
      ["/"] = "text/html", ["/metrics"] = "text/plain; version=0.0.4", ["/livez"] = "text/plain",
      ["/readyz"] = "text/plain", ["/view"] = "application/json", ["/topics"] = "application/json",
      ["/where?topic=news&from=0"] = "application/json",
    } do
      local status, headers, body = http.get(port, path)
      assert.equal(200, status, path)
      assert.equal(want, headers["content-type"]:sub(1, #want), path)
      assert.is_true(#body > 0, path)
    end
    local status, _, body = http.get(port, "/nothing-here")
    assert.equal(404, status)
    assert.truthy(body:find("/metrics", 1, true))
    assert.equal(400, (http.get(port, "/where?topic=bad%20name")))
    local c = assert(http.connect(port))
    c:send("POST /view HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    local st, headers = c:answer()
    assert.equal(405, st)
    assert.equal("GET, HEAD", headers.allow)
    c:send("HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\n")
    st, headers = c:answer(5000, true)
    assert.equal(200, st)
    assert.equal("3", headers["content-length"])
    c:send("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
    local body2
    st, _, body2 = c:answer()
    assert.equal(200, st)
    assert.equal("ok\n", body2)
    c:close()
  end)

  it("gives 400 to garbage, 431 to headers past 8 KiB, 413 to a body, and closes", function()
    local cases = {
      { "\0\1\2\3 this is not http\r\n\r\n", 400 },
      { "GET / HTTP/9.9\r\n\r\n", 400 },
      { "GET / HTTP/1.1\r\nX: " .. ("a"):rep(9000) .. "\r\n\r\n", 431 },
      { "GET /view HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 413 },
      { "GET /view HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 413 },
      { "GET " .. ("/x"):rep(2000) .. " HTTP/1.1\r\n\r\n", 414 },
      { "GET http://elsewhere/ HTTP/1.1\r\n\r\n", 400 },
    }
    for i, case in ipairs(cases) do
      local c = assert(http.connect(port))
      c:send(case[1])
      local status = c:answer()
      assert.equal(case[2], status, "case " .. i)
      assert(c:await_close(), "case " .. i .. ": the connection stays open")
      c:close()
    end
    -- Random bytes, a few kilobytes at a time.
    math.randomseed(7)
    for _ = 1, 20 do
      local c = assert(http.connect(port))
      local bytes = {}
      for k = 1, 4096 do bytes[k] = string.char(math.random(0, 255)) end
      c:send(table.concat(bytes))
      assert(c:await_close())
      c:close()
    end
    assert.is_true(serves())
    assert.equal(200, (http.get(port, "/livez")))
  end)

  it("cuts off clients that send their headers a byte at a time, while serving others", function()
    local slow, timer = {}, uv.new_timer()
    for i = 1, MAX_CONNS - 2 do
      slow[i] = assert(http.connect(port))
      slow[i]:send("GET /metrics HTTP/1.1\r\nHost: x\r\n")
    end
    -- A byte every 50 ms each: never a whole request within the timeout.
    timer:start(50, 50, function()
      for _, c in ipairs(slow) do
        if not c.closed then c:send("X") end
      end
    end)
    local t0 = uv.hrtime()
    -- Meanwhile others are answered, HTTP and the node's protocol alike.
    assert.equal(200, (http.get(port, "/livez")))
    assert.is_true(serves())
    for _, c in ipairs(slow) do assert(c:await_close(TIMEOUT_MS * 10)) end
    local took = (uv.hrtime() - t0) / 1e6
    timer:close()
    for _, c in ipairs(slow) do c:close() end
    assert.is_true(took >= TIMEOUT_MS * 0.8, ("closed after %.0f ms"):format(took))
    assert.equal(200, (http.get(port, "/livez")))
  end)

  it("answers 503 past the connection limit, and serves again once they go", function()
    local held = {}
    for i = 1, MAX_CONNS do held[i] = assert(http.connect(port)) end
    -- The node counts them once it has accepted them: the next is refused.
    local extra = assert(http.connect(port))
    extra:send("GET /livez HTTP/1.1\r\n\r\n")
    local status = extra:answer()
    assert.equal(503, status)
    extra:close()
    for _, c in ipairs(held) do c:close() end
    assert(process.wait_until(function()
      local st = http.get(port, "/livez", 1000)
      return st == 200
    end, 5000, "the port to serve again"))
  end)

  it("answers 10,000 pipelined requests on keep-alive connections", function()
    local CONNS, EACH, BATCH = 4, 2500, 250
    local t0 = uv.hrtime()
    local conns = {}
    for i = 1, CONNS do conns[i] = assert(http.connect(port)) end
    local answered = 0
    for _ = 1, EACH / BATCH do
      for _, c in ipairs(conns) do
        c:send(("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"):rep(BATCH))
      end
      for _, c in ipairs(conns) do
        for _ = 1, BATCH do
          local status, _, body = c:answer(10000)
          assert.equal(200, status)
          assert.equal("ok\n", body)
          answered = answered + 1
        end
      end
    end
    for _, c in ipairs(conns) do c:close() end
    assert.equal(CONNS * EACH, answered)
    io.stderr:write(("      (10,000 HTTP requests answered in %.0f ms)\n"):format(
      (uv.hrtime() - t0) / 1e6))
    assert.is_true(serves())
  end)
end)
