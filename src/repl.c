/* repl — primary-backup replication from a key's home to its replicas.
 *
 * The home applies a change, then sends it to each replica (the next R-1
 * nodes of the key's preference list) on a direct link as a REPLICATE
 * request; links keep order, and the flusher batches frames into one write
 * per turn. A replica applies appends only at its exact next offset, with
 * the home's time, so its log is byte-identical to the home's, and answers
 * with its next offset: acks are cumulative. A publish with ack "all" waits
 * in its topic's queue until every replica's ack covers it.
 *
 * Appends are batched: a publish marks its topic dirty, and once per loop
 * turn (a check handle, after the turn's input) each dirty topic's new
 * records go to each replica as one range frame, read from the log
 * straight into the link's buffer. */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "cube.h"
#include "node.h"

/* What a topic's home tracks: each replica's cumulative ack, and the
 * publishes waiting for them (relays, oldest first). */
typedef struct repl_topic repl_topic_t;
struct repl_topic {
  store_topic_t *topic;
  uint64_t sent;               /* records below this went to the replicas */
  repl_topic_t *dirty_prev, *dirty_next; /* node->repl_dirty */
  bool dirty;
  size_t n;
  uint32_t ids[HS_REPL_MAX];
  uint64_t acked[HS_REPL_MAX]; /* each replica's next offset */
  relay_t *head, *tail;        /* publishes waiting for "all" */
};

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

static repl_topic_t *state_of(store_topic_t *t) { return t->repl; }

/* ---- the home ----------------------------------------------------------- */

