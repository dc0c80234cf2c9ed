/* ops — the node's request handlers: decode, validate, act on the store,
 * reply. Every failure names what was wrong and carries its code. */
#include <stdlib.h>
#include <string.h>

#include "cube/cube.h"
#include "node/node.h"
#include "node/repl.h"

typedef void (*op_fn)(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r);

/* ---- helpers ------------------------------------------------------------ */

static uint32_t home_of(const hs_node_t *node, uint64_t h) {
  uint32_t home;
  return cluster_copies(node, h, &home, 1) ? home : node->cfg.id;
}

static void bad_request(node_conn_t *nc, const wire_frame_t *f,
                        wire_reader_t *r) {
  if (strcmp(r->bad, "trailing bytes") == 0)
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "malformed %s request: bytes after the last field",
                     wire_op_name(f->op));
  else
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "malformed %s request: field \"%s\" is missing or "
                     "truncated",
                     wire_op_name(f->op), r->bad);
}

/* Reports an invalid name and returns false. */
static bool name_ok(node_conn_t *nc, const wire_frame_t *f, const char *what,
                    const char *s, size_t n) {
  if (wire_name_check(s, n) == 0) return true;
  node_reply_error(nc, f->op, f->id, HS_EINVALID,
                   "%s must be 1-255 bytes of printable ASCII without space, "
                   "'\"' or '\\' (got %zu bytes)",
                   what, n);
  return false;
}

/* An empty success reply. */
static void reply_ok(node_conn_t *nc, const wire_frame_t *f) {
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_end(&w);
}

/* Whether this node may serve a topic it homes now; false when it has
 * answered UNAVAILABLE (the client retries): it sees no majority alive, or
 * is still catching up and lacks the topic (`t` NULL). */
static bool may_serve(node_conn_t *nc, const wire_frame_t *f,
                      const store_topic_t *t) {
  hs_node_t *node = nc->node;
  if (node->quorum_lost) {
    node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                     "node %u sees no majority of the cluster alive and "
                     "serves no topic until it does",
                     node->cfg.id);
    return false;
  }
  /* Catching up: not before every member answered, and not a topic
   * whose records are still coming (a write now would land at an offset
   * the copies already used). */
  if (node->catching_up &&
      (node->catch_pending || !t ||
       member_expected_next(node, t->name, t->name_len) > t->next)) {
    node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                     "node %u is still receiving the topics it holds; try "
                     "again",
                     node->cfg.id);
    return false;
  }
  const repl_topic_t *rt = t ? repl_of(t) : NULL;
  if (rt && rt->home && rt->settling && rt->filling_to <= t->next) {
    node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                     "topic \"%s\" moved to node %u, which is hearing "
                     "from its replicas first; try again",
                     t->name, node->cfg.id);
    return false;
  }
  if (rt && rt->filling_to > t->next) {
    node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                     "topic \"%s\" is being handed to node %u by node %u; "
                     "try again",
                     t->name, node->cfg.id, rt->filling_from);
    return false;
  }
  return true;
}

static store_topic_t *find_topic(node_conn_t *nc, const wire_frame_t *f,
                                 const char *topic, size_t tn) {
  hs_node_t *node = nc->node;
  store_topic_t *t = store_topic_find(&node->store, topic, tn);
  if (!may_serve(nc, f, t)) return NULL;
  if (!t)
    node_reply_error(nc, f->op, f->id, HS_ENO_TOPIC,
                     "topic \"%.*s\" does not exist", (int)tn, topic);
  return t;
}

/* Whether a publisher or subscriber exists. True: go on. False: answered
 * (NO_PUBLISHER / NO_SUBSCRIBER), or suspended while the identity's home is
 * asked; the request then runs again with the answer learnt. */
static bool identity_ok(node_conn_t *nc, const wire_frame_t *f, uint8_t kind,
                        const char *id, size_t n) {
  hs_node_t *node = nc->node;
  bool pub = kind == PLACE_PUBLISHER;
  if (pub ? store_publisher_exists(&node->store, id, n)
          : store_subscriber_exists(&node->store, id, n))
    return true;
  if (!node->looked_up &&
      route_identity_home(node, kind, id, n) != node->cfg.id) {
    int rc = route_lookup(nc, f, kind, id, n);
    if (rc == 0) return false;
    node_reply_error(nc, f->op, f->id, rc, "could not look up %s \"%.*s\"",
                     pub ? "publisher" : "subscriber", (int)n, id);
    return false;
  }
  if (node->catching_up && !node->looked_up) {
    node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                     "node %u is still receiving the identities it holds; "
                     "try again",
                     node->cfg.id);
    return false;
  }
  node_reply_error(nc, f->op, f->id,
                   pub ? HS_ENO_PUBLISHER : HS_ENO_SUBSCRIBER,
                   "%s \"%.*s\" does not exist",
                   pub ? "publisher" : "subscriber", (int)n, id);
  return false;
}

static bool publisher_ok(node_conn_t *nc, const wire_frame_t *f,
                         const char *pid, size_t pn) {
  return identity_ok(nc, f, PLACE_PUBLISHER, pid, pn);
}

static bool subscriber_ok(node_conn_t *nc, const wire_frame_t *f,
                          const char *sid, size_t sn) {
  return identity_ok(nc, f, PLACE_SUBSCRIBER, sid, sn);
}

static void out_of_memory(node_conn_t *nc, const wire_frame_t *f) {
  node_reply_error(nc, f->op, f->id, HS_ENOMEM, "the node is out of memory");
}

/* ---- HELLO ------------------------------------------------------------- */

