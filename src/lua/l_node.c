/* l_node — a node as Lua userdata ("hypersub.node").
 *
 * The userdata holds the C node pointer and the Lua references of its hooks.
 * A running node keeps a reference to itself, like an active luv handle, so
 * a script may drop its variable and the node keeps serving until it stops
 * or is closed. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "binding.h"
#include "l_options.h"

#define NODE_MT "hypersub.node"

typedef struct l_node {
  hs_node_t *node; /* NULL once closed */
  lua_State *L;    /* main thread */
  int self_ref;
  int log_ref;
  int state_ref;
  int policy_ref;  /* the policy module (a table) */
  int cache_ref;   /* target -> next hop, for policy_epoch */
  uint64_t policy_epoch;
  time_t error_window; /* policy errors logged in this second */
  unsigned errors_logged, errors_suppressed;
} l_node_t;

/* Policy errors a second that reach the log; the rest are counted. */
#define POLICY_ERRORS_LOGGED 5

static l_node_t *check_node(lua_State *L) {
  l_node_t *n = luaL_checkudata(L, 1, NODE_MT);
  if (!n->node) luaL_error(L, "attempt to use a closed node");
  return n;
}

static void unref(lua_State *L, int *ref) {
  luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

/* ---- hooks ------------------------------------------------------------- */

static void push_field(lua_State *L, const hs_log_field_t *f) {
  switch (f->type) {
    case HS_FIELD_STR:
      lua_pushlstring(L, f->s, f->n);
      break;
    case HS_FIELD_INT:
      lua_pushinteger(L, (lua_Integer)f->i);
      break;
    default:
      lua_pushinteger(L, (lua_Integer)f->u);
      break;
  }
}

static void on_log(const hs_log_event_t *ev, void *ud) {
  l_node_t *n = ud;
  lua_State *L = n->L;
  if (n->log_ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, n->log_ref);
  lua_createtable(L, 0, 6 + (int)ev->n_fields);
  for (size_t i = 0; i < ev->n_fields; i++) {
    push_field(L, &ev->fields[i]);
    lua_setfield(L, -2, ev->fields[i].key);
  }
  /* The fixed keys win over fields of the same name. */
  lua_pushinteger(L, (lua_Integer)ev->time_ms);
  lua_setfield(L, -2, "time");
  lua_pushstring(L, hs_log_level_name(ev->level));
  lua_setfield(L, -2, "level");
  lua_pushinteger(L, (lua_Integer)ev->node);
  lua_setfield(L, -2, "node");
  lua_pushstring(L, ev->component);
  lua_setfield(L, -2, "component");
  lua_pushstring(L, ev->event);
  lua_setfield(L, -2, "event");
  binding_call_hook(L, 1, "log hook");
}

/* ---- routing policy ---------------------------------------------------- */

/* A policy that raised: a warning in the node's own log (at most a few a
 * second, then how many were left out); the C default is used. */
static void policy_failed(void *ud, const char *what, const char *error) {
  l_node_t *n = ud;
  time_t now = time(NULL);
  if (now != n->error_window) {
    n->error_window = now;
    n->errors_logged = 0;
  }
  if (n->errors_logged >= POLICY_ERRORS_LOGGED) {
    n->errors_suppressed++;
    return;
  }
  n->errors_logged++;
  size_t len = strlen(error);
  const hs_log_field_t fields[] = {
      {.key = "hook", .type = HS_FIELD_STR, .s = what, .n = strlen(what)},
      {.key = "error", .type = HS_FIELD_STR, .s = error,
       .n = len < 400 ? len : 400},
      {.key = "suppressed", .type = HS_FIELD_UINT, .u = n->errors_suppressed},
  };
  n->errors_suppressed = 0;
  hs_node_log(n->node, HS_LOG_WARN, "policy", "policy_failed", fields, 3);
}

/* view argument of policy.next_hop: {epoch=, dim=, self=, members =
 * {{id=, addr=, state=}, ...}, alive = {[id] = true}} */
static void push_view(lua_State *L, hs_node_t *node) {
  size_t n = hs_node_members(node, NULL, 0);
  hs_member_t *ms = lua_newuserdatauv(L, (n ? n : 1) * sizeof *ms, 0);
  hs_node_members(node, ms, n);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, (lua_Integer)hs_node_epoch(node));
  lua_setfield(L, -2, "epoch");
  lua_pushinteger(L, hs_node_dim(node));
  lua_setfield(L, -2, "dim");
  lua_pushinteger(L, hs_node_id(node));
  lua_setfield(L, -2, "self");
  lua_createtable(L, (int)n, 0);
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, ms[i].id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, ms[i].addr);
    lua_setfield(L, -2, "addr");
    lua_pushstring(L, ms[i].state);
    lua_setfield(L, -2, "state");
    lua_rawseti(L, -3, (lua_Integer)i + 1);
    if (!strcmp(ms[i].state, "alive") || !strcmp(ms[i].state, "suspect")) {
      lua_pushboolean(L, 1);
      lua_rawseti(L, -2, ms[i].id);
    }
  }
  lua_setfield(L, -3, "alive");
  lua_setfield(L, -2, "members");
  lua_remove(L, -2); /* the members block */
}

