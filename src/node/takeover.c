/* takeover — what moves when the view changes: a replica that is now first
 * in a topic's preference list is promoted to home, replicas that joined a
 * copy set are refilled, a home that lost a topic hands it to the new one,
 * and copies no longer wanted are dropped.
 *
 * All of it rests on SYNC: the sender says its first and next offsets, the
 * receiver makes or aligns its copy and answers with its own next offset,
 * and then each side sends the other the records it lacks (as APPEND
 * frames). So a new replica gets the whole log, a replica that missed
 * frames gets the tail, and a promoted home that was behind another
 * replica gets the difference back: no record any copy holds is lost. */
#include <stdlib.h>
#include <string.h>

#include "net/link.h"
#include "cube/cube.h"
#include "node/repl.h"

static void on_synced(link_t *link, const link_reply_t *reply, void *ud);

/* Records up to `next` are on their way from `from`: requests wait for
 * them (UNAVAILABLE) before this home serves or writes. */
static void await_records(repl_topic_t *rt, uint64_t next, uint32_t from) {
  if (next <= rt->topic->next || next <= rt->filling_to) return;
  rt->filling_to = next;
  rt->filling_from = from;
}

/* Who a SYNC went to and for which topic, to act on its answer or its
 * failure (an error reply does not name the topic). Syncs are rare. */
typedef struct sync_req {
  uint32_t to;
  size_t nn;
  char name[HS_NAME_MAX];
} sync_req_t;

/* The SYNC to `to` failed: its stream is retried on the next tick. */
static void sync_failed(store_topic_t *t, uint32_t to) {
  repl_topic_t *rt = t ? repl_of(t) : NULL;
  if (!rt) return;
  replica_t *rep = rt->home ? replica_find(rt, to) : NULL;
  if (rep) rep->state = REPLICA_BROKEN;
  if (!rt->home && rt->handing_over) rt->handover_failed = true;
}

void takeover_sync(hs_node_t *node, store_topic_t *t, uint32_t to) {
  link_t *link = route_link(node, to);
  repl_topic_t *rt = repl_of(t);
  wire_writer_t w;
  uint32_t id;
  sync_req_t *req = malloc(sizeof *req);
  if (!req || !link || link_begin(link, WIRE_REPLICATE, 0, &w, &id)) {
    free(req);
    LOG(&node->log, HS_LOG_WARN, "repl", "send_failed",
        LF_UINT("replica", to), LF_STR("topic", t->name));
    sync_failed(t, to);
    return;
  }
  req->to = to;
  req->nn = t->name_len;
  memcpy(req->name, t->name, t->name_len);
  wire_put_u8(&w, REPL_SYNC);
  wire_put_str8(&w, t->name, t->name_len);
  wire_put_str8(&w, t->owner, t->owner_len);
  wire_put_u64(&w, t->first);
  wire_put_u64(&w, t->next);
  wire_put_u64(&w, rt ? rt->committed : 0);
  /* The cursors travel with the topic, so a new home never answers
   * NOT_SUBSCRIBED for a subscription it has not heard of yet. As many as
   * fit half a frame; all of them follow the answer (repl_send_cursors). */
  size_t count_at = w.b->len;
  uint32_t n = 0;
  wire_put_u32(&w, 0);
  const char *k;
  size_t kn;
  void *v;
  size_t room = node->max_frame / 2;
  for (size_t i = 0; map_next(&t->cursors, &i, &k, &kn, &v);) {
    if (1 + kn + 8 > room) break;
    room -= 1 + kn + 8;
    wire_put_str8(&w, k, kn);
    wire_put_u64(&w, ((const store_cursor_t *)v)->next);
    n++;
  }
  if (!w.err) memcpy(w.b->data + count_at, &n, 4);
  if (link_end(link, &w, id, 0, on_synced, req)) {
    free(req);
    sync_failed(t, to);
  }
}