static void op_hello(node_conn_t *nc, const wire_frame_t *f,
                     wire_reader_t *r) {
  hs_node_t *node = nc->node;
  uint8_t role;
  uint32_t peer_id;
  const char *cluster;
  size_t cn;
  if (!wire_get_u8(r, "role", &role) ||
      !wire_get_str8(r, "cluster", &cluster, &cn) ||
      !wire_get_u32(r, "node", &peer_id) ||
      (role != WIRE_ROLE_PEER && !wire_reader_done(r))) {
    bad_request(nc, f, r);
    conn_shutdown(&nc->conn);
    return;
  }
  if (nc->hello_done) {
    node_reply_error(nc, f->op, f->id, HS_EPROTOCOL,
                     "HELLO was already received on this connection");
    return;
  }
  if (cn != strlen(node->cluster) || memcmp(cluster, node->cluster, cn)) {
    node_reply_error(nc, f->op, f->id, HS_EDENIED,
                     "cluster \"%.*s\" is not this node's cluster \"%s\"",
                     (int)(cn > 64 ? 64 : cn), cluster, node->cluster);
    conn_shutdown(&nc->conn);
    return;
  }
  if (role != WIRE_ROLE_CLIENT && role != WIRE_ROLE_PEER) {
    node_reply_error(nc, f->op, f->id, HS_EDENIED,
                     "role %u is not client (1) or peer (2)", role);
    conn_shutdown(&nc->conn);
    return;
  }
  if (role == WIRE_ROLE_PEER && node->joining) {
    node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                     "node is still joining the cluster");
    conn_shutdown(&nc->conn);
    return;
  }
  if (role == WIRE_ROLE_PEER && !cluster_hello_peer(nc, f, r, peer_id)) {
    conn_shutdown(&nc->conn);
    return;
  }
  nc->hello_done = true;
  nc->role = role;
  nc->peer_id = peer_id;
  if (role == WIRE_ROLE_PEER) health_heard(node, peer_id);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u32(&w, node->cfg.id);
  wire_put_u32(&w, (uint32_t)node->max_frame);
  if (role == WIRE_ROLE_PEER) cluster_put_view(node, &w);
  wire_end(&w);
}

/* ---- registrations and topics ------------------------------------------ */

static void op_create_identity(node_conn_t *nc, const wire_frame_t *f,
                               wire_reader_t *r) {
  bool pub = f->op == WIRE_CREATE_PUBLISHER;
  const char *what = pub ? "publisher" : "subscriber";
  const char *id;
  size_t n;
  if (!wire_get_str8(r, what, &id, &n) || !wire_reader_done(r))
    return bad_request(nc, f, r);
  if (!name_ok(nc, f, pub ? "publisher id" : "subscriber id", id, n)) return;
  store_t *s = &nc->node->store;
  int rc = pub ? store_publisher_create(s, id, n)
               : store_subscriber_create(s, id, n);
  if (rc == HS_EEXISTS)
    return node_reply_error(nc, f->op, f->id, HS_EEXISTS,
                            "%s \"%.*s\" already exists", what, (int)n, id);
  if (rc) return out_of_memory(nc, f);
  LOG(&nc->node->log, HS_LOG_INFO, "store",
      pub ? "publisher_created" : "subscriber_created",
      LF_STRN(what, id, n));
  repl_identity(nc->node, pub ? PLACE_PUBLISHER : PLACE_SUBSCRIBER, id, n);
  reply_ok(nc, f);
}

/* Reads the publisher and topic a topic request carries and checks both
 * names; false when it has answered. */
static bool get_publisher_topic(node_conn_t *nc, const wire_frame_t *f,
                                wire_reader_t *r, const char **pid,
                                size_t *pn, const char **topic, size_t *tn) {
  if (!wire_get_str8(r, "publisher", pid, pn) ||
      !wire_get_str8(r, "topic", topic, tn) || !wire_reader_done(r)) {
    bad_request(nc, f, r);
    return false;
  }
  return name_ok(nc, f, "publisher id", *pid, *pn) &&
         name_ok(nc, f, "topic name", *topic, *tn);
}

static void op_create_topic(node_conn_t *nc, const wire_frame_t *f,
                            wire_reader_t *r) {
  const char *pid, *topic;
  size_t pn, tn;
  if (!get_publisher_topic(nc, f, r, &pid, &pn, &topic, &tn) ||
      !publisher_ok(nc, f, pid, pn) ||
      !may_serve(nc, f, store_topic_find(&nc->node->store, topic, tn)))
    return;
  store_topic_t *t;
  int rc = store_topic_create(&nc->node->store, topic, tn, pid, pn, &t);
  if (rc == HS_EEXISTS)
    return node_reply_error(nc, f->op, f->id, HS_EEXISTS,
                            "topic \"%.*s\" already exists", (int)tn, topic);
  if (rc) return out_of_memory(nc, f);
  if (repl_topic_created(nc->node, t)) {
    store_topic_delete(&nc->node->store, t);
    return out_of_memory(nc, f);
  }
  LOG(&nc->node->log, HS_LOG_INFO, "store", "topic_created",
      LF_STRN("topic", topic, tn), LF_STRN("publisher", pid, pn));
  reply_ok(nc, f);
}

