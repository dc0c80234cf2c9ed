/* repl — the home's side: per-topic state, the batched stream of appends
 * to the replicas, acknowledgements and the committed offset, the
 * publishes waiting for "all", identities and cursors, fencing.
 *
 * Appends are batched: a publish marks its topic dirty, and once per loop
 * turn (a check handle, after the turn's input) each dirty topic's new
 * records go to each replica as one range frame, read from the log
 * straight into the link's buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl/repl_topic.h"

/* How much a replica's stream may queue on its link before it waits for
 * acknowledgements: a refill of a long log goes out as the link drains
 * rather than all at once (the link would refuse it). */
#define REPL_HIGH_WATER (8u << 20)
/* Room for the frame's header and fields around its records. */
#define FRAME_SLACK 1024

static void flush(uv_check_t *check);

void repl_init(repl_t *r, uv_loop_t *loop, store_t *store, peers_t *peers,
               cluster_t *cluster, size_t max_frame, uint32_t stall_ms,
               log_t *log, stats_t *stats) {
  memset(r, 0, sizeof *r);
  r->loop = loop;
  r->store = store;
  r->peers = peers;
  r->cluster = cluster;
  r->frame_budget = max_frame - FRAME_SLACK;
  r->stall_ms = stall_ms;
  r->log = log;
  r->stats = stats;
  uv_check_init(loop, &r->check);
  r->check.data = r;
  uv_unref((uv_handle_t *)&r->check); /* pending work is not life */
}

uv_handle_t *repl_check_handle(repl_t *r) { return (uv_handle_t *)&r->check; }

/* ---- state ----------------------------------------------------------------- */

static void undirty(repl_t *r, repl_topic_t *rt) {
  if (!rt->dirty) return;
  if (rt->dirty_prev)
    rt->dirty_prev->dirty_next = rt->dirty_next;
  else
    r->dirty = rt->dirty_next;
  if (rt->dirty_next) rt->dirty_next->dirty_prev = rt->dirty_prev;
  rt->dirty_prev = rt->dirty_next = NULL;
  rt->dirty = false;
}

void repl_mark_dirty(repl_t *r, repl_topic_t *rt) {
  if (rt->dirty) return;
  rt->dirty = true;
  rt->dirty_prev = NULL;
  rt->dirty_next = r->dirty;
  if (rt->dirty_next) rt->dirty_next->dirty_prev = rt;
  r->dirty = rt;
  uv_check_start(&r->check, flush);
}

repl_topic_t *repl_state(repl_t *r, store_topic_t *t) {
  (void)r;
  if (t->repl) return t->repl;
  repl_topic_t *rt = calloc(1, sizeof *rt);
  if (!rt) return NULL;
  rt->topic = t;
  rt->committed = t->next;
  t->repl = rt;
  return rt;
}

size_t repl_copies(const repl_t *r, const store_topic_t *t, uint32_t *out) {
  return cluster_copies(r->cluster, place_topic(t->name, t->name_len), out,
                        PLACE_COPIES_MAX);
}

uint64_t repl_readable(const store_topic_t *t) {
  const repl_topic_t *rt = repl_of(t);
  if (!rt || (rt->home && rt->n == 0)) return t->synced;
  uint64_t c = rt->home ? rt->committed : rt->heard;
  return c < t->synced ? c : t->synced;
}

bool repl_heard_commit(repl_topic_t *rt, uint64_t committed) {
  uint64_t held = rt->topic->next; /* never committed past what it holds */
  uint64_t own = committed < held ? committed : held;
  if (own > rt->committed) rt->committed = own;
  if (committed <= rt->heard) return false;
  rt->heard = committed;
  return true;
}

uint64_t repl_acked(const store_topic_t *t, uint32_t server) {
  replica_t *rep = replica_find(repl_of(t), server);
  return rep ? rep->acked : 0;
}

bool repl_streams_to(const store_topic_t *t, uint32_t server) {
  return replica_find(repl_of(t), server) != NULL;
}

repl_serve_t repl_serving(const store_topic_t *t, uint32_t *from) {
  const repl_topic_t *rt = repl_of(t);
  if (!rt) return REPL_SERVE_OK;
  if (rt->home && rt->settling && rt->filling_to <= t->next)
    return REPL_SERVE_SETTLING;
  if (rt->filling_to > t->next) {
    *from = rt->filling_from;
    return REPL_SERVE_FILLING;
  }
  return REPL_SERVE_OK;
}

