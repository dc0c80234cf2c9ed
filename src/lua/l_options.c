/* l_options — the node's options, listed once: core.node reads them into
 * hs_node_config_t, and core.node_options gives Lua the same list.
 *
 * Each scalar goes straight into its field of hs_node_config_t, read by
 * its kind; the options that are not one field (listen, peers, join's
 * effect on id, policy) have a reader of their own, and are in the list all
 * the same, so the check, the flags and the help see them. Defaults are
 * hs_node_config_init's. */
#include "l_options.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
  OPT_INTEGER,
  OPT_STRING,
  OPT_ENUM,
  OPT_LIST,
  OPT_TABLE
} option_kind_t;

static const char *const kind_names[] = {"integer", "string", "enum", "list",
                                         "table"};

/* A word an option takes, and the number its field gets for it. */
typedef struct option_word {
  const char *word;
  int value;
} option_word_t;

typedef struct node_option node_option_t;

/* Reads an option's value (on top of the stack, not nil) into cfg and pops
 * it (listen and peers leave in its place what cfg points into); opts is
 * the options table's index. */
typedef void (*option_reader_t)(lua_State *L, int opts, const node_option_t *o,
                                hs_node_config_t *cfg);

struct node_option {
  const char *name;
  option_kind_t kind;
  size_t offset, size;        /* its field in hs_node_config_t; size 0: none */
  lua_Integer min, max;       /* integers */
  const option_word_t *words; /* an enum's words, or words an integer takes */
  const char *flag;           /* the command line's flag, when not the name */
  const char *arg;            /* how its value reads in the help */
  const char *help;           /* one line */
  option_reader_t read;       /* NULL: read by its kind */
};

/* Integer and enum fields are stored as 4 or 8 bytes. */
_Static_assert(sizeof(int) == 4 && sizeof(hs_log_level_t) == 4 &&
                   sizeof(hs_log_format_t) == 4 && sizeof(hs_fsync_t) == 4,
               "4-byte integer and enum fields");

static void store_integer(hs_node_config_t *cfg, const node_option_t *o,
                          lua_Integer v) {
  char *field = (char *)cfg + o->offset;
  if (o->size == sizeof(uint64_t)) {
    uint64_t u = (uint64_t)v;
    memcpy(field, &u, sizeof u);
  } else {
    uint32_t u = (uint32_t)v;
    memcpy(field, &u, sizeof u);
  }
}

static lua_Integer load_integer(const hs_node_config_t *cfg,
                                const node_option_t *o) {
  const char *field = (const char *)cfg + o->offset;
  if (o->size == sizeof(uint64_t)) {
    uint64_t u;
    memcpy(&u, field, sizeof u);
    return (lua_Integer)u;
  }
  uint32_t u;
  memcpy(&u, field, sizeof u);
  return (lua_Integer)u;
}

static const option_word_t *find_word(const option_word_t *w, lua_State *L) {
  if (!w || lua_type(L, -1) != LUA_TSTRING) return NULL;
  for (; w->word; w++)
    if (!strcmp(w->word, lua_tostring(L, -1))) return w;
  return NULL;
}

/* Raises: option 'x' must be [an integer or ]a, b or c (got 'v'). */
static int bad_word(lua_State *L, const node_option_t *o) {
  char words[128] = "";
  size_t len = 0;
  for (const option_word_t *w = o->words; w->word && len < sizeof words; w++) {
    const char *sep = w == o->words ? "" : w[1].word ? ", " : " or ";
    len +=
        (size_t)snprintf(words + len, sizeof words - len, "%s%s", sep, w->word);
  }
  return luaL_error(L, "option '%s' must be %s%s (got '%s')", o->name,
                    o->kind == OPT_INTEGER ? "an integer or " : "", words,
                    luaL_tolstring(L, -1, NULL));
}

/* ---- readers by kind ----------------------------------------------------- */

