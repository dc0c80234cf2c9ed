--- The command line's data verbs: pub, sub, read, topics, topic, where.
local args = require "hypersub.cli.args"

local M = {}

local PUBLISHER = { flag = "publisher", arg = "P", kind = "string",
  help = "the publisher (default cli)" }

M.specs = {
  pub = {
    synopsis = "pub TOPIC [MSG | -] [FLAGS]",
    about = "Publishes MSG (--count times), or each line of stdin when MSG is - or\n" ..
      "absent. Prints each message's offset.",
    flags = {
      PUBLISHER,
      { flag = "ack", arg = "all|home|none", kind = "string", values = { "all", "home", "none" },
        help = "when the node answers (default all: every copy holds it)" },
      { flag = "count", arg = "N", kind = "integer", min = 1, help = "publish MSG N times" },
      { flag = "create", kind = "switch", help = "create the publisher and the topic if missing" },
    },
  },
  sub = {
    synopsis = "sub TOPIC [FLAGS]",
    about = "Prints the topic's messages (their data, one a line) as they are pulled;\n" ..
      "with --follow, waits for new ones as they arrive.",
    flags = {
      { flag = "subscriber", arg = "S", kind = "string",
        help = "a named subscriber resumes its cursor (default: a new one each run)" },
      { flag = "from", arg = "earliest|latest|OFFSET", kind = "string",
        help = "where a new cursor starts (default earliest)" },
      { flag = "follow", kind = "switch", help = "keep waiting for new messages" },
      { flag = "count", arg = "N", kind = "integer", min = 1, help = "stop after N messages" },
    },
  },
  read = {
    synopsis = "read TOPIC [FLAGS]",
    about = "Prints the topic's messages (their data, one a line) from an offset, with\n" ..
      "no subscriber and no cursor (c:fetch); with --follow, waits for new ones.",
    flags = {
      { flag = "from", arg = "OFFSET", kind = "integer", min = 0,
        help = "the first offset (default 0: the earliest retained)" },
      { flag = "follow", kind = "switch", help = "keep waiting for new messages" },
      { flag = "count", arg = "N", kind = "integer", min = 1, help = "stop after N messages" },
    },
  },
  topics = {
    synopsis = "topics [PREFIX] [FLAGS]",
    about = "Lists the cluster's topics (starting with PREFIX), sorted.",
  },
  topic = {
    synopsis = "topic info|create|delete TOPIC [FLAGS]",
    about = "info: where the topic lives and what each copy holds (offsets, bytes,\n" ..
      "cursors); create, delete: as PUBLISHER (create makes it if missing).",
    flags = { PUBLISHER },
  },
  where = {
    synopsis = "where TOPIC [FLAGS]",
    about = "The topic's home and replicas in the cluster's view (it need not exist).",
  },
}

-- Ignores EXISTS: creating what is there already is fine here.
local function ensure(ok, msg, code)
  if ok or code == "EXISTS" then return true end
  return nil, msg, code
end

function M.pub(verb, flags, pos)
  local topic, msg = pos[1], pos[2]
  if not topic or #pos > 2 then return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.pub.synopsis) end
  if msg == "-" then msg = nil end
  if flags.count and not msg then
    return args.fail(verb, args.USAGE, "--count needs MSG")
  end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local publisher = flags.publisher or "cli"
  local status = args.OK
  local function fail(m, code)
    status = args.request_failed(verb, m, code)
    return false
  end
  local function publish(data)
    local offset, m, code = c:publish(publisher, topic, data, { ack = flags.ack or "all" })
    if not offset then return fail(m, code) end
    if flags.json then
      args.print_json { topic = topic, offset = offset }
    else
      io.stdout:write(offset, "\n")
    end
    return true
  end
  local ok, m, code = true, nil, nil
  if flags.create then
    ok, m, code = ensure(c:create_publisher(publisher))
    if ok then ok, m, code = ensure(c:create_topic(publisher, topic)) end
  end
  if not ok then
    fail(m, code)
  elseif msg then
    for _ = 1, flags.count or 1 do
      if not publish(msg) then break end
    end
  else
    for line in io.stdin:lines() do
      if not publish(line) then break end
    end
  end
  c:close()
  return status
end

local function print_message(flags, topic, msg)
  if flags.json then
    args.print_json { topic = topic, offset = msg.offset, publisher = msg.publisher,
      time = msg.time, data = msg.data }
  else
    io.stdout:write(msg.data, "\n")
  end
end

-- Prints the batches take(opts) gives (nil, msg, code on a failure) until
-- --count messages came, or one came empty without --follow; closes c.
local function print_batches(verb, flags, topic, c, take)
  local left = flags.count
  local status = args.OK
  while not left or left > 0 do
    local batch, m, code = take { max = math.min(left or 1000, 1000),
      wait = flags.follow and 1000 or 0 }
    if not batch then
      status = args.request_failed(verb, m, code)
      break
    end
    for _, msg in ipairs(batch) do print_message(flags, topic, msg) end
    io.stdout:flush()
    if left then left = left - #batch end
    if #batch == 0 and not flags.follow then break end
  end
  c:close()
  return status
end