static void op_delete_topic(node_conn_t *nc, const wire_frame_t *f,
                            wire_reader_t *r) {
  const char *pid, *topic;
  size_t pn, tn;
  if (!get_publisher_topic(nc, f, r, &pid, &pn, &topic, &tn)) return;
  hs_node_t *node = nc->node;
  store_topic_t *t = find_topic(nc, f, topic, tn);
  if (!t) return;
  if (pn != t->owner_len || memcmp(pid, t->owner, pn))
    return node_reply_error(nc, f->op, f->id, HS_ENOT_OWNER,
                            "topic \"%s\" belongs to publisher \"%s\", not "
                            "\"%.*s\"",
                            t->name, t->owner, (int)pn, pid);
  uint64_t messages = t->next - t->first;
  ops_drop_topic_waiters(node, t, HS_ENO_TOPIC, "was deleted");
  repl_topic_deleted(node, t);
  store_topic_delete(&node->store, t);
  LOG(&node->log, HS_LOG_INFO, "store", "topic_deleted",
      LF_STRN("topic", topic, tn), LF_STRN("publisher", pid, pn),
      LF_UINT("messages", messages));
  reply_ok(nc, f);
}

/* ---- publish ------------------------------------------------------------ */

static void op_publish(node_conn_t *nc, const wire_frame_t *f,
                       wire_reader_t *r) {
  hs_node_t *node = nc->node;
  const char *pid, *topic, *data;
  size_t pn, tn, dn;
  uint8_t ack;
  uint64_t producer, seq;
  if (!wire_get_str8(r, "publisher", &pid, &pn) ||
      !wire_get_str8(r, "topic", &topic, &tn) ||
      !wire_get_u8(r, "ack", &ack) || !wire_get_u64(r, "producer", &producer) ||
      !wire_get_u64(r, "seq", &seq) ||
      !wire_get_bytes32(r, "data", &data, &dn) || !wire_reader_done(r))
    return bad_request(nc, f, r);
  if (dn > node->cfg.max_payload)
    return node_reply_error(nc, f->op, f->id, HS_ETOO_LARGE,
                            "message of %zu bytes is over max_payload %zu",
                            dn, node->cfg.max_payload);
  if (ack > HS_ACK_ALL)
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "ack mode %u is not none (0), home (1) or all (2)",
                            ack);
  if (!name_ok(nc, f, "publisher id", pid, pn) ||
      !name_ok(nc, f, "topic name", topic, tn))
    return;
  /* The topic's owner exists (it made the topic): no lookup needed. */
  store_topic_t *held = store_topic_find(&node->store, topic, tn);
  if (!(held && held->owner_len == pn && !memcmp(held->owner, pid, pn)) &&
      !publisher_ok(nc, f, pid, pn))
    return;
  store_topic_t *t = find_topic(nc, f, topic, tn);
  if (!t) return;
  uint64_t offset, now = log_now_ms();
  if (store_dedup(t, producer, seq, &offset)) {
    /* A retry of a publish stored before: answer as the first time. */
    node->stats.deduplicated++;
    LOG(&node->log, HS_LOG_INFO, "store", "publish_deduplicated",
        LF_STR("topic", t->name), LF_UINT("offset", offset),
        LF_UINT("seq", seq), LF_STRN("publisher", pid, pn));
    if (ack == HS_ACK_ALL && offset != UINT64_MAX &&
        offset >= repl_readable(t))
      return repl_wait(node, t, nc, f->id, offset);
  } else {
    if (store_append_seq(&node->store, t, now, pid, pn, producer, seq, data,
                         dn, &offset))
      return out_of_memory(nc, f);
    node->stats.messages_published++;
    if (repl_append(node, t) && ack == HS_ACK_ALL)
      return repl_wait(node, t, nc, f->id, offset); /* answered when all hold it */
  }
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u64(&w, offset);
  wire_end(&w);
  LOG(&node->log, HS_LOG_DEBUG, "store", "published", LF_STR("topic", t->name),
      LF_UINT("offset", offset), LF_UINT("bytes", dn),
      LF_STRN("publisher", pid, pn));
  if (t->waiters) ops_wake_waiters(node, t);
}

/* ---- subscribe and pull ------------------------------------------------- */

static void op_subscribe(node_conn_t *nc, const wire_frame_t *f,
                         wire_reader_t *r) {
  const char *sid, *topic;
  size_t sn, tn;
  uint8_t from;
  uint64_t offset;
  if (!wire_get_str8(r, "subscriber", &sid, &sn) ||
      !wire_get_str8(r, "topic", &topic, &tn) ||
      !wire_get_u8(r, "from", &from) || !wire_get_u64(r, "offset", &offset) ||
      !wire_reader_done(r))
    return bad_request(nc, f, r);
  if (from > HS_FROM_OFFSET)
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "from %u is not earliest (0), latest (1) or an "
                            "offset (2)",
                            from);
  if (!name_ok(nc, f, "subscriber id", sid, sn) ||
      !name_ok(nc, f, "topic name", topic, tn) ||
      !subscriber_ok(nc, f, sid, sn))
    return;
  store_topic_t *t = find_topic(nc, f, topic, tn);
  if (!t) return;
  uint64_t next = from == HS_FROM_EARLIEST ? t->first
                  : from == HS_FROM_LATEST ? t->next
                                           : offset;
  bool again = store_cursor(t, sid, sn) != NULL;
  if (store_subscribe(t, sid, sn, next)) return out_of_memory(nc, f);
  repl_cursor(nc->node, t, sid, sn, store_cursor(t, sid, sn)->next);
  LOG(&nc->node->log, HS_LOG_INFO, "store",
      again ? "resubscribed" : "subscribed", LF_STRN("subscriber", sid, sn),
      LF_STRN("topic", topic, tn),
      LF_UINT("cursor", store_cursor(t, sid, sn)->next));
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u64(&w, store_cursor(t, sid, sn)->next);
  wire_end(&w);
}