/* Asks the policy once per target and view epoch; the answer is cached in
 * a Lua table, so the hot path reads a table slot, not a function call. */
static uint32_t on_next_hop(hs_node_t *node, uint32_t target, void *ud) {
  l_node_t *n = ud;
  lua_State *L = n->L;
  uint64_t epoch = hs_node_epoch(node);
  if (n->cache_ref == LUA_NOREF || n->policy_epoch != epoch) {
    luaL_unref(L, LUA_REGISTRYINDEX, n->cache_ref);
    lua_newtable(L);
    n->cache_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    n->policy_epoch = epoch;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, n->cache_ref);
  if (lua_rawgeti(L, -1, target) == LUA_TNUMBER) {
    uint32_t next = (uint32_t)lua_tointeger(L, -1);
    lua_pop(L, 2);
    return next;
  }
  lua_pop(L, 1);
  int top = lua_gettop(L);
  uint32_t next = UINT32_MAX; /* the C default */
  lua_rawgeti(L, LUA_REGISTRYINDEX, n->policy_ref);
  lua_getfield(L, -1, "next_hop");
  lua_insert(L, -2); /* next_hop(self = the policy module, target, view) */
  lua_pushinteger(L, target);
  push_view(L, node);
  if (binding_pcall_report(L, 3, 1, "next_hop", policy_failed, n) == 0) {
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (ok && v >= 0 && v <= UINT32_MAX) next = (uint32_t)v;
    lua_pop(L, 1);
  }
  lua_settop(L, top);
  lua_pushinteger(L, next);
  lua_rawseti(L, -2, target);
  lua_pop(L, 1);
  return next;
}

/* policy.read_replica(self, topic, candidates, stats): candidates are the
 * topic's live copies, home first; stats[id] = {hops = cube hops from this
 * node, reads = pulls this node has sent to it}. Asked once per pull (the
 * policy asked for it); an error or nil gives the C default. */
static uint32_t on_read_replica(hs_node_t *node, const char *topic,
                                size_t topic_len, const uint32_t *ids,
                                const uint32_t *hops, const uint64_t *reads,
                                size_t n, void *ud) {
  l_node_t *ln = ud;
  lua_State *L = ln->L;
  (void)node;
  int top = lua_gettop(L);
  uint32_t pick = UINT32_MAX;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ln->policy_ref);
  lua_getfield(L, -1, "read_replica");
  lua_insert(L, -2); /* read_replica(self = the policy module, ...) */
  lua_pushlstring(L, topic, topic_len);
  lua_createtable(L, (int)n, 0);
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, ids[i]);
    lua_rawseti(L, -3, (lua_Integer)i + 1);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, hops[i]);
    lua_setfield(L, -2, "hops");
    lua_pushinteger(L, (lua_Integer)reads[i]);
    lua_setfield(L, -2, "reads");
    lua_rawseti(L, -2, ids[i]);
  }
  if (binding_pcall_report(L, 4, 1, "read_replica", policy_failed, ln) ==
      0) {
    int ok;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    if (ok && v >= 0 && v <= UINT32_MAX) pick = (uint32_t)v;
  }
  lua_settop(L, top);
  return pick;
}