bool repl_is_copy(const store_topic_t *t) {
  return repl_of(t) && !repl_of(t)->handing_over;
}

bool repl_is_home(const store_topic_t *t) {
  return !repl_of(t) || repl_of(t)->home;
}

bool repl_home_is(const repl_t *r, const char *name, size_t nn,
                  uint32_t peer) {
  uint32_t home;
  return cluster_copies(r->cluster, place_topic(name, nn), &home, 1) &&
         home == peer;
}

bool repl_accepts(const repl_t *r, const char *name, size_t nn,
                  uint32_t peer) {
  uint32_t home;
  if (!cluster_copies(r->cluster, place_topic(name, nn), &home, 1))
    return false;
  return home == peer || home == repl_self(r);
}

void repl_readable_now(repl_t *r, store_topic_t *t) {
  if (r->hooks.readable) r->hooks.readable(r->hooks.ud, t);
}

/* ---- sending to replicas ----------------------------------------------------- */

static void on_ack(link_t *link, const link_reply_t *reply, void *ud);
static void on_stream_ack(link_t *link, const link_reply_t *reply, void *ud);

/* Sends one small REPLICATE to one peer. */
static void send_one(repl_t *r, uint32_t to, const msg_replicate_t *m) {
  link_t *link = peers_link(r->peers, to);
  wire_writer_t w;
  uint32_t id;
  int rc = link ? link_begin(link, WIRE_REPLICATE, 0, &w, &id) : HS_ENOMEM;
  if (!rc) {
    msg_replicate_put(&w, m);
    rc = link_end(link, &w, id, 0, on_ack, r);
  }
  if (rc) {
    LOG(r->log, HS_LOG_WARN, "repl", "send_failed", LF_UINT("replica", to),
        LF_STR("error", hs_err_name(rc)));
  } else {
    r->stats->replicated++;
  }
}

static uint8_t identity_kind(uint8_t kind) {
  return kind == PLACE_PUBLISHER ? REPL_PUBLISHER : REPL_SUBSCRIBER;
}

void repl_identity(repl_t *r, uint8_t kind, const char *id, size_t n) {
  uint32_t ids[PLACE_COPIES_MAX];
  size_t k = cluster_copies(r->cluster, place_identity(kind, id, n), ids,
                            PLACE_COPIES_MAX);
  msg_replicate_t m = {.kind = identity_kind(kind), .name = msg_str(id, n)};
  for (size_t i = 0; i < k; i++)
    if (ids[i] != repl_self(r)) send_one(r, ids[i], &m);
}

void repl_identity_to(repl_t *r, uint8_t kind, const char *id, size_t n,
                      uint32_t to) {
  msg_replicate_t m = {.kind = identity_kind(kind), .name = msg_str(id, n)};
  send_one(r, to, &m);
}

void repl_send_commit(repl_t *r, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  msg_replicate_t m = {.kind = REPL_COMMIT,
                       .name = msg_str(t->name, t->name_len),
                       .committed = rt->committed};
  for (size_t i = 0; i < rt->n; i++)
    if (rt->r[i].state == REPLICA_LIVE) send_one(r, rt->r[i].id, &m);
}

/* One replica's answer to a cursor a pull waits on. */
static void on_cursor_ack(link_t *link, const link_reply_t *reply, void *ud) {
  repl_cursor_wait_t *w = ud;
  repl_t *r = w->repl;
  on_ack(link, reply, r); /* what any REPLICATE answer says */
  if (--w->pending == 0) w->done(w);
}

