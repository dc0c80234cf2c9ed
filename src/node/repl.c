/* repl — primary-backup replication from a key's home to its replicas.
 *
 * The home applies a change, then sends it to each replica (the next R-1
 * nodes of the key's preference list) on a direct link as a REPLICATE
 * request; links keep order, and the flusher batches frames into one write
 * per turn. A replica applies appends only at its exact next offset, with
 * the home's time, producer and sequence number, so its log is
 * byte-identical to the home's, and answers with its next offset: acks are
 * cumulative. Offsets below the lowest ack are committed: only those are
 * served to pullers, and a publish with ack "all" is answered once its
 * offset is committed, so no message a client has seen can vanish in a
 * failover.
 *
 * Appends are batched: a publish marks its topic dirty, and once per loop
 * turn (a check handle, after the turn's input) each dirty topic's new
 * records go to each replica as one range frame, read from the log
 * straight into the link's buffer. How a replica is brought up to date
 * (SYNC) and what moves when the view changes is in takeover.c. */
#include <stdlib.h>
#include <string.h>

#include "net/link.h"
#include "core/hash.h"
#include "cube/cube.h"
#include "node/repl.h"

static void undirty(hs_node_t *node, repl_topic_t *rt) {
  if (!rt->dirty) return;
  if (rt->dirty_prev)
    rt->dirty_prev->dirty_next = rt->dirty_next;
  else
    node->repl_dirty = rt->dirty_next;
  if (rt->dirty_next) rt->dirty_next->dirty_prev = rt->dirty_prev;
  rt->dirty_prev = rt->dirty_next = NULL;
  rt->dirty = false;
}

void repl_mark_dirty(hs_node_t *node, repl_topic_t *rt) {
  if (rt->dirty) return;
  rt->dirty = true;
  rt->dirty_prev = NULL;
  rt->dirty_next = node->repl_dirty;
  if (rt->dirty_next) rt->dirty_next->dirty_prev = rt;
  node->repl_dirty = rt;
  uv_check_start(&node->repl_check, repl_flush);
}

repl_topic_t *repl_state(hs_node_t *node, store_topic_t *t) {
  (void)node;
  if (t->repl) return t->repl;
  repl_topic_t *rt = calloc(1, sizeof *rt);
  if (!rt) return NULL;
  rt->topic = t;
  rt->committed = t->next;
  t->repl = rt;
  return rt;
}

size_t repl_copies(const hs_node_t *node, const store_topic_t *t,
                   uint32_t *out) {
  return cluster_copies(node, cube_hash(t->name, t->name_len), out,
                        HS_REPL_MAX + 1);
}

uint64_t repl_readable(const store_topic_t *t) {
  const repl_topic_t *rt = repl_of(t);
  if (!rt || (rt->home && rt->n == 0)) return t->next;
  return rt->committed < t->next ? rt->committed : t->next;
}

/* ---- the home ----------------------------------------------------------- */