static const char *state_name(hs_node_state_t s) {
  return s == HS_NODE_RUNNING   ? "running"
         : s == HS_NODE_STOPPED  ? "stopped"
         : s == HS_NODE_JOINING  ? "joining"
                                 : "restarting";
}

static void on_state(hs_node_t *node, hs_node_state_t state, void *ud) {
  l_node_t *n = ud;
  lua_State *L = n->L;
  (void)node;
  if (n->state_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, n->state_ref);
    lua_pushstring(L, state_name(state));
    binding_call_hook(L, 1, "state hook");
  }
  /* A node stopped for good no longer pins itself. */
  if (state == HS_NODE_STOPPED) unref(L, &n->self_ref);
}

/* ---- construction ------------------------------------------------------- */

static void release(lua_State *L, l_node_t *n) {
  if (n->node) hs_node_free(n->node);
  n->node = NULL;
  unref(L, &n->log_ref);
  unref(L, &n->state_ref);
  unref(L, &n->policy_ref);
  unref(L, &n->cache_ref);
  unref(L, &n->self_ref);
}

static l_node_t *push_node(lua_State *L) {
  l_node_t *n = lua_newuserdatauv(L, sizeof *n, 0);
  memset(n, 0, sizeof *n);
  n->self_ref = n->log_ref = n->state_ref = LUA_NOREF;
  n->policy_ref = n->cache_ref = LUA_NOREF;
  n->L = binding_main(L);
  luaL_setmetatable(L, NODE_MT);
  return n;
}

/* The policy option (checked with the others) gets the node's hooks. */
static void install_policy(lua_State *L, int opts, l_node_t *n) {
  if (lua_getfield(L, opts, "policy") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  int next_hop = lua_getfield(L, -1, "next_hop") == LUA_TFUNCTION;
  int read_replica = lua_getfield(L, -2, "read_replica") == LUA_TFUNCTION;
  lua_pop(L, 2);
  n->policy_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (next_hop) hs_node_set_next_hop(n->node, on_next_hop, n);
  if (read_replica) hs_node_set_read_replica(n->node, on_read_replica, n);
  const hs_log_field_t fields[] = {
      {.key = "next_hop", .type = HS_FIELD_UINT, .u = (uint64_t)next_hop},
      {.key = "read_replica", .type = HS_FIELD_UINT, .u = (uint64_t)read_replica},
  };
  hs_node_log(n->node, HS_LOG_INFO, "policy", "policy_loaded", fields, 2);
}

/* core.node(opts [, log_hook]) -> node | nil, message, code. Starts
 * listening; the options are l_options.c's. */
static int l_node_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  hs_node_config_t cfg;
  l_options_read(L, 1, &cfg); /* what it leaves on the stack stays there */
  char why[400];
  int rc = hs_node_check_config(&cfg, why, sizeof why);
  if (rc) return binding_errorf(L, rc, "could not create the node: %s", why);
  l_node_t *n = push_node(L);
  rc = hs_node_create(binding_loop(L), &cfg, &n->node, why, sizeof why);
  if (rc == HS_EIO && cfg.log_file && !why[0])
    snprintf(why, sizeof why, "cannot open log file %s", cfg.log_file);
  if (rc) return binding_errorf(L, rc, "could not create the node: %s", why);
  hs_node_on_state(n->node, on_state, n);
  install_policy(L, 1, n);
  if (lua_isfunction(L, 2)) { /* a log hook before the first event */
    lua_pushvalue(L, 2);
    n->log_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    hs_node_set_log_hook(n->node, on_log, n, cfg.log_level);
  }
  rc = hs_node_start(n->node);
  if (rc) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", hs_node_last_error(n->node));
    release(L, n);
    return binding_error(L, rc, msg, strlen(msg));
  }
  lua_pushvalue(L, -1);
  n->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

/* ---- methods ------------------------------------------------------------ */

static int l_node_port(lua_State *L) {
  lua_pushinteger(L, hs_node_port(check_node(L)->node));
  return 1;
}

/* node:http_port() -> the monitoring port's bound port, 0 when none */
static int l_node_http_port(lua_State *L) {
  lua_pushinteger(L, hs_node_http_port(check_node(L)->node));
  return 1;
}