static size_t replicas_of(const hs_node_t *node, uint64_t h, uint32_t *out) {
  uint32_t ids[HS_REPL_MAX + 1];
  size_t n = cluster_copies(node, h, ids, HS_REPL_MAX + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (ids[i] != node->cfg.id) out[k++] = ids[i];
  return k;
}

static void on_ack(hs_client_t *link, const hs_reply_t *reply, void *ud);

/* Sends one REPLICATE request, body = kind + parts, to every replica. */
static void send_all(hs_node_t *node, const uint32_t *ids, size_t n,
                     const char *head, size_t head_len, const char *data,
                     size_t data_len) {
  for (size_t i = 0; i < n; i++) {
    hs_client_t *link = route_link(node, ids[i]);
    int rc = link ? client_send_raw(link, WIRE_REPLICATE, 0, head, head_len,
                                    data, data_len, 0, on_ack,
                                    (void *)(uintptr_t)ids[i])
                  : HS_ENOMEM;
    if (rc) {
      LOG(&node->log, HS_LOG_WARN, "repl", "send_failed",
          LF_UINT("replica", ids[i]), LF_STR("error", hs_err_name(rc)));
    } else {
      node->stats.replicated++;
    }
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
  size_t k = replicas_of(node, route_identity_hash(kind, id, n), ids);
  if (!k) return;
  char head[2 + 2 + HS_NAME_MAX];
  size_t hl = put_head(head, kind == ROUTE_PUBLISHER ? REPL_PUBLISHER
                                                     : REPL_SUBSCRIBER,
                       id, n, NULL, 0);
  send_all(node, ids, k, head, hl, NULL, 0);
}

int repl_topic_created(hs_node_t *node, store_topic_t *t) {
  repl_topic_t *rt = calloc(1, sizeof *rt);
  if (!rt) return HS_ENOMEM;
  rt->n = replicas_of(node, cube_hash(t->name, t->name_len), rt->ids);
  rt->topic = t;
  rt->sent = t->next;
  t->repl = rt;
  if (!rt->n) return 0;
  char head[3 + 2 * HS_NAME_MAX];
  size_t hl = put_head(head, REPL_TOPIC, t->name, t->name_len, t->owner,
                       t->owner_len);
  send_all(node, rt->ids, rt->n, head, hl, NULL, 0);
  LOG(&node->log, HS_LOG_INFO, "repl", "topic_homed_here",
      LF_STR("topic", t->name), LF_UINT("replicas", rt->n));
  return 0;
}

/* Answers every publish still waiting on a topic with an error. */
static void fail_waiting(hs_node_t *node, repl_topic_t *rt, int code,
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

void repl_topic_deleted(hs_node_t *node, store_topic_t *t) {
  repl_topic_t *rt = state_of(t);
  if (!rt) return;
  fail_waiting(node, rt, HS_ENO_TOPIC, "the topic was deleted");
  undirty(node, rt);
  if (rt->n) {
    char head[2 + HS_NAME_MAX];
    size_t hl = put_head(head, REPL_DELETE, t->name, t->name_len, NULL, 0);
    send_all(node, rt->ids, rt->n, head, hl, NULL, 0);
  }
  free(rt);
  t->repl = NULL;
}

void repl_topic_free(store_topic_t *t) {
  free(t->repl);
  t->repl = NULL;
}

bool repl_append(hs_node_t *node, store_topic_t *t) {
  repl_topic_t *rt = state_of(t);
  if (!rt || !rt->n) return false;
  if (!rt->dirty) {
    rt->dirty = true;
    rt->dirty_prev = NULL;
    rt->dirty_next = node->repl_dirty;
    if (rt->dirty_next) rt->dirty_next->dirty_prev = rt;
    node->repl_dirty = rt;
    uv_check_start(&node->repl_check, repl_flush);
  }
  return true;
}

/* Room for one frame's records: the peer's frame limit less the header. */
static size_t frame_budget(const hs_node_t *node) {
  return node->max_frame - 1024;
}

/* Sends records [from, to) of t to one replica, in as few range frames as
 * fit: kind, str8 topic, u64 first, u32 count, then count times u64 time,
 * str8 publisher, bytes32 data. */
static void send_range(hs_node_t *node, store_topic_t *t, uint32_t replica,
                       uint64_t from, uint64_t to) {
  hs_client_t *link = route_link(node, replica);
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, from);
  bool more = store_iter_next(&it, &m) && m.offset < to;
  while (more) {
    wire_writer_t w;
    uint32_t id, count = 0;
    if (!link || client_frame_begin(link, WIRE_REPLICATE, &w, &id)) {
      LOG(&node->log, HS_LOG_WARN, "repl", "send_failed",
          LF_UINT("replica", replica), LF_STR("topic", t->name));
      return;
    }
    wire_put_u8(&w, REPL_APPEND);
    wire_put_str8(&w, t->name, t->name_len);
    wire_put_u64(&w, m.offset);
    size_t count_at = w.b->len;
    wire_put_u32(&w, 0);
    size_t used = 0;
    while (more) {
      size_t need = 8 + 1 + m.publisher_len + 4 + m.len;
      if (count > 0 && used + need > frame_budget(node)) break;
      wire_put_u64(&w, m.time_ms);
      wire_put_str8(&w, m.publisher, m.publisher_len);
      wire_put_bytes32(&w, m.data, m.len);
      used += need;
      count++;
      more = store_iter_next(&it, &m) && m.offset < to;
    }
    if (!w.err) memcpy(w.b->data + count_at, &count, 4);
    if (client_frame_end(link, &w, WIRE_REPLICATE, id, on_ack,
                         (void *)(uintptr_t)replica))
      return;
    node->stats.replicated += count;
  }
}

void repl_flush(uv_check_t *check) {
  hs_node_t *node = check->data;
  while (node->repl_dirty) {
    repl_topic_t *rt = node->repl_dirty;
    undirty(node, rt);
    store_topic_t *t = rt->topic;
    uint64_t from = rt->sent < t->first ? t->first : rt->sent;
    for (size_t i = 0; i < rt->n; i++)
      send_range(node, t, rt->ids[i], from, t->next);
    rt->sent = t->next;
  }
  uv_check_stop(check);
}

void repl_wait(hs_node_t *node, store_topic_t *t, node_conn_t *nc,
               uint32_t id, uint64_t offset) {
  repl_topic_t *rt = state_of(t);
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
  repl_topic_t *rt = state_of(t);
  if (!rt || !rt->n) return;
  char head[3 + 2 * HS_NAME_MAX + 8];
  size_t k = put_head(head, REPL_CURSOR, t->name, t->name_len, sid, sn);
  memcpy(head + k, &next, 8);
  send_all(node, rt->ids, rt->n, head, k + 8, NULL, 0);
}

/* A replica answered: u64 its next offset, str8 topic. */
static void on_ack(hs_client_t *link, const hs_reply_t *reply, void *ud) {
  hs_node_t *node = hs_client_data(link);
  uint32_t from = (uint32_t)(uintptr_t)ud;
  if (!node) return; /* the node is closing */
  if (reply->status) {
    LOG(&node->log, HS_LOG_WARN, "repl", "replica_failed",
        LF_UINT("replica", from), LF_STR("error", hs_err_name(reply->status)),
        LF_STRN("detail", reply->message, reply->message_len));
    return;
  }
  wire_reader_t r;
  uint64_t next;
  const char *name;
  size_t nn;
  wire_reader_init(&r, reply->raw + WIRE_HEADER, reply->raw_len - WIRE_HEADER);
  if (!wire_get_u64(&r, "next", &next) || !wire_get_str8(&r, "topic", &name, &nn))
    return;
  store_topic_t *t = store_topic_find(&node->store, name, nn);
  repl_topic_t *rt = t ? state_of(t) : NULL;
  if (!rt) return;
  uint64_t low = UINT64_MAX;
  for (size_t i = 0; i < rt->n; i++) {
    if (rt->ids[i] == from && next > rt->acked[i]) rt->acked[i] = next;
    if (rt->acked[i] < low) low = rt->acked[i];
  }
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
    case REPL_TOPIC: {
      if (!wire_get_str8(r, "owner", &b, &bn) || !wire_reader_done(r)) goto bad;
      store_topic_t *t;
      if (store_topic_create(s, a, an, b, bn, &t) == 0)
        LOG(&node->log, HS_LOG_INFO, "repl", "topic_replicated_here",
            LF_STRN("topic", a, an), LF_UINT("home", nc->peer_id));
      return ack(nc, f, 0, a, an);
    }
    case REPL_DELETE: {
      if (!wire_reader_done(r)) goto bad;
      store_topic_t *t = store_topic_find(s, a, an);
      if (t) {
        ops_drop_topic_waiters(node, t);
        repl_topic_free(t);
        store_topic_delete(s, t);
      }
      return ack(nc, f, 0, a, an);
    }
    case REPL_APPEND: {
      uint64_t offset;
      uint32_t count;
      if (!wire_get_u64(r, "first", &offset) || !wire_get_u32(r, "count", &count))
        goto bad;
      store_topic_t *t = store_topic_find(s, a, an);
      if (!t)
        return node_reply_error(nc, f->op, f->id, HS_ENO_TOPIC,
                                "replica has no topic \"%.*s\"", (int)an, a);
      if (offset > t->next)
        return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                                "gap in topic \"%s\": got offset %llu, next "
                                "is %llu",
                                t->name, (unsigned long long)offset,
                                (unsigned long long)t->next);
      bool added = false;
      for (uint32_t i = 0; i < count; i++, offset++) {
        uint64_t time_ms;
        const char *pid, *data;
        size_t pn, dn;
        if (!wire_get_u64(r, "time", &time_ms) ||
            !wire_get_str8(r, "publisher", &pid, &pn) ||
            !wire_get_bytes32(r, "data", &data, &dn))
          goto bad;
        if (offset < t->next) continue; /* had it already */
        uint64_t got;
        if (store_append(s, t, time_ms, pid, pn, data, dn, &got))
          return node_reply_error(nc, f->op, f->id, HS_ENOMEM,
                                  "out of memory");
        added = true;
      }
      if (!wire_reader_done(r)) goto bad;
      if (added && t->waiters) ops_wake_waiters(node, t);
      return ack(nc, f, t->next, a, an);
    }
    case REPL_CURSOR: {
      uint64_t next;
      if (!wire_get_str8(r, "subscriber", &b, &bn) ||
          !wire_get_u64(r, "next", &next) || !wire_reader_done(r))
        goto bad;
      store_topic_t *t = store_topic_find(s, a, an);
      if (t && store_subscribe(t, b, bn, next) == 0) {
        /* The home's word is final (links keep order): even a rewind. */
        store_cursor(t, b, bn)->next = next;
      }
      return ack(nc, f, 0, a, an);
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
                           map_hash(m.publisher, m.publisher_len)};
      digest ^= map_hash(parts, sizeof parts);
      digest = digest * 0x100000001b3ull ^ map_hash(m.data, m.len);
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
  for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);) {
    store_topic_t *t = v;
    repl_topic_t *rt = state_of(t);
    if (!rt) continue;
    while (rt->head) {
      relay_t *r = rt->head;
      rt->head = r->queue_next;
      route_relay_give(node, r);
    }
    undirty(node, rt);
    repl_topic_free(t);
  }
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
    repl_topic_t *rt = state_of(t);
    for (size_t r = 0; rt && r < rt->n; r++) {
      size_t j = 0;
      while (j < n && peers[j] != rt->ids[r]) j++;
      if (j == n) {
        if (n == sizeof peers / sizeof peers[0]) continue;
        peers[n] = rt->ids[r];
        lag[n++] = 0;
      }
      lag[j] += t->next - rt->acked[r];
    }
  }
  buf_append(out, ",\"replication\":{", 16);
  for (size_t j = 0; j < n; j++) {
    hs_client_t *link = map_get(&node->links, &peers[j], 4);
    char tmp[96];
    int len = snprintf(tmp, sizeof tmp, "%s\"%u\":{\"lag\":%llu,\"in_flight\":%zu}",
                       j ? "," : "", peers[j], (unsigned long long)lag[j],
                       link ? hs_client_pending(link) : (size_t)0);
    buf_append(out, tmp, (size_t)len);
  }
  buf_append(out, "}", 1);
}
