#include "core/addr.h"
#include "node/node.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Room for a frame's header and names around the largest payload. */
#define FRAME_OVERHEAD (64 * 1024)
#define EXPIRE_EVERY_MS 1000

static void node_release(hs_node_t *node);
static void handle_closed(uv_handle_t *h) { node_release(h->data); }

/* ---- configuration ----------------------------------------------------- */

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
  cfg->log_level = HS_LOG_INFO;
  cfg->log_format = HS_LOG_TEXT;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* ---- connections ------------------------------------------------------- */

static void nc_on_frame(conn_t *c, const wire_frame_t *f) {
  ops_dispatch(c->owner, f);
}

static void nc_on_oversize(conn_t *c, uint8_t op, uint32_t id, size_t len) {
  node_conn_t *nc = c->owner;
  hs_node_t *node = nc->node;
  if (!nc->hello_done) { /* nobody we know: no reason to skip megabytes */
    node->stats.protocol_errors++;
    node_reply_error(nc, op, id, HS_EPROTOCOL, "the first frame must be HELLO");
    node_send(nc);
    conn_shutdown(c);
    return;
  }
  node_reply_error(nc, op, id, HS_ETOO_LARGE,
                   "frame of %zu bytes is over the limit of %zu (max_payload "
                   "%zu)",
                   len, node->max_frame, node->cfg.max_payload);
  node_send(nc);
}

static void nc_on_garbage(conn_t *c, const char *why, const char *bytes,
                          size_t n) {
  node_conn_t *nc = c->owner;
  hs_node_t *node = nc->node;
  uint32_t suppressed = 0;
  node->stats.protocol_errors++;
  if (log_limit_allow(&node->garbage_limit, log_now_ms(), &suppressed))
    LOG(&node->log, HS_LOG_WARN, "conn", "bad_frame", LF_STR("peer", nc->peer),
        LF_STR("error", why), LF_PREFIX("bytes", bytes, n),
        LF_UINT("suppressed", suppressed));
  /* Tell the sender what was wrong before hanging up. */
  char msg[160];
  int len = snprintf(msg, sizeof msg, "bad frame: %s", why);
  wire_put_error(&c->out, 0, 0, HS_EPROTOCOL, msg, (size_t)len);
}

static void nc_unlink(node_conn_t *nc) {
  hs_node_t *node = nc->node;
  if (nc->prev)
    nc->prev->next = nc->next;
  else if (node->conns == nc)
    node->conns = nc->next;
  if (nc->next) nc->next->prev = nc->prev;
  nc->prev = nc->next = NULL;
}

static void nc_on_close(conn_t *c, int reason) {
  node_conn_t *nc = c->owner;
  hs_node_t *node = nc->node;
  while (nc->waiters) ops_waiter_free(nc->waiters);
  route_orphan_relays(nc);
  nc_unlink(nc);
  node->n_conns--;
  node->stats.connections_closed++;
  node->stats.bytes_in += c->bytes_in;
  node->stats.bytes_out += c->bytes_out;
  if (reason == HS_ETOO_LARGE) {
    node->stats.connections_dropped_slow++;
    LOG(&node->log, HS_LOG_WARN, "conn", "dropped_slow_reader",
        LF_STR("peer", nc->peer), LF_UINT("buffered", conn_buffered(c)),
        LF_UINT("limit", c->max_output));
  } else {
    LOG(&node->log, HS_LOG_DEBUG, "conn", "closed", LF_STR("peer", nc->peer),
        LF_STR("reason", reason ? hs_err_name(reason) : "eof"));
  }
}

static void nc_on_free(conn_t *c) {
  node_conn_t *nc = c->owner;
  hs_node_t *node = nc->node;
  free(nc);
  node_release(node);
}

static const conn_hooks_t node_conn_hooks = {
    .on_frame = nc_on_frame,
    .on_oversize = nc_on_oversize,
    .on_garbage = nc_on_garbage,
    .on_close = nc_on_close,
    .on_free = nc_on_free,
};