static size_t replicas_of(const hs_node_t *node, uint64_t h, uint32_t *out) {
  uint32_t ids[HS_REPL_MAX + 1];
  size_t n = cluster_copies(node, h, ids, HS_REPL_MAX + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (ids[i] != node->cfg.id) out[k++] = ids[i];
  return k;
}

static void on_ack(link_t *link, const link_reply_t *reply, void *ud);

/* Sends one REPLICATE request, body = kind + parts, to one peer. */
static void send_one(hs_node_t *node, uint32_t to, const char *head,
                     size_t head_len) {
  link_t *link = route_link(node, to);
  int rc = link ? link_send(link, WIRE_REPLICATE, 0, head, head_len, NULL, 0,
                            0, on_ack, (void *)(uintptr_t)to)
                : HS_ENOMEM;
  if (rc) {
    LOG(&node->log, HS_LOG_WARN, "repl", "send_failed",
        LF_UINT("replica", to), LF_STR("error", hs_err_name(rc)));
  } else {
    node->stats.replicated++;
  }
}

/* A small body: kind, then str8 fields, then an optional u64. */
static size_t put_head(char *out, uint8_t kind, const char *a, size_t an,
                       const char *b, size_t bn) {
  size_t k = 0;
  out[k++] = (char)kind;
  out[k++] = (char)an;
  memcpy(out + k, a, an);
  k += an;
  if (b) {
    out[k++] = (char)bn;
    memcpy(out + k, b, bn);
    k += bn;
  }
  return k;
}

void repl_identity(hs_node_t *node, uint8_t kind, const char *id, size_t n) {
  uint32_t ids[HS_REPL_MAX];
  size_t k = replicas_of(node, place_identity(kind, id, n), ids);
  char head[2 + 2 + HS_NAME_MAX];
  size_t hl = put_head(head, kind == PLACE_PUBLISHER ? REPL_PUBLISHER
                                                     : REPL_SUBSCRIBER,
                       id, n, NULL, 0);
  for (size_t i = 0; i < k; i++) send_one(node, ids[i], head, hl);
}

void repl_identity_to(hs_node_t *node, uint8_t kind, const char *id,
                      size_t n, uint32_t to) {
  char head[2 + 2 + HS_NAME_MAX];
  size_t hl = put_head(head, kind == PLACE_PUBLISHER ? REPL_PUBLISHER
                                                     : REPL_SUBSCRIBER,
                       id, n, NULL, 0);
  send_one(node, to, head, hl);
}

void repl_send_commit(hs_node_t *node, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  char head[2 + HS_NAME_MAX + 8];
  size_t hl = put_head(head, REPL_COMMIT, t->name, t->name_len, NULL, 0);
  memcpy(head + hl, &rt->committed, 8);
  for (size_t i = 0; i < rt->n; i++)
    if (rt->r[i].state == REPLICA_LIVE) send_one(node, rt->r[i].id, head, hl + 8);
}

int repl_topic_created(hs_node_t *node, store_topic_t *t) {
  repl_topic_t *rt = repl_state(node, t);
  if (!rt) return HS_ENOMEM;
  rt->home = true;
  uint32_t ids[HS_REPL_MAX];
  rt->n = replicas_of(node, cube_hash(t->name, t->name_len), ids);
  for (size_t i = 0; i < rt->n; i++) {
    rt->r[i] = (replica_t){.id = ids[i], .state = REPLICA_SYNCING};
    takeover_sync(node, t, ids[i]);
  }
  if (rt->n)
    LOG(&node->log, HS_LOG_INFO, "repl", "topic_homed_here",
        LF_STR("topic", t->name), LF_UINT("replicas", rt->n));
  return 0;
}

void repl_fail_waiting(hs_node_t *node, repl_topic_t *rt, int code,
                       const char *why) {
  while (rt->head) {
    relay_t *r = rt->head;
    rt->head = r->queue_next;
    if (r->nc) {
      node_reply_error(r->nc, WIRE_PUBLISH, r->id, code, "%s", why);
      node_send(r->nc);
    }
    route_relay_give(node, r);
  }
  rt->tail = NULL;
}

void repl_fence(hs_node_t *node, const char *why) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);) {
    store_topic_t *t = v;
    repl_topic_t *rt = repl_of(t);
    if (!rt || (rt->home && rt->n == 0)) continue; /* no copy but this one */
    repl_fail_waiting(node, rt, HS_EUNAVAILABLE, why);
    uint64_t keep = rt->committed > t->first ? rt->committed : t->first;
    if (t->next <= keep) continue;
    LOG(&node->log, HS_LOG_WARN, "repl", "uncommitted_dropped",
        LF_STR("topic", t->name), LF_UINT("from", keep),
        LF_UINT("next", t->next), LF_STR("why", why));
    if (t->waiters)
      ops_drop_topic_waiters(node, t, HS_EUNAVAILABLE,
                             "lost its records past the committed offset here");
    store_truncate(&node->store, t, keep);
  }
}

