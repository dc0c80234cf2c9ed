/* api — the public node API: configuration, creating a node out of its
 * parts and wiring them (the view's listeners in order, repl's hooks, the
 * one tick), starting, stopping and restarting, stats, freeing. */
#include "node/node.h"

#include "core/addr.h"
#include "cube/cube.h"

#include <stdio.h>
#include <sys/resource.h>

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Room for a frame's header and names around the largest payload. */
#define FRAME_OVERHEAD (64 * 1024)
#define EXPIRE_EVERY_MS 1000

static void handle_closed(uv_handle_t *h) { node_release(h->data); }

/* ---- configuration ---------------------------------------------------------- */

HS_API void hs_node_config_init(hs_node_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->host = "127.0.0.1";
  cfg->cluster = "hypersub";
  cfg->max_payload = 1024 * 1024;
  cfg->max_output = 64 * 1024 * 1024;
  cfg->max_connections = 10000;
  cfg->max_pull = 1000;
  cfg->replicas = 3;
  cfg->peer_timeout_ms = 5000;
  cfg->heartbeat_ms = 100;
  cfg->suspect_ms = 500;
  cfg->dead_ms = 1000;
  cfg->fsync_interval_ms = 100;
  cfg->link_idle_ms = 10000;
  cfg->handshake_ms = 5000;
  cfg->max_handshakes = 256;
  cfg->max_peer_connections = 1024;
  cfg->max_parked = 10000;
  cfg->max_parked_per_connection = 64;
  cfg->max_wait_ms = 300000;
  cfg->max_topics = 100000;
  cfg->max_identities = 1000000;
  cfg->max_subscriptions = 1000000;
  cfg->log_level = HS_LOG_INFO;
  cfg->log_format = HS_LOG_TEXT;
  /* operations */
  cfg->http_timeout_ms = 10000;
  cfg->http_max_connections = 64;
}

/* A check of the configuration's numbers, with what is wrong. */
static const char *limits_wrong(const hs_node_config_t *cfg) {
  if (!cfg->max_payload || cfg->max_payload > UINT32_MAX - FRAME_OVERHEAD)
    return "max_payload must be 1..4 GiB less 64 KiB";
  if (cfg->max_output < cfg->max_payload + FRAME_OVERHEAD)
    return "max_output must be at least max_payload + 64 KiB: one reply must fit";
  if (!cfg->max_pull) return "max_pull must be at least 1";
  if (cfg->port < 0 || cfg->port > 65535) return "port must be 0..65535";
  if (!cfg->cluster || !*cfg->cluster || strlen(cfg->cluster) > HS_NAME_MAX)
    return "cluster must be a name of 1..255 bytes";
  if (cfg->replicas > PLACE_COPIES_MAX)
    return "replicas must be 1..32 (or neighbours)";
  if (!cfg->heartbeat_ms) return "heartbeat_ms must be at least 1";
  if (cfg->dead_ms < cfg->suspect_ms) return "dead_ms must be at least suspect_ms";
  if (cfg->hop_limit > 254) return "hop_limit must be 0..254";
  if (!cfg->handshake_ms) return "handshake_ms must be at least 1";
  if (cfg->fsync > HS_FSYNC_NEVER) return "fsync must be always, interval or never";
  if (cfg->fsync == HS_FSYNC_INTERVAL && !cfg->fsync_interval_ms)
    return "fsync_interval_ms must be at least 1";
  if (!cfg->max_connections || !cfg->max_handshakes ||
      !cfg->max_peer_connections)
    return "max_connections, max_handshakes and max_peer_connections must "
           "be at least 1";
  if (cfg->max_parked_per_connection > cfg->max_parked)
    return "max_parked_per_connection must be at most max_parked";
  return NULL;
}

/* TLS, when the node has a certificate: a context to accept with (asking
 * the other side for its certificate: peers must show one) and one to
 * link to peers with (showing ours). */
