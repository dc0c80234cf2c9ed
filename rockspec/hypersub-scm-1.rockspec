-- hypersub for luarocks: the Lua modules and the C module hypersub.core,
-- for a stock lua5.4. Built from a checkout, no download:
--
--   luarocks --lua-version 5.4 make --deps-mode=none rockspec/hypersub-scm-1.rockspec
--
-- (run from the repository root: `luarocks make` takes the current directory
-- as the sources, and leaves src/*.o, src/lua/*.o and hypersub/core.so
-- there). Compiled with luarocks' CFLAGS (-O2 -fPIC), not the Makefile's:
-- no -fvisibility=hidden, so the core's internal symbols are exported too. luv, lua-cjson and libuv come from Debian (lua-luv,
-- lua-luv-dev, lua-cjson, libuv1-dev), not from luarocks: hence
-- --deps-mode=none. The `hypersub` runtime binary is not built here; `make
-- install` installs it.
--
-- Every source is listed by name: a new src/*.c (other than src/main.c),
-- src/lua/*.c or lua/hypersub/*.lua must be added below;
-- spec/rockspec_spec.lua fails until it is.
rockspec_format = "3.0"
package = "hypersub"
version = "scm-1"

source = {
  url = "git+file:///dev/null", -- unused: `luarocks make` builds the checkout
}

description = {
  summary = "A peer-to-peer, topic-based publish/subscribe system: C core on libuv, Lua 5.4 API",
  detailed = [[
hypersub is a topic-based publish/subscribe system with a C core on libuv
and a Lua 5.4 API. Nodes form a hypercube: any node takes any request and
carries it to the topic's home, and topics are replicated to the nodes
nearest to it. A dead node's topics fail over to their replicas, nodes
join and leave while the cluster serves, and a minority side of a
partition refuses rather than diverges.
]],
}

dependencies = {
  "lua >= 5.4",
  -- Also needed, from Debian rather than luarocks: luv (lua-luv,
  -- lua-luv-dev), lua-cjson, libuv (libuv1-dev).
}

external_dependencies = {
  LIBUV = { header = "uv.h", library = "uv" },
}

build = {
  type = "builtin",
  modules = {
    ["hypersub.core"] = {
      sources = {
        -- the C core: src/*.c except src/main.c (the runtime)
        "src/buf.c",
        "src/client.c",
        "src/cluster.c",
        "src/conn.c",
        "src/cube.c",
        "src/errors.c",
        "src/health.c",
        "src/list.c",
        "src/log.c",
        "src/map.c",
        "src/membership.c",
        "src/node.c",
        "src/ops.c",
        "src/read.c",
        "src/repl.c",
        "src/route.c",
        "src/stats.c",
        "src/store.c",
        "src/takeover.c",
        "src/view.c",
        "src/wire.c",
        -- the Lua binding
        "src/lua/binding.c",
        "src/lua/l_client.c",
        "src/lua/l_core.c",
        "src/lua/l_node.c",
      },
      -- luv.h is Debian's /usr/include/lua5.4/luv/luv.h, under LUA_INCDIR
      incdirs = { "include", "src", "$(LUA_INCDIR)", "$(LIBUV_INCDIR)" },
      libdirs = { "$(LIBUV_LIBDIR)" },
      -- luv's library shares its loop with the luv module; not liblua5.4,
      -- which the interpreter already holds.
      libraries = { "lua5.4-luv", "uv", "m" },
    },
    hypersub = "lua/hypersub/init.lua",
    ["hypersub.cli"] = "lua/hypersub/cli.lua",
    ["hypersub.cluster"] = "lua/hypersub/cluster.lua",
    ["hypersub.process"] = "lua/hypersub/process.lua",
  },
}