static void repl_topic_free(hs_node_t *node, store_topic_t *t) {
  repl_topic_t *rt = repl_of(t);
  if (!rt) return;
  while (rt->head) {
    relay_t *r = rt->head;
    rt->head = r->queue_next;
    route_relay_give(node, r);
  }
  undirty(node, rt);
  free(rt);
  t->repl = NULL;
}

void repl_topic_deleted(hs_node_t *node, store_topic_t *t) {
  repl_topic_t *rt = repl_of(t);
  if (!rt) return;
  repl_fail_waiting(node, rt, HS_ENO_TOPIC, "the topic was deleted");
  char head[2 + HS_NAME_MAX];
  size_t hl = put_head(head, REPL_DELETE, t->name, t->name_len, NULL, 0);
  for (size_t i = 0; i < rt->n; i++) send_one(node, rt->r[i].id, head, hl);
  repl_topic_free(node, t);
}

void repl_drop_copy(hs_node_t *node, store_topic_t *t, bool deleted) {
  /* A copy that moved elsewhere: its pulls are retried at the new one. */
  ops_drop_topic_waiters(node, t, deleted ? HS_ENO_TOPIC : HS_EUNAVAILABLE,
                         deleted ? "was deleted" : "moved to other nodes");
  repl_topic_free(node, t);
  store_topic_delete(&node->store, t);
}

bool repl_append(hs_node_t *node, store_topic_t *t) {
  repl_topic_t *rt = repl_of(t);
  if (!rt || !rt->n) {
    if (rt) rt->committed = t->next;
    return false;
  }
  repl_mark_dirty(node, rt);
  return true;
}

/* Room for one frame's records: the peer's frame limit less the header. */
static size_t frame_budget(const hs_node_t *node) {
  return node->max_frame - 1024;
}

/* How much a replica's stream may queue on its link before it waits for
 * acknowledgements: a refill of a long log goes out as the link drains
 * rather than all at once (the link would refuse it). */
#define REPL_HIGH_WATER (8u << 20)

static uint64_t send_frames(hs_node_t *node, store_topic_t *t, uint32_t to,
                            uint64_t from, uint64_t end, bool bounded);

void repl_send_range(hs_node_t *node, store_topic_t *t, uint32_t to,
                     uint64_t from, uint64_t end) {
  send_frames(node, t, to, from, end, false);
}

/* Sends records [from, end) of t to one peer, in as few range frames as
 * fit: kind, str8 topic, u64 committed, u64 first, u32 count, then count
 * times u64 time, str8 publisher, u64 producer, u64 seq, bytes32 data.
 * Bounded, it stops once the link holds REPL_HIGH_WATER bytes not yet
 * written. Returns the offset it reached. */
static uint64_t send_frames(hs_node_t *node, store_topic_t *t, uint32_t to,
                            uint64_t from, uint64_t end, bool bounded) {
  link_t *link = route_link(node, to);
  repl_topic_t *rt = repl_of(t);
  uint64_t committed = rt ? rt->committed : 0;
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, from);
  bool more = store_iter_next(&it, &m) && m.offset < end;
  uint64_t reached = from;
  while (more) {
    if (bounded && link && link_buffered(link) > REPL_HIGH_WATER)
      return reached; /* the rest once acknowledgements come back */
    wire_writer_t w;
    uint32_t id, count = 0;
    if (!link || link_begin(link, WIRE_REPLICATE, 0, &w, &id)) {
      LOG(&node->log, HS_LOG_WARN, "repl", "send_failed",
          LF_UINT("replica", to), LF_STR("topic", t->name));
      return reached;
    }
    wire_put_u8(&w, REPL_APPEND);
    wire_put_str8(&w, t->name, t->name_len);
    wire_put_u64(&w, committed);
    wire_put_u64(&w, m.offset);
    size_t count_at = w.b->len;
    wire_put_u32(&w, 0);
    size_t used = 0;
    while (more) {
      size_t need = 8 + 1 + m.publisher_len + 16 + 4 + m.len;
      if (count > 0 && used + need > frame_budget(node)) break;
      wire_put_u64(&w, m.time_ms);
      wire_put_str8(&w, m.publisher, m.publisher_len);
      wire_put_u64(&w, m.producer);
      wire_put_u64(&w, m.seq);
      wire_put_bytes32(&w, m.data, m.len);
      used += need;
      count++;
      reached = m.offset + 1;
      more = store_iter_next(&it, &m) && m.offset < end;
    }
    if (!w.err) memcpy(w.b->data + count_at, &count, 4);
    if (link_end(link, &w, id, 0, on_ack,
                         (void *)(uintptr_t)to))
      return from; /* the link failed: the replica is synced again */
    node->stats.replicated += count;
  }
  return end;
}