static int tls_contexts(const hs_node_config_t *cfg, tls_ctx_t **server,
                        tls_ctx_t **client, char *why, size_t len) {
  *server = *client = NULL;
  if (!cfg->tls_cert && !cfg->tls_key && !cfg->tls_ca) return 0;
  if (!cfg->tls_cert || !cfg->tls_key || !cfg->tls_ca) {
    snprintf(why, len, "TLS needs tls_cert, tls_key and tls_ca together");
    return HS_EINVALID;
  }
  tls_config_t accepting = {.cert = cfg->tls_cert, .key = cfg->tls_key,
                            .ca = cfg->tls_ca, .server = true,
                            .request_cert = true};
  tls_config_t linking = {.cert = cfg->tls_cert, .key = cfg->tls_key,
                          .ca = cfg->tls_ca};
  int rc = tls_ctx_new(&accepting, server, why, len);
  return rc ? rc : tls_ctx_new(&linking, client, why, len);
}

HS_API int hs_node_check_config(const hs_node_config_t *cfg, char *why,
                                size_t why_len) {
  const char *wrong = limits_wrong(cfg);
  if (wrong) {
    snprintf(why, why_len, "%s", wrong);
    return HS_EINVALID;
  }
  uint8_t key[AUTH_KEY];
  int rc = cfg->cluster_key ? auth_key_load(cfg->cluster_key, key, why, why_len)
                            : 0;
  if (rc) return rc;
  users_t users;
  rc = users_init(&users, cfg->users, cfg->n_users, why, why_len);
  users_free(&users);
  if (rc) return rc;
  tls_ctx_t *server, *client;
  rc = tls_contexts(cfg, &server, &client, why, why_len);
  tls_ctx_free(server);
  tls_ctx_free(client);
  return rc;
}

