/* binding — what the binding files share: error triples, callbacks into
 * Lua on the main thread, the loop, name checks. */
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

/* The default report: stderr, at most a few lines a second. */
static void report_to_stderr(void *ud, const char *what, const char *error) {
  static time_t window;
  static int printed;
  (void)ud;
  time_t now = time(NULL);
  if (now != window) {
    window = now;
    printed = 0;
  }
  if (printed++ < 5)
    fprintf(stderr, "hypersub: error in %s (ignored): %s\n", what, error);
}

int binding_pcall_report(lua_State *L, int nargs, int nresults,
                         const char *what, binding_report_fn report,
                         void *ud) {
  int base = lua_gettop(L) - nargs;
  lua_pushcfunction(L, traceback);
  lua_insert(L, base);
  if (lua_pcall(L, nargs, nresults, base) != LUA_OK) {
    const char *error = lua_tostring(L, -1);
    (report ? report : report_to_stderr)(ud, what,
                                         error ? error : "(not a string)");
    lua_pop(L, 1);
    lua_remove(L, base);
    return -1;
  }
  lua_remove(L, base);
  return 0;
}

int binding_pcall_hook(lua_State *L, int nargs, int nresults,
                       const char *what) {
  return binding_pcall_report(L, nargs, nresults, what, NULL, NULL);
}

void binding_call_hook(lua_State *L, int nargs, const char *what) {
  binding_pcall_hook(L, nargs, 0, what);
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