void repl_flush(uv_check_t *check) {
  hs_node_t *node = check->data;
  while (node->repl_dirty) {
    repl_topic_t *rt = node->repl_dirty;
    undirty(node, rt);
    store_topic_t *t = rt->topic;
    for (size_t i = 0; i < rt->n; i++) {
      replica_t *r = &rt->r[i];
      if (r->state != REPLICA_LIVE || r->sent >= t->next) continue;
      uint64_t from = r->sent < t->first ? t->first : r->sent;
      r->sent = send_frames(node, t, r->id, from, t->next, true);
    }
  }
  uv_check_stop(check);
}

void repl_wait(hs_node_t *node, store_topic_t *t, node_conn_t *nc,
               uint32_t id, uint64_t offset) {
  repl_topic_t *rt = repl_of(t);
  relay_t *r = route_relay_take(node);
  if (!r) {
    node_reply_error(nc, WIRE_PUBLISH, id, HS_ENOMEM, "out of memory");
    return;
  }
  r->node = node;
  r->id = id;
  r->op = WIRE_PUBLISH;
  r->offset = offset;
  route_relay_attach(r, nc);
  r->queue_next = NULL;
  if (rt->tail)
    rt->tail->queue_next = r;
  else
    rt->head = r;
  rt->tail = r;
}

void repl_cursor(hs_node_t *node, store_topic_t *t, const char *sid,
                 size_t sn, uint64_t next) {
  repl_topic_t *rt = repl_of(t);
  if (!rt || !rt->home || !rt->n) return;
  char head[3 + 2 * HS_NAME_MAX + 8];
  size_t k = put_head(head, REPL_CURSOR, t->name, t->name_len, sid, sn);
  memcpy(head + k, &next, 8);
  for (size_t i = 0; i < rt->n; i++)
    if (rt->r[i].state == REPLICA_LIVE) send_one(node, rt->r[i].id, head, k + 8);
}

void repl_send_cursors(hs_node_t *node, store_topic_t *t, uint32_t to) {
  const char *k;
  size_t kn;
  void *v;
  char head[3 + 2 * HS_NAME_MAX + 8];
  for (size_t i = 0; map_next(&t->cursors, &i, &k, &kn, &v);) {
    const store_cursor_t *cur = v;
    size_t hl = put_head(head, REPL_CURSOR, t->name, t->name_len, k, kn);
    memcpy(head + hl, &cur->next, 8);
    send_one(node, to, head, hl + 8);
  }
}

void repl_advance(hs_node_t *node, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  if (!rt->home) return;
  uint64_t low = t->next;
  for (size_t i = 0; i < rt->n; i++)
    if (rt->r[i].acked < low) low = rt->r[i].acked;
  if (low <= rt->committed) return;
  rt->committed = low;
  rt->commit_due = true;
  /* Every replica holds offsets below `low`: answer those publishes. */
  while (rt->head && rt->head->offset < low) {
    relay_t *w = rt->head;
    rt->head = w->queue_next;
    if (!rt->head) rt->tail = NULL;
    if (w->nc) {
      wire_writer_t wr;
      wire_begin(&wr, &w->nc->conn.out, WIRE_PUBLISH, WIRE_F_REPLY, w->id);
      wire_put_u64(&wr, w->offset);
      wire_end(&wr);
      node->stats.frames_out++;
      node_send(w->nc);
    }
    route_relay_give(node, w);
  }
  if (t->waiters) ops_wake_waiters(node, t);
}