static void on_connection(uv_stream_t *server, int status) {
  hs_node_t *node = server->data;
  if (status < 0) {
    LOG(&node->log, HS_LOG_WARN, "node", "accept_failed",
        LF_STR("error", uv_strerror(status)));
    return;
  }
  node_conn_t *nc = calloc(1, sizeof *nc);
  if (!nc || conn_init(&nc->conn, node->loop, &node->flusher,
                       &node_conn_hooks, nc, node->max_frame,
                       node->cfg.max_output)) {
    free(nc);
    LOG(&node->log, HS_LOG_ERROR, "node", "accept_failed",
        LF_STR("error", "out of memory"));
    return;
  }
  nc->node = node;
  node->open_handles++;
  nc->next = node->conns;
  if (node->conns) node->conns->prev = nc;
  node->conns = nc;
  node->n_conns++;
  node->stats.connections_accepted++;
  if (uv_accept(server, (uv_stream_t *)&nc->conn.tcp) < 0) {
    conn_close(&nc->conn, HS_EIO);
    return;
  }
  conn_peer_name(&nc->conn, nc->peer, sizeof nc->peer);
  if (node->n_conns > node->cfg.max_connections) {
    node->stats.connections_refused++;
    LOG(&node->log, HS_LOG_WARN, "node", "connection_refused",
        LF_STR("peer", nc->peer), LF_UINT("limit", node->cfg.max_connections));
    conn_close(&nc->conn, HS_EUNAVAILABLE);
    return;
  }
  LOG(&node->log, HS_LOG_DEBUG, "conn", "accepted", LF_STR("peer", nc->peer));
  if (conn_start(&nc->conn)) conn_close(&nc->conn, HS_EIO);
}

/* ---- replies ----------------------------------------------------------- */

void node_reply_error(node_conn_t *nc, uint8_t op, uint32_t id, int code,
                      const char *fmt, ...) {
  char msg[512];
  if (-code < STATS_ERRORS) nc->node->stats.errors[-code]++;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  wire_put_error(&nc->conn.out, op, id, code, msg, (size_t)n);
}

void node_send(node_conn_t *nc) { conn_dirty(&nc->conn); }

/* ---- life cycle -------------------------------------------------------- */

static int node_listen(hs_node_t *node) {
  struct sockaddr_storage ss;
  char addr[300];
  snprintf(addr, sizeof addr, strchr(node->host, ':') ? "[%s]:%d" : "%s:%d",
           node->host, node->port);
  if (addr_parse(addr, &ss)) {
    snprintf(node->error, sizeof node->error, "\"%s\" is not an IP address",
             node->host);
    return HS_EINVALID;
  }
  int rc = uv_tcp_init(node->loop, &node->listener);
  if (rc) return HS_EIO;
  node->listener.data = node;
  node->open_handles++;
  node->listening = true;
  rc = uv_tcp_bind(&node->listener, (struct sockaddr *)&ss, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&node->listener, 511, on_connection);
  if (rc) {
    snprintf(node->error, sizeof node->error, "could not listen on %s: %s",
             addr, uv_strerror(rc));
    LOG(&node->log, HS_LOG_ERROR, "node", "listen_failed",
        LF_STR("addr", addr), LF_STR("error", uv_strerror(rc)));
    node->listening = false;
    uv_close((uv_handle_t *)&node->listener, handle_closed);
    return HS_EIO;
  }
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&node->listener, (struct sockaddr *)&bound, &len);
  node->port = ntohs(bound.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&bound)->sin6_port
                         : ((struct sockaddr_in *)&bound)->sin_port);
  return 0;
}

static void set_state(hs_node_t *node, hs_node_state_t state) {
  node->state = state;
  if (node->state_cb) node->state_cb(node, state, node->state_ud);
}

static void on_expire(uv_timer_t *t) {
  hs_node_t *node = t->data;
  store_expire(&node->store, log_now_ms());
}

