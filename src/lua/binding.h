/* binding — what the Lua binding files share: error shaping, callbacks into
 * Lua on the main thread, the loop. Binding only: no protocol logic here. */
#ifndef HS_BINDING_H
#define HS_BINDING_H

#include <lauxlib.h>
#include <lua.h>
#include <luv/luv.h>

#include "hypersub.h"


/* Pushes nil, "CODE: message", "CODE" and returns 3. */
int binding_error(lua_State *L, int code, const char *msg, size_t len);
/* binding_error with a formatted message. */
int binding_errorf(lua_State *L, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The state's main thread: callbacks run there, never on a coroutine. */
lua_State *binding_main(lua_State *L);
uv_loop_t *binding_loop(lua_State *L);

/* Calls the function under its nargs arguments the way luv calls its own
 * callbacks (an error there is reported the luv way). */
void binding_call(lua_State *L, int nargs);
/* Calls a hook: an error is printed to stderr (at most a few per second)
 * and otherwise ignored, so a failing hook never stops a node. */
void binding_call_hook(lua_State *L, int nargs, const char *what);

/* Like binding_call_hook with nresults results; returns 0 when the call
 * succeeded (results on the stack), else -1 (reported, nothing pushed). */
int binding_pcall_hook(lua_State *L, int nargs, int nresults,
                       const char *what);
/* The same with the failure (what failed, the error with its traceback)
 * handed to report instead of stderr (NULL: stderr). */
typedef void (*binding_report_fn)(void *ud, const char *what,
                                  const char *error);
int binding_pcall_report(lua_State *L, int nargs, int nresults,
                         const char *what, binding_report_fn report,
                         void *ud);

/* A name argument (id or topic): raises unless a string; returns NULL and
 * pushes the INVALID error triple when it breaks the character set. */
const char *binding_check_name(lua_State *L, int arg, const char *what);

int binding_open_node(lua_State *L);   /* adds node() to the table on top */
int binding_open_client(lua_State *L); /* adds client() */

#endif
