/* l_client — a client connection as Lua userdata ("hypersub.client").
 *
 * Every request method takes its callback last and returns true at once,
 * or nil, message, code when the request could not even be sent. The
 * callback gets (result) or (nil, "CODE: message", "CODE"). The blocking
 * and coroutine styles are built on this in lua/hypersub/client.lua.
 *
 * A request's callback is held in the registry; its reference and the op
 * travel as the request's user pointer, so a request allocates nothing.
 * While requests are in flight the client holds a reference to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"

#define CLIENT_MT "hypersub.client"

typedef struct l_client {
  hs_client_t *c; /* NULL once closed */
  lua_State *L;   /* main thread */
  int self_ref;
  int connect_ref;
  int in_gc;
} l_client_t;

static l_client_t *check_client(lua_State *L) {
  l_client_t *lc = luaL_checkudata(L, 1, CLIENT_MT);
  if (!lc->c) luaL_error(L, "attempt to use a closed client");
  return lc;
}

/* What a reply gives the callback, by request. */
typedef enum {
  REPLY_DONE = 0,  /* true */
  REPLY_CONNECTED, /* the id of the node that answered the handshake */
  REPLY_OFFSET,    /* a publish's offset */
  REPLY_MESSAGES,  /* a pull's messages */
  REPLY_FETCHED,   /* a fetch's messages, then the offset to read on at */
  REPLY_TEXT,      /* JSON text: stats, view, local topics */
  REPLY_NAMES,     /* one name per line, as a list */
  REPLY_PLACEMENT  /* {home =, replicas =, epoch =} */
} reply_shape_t;

static void *pack(int ref, reply_shape_t shape) {
  return (void *)(((intptr_t)ref << 8) | shape);
}

/* Pins the client while it has work in flight. */
static void update_pin(l_client_t *lc, lua_State *L) {
  int busy = lc->c && (hs_client_pending(lc->c) > 0 ||
                       lc->connect_ref != LUA_NOREF);
  if (busy && lc->self_ref == LUA_NOREF && L) {
    lua_pushvalue(L, 1);
    lc->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  } else if (!busy && lc->self_ref != LUA_NOREF) {
    luaL_unref(lc->L, LUA_REGISTRYINDEX, lc->self_ref);
    lc->self_ref = LUA_NOREF;
  }
}

static void push_messages(lua_State *L, const hs_reply_t *r) {
  lua_createtable(L, (int)r->n_messages, 0);
  for (size_t i = 0; i < r->n_messages; i++) {
    const hs_message_t *m = &r->messages[i];
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)m->offset);
    lua_setfield(L, -2, "offset");
    lua_pushlstring(L, m->data, m->len);
    lua_setfield(L, -2, "data");
    lua_pushlstring(L, m->publisher, m->publisher_len);
    lua_setfield(L, -2, "publisher");
    lua_pushinteger(L, (lua_Integer)m->time_ms);
    lua_setfield(L, -2, "time");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/* Pushes the callback's arguments; returns how many. */
static int push_result(lua_State *L, reply_shape_t shape, const hs_reply_t *r) {
  if (r->status) return binding_error(L, r->status, r->message, r->message_len);
  switch (shape) {
    case REPLY_CONNECTED:
      lua_pushinteger(L, r->node_id);
      break;
    case REPLY_OFFSET:
      lua_pushinteger(L, (lua_Integer)r->offset);
      break;
    case REPLY_MESSAGES:
      push_messages(L, r);
      break;
    case REPLY_FETCHED:
      push_messages(L, r);
      lua_pushinteger(L, (lua_Integer)r->offset);
      return 2;
    case REPLY_TEXT:
      lua_pushlstring(L, r->text, r->text_len);
      break;
    case REPLY_NAMES: {
      lua_newtable(L);
      lua_Integer k = 0;
      const char *p = r->text, *end = r->text + r->text_len;
      while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) nl = end;
        lua_pushlstring(L, p, (size_t)(nl - p));
        lua_rawseti(L, -2, ++k);
        p = nl + 1;
      }
      break;
    }
    case REPLY_PLACEMENT:
      lua_createtable(L, 0, 3);
      lua_pushinteger(L, r->n_nodes ? (lua_Integer)r->nodes[0] : -1);
      lua_setfield(L, -2, "home");
      lua_createtable(L, r->n_nodes ? (int)r->n_nodes - 1 : 0, 0);
      for (size_t i = 1; i < r->n_nodes; i++) {
        lua_pushinteger(L, r->nodes[i]);
        lua_rawseti(L, -2, (lua_Integer)i);
      }
      lua_setfield(L, -2, "replicas");
      lua_pushinteger(L, (lua_Integer)r->epoch);
      lua_setfield(L, -2, "epoch");
      break;
    case REPLY_DONE:
      lua_pushboolean(L, 1);
      break;
  }
  return 1;
}

