--- What clients did to topics, and whether it holds together: a history
-- of publishes (sent, acknowledged with an offset, failed or of unknown
-- outcome), pulls, fetches and final reads, checked for lost, duplicated,
-- misplaced and reordered messages and for each subscriber's repeats,
-- gaps and skips.
--
--   local history = require "hypersub.history"
--   local h = history.new()
--   h:publish_sent("t", "m1")
--   h:publish_acked("t", "m1", 0)          -- or h:publish_failed("t", "m1", msg)
--   h:pulled("t", "s1", msgs, "client b")  -- a pull's answer, {offset =, data =} each
--   h:fetched("t", msgs, "client c")       -- a fetch's answer (a read by offset)
--   h:read_all("t", everything)            -- a final read of the whole log
--   h:note "node 2 killed"                 -- shown in reports among the events
--   assert(h:check { complete = true })    -- or nil, report, violation
--
-- Payloads are told apart by an id: the message's data, or what
-- opts.id_of(data) makes of it. Each publish needs an id of its own on its
-- topic. A subscriber's pulls are taken in the order they are recorded,
-- from whichever client: record each when its answer arrives, and pull
-- for one subscriber one request at a time. Pure Lua: it neither sends
-- nor waits for anything.
local M = {}

local History = {}
History.__index = History
History.__name = "hypersub.history"

-- The kinds of violation, in the order they are reported when two become
-- evident at the same event.
M.KINDS = {
  "conflict", "diverged", "duplicated", "misplaced", "phantom", "lost",
  "gap", "repeated", "reordered", "skipped",
}
local RANK = {}
for i, k in ipairs(M.KINDS) do RANK[k] = i end

--- history.new([opts]) -> a history. opts.id_of(data) -> the payload's id
-- (default: the data itself); opts.context: how many earlier events of the
-- topic a report shows (default 5).
function M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #1 to 'new' (table expected)", 2) end
  if opts.id_of ~= nil and type(opts.id_of) ~= "function" then
    error("bad option 'id_of': expected a function", 2)
  end
  local context = opts.context or 5
  if math.type(context) ~= "integer" or context < 0 then
    error("bad option 'context': expected a non-negative integer", 2)
  end
  return setmetatable({
    id_of = opts.id_of or function(data) return data end,
    context = context,
    events = {},  -- every call, in order: {n =, kind =, topic =, ...}
    topics = {},  -- name -> what is known of it (see topic_of)
    order = {},   -- topic names in the order first seen
  }, History)
end

local function check_self(self, fname)
  if getmetatable(self) ~= History then
    error(("bad self to '%s' (hypersub.history expected)"):format(fname), 3)
  end
end

local function check_topic(topic, fname)
  if type(topic) ~= "string" then
    error(("bad argument #1 to '%s' (topic name expected, got %s)"):format(fname, type(topic)), 3)
  end
end

local function check_offset(offset, argn, fname)
  if math.type(offset) ~= "integer" or offset < 0 then
    error(("bad argument #%d to '%s' (offset: a non-negative integer expected, got %s)")
      :format(argn, fname, tostring(offset)), 3)
  end
end