/* The cluster key, the users, this run's incarnation and TLS. */
static int take_trust(hs_node_t *node, const hs_node_config_t *cfg) {
  if (auth_init()) {
    snprintf(node->error, sizeof node->error, "no source of random numbers");
    return HS_EIO;
  }
  int rc = cfg->cluster_key ? auth_key_load(cfg->cluster_key, node->key,
                                            node->error, sizeof node->error)
                            : 0;
  node->has_key = cfg->cluster_key != NULL;
  if (!rc)
    rc = users_init(&node->users, cfg->users, cfg->n_users, node->error,
                    sizeof node->error);
  uint8_t nonce[AUTH_NONCE];
  auth_nonce(nonce);
  memcpy(&node->incarnation, nonce, sizeof node->incarnation);
  return rc ? rc
            : tls_contexts(cfg, &node->tls_server, &node->tls_client,
                           node->error, sizeof node->error);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* The members reached at another address: copied, each checked. */
static int take_dial(hs_node_t *node, const hs_node_config_t *cfg) {
  if (!cfg->n_dial) return 0;
  node->dial = calloc(cfg->n_dial, sizeof *node->dial);
  if (!node->dial) return HS_ENOMEM;
  for (size_t i = 0; i < cfg->n_dial; i++) {
    struct sockaddr_storage ss;
    const hs_peer_t *d = &cfg->dial[i];
    if (!d->addr || addr_parse(d->addr, &ss) || d->id > HS_ID_MAX)
      return HS_EINVALID;
    node->dial[i].id = d->id;
    if (!(node->dial[i].addr = strdup(d->addr))) return HS_ENOMEM;
    node->n_dial = i + 1;
  }
  return 0;
}

/* The node's own copies of the configuration's strings, and its log.
 * 0, HS_ENOMEM or HS_EIO (the log file). */
static int take_config(hs_node_t *node, const hs_node_config_t *cfg) {
  node->cfg = *cfg;
  node->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
  node->cluster_name = strdup(cfg->cluster);
  node->log_file = dup_or_null(cfg->log_file);
  node->join = dup_or_null(cfg->join);
  node->cfg.host = node->host;
  node->cfg.cluster = node->cluster_name;
  node->cfg.log_file = node->log_file;
  node->cfg.join = node->join;
  node->cfg.peers = NULL; /* the view holds them */
  node->cfg.n_peers = 0;
  node->cfg.dial = NULL; /* node->dial holds them */
  node->cfg.n_dial = 0;
  node->cfg.users = NULL; /* node->users holds them */
  node->cfg.n_users = 0;
  node->cfg.cluster_key = NULL;
  node->cfg.data_dir = NULL; /* the disk holds it */
  log_init(&node->log, cfg->join && cfg->id == HS_ID_ANY ? -1 : (int64_t)cfg->id);
  node->log.level = cfg->log_level;
  node->log.format = cfg->log_format;
  if (!node->host || !node->cluster_name || (cfg->log_file && !node->log_file) ||
      (cfg->join && !node->join))
    return HS_ENOMEM;
  int rc = take_dial(node, cfg);
  if (rc) return rc;
  return cfg->log_file && log_open(&node->log, cfg->log_file) ? HS_EIO : 0;
}

/* ---- the data directory ---------------------------------------------------------- */

static void disk_synced(void *ud, store_topic_t *t) {
  hs_node_t *node = ud;
  repl_synced(&node->repl, t);
}

static void disk_storage(void *ud, store_topic_t *t, const char *why) {
  hs_node_t *node = ud;
  if (why)
    LOG(&node->log, HS_LOG_ERROR, "disk", "storage_failed",
        LF_STR("topic", t->name), LF_STR("error", why),
        LF_STR("detail", "publishes to it get STORAGE; reads go on"));
  else
    LOG(&node->log, HS_LOG_WARN, "disk", "storage_recovered",
        LF_STR("topic", t->name));
}

/* Opens the data directory and loads it. A joining node without an id
 * takes back the one the directory was written by. */
static int take_disk(hs_node_t *node, hs_node_config_t *c) {
  if (!c->data_dir) return 0;
  bool any = c->join && c->id == HS_ID_ANY;
  disk_config_t dc = {.dir = c->data_dir,
                      .fsync = (disk_fsync_t)c->fsync,
                      .interval_ms = c->fsync_interval_ms,
                      .cluster = c->cluster,
                      .node = any ? UINT32_MAX : c->id,
                      .log = &node->log};
  disk_hooks_t hooks = {node, disk_synced, disk_storage};
  uint32_t had;
  int rc = disk_open(node->loop, &dc, &node->store, &hooks, &node->disk, &had,
                     node->error, sizeof node->error);
  if (!rc && any && had != UINT32_MAX) {
    c->id = had;
    node->cfg.id = had;
    node->log.node = had;
  }
  return rc;
}

static void disk_closed(void *ud) { node_release(ud); }

static const char *fsync_name(disk_fsync_t mode) {
  return mode == DISK_FSYNC_ALWAYS     ? "always"
         : mode == DISK_FSYNC_INTERVAL ? "interval"
                                       : "never";
}

/* ---- wiring the parts ---------------------------------------------------------- */

/* The first listener: links to members no longer alive are dropped, which
 * fails what waits on them, so clients retry elsewhere. A member that left
 * still answers what it was asked (its LEAVE above all): its link goes
 * once nothing waits on it (peers_prune on the tick). */
static void drop_dead_links(void *ud, const cluster_change_t *change) {
  hs_node_t *node = ud;
  const view_t *v = &node->cluster.view;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    if (m->state == VIEW_LEFT) continue;
    const view_member_t *was = view_find(change->old, m->id);
    if (m->id != node_self(node) && !view_serves(m->state) &&
        (!was || view_serves(was->state)))
      peers_drop(&node->peers, m->id);
  }
}

static void fenced(void *ud, const char *why) {
  hs_node_t *node = ud;
  repl_fence(&node->repl, why);
}

static void rejoined(void *ud) { catchup_start(ud); }

/* A peer refused our handshake. EXISTS: our id is alive at another
 * address (a second node started with it); the tick stops this node if
 * that goes on past the time a dead node takes to be declared dead. */
static void peer_refused(link_t *link, int code, const char *why, void *ud) {
  hs_node_t *node = ud;
  (void)link;
  if (code != HS_EEXISTS) return;
  uint64_t now = uv_now(node->loop);
  if (!node->id_taken_since) {
    node->id_taken_since = now;
    LOG(&node->log, HS_LOG_ERROR, "cluster", "id_taken",
        LF_UINT("id", node_self(node)), LF_STR("detail", why));
  }
  node->id_taken_last = now;
  snprintf(node->error, sizeof node->error, "EXISTS: node id %u is taken: %s",
           node_self(node), why);
}

