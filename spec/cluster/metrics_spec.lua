-- /metrics in the Prometheus text format, parsed by the rules of the format
-- (HELP and TYPE before a family's samples, names and labels by their
-- grammar, escaped label values, no sample twice, counters *_total,
-- histograms with cumulative le buckets ending in +Inf = _count), and the
-- figures it gives on a 3-node cluster: requests and errors by label,
-- long polls parked, members by state, view epoch, replica lag per topic,
-- topics short of copies once a node dies. Also /livez, /readyz and /view.
local hypersub = require "hypersub"
local cluster = require "hypersub.cluster"
local http = require "spec.support.http"
local cjson = require "cjson"

-- Parses an exposition; raises on anything the format does not allow.
-- Returns {families = {name = {type =, help =}}, samples = {["name{l}"] = v},
-- list = {{name =, labels = {}, value =}}}.
local function parse(text)
  local families, samples, list = {}, {}, {}
  local NAME, LABEL = "^[a-zA-Z_:][a-zA-Z0-9_:]*$", "^[a-zA-Z_][a-zA-Z0-9_]*$"
  local n = 0
  for line in text:gmatch("([^\n]*)\n") do
    n = n + 1
    if line:match("^# HELP ") then
      local name, help = line:match("^# HELP (%S+) (.*)$")
      assert(name and name:match(NAME), "line " .. n .. ": bad HELP: " .. line)
      assert(not (families[name] and families[name].help), "HELP twice for " .. name)
      families[name] = families[name] or {}
      families[name].help = help
    elseif line:match("^# TYPE ") then
      local name, kind = line:match("^# TYPE (%S+) (%S+)$")
      assert(name and name:match(NAME), "line " .. n .. ": bad TYPE: " .. line)
      assert(({ counter = 1, gauge = 1, histogram = 1, summary = 1, untyped = 1 })[kind],
        "line " .. n .. ": bad type " .. tostring(kind))
      families[name] = families[name] or {}
      assert(not families[name].type, "TYPE twice for " .. name)
      assert(not families[name].seen, "TYPE after samples of " .. name)
      families[name].type = kind
    elseif line:match("^#") or line == "" then
      assert(line ~= "", "line " .. n .. " is empty")
    else
      local name, rest = line:match("^([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$")
      assert(name, "line " .. n .. ": bad sample: " .. line)
      local labels, key = {}, name
      if rest:sub(1, 1) == "{" then
        local body, after = rest:match("^{(.-[^\\]?)}(.*)$")
        if rest:sub(1, 2) == "{}" then body, after = "", rest:sub(3) end
        assert(body, "line " .. n .. ": bad labels: " .. line)
        local pos = 1
        while pos <= #body do
          local lname, q = body:match("^([^=]+)=()", pos)
          assert(lname and lname:match(LABEL), "line " .. n .. ": bad label name in " .. line)
          assert(body:sub(q, q) == '"', "line " .. n .. ": unquoted label value")
          local i, value = q + 1, {}
          while true do
            local ch = body:sub(i, i)
            assert(ch ~= "", "line " .. n .. ": unterminated label value")
            if ch == "\\" then
              local esc = body:sub(i + 1, i + 1)
              assert(esc == "\\" or esc == '"' or esc == "n", "line " .. n .. ": bad escape")
              value[#value + 1] = esc == "n" and "\n" or esc
              i = i + 2
            elseif ch == '"' then
              break
            else
              value[#value + 1] = ch
              i = i + 1
            end
          end
          assert(not labels[lname], "line " .. n .. ": label twice")
          labels[lname] = table.concat(value)
          pos = i + 1
          if body:sub(pos, pos) == "," then pos = pos + 1 end
        end
        local names = {}
        for k in pairs(labels) do names[#names + 1] = k end
        table.sort(names)
        local parts = {}
        for _, k in ipairs(names) do parts[#parts + 1] = k .. "=" .. labels[k] end
        key = name .. "{" .. table.concat(parts, ",") .. "}"
        rest = after
      end
      local value = rest:match("^ (%S+)$")
      assert(value, "line " .. n .. ": bad value in " .. line)
      local v = tonumber(value)
      if not v then
        assert(value == "+Inf" or value == "-Inf" or value == "NaN", "line " .. n .. ": " .. value)
        v = value == "+Inf" and math.huge or value == "-Inf" and -math.huge or 0 / 0
      end
      local family = name:gsub("_bucket$", ""):gsub("_sum$", ""):gsub("_count$", "")
      local f = families[name] or families[family]
      assert(f and f.type, "line " .. n .. ": no TYPE before " .. name)
      f.seen = true
      if f.type == "counter" then assert(name:match("_total$"), name .. " is a counter without _total") end
      if f.type == "histogram" and name:match("_bucket$") then
        assert(labels.le, "line " .. n .. ": a bucket without le")
      end
      assert(samples[key] == nil, "sample twice: " .. key)
      samples[key] = v
      list[#list + 1] = { name = name, labels = labels, value = v, family = families[name] and name or family }
    end
  end
  assert(text:sub(-1) == "\n", "the exposition must end with a newline")
  -- Histograms: cumulative buckets, +Inf equals _count.
  local by_series = {}
  for _, s in ipairs(list) do
    if s.name:match("_bucket$") then
      local parts = {}
      for k, v in pairs(s.labels) do if k ~= "le" then parts[#parts + 1] = k .. "=" .. v end end
      table.sort(parts)
      local series = s.name .. "|" .. table.concat(parts, ",")
      by_series[series] = by_series[series] or {}
      table.insert(by_series[series], s)
    end
  end
  for series, buckets in pairs(by_series) do
    local last, inf = -1, nil
    for _, b in ipairs(buckets) do
      assert(b.value >= last, series .. ": buckets are not cumulative")
      last = b.value
      if b.labels.le == "+Inf" then inf = b.value end
    end
    assert(inf, series .. ": no +Inf bucket")
    local name = series:match("^(.-)_bucket|")
    local parts = {}
    for k, v in pairs(buckets[1].labels) do if k ~= "le" then parts[#parts + 1] = k .. "=" .. v end end
    table.sort(parts)
    assert.equal(samples[name .. "_count{" .. table.concat(parts, ",") .. "}"], inf)
  end
  return { families = families, samples = samples, list = list }
end

describe("monitoring #cluster", function()
  local cl, ports

  setup(function()
    ports = cluster.free_ports(3)
    local node_flags = {}
    for id = 0, 2 do node_flags[id] = { "--http", "127.0.0.1:" .. ports[id + 1] } end
    cl = assert(cluster.start { nodes = 3, node_flags = node_flags })
    assert(cl:await_view())
  end)

  teardown(function()
    cl:close()
    cl:check()
  end)

  local function metrics(id)
    local status, headers, body = http.get(ports[id + 1], "/metrics")
    assert.equal(200, status)
    assert.equal("text/plain; version=0.0.4; charset=utf-8", headers["content-type"])
    return parse(body)
  end

  it("/metrics parses as the exposition format and counts what the node did", function()
    local topic = "metrics-topic"
    local home = cl:home(topic)
    local c = assert(cl:client(home))
    assert(c:create_publisher "mp")
    assert(c:create_topic("mp", topic))
    assert(c:create_subscriber "ms")
    assert(c:subscribe("ms", topic))
    for i = 1, 25 do assert(c:publish("mp", topic, "m" .. i)) end
    assert.is_nil(c:publish("mp", "no-such-topic", "x"))
    assert.equal(25, #assert(c:pull("ms", topic, { max = 100 })))
    -- A long poll parked while the metrics are read.
    local parked
    assert(c:pull("ms", topic, { wait = 3000 }, function(r) parked = r end))
    assert(require("hypersub.process").wait_until(function()
      return c:stats() and c:stats().pull_waiting == 1
    end, 3000, "the parked pull"))

    local m = metrics(home)
    local s = m.samples
    assert.equal(1, s['hypersub_info{cluster=hypersub,node=' .. home .. ',version=' .. hypersub.version .. '}'])
    assert.is_true(s["hypersub_requests_total{op=publish}"] >= 26)
    assert.is_true(s["hypersub_errors_total{code=NO_TOPIC}"] >= 1)
    assert.equal(25, s["hypersub_messages_published_total"])
    assert.is_true(s["hypersub_messages_pulled_total"] >= 25)
    assert.equal(1, s["hypersub_long_polls_parked"])
    assert.is_true(s["hypersub_received_bytes_total"] > 0)
    assert.equal(3, s["hypersub_members{state=alive}"])
    assert.equal(0, s["hypersub_members{state=dead}"])
    assert.is_true(s["hypersub_view_epoch"] >= 1)
    assert.equal(1, s["hypersub_ready"])
    assert.equal(1, s["hypersub_quorum"])
    assert.equal(1, s["hypersub_topics_homed"])
    assert.equal(0, s["hypersub_topics_under_replicated"])
    assert.is_true(s["hypersub_request_duration_seconds_count{op=create_topic}"] >= 1)
    for _, counter in ipairs { "failovers", "promotions", "refills", "retries", "deduplicated" } do
      assert.is_not_nil(s["hypersub_" .. counter .. "_total"], counter)
    end
    for _, r in ipairs(cl:where(topic).replicas) do
      assert.equal(0, s[("hypersub_topic_replica_lag_records{replica=%d,topic=%s}"):format(r, topic)])
      assert.is_not_nil(s[("hypersub_topic_replica_lag_seconds{replica=%d,topic=%s}"):format(r, topic)])
    end
    assert.equal("counter", m.families.hypersub_requests_total.type)
    assert.equal("histogram", m.families.hypersub_request_duration_seconds.type)
    assert(c:publish("mp", topic, "wakes the poll"))
    assert(require("hypersub.process").wait_until(function() return parked end, 3000, "the poll"))
  end)

  it("/livez and /readyz answer; /view gives each member's facts; /topics what this node holds", function()
    for id = 0, 2 do
      assert.equal(200, (http.get(ports[id + 1], "/livez")))
      -- Ready once its start-up catch-up is answered (on a loaded machine
      -- that can outlast the view's agreement); asked until then.
      local status, body
      for _ = 1, 200 do
        status, _, body = http.get(ports[id + 1], "/readyz")
        if status == 200 then break end
        hypersub.sleep(50)
      end
      assert.equal(200, status, body)
      assert.equal("ready\n", body)
    end
    -- Reading /view makes node 0 ask the others; their facts follow.
    local view
    for _ = 1, 100 do
      local status, _, body = http.get(ports[1], "/view")
      assert.equal(200, status)
      view = cjson.decode(body)
      local all = true
      for _, mem in ipairs(view.members) do all = all and mem.topics_homed ~= nil end
      if all then break end
      hypersub.sleep(50)
    end
    assert.equal(0, view.self)
    assert.equal(3, #view.members)
    local homed = 0
    for _, mem in ipairs(view.members) do
      assert.equal("alive", mem.state)
      assert.is_true(mem.ready)
      homed = homed + mem.topics_homed
      assert.equal("table", type(mem.links))
    end
    assert.is_true(homed >= 1)
    local status, _, body = http.get(ports[cl:home("metrics-topic") + 1], "/topics")
    assert.equal(200, status)
    local held = cjson.decode(body)
    assert.equal("metrics-topic", held.topics[1].name)
    assert.equal("home", held.topics[1].role)
    assert.equal(2, #held.topics[1].replicas)
    local w
    status, _, body = http.get(ports[1], "/where?topic=metrics-topic&from=0")
    w = cjson.decode(body)
    assert.equal(cl:home("metrics-topic"), w.home)
    assert.equal(0, w.path[1])
    assert.equal(w.home, w.path[#w.path])
  end)

  it("counts a dead member and the topics short of a copy", function()
    local topic = "metrics-topic"
    local home = cl:home(topic)
    local victim = cl:where(topic).replicas[1]
    cl:kill(victim)
    assert(cl:await_view())
    local s = metrics(home).samples
    assert.equal(1, s["hypersub_members{state=dead}"])
    assert.equal(2, s["hypersub_members{state=alive}"])
    assert.equal(1, s["hypersub_topics_under_replicated"])
    assert.equal(1, s["hypersub_quorum"])
  end)
end)