/* The messages from `from` below `end` a PULL reply carries: at most max,
 * and no more than fits a frame (the first always goes). Written to w
 * when w is not NULL; the home counts them this way for a CLAIM, and the
 * replica's copy, byte-identical, then fills the same frame. */
static uint32_t span(hs_node_t *node, wire_writer_t *w, store_topic_t *t,
                     uint64_t from, uint64_t end, uint32_t max,
                     uint64_t *next) {
  size_t budget = node->max_frame - WIRE_HEADER - 32;
  uint32_t n = 0;
  store_iter_t it;
  store_msg_t m;
  *next = from;
  store_iter_init(&it, t, from);
  while (n < max && store_iter_next(&it, &m) && m.offset < end) {
    size_t need = 8 + 8 + 1 + m.publisher_len + 4 + m.len;
    if (n > 0 && need > budget) break;
    budget -= need < budget ? need : budget;
    if (w) {
      wire_put_u64(w, m.offset);
      wire_put_u64(w, m.time_ms);
      wire_put_str8(w, m.publisher, m.publisher_len);
      wire_put_bytes32(w, m.data, m.len);
    }
    *next = m.offset + 1;
    n++;
  }
  return n;
}

uint32_t ops_put_messages(hs_node_t *node, wire_writer_t *w,
                          store_topic_t *t, uint64_t from, uint64_t end,
                          uint32_t max, uint64_t *next) {
  buf_t *out = w->b;
  size_t next_at = out->len;
  wire_put_u64(w, from);
  size_t count_at = out->len;
  wire_put_u32(w, 0);
  uint32_t n = span(node, w, t, from, end, max, next);
  if (w->err == 0) {
    memcpy(out->data + next_at, next, 8);
    memcpy(out->data + count_at, &n, 4);
  }
  node->stats.messages_pulled += n;
  return n;
}

/* Writes a PULL reply with the messages after the cursor and moves the
 * cursor past them. */
static void reply_messages(node_conn_t *nc, uint32_t id, store_topic_t *t,
                           const char *sid, size_t sn, store_cursor_t *cur,
                           uint32_t max) {
  hs_node_t *node = nc->node;
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, WIRE_PULL, WIRE_F_REPLY, id);
  uint64_t next;
  uint32_t n = ops_put_messages(node, &w, t, cur->next, repl_readable(t), max,
                                &next);
  wire_end(&w);
  if (n) {
    LOG(&node->log, HS_LOG_DEBUG, "store", "pulled",
        LF_STRN("subscriber", sid, sn), LF_STR("topic", t->name),
        LF_UINT("from", cur->next), LF_UINT("count", n));
    cur->next = next;
    repl_cursor(node, t, sid, sn, cur->next);
  }
}

/* What a CLAIM from `server` may be granted: committed offsets its copy
 * holds (what it had when it asked, or has acknowledged since). */
static uint64_t claim_end(const store_topic_t *t, uint32_t server,
                          uint64_t server_next) {
  replica_t *rep = replica_find(t->repl, server);
  uint64_t held = rep && rep->acked > server_next ? rep->acked : server_next;
  uint64_t end = repl_readable(t);
  return held < end ? held : end;
}

/* Answers a CLAIM: the range [cursor, ...) the server hands out, the
 * cursor moved past it; or, when the server lacks the cursor's offset
 * (its copy starts later), the messages themselves. */
static void reply_claim(node_conn_t *nc, uint32_t id, store_topic_t *t,
                        const char *sid, size_t sn, store_cursor_t *cur,
                        uint32_t max, uint32_t server, uint64_t server_first,
                        uint64_t server_next) {
  hs_node_t *node = nc->node;
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, WIRE_CLAIM, WIRE_F_REPLY, id);
  uint64_t from = cur->next < t->first ? t->first : cur->next, next;
  uint32_t n;
  if (from < server_first) {
    wire_put_u8(&w, 1);
    n = ops_put_messages(node, &w, t, from, repl_readable(t), max, &next);
  } else {
    n = span(node, NULL, t, from, claim_end(t, server, server_next), max,
             &next);
    wire_put_u8(&w, 0);
    wire_put_u64(&w, from);
    wire_put_u32(&w, n);
  }
  wire_end(&w);
  node->stats.claims++;
  if (n) {
    LOG(&node->log, HS_LOG_DEBUG, "store", "claimed",
        LF_STRN("subscriber", sid, sn), LF_STR("topic", t->name),
        LF_UINT("server", server), LF_UINT("from", from), LF_UINT("count", n));
    cur->next = next;
    repl_cursor(node, t, sid, sn, cur->next);
  }
}

/* Whether a parked pull or claim has something to take now. */
static bool waiter_ready(const pull_waiter_t *w, const store_cursor_t *cur) {
  const store_topic_t *t = w->topic;
  uint64_t end = w->claim && cur->next >= w->server_first
                     ? claim_end(t, w->server, w->server_next)
                     : repl_readable(t);
  return cur->next < end;
}

/* Answers a parked pull or claim with what there is (maybe nothing). */
static void waiter_reply(pull_waiter_t *w, store_cursor_t *cur,
                         uint32_t max) {
  if (w->claim)
    reply_claim(w->nc, w->req_id, w->topic, w->sid, w->sid_len, cur, max,
                w->server, w->server_first, w->server_next);
  else
    reply_messages(w->nc, w->req_id, w->topic, w->sid, w->sid_len, cur, max);
}

static void waiter_closed(uv_handle_t *h) { free(h->data); }