size_t repl_cursor(repl_t *r, store_topic_t *t, const char *sid, size_t sn,
                   uint64_t next, uint64_t prev, repl_cursor_wait_t *w) {
  repl_topic_t *rt = repl_of(t);
  if (!rt || !rt->home || !rt->n) return 0;
  msg_replicate_t m = {.kind = REPL_CURSOR,
                       .name = msg_str(t->name, t->name_len),
                       .subscriber = msg_str(sid, sn),
                       .next = next,
                       .prev = prev};
  size_t asked = 0;
  if (w) {
    w->repl = r;
    w->pending = 1; /* held while asking */
  }
  for (size_t i = 0; i < rt->n; i++) {
    if (rt->r[i].state != REPLICA_LIVE) continue;
    link_t *link = peers_link(r->peers, rt->r[i].id);
    wire_writer_t wr;
    uint32_t id;
    if (!link || link_begin(link, WIRE_REPLICATE, 0, &wr, &id)) continue;
    msg_replicate_put(&wr, &m);
    if (link_end(link, &wr, id, 0, w ? on_cursor_ack : on_ack, w ? (void *)w : r))
      continue;
    r->stats->replicated++;
    asked++;
    if (w) w->pending++;
  }
  if (w) w->pending--; /* 0: nobody asked, the caller is told by the 0 */
  return asked;
}

void repl_send_cursors(repl_t *r, store_topic_t *t, uint32_t to) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&t->cursors, &i, &k, &kn, &v);) {
    const store_cursor_t *cur = v;
    msg_replicate_t m = {.kind = REPL_CURSOR,
                         .name = msg_str(t->name, t->name_len),
                         .subscriber = msg_str(k, kn),
                         .next = cur->next,
                         .prev = cur->prev};
    send_one(r, to, &m);
  }
}

/* Writes one APPEND frame of the records from the iterator's next one
 * (m) on, as many as fit; *more says whether records remain below end. */
static uint64_t put_records(repl_t *r, wire_writer_t *w, store_topic_t *t,
                            store_iter_t *it, store_msg_t *m, uint64_t end,
                            bool *more, uint32_t *count) {
  repl_topic_t *rt = repl_of(t);
  /* One term a frame: the replica labels the records with it. */
  uint64_t term = store_term_at(t, m->offset);
  uint64_t term_end = store_term_end(t, term);
  msg_replicate_t head = {.kind = REPL_APPEND,
                          .name = msg_str(t->name, t->name_len),
                          .committed = rt ? rt->committed : 0,
                          .first = m->offset,
                          .term = term};
  msg_count_t c;
  msg_append_begin(w, &c, &head);
  size_t used = 0;
  uint64_t reached = m->offset;
  while (*more && m->offset < term_end) {
    size_t need = msg_record_size(m->publisher_len, m->len);
    if (c.n > 0 && used + need > r->frame_budget) break;
    msg_record_t rec = {m->time_ms, msg_str(m->publisher, m->publisher_len),
                        m->producer, m->seq, msg_str(m->data, m->len)};
    msg_append_add(w, &c, &rec);
    used += need;
    reached = m->offset + 1;
    *more = store_iter_next(it, m) && m->offset < end;
  }
  msg_list_end(w, &c);
  *count = c.n;
  return reached;
}

/* Whether a replica's stream may have one more frame out now. */
static bool window_open(const replica_t *rep) {
  if (!rep || rep->out_n == 0) return true;
  return rep->out_n < REPL_OUT_FRAMES && rep->out_bytes < REPL_WINDOW;
}

static void out_push(replica_t *rep, size_t size) {
  rep->out_size[(rep->out_head + rep->out_n) % REPL_OUT_FRAMES] = (uint32_t)size;
  rep->out_n++;
  rep->out_bytes += size;
}

/* Sends records [from, end) of t to one peer, in as few frames as fit.
 * Bounded (the replica's live stream), it stops once the replica's window
 * is full or the link holds REPL_HIGH_WATER bytes not yet written; the
 * rest goes as acknowledgements come back. Returns the offset it reached. */
static uint64_t send_frames(repl_t *r, store_topic_t *t, uint32_t to,
                            uint64_t from, uint64_t end, bool bounded) {
  link_t *link = peers_link(r->peers, to);
  replica_t *rep = bounded ? replica_find(repl_of(t), to) : NULL;
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, from);
  bool more = store_iter_next(&it, &m) && m.offset < end;
  uint64_t reached = from;
  while (more) {
    if (bounded && ((link && link_buffered(link) > REPL_HIGH_WATER) ||
                    !window_open(rep)))
      return reached;
    wire_writer_t w;
    uint32_t id, count;
    if (!link || link_begin(link, WIRE_REPLICATE, 0, &w, &id)) {
      LOG(r->log, HS_LOG_WARN, "repl", "send_failed", LF_UINT("replica", to),
          LF_STR("topic", t->name));
      return reached;
    }
    uint64_t next = put_records(r, &w, t, &it, &m, end, &more, &count);
    size_t size = w.b->len - w.start;
    if (link_end(link, &w, id, 0, rep ? on_stream_ack : on_ack, r))
      return from; /* the link failed: the replica is synced again */
    if (rep) out_push(rep, size);
    reached = next;
    r->stats->replicated += count;
  }
  return end;
}