/* Still refused as an impostor after two dead times: stop. */
static bool id_taken(hs_node_t *node) {
  uint64_t now = uv_now(node->loop);
  if (!node->id_taken_since) return false;
  if (now - node->id_taken_last > 2 * (uint64_t)node->cfg.dead_ms) {
    node->id_taken_since = 0; /* it went away: the old one was dead */
    node->error[0] = 0;
    return false;
  }
  return now - node->id_taken_since >= 2 * (uint64_t)node->cfg.dead_ms;
}

/* A node started alone ticks once a member joins it or it hears of one:
 * heartbeats, failure detection and the parts' ticks run from then on. */
static void tick_with_members(void *ud, const cluster_change_t *change) {
  hs_node_t *node = ud;
  (void)change;
  if (node->state == HS_NODE_RUNNING && node->cluster.view.n > 1 &&
      !uv_is_active((uv_handle_t *)&node->tick_timer))
    node_start_ticking(node);
}

/* The links a node keeps however idle: to its cube neighbours and to the
 * peers it watches. */
static bool keep_link(void *ud, uint32_t peer) {
  hs_node_t *node = ud;
  return cube_distance(peer, node_self(node)) == 1 ||
         health_watches(&node->health, peer);
}

static void wire_parts(hs_node_t *node) {
  cluster_t *c = &node->cluster;
  node->peers = (peers_t){.loop = node->loop,
                          .key = node->has_key ? node->key : NULL,
                          .incarnation = node->incarnation,
                          .tls = node->tls_client,
                          .refused_cb = peer_refused,
                          .refused_ud = node,
                          .view = &c->view,
                          .flusher = &node->flusher,
                          .cluster = node->cluster_name,
                          .self = c->self,
                          .replicas = c->replicas,
                          .timeout_ms = node->cfg.peer_timeout_ms,
                          .max_output = node->cfg.max_output,
                          .idle_ms = node->cfg.link_idle_ms,
                          .dial = node->dial,
                          .n_dial = node->n_dial,
                          .keep = keep_link,
                          .keep_ud = node,
                          .log = &node->log};
  carrier_init(node);
  health_config_t hc = {node->cfg.heartbeat_ms, node->cfg.suspect_ms,
                        node->cfg.dead_ms};
  health_init(&node->health, c, &node->net, &hc, &node->log, &node->stats);
  spread_init(&node->spread, c, &node->net, &node->stats);
  repl_init(&node->repl, node->loop, &node->store, &node->peers, c,
            node->max_frame, node->cfg.peer_timeout_ms, &node->log,
            &node->stats);
  node->repl.hooks =
      (repl_hooks_t){waiters_wake, waiters_drop, ahead_streamed, node};
  c->hooks = (cluster_hooks_t){fenced, rejoined, node};
  /* A view change, in this order: */
  cluster_listen(c, drop_dead_links, node);
  cluster_listen(c, cluster_quorum_listener, c);
  cluster_listen(c, repl_view_listener, &node->repl);
  cluster_listen(c, spread_listener, &node->spread);
  cluster_listen(c, tick_with_members, node);
}

static void on_tick(uv_timer_t *t);

static void init_handles(hs_node_t *node) {
  uv_loop_t *loop = node->loop;
  flusher_init(&node->flusher, loop);
  uv_timer_init(loop, &node->restart_timer);
  uv_timer_init(loop, &node->expire_timer);
  uv_timer_init(loop, &node->tick_timer);
  uv_timer_init(loop, &node->handshake_timer);
  node->restart_timer.data = node->expire_timer.data = node;
  node->tick_timer.data = node->handshake_timer.data = node;
  node->tick = on_tick;
  node->on_frame = node_dispatch;
  node->open_handles = 6; /* the four timers, the flusher, repl's check */
}

