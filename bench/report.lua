--- bench/report.lua — bench/results/: results.md (the tables), results.json
-- (every number), and SVG plots; returns the Markdown to print.
local cjson = require "cjson"
local plot = require "plot"

local M = {}

-- The columns of the comparison tables, in order.
M.COLUMNS = {
  { key = "hypersub", head = "hypersub (8 nodes, R=3, ack=all)" },
  { key = "js_mem", head = "JetStream R3 memory, via the leader" },
  { key = "js_mem_follower", head = "JetStream R3 memory, via a follower" },
  { key = "js_file", head = "JetStream R3 file, via the leader" },
  { key = "js_file_follower", head = "JetStream R3 file, via a follower" },
  { key = "redis_wait", head = "Redis XADD + WAIT 2" },
  { key = "redis", head = "Redis XADD (no WAIT)" },
}

local function num(v, unit)
  if v == nil then return "—" end
  if unit == "msgs/s" or unit == "req/s" then
    if v >= 1e6 then return ("%.2fM"):format(v / 1e6) end
    if v >= 1e4 then return ("%.0fk"):format(v / 1e3) end
    return ("%.0f"):format(v)
  end
  if unit == "µs" and v >= 1000 then return ("%.2f ms"):format(v / 1000) end
  if unit == "µs" then return ("%.0f µs"):format(v) end
  if unit == "ms" then return ("%.0f ms"):format(v) end
  if unit == "n" then return ("%.0f"):format(v) end
  return ("%.1f"):format(v)
end

local function cell(s, unit)
  if not s then return "—" end
  if s.missing then return s.missing end
  return ("%s (%s–%s)"):format(num(s.med, unit), num(s.min, unit), num(s.max, unit))
end

-- hypersub's advantage: >1 means hypersub is better.
local function ratio(ours, theirs, better)
  if not (ours and theirs and ours.med and theirs.med) or ours.med == 0 or theirs.med == 0 then
    return nil
  end
  return better == "higher" and ours.med / theirs.med or theirs.med / ours.med
end

local function span(s, unit) return ("%s–%s"):format(num(s.min, unit), num(s.max, unit)) end

local function rx(r) return r and ("%.2f×"):format(r) or "—" end

local function find_row(R, section, metric, unit)
  for _, row in ipairs(R.rows) do
    if row.section:find(section, 1, true) and row.metric == metric and row.unit == unit then return row end
  end
end

