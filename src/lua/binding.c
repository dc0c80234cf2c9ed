/* binding — what the binding files share: error triples, callbacks into
 * Lua on the main thread, the loop, option and name checks. */
#include "binding.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int binding_error(lua_State *L, int code, const char *msg, size_t len) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s: ", hs_err_name(code));
  lua_pushlstring(L, msg, len);
  lua_concat(L, 2);
  lua_pushstring(L, hs_err_name(code));
  return 3;
}

int binding_errorf(lua_State *L, int code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  return binding_error(L, code, msg, (size_t)n);
}

lua_State *binding_main(lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  lua_State *main = lua_tothread(L, -1);
  lua_pop(L, 1);
  return main;
}

uv_loop_t *binding_loop(lua_State *L) { return luv_loop(L); }

void binding_call(lua_State *L, int nargs) {
  luv_context(L)->cb_pcall(L, nargs, 0, 0);
}

static int traceback(lua_State *L) {
  luaL_traceback(L, L, lua_tostring(L, 1), 1);
  return 1;
}

int binding_pcall_hook(lua_State *L, int nargs, int nresults,
                       const char *what) {
  static time_t window;
  static int printed;
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  if (lua_pcall(L, nargs, nresults, base) != LUA_OK) {
    time_t now = time(NULL);
    if (now != window) {
      window = now;
      printed = 0;
    }
    if (printed++ < 5)
      fprintf(stderr, "hypersub: error in %s (ignored): %s\n", what,
              lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_remove(L, base);
    return -1;
  }
  lua_remove(L, base);
  return 0;
}

void binding_call_hook(lua_State *L, int nargs, const char *what) {
  binding_pcall_hook(L, nargs, 0, what);
}

lua_Integer binding_opt_int(lua_State *L, int idx, const char *key,
                            lua_Integer def, lua_Integer lo, lua_Integer hi) {
  if (lua_isnoneornil(L, idx)) return def;
  lua_getfield(L, idx, key);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return def;
  }
  int ok;
  lua_Integer v = lua_tointegerx(L, -1, &ok);
  lua_pop(L, 1);
  if (!ok) luaL_error(L, "option '%s' must be an integer", key);
  if (v < lo || v > hi)
    luaL_error(L, "option '%s' must be within %I..%I (got %I)", key, lo, hi, v);
  return v;
}

const char *binding_opt_str(lua_State *L, int idx, const char *key,
                            const char *def) {
  if (lua_isnoneornil(L, idx)) return def;
  lua_getfield(L, idx, key);
  const char *s = def;
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "option '%s' must be a string", key);
    s = lua_tostring(L, -1);
  }
  lua_pop(L, 1); /* the table still holds the string */
  return s;
}

const char *binding_check_name(lua_State *L, int arg, const char *what) {
  size_t n;
  const char *s = luaL_checklstring(L, arg, &n);
  if (hs_name_check(s, n) == 0 && strlen(s) == n) return s;
  binding_errorf(L, HS_EINVALID,
                 "%s must be 1-255 bytes of printable ASCII without space, "
                 "'\"' or '\\' (got %zu bytes)",
                 what, n);
  return NULL;
}