void ops_waiter_free(pull_waiter_t *w) {
  hs_node_t *node = w->node;
  store_topic_t *t = w->topic;
  node_conn_t *nc = w->nc;
  if (w->topic_prev)
    w->topic_prev->topic_next = w->topic_next;
  else
    t->waiters = w->topic_next;
  if (w->topic_next) w->topic_next->topic_prev = w->topic_prev;
  if (w->conn_prev)
    w->conn_prev->conn_next = w->conn_next;
  else
    nc->waiters = w->conn_next;
  if (w->conn_next) w->conn_next->conn_prev = w->conn_prev;
  node->n_waiting--;
  uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void on_wait_timeout(uv_timer_t *timer) {
  pull_waiter_t *w = timer->data;
  node_conn_t *nc = w->nc;
  store_cursor_t *cur = store_cursor(w->topic, w->sid, w->sid_len);
  w->node->stats.pull_wait_timeouts++;
  if (cur)
    waiter_reply(w, cur, w->max);
  else
    node_reply_error(nc, w->claim ? WIRE_CLAIM : WIRE_PULL, w->req_id,
                     HS_ENOT_SUBSCRIBED,
                     "subscriber \"%s\" is not subscribed to topic \"%s\"",
                     w->sid, w->topic->name);
  ops_waiter_free(w);
  nc->node->stats.frames_out++;
  node_send(nc);
}

static pull_waiter_t *park(node_conn_t *nc, const wire_frame_t *f,
                           store_topic_t *t, const char *sid, size_t sn,
                           uint32_t max, uint32_t wait_ms) {
  hs_node_t *node = nc->node;
  pull_waiter_t *w = calloc(1, sizeof *w);
  if (!w) {
    out_of_memory(nc, f);
    return NULL;
  }
  uv_timer_init(node->loop, &w->timer);
  w->timer.data = w;
  w->node = node;
  w->nc = nc;
  w->topic = t;
  w->req_id = f->id;
  w->max = max;
  w->started_ns = uv_hrtime();
  w->sid_len = (uint8_t)sn;
  memcpy(w->sid, sid, sn);
  w->topic_next = t->waiters;
  if (w->topic_next) w->topic_next->topic_prev = w;
  t->waiters = w;
  w->conn_next = nc->waiters;
  if (w->conn_next) w->conn_next->conn_prev = w;
  nc->waiters = w;
  node->n_waiting++;
  node->stats.pull_waits++;
  uv_timer_start(&w->timer, on_wait_timeout, wait_ms, 0);
  return w;
}

void ops_wake_waiters(hs_node_t *node, store_topic_t *t) {
  for (pull_waiter_t *w = t->waiters, *next; w; w = next) {
    next = w->topic_next;
    store_cursor_t *cur = store_cursor(t, w->sid, w->sid_len);
    /* Another pull of the same subscriber may have taken the news. */
    if (!cur || !waiter_ready(w, cur)) continue;
    node_conn_t *nc = w->nc;
    waiter_reply(w, cur, w->max);
    ops_waiter_free(w);
    node->stats.frames_out++;
    node_send(nc);
  }
  (void)node;
}

void ops_drop_topic_waiters(hs_node_t *node, store_topic_t *t, int code,
                            const char *why) {
  while (t->waiters) {
    pull_waiter_t *w = t->waiters;
    node_conn_t *nc = w->nc;
    node_reply_error(nc, w->claim ? WIRE_CLAIM : WIRE_PULL, w->req_id, code,
                     "topic \"%s\" %s", t->name, why);
    ops_waiter_free(w);
    node->stats.frames_out++;
    node_send(nc);
  }
}

/* The client says where it is (`seen`: the cursor its last answer for
 * this subscriber and topic left, UINT64_MAX if it has none). A cursor
 * behind it lost a replicated move in a failover: catch it up, so nothing
 * is delivered twice. A retried pull whose answer was lost with its node
 * moves the cursor back to it, so nothing is skipped. */
static void pull_align(hs_node_t *node, store_topic_t *t, const char *sid,
                       size_t sn, store_cursor_t *cur, uint64_t seen,
                       bool retry) {
  if (seen == UINT64_MAX) return;
  if (seen > t->next) seen = t->next;
  if (seen < t->first) seen = t->first;
  if (!(seen > cur->next || (retry && seen < cur->next))) return;
  LOG(&node->log, HS_LOG_INFO, "store", "cursor_aligned",
      LF_STRN("subscriber", sid, sn), LF_STR("topic", t->name),
      LF_UINT("was", cur->next), LF_UINT("cursor", seen));
  cur->next = seen;
  repl_cursor(node, t, sid, sn, seen);
}

static void op_pull(node_conn_t *nc, const wire_frame_t *f,
                    wire_reader_t *r) {
  hs_node_t *node = nc->node;
  const char *sid, *topic;
  size_t sn, tn;
  uint32_t max, wait_ms;
  uint64_t seen;
  if (!wire_get_str8(r, "subscriber", &sid, &sn) ||
      !wire_get_str8(r, "topic", &topic, &tn) ||
      !wire_get_u32(r, "max", &max) || !wire_get_u64(r, "seen", &seen) ||
      !wire_get_u32(r, "wait_ms", &wait_ms) || !wire_reader_done(r))
    return bad_request(nc, f, r);
  if (!name_ok(nc, f, "subscriber id", sid, sn) ||
      !name_ok(nc, f, "topic name", topic, tn))
    return;
  /* A cursor proves the subscriber exists: no lookup at the identity's
   * home (which may be new and still receiving it). A copy leaves the
   * check to the home, which has the cursor. */
  uint32_t home = home_of(node, cube_hash(topic, tn));
  store_topic_t *held = store_topic_find(&node->store, topic, tn);
  if (max == 0 || max > node->cfg.max_pull) max = node->cfg.max_pull;
  if (home != node->cfg.id) { /* a copy here serves it (read.c) */
    if (held && repl_of(held) && !repl_of(held)->handing_over)
      return read_from_copy(nc, f, held, sid, sn, max, seen, wait_ms);
    return route_forward(nc, f, nc->hops, home); /* no copy after all */
  }
  if (!(held && store_cursor(held, sid, sn)) && !subscriber_ok(nc, f, sid, sn))
    return;
  store_topic_t *t = find_topic(nc, f, topic, tn);
  if (!t) return;
  store_cursor_t *cur = store_cursor(t, sid, sn);
  if (!cur)
    return node_reply_error(nc, f->op, f->id, HS_ENOT_SUBSCRIBED,
                            "subscriber \"%.*s\" is not subscribed to topic "
                            "\"%.*s\"",
                            (int)sn, sid, (int)tn, topic);
  pull_align(node, t, sid, sn, cur, seen, f->flags & WIRE_F_RETRY);
  if (cur->next < repl_readable(t) || wait_ms == 0)
    reply_messages(nc, f->id, t, sid, sn, cur, max);
  else
    park(nc, f, t, sid, sn, max, wait_ms);
}

/* READ: a pull the node it entered sent to this copy (read.c). */
static void op_read(node_conn_t *nc, const wire_frame_t *f,
                    wire_reader_t *r) {
  uint32_t server;
  if (!wire_get_u32(r, "server", &server)) return bad_request(nc, f, r);
  wire_frame_t pull = *f;
  pull.op = WIRE_PULL;
  pull.body += 4;
  pull.body_len -= 4;
  wire_reader_t pr;
  wire_reader_init(&pr, pull.body, pull.body_len);
  op_pull(nc, &pull, &pr);
}

/* CLAIM: a copy of a topic homed here will serve a pull; move the cursor
 * over the offsets it may hand out, as a pull served here would. */
void ops_op_claim(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r) {
  hs_node_t *node = nc->node;
  const char *sid, *topic;
  size_t sn, tn;
  uint32_t server, max, wait_ms;
  uint64_t first, next, seen;
  if (!wire_get_str8(r, "subscriber", &sid, &sn) ||
      !wire_get_str8(r, "topic", &topic, &tn) ||
      !wire_get_u32(r, "server", &server) || !wire_get_u64(r, "first", &first) ||
      !wire_get_u64(r, "next", &next) || !wire_get_u32(r, "max", &max) ||
      !wire_get_u64(r, "seen", &seen) ||
      !wire_get_u32(r, "wait_ms", &wait_ms) || !wire_reader_done(r))
    return bad_request(nc, f, r);
  store_topic_t *t = find_topic(nc, f, topic, tn);
  if (!t) return;
  if (repl_of(t) && !repl_of(t)->home)
    return node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                            "node %u does not serve topic \"%s\" yet",
                            node->cfg.id, t->name);
  store_cursor_t *cur = store_cursor(t, sid, sn);
  if (!cur && !subscriber_ok(nc, f, sid, sn)) return; /* NO_SUBSCRIBER */
  if (!cur)
    return node_reply_error(nc, f->op, f->id, HS_ENOT_SUBSCRIBED,
                            "subscriber \"%.*s\" is not subscribed to topic "
                            "\"%.*s\"",
                            (int)sn, sid, (int)tn, topic);
  if (max == 0 || max > node->cfg.max_pull) max = node->cfg.max_pull;
  pull_align(node, t, sid, sn, cur, seen, f->flags & WIRE_F_RETRY);
  pull_waiter_t probe = {.topic = t, .claim = true, .server = server,
                         .server_first = first, .server_next = next};
  if (waiter_ready(&probe, cur) || wait_ms == 0)
    return reply_claim(nc, f->id, t, sid, sn, cur, max, server, first, next);
  pull_waiter_t *w = park(nc, f, t, sid, sn, max, wait_ms);
  if (!w) return;
  w->claim = true;
  w->server = server;
  w->server_first = first;
  w->server_next = next;
}