--- The targets of the issue, each {what, figure, met}.
function M.targets(R)
  local out = {}
  local function add(what, r, goal, fmt)
    out[#out + 1] = { what = what, figure = r and (fmt or "%.2f×"):format(r) or "not measured",
      met = r and r >= goal }
  end
  local p50 = find_row(R, "2.", "p50 latency", "µs")
  local pipe = find_row(R, "3.", "throughput", "msgs/s")
  local pull = find_row(R, "4.", "batches of 100", "msgs/s")
  if p50 then
    add("sync publish p50 ≤ half JetStream's (memory)", ratio(p50.cells.hypersub, p50.cells.js_mem, "lower"), 2)
    add("sync publish p50 ≤ half JetStream's (file)", ratio(p50.cells.hypersub, p50.cells.js_file, "lower"), 2)
    add("sync publish p50 below Redis XADD+WAIT's", ratio(p50.cells.hypersub, p50.cells.redis_wait, "lower"), 1)
  end
  if pipe then
    add("pipelined ack=all ≥ 5× JetStream (memory)", ratio(pipe.cells.hypersub, pipe.cells.js_mem, "higher"), 5)
    add("pipelined ack=all ≥ 2× Redis XADD + WAIT per batch", ratio(pipe.cells.hypersub, pipe.cells.redis_wait, "higher"), 2)
  end
  if pull then add("pull ≥ 1.5× Redis XREAD", ratio(pull.cells.hypersub, pull.cells.redis, "higher"), 1.5) end
  local fetch = find_row(R, "4.", "batches of 100, by offset", "msgs/s")
  if fetch then
    add("read by offset (FETCH) ≥ 1.5× Redis XREAD", ratio(fetch.cells.hypersub, fetch.cells.redis, "higher"), 1.5)
  end
  local poll = find_row(R, "4.", "long-poll delivery p50", "µs")
  if poll then
    -- ours at most twice theirs: their latency over ours at least 0.5
    add("long-poll delivery p50 ≤ 2× XREAD BLOCK's", ratio(poll.cells.hypersub, poll.cells.redis, "lower"), 0.5)
  end
  local function at_64k(key)
    for _, sw in ipairs(R.sweep[key] or {}) do
      if sw.size == 65536 then return { med = sw.med } end
    end
  end
  if R.sweep.hypersub and R.sweep.js_mem then
    add("64 KiB payloads, MB/s ≥ JetStream memory's", ratio(at_64k("hypersub"), at_64k("js_mem"), "higher"), 1)
  end
  for _, e in ipairs(R.join_leave and R.join_leave.events or {}) do
    if e.name:find("leave of an original node", 1, true) then
      out[#out + 1] = { what = "publish gap when a home leaves ≤ 50 ms",
        figure = ("%.0f ms"):format(e.gap_ms.med), met = e.gap_ms.med <= 50 }
    end
  end
  for _, g in ipairs { "sync", "longpoll" } do
    local f = R.failover[g]
    if f then
      out[#out + 1] = { what = ("unavailability on a home's SIGKILL ≤ 1 s (%s)"):format(
          g == "sync" and "sync publish" or "long-poll pull"),
        figure = ("%.0f ms"):format(f.window_ms.med), met = f.window_ms.med <= 1000 }
    end
  end
  local rtt = R.seed_rtt
  for _, s in ipairs(R.seed) do
    if s.seed_rps then
      add(("seed API %s ≥ 50× the seed"):format(s.api), s.block.ratio, 50, "%.1f×")
      if rtt then
        -- within 1.5 round trips: the round trip over our latency at least 1/1.5
        local rt = s.block.latency_us.med / rtt.block.med
        out[#out + 1] = { what = ("seed API %s within 1.5× of one loopback round trip"):format(s.api),
          figure = ("%.2f round trips"):format(rt), met = rt <= 1.5 }
      end
    end
  end
  return out
end

