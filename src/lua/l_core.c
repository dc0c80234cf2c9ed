/* l_core — luaopen_hypersub_core: the C module behind require "hypersub".
 *
 * It shares luv's loop: luv is required first (its loop does not exist
 * before), and a registry reference keeps luv's module alive for as long as
 * the state lives, so unloading and re-requiring luv cannot free the loop
 * under our handles. */
#include <signal.h>

#include "binding.h"
#include "l_options.h"

/* Writing to a socket whose peer left raises SIGPIPE, which kills the
 * process by default; libuv reports EPIPE instead once it is ignored. A
 * handler the host program installed is left alone. */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGPIPE, &sa, NULL);
  }
}

/* core.loop_running() -> true while luv's uv.run() is on the stack */
static int l_loop_running(lua_State *L) {
  lua_pushboolean(L, luv_context(L)->mode != -1);
  return 1;
}

/* Finalised when the state closes, before luv's loop (created earlier, so
 * finalised later): close callbacks still pending then would run inside
 * luv's own finaliser and crash luv 1.44, so let them run now, while the
 * state is whole. */
static int l_sentinel_gc(lua_State *L) {
  uv_loop_t *loop = luv_loop(L);
  if (loop && luv_context(L)->mode == -1) uv_run(loop, UV_RUN_NOWAIT);
  return 0;
}

static void install_sentinel(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, "hypersub.sentinel") != LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  lua_pop(L, 1);
  lua_newuserdatauv(L, 1, 0);
  lua_newtable(L);
  lua_pushcfunction(L, l_sentinel_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, "hypersub.sentinel");
}

/* core.check_name(s) -> true | nil, message, "INVALID" */
static int l_check_name(lua_State *L) {
  if (!binding_check_name(L, 1, luaL_optstring(L, 2, "name"))) return 3;
  lua_pushboolean(L, 1);
  return 1;
}

/* The cube's dimension for ids up to max_id: its bit length. */
static unsigned dim_of(uint32_t max_id) {
  unsigned d = 0;
  while (d < 32 && (max_id >> d) != 0) d++;
  return d;
}

/* core.placement(topic, {ids...} [, copies]) -> {ids in preference order}
 * The same rule the nodes use (hs_placement): home first, then the
 * replicas. With copies, only that many; copies = 0 means "neighbours"
 * (D + 1, D the dimension of the largest id). */
static int l_placement(lua_State *L) {
  size_t tn;
  const char *topic = luaL_checklstring(L, 1, &tn);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer copies = luaL_optinteger(L, 3, -1);
  size_t n = lua_rawlen(L, 2);
  luaL_argcheck(L, n <= HS_ID_MAX + 1, 2, "too many ids");
  uint32_t *ids = lua_newuserdatauv(L, (n ? n : 1) * sizeof *ids, 0);
  uint32_t max = 0;
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 2, (lua_Integer)i + 1);
    int ok;
    lua_Integer id = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    luaL_argcheck(L, ok && id >= 0 && id <= HS_ID_MAX, 2,
                  "ids must be integers in 0..2^20-1");
    ids[i] = (uint32_t)id;
    if (ids[i] > max) max = ids[i];
  }
  hs_placement(topic, tn, ids, n);
  size_t keep = n;
  if (copies == 0) copies = dim_of(max) + 1;
  if (copies > 0 && (size_t)copies < keep) keep = (size_t)copies;
  lua_createtable(L, (int)keep, 0);
  for (size_t i = 0; i < keep; i++) {
    lua_pushinteger(L, ids[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  return 1;
}

/* core.cube_hash(s) -> the 64-bit placement hash, as an integer */
static int l_cube_hash(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_pushinteger(L, (lua_Integer)hs_hash(s, n));
  return 1;
}

/* core.password_hash(password [, ops, mem_kib]) -> the verifier a node's
 * users option takes (a fresh salt each time). */
static int l_password_hash(lua_State *L) {
  const char *pw = luaL_checkstring(L, 1);
  lua_Integer ops = luaL_optinteger(L, 2, 0), mem = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, ops >= 0 && ops <= UINT32_MAX, 2, "ops out of range");
  luaL_argcheck(L, mem >= 0 && mem <= UINT32_MAX, 3, "mem_kib out of range");
  char out[256];
  int rc = hs_password_hash(pw, (uint32_t)ops, (uint32_t)mem, out, sizeof out);
  if (rc) return luaL_error(L, "password_hash: %s", hs_err_message(rc));
  lua_pushstring(L, out);
  return 1;
}

static void push_errors(lua_State *L) {
  lua_newtable(L);
#define PUSH_ERR(name, num, msg) \
  lua_pushinteger(L, -(num));    \
  lua_setfield(L, -2, #name);
  HS_ERRORS(PUSH_ERR)
#undef PUSH_ERR
}

HS_API int luaopen_hypersub_core(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luv");
  lua_call(L, 1, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "hypersub.luv");
  if (!luv_loop(L)) return luaL_error(L, "luv has no loop");
  install_sentinel(L);
  ignore_sigpipe();

  lua_newtable(L);
  binding_open_node(L);
  l_options_push(L);
  lua_setfield(L, -2, "node_options");
  binding_open_client(L);
  lua_pushcfunction(L, l_loop_running);
  lua_setfield(L, -2, "loop_running");
  lua_pushcfunction(L, l_check_name);
  lua_setfield(L, -2, "check_name");
  lua_pushcfunction(L, l_placement);
  lua_setfield(L, -2, "placement");
  lua_pushcfunction(L, l_cube_hash);
  lua_setfield(L, -2, "cube_hash");
  lua_pushcfunction(L, l_password_hash);
  lua_setfield(L, -2, "password_hash");
  push_errors(L);
  lua_setfield(L, -2, "errors");
  lua_pushliteral(L, HS_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushinteger(L, HS_WIRE_VERSION);
  lua_setfield(L, -2, "wire_version");
  return 1;
}
