/* l_core — luaopen_hypersub_core: the C module behind require "hypersub".
 *
 * It shares luv's loop: luv is required first (its loop does not exist
 * before), and a registry reference keeps luv's module alive for as long as
 * the state lives, so unloading and re-requiring luv cannot free the loop
 * under our handles. */
#include "binding.h"
#include "wire.h"

/* core.loop_running() -> true while luv's uv.run() is on the stack */
static int l_loop_running(lua_State *L) {
  lua_pushboolean(L, luv_context(L)->mode != -1);
  return 1;
}

/* core.check_name(s) -> true | nil, message, "INVALID" */
static int l_check_name(lua_State *L) {
  if (!binding_check_name(L, 1, luaL_optstring(L, 2, "name"))) return 3;
  lua_pushboolean(L, 1);
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

HS_LUA_API int luaopen_hypersub_core(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luv");
  lua_call(L, 1, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "hypersub.luv");
  if (!luv_loop(L)) return luaL_error(L, "luv has no loop");

  lua_newtable(L);
  binding_open_node(L);
  binding_open_client(L);
  lua_pushcfunction(L, l_loop_running);
  lua_setfield(L, -2, "loop_running");
  lua_pushcfunction(L, l_check_name);
  lua_setfield(L, -2, "check_name");
  push_errors(L);
  lua_setfield(L, -2, "errors");
  lua_pushliteral(L, HS_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushinteger(L, HS_WIRE_VERSION);
  lua_setfield(L, -2, "wire_version");
  return 1;
}