/* A peer answered a REPLICATE: u64 its next offset, str8 topic. */
static void on_ack(link_t *link, const link_reply_t *reply, void *ud) {
  hs_node_t *node = link_data(link);
  uint32_t from = (uint32_t)(uintptr_t)ud;
  if (!node) return; /* the node is closing */
  if (reply->status) {
    /* Its stream has a hole now: sync it again on the next tick. */
    bool broke = false;
    const char *k;
    size_t kn;
    void *v;
    for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);) {
      replica_t *r = replica_find(repl_of(v), from);
      if (r && r->state == REPLICA_LIVE) {
        r->state = REPLICA_BROKEN;
        broke = true;
      }
    }
    if (broke)
      LOG(&node->log, HS_LOG_WARN, "repl", "replica_failed",
          LF_UINT("replica", from),
          LF_STR("error", hs_err_name(reply->status)),
          LF_STRN("detail", reply->message, reply->message_len));
    return;
  }
  wire_reader_t r;
  uint64_t next;
  const char *name;
  size_t nn;
  wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
  if (!wire_get_u64(&r, "next", &next) || !wire_get_str8(&r, "topic", &name, &nn))
    return;
  store_topic_t *t = store_topic_find(&node->store, name, nn);
  repl_topic_t *rt = t ? repl_of(t) : NULL;
  replica_t *rep = replica_find(rt, from);
  if (!rep || rep->state == REPLICA_SYNCING) return;
  if (next > rep->acked) rep->acked = next;
  if (rep->sent < t->next) repl_mark_dirty(node, rt); /* it waited for room */
  repl_advance(node, rt);
}

/* ---- the replica --------------------------------------------------------- */

static void ack(node_conn_t *nc, const wire_frame_t *f, uint64_t next,
                const char *name, size_t nn) {
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u64(&w, next);
  wire_put_str8(&w, name, nn);
  wire_end(&w);
}

bool repl_accepts(hs_node_t *node, const char *name, size_t nn,
                  uint32_t peer) {
  uint32_t home;
  if (!cluster_copies(node, cube_hash(name, nn), &home, 1)) return false;
  return home == peer || home == node->cfg.id;
}

static bool accepts(hs_node_t *node, store_topic_t *t, uint32_t peer) {
  return repl_accepts(node, t->name, t->name_len, peer);
}