/* The answer to a SYNC: u64 the peer's next offset, str8 topic. */
static void on_synced(link_t *link, const link_reply_t *reply, void *ud) {
  hs_node_t *node = link_data(link);
  sync_req_t req = *(sync_req_t *)ud;
  uint32_t to = req.to;
  free(ud);
  if (!node) return;
  store_topic_t *t = store_topic_find(&node->store, req.name, req.nn);
  wire_reader_t r;
  uint64_t next;
  if (reply->status) {
    LOG(&node->log, HS_LOG_WARN, "repl", "sync_failed", LF_UINT("peer", to),
        LF_STRN("topic", req.name, req.nn),
        LF_STR("error", hs_err_name(reply->status)),
        LF_STRN("detail", reply->message, reply->message_len));
    sync_failed(t, to);
    return;
  }
  wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
  repl_topic_t *rt = t ? repl_of(t) : NULL;
  if (!rt || !wire_get_u64(&r, "next", &next)) return;
  uint64_t missing = next < t->next ? t->next - (next < t->first ? t->first : next) : 0;
  replica_t *rep = rt->home ? replica_find(rt, to) : NULL;
  bool streamed = rep && rep->state == REPLICA_SYNCING;
  /* A replica's records go out with its stream, as the link drains. */
  if (missing && !streamed) repl_send_range(node, t, to, next, t->next);
  /* A replica holding records of the former home past ours sends them
   * back (takeover_op_sync); they come before any new one. */
  if (rep && rt->settling) await_records(rt, next, to);
  if (rep && rep->state == REPLICA_SYNCING) {
    rep->state = REPLICA_LIVE;
    rep->acked = next;
    rep->sent = next < t->first ? t->first : next;
    if (missing) repl_mark_dirty(node, rt);
    /* Cursors moved since the SYNC went out follow its answer. */
    repl_send_cursors(node, t, to);
    if (missing || rep->fresh) {
      node->stats.refills++;
      node->stats.refilled_messages += missing;
      LOG(&node->log, HS_LOG_INFO, "repl", "replica_refilled",
          LF_STR("topic", t->name), LF_UINT("replica", to),
          LF_UINT("from", node->cfg.id), LF_UINT("messages", missing),
          LF_UINT("epoch", node->view.epoch));
    }
    rep->fresh = false;
    repl_advance(node, rt);
    takeover_settle(node, rt);
    return;
  }
  if (!rt->home && rt->handing_over) {
    rt->handing_over = false;
    repl_send_cursors(node, t, to);
    LOG(&node->log, HS_LOG_INFO, "repl", "topic_handed_over",
        LF_STR("topic", t->name), LF_UINT("to", to),
        LF_UINT("messages", missing), LF_UINT("epoch", node->view.epoch));
    uint32_t ids[HS_REPL_MAX + 1];
    size_t n = repl_copies(node, t, ids);
    if (!place_contains(ids, n, node->cfg.id))
      repl_drop_copy(node, t, false); /* its records are on their way */
  }
}

/* ---- becoming home, or not --------------------------------------------- */

/* Sets rt's replicas to ids[1..n), keeping the streams of those that stay
 * and syncing the others; `old` says which held a copy before. */
static void set_replicas(hs_node_t *node, repl_topic_t *rt, const uint32_t *ids,
                         size_t n, const uint32_t *old, size_t n_old) {
  replica_t keep[HS_REPL_MAX];
  size_t k = 0;
  for (size_t i = 1; i < n && k < HS_REPL_MAX; i++) {
    replica_t *had = replica_find(rt, ids[i]);
    if (had) {
      keep[k++] = *had;
      continue;
    }
    keep[k++] = (replica_t){.id = ids[i],
                            .state = REPLICA_SYNCING,
                            .fresh = !place_contains(old, n_old, ids[i])};
  }
  memcpy(rt->r, keep, k * sizeof *keep);
  rt->n = k;
  for (size_t i = 0; i < k; i++)
    if (rt->r[i].state == REPLICA_SYNCING)
      takeover_sync(node, rt->topic, rt->r[i].id);
}

/* A new home writes nothing before it has heard every replica: another
 * copy may hold records of the former home past ours, and a record
 * written now would take one of their offsets. Requests get UNAVAILABLE
 * meanwhile (clients retry), as during any hand-over. */
void takeover_settle(hs_node_t *node, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  if (!rt->settling || !rt->home || rt->filling_to > t->next) return;
  for (size_t i = 0; i < rt->n; i++)
    if (rt->r[i].state != REPLICA_LIVE) return;
  rt->settling = false;
  rt->filling_to = 0;
  LOG(&node->log, HS_LOG_INFO, "repl", "topic_settled",
      LF_STR("topic", t->name), LF_UINT("next", t->next),
      LF_UINT("replicas", rt->n), LF_UINT("epoch", node->view.epoch));
}