static int l_node_id(lua_State *L) {
  lua_pushinteger(L, hs_node_id(check_node(L)->node));
  return 1;
}

/* node:last_error() -> what the last failure was about ("" if none). */
static int l_node_last_error(lua_State *L) {
  lua_pushstring(L, hs_node_last_error(check_node(L)->node));
  return 1;
}

static int l_node_state(lua_State *L) {
  l_node_t *n = luaL_checkudata(L, 1, NODE_MT);
  lua_pushstring(L, n->node ? state_name(hs_node_state(n->node)) : "closed");
  return 1;
}

/* node:stop([restart_after_ms]) -> true | nil, message, code */
static int l_node_stop(lua_State *L) {
  l_node_t *n = check_node(L);
  lua_Integer after = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, after >= 0 && after <= UINT32_MAX, 2, "out of range");
  if (hs_node_stop(n->node, (uint32_t)after))
    return binding_errorf(L, HS_EINVALID, "node %u is not running",
                          hs_node_id(n->node));
  lua_pushboolean(L, 1);
  return 1;
}

/* node:leave() -> true | nil, message, code: hands its topics over and
 * stops, as LEAVE does (on_state hears "stopped"). */
static int l_node_leave(lua_State *L) {
  l_node_t *n = check_node(L);
  if (hs_node_leave(n->node))
    return binding_errorf(L, HS_EINVALID, "node %u is not running or leaves already",
                          hs_node_id(n->node));
  lua_pushboolean(L, 1);
  return 1;
}

/* node:on_log(fn [, level]) — fn(event) gets each event as a table; nil
 * removes the hook. */
static int l_node_on_log(lua_State *L) {
  l_node_t *n = check_node(L);
  const char *level = luaL_optstring(L, 3, "info");
  int lv = hs_log_level_parse(level);
  luaL_argcheck(L, lv >= 0, 3, "debug, info, warn, error or off");
  unref(L, &n->log_ref);
  if (lua_isnoneornil(L, 2)) {
    hs_node_set_log_hook(n->node, NULL, NULL, HS_LOG_OFF);
    return 0;
  }
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  n->log_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  hs_node_set_log_hook(n->node, on_log, n, (hs_log_level_t)lv);
  return 0;
}

/* node:on_state(fn) — fn("stopped" | "restarting" | "running") */
static int l_node_on_state(lua_State *L) {
  l_node_t *n = check_node(L);
  unref(L, &n->state_ref);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    n->state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  return 0;
}

/* node:stats_json() -> the node's stats as a JSON string */
static int l_node_stats_json(lua_State *L) {
  l_node_t *n = check_node(L);
  size_t len;
  const char *json = hs_node_stats_json(n->node, &len);
  if (!json) return binding_errorf(L, HS_ENOMEM, "out of memory");
  lua_pushlstring(L, json, len);
  return 1;
}

static int l_node_close(lua_State *L) {
  l_node_t *n = luaL_checkudata(L, 1, NODE_MT);
  if (n->node) release(L, n);
  return 0;
}

static int l_node_tostring(lua_State *L) {
  l_node_t *n = luaL_checkudata(L, 1, NODE_MT);
  if (n->node)
    lua_pushfstring(L, "hypersub.node %d (port %d, %s)",
                    (int)hs_node_id(n->node), hs_node_port(n->node),
                    state_name(hs_node_state(n->node)));
  else
    lua_pushliteral(L, "hypersub.node (closed)");
  return 1;
}

static const luaL_Reg node_methods[] = {
    {"port", l_node_port},         {"id", l_node_id},
    {"state", l_node_state},       {"stop", l_node_stop},
    {"on_log", l_node_on_log},     {"on_state", l_node_on_state},
    {"stats_json", l_node_stats_json}, {"close", l_node_close},
    {"last_error", l_node_last_error}, {"leave", l_node_leave},
    {"http_port", l_node_http_port},
    {NULL, NULL}};

int binding_open_node(lua_State *L) {
  if (luaL_newmetatable(L, NODE_MT)) {
    luaL_newlib(L, node_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_node_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_node_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_node_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_node_new);
  lua_setfield(L, -2, "node");
  return 0;
}