void repl_send_range(repl_t *r, store_topic_t *t, uint32_t to, uint64_t from,
                     uint64_t end) {
  send_frames(r, t, to, from, end, false);
}

static void flush(uv_check_t *check) {
  repl_t *r = check->data;
  while (r->dirty) {
    repl_topic_t *rt = r->dirty;
    undirty(r, rt);
    store_topic_t *t = rt->topic;
    for (size_t i = 0; i < rt->n; i++) {
      replica_t *rep = &rt->r[i];
      if (rep->state != REPLICA_LIVE || rep->sent >= t->next) continue;
      uint64_t from = rep->sent < t->first ? t->first : rep->sent;
      rep->sent = send_frames(r, t, rep->id, from, t->next, true);
    }
    if (r->hooks.streamed) r->hooks.streamed(r->hooks.ud, t);
  }
  uv_check_stop(check);
}

/* ---- the home's bookkeeping ------------------------------------------------------ */

void repl_fail_waiting(repl_topic_t *rt, int code, const char *why) {
  while (rt->head) {
    repl_waiter_t *w = rt->head;
    rt->head = w->next;
    if (!rt->head) rt->tail = NULL;
    w->done(w, code, why);
  }
  rt->tail = NULL;
}

static void drop_records(repl_t *r, store_topic_t *t, uint64_t keep,
                         const char *why) {
  LOG(r->log, HS_LOG_WARN, "repl", "uncommitted_dropped",
      LF_STR("topic", t->name), LF_UINT("from", keep), LF_UINT("next", t->next),
      LF_STR("why", why));
  if (r->hooks.dropped)
    r->hooks.dropped(r->hooks.ud, t, HS_EUNAVAILABLE,
                     "lost its records past the committed offset here");
  store_truncate(r->store, t, keep);
}

/* A home cut back to `keep`: what its replicas acknowledged past it was
 * other records, and the offsets will be reused. Each replica is synced
 * again (handing back what it holds past keep) before the home writes. */
static void home_fenced(repl_topic_t *rt, uint64_t keep) {
  for (size_t i = 0; i < rt->n; i++) {
    replica_t *rep = &rt->r[i];
    if (rep->acked > keep) rep->acked = keep;
    if (rep->sent > keep) rep->sent = keep;
    rep->state = REPLICA_BROKEN;
  }
  rt->settling = true;
}