local function plots(R, dir)
  local made = {}
  local sweep = {}
  for _, c in ipairs(M.COLUMNS) do
    if R.sweep[c.key] then
      local pts = {}
      for _, s in ipairs(R.sweep[c.key]) do pts[#pts + 1] = { s.size, s.med } end
      sweep[#sweep + 1] = { name = c.head, points = pts }
    end
  end
  if plot.line(dir .. "/sweep.svg", { title = "Pipelined publish (256 in flight) by payload size",
      xlabel = "payload (bytes)", ylabel = "MB/s (payload)", logx = 4, logy = 10, series = sweep }) then
    made[#made + 1] = "sweep.svg"
  end
  local fo = {}
  for _, g in ipairs { "sync", "longpoll" } do
    if R.failover_series[g] then
      fo[#fo + 1] = { name = g == "sync" and "sync publish ack=all" or "long-poll, publish -> pulled",
        points = R.failover_series[g] }
    end
  end
  if #fo > 0 and plot.line(dir .. "/failover.svg", { title = "Latency across a SIGKILL of the topics' home",
      xlabel = "seconds since the kill", ylabel = "latency (ms)", logy = 10,
      vline = { x = 0, label = "SIGKILL" }, series = fo }) then
    made[#made + 1] = "failover.svg"
  end
  local jl = R.join_leave_series
  if jl and plot.line(dir .. "/join_leave.svg", { title = "Publish throughput while nodes join and leave",
      xlabel = "seconds since the measured phase began",
      ylabel = ("acks/s (%d ms buckets)"):format(jl.bucket_ms), series = {
      { name = "pipelined publish, ack=all", points = jl.points } }, bands = jl.bands }) then
    made[#made + 1] = "join_leave.svg"
  end
  -- Per node, against log2 N: what the cube promises grows with it.
  local series = {}
  local function point(name, x, y, dash)
    if not series[name] then
      series[name] = { name = name, points = {}, dash = dash }
      series[#series + 1] = series[name]
    end
    local pts = series[name].points
    pts[#pts + 1] = { x, y }
  end
  local xs, seen = {}, {}
  for _, s in ipairs(R.scale) do
    if not seen[s.log2] then seen[s.log2], xs[#xs + 1] = true, s.log2 end
  end
  table.sort(xs)
  for _, x in ipairs(xs) do point("log2 N", x, x, true) end
  for _, s in ipairs(R.scale) do
    local tag = s.kind == "simulation" and ", simulated" or ", processes"
    point("links" .. tag, s.log2, s.links_idle.mean)
    point("join steps" .. tag, s.log2, s.join.steps)
    point("mean hops" .. tag, s.log2, s.hops_mean)
  end
  if plot.line(dir .. "/scale.svg", { title = "Per node, against log2 N", xlabel = "log2 N (N members)",
      ylabel = "links, steps, hops", series = series }) then
    made[#made + 1] = "scale.svg"
  end
  local bytes = {}
  for _, s in ipairs(R.scale) do
    local name = s.kind == "simulation" and "simulated" or "processes"
    if not bytes[name] then bytes[name] = { name = name, points = {} } bytes[#bytes + 1] = bytes[name] end
    bytes[name].points[#bytes[name].points + 1] = { s.log2, s.idle_bytes }
  end
  if plot.line(dir .. "/scale_idle.svg", { title = "Membership bytes per node per second at idle",
      xlabel = "log2 N (N members)", ylabel = "bytes/s", series = bytes }) then
    made[#made + 1] = "scale_idle.svg"
  end
  return made
end

--- Rows of figures, one column per system (columns[1] is ours), each other
-- system's column followed by our ratio against it.
local function ratio_table(add, columns, rows)
  local head, rule = { "| workload | metric" }, { "| --- | ---" }
  for i, c in ipairs(columns) do
    head[#head + 1] = " | " .. c.head
    rule[#rule + 1] = " | ---"
    if i > 1 then head[#head + 1] = " | ×" rule[#rule + 1] = " | ---" end
  end
  add(table.concat(head) .. " |")
  add(table.concat(rule) .. " |")
  local ours = columns[1].key
  for _, row in ipairs(rows) do
    local line = { ("| %s | %s, %s"):format(row.section, row.metric, row.unit) }
    for i, c in ipairs(columns) do
      line[#line + 1] = " | " .. cell(row.cells[c.key], row.unit)
      if i > 1 then line[#line + 1] = " | " .. rx(ratio(row.cells[ours], row.cells[c.key], row.better)) end
    end
    add(table.concat(line) .. " |")
  end
end

local function ms(v) return v and num(v, "µs") or "—" end

--- The durable publishes beside the peers' durable settings, and what one
-- fdatasync costs on this disk (where their time goes).
function M.durable(R, add)
  local D = R.durable
  if D then
    add("### 2d–3d. Durable publish: acknowledged once on disk")
    add("")
    ratio_table(add, D.columns, D.rows)
    add("")
    local notes = {}
    if D.not_built then
      notes[#notes + 1] = ("hypersub: not built (%s); the column fills in once the node has "
        .. "`--data-dir` and `--fsync`, each node then with a data directory of its own and "
        .. "`--fsync always`."):format(D.not_built)
    end
    if D.nats_version then
      notes[#notes + 1] = D.nats_sync
        and "JetStream: `jetstream { sync_interval: always }` on every server, streams on files."
        or ("JetStream: %s has no `sync_interval` (it came in 2.10), so its file streams are "
          .. "synced on the server's own schedule, every 2 minutes: its acknowledgement means the "
          .. "record is in the page cache of every replica, not on disk. Ratios against it flatter "
          .. "JetStream."):format(D.nats_version)
      notes[#notes + 1] = "Redis: `appendonly yes`, `appendfsync always` on the primary and both "
        .. "replicas; the primary syncs before it answers the XADD. WAIT 2 counts a replica once it "
        .. "has applied the write, which in Redis 7.0 may be before its own fsync (WAITAOF, which "
        .. "waits for that, came in 7.2)."
    end
    for _, n in ipairs(notes) do add(n) add("") end
  end
  local F = R.fsync
  if F then
    add("### Where the time goes: one fdatasync on this disk")
    add("")
    add("| write, then fdatasync | p50 | p99 | mean | per second |")
    add("| --- | --- | --- | --- | --- |")
    local function line(what, x, per)
      add("| %s | %s | %s | %s | %s |", what, cell(x.p50, "µs"), cell(x.p99, "µs"), cell(x.mean, "µs"), per)
    end
    line(("%d B appended"):format(F.size), F.record,
      ("%s records"):format(num(F.record.rate.med, "msgs/s")))
    line(("%d × %d B appended in one write"):format(F.per_batch, F.size), F.batch,
      ("%s batches = %s records"):format(num(F.batch.rate.med, "msgs/s"),
        num(F.batch.rate.med * F.per_batch, "msgs/s")))
    line(("%d B over a file already allocated and synced"):format(F.size), F.overwrite,
      ("%s records"):format(num(F.overwrite.rate.med, "msgs/s")))
    add("")
    add(("Measured by `fsync-probe` (bench/loadgen/fsync.c) in %s (%s), where every system's data "
      .. "directory is made, before any of them starts. A durable acknowledgement waits for at "
      .. "least one fdatasync (with ack=all, the home's and the replicas', side by side): at "
      .. "one record per fdatasync, %s each on average, a publisher waiting for each ack gets about "
      .. "%s a second; only several records per fdatasync (a group commit) lift a pipelined rate "
      .. "past that."):format(F.dir, F.filesystem or "filesystem unknown", ms(F.record.mean.med),
      num(F.record.rate.med, "msgs/s")))
    add("")
  end
end

--- A node holding a log, SIGKILLed and started again from its directory.
function M.restart(R, add)
  local X = R.restart
  if not X then return end
  add("### 3r. Restart of a node holding a log on disk")
  add("")
  if X.not_built then add("Not built: %s.", X.not_built) add("") return end
  add("One node, one topic of %d messages of %d B (%.0f MB on disk, filled at %.1f s with `--fsync never`), "
    .. "SIGKILLed and started again from its data directory. READY is printed once the directory is "
    .. "replayed and the port listens; served is the last message pulled through a new subscriber, both "
    .. "from the spawn. An empty directory starts in %.0f ms.", X.messages, X.size, X.disk_bytes / 1e6,
    X.fill_s, X.empty_ms)
  add("")
  add("| run | page cache | READY | served | held | replayed |")
  add("| --- | --- | --- | --- | --- | --- |")
  for i, r in ipairs(X.runs) do
    add("| %d | %s | %.0f ms | %.0f ms | %.0f MB, %d messages | %.0f MB/s |", i, r.cold and "dropped" or "warm",
      r.ready_ms, r.served_ms, r.bytes / 1e6, r.messages, r.mb_s)
  end
  add("")
end

function M.markdown(R, made)
  local E = R.env
  local o = {}
  local function add(s, ...) o[#o + 1] = select("#", ...) > 0 and s:format(...) or s end
  add("Made by `%s` on %s at commit %s. Machine: **%d cores** (%s), load average %.2f at the start; "
    .. "%s.", E.command, E.date, E.commit, E.cores, E.cpu, E.load, E.alone
      and "each system alone on the machine while measured (its servers and the load generators share it)"
      or "nodes, peers and load generators all share it")
  add("")
  add("Each figure is the median of %d runs, with min–max in brackets. Every run starts with a "
    .. "warm-up (a tenth of its operations, at least 200 for failover) that is not counted, on a "
    .. "fresh topic, stream or key (a publish or pull run's deleted at its end: the next run reuses its memory); reads only fetch what was written in that run. 100-byte payloads "
    .. "unless named. A ratio is hypersub's advantage: above 1 hypersub is better.", E.runs)
  add("")
  add("Peers: %s; %s.", E.nats_version or "NATS not run", E.redis_version or "Redis not run")
  add("")
  if #R.seed > 0 then
    local rtt = R.seed_rtt
    add("### 1. The seed's API benchmark (%d sequential requests of each)", E.api_n)
    add("")
    add("| API | seed's Python system | hypersub req/s | mean latency | × the seed | round trips "
      .. "| spinning client req/s | mean latency | × the seed | round trips |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for _, s in ipairs(R.seed) do
      local cols = {}
      for _, k in ipairs { "block", "spin" } do
        local v = s[k]
        cols[#cols + 1] = ("%s | %s | %s | %s"):format(cell(v.rps, "req/s"), num(v.latency_us.med, "µs"),
          v.ratio and ("%.1f×"):format(v.ratio) or "—",
          rtt and ("%.2f"):format(v.latency_us.med / rtt[k].med) or "—")
      end
      add("| `%s` | %s | %s | %s |", s.api, s.seed_rps and ("%d/s"):format(s.seed_rps) or "—",
        cols[1], cols[2])
    end
    add("")
    if rtt then
      add("One loopback round trip in the same run (`rtt-probe`, bench/loadgen/rtt.c: 100 bytes to an "
        .. "echo process and back, mean of %d, median of %d runs): %s (%s) for a program that sleeps "
        .. "while it waits, as the default client does; %s (%s) for one that polls, as the spinning "
        .. "client (`spin = %d`, µs) does while its spin lasts. \"Round trips\" is each client's "
        .. "latency over the round trip of a program that waits the same way.",
        E.api_n * 5, E.runs, num(rtt.block.med, "µs"), span(rtt.block, "µs"), num(rtt.spin.med, "µs"),
        span(rtt.spin, "µs"), rtt.spin_us)
      add("")
    end
  end
  if #R.rows > 0 or next(R.sweep) then
    add("### 2–4. Publish and pull beside NATS JetStream and Redis Streams")
    add("")
    ratio_table(add, M.COLUMNS, R.rows)
    add("")
    add("Redis publishes: WAIT 2 after each XADD (sync), one WAIT 2 after each batch of 256 XADD "
      .. "(pipelined); its pull and long-poll are XREAD (COUNT 100, BLOCK). JetStream's pull is a "
      .. "durable pull consumer with `ack_policy: none` (its cheapest read) fetching batches of 100 "
      .. "(`no_wait`); its long-poll is a pull of batch 1 with `expires`. Ours: PULL with `max = 100` "
      .. "(a subscriber's cursor, which every copy holds before the answer leaves), FETCH with "
      .. "`max = 100` (by offset, no cursor: \"by offset\"; XREAD also reads by an id the reader "
      .. "keeps, so Redis's figure is the same runs on both rows), long-poll with `wait`. JetStream via the leader: once it has made the stream, the generator "
      .. "connects to the stream's leader (its best case); via a follower: to one of the two other "
      .. "servers, which passes publishes and pulls on to the leader over the cluster's routes.")
    add("")
    if next(R.sweep) then
      add("#### 3. Payload sweep, 256 in flight: MB/s of payload")
      add("")
      local h, r = { "| payload" }, { "| ---" }
      for _, c in ipairs(M.COLUMNS) do
        if R.sweep[c.key] then h[#h + 1] = " | " .. c.head r[#r + 1] = " | ---" end
      end
      add(table.concat(h) .. " |")
      add(table.concat(r) .. " |")
      for i, s in ipairs(R.sweep.hypersub or {}) do
        local line = { ("| %d B"):format(s.size) }
        for _, c in ipairs(M.COLUMNS) do
          local x = R.sweep[c.key] and R.sweep[c.key][i]
          if R.sweep[c.key] then
            line[#line + 1] = x and (" | %s (%s msgs/s)"):format(cell(x, "MB/s"), num(x.rate, "msgs/s")) or " | —"
          end
        end
        add(table.concat(line) .. " |")
      end
      add("")
    end
  end
  M.durable(R, add)
  M.restart(R, add)
  if R.failover.sync then
    add("### 5. Single node failure: SIGKILL of the topics' home (%d fresh clusters)", R.failover.sync.rounds)
    add("")
    add("| workload | unavailability window | p50 before the kill | p50 after |")
    add("| --- | --- | --- | --- |")
    for _, g in ipairs { "sync", "longpoll" } do
      local f = R.failover[g]
      add("| %s | %s | %s | %s |", g == "sync" and "sync publish, ack=all" or "long-poll, publish → pulled",
        cell(f.window_ms, "ms"), cell(f.p50_before_us, "µs"), cell(f.p50_after_us, "µs"))
    end
    add("")
    add("The window is the longest time without a completed operation; clients enter through a node "
      .. "that holds no copy, and default failure detection declares a node dead after 1000 ms of silence.")
    add("")
  end
  if #R.concurrency > 0 then
    add("### 6. High concurrency: pipelined ack=all publishes, clients as separate processes")
    add("")
    add("| clients | topics | total msgs/s |")
    add("| --- | --- | --- |")
    for _, c in ipairs(R.concurrency) do
      add("| %d | %s | %s |", c.clients, c.topics, cell(c.rate, "msgs/s"))
    end
    add("")
  end
  local J = R.join_leave
  if J then
    add("### 7. Join and leave under load (%d fresh clusters)", J.rounds)
    add("")
    if J.env then
      add("Measured by `%s` on %s at commit %s, load average %.2f at the start.",
        J.env.command, J.env.date, J.env.commit, J.env.load[1] or J.env.load)
      add("")
    end
    add("Steady publish rate before the first event: %s msgs/s.", cell(J.base_rate, "msgs/s"))
    add("")
    add("| event | takes | longest gap without an ack: publish | long-poll | publish rate during it | client errors |")
    add("| --- | --- | --- | --- | --- | --- |")
    for _, e in ipairs(J.events) do
      add("| %s | %s | %s | %s | %s | %s |", e.name, cell(e.takes_ms, "ms"), cell(e.gap_ms, "ms"),
        cell(e.poll_gap_ms, "ms"), cell(e.rate, "msgs/s"), cell(e.errors, "n"))
    end
    add("")
    local codes = {}
    for code, n in pairs(J.codes) do codes[#codes + 1] = ("%s ×%d"):format(code, n) end
    table.sort(codes)
    add("Errors the clients saw over a whole run: %s; by code over all runs: %s.",
      cell(J.errors, "n"), #codes > 0 and table.concat(codes, ", ") or "none")
    add("")
    add("Pipelined ack=all publishes (256 in flight) and a long-poll puller (publish → pulled) run "
      .. "through node 0, which never leaves; the publish topic holds no copy on node 0. An event "
      .. "takes its call (a join until the new node is ready, a leave until the node has handed its "
      .. "topics over and exited) and then every node agreeing on the view; its gap is the longest "
      .. "time without an acknowledgement from its start to the next event's start, after calm "
      .. "periods of %.1f s between events. The original node that leaves is the publish topic's home "
      .. "(else one of its copies). The client retries UNAVAILABLE and CLOSED within its timeout; "
      .. "errors are what outlasted that. The plot is the round whose longest gap is the median.",
      (J.calm_ms or 0) / 1000)
    add("")
  end
  if #R.scale > 0 then
    add("### 8. Scale: node processes, and the same code simulated")
    add("")
    add("| N | how | log2 N | peer links per node, idle: mean / max | after publishes | membership msgs per node per s, idle | bytes per node per s, idle | publish hops: mean / max | memory per node |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for _, s in ipairs(R.scale) do
      add("| %d | %s | %.0f | %.2f / %d | %s | %.0f | %.0f | %.2f / %d | %s |", s.nodes, s.kind, s.log2,
        s.links_idle.mean, s.links_idle.max,
        s.links_busy and ("%.2f / %d"):format(s.links_busy.mean, s.links_busy.max) or "—",
        s.idle_msgs, s.idle_bytes, s.hops_mean, s.hops_max,
        s.kind == "simulation" and ("%.0f KiB of membership state"):format(s.mem_bytes / 1024)
          or ("%.1f MiB RSS"):format(s.mem_bytes / 1048576))
    end
    add("")
    add("| N | how | join: steps / messages / repairs / time | leave: steps / messages / repairs / time | kill: declared dead after | kill: steps / messages / repairs / everyone knows after |")
    add("| --- | --- | --- | --- | --- | --- |")
    local function c(x)
      return ("%d / %d / %d / %.1f ms"):format(x.steps, x.messages, x.repairs, x.ms)
    end
    for _, s in ipairs(R.scale) do
      add("| %d | %s | %s | %s | %.0f ms | %s |", s.nodes, s.kind, c(s.join), c(s.leave),
        s.detect_ms, c(s.crash))
    end
    add("")
    add("Processes: `hypersub node` processes on loopback with `--link-idle-ms 2000`; a change's time runs from the first node that took it (a leave and a kill: from the request and the SIGKILL) to the last, by each node's wall clock. Simulation: `build/bench/hs-cubesim --nodes N`, one process, each message taking 100 µs, the node's default timings; its memory is the bytes of view, watch list and probes a member holds.")
    add("")
  end
  local targets = M.targets(R)
  if #targets > 0 then
    add("### Targets")
    add("")
    add("| target | figure | met |")
    add("| --- | --- | --- |")
    for _, t in ipairs(targets) do
      add("| %s | %s | %s |", t.what, t.figure, t.met == nil and "—" or (t.met and "yes" or "**no**"))
    end
    add("")
  end
  add("### Load generators' CPU share (CPU time / wall time of the measured phase)")
  add("")
  add("| generator | workload | median | max |")
  add("| --- | --- | --- | --- |")
  local seen, order = {}, {}
  for _, c in ipairs(R.cpu) do
    local k = c.system .. "\0" .. c.what
    if not seen[k] then seen[k] = {} order[#order + 1] = { c.system, c.what, k } end
    table.insert(seen[k], c.share)
  end
  local lib = require "lib"
  for _, k in ipairs(order) do
    local med, _, hi = lib.median(seen[k[3]])
    add("| %s | %s | %.0f%% | %.0f%% |", k[1], k[2], med * 100, hi * 100)
  end
  add("")
  for _, p in ipairs(made) do add("![%s](%s)", p, p) end
  return table.concat(o, "\n") .. "\n"
end

function M.write(R, dir)
  os.execute("mkdir -p '" .. dir .. "'")
  local made = plots(R, dir)
  local md = M.markdown(R, made)
  local f = assert(io.open(dir .. "/results.md", "w"))
  f:write(md)
  f:close()
  f = assert(io.open(dir .. "/results.json", "w"))
  f:write(cjson.encode(R), "\n")
  f:close()
  return md
end

return M