HS_API int hs_node_new(uv_loop_t *loop, const hs_node_config_t *cfg,
                       hs_node_t **out) {
  char why[400];
  return hs_node_create(loop, cfg, out, why, sizeof why);
}

HS_API int hs_node_create(uv_loop_t *loop, const hs_node_config_t *cfg,
                          hs_node_t **out, char *why, size_t why_len) {
  const char *wrong = limits_wrong(cfg);
  snprintf(why, why_len, "%s", wrong ? wrong : "");
  if (wrong) return HS_EINVALID;
  hs_node_t *node = calloc(1, sizeof *node);
  if (!node) return HS_ENOMEM;
  node->loop = loop;
  hs_node_config_t c = *cfg; /* its id may come from the data directory */
  store_limits_t limits = {.retain_messages = cfg->retain_messages,
                           .retain_bytes = cfg->retain_bytes,
                           .retain_ms = cfg->retain_ms};
  store_init(&node->store, &limits);
  int rc = take_config(node, &c);
  if (!rc) rc = take_trust(node, &c);
  if (!rc) rc = take_disk(node, &c);
  if (!rc) rc = cluster_init(&node->cluster, &c, node->host, &node->log,
                             &node->stats);
  if (!rc) rc = monitor_new(node, cfg); /* operations */
  if (rc) {
    snprintf(why, why_len, "%s",
             node->error[0] ? node->error
                            : "invalid configuration (peers need distinct ids "
                              "other than this node's, and host:port "
                              "addresses)");
    cluster_free(&node->cluster);
    node->freeing = true;
    node->open_handles = 1;
    if (node->disk) { /* its handles close on the next loop turn */
      node->open_handles++;
      disk_close(node->disk, disk_closed, node);
      node->disk = NULL;
    }
    node_release(node); /* frees what was taken so far */
    return rc;
  }
  node->max_frame = cfg->max_payload + FRAME_OVERHEAD;
  node->port = cfg->port;
  node->garbage_limit = (log_limit_t)LOG_LIMIT_INIT(10);
  node->retry_limit = (log_limit_t)LOG_LIMIT_INIT(1);
  node->refused_limit = (log_limit_t)LOG_LIMIT_INIT(10);
  node->reads.ignored_limit = (log_limit_t)LOG_LIMIT_INIT(10);
  stats_init(&node->stats, log_now_ms());
  init_handles(node);
  wire_parts(node);
  *out = node;
  return 0;
}

/* ---- running -------------------------------------------------------------------- */

static void on_expire(uv_timer_t *t) {
  hs_node_t *node = t->data;
  store_expire(&node->store, log_now_ms());
}

/* The node's one tick: each part's. */
static void on_tick(uv_timer_t *t) {
  hs_node_t *node = t->data;
  health_tick(&node->health);
  repl_tick(&node->repl);
  peers_prune(&node->peers);
  if (leave_tick(node)) node_halt(node, leave_finish(node), 0);
  if (id_taken(node)) node_halt(node, NULL, 0);
  catchup_tick(node);
}

/* Budgets the process cannot keep: accepting fails with EMFILE first. */
static void warn_fd_limit(hs_node_t *node) {
  struct rlimit rl;
  const hs_node_config_t *c = &node->cfg;
  uint64_t want = (uint64_t)c->max_connections + c->max_peer_connections +
                  c->max_handshakes + 64;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      want > rl.rlim_cur)
    LOG(&node->log, HS_LOG_WARN, "node", "fd_limit",
        LF_UINT("limit", rl.rlim_cur), LF_UINT("budgets", want),
        LF_STR("detail", "max_connections + max_peer_connections + "
                         "max_handshakes pass the open files allowed: "
                         "raise ulimit -n or lower them"));
}

/* The JOIN answer came (ok: id and view are set): serve, or stop. */
static void joined(hs_node_t *node, bool ok) {
  join_stop(node);
  if (ok && node->disk &&
      disk_set_node(node->disk, node_self(node), node->error,
                    sizeof node->error))
    ok = false;
  if (!ok) {
    node->state = HS_NODE_RUNNING; /* so that node_halt stops it */
    node_halt(node, NULL, 0);
    return;
  }
  repl_restored(&node->repl); /* topics loaded from disk take their roles */
  node_start_ticking(node);
  catchup_start(node);
  node_set_state(node, HS_NODE_RUNNING);
}