/* ---- node control ------------------------------------------------------- */

static void op_stop_node(node_conn_t *nc, const wire_frame_t *f,
                         wire_reader_t *r) {
  hs_node_t *node = nc->node;
  uint32_t id, restart_after;
  if (!wire_get_u32(r, "node", &id) ||
      !wire_get_u32(r, "restart_after_ms", &restart_after) ||
      !wire_reader_done(r))
    return bad_request(nc, f, r);
  if (id != node->cfg.id)
    return node_reply_error(nc, f->op, f->id, HS_ENO_NODE,
                            "node %u does not exist", id);
  LOG(&node->log, HS_LOG_WARN, "node", "stop_requested",
      LF_STR("by", nc->peer), LF_UINT("restart_after_ms", restart_after));
  reply_ok(nc, f);
  node_send(nc);
  /* The answer goes out first; then the node drops everything. */
  node_halt(node, nc, restart_after);
}

static void op_stats(node_conn_t *nc, const wire_frame_t *f,
                     wire_reader_t *r) {
  if (!wire_reader_done(r)) return bad_request(nc, f, r);
  size_t len;
  const char *json = hs_node_stats_json(nc->node, &len);
  if (!json) return out_of_memory(nc, f);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_bytes32(&w, json, len);
  wire_end(&w);
}

/* REWIND: a pull's answer found its client gone; move the cursor back over
 * those messages unless it moved since. */