static void read_integer(lua_State *L, int opts, const node_option_t *o,
                         hs_node_config_t *cfg) {
  (void)opts;
  const option_word_t *w = find_word(o->words, L);
  int ok = 1;
  lua_Integer v = w ? w->value : lua_tointegerx(L, -1, &ok);
  if (!w && !ok) {
    if (o->words) bad_word(L, o);
    luaL_error(L, "option '%s' must be an integer", o->name);
  }
  if (!w && (v < o->min || v > o->max))
    luaL_error(L, "option '%s' must be within %I..%I (got %I)", o->name, o->min,
               o->max, v);
  store_integer(cfg, o, v);
  lua_pop(L, 1);
}

static void read_string(lua_State *L, int opts, const node_option_t *o,
                        hs_node_config_t *cfg) {
  (void)opts;
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "option '%s' must be a string", o->name);
  const char *s = lua_tostring(L, -1);
  memcpy((char *)cfg + o->offset, &s, sizeof s);
  lua_pop(L, 1); /* the options table holds the string */
}

static void read_enum(lua_State *L, int opts, const node_option_t *o,
                      hs_node_config_t *cfg) {
  (void)opts;
  const option_word_t *w = find_word(o->words, L);
  if (!w) {
    bad_word(L, o);
    return;
  }
  store_integer(cfg, o, w->value);
  lua_pop(L, 1);
}

static const option_reader_t read_by_kind[] = {
    [OPT_INTEGER] = read_integer,
    [OPT_STRING] = read_string,
    [OPT_ENUM] = read_enum,
};

/* ---- readers of their own ------------------------------------------------ */

/* listen = "host:port" or "[v6 host]:port": host and port at once. Leaves
 * the host on the stack (cfg points into it). */
static void read_listen(lua_State *L, int opts, const node_option_t *o,
                        hs_node_config_t *cfg) {
  (void)opts;
  if (lua_type(L, -1) != LUA_TSTRING)
    luaL_error(L, "option '%s' must be a string", o->name);
  const char *s = lua_tostring(L, -1);
  const char *colon = strrchr(s, ':'), *host = s, *host_end = colon;
  if (s[0] == '[') {
    host = s + 1;
    host_end = colon && colon > s ? colon - 1 : NULL;
    if (host_end && *host_end != ']') host_end = NULL;
  } else if (colon && strchr(s, ':') != colon) {
    host_end = NULL; /* a bare IPv6 address needs its brackets */
  }
  const char *digits = colon ? colon + 1 : "";
  size_t n_digits = strspn(digits, "0123456789");
  if (!host_end || host_end <= host || n_digits == 0 || digits[n_digits])
    luaL_error(L, "bad listen address '%s': expected host:port", s);
  long port = n_digits > 5 ? 65536 : strtol(digits, NULL, 10);
  if (port > 65535)
    luaL_error(L, "bad listen address '%s': port %s is not in 0..65535", s,
               digits);
  lua_pushlstring(L, host, (size_t)(host_end - host));
  lua_replace(L, -2);
  cfg->host = lua_tostring(L, -1);
  cfg->port = (int)port;
}

/* One peer: "ID=HOST:PORT" or {id =, addr =}, at the top of the stack. */
static void read_peer(lua_State *L, const char *name, int i, hs_peer_t *p) {
  lua_Integer id = -1;
  const char *addr = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1), *eq = strchr(s, '=');
    size_t n_digits = strspn(s, "0123456789");
    if (!eq || n_digits == 0 || s + n_digits != eq || !eq[1] || n_digits > 7)
      luaL_error(L, "option '%s': '%s' is not ID=HOST:PORT", name, s);
    id = (lua_Integer)strtol(s, NULL, 10);
    addr = eq + 1; /* held by the list */
  } else if (lua_istable(L, -1)) {
    int ok;
    lua_getfield(L, -1, "id");
    id = lua_tointegerx(L, -1, &ok);
    if (!ok) id = -1;
    if (lua_getfield(L, -2, "addr") == LUA_TSTRING)
      addr = lua_tostring(L, -1); /* held by the entry */
    lua_pop(L, 2);
  } else {
    luaL_error(L, "option '%s': entry %d is not ID=HOST:PORT or "
                  "{id=, addr=}", name, i + 1);
  }
  if (id < 0 || id > HS_ID_MAX || !addr)
    luaL_error(L, "option '%s': entry %d needs an id in 0..2^20-1 and an "
                  "addr \"host:port\"", name, i + 1);
  p->id = (uint32_t)id;
  p->addr = addr;
}