static void replica_append(node_conn_t *nc, const wire_frame_t *f,
                           wire_reader_t *r, const char *a, size_t an) {
  hs_node_t *node = nc->node;
  store_t *s = &node->store;
  uint64_t committed, offset;
  uint32_t count;
  if (!wire_get_u64(r, "committed", &committed) ||
      !wire_get_u64(r, "first", &offset) || !wire_get_u32(r, "count", &count))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed replicate request: field \"%s\"",
                            r->bad);
  store_topic_t *t = store_topic_find(s, a, an);
  if (!t)
    return node_reply_error(nc, f->op, f->id, HS_ENO_TOPIC,
                            "replica has no topic \"%.*s\"", (int)an, a);
  if (!accepts(node, t, nc->peer_id))
    return node_reply_error(nc, f->op, f->id, HS_EDENIED,
                            "node %u is not the home of topic \"%s\" here",
                            nc->peer_id, t->name);
  if (offset > t->next)
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "gap in topic \"%s\": got offset %llu, next "
                            "is %llu",
                            t->name, (unsigned long long)offset,
                            (unsigned long long)t->next);
  repl_topic_t *rt = repl_state(node, t);
  if (!rt) return node_reply_error(nc, f->op, f->id, HS_ENOMEM, "out of memory");
  bool added = false;
  for (uint32_t i = 0; i < count; i++, offset++) {
    uint64_t time_ms, producer, seq;
    const char *pid, *data;
    size_t pn, dn;
    if (!wire_get_u64(r, "time", &time_ms) ||
        !wire_get_str8(r, "publisher", &pid, &pn) ||
        !wire_get_u64(r, "producer", &producer) ||
        !wire_get_u64(r, "seq", &seq) ||
        !wire_get_bytes32(r, "data", &data, &dn))
      return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                              "malformed replicate request: field \"%s\"",
                              r->bad);
    if (offset < t->next) continue; /* had it already */
    uint64_t got;
    if (store_append_seq(s, t, time_ms, pid, pn, producer, seq, data, dn,
                         &got))
      return node_reply_error(nc, f->op, f->id, HS_ENOMEM, "out of memory");
    added = true;
  }
  if (!wire_reader_done(r))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed replicate request: trailing bytes");
  if (rt->filling_to && t->next >= rt->filling_to) rt->filling_to = 0;
  if (rt->home) {
    takeover_settle(node, rt);
    /* Records handed back to the home: the other replicas get them too. */
    replica_t *back = replica_find(rt, nc->peer_id);
    if (back && back->acked < t->next) back->acked = t->next;
    if (added) repl_append(node, t);
    repl_advance(node, rt);
  } else if (committed > rt->committed) {
    rt->committed = committed;
  }
  if (t->waiters && (added || !rt->home)) ops_wake_waiters(node, t);
  ack(nc, f, t->next, a, an);
}

void repl_op_replicate(node_conn_t *nc, const wire_frame_t *f,
                       wire_reader_t *r) {
  hs_node_t *node = nc->node;
  store_t *s = &node->store;
  uint8_t kind;
  const char *a = NULL, *b = NULL;
  size_t an = 0, bn = 0;
  if (nc->role != WIRE_ROLE_PEER) {
    node_reply_error(nc, f->op, f->id, HS_EDENIED, "only peers replicate");
    return;
  }
  if (!wire_get_u8(r, "kind", &kind) || !wire_get_str8(r, "name", &a, &an))
    goto bad;
  switch (kind) {
    case REPL_PUBLISHER:
    case REPL_SUBSCRIBER:
      if (!wire_reader_done(r)) goto bad;
      if (kind == REPL_PUBLISHER)
        store_publisher_create(s, a, an);
      else
        store_subscriber_create(s, a, an);
      return ack(nc, f, 0, a, an);
    case REPL_SYNC:
      return takeover_op_sync(nc, f, r, a, an);
    case REPL_DELETE: {
      if (!wire_reader_done(r)) goto bad;
      store_topic_t *t = store_topic_find(s, a, an);
      if (t && accepts(node, t, nc->peer_id)) repl_drop_copy(node, t, true);
      return ack(nc, f, 0, a, an);
    }
    case REPL_APPEND:
      return replica_append(nc, f, r, a, an);
    case REPL_CURSOR: {
      uint64_t next;
      if (!wire_get_str8(r, "subscriber", &b, &bn) ||
          !wire_get_u64(r, "next", &next) || !wire_reader_done(r))
        goto bad;
      store_topic_t *t = store_topic_find(s, a, an);
      repl_topic_t *rt = t ? repl_of(t) : NULL;
      if (t && accepts(node, t, nc->peer_id) &&
          store_subscribe(t, b, bn, next) == 0) {
        store_cursor_t *cur = store_cursor(t, b, bn);
        /* The home's word is final (links keep order): even a rewind; the
         * records it points past may still be on their way. A home hears
         * cursors only from its former home, handing the topic over, which
         * may echo what it heard from us: only moves forward count. */
        if (!(rt && rt->home))
          cur->next = next;
        else if (next > cur->next)
          cur->next = next > t->next ? t->next : next;
      }
      return ack(nc, f, 0, a, an);
    }
    case REPL_COMMIT: {
      uint64_t committed;
      if (!wire_get_u64(r, "committed", &committed) || !wire_reader_done(r))
        goto bad;
      store_topic_t *t = store_topic_find(s, a, an);
      repl_topic_t *rt = t ? repl_of(t) : NULL;
      if (rt && !rt->home && committed > rt->committed) {
        rt->committed = committed;
        if (t->waiters) ops_wake_waiters(node, t);
      }
      return ack(nc, f, t ? t->next : 0, a, an);
    }
  }
bad:
  node_reply_error(nc, f->op, f->id, HS_EINVALID,
                   "malformed replicate request: field \"%s\"",
                   r->bad ? r->bad : "kind");
}

