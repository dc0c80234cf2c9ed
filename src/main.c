/* hypersub — the runtime: Lua 5.4 with luv, cjson and the core preloaded.
 *
 *   hypersub SCRIPT.lua [ARGS]   run a script, then the loop until idle
 *   hypersub node [FLAGS]        run a node
 *   hypersub --help
 *
 * The command line is handled by lua/hypersub/cli.lua; this file only sets
 * up the state: luv opened first (it creates the loop), the core linked in
 * and registered in package.preload, the Lua modules found relative to
 * the binary (a build tree, or where `make install` or a rock put them). */
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <lualib.h>
#include <luv/luv.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int luaopen_hypersub_core(lua_State *L);

/* Lua modules beside the binary, in the first of these that holds
 * hypersub/init.lua: the source tree's lua/ (build/hypersub), an
 * installation's share/lua/5.4 (PREFIX/bin, a rock tree's bin), the source
 * tree's lua/ again (build/asan/hypersub). Nothing is baked in at build time, so an installed
 * or moved binary finds its own modules. */
static const char *const lua_dirs[] = {"/../lua", "/../share/lua/5.4",
                                       "/../../lua"};

/* Prepends the first of lua_dirs, relative to the executable, that holds
 * the modules; the default path (Debian's lua5.4 dirs) follows. */
static void set_paths(lua_State *L, const char *argv0) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    strncpy(exe, argv0, sizeof exe - 1);
    n = (ssize_t)strlen(exe);
  }
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  lua_getglobal(L, "package");
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < sizeof lua_dirs / sizeof lua_dirs[0]; i++) {
    char dir[PATH_MAX + 32];
    int len =
        snprintf(dir, sizeof dir, "%s%s/hypersub/init.lua", exe, lua_dirs[i]);
    if (len > 0 && (size_t)len < sizeof dir && access(dir, R_OK) == 0) {
      luaL_addstring(&b, exe);
      luaL_addstring(&b, lua_dirs[i]);
      luaL_addstring(&b, "/?.lua;");
      luaL_addstring(&b, exe);
      luaL_addstring(&b, lua_dirs[i]);
      luaL_addstring(&b, "/?/init.lua;");
      break;
    }
  }
  lua_getfield(L, -2, "path");
  luaL_addvalue(&b);
  luaL_pushresult(&b);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

static int traceback(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
  return 1;
}

/* Protected part: require the CLI and hand it the arguments. */
static int run(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "hypersub.cli");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "main");
  lua_createtable(L, argc, 0);
  for (int i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_pushstring(L, argv[0]);
  lua_rawseti(L, -2, 0);
  lua_call(L, 1, 1);
  return 1;
}

/* A node holds a socket per connection: take every file descriptor the
 * system allows this process (the soft limit is often 1024 of a far
 * higher hard one). */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

int main(int argc, char **argv) {
  raise_fd_limit();
  lua_State *L = luaL_newstate();
  if (!L) {
    fputs("hypersub: cannot create a Lua state\n", stderr);
    return 1;
  }
  luaL_openlibs(L);
  set_paths(L, argv[0]);
  luaL_requiref(L, "luv", luaopen_luv, 0); /* creates luv's loop */
  lua_pop(L, 1);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  lua_pushcfunction(L, luaopen_hypersub_core);
  lua_setfield(L, -2, "hypersub.core");
  lua_pop(L, 2);

  lua_pushcfunction(L, traceback);
  lua_pushcfunction(L, run);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = 0;
  if (lua_pcall(L, 2, 1, 1) != LUA_OK) {
    fprintf(stderr, "hypersub: %s\n", lua_tostring(L, -1));
    status = 1;
  } else {
    status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  }
  lua_close(L); /* closes the core's handles, then luv's loop */
  return status;
}