/* peers = {"1=127.0.0.1:7001", {id = 2, addr = "..."}, ...}. Leaves the
 * block of hs_peer_t on the stack (cfg points into it). */
static void read_peers(lua_State *L, int opts, const node_option_t *o,
                       hs_node_config_t *cfg) {
  (void)opts;
  if (!lua_istable(L, -1)) luaL_error(L, "option '%s' must be a list", o->name);
  size_t n = lua_rawlen(L, -1);
  if (n > HS_ID_MAX + 1) luaL_error(L, "option '%s': too many", o->name);
  hs_peer_t *peers = lua_newuserdatauv(L, (n ? n : 1) * sizeof *peers, 0);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, -2, (lua_Integer)i + 1);
    read_peer(L, o->name, (int)i, &peers[i]);
    lua_pop(L, 1);
  }
  lua_replace(L, -2); /* the options table holds the list */
  if (strcmp(o->name, "dial") == 0) {
    cfg->dial = peers;
    cfg->n_dial = n;
  } else {
    cfg->peers = peers;
    cfg->n_peers = n;
  }
}

/* join = "host:port"; without an id, the node asks for the lowest free. */
static void read_join(lua_State *L, int opts, const node_option_t *o,
                      hs_node_config_t *cfg) {
  read_string(L, opts, o, cfg);
  if (lua_getfield(L, opts, "id") == LUA_TNIL) cfg->id = HS_ID_ANY;
  lua_pop(L, 1);
}

/* policy: checked here, installed by the node once it exists. */
static void read_policy(lua_State *L, int opts, const node_option_t *o,
                        hs_node_config_t *cfg) {
  (void)opts;
  (void)cfg;
  int next_hop = LUA_TNONE, read_replica = LUA_TNONE;
  if (lua_istable(L, -1)) {
    next_hop = lua_getfield(L, -1, "next_hop");
    read_replica = lua_getfield(L, -2, "read_replica");
    lua_pop(L, 2);
  }
  int either = next_hop == LUA_TFUNCTION || read_replica == LUA_TFUNCTION;
  int only_functions =
      (next_hop == LUA_TFUNCTION || next_hop == LUA_TNIL) &&
      (read_replica == LUA_TFUNCTION || read_replica == LUA_TNIL);
  if (!either || !only_functions)
    luaL_error(L, "option '%s' must be a table with a next_hop(self, target, "
                  "view) function, a read_replica(self, topic, candidates, "
                  "stats) function, or both", o->name);
  lua_pop(L, 1);
}

/* users = {{name =, password =, publish =, subscribe =, admin =}, ...}:
 * publish and subscribe are a list of patterns (allowed) or {allow = {...},
 * deny = {...}}. The strings stay in the options table; one block holds
 * the hs_user_t and the pattern arrays (left on the stack, cfg points into
 * it). */

/* A list of pattern strings at `idx` (absent: none): its length, and with
 * out its strings. */
static size_t read_patterns(lua_State *L, int idx, const char *what, size_t user,
                            const char **out) {
  idx = lua_absindex(L, idx);
  if (lua_isnil(L, idx)) return 0;
  if (!lua_istable(L, idx))
    luaL_error(L, "option 'users': user %d: %s must be a list of topic "
                  "patterns", (int)user, what);
  size_t n = lua_rawlen(L, idx);
  for (size_t i = 0; i < n; i++) {
    if (lua_rawgeti(L, idx, (lua_Integer)i + 1) != LUA_TSTRING)
      luaL_error(L, "option 'users': user %d: %s[%d] must be a topic pattern",
                 (int)user, what, (int)i + 1);
    if (out) out[i] = lua_tostring(L, -1); /* held by the list */
    lua_pop(L, 1);
  }
  return n;
}