HS_API int hs_node_new(uv_loop_t *loop, const hs_node_config_t *cfg,
                       hs_node_t **out) {
  if (!cfg->max_payload || cfg->max_payload > UINT32_MAX - FRAME_OVERHEAD ||
      cfg->max_output < cfg->max_payload + FRAME_OVERHEAD || !cfg->max_pull || cfg->port < 0 ||
      cfg->port > 65535 || !cfg->cluster || !*cfg->cluster ||
      strlen(cfg->cluster) > HS_NAME_MAX)
    return HS_EINVALID;
  hs_node_t *node = calloc(1, sizeof *node);
  if (!node) return HS_ENOMEM;
  node->loop = loop;
  node->cfg = *cfg;
  node->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
  node->cluster = strdup(cfg->cluster);
  node->log_file = dup_or_null(cfg->log_file);
  node->join = dup_or_null(cfg->join);
  node->cfg.host = node->host;
  node->cfg.cluster = node->cluster;
  node->cfg.log_file = node->log_file;
  node->cfg.join = node->join;
  node->max_frame = cfg->max_payload + FRAME_OVERHEAD;
  node->port = cfg->port;
  node->garbage_limit = (log_limit_t)LOG_LIMIT_INIT(10);
  node->retry_limit = (log_limit_t)LOG_LIMIT_INIT(10);
  node->read_limit = (log_limit_t)LOG_LIMIT_INIT(10);
  log_init(&node->log, cfg->join && cfg->id == HS_ID_ANY ? -1 : (int64_t)cfg->id);
  node->log.level = cfg->log_level;
  node->log.format = cfg->log_format;
  if (!node->host || !node->cluster || (cfg->log_file && !node->log_file) ||
      (cfg->join && !node->join) ||
      (cfg->log_file && log_open(&node->log, cfg->log_file))) {
    int rc = node->host && node->cluster ? HS_EIO : HS_ENOMEM;
    log_close(&node->log);
    free(node->host);
    free(node->cluster);
    free(node->log_file);
    free(node->join);
    free(node);
    return rc;
  }
  int rc = cluster_init(node, cfg);
  if (rc) {
    view_free(&node->view);
    log_close(&node->log);
    free(node->host);
    free(node->cluster);
    free(node->log_file);
    free(node->join);
    free(node);
    return rc;
  }
  node->cfg.peers = NULL; /* the view holds them now */
  node->cfg.n_peers = 0;
  store_limits_t limits = {.retain_messages = cfg->retain_messages,
                           .retain_bytes = cfg->retain_bytes,
                           .retain_ms = cfg->retain_ms};
  store_init(&node->store, &limits);
  stats_init(&node->stats, log_now_ms());
  flusher_init(&node->flusher, loop);
  uv_timer_init(loop, &node->restart_timer);
  uv_timer_init(loop, &node->expire_timer);
  uv_check_init(loop, &node->repl_check);
  uv_timer_init(loop, &node->heartbeat_timer);
  node->heartbeat_timer.data = node;
  node->restart_timer.data = node->expire_timer.data = node;
  node->repl_check.data = node;
  uv_unref((uv_handle_t *)&node->repl_check); /* pending work is not life */
  node->open_handles = 5;
  *out = node;
  return 0;
}

HS_API int hs_node_start(hs_node_t *node) {
  if (node->freeing || node->listening) return HS_EINVALID;
  int rc = node_listen(node);
  if (rc) return rc;
  cluster_listening(node);
  if (node->cfg.retain_ms)
    uv_timer_start(&node->expire_timer, on_expire, EXPIRE_EVERY_MS,
                   EXPIRE_EVERY_MS);
  LOG(&node->log, HS_LOG_INFO, "node", "node_started",
      LF_UINT("id", node->cfg.id), LF_STR("host", node->host),
      LF_INT("port", node->port), LF_STR("cluster", node->cluster),
      LF_UINT("max_payload", node->cfg.max_payload),
      LF_UINT("members", node->view.n), LF_UINT("dim", view_dim(&node->view)),
      LF_UINT("epoch", node->view.epoch), LF_STR("version", HS_VERSION));
  if (node->cfg.join) {
    set_state(node, HS_NODE_JOINING);
    return member_join_start(node);
  }
  if (node->view.n > 1) {
    health_start(node);
    member_catch_up_start(node); /* a restarted member gets its topics */
  }
  set_state(node, HS_NODE_RUNNING);
  return 0;
}

void node_joined(hs_node_t *node, bool ok) {
  member_stop_joining(node);
  if (!ok) {
    node->state = HS_NODE_RUNNING; /* so that node_halt stops it */
    node_halt(node, NULL, 0);
    return;
  }
  health_start(node);
  member_catch_up_start(node);
  set_state(node, HS_NODE_RUNNING);
}

static void on_restart(uv_timer_t *t) {
  hs_node_t *node = t->data;
  if (node_listen(node)) {
    LOG(&node->log, HS_LOG_ERROR, "node", "restart_failed",
        LF_INT("port", node->port));
    set_state(node, HS_NODE_STOPPED);
    return;
  }
  LOG(&node->log, HS_LOG_INFO, "node", "node_restarted",
      LF_UINT("id", node->cfg.id), LF_INT("port", node->port),
      LF_UINT("topics", node->store.topics.count));
  if (node->view.n > 1) health_start(node);
  set_state(node, HS_NODE_RUNNING);
}