static void on_reply(hs_client_t *c, const hs_reply_t *r, void *ud) {
  l_client_t *lc = hs_client_data(c);
  lua_State *L = lc->L;
  intptr_t packed = (intptr_t)ud;
  int ref = (int)(packed >> 8);
  reply_shape_t shape = (reply_shape_t)(packed & 0xff);
  if (shape == REPLY_CONNECTED) lc->connect_ref = LUA_NOREF;
  if (lc->in_gc) { /* nobody left to tell */
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  int n = push_result(L, shape, r);
  update_pin(lc, NULL);
  binding_call(L, n);
}

/* Reads core.client's 4th argument: a cluster name, or a table of
 * cluster, user and password. */
static void client_options(lua_State *L, hs_client_config_t *cfg) {
  if (lua_type(L, 4) == LUA_TSTRING) {
    cfg->cluster = lua_tostring(L, 4);
    return;
  }
  if (lua_isnoneornil(L, 4)) return;
  luaL_checktype(L, 4, LUA_TTABLE);
  const char **fields[] = {&cfg->cluster, &cfg->user,     &cfg->password,
                           &cfg->tls_ca,  &cfg->tls_cert, &cfg->tls_key};
  const char *names[] = {"cluster", "user",     "password",
                         "tls_ca",  "tls_cert", "tls_key"};
  lua_getfield(L, 4, "tls");
  cfg->tls = lua_toboolean(L, -1);
  lua_pop(L, 1);
  for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
    lua_getfield(L, 4, names[i]);
    if (lua_type(L, -1) == LUA_TSTRING)
      *fields[i] = lua_tostring(L, -1); /* the table keeps it alive */
    else if (!lua_isnil(L, -1))
      luaL_error(L, "option '%s' must be a string", names[i]);
    lua_pop(L, 1);
  }
}

/* core.client({addr...}, timeout_ms, on_connect [, cluster | {cluster =,
 * user =, password =, tls =, tls_ca =, tls_cert =, tls_key =}])
 *   -> client | nil, msg, code */
static int l_client_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_Integer timeout = luaL_checkinteger(L, 2);
  luaL_argcheck(L, timeout > 0 && timeout <= UINT32_MAX, 2, "out of range");
  luaL_checktype(L, 3, LUA_TFUNCTION);
  size_t n = lua_rawlen(L, 1);
  luaL_argcheck(L, n > 0 && n <= 1024, 1, "expected 1 to 1024 addresses");
  const char **addrs = lua_newuserdatauv(L, n * sizeof *addrs, 0);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "address %d is not a string", (int)i + 1);
    addrs[i] = lua_tostring(L, -1);
    lua_pop(L, 1); /* the table keeps it alive */
  }
  hs_client_config_t cfg;
  hs_client_config_init(&cfg);
  cfg.addrs = addrs;
  cfg.n_addrs = n;
  cfg.timeout_ms = (uint32_t)timeout;
  client_options(L, &cfg);

  l_client_t *lc = lua_newuserdatauv(L, sizeof *lc, 0);
  memset(lc, 0, sizeof *lc);
  lc->L = binding_main(L);
  lc->self_ref = lc->connect_ref = LUA_NOREF;
  luaL_setmetatable(L, CLIENT_MT);
  lua_pushvalue(L, 3);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  int rc = hs_client_new(binding_loop(L), &cfg, on_reply,
                         pack(ref, REPLY_CONNECTED), &lc->c);
  if (rc) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return binding_errorf(L, rc, cfg.tls || cfg.tls_ca
                                     ? "not a usable address list, or TLS "
                                       "files (tls.ca, tls.cert, tls.key) "
                                       "that cannot be read"
                                     : "not a usable address list");
  }
  hs_client_set_data(lc->c, lc);
  lc->connect_ref = ref;
  lua_replace(L, 1); /* the client to slot 1 for update_pin */
  update_pin(lc, L);
  lua_pushvalue(L, 1);
  return 1;
}