/* One direction (publish or subscribe) of a user. */
typedef struct direction {
  const char **allow, **deny;
  size_t n_allow, n_deny;
} direction_t;

/* The user table at -1's `dir`: a list (allowed) or {allow =, deny =};
 * counted (out NULL) or filled from out. Returns the patterns used. */
static size_t read_direction(lua_State *L, const char *dir, size_t user,
                             direction_t *d, const char **out) {
  char what[32];
  lua_getfield(L, -1, dir);
  int t = lua_absindex(L, -1);
  memset(d, 0, sizeof *d);
  bool table = lua_istable(L, t);
  if (table) {
    lua_getfield(L, t, "allow");
    lua_getfield(L, t, "deny");
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
  }
  bool split = table && (!lua_isnil(L, -1) || !lua_isnil(L, -2));
  if (split) {
    snprintf(what, sizeof what, "%s.allow", dir);
    d->n_allow = read_patterns(L, -2, what, user, out);
    snprintf(what, sizeof what, "%s.deny", dir);
    d->n_deny = read_patterns(L, -1, what, user, out ? out + d->n_allow : NULL);
  } else {
    d->n_allow = read_patterns(L, t, dir, user, out);
  }
  if (out) d->allow = out, d->deny = out + d->n_allow;
  lua_pop(L, 3);
  return d->n_allow + d->n_deny;
}

/* The user table at -1 into u; pats (NULL: only count) gets its patterns.
 * Returns how many patterns it has. */
static size_t read_user(lua_State *L, size_t i, hs_user_t *u,
                        const char **pats) {
  if (!lua_istable(L, -1))
    luaL_error(L, "option 'users': user %d must be a table {name =, "
                  "password =, ...}", (int)i);
  if (lua_getfield(L, -1, "name") != LUA_TSTRING ||
      lua_getfield(L, -2, "password") != LUA_TSTRING)
    luaL_error(L, "option 'users': user %d needs a name and a password "
                  "(the verifier `hypersub passwd` prints)", (int)i);
  u->name = lua_tostring(L, -2);
  u->password = lua_tostring(L, -1);
  lua_pop(L, 2);
  lua_getfield(L, -1, "admin");
  u->admin = lua_toboolean(L, -1);
  lua_pop(L, 1);
  direction_t pub, sub;
  size_t n = read_direction(L, "publish", i, &pub, pats);
  n += read_direction(L, "subscribe", i, &sub, pats ? pats + n : NULL);
  u->publish_allow = pub.allow, u->n_publish_allow = pub.n_allow;
  u->publish_deny = pub.deny, u->n_publish_deny = pub.n_deny;
  u->subscribe_allow = sub.allow, u->n_subscribe_allow = sub.n_allow;
  u->subscribe_deny = sub.deny, u->n_subscribe_deny = sub.n_deny;
  return n;
}

static void read_users(lua_State *L, int opts, const node_option_t *o,
                       hs_node_config_t *cfg) {
  (void)opts;
  if (!lua_istable(L, -1)) luaL_error(L, "option '%s' must be a list", o->name);
  size_t n = lua_rawlen(L, -1), n_pats = 0;
  if (n > 100000) luaL_error(L, "option '%s': too many", o->name);
  hs_user_t scratch;
  for (size_t i = 0; i < n; i++) { /* count, and check the shapes */
    lua_rawgeti(L, -1, (lua_Integer)i + 1);
    n_pats += read_user(L, i + 1, &scratch, NULL);
    lua_pop(L, 1);
  }
  size_t users_size = (n ? n : 1) * sizeof(hs_user_t);
  char *block = lua_newuserdatauv(L, users_size + n_pats * sizeof(char *), 0);
  hs_user_t *users = (hs_user_t *)(void *)block;
  const char **pats = (const char **)(void *)(block + users_size);
  memset(block, 0, users_size);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, -2, (lua_Integer)i + 1);
    pats += read_user(L, i + 1, &users[i], pats);
    lua_pop(L, 1);
  }
  lua_replace(L, -2); /* the options table holds the strings */
  cfg->users = users;
  cfg->n_users = n;
}