HS_API int hs_node_start(hs_node_t *node) {
  if (node->freeing || node->listening) return HS_EINVALID;
  int rc = node_listen(node);
  if (!rc) rc = monitor_start(node); /* operations */
  if (rc) return rc;
  cluster_listening(&node->cluster, node->host, node->port);
  if (node->cfg.retain_ms)
    uv_timer_start(&node->expire_timer, on_expire, EXPIRE_EVERY_MS,
                   EXPIRE_EVERY_MS);
  const view_t *v = &node->cluster.view;
  LOG(&node->log, HS_LOG_INFO, "node", "node_started",
      LF_UINT("id", node_self(node)), LF_STR("host", node->host),
      LF_INT("port", node->port), LF_STR("cluster", node->cluster_name),
      LF_UINT("max_payload", node->cfg.max_payload), LF_UINT("members", v->n),
      LF_UINT("dim", view_dim(v)), LF_UINT("epoch", v->epoch),
      LF_STR("version", HS_VERSION));
  warn_fd_limit(node);
  if (node->disk)
    LOG(&node->log, HS_LOG_INFO, "disk", "data_dir",
        LF_STR("dir", disk_dir(node->disk)),
        LF_STR("fsync", fsync_name(disk_fsync_mode(node->disk))),
        LF_UINT("topics", node->store.topics.count),
        LF_UINT("messages", node->store.messages));
  else
    LOG(&node->log, HS_LOG_INFO, "disk", "in_memory",
        LF_STR("detail", "no data_dir: topics live in memory and go when "
                         "the node stops"));
  if (!node->users.n || !node->has_key)
    LOG(&node->log, HS_LOG_WARN, "node", "node_open",
        LF_STR("to", !node->users.n && !node->has_key ? "clients and peers"
                     : node->has_key ? "clients" : "peers"),
        LF_STR("detail", !node->users.n
                             ? "no users: any client that reaches the port "
                               "may publish, subscribe and run the node"
                             : "no cluster key: anyone who reaches the port "
                               "may take part as a member"));
  if (node->cfg.join) {
    node_set_state(node, HS_NODE_JOINING);
    return join_start(node, joined);
  }
  repl_restored(&node->repl); /* topics loaded from disk take their roles */
  if (v->n > 1) {
    node_start_ticking(node);
    catchup_start(node); /* a restarted member gets its topics */
  } else if (node->disk) {
    disk_settle_damage(node->disk); /* no copy to ask */
  }
  node_set_state(node, HS_NODE_RUNNING);
  return 0;
}

HS_API int hs_node_stop(hs_node_t *node, uint32_t restart_after_ms) {
  if (node->state != HS_NODE_RUNNING) return HS_EINVALID;
  node_halt(node, NULL, restart_after_ms);
  return 0;
}


/* ---- accessors -------------------------------------------------------------------- */

HS_API const char *hs_node_last_error(const hs_node_t *node) {
  return node->error;
}

HS_API int hs_node_port(const hs_node_t *node) {
  return node->listening ? node->port : 0;
}

HS_API uint32_t hs_node_id(const hs_node_t *node) { return node_self(node); }

HS_API hs_node_state_t hs_node_state(const hs_node_t *node) {
  return node->state;
}

HS_API void hs_node_on_state(hs_node_t *node, hs_node_state_cb cb, void *ud) {
  node->state_cb = cb;
  node->state_ud = ud;
}

HS_API void hs_node_set_next_hop(hs_node_t *node, hs_next_hop_cb cb,
                                 void *ud) {
  node->next_hop_cb = cb;
  node->next_hop_ud = ud;
}

HS_API void hs_node_set_read_replica(hs_node_t *node, hs_read_replica_cb cb,
                                     void *ud) {
  node->reads.cb = cb;
  node->reads.ud = ud;
}