/* Takes the callback at `arg`, returns its registry reference. */
static int take_cb(lua_State *L, int arg) {
  luaL_checktype(L, arg, LUA_TFUNCTION);
  lua_pushvalue(L, arg);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Finishes a request method: pins on success, else drops the callback. */
static int sent(lua_State *L, l_client_t *lc, int rc, int ref,
                const char *what) {
  if (rc) {
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    if (rc == HS_ECLOSED) return binding_errorf(L, rc, "the client is closed");
    if (rc == HS_ETOO_LARGE)
      return binding_errorf(L, rc, "%s: too much unsent output", what);
    return binding_errorf(L, rc, "%s: %s", what, hs_err_message(rc));
  }
  update_pin(lc, L);
  lua_pushboolean(L, 1);
  return 1;
}

#define NAME_OR_RETURN(var, arg, what)               \
  const char *var = binding_check_name(L, arg, what); \
  if (!var) return 3

static int l_create_publisher(lua_State *L) {
  l_client_t *lc = check_client(L);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  NAME_OR_RETURN(pid, 2, "publisher id");
  int ref = take_cb(L, 3);
  return sent(L, lc,
              hs_client_create_publisher(lc->c, pid, on_reply,
                                         pack(ref, REPLY_DONE)),
              ref, "create_publisher");
}

static int l_create_subscriber(lua_State *L) {
  l_client_t *lc = check_client(L);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  NAME_OR_RETURN(sid, 2, "subscriber id");
  int ref = take_cb(L, 3);
  return sent(L, lc,
              hs_client_create_subscriber(lc->c, sid, on_reply,
                                          pack(ref, REPLY_DONE)),
              ref, "create_subscriber");
}

static int l_create_topic(lua_State *L) {
  l_client_t *lc = check_client(L);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  NAME_OR_RETURN(pid, 2, "publisher id");
  NAME_OR_RETURN(topic, 3, "topic name");
  int ref = take_cb(L, 4);
  return sent(L, lc,
              hs_client_create_topic(lc->c, pid, topic, on_reply,
                                     pack(ref, REPLY_DONE)),
              ref, "create_topic");
}

static int l_delete_topic(lua_State *L) {
  l_client_t *lc = check_client(L);
  luaL_checktype(L, 4, LUA_TFUNCTION);
  NAME_OR_RETURN(pid, 2, "publisher id");
  NAME_OR_RETURN(topic, 3, "topic name");
  int ref = take_cb(L, 4);
  return sent(L, lc,
              hs_client_delete_topic(lc->c, pid, topic, on_reply,
                                     pack(ref, REPLY_DONE)),
              ref, "delete_topic");
}

/* client:publish(pid, topic, data, ack, cb); ack 0 none, 1 home, 2 all */
static int l_publish(lua_State *L) {
  l_client_t *lc = check_client(L);
  size_t len;
  luaL_checklstring(L, 4, &len);
  lua_Integer ack = luaL_checkinteger(L, 5);
  luaL_argcheck(L, ack >= HS_ACK_NONE && ack <= HS_ACK_ALL, 5, "bad ack");
  luaL_checktype(L, 6, LUA_TFUNCTION);
  NAME_OR_RETURN(pid, 2, "publisher id");
  NAME_OR_RETURN(topic, 3, "topic name");
  const char *data = lua_tostring(L, 4);
  int ref = take_cb(L, 6);
  return sent(L, lc,
              hs_client_publish(lc->c, pid, topic, data, len, (hs_ack_t)ack,
                                on_reply, pack(ref, REPLY_OFFSET)),
              ref, "publish");
}

/* client:subscribe(sid, topic, from, offset, cb); from 0 earliest,
 * 1 latest, 2 offset */
static int l_subscribe(lua_State *L) {
  l_client_t *lc = check_client(L);
  lua_Integer from = luaL_checkinteger(L, 4);
  lua_Integer offset = luaL_checkinteger(L, 5);
  luaL_argcheck(L, from >= 0 && from <= HS_FROM_OFFSET, 4, "bad from");
  luaL_argcheck(L, offset >= 0, 5, "negative offset");
  luaL_checktype(L, 6, LUA_TFUNCTION);
  NAME_OR_RETURN(sid, 2, "subscriber id");
  NAME_OR_RETURN(topic, 3, "topic name");
  int ref = take_cb(L, 6);
  return sent(L, lc,
              hs_client_subscribe(lc->c, sid, topic, (hs_from_t)from,
                                  (uint64_t)offset, on_reply,
                                  pack(ref, REPLY_DONE)),
              ref, "subscribe");
}

/* client:pull(sid, topic, max, wait_ms, cb) */
static int l_pull(lua_State *L) {
  l_client_t *lc = check_client(L);
  lua_Integer max = luaL_checkinteger(L, 4);
  lua_Integer wait = luaL_checkinteger(L, 5);
  luaL_argcheck(L, max >= 0 && max <= UINT32_MAX, 4, "out of range");
  luaL_argcheck(L, wait >= 0 && wait <= UINT32_MAX, 5, "out of range");
  luaL_checktype(L, 6, LUA_TFUNCTION);
  NAME_OR_RETURN(sid, 2, "subscriber id");
  NAME_OR_RETURN(topic, 3, "topic name");
  int ref = take_cb(L, 6);
  return sent(L, lc,
              hs_client_pull(lc->c, sid, topic, (uint32_t)max, (uint32_t)wait,
                             on_reply, pack(ref, REPLY_MESSAGES)),
              ref, "pull");
}

/* client:fetch(topic, offset, max, wait_ms, cb) */
static int l_fetch(lua_State *L) {
  l_client_t *lc = check_client(L);
  lua_Integer offset = luaL_checkinteger(L, 3);
  lua_Integer max = luaL_checkinteger(L, 4);
  lua_Integer wait = luaL_checkinteger(L, 5);
  luaL_argcheck(L, offset >= 0, 3, "negative offset");
  luaL_argcheck(L, max >= 0 && max <= UINT32_MAX, 4, "out of range");
  luaL_argcheck(L, wait >= 0 && wait <= UINT32_MAX, 5, "out of range");
  luaL_checktype(L, 6, LUA_TFUNCTION);
  NAME_OR_RETURN(topic, 2, "topic name");
  int ref = take_cb(L, 6);
  return sent(L, lc,
              hs_client_fetch(lc->c, topic, (uint64_t)offset, (uint32_t)max,
                              (uint32_t)wait, on_reply,
                              pack(ref, REPLY_FETCHED)),
              ref, "fetch");
}

/* client:stop_node(id, restart_after_ms, cb) */
static int l_stop_node(lua_State *L) {
  l_client_t *lc = check_client(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  lua_Integer after = luaL_checkinteger(L, 3);
  luaL_argcheck(L, id >= 0 && id <= UINT32_MAX, 2, "out of range");
  luaL_argcheck(L, after >= 0 && after <= UINT32_MAX, 3, "out of range");
  int ref = take_cb(L, 4);
  return sent(L, lc,
              hs_client_stop_node(lc->c, (uint32_t)id, (uint32_t)after,
                                  on_reply, pack(ref, REPLY_DONE)),
              ref, "stop_node");
}

/* client:leave(id, cb) */
static int l_leave(lua_State *L) {
  l_client_t *lc = check_client(L);
  lua_Integer id = luaL_checkinteger(L, 2);
  luaL_argcheck(L, id >= 0 && id <= UINT32_MAX, 2, "out of range");
  int ref = take_cb(L, 3);
  return sent(L, lc,
              hs_client_leave(lc->c, (uint32_t)id, on_reply,
                              pack(ref, REPLY_DONE)),
              ref, "leave");
}

static int l_stats(lua_State *L) {
  l_client_t *lc = check_client(L);
  int ref = take_cb(L, 2);
  return sent(L, lc,
              hs_client_stats(lc->c, on_reply, pack(ref, REPLY_TEXT)), ref,
              "stats");
}

static int l_where(lua_State *L) {
  l_client_t *lc = check_client(L);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  NAME_OR_RETURN(topic, 2, "topic name");
  int ref = take_cb(L, 3);
  return sent(L, lc,
              hs_client_where(lc->c, topic, on_reply, pack(ref, REPLY_PLACEMENT)),
              ref, "where");
}

static int l_view(lua_State *L) {
  l_client_t *lc = check_client(L);
  int ref = take_cb(L, 2);
  return sent(L, lc, hs_client_view(lc->c, on_reply, pack(ref, REPLY_TEXT)),
              ref, "view");
}

static int l_list_topics(lua_State *L) {
  l_client_t *lc = check_client(L);
  size_t pn;
  const char *prefix = luaL_checklstring(L, 2, &pn);
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (pn) {
    NAME_OR_RETURN(checked, 2, "topic prefix");
    (void)checked;
  }
  int ref = take_cb(L, 3);
  return sent(L, lc,
              hs_client_list_topics(lc->c, prefix, on_reply,
                                    pack(ref, REPLY_NAMES)),
              ref, "list_topics");
}

static int l_local(lua_State *L) {
  l_client_t *lc = check_client(L);
  int ref = take_cb(L, 2);
  return sent(L, lc, hs_client_local(lc->c, on_reply, pack(ref, REPLY_TEXT)),
              ref, "local");
}

static int l_pending(lua_State *L) {
  l_client_t *lc = check_client(L);
  lua_pushinteger(L, (lua_Integer)hs_client_pending(lc->c));
  return 1;
}

static int l_retries(lua_State *L) {
  l_client_t *lc = check_client(L);
  lua_pushinteger(L, (lua_Integer)hs_client_retries(lc->c));
  return 1;
}

/* client:set_addrs({"host:port", ...}) — where to reconnect from now on */
static int l_set_addrs(lua_State *L) {
  l_client_t *lc = check_client(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  size_t n = (size_t)luaL_len(L, 2);
  if (n == 0 || n > 1024)
    return luaL_argerror(L, 2, "expected 1 to 1024 addresses");
  const char **addrs = lua_newuserdatauv(L, n * sizeof *addrs, 0);
  for (size_t i = 0; i < n; i++) {
    lua_geti(L, 2, (lua_Integer)i + 1);
    addrs[i] = lua_tostring(L, -1);
    if (!addrs[i]) return luaL_argerror(L, 2, "addresses must be strings");
    lua_pop(L, 1); /* the table keeps the string alive */
  }
  int rc = hs_client_set_addrs(lc->c, addrs, n);
  if (rc) return luaL_argerror(L, 2, "an address is not host:port");
  return 0;
}

static int l_is_closed(lua_State *L) {
  l_client_t *lc = luaL_checkudata(L, 1, CLIENT_MT);
  lua_pushboolean(L, lc->c == NULL);
  return 1;
}

/* client:close() — requests in flight get CLOSED through their callbacks */
static int l_close(lua_State *L) {
  l_client_t *lc = luaL_checkudata(L, 1, CLIENT_MT);
  if (!lc->c) return 0;
  hs_client_t *c = lc->c;
  hs_client_free(c); /* runs the failing callbacks first */
  lc->c = NULL;
  update_pin(lc, NULL);
  return 0;
}

static int l_gc(lua_State *L) {
  l_client_t *lc = luaL_checkudata(L, 1, CLIENT_MT);
  lc->in_gc = 1;
  return l_close(L);
}

static int l_tostring(lua_State *L) {
  l_client_t *lc = luaL_checkudata(L, 1, CLIENT_MT);
  lua_pushstring(L, lc->c ? "hypersub.client" : "hypersub.client (closed)");
  return 1;
}

static const luaL_Reg client_methods[] = {
    {"create_publisher", l_create_publisher},
    {"create_subscriber", l_create_subscriber},
    {"create_topic", l_create_topic},
    {"delete_topic", l_delete_topic},
    {"publish", l_publish},
    {"subscribe", l_subscribe},
    {"pull", l_pull},
    {"fetch", l_fetch},
    {"stop_node", l_stop_node},
    {"leave", l_leave},
    {"stats", l_stats},
    {"where", l_where},
    {"view", l_view},
    {"local_topics", l_local},
    {"list_topics", l_list_topics},
    {"pending", l_pending},
    {"retries", l_retries},
    {"set_addrs", l_set_addrs},
    {"is_closed", l_is_closed},
    {"close", l_close},
    {NULL, NULL}};

int binding_open_client(lua_State *L) {
  if (luaL_newmetatable(L, CLIENT_MT)) {
    luaL_newlib(L, client_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, l_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, l_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_client_new);
  lua_setfield(L, -2, "client");
  return 0;
}