static void op_rewind(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r) {
  const char *sid, *topic;
  size_t sn, tn;
  uint64_t from, expect;
  if (!wire_get_str8(r, "subscriber", &sid, &sn) ||
      !wire_get_str8(r, "topic", &topic, &tn) ||
      !wire_get_u64(r, "from", &from) || !wire_get_u64(r, "expect", &expect) ||
      !wire_reader_done(r))
    return bad_request(nc, f, r);
  store_topic_t *t = store_topic_find(&nc->node->store, topic, tn);
  store_cursor_t *cur = t ? store_cursor(t, sid, sn) : NULL;
  if (cur && cur->next == expect && from < expect) {
    cur->next = from < t->first ? t->first : from;
    repl_cursor(nc->node, t, sid, sn, cur->next);
    LOG(&nc->node->log, HS_LOG_INFO, "store", "cursor_rewound",
        LF_STRN("subscriber", sid, sn), LF_STRN("topic", topic, tn),
        LF_UINT("cursor", cur->next));
    if (t->waiters) ops_wake_waiters(nc->node, t);
  }
  reply_ok(nc, f);
}

/* UNPARK: the client of pulls parked here by peers left: answer them
 * empty now, so no message is handed to a pull nobody waits for. */
static void op_unpark(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r) {
  const char *sid, *topic;
  size_t sn, tn;
  if (!wire_get_str8(r, "subscriber", &sid, &sn) ||
      !wire_get_str8(r, "topic", &topic, &tn) || !wire_reader_done(r))
    return bad_request(nc, f, r);
  store_topic_t *t = store_topic_find(&nc->node->store, topic, tn);
  for (pull_waiter_t *w = t ? t->waiters : NULL, *next; w; w = next) {
    next = w->topic_next;
    if (w->nc->role != WIRE_ROLE_PEER || w->sid_len != sn ||
        memcmp(w->sid, sid, sn))
      continue;
    node_conn_t *to = w->nc;
    store_cursor_t *cur = store_cursor(t, w->sid, w->sid_len);
    if (cur) waiter_reply(w, cur, 0);
    ops_waiter_free(w);
    nc->node->stats.frames_out++;
    node_send(to);
  }
  reply_ok(nc, f);
}

/* LOOKUP: does an identity exist here, at its home? */
static void op_lookup(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r) {
  uint8_t kind;
  const char *id;
  size_t n;
  if (!wire_get_u8(r, "kind", &kind) || !wire_get_str8(r, "id", &id, &n) ||
      !wire_reader_done(r))
    return bad_request(nc, f, r);
  store_t *s = &nc->node->store;
  uint8_t exists = kind == PLACE_PUBLISHER ? store_publisher_exists(s, id, n)
                   : kind == PLACE_SUBSCRIBER
                       ? store_subscriber_exists(s, id, n)
                       : 0;
  if (!exists && nc->node->catching_up)
    return node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                            "node %u is still receiving the identities it "
                            "holds; try again",
                            nc->node->cfg.id);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u8(&w, exists);
  wire_end(&w);
}

/* ---- dispatch ----------------------------------------------------------- */

static const op_fn handlers[WIRE_OP_MAX] = {
    [WIRE_HELLO] = op_hello,
    [WIRE_CREATE_PUBLISHER] = op_create_identity,
    [WIRE_CREATE_SUBSCRIBER] = op_create_identity,
    [WIRE_CREATE_TOPIC] = op_create_topic,
    [WIRE_DELETE_TOPIC] = op_delete_topic,
    [WIRE_PUBLISH] = op_publish,
    [WIRE_SUBSCRIBE] = op_subscribe,
    [WIRE_PULL] = op_pull,
    [WIRE_STOP_NODE] = op_stop_node,
    [WIRE_STATS] = op_stats,
    [WIRE_WHERE] = cluster_op_where,
    [WIRE_VIEW] = cluster_op_view,
    [WIRE_LOOKUP] = op_lookup,
    [WIRE_REPLICATE] = repl_op_replicate,
    [WIRE_LOCAL] = repl_op_local,
    [WIRE_LIST_TOPICS] = list_op_list_topics,
    [WIRE_HOMED] = list_op_homed,
    [WIRE_REWIND] = op_rewind,
    [WIRE_UNPARK] = op_unpark,
    [WIRE_PING] = health_op_ping,
    [WIRE_GOSSIP] = health_op_gossip,
    [WIRE_READ] = op_read,
    [WIRE_CLAIM] = ops_op_claim,
    [WIRE_JOIN] = member_op_join,
    [WIRE_LEAVE] = member_op_leave,
    [WIRE_HOLDING] = member_op_holding,
};

/* The node a request must run on: the home of its topic or identity, the
 * node it names (STOP_NODE), or this one. */
