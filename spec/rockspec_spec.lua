-- The luarocks build: rockspec/hypersub-scm-1.rockspec builds through the
-- Makefile with `luarocks make` into a temporary tree, and the result loads
-- in a stock lua5.4 and serves a request. The build runs on a copy of the
-- sources, so the work tree gets no object files.
local uv = require "luv"

local ROCKSPEC = "rockspec/hypersub-scm-1.rockspec"

-- The repository root, from this file's path (busted runs from the root).
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$")) or "."

-- Runs a shell command; returns ok, its output (stdout and stderr).
-- LD_PRELOAD (set by `make asan`) and the spec's LUA_PATH/LUA_CPATH are
-- not passed on: luarocks, gcc and the stock lua5.4 run as a user's would.
local function sh(cmd)
  local p = assert(io.popen("env -u LD_PRELOAD -u LUA_PATH -u LUA_CPATH " ..
    "-u LUA_PATH_5_4 -u LUA_CPATH_5_4 sh -c '" .. cmd:gsub("'", "'\\''") ..
    "' 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

local function have_luarocks()
  return os.execute("command -v luarocks >/dev/null 2>&1") == true
end

describe("rockspec #rockspec", function()
  it("builds through the Makefile, which compiles every layer of src/", function()
    local env = {}
    local chunk = assert(loadfile(ROOT .. "/" .. ROCKSPEC, "t", env))
    chunk()
    assert.equal("make", env.build.type)
    assert.equal("runtime", env.build.build_target)
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

  it("builds with luarocks and serves a request from a stock lua5.4", function()
    local tmp = os.tmpname()
    os.remove(tmp)
    assert(uv.fs_mkdir(tmp, tonumber("700", 8)))
    local finally_ok, err = pcall(function()
      local ok, out = sh(("mkdir -p %s/src && cp -R %s/Makefile %s/include %s/src %s/lua %s/rockspec %s/src/")
        :format(tmp, ROOT, ROOT, ROOT, ROOT, ROOT, tmp))
      assert(ok, "copying the sources failed:\n" .. out)

      ok, out = sh(("cd %s/src && luarocks --lua-version 5.4 --tree %s/tree make --deps-mode=none %s")
        :format(tmp, tmp, ROCKSPEC))
      assert(ok, "luarocks make failed:\n" .. out)

      local tree = tmp .. "/tree"
      ok, out = sh(('LUA_PATH="%s/share/lua/5.4/?.lua;%s/share/lua/5.4/?/init.lua;;" ' ..
        'LUA_CPATH="%s/lib/lua/5.4/?.so;;" lua5.4 -e \'' ..
        'local h = require "hypersub"; ' ..
        'local n = assert(h.node{listen = "127.0.0.1:0", log_level = "off"}); ' ..
        'local c = assert(h.connect("127.0.0.1:" .. n:port())); ' ..
        'assert(c:create_publisher "p"); c:close(); n:close(); print "ok"\'')
        :format(tree, tree, tree))
      assert(ok and out:match("^ok\n$"), "the installed rock did not work:\n" .. out)
    end)
    sh("rm -rf " .. tmp)
    assert(finally_ok, err)
  end)
end)
