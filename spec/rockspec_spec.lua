-- Installing it the Lua way, from a clean copy of the sources: `luarocks
-- make` into a private tree puts the modules, hypersub.core and the
-- `hypersub` runtime there, and a stock lua5.4 with only that tree on its
-- paths (no runtime on PATH, no HYPERSUB_BIN) drives a 5-node cluster
-- through hypersub.cluster; `make install PREFIX=...` after that earlier
-- build gives a runtime that finds its modules relative to itself.
local uv = require "luv"

local ROCKSPEC = "rockspec/hypersub-scm-1.rockspec"

-- The repository root, from this file's path (busted runs from the root).
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$")) or "."

-- Runs a shell command; returns ok, its output (stdout and stderr).
-- LD_PRELOAD (set by `make asan`), HYPERSUB_BIN and the spec's Lua paths
-- are not passed on, and PATH holds only the system's directories:
-- luarocks, gcc and the stock lua5.4 run as a user's would.
local function sh(cmd)
  local p = assert(io.popen("env -u LD_PRELOAD -u LUA_PATH -u LUA_CPATH " ..
    "-u LUA_PATH_5_4 -u LUA_CPATH_5_4 -u HYPERSUB_BIN -u HYPERSUB_TEST_BIN " ..
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c '" .. cmd:gsub("'", "'\\''") ..
    "' 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

local function have_luarocks()
  return os.execute("command -v luarocks >/dev/null 2>&1") == true
end

-- The driving script for a stock lua5.4: 5 nodes, 200 publishes with
-- ack "all", the topic's home killed, every message pulled back.
local CLUSTER_SCRIPT = [[
local cluster = require "hypersub.cluster"
local cl = assert(cluster.start { nodes = 5, replicas = 3, log_level = "warn" })
local ok, err = pcall(function()
  local c = assert(cl:client(4))
  assert(c:create_publisher "p")
  assert(c:create_topic("p", "rock"))
  assert(c:create_subscriber "s")
  assert(c:subscribe("s", "rock"))
  for i = 1, 200 do assert(c:publish("p", "rock", "m" .. i)) end
  local home = cl:home "rock"
  if home == 4 then c = assert(cl:client(cl:where("rock").replicas[1])) end
  cl:kill(home)
  local got = {}
  while #got < 200 do
    local batch = assert(c:pull("s", "rock", { max = 100, wait = 2000 }))
    assert(#batch > 0, "no more messages after " .. #got)
    for _, m in ipairs(batch) do got[#got + 1] = m.data end
  end
  for i = 1, 200 do assert(got[i] == "m" .. i, "message " .. i .. " is " .. tostring(got[i])) end
  print(("PULLED %d after killing node %d, runtime %s"):format(#got, home,
    require("hypersub.process").runtime()))
end)
cl:close()
assert(ok, err)
]]

describe("rockspec #rockspec", function()
  it("builds through the Makefile, which compiles every layer of src/", function()
    local env = {}
    local chunk = assert(loadfile(ROOT .. "/" .. ROCKSPEC, "t", env))
    chunk()
    assert.equal("make", env.build.type)
    assert.equal("runtime", env.build.build_target)
    assert.equal("MIT", env.description.license)
    assert.truthy(io.open(ROOT .. "/LICENSE"), "LICENSE is missing")
    -- The Makefile's LAYERS name every folder of src/ but the binding.
    local mk = assert(io.open(ROOT .. "/Makefile")):read("a")
    local layers = {}
    for l in mk:match("\nLAYERS%s*:=%s*([^\n]*)"):gmatch("%S+") do layers[l] = true end
    local h = uv.fs_scandir(ROOT .. "/src")
    while h do
      local name, kind = uv.fs_scandir_next(h)
      if not name then break end
      if kind == "directory" and name ~= "lua" then
        assert(layers[name], "src/" .. name .. " is not in the Makefile's LAYERS")
      end
    end
  end)

  if not have_luarocks() then
    pending("luarocks is not on PATH (apt-get install luarocks): the build is not tried")
    return
  end

  it("passes luarocks lint", function()
    local ok, out = sh(("cd %s && luarocks lint %s"):format(ROOT, ROCKSPEC))
    assert(ok, out)
  end)

  it("installs from a clean tree: a stock lua5.4 drives a 5-node cluster, and make install works after it", function()
    local tmp = os.tmpname()
    os.remove(tmp)
    assert(uv.fs_mkdir(tmp, tonumber("700", 8)))
    local finally_ok, err = pcall(function()
      local ok, out = sh(("mkdir -p %s/src && cp -R %s/Makefile %s/LICENSE %s/include %s/src %s/lua %s/rockspec %s/src/")
        :format(tmp, ROOT, ROOT, ROOT, ROOT, ROOT, ROOT, tmp))
      assert(ok, "copying the sources failed:\n" .. out)

      ok, out = sh(("cd %s/src && luarocks --lua-version 5.4 --tree %s/tree make --deps-mode=none %s")
        :format(tmp, tmp, ROCKSPEC))
      assert(ok, "luarocks make failed:\n" .. out)
      assert(uv.fs_access(tmp .. "/tree/bin/hypersub", "X"), "no bin/hypersub in the tree:\n" .. out)

      local script = assert(io.open(tmp .. "/drive.lua", "w"))
      script:write(CLUSTER_SCRIPT)
      script:close()
      local tree = tmp .. "/tree"
      ok, out = sh(('cd %s && LUA_PATH="%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua;;" ' ..
        'LUA_CPATH="%s/lib/lua/5.4/?.so;;" lua5.4 drive.lua')
        :format(tmp, tree, tree, tree))
      assert(ok and out:match("PULLED 200 after killing node %d, runtime " .. tree:gsub("%p", "%%%0") .. "/bin/hypersub\n"),
        "the rock did not drive a cluster:\n" .. out)

      -- make install after that build, to another prefix: the runtime
      -- finds the modules it was installed with, from anywhere.
      ok, out = sh(("cd %s/src && make --no-print-directory install PREFIX=%s/inst"):format(tmp, tmp))
      assert(ok, "make install failed:\n" .. out)
      ok, out = sh(('cd / && %s/inst/bin/hypersub %s/drive.lua'):format(tmp, tmp))
      assert(ok and out:match("PULLED 200 after killing node %d, runtime " .. tmp:gsub("%p", "%%%0") .. "/inst/bin/hypersub\n"),
        "the installed runtime did not find its modules:\n" .. out)
    end)
    sh("rm -rf " .. tmp)
    assert(finally_ok, err)
  end)
end)