/* ---- the list ------------------------------------------------------------ */

#define FIELD(f)                           \
  .offset = offsetof(hs_node_config_t, f), \
  .size = sizeof(((hs_node_config_t *)0)->f)
#define HOUR_MS (3600 * 1000)

static const option_word_t replica_words[] = {
    {"neighbours", HS_REPLICAS_NEIGHBOURS}, {NULL, 0}};
static const option_word_t level_words[] = {
    {"debug", HS_LOG_DEBUG}, {"info", HS_LOG_INFO}, {"warn", HS_LOG_WARN},
    {"error", HS_LOG_ERROR}, {"off", HS_LOG_OFF},   {NULL, 0}};
static const option_word_t fsync_words[] = {{"always", HS_FSYNC_ALWAYS},
                                             {"interval", HS_FSYNC_INTERVAL},
                                             {"never", HS_FSYNC_NEVER},
                                             {NULL, 0}};
static const option_word_t format_words[] = {
    {"text", HS_LOG_TEXT}, {"json", HS_LOG_JSON}, {NULL, 0}};

static const node_option_t options[] = {
    {.name = "id", .kind = OPT_INTEGER, FIELD(id), .min = 0, .max = HS_ID_MAX,
     .arg = "N", .help = "node id; with join, the id to ask for, else the "
                         "lowest free one is given"},
    {.name = "listen", .kind = OPT_STRING, .arg = "HOST:PORT",
     .help = "address to serve ([::1]:PORT for IPv6); port 0 picks a free "
             "one", .read = read_listen},
    {.name = "host", .kind = OPT_STRING, FIELD(host), .arg = "HOST",
     .help = "the host part of listen, alone"},
    {.name = "port", .kind = OPT_INTEGER, FIELD(port), .min = 0, .max = 65535,
     .arg = "PORT", .help = "the port part of listen, alone"},
    {.name = "cluster", .kind = OPT_STRING, FIELD(cluster), .arg = "NAME",
     .help = "cluster name checked at HELLO"},
    {.name = "peers", .kind = OPT_LIST, .flag = "peer", .arg = "ID=HOST:PORT",
     .help = "another member of the cluster; repeat for each",
     .read = read_peers},
    {.name = "dial", .kind = OPT_LIST, .flag = "dial", .arg = "ID=HOST:PORT",
     .help = "reach member ID at HOST:PORT instead of the address it "
             "announces (a NAT, a tunnel or a proxy in between); repeat "
             "for each",
     .read = read_peers},
    {.name = "join", .kind = OPT_STRING, FIELD(join), .arg = "HOST:PORT",
     .help = "join a running cluster through any member (instead of peers)",
     .read = read_join},
    {.name = "replicas", .kind = OPT_INTEGER, FIELD(replicas), .min = 1,
     .max = 32, .words = replica_words, .arg = "R",
     .help = "copies of each topic, home included; neighbours: the home and "
             "every cube neighbour"},
    {.name = "policy", .kind = OPT_TABLE, .arg = "TABLE",
     .help = "this node's policies: a table with next_hop(self, target, "
             "view) giving the neighbour to forward to, and/or "
             "read_replica(self, topic, candidates, stats) giving the copy "
             "that serves a pull (nil: the default)", .read = read_policy},
    {.name = "data_dir", .kind = OPT_STRING, FIELD(data_dir), .arg = "DIR",
     .help = "keep topics, messages, cursors and identities on disk here "
             "(made if need be); none: in memory, gone when the node stops"},
    {.name = "fsync", .kind = OPT_ENUM, FIELD(fsync), .words = fsync_words,
     .arg = "MODE",
     .help = "with data_dir: always (an answer waits until what it reports "
             "is synced), interval (synced every fsync_interval_ms) or never "
             "(the system writes when it likes)"},
    {.name = "fsync_interval_ms", .kind = OPT_INTEGER,
     FIELD(fsync_interval_ms), .min = 1, .max = HOUR_MS, .arg = "MS",
     .help = "how often fsync interval syncs"},
    {.name = "cluster_key", .kind = OPT_STRING, FIELD(cluster_key),
     .arg = "FILE",
     .help = "a file the members share (32 random bytes or more): peers "
             "prove they hold it; none: any peer is taken at its word"},
    {.name = "users", .kind = OPT_TABLE, .arg = "TABLE",
     .help = "the users clients log in as: a list of {name =, password = "
             "(the verifier `hypersub passwd` prints), publish =, subscribe "
             "= (topic patterns, or {allow =, deny =}), admin = true}; none: "
             "any client may do anything", .read = read_users},
    {.name = "tls_cert", .kind = OPT_STRING, FIELD(tls_cert), .arg = "FILE",
     .help = "PEM certificate: with tls_key and tls_ca the node speaks "
             "only TLS, to clients and peers"},
    {.name = "tls_key", .kind = OPT_STRING, FIELD(tls_key), .arg = "FILE",
     .help = "PEM private key of tls_cert"},
    {.name = "tls_ca", .kind = OPT_STRING, FIELD(tls_ca), .arg = "FILE",
     .help = "PEM CA: peers, and the members this node links to, must "
             "present a certificate from it (mutual TLS)"},
    {.name = "heartbeat_ms", .kind = OPT_INTEGER, FIELD(heartbeat_ms),
     .min = 1, .max = 60000, .arg = "MS",
     .help = "how often a node pings the peers it watches (its cube "
             "neighbours)"},
    {.name = "suspect_ms", .kind = OPT_INTEGER, FIELD(suspect_ms), .min = 1,
     .max = HOUR_MS, .arg = "MS",
     .help = "silence before a peer is suspected; a suspect still serves"},
    {.name = "dead_ms", .kind = OPT_INTEGER, FIELD(dead_ms), .min = 1,
     .max = HOUR_MS, .arg = "MS",
     .help = "silence before a peer is declared dead and its topics fail "
             "over to their replicas; at least suspect_ms"},
    {.name = "link_idle_ms", .kind = OPT_INTEGER, FIELD(link_idle_ms),
     .min = 0, .max = HOUR_MS, .arg = "MS",
     .help = "a link to a member that is neither a cube neighbour nor "
             "watched closes after this long unused (links made for a "
             "catch-up, a probe, a detour, an idle copy); 0: never"},
    {.name = "peer_timeout", .kind = OPT_INTEGER, FIELD(peer_timeout_ms),
     .min = 1, .max = HOUR_MS, .arg = "MS",
     .help = "forwarded and replicated requests (a pull adds its wait)"},
    {.name = "hop_limit", .kind = OPT_INTEGER, FIELD(hop_limit), .min = 0,
     .max = 254, .arg = "N",
     .help = "hops a forwarded request may take; 0: 2D+2 (D the cube's "
             "dimension)"},
    {.name = "max_payload", .kind = OPT_INTEGER, FIELD(max_payload), .min = 1,
     .max = (lua_Integer)1 << 31, .arg = "BYTES", .help = "largest message"},
    {.name = "max_output", .kind = OPT_INTEGER, FIELD(max_output),
     .min = 1024, .max = (lua_Integer)1 << 40, .arg = "BYTES",
     .help = "buffered output per connection before a slow reader is "
             "dropped; at least max_payload + 65536"},
    {.name = "max_connections", .kind = OPT_INTEGER, FIELD(max_connections),
     .min = 1, .max = 1000000, .arg = "N",
     .help = "clients connected at once; more are refused (UNAVAILABLE)"},
    {.name = "max_peer_connections", .kind = OPT_INTEGER,
     FIELD(max_peer_connections), .min = 1, .max = 1000000, .arg = "N",
     .help = "peers' connections at once, a budget apart from the clients'"},
    {.name = "max_handshakes", .kind = OPT_INTEGER, FIELD(max_handshakes),
     .min = 1, .max = 1000000, .arg = "N",
     .help = "connections still in their handshake; one more closes the "
             "oldest"},
    {.name = "handshake_ms", .kind = OPT_INTEGER, FIELD(handshake_ms),
     .min = 1, .max = HOUR_MS, .arg = "MS",
     .help = "time a connection has to finish HELLO (and AUTH); then it is "
             "closed"},
    {.name = "max_parked", .kind = OPT_INTEGER, FIELD(max_parked), .min = 0,
     .max = 10000000, .arg = "N",
     .help = "long polls parked on the node; more get LIMIT"},
    {.name = "max_parked_per_connection", .kind = OPT_INTEGER,
     FIELD(max_parked_per_connection), .min = 0, .max = 10000000, .arg = "N",
     .help = "long polls parked on one connection; more get LIMIT"},
    {.name = "max_wait_ms", .kind = OPT_INTEGER, FIELD(max_wait_ms), .min = 0,
     .max = UINT32_MAX, .arg = "MS",
     .help = "longest wait a pull may park for; longer ones are cut to it"},
    {.name = "max_topics", .kind = OPT_INTEGER, FIELD(max_topics), .min = 1,
     .max = LUA_MAXINTEGER, .arg = "N",
     .help = "topics a node holds (homed and copied); a client's "
             "create_topic past it gets LIMIT"},
    {.name = "max_identities", .kind = OPT_INTEGER, FIELD(max_identities),
     .min = 1, .max = LUA_MAXINTEGER, .arg = "N",
     .help = "publishers and subscribers a node holds; a client's create "
             "past it gets LIMIT"},
    {.name = "max_subscriptions", .kind = OPT_INTEGER, FIELD(max_subscriptions),
     .min = 1, .max = LUA_MAXINTEGER, .arg = "N",
     .help = "subscriptions (cursors) over all topics a node holds; a "
             "subscribe past it gets LIMIT"},
    {.name = "max_pull", .kind = OPT_INTEGER, FIELD(max_pull), .min = 1,
     .max = 1000000, .arg = "N", .help = "largest pull batch"},
    {.name = "retain_messages", .kind = OPT_INTEGER, FIELD(retain_messages),
     .min = 0, .max = LUA_MAXINTEGER, .arg = "N",
     .help = "messages kept per topic; 0 keeps all"},
    {.name = "retain_bytes", .kind = OPT_INTEGER, FIELD(retain_bytes),
     .min = 0, .max = LUA_MAXINTEGER, .arg = "BYTES",
     .help = "payload bytes kept per topic; 0 keeps all"},
    {.name = "retain_ms", .kind = OPT_INTEGER, FIELD(retain_ms), .min = 0,
     .max = LUA_MAXINTEGER, .arg = "MS",
     .help = "message age kept per topic; 0 keeps all"},
    {.name = "log_level", .kind = OPT_ENUM, FIELD(log_level),
     .words = level_words, .arg = "LEVEL",
     .help = "the least severe events logged"},
    {.name = "log_format", .kind = OPT_ENUM, FIELD(log_format),
     .words = format_words, .arg = "FORMAT", .help = "how log lines are written"},
    {.name = "log_file", .kind = OPT_STRING, FIELD(log_file), .arg = "FILE",
     .help = "append the log here instead of stderr"},
    /* operations */
    {.name = "http", .kind = OPT_STRING, FIELD(http), .arg = "HOST:PORT",
     .help = "serve /metrics (Prometheus), /livez, /readyz, /view, /topics "
             "and a live picture of the cube over HTTP here (port 0 picks "
             "one); off by default"},
    {.name = "http_timeout_ms", .kind = OPT_INTEGER, FIELD(http_timeout_ms),
     .min = 1, .max = HOUR_MS, .arg = "MS",
     .help = "an HTTP request's headers must arrive within this; an idle "
             "HTTP connection closes after it"},
    {.name = "http_max_connections", .kind = OPT_INTEGER,
     FIELD(http_max_connections), .min = 1, .max = 100000, .arg = "N",
     .help = "HTTP connections at once; more are answered 503"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

/* Rules between options, once each is read. */
static void check_together(lua_State *L, const hs_node_config_t *cfg) {
  if (cfg->max_output < cfg->max_payload + 64 * 1024)
    luaL_error(L, "option 'max_output' (%I) must be at least max_payload + "
                  "65536 (%I): one reply must fit",
               (lua_Integer)cfg->max_output,
               (lua_Integer)(cfg->max_payload + 64 * 1024));
  if (cfg->dead_ms < cfg->suspect_ms)
    luaL_error(L, "option 'dead_ms' (%d) must be at least 'suspect_ms' (%d)",
               (int)cfg->dead_ms, (int)cfg->suspect_ms);
}

void l_options_read(lua_State *L, int idx, hs_node_config_t *cfg) {
  idx = lua_absindex(L, idx);
  hs_node_config_init(cfg);
  for (size_t i = 0; i < N_OPTIONS; i++) {
    const node_option_t *o = &options[i];
    if (lua_getfield(L, idx, o->name) == LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    (o->read ? o->read : read_by_kind[o->kind])(L, idx, o, cfg);
  }
  check_together(L, cfg);
}

/* ---- core.node_options ---------------------------------------------------- */

/* The default, from a config hs_node_config_init filled; nothing for
 * options that have none. */
static void push_default(lua_State *L, const node_option_t *o,
                         const hs_node_config_t *def) {
  if (o->read == read_listen) {
    lua_pushfstring(L, "%s:%d", def->host, def->port);
  } else if (o->size && o->kind == OPT_INTEGER) {
    lua_pushinteger(L, load_integer(def, o));
  } else if (o->size && o->kind == OPT_ENUM) {
    const option_word_t *w = o->words;
    while (w->word && w->value != load_integer(def, o)) w++;
    lua_pushstring(L, w->word); /* nil past the last */
  } else if (o->size && o->kind == OPT_STRING) {
    const char *s;
    memcpy(&s, (const char *)def + o->offset, sizeof s);
    lua_pushstring(L, s); /* nil for NULL */
  } else {
    lua_pushnil(L);
  }
  lua_setfield(L, -2, "default");
}

static void push_option(lua_State *L, const node_option_t *o,
                        const hs_node_config_t *def) {
  lua_createtable(L, 0, 9);
  lua_pushstring(L, o->name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, kind_names[o->kind]);
  lua_setfield(L, -2, "kind");
  push_default(L, o, def);
  if (o->kind == OPT_INTEGER) {
    lua_pushinteger(L, o->min);
    lua_setfield(L, -2, "min");
    lua_pushinteger(L, o->max);
    lua_setfield(L, -2, "max");
  }
  if (o->words) {
    lua_newtable(L);
    for (int i = 0; o->words[i].word; i++) {
      lua_pushstring(L, o->words[i].word);
      lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "values");
  }
  lua_pushstring(L, o->flag); /* nil: the name */
  lua_setfield(L, -2, "flag");
  lua_pushstring(L, o->arg);
  lua_setfield(L, -2, "arg");
  lua_pushstring(L, o->help);
  lua_setfield(L, -2, "help");
}

void l_options_push(lua_State *L) {
  hs_node_config_t def;
  hs_node_config_init(&def);
  lua_createtable(L, (int)N_OPTIONS, 0);
  for (size_t i = 0; i < N_OPTIONS; i++) {
    push_option(L, &options[i], &def);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}
