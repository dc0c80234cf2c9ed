-- hypersub for luarocks: the Lua modules and the C module hypersub.core,
-- for a stock lua5.4. Built from a checkout, no download:
--
--   luarocks --lua-version 5.4 make --deps-mode=none rockspec/hypersub-scm-1.rockspec
--
-- (run from the repository root: `luarocks make` takes the current directory
-- as the sources and builds them with the Makefile, under build/). luv,
-- lua-cjson, libuv and http-parser come from Debian (lua-luv, lua-luv-dev,
-- lua-cjson, libuv1-dev, libhttp-parser-dev), not from luarocks: hence
-- --deps-mode=none.
rockspec_format = "3.0"
package = "hypersub"
version = "scm-1"

source = {
  -- Not published: `luarocks make` builds the checkout it runs in.
  url = ".",
}

description = {
  license = "MIT",
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
  -- lua-luv-dev), lua-cjson, libuv (libuv1-dev), http-parser
  -- (libhttp-parser-dev).
}

external_dependencies = {
  LIBUV = { header = "uv.h", library = "uv" },
  HTTP_PARSER = { header = "http_parser.h", library = "http_parser" },
}

build = {
  -- The Makefile builds the core (every src/<layer>/*.c), the binding and
  -- the runtime, and installs them with the Lua modules into the tree.
  type = "make",
  build_target = "runtime",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LUA_INC = "$(LUA_INCDIR)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    BIN_DIR = "$(BINDIR)",
    LIB_DIR = "$(LIBDIR)",
    LUA_DIR = "$(LUADIR)",
  },
}