HS_API void hs_node_set_log_hook(hs_node_t *node, hs_log_hook_cb cb, void *ud,
                                 hs_log_level_t level) {
  node->log.hook = cb;
  node->log.hook_ud = ud;
  node->log.hook_level = level;
}

HS_API size_t hs_node_members(const hs_node_t *node, hs_member_t *out,
                              size_t cap) {
  const view_t *v = &node->cluster.view;
  for (size_t i = 0; i < v->n && i < cap; i++) {
    const view_member_t *m = &v->members[i];
    out[i] = (hs_member_t){m->id, m->addr, cluster_state_name(m->state)};
  }
  return v->n;
}

HS_API uint64_t hs_node_epoch(const hs_node_t *node) {
  return node->cluster.view.epoch;
}

HS_API unsigned hs_node_dim(const hs_node_t *node) {
  return view_dim(&node->cluster.view);
}

HS_API const char *hs_node_stats_json(hs_node_t *node, size_t *len) {
  stats_gauges_t g = {
      .node_id = node_self(node),
      .now_ms = log_now_ms(),
      .connections = node->n_conns,
      .topics = node->store.topics.count,
      .publishers = node->store.publishers.count,
      .subscribers = node->store.subscribers.count,
      .messages = node->store.messages,
      .bytes = node->store.bytes,
      .pull_waiting = node->n_waiting,
  };
  /* Connections still open have not added their byte counts yet. */
  stats_t s = node->stats;
  for (node_conn_t *nc = node->conns; nc; nc = nc->next) {
    s.bytes_in += nc->conn.bytes_in;
    s.bytes_out += nc->conn.bytes_out;
  }
  json_t j;
  buf_clear(&node->scratch);
  json_init(&j, &node->scratch);
  json_open(&j, NULL);
  stats_write(&j, &s, &g, wire_op_name);
  repl_stats(&node->repl, &j);
  health_stats(&node->health, &j);
  json_u64(&j, "peer_links", node_peer_links(node));
  json_u64(&j, "view_steps", node->spread.last_hops);
  /* the last view change, on the wall clock */
  json_u64(&j, "view_changed_ms",
           node->spread.changed_ms
               ? g.now_ms - (uv_now(node->loop) - node->spread.changed_ms)
               : 0);
  json_u64(&j, "catching_up", node->member.catching_up);
  json_bool(&j, "quorum", !node->cluster.quorum_lost);
  facts_json(node, &j); /* operations */
  json_close(&j);
  if (json_end(&j) || buf_append(&node->scratch, "", 1)) return NULL;
  *len = node->scratch.len - 1; /* without the NUL */
  return node->scratch.data;
}

/* ---- freeing ------------------------------------------------------------------------ */

static void repl_check_closed(uv_handle_t *h) {
  repl_t *r = h->data;
  node_release((hs_node_t *)((char *)r - offsetof(hs_node_t, repl)));
}

static void flusher_closed(uv_handle_t *h) {
  flusher_t *f = (flusher_t *)h;
  node_release((hs_node_t *)((char *)f - offsetof(hs_node_t, flusher)));
}

HS_API void hs_node_free(hs_node_t *node) {
  if (!node || node->freeing) return;
  node->freeing = true;
  node->state_cb = NULL;
  join_stop(node);
  if (node->state == HS_NODE_RUNNING)
    LOG(&node->log, HS_LOG_INFO, "node", "node_closed",
        LF_UINT("id", node_self(node)));
  node->log.hook = NULL;
  node_close_conns(node);
  if (node->disk) { /* what is gathered goes down first */
    node->open_handles++;
    disk_close(node->disk, disk_closed, node);
    node->disk = NULL;
  }
  peers_close(&node->peers);
  flusher_close(&node->flusher, flusher_closed);
  uv_close((uv_handle_t *)&node->restart_timer, handle_closed);
  uv_close((uv_handle_t *)&node->tick_timer, handle_closed);
  uv_close(repl_check_handle(&node->repl), repl_check_closed);
  uv_close((uv_handle_t *)&node->expire_timer, handle_closed);
  uv_close((uv_handle_t *)&node->handshake_timer, handle_closed);
  monitor_free(node); /* operations */
}
