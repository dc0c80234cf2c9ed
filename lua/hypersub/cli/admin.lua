--- The command line's verbs about the cluster itself: stats, status,
-- leave, version.
local hypersub = require "hypersub"
local args = require "hypersub.cli.args"

local M = {}

M.specs = {
  stats = {
    synopsis = "stats [FLAGS]",
    about = "The counters, gauges and latencies of the node connected to, or of\n" ..
      "node ID (found in the cluster's view).",
    flags = { { flag = "node", arg = "ID", kind = "integer", help = "the node to ask" } },
  },
  status = {
    synopsis = "status [FLAGS]",
    about = "The cluster as the node connected to sees it: members, states, epoch,\n" ..
      "and the topics each live member homes and replicates. Exits 1 when a\n" ..
      "member is suspect or dead, or when the live members' views disagree.",
  },
  leave = {
    synopsis = "leave ID [FLAGS]",
    about = "Node ID hands its topics over and stops; exits 0 once it has left.",
  },
  version = {
    synopsis = "version [--json]",
    about = "The version of this hypersub and of its wire format.",
    offline = true, json = true,
  },
}

-- The view's members by id.
local function by_id(view)
  local out = {}
  for _, m in ipairs(view.members) do out[m.id] = m end
  return out
end

-- "a.b.c value" lines for a nested table, sorted.
local function flatten(prefix, v, out)
  if type(v) == "table" then
    for k, x in pairs(v) do flatten(prefix == "" and tostring(k) or prefix .. "." .. k, x, out) end
  else
    out[#out + 1] = prefix .. " " .. tostring(v)
  end
  return out
end

function M.stats(verb, flags, pos)
  if #pos > 0 then return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.stats.synopsis) end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  if flags.node and flags.node ~= c.node_id then
    local view, m, code = c:view()
    c:close()
    if not view then return args.request_failed(verb, m, code) end
    local member = by_id(view)[flags.node]
    if not member then return args.fail(verb, args.FAILED, "NO_NODE: node %d is not a member", flags.node) end
    c, exit = args.connect(verb, flags, { member.addr })
    if not c then return exit end
  end
  local st, m, code = c:stats()
  c:close()
  if not st then return args.request_failed(verb, m, code) end
  if flags.json then
    args.print_json(st)
  else
    local lines = flatten("", st, {})
    table.sort(lines)
    for _, l in ipairs(lines) do print(l) end
  end
  return args.OK
end

-- What a live member holds: homes and replicas (names), or nil.
local function holdings(c, member, self_id, flags)
  local mc = member.id == self_id and c or hypersub.connect(member.addr, args.connect_opts(flags))
  local topics = mc and mc:local_topics()
  local view = mc and mc:view()
  if mc and mc ~= c then mc:close() end
  if not topics then return nil end
  local homes, replicas = {}, {}
  for _, t in ipairs(topics.topics) do
    local w = c:where(t.name)
    if w and w.home == member.id then homes[#homes + 1] = t.name
    else replicas[#replicas + 1] = t.name end
  end
  table.sort(homes)
  table.sort(replicas)
  return homes, replicas, view
end

-- The same members in the same states, as seen from two views.
local function same_view(a, b)
  if a.epoch ~= b.epoch or #a.members ~= #b.members then return false end
  local bm = by_id(b)
  for _, m in ipairs(a.members) do
    if not bm[m.id] or bm[m.id].state ~= m.state then return false end
  end
  return true
end

function M.status(verb, flags, pos)
  if #pos > 0 then return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.status.synopsis) end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local view, m, code = c:view()
  if not view then
    c:close()
    return args.request_failed(verb, m, code)
  end
  local problems, members = {}, {}
  for _, mem in ipairs(view.members) do
    local row = { id = mem.id, addr = mem.addr, state = mem.state, version = mem.version }
    if mem.state == "alive" or mem.state == "suspect" then
      local homes, replicas, their_view = holdings(c, mem, view.self, flags)
      if homes then
        row.homes, row.replicas = homes, replicas
        if not same_view(view, their_view) then
          problems[#problems + 1] = ("node %d's view (epoch %d) differs from node %d's (epoch %d)")
            :format(mem.id, their_view.epoch, view.self, view.epoch)
        end
      else
        row.unreachable = true
        problems[#problems + 1] = ("node %d (%s) did not answer"):format(mem.id, mem.addr)
      end
    end
    if mem.state == "suspect" or mem.state == "dead" then
      problems[#problems + 1] = ("node %d is %s"):format(mem.id, mem.state)
    end
    members[#members + 1] = row
  end
  c:close()
  if flags.json then
    for _, row in ipairs(members) do
      if row.homes and #row.homes == 0 then row.homes = args.array() end
      if row.replicas and #row.replicas == 0 then row.replicas = args.array() end
    end
    args.print_json { self = view.self, epoch = view.epoch, dim = view.dim,
      replicas = view.replicas, members = members, healthy = #problems == 0,
      problems = #problems > 0 and problems or args.array() }
  else
    print(("cluster view of node %d: epoch %d, dimension %d, %d copies per topic"):format(
      view.self, view.epoch, view.dim, view.replicas))
    print(("%-6s %-22s %-8s %8s  %s"):format("id", "address", "state", "version", "topics (home / replica)"))
    for _, row in ipairs(members) do
      local held = "-"
      if row.unreachable then
        held = "unreachable"
      elseif row.homes then
        held = ("%d / %d"):format(#row.homes, #row.replicas)
        if #row.homes + #row.replicas > 0 and #row.homes + #row.replicas <= 8 then
          held = held .. ("   home: %s   replica: %s"):format(
            #row.homes > 0 and table.concat(row.homes, ",") or "-",
            #row.replicas > 0 and table.concat(row.replicas, ",") or "-")
        end
      end
      print(("%-6d %-22s %-8s %8d  %s"):format(row.id, row.addr, row.state, row.version, held))
    end
    for _, p in ipairs(problems) do print("problem: " .. p) end
  end
  return #problems == 0 and args.OK or args.FAILED
end

function M.leave(verb, flags, pos)
  local id = math.tointeger(tonumber(pos[1]))
  if not id or #pos > 1 then return args.fail(verb, args.USAGE, "usage: hypersub %s", M.specs.leave.synopsis) end
  local c, exit = args.connect(verb, flags)
  if not c then return exit end
  local ok, m, code = c:leave(id)
  c:close()
  if not ok then return args.request_failed(verb, m, code) end
  if flags.json then args.print_json { left = id } else print(("node %d left"):format(id)) end
  return args.OK
end

function M.version(_, flags)
  if flags.json then
    args.print_json { version = hypersub.version, wire_version = hypersub.wire_version }
  else
    print("hypersub " .. hypersub.version)
  end
  return args.OK
end

return M