static void promote(hs_node_t *node, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  rt->home = true;
  rt->handing_over = false;
  rt->settling = true;
  rt->n = 0; /* every replica is synced: we do not know their state */
  node->stats.promotions++;
  LOG(&node->log, HS_LOG_WARN, "repl", "topic_promoted_here",
      LF_STR("topic", t->name), LF_UINT("epoch", node->view.epoch),
      LF_UINT("next", t->next), LF_UINT("committed", rt->committed));
}

static void demote(hs_node_t *node, repl_topic_t *rt, uint32_t new_home) {
  char why[96];
  snprintf(why, sizeof why, "the topic moved to node %u", new_home);
  repl_fail_waiting(node, rt, HS_EUNAVAILABLE, why);
  rt->home = false;
  rt->n = 0;
  rt->handing_over = true; /* the new home may lack what we hold */
  takeover_sync(node, rt->topic, new_home);
}

static void reconcile_topic(hs_node_t *node, store_topic_t *t,
                            const view_t *old) {
  uint32_t ids[HS_REPL_MAX + 1], was[HS_REPL_MAX + 1];
  uint64_t h = cube_hash(t->name, t->name_len);
  size_t n = cluster_copies(node, h, ids, HS_REPL_MAX + 1);
  size_t n_was = old ? place_copies(old, node->replicas, h, was, HS_REPL_MAX + 1) : 0;
  repl_topic_t *rt = repl_state(node, t);
  if (!rt || n == 0) return;
  uint32_t self = node->cfg.id;
  if (ids[0] == self) {
    if (!rt->home) promote(node, rt);
    set_replicas(node, rt, ids, n, was, n_was);
    repl_advance(node, rt);
    takeover_settle(node, rt); /* at once when there is no replica */
  } else if (rt->home) {
    demote(node, rt, ids[0]);
  } else if (!place_contains(ids, n, self) && !rt->handing_over) {
    LOG(&node->log, HS_LOG_INFO, "repl", "topic_dropped_here",
        LF_STR("topic", t->name), LF_UINT("home", ids[0]),
        LF_UINT("epoch", node->view.epoch));
    repl_drop_copy(node, t, false);
  }
}

/* Identities held here go to the members of their copy sets that may lack
 * them (creating one that exists is a no-op). */
static void reconcile_identities(hs_node_t *node, map_t *m, uint8_t kind) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(m, &i, &k, &kn, &v);) {
    uint32_t ids[HS_REPL_MAX + 1];
    size_t n = cluster_copies(node, place_identity(kind, k, kn), ids,
                              HS_REPL_MAX + 1);
    if (place_contains(ids, n, node->cfg.id) && ids[0] != node->cfg.id) {
      /* A holder that is not the home: the home may be new. */
      repl_identity_to(node, kind, k, kn, ids[0]);
    } else if (n && ids[0] == node->cfg.id) {
      repl_identity(node, kind, k, kn);
    }
  }
}

void repl_reconcile(hs_node_t *node, const view_t *old) {
  size_t n = node->store.topics.count, k = 0;
  store_topic_t **all = n ? malloc(n * sizeof *all) : NULL;
  if (n && !all) return;
  const char *key;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, &key, &kn, &v);)
    all[k++] = v;
  for (size_t i = 0; i < k; i++) reconcile_topic(node, all[i], old);
  free(all);
  reconcile_identities(node, &node->store.publishers, PLACE_PUBLISHER);
  reconcile_identities(node, &node->store.subscribers, PLACE_SUBSCRIBER);
}

void repl_retry(hs_node_t *node) {
  const char *key;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, &key, &kn, &v);) {
    store_topic_t *t = v;
    repl_topic_t *rt = repl_of(t);
    if (!rt) continue;
    if (!rt->home) {
      uint32_t home;
      if (rt->handover_failed &&
          cluster_copies(node, cube_hash(t->name, t->name_len), &home, 1)) {
        rt->handover_failed = false;
        takeover_sync(node, t, home);
      }
      continue;
    }
    if (rt->filling_to && !view_is_alive(rt->filling_from, &node->view)) {
      /* Its former home died while handing it over: serve what came. */
      LOG(&node->log, HS_LOG_WARN, "repl", "handover_cut",
          LF_STR("topic", t->name), LF_UINT("from", rt->filling_from),
          LF_UINT("next", t->next), LF_UINT("expected", rt->filling_to));
      rt->filling_to = 0;
      takeover_settle(node, rt);
    }
    for (size_t j = 0; j < rt->n; j++) {
      replica_t *r = &rt->r[j];
      /* A stream that waited for room on a link another topic filled. */
      if (r->state == REPLICA_LIVE && r->sent < t->next)
        repl_mark_dirty(node, rt);
      if (r->state != REPLICA_BROKEN) continue;
      r->state = REPLICA_SYNCING;
      takeover_sync(node, t, r->id);
    }
    if (rt->commit_due) {
      rt->commit_due = false;
      repl_send_commit(node, rt);
    }
  }
}