function M.sub(verb, flags, pos)
  local topic = pos[1]
  if not topic or #pos > 1 then return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.sub.synopsis) end
  local from = flags.from or "earliest"
  if from ~= "earliest" and from ~= "latest" then
    from = math.tointeger(tonumber(from))
    if not from or from < 0 then
      return args.fail(verb, args.USAGE, "--from needs earliest, latest or an offset")
    end
  end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local sid = flags.subscriber or args.unique("cli-")
  local ok, m, code = ensure(c:create_subscriber(sid))
  if ok then ok, m, code = c:subscribe(sid, topic, { from = from }) end
  if not ok then
    c:close()
    return args.request_failed(verb, m, code)
  end
  return print_batches(verb, flags, topic, c, function(opts) return c:pull(sid, topic, opts) end)
end

function M.read(verb, flags, pos)
  local topic = pos[1]
  if not topic or #pos > 1 then return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.read.synopsis) end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local at = flags.from or 0
  return print_batches(verb, flags, topic, c, function(opts)
    local batch, next, code = c:fetch(topic, at, opts) -- next: the message on a failure
    if batch then at = next end
    return batch, next, code
  end)
end

function M.topics(verb, flags, pos)
  if #pos > 1 then return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.topics.synopsis) end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local names, m, code = c:list_topics(pos[1] or "")
  c:close()
  if not names then return args.request_failed(verb, m, code) end
  if flags.json then
    args.print_json(#names > 0 and names or args.array())
  else
    for _, n in ipairs(names) do io.stdout:write(n, "\n") end
  end
  return args.OK
end

-- The view's members by id.
local function members_of(view)
  local by_id = {}
  for _, m in ipairs(view.members) do by_id[m.id] = m end
  return by_id
end

-- What each copy of a topic holds, asked of each copy: {{node =, role =,
-- first =, next =, bytes =, cursors =}, ...}, home first.
local function copies_of(c, flags, topic, w)
  local view = assert(c:view())
  local members = members_of(view)
  local out = {}
  local ids = { w.home }
  for _, r in ipairs(w.replicas) do ids[#ids + 1] = r end
  for i, id in ipairs(ids) do
    local copy = { node = id, role = i == 1 and "home" or "replica" }
    local m = members[id]
    local mc = m and require("hypersub").connect(m.addr, args.connect_opts(flags))
    local held = mc and mc:local_topics()
    if mc then mc:close() end
    for _, t in ipairs(held and held.topics or {}) do
      if t.name == topic then
        copy.first, copy.next, copy.bytes, copy.cursors = t.first, t.next, t.bytes, t.cursors
      end
    end
    if not held then copy.unreachable = true end
    out[#out + 1] = copy
  end
  return out
end

function M.topic(verb, flags, pos)
  local action, topic = pos[1], pos[2]
  if not (action and topic) or #pos > 2 or
      not (action == "info" or action == "create" or action == "delete") then
    return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.topic.synopsis)
  end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local publisher = flags.publisher or "cli"
  local ok, m, code
  if action == "create" then
    ok, m, code = ensure(c:create_publisher(publisher))
    if ok then ok, m, code = c:create_topic(publisher, topic) end
  elseif action == "delete" then
    ok, m, code = c:delete_topic(publisher, topic)
  else
    local w
    w, m, code = c:where(topic)
    local copies = w and copies_of(c, flags, topic, w)
    local held = false
    for _, copy in ipairs(copies or {}) do held = held or copy.next ~= nil end
    if w and not held then
      w, m, code = nil, ('NO_TOPIC: topic "%s" does not exist'):format(topic), "NO_TOPIC"
    end
    if w then
      ok = true
      if flags.json then
        args.print_json { topic = topic, home = w.home, replicas = #w.replicas > 0 and w.replicas or args.array(),
          epoch = w.epoch, copies = copies }
      else
        print(("topic %s: home %d, replicas %s (view epoch %d)"):format(topic, w.home,
          #w.replicas > 0 and table.concat(w.replicas, " ") or "-", w.epoch))
        print(("%-6s %-8s %10s %10s %12s %8s"):format("node", "role", "first", "next", "bytes", "cursors"))
        for _, copy in ipairs(copies) do
          if copy.next then
            print(("%-6d %-8s %10d %10d %12d %8d"):format(copy.node, copy.role, copy.first,
              copy.next, copy.bytes, copy.cursors))
          else
            print(("%-6d %-8s %s"):format(copy.node, copy.role,
              copy.unreachable and "unreachable" or "no copy"))
          end
        end
      end
    end
  end
  c:close()
  if not ok then return args.request_failed(verb, m, code) end
  if action ~= "info" then
    if flags.json then
      args.print_json { topic = topic, [action == "create" and "created" or "deleted"] = true }
    else
      print(("topic %s %s"):format(topic, action == "create" and "created" or "deleted"))
    end
  end
  return args.OK
end

function M.where(verb, flags, pos)
  local topic = pos[1]
  if not topic or #pos > 1 then return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.where.synopsis) end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local w, m, code = c:where(topic)
  c:close()
  if not w then return args.request_failed(verb, m, code) end
  if flags.json then
    args.print_json { topic = topic, home = w.home,
      replicas = #w.replicas > 0 and w.replicas or args.array(), epoch = w.epoch }
  else
    print(("home %d, replicas %s, epoch %d"):format(w.home,
      #w.replicas > 0 and table.concat(w.replicas, " ") or "-", w.epoch))
  end
  return args.OK
end

return M