void node_halt(hs_node_t *node, node_conn_t *keep, uint32_t restart_after_ms) {
  if (node->state != HS_NODE_RUNNING) return;
  if (node->listening) {
    node->listening = false;
    uv_close((uv_handle_t *)&node->listener, handle_closed);
  }
  for (node_conn_t *nc = node->conns, *next; nc; nc = next) {
    next = nc->next;
    if (nc == keep)
      conn_shutdown(&nc->conn);
    else
      conn_close(&nc->conn, HS_EUNAVAILABLE);
  }
  route_close_links(node); /* a crash loses its links too */
  health_stop(node);
  LOG(&node->log, HS_LOG_WARN, "node", "node_stopped",
      LF_UINT("id", node->cfg.id), LF_UINT("restart_after_ms", restart_after_ms));
  if (restart_after_ms) {
    uv_timer_start(&node->restart_timer, on_restart, restart_after_ms, 0);
    set_state(node, HS_NODE_RESTARTING);
  } else {
    set_state(node, HS_NODE_STOPPED);
  }
}

HS_API int hs_node_stop(hs_node_t *node, uint32_t restart_after_ms) {
  if (node->state != HS_NODE_RUNNING) return HS_EINVALID;
  node_halt(node, NULL, restart_after_ms);
  return 0;
}

HS_API const char *hs_node_last_error(const hs_node_t *node) {
  return node->error;
}

HS_API int hs_node_port(const hs_node_t *node) {
  return node->listening ? node->port : 0;
}
HS_API uint32_t hs_node_id(const hs_node_t *node) { return node->cfg.id; }
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
  node->read_replica_cb = cb;
  node->read_replica_ud = ud;
}

HS_API void hs_node_set_log_hook(hs_node_t *node, hs_log_hook_cb cb, void *ud,
                                 hs_log_level_t level) {
  node->log.hook = cb;
  node->log.hook_ud = ud;
  node->log.hook_level = level;
}

HS_API const char *hs_node_stats_json(hs_node_t *node, size_t *len) {
  stats_gauges_t g = {
      .node_id = node->cfg.id,
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
  buf_clear(&node->scratch);
  if (stats_json(&s, &g, wire_op_name, &node->scratch)) return NULL;
  node->scratch.len--; /* reopen the object for the cluster's part */
  repl_stats_json(node, &node->scratch);
  health_stats_json(node, &node->scratch);
  member_stats_json(node, &node->scratch);
  if (buf_append(&node->scratch, "}", 2)) return NULL; /* with the NUL */
  *len = node->scratch.len - 1;
  return node->scratch.data;
}

/* Every handle the node owns ends here; the last one frees the node. */
static void node_release(hs_node_t *node) {
  if (--node->open_handles > 0 || !node->freeing) return;
  repl_free_all(node);
  health_free(node);
  store_free(&node->store);
  view_free(&node->view);
  route_free_relays(node);
  read_free(node);
  member_free(node);
  buf_free(&node->scratch);
  log_close(&node->log);
  free(node->host);
  free(node->cluster);
  free(node->log_file);
  free(node->join);
  free(node);
}

static void flusher_closed(uv_handle_t *h) {
  flusher_t *f = (flusher_t *)h;
  node_release((hs_node_t *)((char *)f - offsetof(hs_node_t, flusher)));
}

HS_API void hs_node_free(hs_node_t *node) {
  if (!node || node->freeing) return;
  node->freeing = true;
  node->state_cb = NULL;
  member_stop_joining(node);
  if (node->state == HS_NODE_RUNNING)
    LOG(&node->log, HS_LOG_INFO, "node", "node_closed",
        LF_UINT("id", node->cfg.id));
  node->log.hook = NULL;
  if (node->listening) {
    node->listening = false;
    uv_close((uv_handle_t *)&node->listener, handle_closed);
  }
  for (node_conn_t *nc = node->conns, *next; nc; nc = next) {
    next = nc->next;
    conn_close(&nc->conn, HS_ECLOSED);
  }
  route_close_links(node);
  flusher_close(&node->flusher, flusher_closed);
  uv_close((uv_handle_t *)&node->restart_timer, handle_closed);
  uv_close((uv_handle_t *)&node->heartbeat_timer, handle_closed);
  uv_close((uv_handle_t *)&node->repl_check, handle_closed);
  uv_close((uv_handle_t *)&node->expire_timer, handle_closed);
}
