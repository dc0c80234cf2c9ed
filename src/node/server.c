/* server — the listener and the connections clients and peers open to the
 * node: accepting within the limit, bad and oversize frames, closing, and
 * writing replies into a connection's output. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "node/node.h"

/* ---- a connection's events ----------------------------------------------- */

static void nc_on_frame(conn_t *c, const wire_frame_t *f) {
  node_conn_t *nc = c->owner;
  nc->node->on_frame(nc, f);
}

static void nc_on_oversize(conn_t *c, uint8_t op, uint32_t id, size_t len) {
  node_conn_t *nc = c->owner;
  hs_node_t *node = nc->node;
  if (nc->stage != NC_READY) { /* nobody we know: no reason to skip megabytes */
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

/* ---- budgets: connections in their handshake, clients, peers -------------- */

static void handshake_arm(hs_node_t *node);

static void handshake_unlink(node_conn_t *nc) {
  hs_node_t *node = nc->node;
  if (!nc->hs_prev && node->hs_head != nc) return; /* not in the queue */
  if (nc->hs_prev) nc->hs_prev->hs_next = nc->hs_next;
  else node->hs_head = nc->hs_next;
  if (nc->hs_next) nc->hs_next->hs_prev = nc->hs_prev;
  else node->hs_tail = nc->hs_prev;
  nc->hs_prev = nc->hs_next = NULL;
  node->n_handshaking--;
}

/* Says why a connection was refused or closed, rate-limited: a flood of
 * them must not become a flood of lines. */
static void log_refused(hs_node_t *node, const char *event, const char *peer,
                        const char *why) {
  uint32_t suppressed = 0;
  if (log_limit_allow(&node->refused_limit, log_now_ms(), &suppressed))
    LOG(&node->log, HS_LOG_WARN, "conn", event, LF_STR("peer", peer),
        LF_STR("why", why), LF_UINT("suppressed", suppressed));
}

static void on_handshake_deadline(uv_timer_t *t) {
  hs_node_t *node = t->data;
  uint64_t now = uv_now(node->loop);
  while (node->hs_head &&
         node->hs_head->accepted_ms + node->cfg.handshake_ms <= now) {
    node_conn_t *nc = node->hs_head;
    handshake_unlink(nc);
    node->stats.handshake_timeouts++;
    log_refused(node, "handshake_timeout", nc->peer,
                "no HELLO and AUTH within handshake_ms");
    conn_close(&nc->conn, HS_ETIMEOUT);
  }
  handshake_arm(node);
}

/* The timer waits for the oldest connection's deadline. */
static void handshake_arm(hs_node_t *node) {
  if (!node->hs_head) {
    uv_timer_stop(&node->handshake_timer);
    return;
  }
  uint64_t due = node->hs_head->accepted_ms + node->cfg.handshake_ms,
           now = uv_now(node->loop);
  uv_timer_start(&node->handshake_timer, on_handshake_deadline,
                 due > now ? due - now : 0, 0);
}

/* A new connection starts its handshake; with the queue full, the oldest
 * one is closed: a stranger holding sockets open cannot lock peers out,
 * only race them. */
static void handshake_enqueue(node_conn_t *nc) {
  hs_node_t *node = nc->node;
  if (node->n_handshaking >= node->cfg.max_handshakes && node->hs_head) {
    node_conn_t *oldest = node->hs_head;
    handshake_unlink(oldest);
    node->stats.handshakes_evicted++;
    log_refused(node, "handshake_evicted", oldest->peer,
                "max_handshakes connections were in their handshake");
    conn_close(&oldest->conn, HS_EUNAVAILABLE);
  }
  nc->accepted_ms = uv_now(node->loop);
  nc->hs_prev = node->hs_tail;
  if (node->hs_tail) node->hs_tail->hs_next = nc;
  else node->hs_head = nc;
  node->hs_tail = nc;
  node->n_handshaking++;
  if (nc == node->hs_head) handshake_arm(node);
}

void node_conn_ready(node_conn_t *nc) {
  hs_node_t *node = nc->node;
  bool was_head = node->hs_head == nc;
  nc->stage = NC_READY;
  handshake_unlink(nc);
  if (was_head) handshake_arm(node);
}

int node_conn_admit(node_conn_t *nc, uint8_t role, char *why, size_t len) {
  hs_node_t *node = nc->node;
  bool peer = role == WIRE_ROLE_PEER;
  size_t *n = peer ? &node->n_peers : &node->n_clients;
  uint32_t limit =
      peer ? node->cfg.max_peer_connections : node->cfg.max_connections;
  if (nc->budget) return 0;
  if (*n >= limit) {
    node->stats.connections_refused++;
    snprintf(why, len, "node %u serves %u %s connections at most (%s)",
             node_self(node), limit, peer ? "peer" : "client",
             peer ? "max_peer_connections" : "max_connections");
    log_refused(node, "connection_refused", nc->peer, why);
    return HS_EUNAVAILABLE;
  }
  (*n)++;
  nc->budget = role;
  return 0;
}

static void nc_on_close(conn_t *c, int reason) {
  node_conn_t *nc = c->owner;
  hs_node_t *node = nc->node;
  bool was_head = node->hs_head == nc;
  handshake_unlink(nc);
  if (was_head && !node->freeing) handshake_arm(node);
  if (nc->budget == WIRE_ROLE_PEER) node->n_peers--;
  else if (nc->budget == WIRE_ROLE_CLIENT) node->n_clients--;
  while (nc->waiters) waiters_free(nc->waiters);
  req_orphan_all(&nc->reqs);
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

/* ---- accepting ---------------------------------------------------------------- */

static node_conn_t *conn_new(hs_node_t *node) {
  node_conn_t *nc = calloc(1, sizeof *nc);
  if (!nc || conn_init(&nc->conn, node->loop, &node->flusher,
                       &node_conn_hooks, nc, node->max_frame,
                       node->cfg.max_output)) {
    free(nc);
    return NULL;
  }
  nc->node = node;
  node->open_handles++;
  nc->next = node->conns;
  if (node->conns) node->conns->prev = nc;
  node->conns = nc;
  node->n_conns++;
  node->stats.connections_accepted++;
  return nc;
}

static void on_connection(uv_stream_t *server, int status) {
  hs_node_t *node = server->data;
  if (status < 0) { /* EMFILE: out of file descriptors, say so */
    log_refused(node, "accept_failed", "?", uv_strerror(status));
    return;
  }
  node_conn_t *nc = conn_new(node);
  if (!nc) {
    LOG(&node->log, HS_LOG_ERROR, "node", "accept_failed",
        LF_STR("error", "out of memory"));
    return;
  }
  if (uv_accept(server, (uv_stream_t *)&nc->conn.tcp) < 0) {
    conn_close(&nc->conn, HS_EIO);
    return;
  }
  conn_peer_name(&nc->conn, nc->peer, sizeof nc->peer);
  if (node->tls_server && !(nc->conn.tls = tls_conn_new(node->tls_server, NULL))) {
    conn_close(&nc->conn, HS_ENOMEM);
    return;
  }
  handshake_enqueue(nc);
  LOG(&node->log, HS_LOG_DEBUG, "conn", "accepted", LF_STR("peer", nc->peer));
  if (conn_start(&nc->conn)) conn_close(&nc->conn, HS_EIO);
}

static void listener_closed(uv_handle_t *h) {
  hs_node_t *node = h->data;
  node->unlistening = false;
  node_release(node);
}

int node_listen(hs_node_t *node) {
  struct sockaddr_storage ss;
  char addr[300];
  if (addr_format(addr, sizeof addr, node->host, node->port) ||
      addr_parse(addr, &ss)) {
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
    node->unlistening = true;
    uv_close((uv_handle_t *)&node->listener, listener_closed);
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

/* Stops listening and closes every connection but `keep`, which is flushed
 * and shut down. */
static void close_all(hs_node_t *node, node_conn_t *keep, int reason) {
  if (node->listening) {
    node->listening = false;
    node->unlistening = true;
    uv_close((uv_handle_t *)&node->listener, listener_closed);
  }
  for (node_conn_t *nc = node->conns, *next; nc; nc = next) {
    next = nc->next;
    if (nc == keep)
      conn_shutdown(&nc->conn);
    else
      conn_close(&nc->conn, reason);
  }
}

void node_close_conns(hs_node_t *node) { close_all(node, NULL, HS_ECLOSED); }

void node_stop_serving(hs_node_t *node, node_conn_t *keep) {
  close_all(node, keep, HS_EUNAVAILABLE);
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

size_t node_peer_links(hs_node_t *node) {
  size_t out = peers_ids(&node->peers, NULL, 0), n = out;
  for (node_conn_t *nc = node->conns; nc; nc = nc->next) n++;
  uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
  if (!ids) return out;
  n = peers_ids(&node->peers, ids, out);
  for (node_conn_t *nc = node->conns; nc; nc = nc->next)
    if (nc->role == WIRE_ROLE_PEER && nc->stage == NC_READY && !nc->joiner)
      ids[n++] = nc->peer_id;
  qsort(ids, n, sizeof *ids, cmp_u32);
  size_t distinct = 0;
  for (size_t i = 0; i < n; i++)
    distinct += ids[i] != node_self(node) && (i == 0 || ids[i] != ids[i - 1]);
  free(ids);
  return distinct;
}