static uint32_t route_target(const hs_node_t *node, const wire_frame_t *f) {
  uint32_t self = node->cfg.id;
  if (node->view.n <= 1) return self;
  wire_reader_t r;
  wire_reader_init(&r, f->body, f->body_len);
  const char *a, *b;
  size_t an, bn;
  uint8_t kind;
  uint32_t id;
  switch (f->op) {
    case WIRE_CREATE_PUBLISHER:
    case WIRE_CREATE_SUBSCRIBER:
      if (!wire_get_str8(&r, "id", &a, &an)) return self;
      return route_identity_home(node,
                                 f->op == WIRE_CREATE_PUBLISHER
                                     ? PLACE_PUBLISHER
                                     : PLACE_SUBSCRIBER,
                                 a, an);
    case WIRE_LOOKUP:
      if (!wire_get_u8(&r, "kind", &kind) || !wire_get_str8(&r, "id", &a, &an))
        return self;
      return route_identity_home(node, kind, a, an);
    case WIRE_CREATE_TOPIC:
    case WIRE_DELETE_TOPIC:
    case WIRE_PUBLISH:
    case WIRE_SUBSCRIBE:
    case WIRE_PULL:
    case WIRE_REWIND:
    case WIRE_UNPARK:
    case WIRE_CLAIM:
      if (!wire_get_str8(&r, "id", &a, &an) ||
          !wire_get_str8(&r, "topic", &b, &bn))
        return self;
      return home_of(node, cube_hash(b, bn));
    case WIRE_READ: /* to the copy named; its home if that one died */
      if (!wire_get_u32(&r, "server", &id)) return self;
      if (view_is_alive(id, (void *)&node->view)) return id;
      if (!wire_get_str8(&r, "id", &a, &an) ||
          !wire_get_str8(&r, "topic", &b, &bn))
        return self;
      return home_of(node, cube_hash(b, bn));
    case WIRE_JOIN:
      return place_coordinator(&node->view, node->cfg.id);
    case WIRE_STOP_NODE:
    case WIRE_LEAVE:
    case WIRE_HOMED:
      if (!wire_get_u32(&r, "node", &id) || !view_find(&node->view, id))
        return self;
      return id;
    default:
      return self;
  }
}

void ops_dispatch(node_conn_t *nc, const wire_frame_t *f) {
  hs_node_t *node = nc->node;
  node->stats.frames_in++;
  if (f->flags & WIRE_F_REPLY) {
    node_reply_error(nc, f->op, f->id, HS_EPROTOCOL,
                     "a node takes requests, not replies");
    node_send(nc);
    conn_shutdown(&nc->conn);
    return;
  }
  if (node->joining && f->op != WIRE_HELLO) {
    node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                     "this node is joining the cluster; try again");
    node_send(nc);
    return;
  }
  if (!nc->hello_done && f->op != WIRE_HELLO) {
    node_reply_error(nc, f->op, f->id, HS_EPROTOCOL,
                     "the first frame must be HELLO");
    node_send(nc);
    conn_shutdown(&nc->conn);
    return;
  }
  if ((f->flags & WIRE_F_RETRY) && !(f->flags & WIRE_F_ROUTED)) {
    uint32_t suppressed = 0;
    node->stats.retries++;
    if (log_limit_allow(&node->retry_limit, log_now_ms(), &suppressed))
      LOG(&node->log, HS_LOG_INFO, "node", "client_retried",
          LF_STR("op", wire_op_name(f->op) ? wire_op_name(f->op) : "unknown"),
          LF_STR("from", nc->peer), LF_UINT("suppressed", suppressed));
  }
  wire_frame_t g = *f;
  uint8_t hops = 0;
  if (f->flags & WIRE_F_ROUTED) {
    if (nc->role != WIRE_ROLE_PEER || f->body_len < 1) {
      node_reply_error(nc, f->op, f->id, HS_EPROTOCOL,
                       "only peers forward requests");
      node_send(nc);
      conn_shutdown(&nc->conn);
      return;
    }
    hops = (uint8_t)f->body[0];
    g.body++;
    g.body_len--;
    g.flags &= (uint16_t)~WIRE_F_ROUTED;
  }
  ops_run(nc, &g, hops, false);
}

void ops_run(node_conn_t *nc, const wire_frame_t *f, uint8_t hops,
             bool looked_up) {
  hs_node_t *node = nc->node;
  if (f->op >= WIRE_OP_MAX || !handlers[f->op]) {
    node_reply_error(nc, f->op, f->id, HS_EINVALID, "unknown op %u", f->op);
    node_send(nc);
    return;
  }
  if (f->op == WIRE_CLAIM && nc->role != WIRE_ROLE_PEER) {
    node_reply_error(nc, f->op, f->id, HS_EPROTOCOL,
                     "CLAIM is sent between peers only");
    node_send(nc);
    return;
  }
  uint32_t target = route_target(node, f);
  if (f->op == WIRE_PULL && hops == 0 && target != node->cfg.id) {
    /* A pull entering the cluster here: any live copy may serve it. */
    uint32_t server = read_choose(node, f);
    if (server == node->cfg.id)
      target = server;
    else if (server != target) {
      read_forward(nc, f, hops, server);
      node_send(nc);
      return;
    }
  }
  if (target != node->cfg.id) {
    route_forward(nc, f, hops, target);
    node_send(nc);
    return;
  }
  uint64_t t0 = uv_hrtime();
  wire_reader_t r;
  wire_reader_init(&r, f->body, f->body_len);
  size_t before = nc->conn.out.len;
  nc->hops = hops;
  node->looked_up = looked_up;
  node->suspended = false;
  handlers[f->op](nc, f, &r);
  node->looked_up = false;
  if (node->suspended) { /* counted when it runs again */
    node_send(nc);
    return;
  }
  node->stats.requests[f->op]++;
  /* The histogram is of routed work: heartbeats have their own counts. */
  if (f->op != WIRE_PING && f->op != WIRE_GOSSIP)
    node->stats.hops[hops < STATS_HOPS ? hops : STATS_HOPS - 1]++;
  /* Answered now, not parked for a long poll or a lookup. */
  if (nc->conn.out.len != before) {
    node->stats.frames_out++;
    stats_hist_add(&node->stats.latency[f->op], (uv_hrtime() - t0) / 1000);
  }
  node_send(nc);
}