local function topic_of(self, name)
  local t = self.topics[name]
  if not t then
    t = {
      pubs = {},     -- id -> {id =, sent =, outcome = nil | "acked" | "failed", offset =, done =, why =}
      sent = {},     -- the pubs in the order they were sent
      pulls = {},    -- subscriber -> its pull events, in order
      subs = {},     -- subscribers in the order first seen
      start = {},    -- subscriber -> the offset its cursor starts at
      start_ev = {}, -- subscriber -> the event that said so
      reads = {},    -- read_all events, in order
      fetches = {},  -- fetched events (reads by offset), in order
    }
    self.topics[name] = t
    self.order[#self.order + 1] = name
  end
  return t
end

local function record(self, ev)
  ev.n = #self.events + 1
  self.events[ev.n] = ev
  return ev
end

-- A publish's state, made on its first mention.
local function pub_of(self, t, topic, id, fname, sending)
  if id == nil then error(("bad argument #2 to '%s' (payload id expected, got nil)"):format(fname), 3) end
  local p = t.pubs[id]
  if p and sending then
    error(("bad argument #2 to '%s' (payload %s was already sent on topic %s: give each publish an id of its own)")
      :format(fname, M.show(id), topic), 3)
  end
  if not p then
    p = { id = id }
    t.pubs[id] = p
    t.sent[#t.sent + 1] = p
  end
  return p
end

--- h:publish_sent(topic, id): a publish of payload `id` is on its way.
function History:publish_sent(topic, id)
  check_self(self, "publish_sent")
  check_topic(topic, "publish_sent")
  local t = topic_of(self, topic)
  local p = pub_of(self, t, topic, id, "publish_sent", true)
  p.sent = record(self, { kind = "publish_sent", topic = topic, id = id }).n
end

local function outcome(self, fname, topic, id, ev)
  check_self(self, fname)
  check_topic(topic, fname)
  local t = topic_of(self, topic)
  local p = pub_of(self, t, topic, id, fname, false)
  if p.outcome then
    error(("bad argument #2 to '%s' (payload %s on topic %s already has an outcome: %s)")
      :format(fname, M.show(id), topic, p.outcome), 3)
  end
  ev.kind, ev.topic, ev.id = fname, topic, id
  record(self, ev)
  -- An outcome without a send: it was sent just before.
  p.sent = p.sent or ev.n
  p.done = ev.n
  return p
end

--- h:publish_acked(topic, id, offset): the publish of `id` was acknowledged
-- at `offset`.
function History:publish_acked(topic, id, offset)
  check_offset(offset, 3, "publish_acked")
  local p = outcome(self, "publish_acked", topic, id, { offset = offset })
  p.outcome, p.offset = "acked", offset
end

--- h:publish_failed(topic, id [, why]): the publish of `id` failed, or its
-- outcome is unknown (a timeout, a closed connection): the payload may be
-- in the log once, or not at all.
function History:publish_failed(topic, id, why)
  local p = outcome(self, "publish_failed", topic, id, { why = why and tostring(why) })
  p.outcome, p.why = "failed", why and tostring(why)
end

--- h:subscribed(topic, subscriber, offset): where the subscriber's cursor
-- starts (its first pull must begin there). Without it: offset 0.
function History:subscribed(topic, subscriber, offset)
  check_self(self, "subscribed")
  check_topic(topic, "subscribed")
  if subscriber == nil then error("bad argument #2 to 'subscribed' (subscriber expected)", 2) end
  check_offset(offset, 3, "subscribed")
  local t = topic_of(self, topic)
  local ev = record(self, { kind = "subscribed", topic = topic, sub = subscriber, offset = offset })
  t.start[subscriber], t.start_ev[subscriber] = offset, ev.n
end

-- {offset =, id =} of each message, checked.
local function take(self, msgs, fname)
  if type(msgs) ~= "table" then
    error(("bad argument to '%s' (a list of messages expected, got %s)"):format(fname, type(msgs)), 3)
  end
  local out = {}
  for i, m in ipairs(msgs) do
    if type(m) ~= "table" or math.type(m.offset) ~= "integer" then
      error(("bad message #%d to '%s' ({offset = integer, data = ...} expected)"):format(i, fname), 3)
    end
    out[i] = { offset = m.offset, id = self.id_of(m.data) }
  end
  return out
end

--- h:pulled(topic, subscriber, msgs [, client]): one pull's answer, as the
-- client returned it (a list of {offset =, data =}, possibly empty).
-- `client` names who pulled, for the report.
function History:pulled(topic, subscriber, msgs, client)
  check_self(self, "pulled")
  check_topic(topic, "pulled")
  if subscriber == nil then error("bad argument #2 to 'pulled' (subscriber expected)", 2) end
  local t = topic_of(self, topic)
  local ev = record(self, { kind = "pulled", topic = topic, sub = subscriber,
    client = client ~= nil and tostring(client) or nil, msgs = take(self, msgs, "pulled") })
  local list = t.pulls[subscriber]
  if not list then
    list = {}
    t.pulls[subscriber] = list
    t.subs[#t.subs + 1] = subscriber
  end
  list[#list + 1] = ev
  ev.nth = #list
end

--- h:fetched(topic, msgs [, client]): one fetch's answer (a read by
-- offset, c:fetch), as the client returned it. No cursor is kept, so it
-- has no order to check; its messages are held to every other read: one
-- payload per offset, at its acknowledged offset, published by someone.
function History:fetched(topic, msgs, client)
  check_self(self, "fetched")
  check_topic(topic, "fetched")
  local t = topic_of(self, topic)
  local ev = record(self, { kind = "fetched", topic = topic,
    client = client ~= nil and tostring(client) or nil, msgs = take(self, msgs, "fetched") })
  t.fetches[#t.fetches + 1] = ev
  ev.nth = #t.fetches
end

--- h:read_all(topic, msgs [, first]): a final read of the topic's whole log
-- (a fresh subscriber from the earliest offset, pulled until empty). Its
-- offsets must run densely from `first` (default 0); every acknowledged
-- payload at or past `first` must be in it.
function History:read_all(topic, msgs, first)
  check_self(self, "read_all")
  check_topic(topic, "read_all")
  if first ~= nil then check_offset(first, 3, "read_all") end
  local t = topic_of(self, topic)
  local ev = record(self, { kind = "read_all", topic = topic, msgs = take(self, msgs, "read_all"),
    first = first or 0 })
  t.reads[#t.reads + 1] = ev
end

--- h:note(text): something that happened around the clients (a node
-- killed, a partition made), shown in reports among the events of every
-- topic.
function History:note(text)
  check_self(self, "note")
  record(self, { kind = "note", text = tostring(text) })
end

---- formatting ---------------------------------------------------------------

--- A payload id as a report shows it: quoted, and cut at 40 bytes.
function M.show(id)
  if type(id) ~= "string" then return tostring(id) end
  if #id > 40 then return ("%q…"):format(id:sub(1, 40)) end
  return ("%q"):format(id)
end
local show = M.show

-- "0..9, 11, 13..14": a list of offsets as runs.
local function ranges(offsets)
  local out, i = {}, 1
  while i <= #offsets do
    local j = i
    while j < #offsets and offsets[j + 1] == offsets[j] + 1 do j = j + 1 end
    out[#out + 1] = i == j and tostring(offsets[i]) or ("%d..%d"):format(offsets[i], offsets[j])
    i = j + 1
  end
  return table.concat(out, ", ")
end

local function offsets_of(msgs)
  local out = {}
  for i, m in ipairs(msgs) do out[i] = m.offset end
  return out
end

local function span(a, b)
  return a == b and ("offset %d"):format(a) or ("offsets %d..%d"):format(a, b)
end

-- Who pulled: "pull #3 of s1 (client b)".
local function who(ev)
  local by = ev.client and (" (" .. ev.client .. ")") or ""
  if ev.kind == "fetched" then return ("fetch #%d%s"):format(ev.nth, by) end
  return ("pull #%d of %s%s"):format(ev.nth, tostring(ev.sub), by)
end

--- One event as a line of a report.
function M.format_event(ev)
  if ev.kind == "note" then return ("#%-5d %-14s %s"):format(ev.n, "note", ev.text) end
  local head = ("#%-5d %-14s %s"):format(ev.n, ev.kind, ev.topic)
  if ev.kind == "publish_sent" then
    return ("%s %s"):format(head, show(ev.id))
  elseif ev.kind == "publish_acked" then
    return ("%s %s at offset %d"):format(head, show(ev.id), ev.offset)
  elseif ev.kind == "publish_failed" then
    return ("%s %s%s"):format(head, show(ev.id), ev.why and (": " .. ev.why) or "")
  elseif ev.kind == "subscribed" then
    return ("%s %s from offset %d"):format(head, tostring(ev.sub), ev.offset)
  end
  local msgs = ev.msgs
  local body = #msgs == 0 and "nothing"
    or ("%d message%s, offsets %s"):format(#msgs, #msgs == 1 and "" or "s", ranges(offsets_of(msgs)))
  if #msgs > 0 and #msgs <= 4 then
    local ids = {}
    for i, m in ipairs(msgs) do ids[i] = show(m.id) end
    body = body .. " (" .. table.concat(ids, " ") .. ")"
  end
  if ev.kind == "pulled" then
    return ("%s %s%s, #%d: %s"):format(head, tostring(ev.sub),
      ev.client and (" (" .. ev.client .. ")") or "", ev.nth, body)
  elseif ev.kind == "fetched" then
    return ("%s #%d%s: %s"):format(head, ev.nth,
      ev.client and (" (" .. ev.client .. ")") or "", body)
  end
  return ("%s %s"):format(head, body)
end

---- checking -----------------------------------------------------------------

-- How a publish ended, for a message.
local function fate(p)
  if not p then return "never published" end
  if p.outcome == "acked" then return ("acked at offset %d"):format(p.offset) end
  if p.outcome == "failed" then return "outcome unknown" .. (p.why and (": " .. p.why) or "") end
  return "no answer recorded"
end

-- Every place a payload was seen, per topic: id -> {offset -> first event},
-- and offset -> the first {id, event} seen there.
local function observe(t)
  local at_id, at_offset, list = {}, {}, {}
  local function see(m, ev)
    local where = at_id[m.id]
    if not where then where = {} at_id[m.id] = where end
    if not where[m.offset] then where[m.offset] = ev end
    if not at_offset[m.offset] then at_offset[m.offset] = { id = m.id, ev = ev } end
    list[#list + 1] = { m = m, ev = ev }
  end
  -- Events in history order: pulls of every subscriber, the fetches and
  -- the reads.
  local evs = {}
  for _, s in ipairs(t.subs) do
    for _, ev in ipairs(t.pulls[s]) do evs[#evs + 1] = ev end
  end
  for _, ev in ipairs(t.fetches) do evs[#evs + 1] = ev end
  for _, ev in ipairs(t.reads) do evs[#evs + 1] = ev end
  table.sort(evs, function(a, b) return a.n < b.n end)
  for _, ev in ipairs(evs) do
    for _, m in ipairs(ev.msgs) do see(m, ev) end
  end
  return at_id, at_offset, list
end

-- The sorted offsets of a set {offset -> x}.
local function keys(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- One subscriber's deliveries, in order: repeats, reorders, gaps, skips.
-- Stops at its first violation (the rest would only follow from it).
local function check_stream(topic, t, sub, add)
  local start = t.start[sub] or 0
  local items, later = {}, {}
  for _, ev in ipairs(t.pulls[sub]) do
    for i, m in ipairs(ev.msgs) do
      items[#items + 1] = { m = m, ev = ev, first = i == 1 }
    end
  end
  for i = #items, 1, -1 do later[items[i].m.offset] = i end -- the first time each offset comes
  local got, expected, prev = {}, start, nil
  for i, it in ipairs(items) do
    local o, ev = it.m.offset, it.ev
    if got[o] then
      add("repeated", ev, { got[o], ev },
        ("repeated: subscriber %s got offset %d (%s) twice on topic %s: in %s and in %s")
          :format(tostring(sub), o, show(it.m.id), topic, who(got[o]), who(ev)))
      return
    elseif o < expected and not prev then
      local evs = { ev }
      if t.start_ev[sub] then table.insert(evs, 1, t.start_ev[sub]) end
      add("reordered", ev, evs,
        ("reordered: subscriber %s got offset %d on topic %s, below offset %d where its cursor started (%s)")
          :format(tostring(sub), o, topic, start, who(ev)))
      return
    elseif o < expected then
      add("reordered", ev, { prev.ev, ev },
        ("reordered: subscriber %s got offset %d after offset %d on topic %s (%s)")
          :format(tostring(sub), o, prev.m.offset, topic, who(ev)))
      return
    elseif o > expected then
      local back = later[expected]
      if back and back > i then
        add("reordered", items[back].ev, { ev, items[back].ev },
          ("reordered: subscriber %s got offset %d before offset %d on topic %s (%s, then %s)")
            :format(tostring(sub), o, expected, topic, who(ev), who(items[back].ev)))
      elseif not prev then
        local evs = { ev }
        if t.start_ev[sub] then table.insert(evs, 1, t.start_ev[sub]) end
        add("skipped", ev, evs,
          ("skipped: subscriber %s began at offset %d on topic %s, not at %d where its cursor started: %s never delivered (%s)")
            :format(tostring(sub), o, topic, start, span(expected, o - 1), who(ev)))
      elseif it.first then
        add("skipped", ev, { prev.ev, ev },
          ("skipped: %s began at offset %d on topic %s, but the pull before ended at %d: %s never delivered")
            :format(who(ev), o, topic, prev.m.offset, span(expected, o - 1)))
      else
        add("gap", ev, { ev },
          ("gap: %s jumps from offset %d to %d on topic %s: %s missing")
            :format(who(ev), prev.m.offset, o, topic, span(expected, o - 1)))
      end
      return
    end
    got[o], expected, prev = ev, o + 1, it
  end
end

-- What `complete` names: every subscriber, or those listed.
local function complete_set(opt, t)
  local set = {}
  if opt == true then
    for _, s in ipairs(t.subs) do set[s] = true end
  elseif type(opt) == "table" then
    for _, s in ipairs(opt) do
      if t.pulls[s] then set[s] = true end
    end
  end
  return set
end

local function check_topic_history(self, topic, t, opts, add)
  local at_id, at_offset, seen = observe(t)
  local pubs = t.sent

  -- conflict: two payloads acknowledged at one offset.
  local acked_at = {}
  for _, p in ipairs(pubs) do
    if p.outcome == "acked" then
      local q = acked_at[p.offset]
      if q then
        add("conflict", p.done, { q.sent, q.done, p.sent, p.done },
          ("conflict: %s and %s were both acked at offset %d on topic %s")
            :format(show(q.id), show(p.id), p.offset, topic))
      else
        acked_at[p.offset] = p
      end
    end
  end

  -- duplicated: one payload at two offsets; misplaced: an acknowledged
  -- payload seen only elsewhere than its offset; diverged: one offset
  -- holding two payloads; phantom: a payload nobody sent.
  for id, where in pairs(at_id) do
    local offs = keys(where)
    local p = t.pubs[id]
    if #offs > 1 then
      local second, evs = nil, {}
      if p then evs[#evs + 1] = p.sent; evs[#evs + 1] = p.done end
      for _, o in ipairs(offs) do
        evs[#evs + 1] = where[o].n
        if not second or where[o].n > second.n then second = where[o] end
      end
      local shown = {}
      for i, o in ipairs(offs) do shown[i] = tostring(o) end
      add("duplicated", second, evs,
        ("duplicated: %s (%s) is at offsets %s on topic %s")
          :format(show(id), fate(p), table.concat(shown, " and "), topic))
    elseif p and p.outcome == "acked" and offs[1] ~= p.offset then
      add("misplaced", where[offs[1]], { p.sent, p.done, where[offs[1]] },
        ("misplaced: %s was acked at offset %d on topic %s, but %s has it at offset %d")
          :format(show(id), p.offset, topic,
            where[offs[1]].kind == "read_all" and "the final read" or who(where[offs[1]]), offs[1]))
    end
    if not p and not opts.foreign then
      local ev = where[offs[1]]
      add("phantom", ev, { ev },
        ("phantom: offset %d of topic %s holds %s, which was never published"):format(offs[1], topic, show(id)))
    end
  end
  for _, s in ipairs(seen) do
    local first = at_offset[s.m.offset]
    if first.id ~= s.m.id then
      add("diverged", s.ev, { first.ev, s.ev },
        ("diverged: offset %d of topic %s held %s (event #%d) and then %s (event #%d)")
          :format(s.m.offset, topic, show(first.id), first.ev.n, show(s.m.id), s.ev.n))
      at_offset[s.m.offset] = { id = s.m.id, ev = s.ev } -- once per change
    end
  end

  -- The final read: dense from its first offset, holding every ack.
  local final = t.reads[#t.reads]
  for _, r in ipairs(t.reads) do
    local expected = r.first
    for _, m in ipairs(r.msgs) do
      if m.offset ~= expected then
        add(m.offset > expected and "gap" or "reordered", r, { r },
          m.offset > expected
            and ("gap: the final read of topic %s jumps to offset %d: %s missing")
              :format(topic, m.offset, span(expected, m.offset - 1))
            or ("reordered: the final read of topic %s has offset %d where %d belongs")
              :format(topic, m.offset, expected))
        break
      end
      expected = expected + 1
    end
  end
  if final then
    local has = {}
    for _, m in ipairs(final.msgs) do has[m.id] = true end
    for _, p in ipairs(pubs) do
      if p.outcome == "acked" and p.offset >= final.first and not has[p.id] then
        add("lost", final, { p.sent, p.done, final.n },
          ("lost: %s acked at offset %d on topic %s, not in the final read")
            :format(show(p.id), p.offset, topic))
      end
    end
  end

  -- Each subscriber's stream; and with `complete`, everything it should
  -- have had.
  local complete = complete_set(opts.complete, t)
  for _, sub in ipairs(t.subs) do
    check_stream(topic, t, sub, add)
  end
  for sub in pairs(complete) do
    local pulls = t.pulls[sub] or {}
    local last = pulls[#pulls]
    local start = t.start[sub] or 0
    local got = {}
    for _, ev in ipairs(pulls) do
      for _, m in ipairs(ev.msgs) do got[m.id] = true end
    end
    local at = last and last.n or #self.events
    for _, p in ipairs(pubs) do
      if p.outcome == "acked" and p.offset >= start and not got[p.id] then
        add("lost", at, { p.sent, p.done, last and last.n },
          ("lost: %s acked at offset %d on topic %s, never delivered to subscriber %s")
            :format(show(p.id), p.offset, topic, tostring(sub)))
      end
    end
  end

  -- Real-time order: a publish acknowledged before another was sent lies
  -- at a lower offset. Walk the payloads from the highest offset down,
  -- keeping the earliest acknowledgement among those above.
  local placed = {}
  for _, p in ipairs(pubs) do
    local where = at_id[p.id]
    if p.outcome == "acked" then
      placed[#placed + 1] = { p = p, o = p.offset, known = p.done }
    elseif where then -- seen, though its publish had no answer
      local o = keys(where)[1]
      placed[#placed + 1] = { p = p, o = o, known = where[o].n }
    end
  end
  table.sort(placed, function(a, b) return a.o > b.o end)
  local earliest -- of the payloads at higher offsets, the one acknowledged first
  for _, x in ipairs(placed) do
    if earliest and earliest.o > x.o and earliest.p.done < x.p.sent then
      add("reordered", x.known, { earliest.p.done, x.p.sent, x.known },
        ("reordered: %s was acked at offset %d on topic %s (event #%d) before %s was sent (event #%d), yet %s is at offset %d, below it")
          :format(show(earliest.p.id), earliest.o, topic, earliest.p.done, show(x.p.id), x.p.sent,
            show(x.p.id), x.o))
      break
    end
    if x.p.outcome == "acked" and (not earliest or x.p.done < earliest.p.done) then earliest = x end
  end
end

-- The report of one violation: its line, the events it rests on, and the
-- events of the topic just before it became evident.
local function report(self, v)
  local lines, shown = { v.message }, {}
  local evidence = {}
  for _, n in ipairs(v.events) do
    if not shown[n] then shown[n] = true evidence[#evidence + 1] = n end
  end
  table.sort(evidence)
  if #evidence > 0 then
    lines[#lines + 1] = "  the events it rests on:"
    for _, n in ipairs(evidence) do lines[#lines + 1] = "    " .. M.format_event(self.events[n]) end
  end
  local before = {}
  for n = v.at - 1, 1, -1 do
    if #before == self.context then break end
    local ev = self.events[n]
    if (ev.topic == v.topic or ev.kind == "note") and not shown[n] then table.insert(before, 1, n) end
  end
  if #before > 0 then
    lines[#lines + 1] = ("  the last %d events of topic %s before #%d:"):format(#before, v.topic, v.at)
    for _, n in ipairs(before) do lines[#lines + 1] = "    " .. M.format_event(self.events[n]) end
  end
  return table.concat(lines, "\n")
end

--- h:violations([opts]) -> every violation found, the first first: each
-- {kind =, topic =, message =, at = event number, events = {numbers}}.
-- opts.complete = true (or a list of subscribers): those subscribers (of
-- those that pulled the topic) pulled until nothing was left after the
-- last publish, so each must have had every acknowledged payload from
-- where its cursor started.
-- opts.foreign = true: payloads nobody recorded sending may be in the log.
function History:violations(opts)
  check_self(self, "violations")
  opts = opts or {}
  if type(opts) ~= "table" then error("bad argument #1 to 'violations' (table expected)", 2) end
  local out = {}
  for _, topic in ipairs(self.order) do
    local function add(kind, at, evs, message)
      if type(at) == "table" then at = at.n end
      local numbers = {}
      for _, e in pairs(evs) do numbers[#numbers + 1] = type(e) == "table" and e.n or e end
      out[#out + 1] = { kind = kind, topic = topic, message = message, at = at, events = numbers }
    end
    check_topic_history(self, topic, self.topics[topic], opts, add)
  end
  table.sort(out, function(a, b)
    if a.at ~= b.at then return a.at < b.at end
    if a.kind ~= b.kind then return RANK[a.kind] < RANK[b.kind] end
    return a.message < b.message
  end)
  return out
end

--- h:check([opts]) -> true, or nil, report, violation: the first violation
-- (the one evident earliest in the history), with the events it rests on
-- and the topic's events just before it. Options as for h:violations.
function History:check(opts)
  check_self(self, "check")
  local all = self:violations(opts)
  if #all == 0 then return true end
  local text = report(self, all[1])
  if #all > 1 then
    text = text .. ("\n  (%d more violation%s after it)"):format(#all - 1, #all == 2 and "" or "s")
  end
  return nil, text, all[1]
end

--- h:stats() -> {events =, sent =, acked =, failed =, pulled =} over every topic.
function History:stats()
  check_self(self, "stats")
  local s = { events = #self.events, sent = 0, acked = 0, failed = 0, pulled = 0 }
  for _, t in pairs(self.topics) do
    for _, p in ipairs(t.sent) do
      s.sent = s.sent + 1
      if p.outcome == "acked" then s.acked = s.acked + 1 end
      if p.outcome == "failed" then s.failed = s.failed + 1 end
    end
    for _, list in pairs(t.pulls) do
      for _, ev in ipairs(list) do s.pulled = s.pulled + #ev.msgs end
    end
  end
  return s
end

function History:__tostring()
  local s = self:stats()
  return ("hypersub.history: %d events, %d publishes (%d acked, %d failed), %d messages pulled")
    :format(s.events, s.sent, s.acked, s.failed, s.pulled)
end

return M