/* ---- what a node holds --------------------------------------------------- */

void repl_op_local(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r) {
  hs_node_t *node = nc->node;
  if (!wire_reader_done(r))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed local request: bytes after the last "
                            "field");
  buf_t *json = &node->scratch;
  buf_clear(json);
  buf_append(json, "{\"topics\":[", 11);
  const char *k;
  size_t kn;
  void *v;
  bool first = true;
  for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);) {
    store_topic_t *t = v;
    /* A digest of every record, so copies compare without moving data. */
    uint64_t digest = 0xcbf29ce484222325ull;
    store_iter_t it;
    store_msg_t m;
    store_iter_init(&it, t, t->first);
    while (store_iter_next(&it, &m)) {
      uint64_t parts[3] = {m.offset, m.time_ms,
                           hash_fnv1a(HASH_FNV_INIT, m.publisher, m.publisher_len)};
      digest ^= hash_fnv1a(HASH_FNV_INIT, parts, sizeof parts);
      digest = digest * 0x100000001b3ull ^ hash_fnv1a(HASH_FNV_INIT, m.data, m.len);
    }
    char tmp[160];
    int n = snprintf(tmp, sizeof tmp,
                     "%s{\"first\":%llu,\"next\":%llu,\"bytes\":%llu,"
                     "\"cursors\":%zu,\"digest\":\"%016llx\",\"name\":\"",
                     first ? "" : ",", (unsigned long long)t->first,
                     (unsigned long long)t->next,
                     (unsigned long long)t->bytes, t->cursors.count,
                     (unsigned long long)digest);
    buf_append(json, tmp, (size_t)n);
    buf_append(json, t->name, t->name_len); /* names need no escaping */
    buf_append(json, "\"}", 2);
    first = false;
  }
  buf_append(json, "]}", 2);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_bytes32(&w, json->data, json->len);
  wire_end(&w);
}

void repl_free_all(hs_node_t *node) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);)
    repl_topic_free(node, v);
}

void repl_stats_json(hs_node_t *node, buf_t *out) {
  uint32_t peers[HS_REPL_MAX * 8];
  uint64_t lag[HS_REPL_MAX * 8];
  size_t n = 0;
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);) {
    store_topic_t *t = v;
    repl_topic_t *rt = repl_of(t);
    for (size_t r = 0; rt && rt->home && r < rt->n; r++) {
      size_t j = 0;
      while (j < n && peers[j] != rt->r[r].id) j++;
      if (j == n) {
        if (n == sizeof peers / sizeof peers[0]) continue;
        peers[n] = rt->r[r].id;
        lag[n++] = 0;
      }
      if (t->next > rt->r[r].acked) lag[j] += t->next - rt->r[r].acked;
    }
  }
  buf_append(out, ",\"replication\":{", 16);
  for (size_t j = 0; j < n; j++) {
    link_t *link = map_get(&node->links, &peers[j], 4);
    char tmp[96];
    int len = snprintf(tmp, sizeof tmp, "%s\"%u\":{\"lag\":%llu,\"in_flight\":%zu}",
                       j ? "," : "", peers[j], (unsigned long long)lag[j],
                       link ? link_pending(link) : (size_t)0);
    buf_append(out, tmp, (size_t)len);
  }
  buf_append(out, "}", 1);
}