/* ---- the receiving side -------------------------------------------------- */

/* SYNC: str8 owner, u64 first, u64 next, u64 committed (after kind and
 * topic). Allowed from the topic's home (we are its replica), or to us when
 * we are its home (a former home hands it over). */
void takeover_op_sync(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r, const char *name, size_t nn) {
  hs_node_t *node = nc->node;
  store_t *s = &node->store;
  const char *owner;
  size_t on;
  uint64_t first, next, committed;
  uint32_t n_cursors;
  if (!wire_get_str8(r, "owner", &owner, &on) ||
      !wire_get_u64(r, "first", &first) || !wire_get_u64(r, "next", &next) ||
      !wire_get_u64(r, "committed", &committed) ||
      !wire_get_u32(r, "cursors", &n_cursors))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed sync request: field \"%s\"",
                            r->bad ? r->bad : "kind");
  uint32_t home;
  bool to_home = cluster_copies(node, cube_hash(name, nn), &home, 1) &&
                 home == node->cfg.id;
  if (!repl_accepts(node, name, nn, nc->peer_id))
    return node_reply_error(nc, f->op, f->id, HS_EDENIED,
                            "node %u is not the home of topic \"%.*s\" here",
                            nc->peer_id, (int)nn, name);
  uint32_t ids[HS_REPL_MAX + 1];
  size_t n_ids = cluster_copies(node, cube_hash(name, nn), ids, HS_REPL_MAX + 1);
  if (!place_contains(ids, n_ids, node->cfg.id))
    return node_reply_error(nc, f->op, f->id, HS_EDENIED,
                            "node %u holds no copy of topic \"%.*s\" in "
                            "view %llu",
                            node->cfg.id, (int)nn, name,
                            (unsigned long long)node->view.epoch);
  store_topic_t *t = store_topic_find(s, name, nn);
  if (!t) {
    if (store_topic_create(s, name, nn, owner, on, &t))
      return node_reply_error(nc, f->op, f->id, HS_ENOMEM, "out of memory");
    if (first) store_topic_reset(s, t, first);
    LOG(&node->log, HS_LOG_INFO, "repl",
        to_home ? "topic_handed_here" : "topic_replicated_here",
        LF_STRN("topic", name, nn), LF_UINT("from", nc->peer_id),
        LF_UINT("first", first), LF_UINT("next", next));
  } else if (t->next < first) {
    store_topic_reset(s, t, first); /* what we lack is no longer kept */
  }
  repl_topic_t *rt = repl_state(node, t);
  if (!rt) return node_reply_error(nc, f->op, f->id, HS_ENOMEM, "out of memory");
  if (!rt->home && committed > rt->committed) rt->committed = committed;
  /* The sender's cursors, unclamped: the records they point past may be
   * on their way still. A home keeps its own (it moves them). */
  for (uint32_t i = 0; i < n_cursors; i++) {
    const char *sid;
    size_t sn;
    uint64_t at;
    if (!wire_get_str8(r, "subscriber", &sid, &sn) ||
        !wire_get_u64(r, "cursor", &at))
      break;
    store_cursor_t *cur = store_cursor(t, sid, sn);
    /* A home keeps its own cursors; one taking the topic over keeps the
     * furthest it hears of (copies may lag the former home). */
    if (rt->home && cur) {
      if (to_home && at > cur->next) cur->next = at;
      continue;
    }
    if (to_home && cur && cur->next > at) continue;
    if (store_subscribe(t, sid, sn, at) == 0) store_cursor(t, sid, sn)->next = at;
  }
  if (!wire_reader_done(r))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed sync request: field \"%s\"", r->bad);
  uint64_t mine = t->next;
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u64(&w, mine);
  wire_put_str8(&w, name, nn);
  wire_end(&w);
  if (to_home) await_records(rt, next, nc->peer_id); /* handed over */
  if (to_home && !rt->home) reconcile_topic(node, t, NULL);
  /* We hold records the sender lacks: send them back. */
  if (mine > next) repl_send_range(node, t, nc->peer_id, next, mine);
}