void repl_fence(repl_t *r, const char *why) {
  void *v;
  for (size_t i = 0; map_next(&r->store->topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    repl_topic_t *rt = repl_of(t);
    if (!rt || (rt->home && rt->n == 0)) continue; /* no copy but this one */
    repl_fail_waiting(rt, HS_EUNAVAILABLE, why);
    uint64_t keep = rt->committed > t->first ? rt->committed : t->first;
    if (t->next > keep) drop_records(r, t, keep, why);
    if (rt->home) home_fenced(rt, keep);
  }
}

static void topic_free(repl_t *r, store_topic_t *t) {
  repl_topic_t *rt = repl_of(t);
  if (!rt) return;
  repl_fail_waiting(rt, HS_ECLOSED, "the topic's copy went away");
  undirty(r, rt);
  free(rt);
  t->repl = NULL;
}

void repl_topic_deleted(repl_t *r, store_topic_t *t) {
  repl_topic_t *rt = repl_of(t);
  if (!rt) return;
  repl_fail_waiting(rt, HS_ENO_TOPIC, "the topic was deleted");
  msg_replicate_t m = {.kind = REPL_DELETE,
                       .name = msg_str(t->name, t->name_len)};
  for (size_t i = 0; i < rt->n; i++) send_one(r, rt->r[i].id, &m);
  topic_free(r, t);
}

void repl_drop_copy(repl_t *r, store_topic_t *t, bool deleted) {
  /* A copy that moved elsewhere: its pulls are retried at the new one. */
  if (r->hooks.dropped)
    r->hooks.dropped(r->hooks.ud, t,
                     deleted ? HS_ENO_TOPIC : HS_EUNAVAILABLE,
                     deleted ? "was deleted" : "moved to other nodes");
  topic_free(r, t);
  store_topic_delete(r->store, t);
}

void repl_free_all(repl_t *r) {
  void *v;
  if (!r->store) return; /* the node failed before wiring its parts */
  for (size_t i = 0; map_next(&r->store->topics, &i, NULL, NULL, &v);)
    topic_free(r, v);
}

bool repl_append(repl_t *r, store_topic_t *t) {
  repl_topic_t *rt = repl_of(t);
  if (!rt || !rt->n) {
    if (rt) rt->committed = t->synced;
    return false;
  }
  repl_mark_dirty(r, rt);
  return true;
}

bool repl_replicated(const store_topic_t *t) {
  const repl_topic_t *rt = repl_of(t);
  return rt && rt->n;
}

size_t repl_live(const store_topic_t *t, uint64_t *stamps, size_t cap,
                 uint64_t *sent) {
  const repl_topic_t *rt = repl_of(t);
  if (!rt || !rt->home || !rt->n || rt->n > cap) return 0;
  uint64_t low = t->next;
  for (size_t i = 0; i < rt->n; i++) {
    if (rt->r[i].state != REPLICA_LIVE) return 0;
    stamps[i] = (uint64_t)rt->r[i].id << 32 | rt->r[i].lives;
    if (rt->r[i].sent < low) low = rt->r[i].sent;
  }
  *sent = low;
  return rt->n;
}

void repl_synced(repl_t *r, store_topic_t *t) {
  repl_topic_t *rt = repl_of(t);
  if (rt && rt->home && rt->n) {
    repl_advance(r, rt);
    return;
  }
  if (rt && rt->home) rt->committed = t->synced;
  repl_readable_now(r, t);
}

void repl_wait(repl_t *r, store_topic_t *t, repl_waiter_t *w) {
  repl_topic_t *rt = repl_of(t);
  (void)r;
  w->next = NULL;
  if (rt->tail)
    rt->tail->next = w;
  else
    rt->head = w;
  rt->tail = w;
}

/* A filling replica that holds what the others hold counts from now on. */
static void caught_up(repl_t *r, repl_topic_t *rt, uint64_t low) {
  for (size_t i = 0; i < rt->n; i++) {
    replica_t *rep = &rt->r[i];
    if (!rep->filling || rep->state != REPLICA_LIVE || rep->acked < low)
      continue;
    rep->filling = false;
    LOG(r->log, HS_LOG_INFO, "repl", "replica_caught_up",
        LF_STR("topic", rt->topic->name), LF_UINT("replica", rep->id),
        LF_UINT("next", rep->acked));
  }
}

/* The offset every counted copy holds: the home's once on disk, each
 * caught-up replica's, and, while fewer than R-1 copies are caught up,
 * the furthest filling ones' until R-1 count. */
static uint64_t counted_low(const repl_topic_t *rt) {
  uint64_t low = rt->topic->synced;
  bool in[REPL_MAX] = {false};
  size_t counted = 1;
  for (size_t i = 0; i < rt->n; i++) {
    if (rt->r[i].filling) continue;
    in[i] = true;
    counted++;
    if (rt->r[i].acked < low) low = rt->r[i].acked;
  }
  while (counted < rt->n) {
    size_t best = rt->n;
    for (size_t i = 0; i < rt->n; i++)
      if (!in[i] && (best == rt->n || rt->r[i].acked > rt->r[best].acked))
        best = i;
    in[best] = true;
    counted++;
    if (rt->r[best].acked < low) low = rt->r[best].acked;
  }
  return low;
}

void repl_advance(repl_t *r, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  if (!rt->home) return;
  uint64_t low = counted_low(rt);
  caught_up(r, rt, low > rt->committed ? low : rt->committed);
  if (low <= rt->committed) return;
  rt->committed = low;
  rt->commit_due = true;
  /* Every replica holds offsets below `low`: answer those publishes. */
  while (rt->head && rt->head->offset < low) {
    repl_waiter_t *w = rt->head;
    rt->head = w->next;
    if (!rt->head) rt->tail = NULL;
    w->done(w, 0, NULL);
  }
  repl_readable_now(r, t);
}

/* A replica's stream failed: it has a hole now, synced again next tick. */
static void replica_failed(repl_t *r, uint32_t from, const link_reply_t *reply) {
  bool broke = false;
  void *v;
  for (size_t i = 0; map_next(&r->store->topics, &i, NULL, NULL, &v);) {
    replica_t *rep = replica_find(repl_of(v), from);
    if (rep && rep->state == REPLICA_LIVE) {
      rep->state = REPLICA_BROKEN;
      broke = true;
    }
  }
  if (broke)
    LOG(r->log, HS_LOG_WARN, "repl", "replica_failed", LF_UINT("replica", from),
        LF_STR("error", hs_err_name(reply->status)),
        LF_STRN("detail", reply->message, reply->message_len));
}

/* A peer answered a REPLICATE with its next offset of the topic; a frame
 * of a live stream leaves its window (`stream`). */
static void acked(repl_t *r, link_t *link, const link_reply_t *reply,
                  bool stream) {
  uint32_t from;
  if (!peers_id(link, &from)) return; /* the node is closing */
  if (reply->status) return replica_failed(r, from, reply);
  wire_reader_t rd;
  msg_ack_t a;
  wire_reader_init(&rd, reply->frame->body, reply->frame->body_len);
  if (!msg_ack_get(&rd, &a)) return;
  store_topic_t *t = store_topic_find(r->store, a.name.s, a.name.n);
  repl_topic_t *rt = t ? repl_of(t) : NULL;
  replica_t *rep = replica_find(rt, from);
  if (!rep || rep->state == REPLICA_SYNCING) return;
  if (stream && rep->out_n) {
    rep->out_bytes -= rep->out_size[rep->out_head];
    rep->out_head = (uint8_t)((rep->out_head + 1) % REPL_OUT_FRAMES);
    rep->out_n--;
  }
  /* What a copy may hand out grows with its acknowledgements (a claim it
   * serves: claim.c). A counted copy's never pass the commit, which wakes
   * the claims; a filling copy's do not move it, so they wake them here. */
  bool wake = rep->filling && a.next > rep->acked;
  if (a.next > rep->acked) rep->acked = a.next;
  if (rep->sent < t->next) repl_mark_dirty(r, rt); /* it waited for room */
  uint64_t committed = rt->committed;
  repl_advance(r, rt);
  if (wake && rt->committed == committed) repl_readable_now(r, t);
}

static void on_ack(link_t *link, const link_reply_t *reply, void *ud) {
  acked(ud, link, reply, false);
}

static void on_stream_ack(link_t *link, const link_reply_t *reply, void *ud) {
  acked(ud, link, reply, true);
}

/* ---- reports ------------------------------------------------------------------- */

/* Adds t's replicas' lag to the per-peer totals. */
static void add_lag(const store_topic_t *t, uint32_t *peers, uint64_t *lag,
                    size_t *n, size_t cap) {
  const repl_topic_t *rt = repl_of(t);
  for (size_t i = 0; rt && rt->home && i < rt->n; i++) {
    size_t j = 0;
    while (j < *n && peers[j] != rt->r[i].id) j++;
    if (j == *n) {
      if (*n == cap) continue; /* more peers than members: cannot happen */
      peers[j] = rt->r[i].id;
      lag[(*n)++] = 0;
    }
    if (t->next > rt->r[i].acked) lag[j] += t->next - rt->r[i].acked;
  }
}

void repl_stats(const repl_t *r, json_t *j) {
  size_t cap = r->cluster->view.n, n = 0;
  uint32_t *peers = malloc((cap ? cap : 1) * sizeof *peers);
  uint64_t *lag = malloc((cap ? cap : 1) * sizeof *lag);
  void *v;
  for (size_t i = 0;
       peers && lag && map_next(&r->store->topics, &i, NULL, NULL, &v);)
    add_lag(v, peers, lag, &n, cap);
  json_open(j, "replication");
  for (size_t i = 0; i < n; i++) {
    char key[16];
    snprintf(key, sizeof key, "%u", peers[i]);
    link_t *link = peers_find(r->peers, peers[i]);
    json_open(j, key);
    json_u64(j, "lag", lag[i]);
    json_u64(j, "in_flight", link ? link_pending(link) : 0);
    json_close(j);
  }
  json_close(j);
  free(peers);
  free(lag);
}
