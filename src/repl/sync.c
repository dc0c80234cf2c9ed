/* sync — bringing a copy in line with SYNC: the sender says its first and
 * next offsets, the receiver makes or aligns its copy and answers with its
 * own next offset, and then each side sends the other the records it
 * lacks (as APPEND frames). So a new replica gets the whole log, a replica
 * that missed frames gets the tail, and a promoted home that was behind
 * another replica gets the difference back: no record any copy holds is
 * lost. Also here: a new home's settling, and what a catching-up member is
 * sent back. */
#include <stdlib.h>
#include <string.h>

#include "repl/repl_topic.h"

static void on_synced(link_t *link, const link_reply_t *reply, void *ud);

/* Records up to `next` are on their way from `from`. */
void sync_await(repl_t *r, repl_topic_t *rt, uint64_t next, uint32_t from) {
  if (next <= rt->topic->next || next <= rt->filling_to) return;
  rt->filling_to = next;
  rt->filling_from = from;
  rt->filling_heard = uv_now(r->loop);
}

void sync_cursors_within(repl_t *r, store_topic_t *t) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&t->cursors, &i, &k, &kn, &v);) {
    store_cursor_t *cur = v;
    if (cur->next <= t->next) continue;
    store_cursor_restore(r->store, t, k, kn, t->next,
                         cur->prev < t->next ? cur->prev : t->next);
    repl_cursor(r, t, k, kn, cur->next, cur->prev, NULL);
  }
}

/* Who a SYNC went to and for which topic, to act on its answer or its
 * failure (an error reply does not name the topic). Syncs are rare. */
typedef struct sync_req {
  repl_t *repl;
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

/* The SYNC body: the topic, its owner and offsets, and as many cursors as
 * fit half a frame (all of them follow the answer: repl_send_cursors), so
 * a new home never answers NOT_SUBSCRIBED for a subscription it has not
 * heard of yet. */
static void put_sync(repl_t *r, wire_writer_t *w, store_topic_t *t) {
  repl_topic_t *rt = repl_of(t);
  msg_replicate_t m = {.kind = REPL_SYNC,
                       .name = msg_str(t->name, t->name_len),
                       .owner = msg_str(t->owner, t->owner_len),
                       .first = t->first,
                       .next = t->next,
                       .committed = rt ? rt->committed : 0};
  /* The home's terms, so a copy finds where its log left the home's. A
   * topic has few: one per home that wrote to it. */
  uint64_t (*terms)[2] = t->n_terms ? malloc(t->n_terms * sizeof *terms) : NULL;
  size_t n_terms = terms ? t->n_terms : 0;
  for (size_t i = 0; i < n_terms; i++) {
    terms[i][0] = t->terms[i].term;
    terms[i][1] = t->terms[i].start;
  }
  msg_count_t c;
  msg_sync_begin(w, &c, &m, (const uint64_t (*)[2])terms, n_terms);
  free(terms);
  const char *k;
  size_t kn;
  void *v;
  size_t room = r->frame_budget / 2;
  for (size_t i = 0; map_next(&t->cursors, &i, &k, &kn, &v);) {
    if (1 + kn + 16 > room) break;
    room -= 1 + kn + 16;
    const store_cursor_t *sc = v;
    msg_cursor_t cur = {msg_str(k, kn), sc->next, sc->prev};
    msg_sync_add(w, &c, &cur);
  }
  msg_list_end(w, &c);
}

void sync_send(repl_t *r, store_topic_t *t, uint32_t to) {
  link_t *link = peers_link(r->peers, to);
  wire_writer_t w;
  uint32_t id;
  sync_req_t *req = malloc(sizeof *req);
  if (!req || !link || link_begin(link, WIRE_REPLICATE, 0, &w, &id)) {
    free(req);
    LOG(r->log, HS_LOG_WARN, "repl", "send_failed", LF_UINT("replica", to),
        LF_STR("topic", t->name));
    sync_failed(t, to);
    return;
  }
  *req = (sync_req_t){.repl = r, .to = to, .nn = t->name_len};
  memcpy(req->name, t->name, t->name_len);
  put_sync(r, &w, t);
  if (link_end(link, &w, id, 0, on_synced, req)) {
    free(req);
    sync_failed(t, to);
  }
}

/* A replica's log is newer than ours from `part` on (this home came back
 * with an old log, or was cut off): ours is cut there, every replica's
 * stream starts again from it, and the SYNC goes again to the newer one,
 * which now hands its records back; the home settles once they are in. */
static void take_newer(repl_t *r, repl_topic_t *rt, uint32_t from,
                       uint64_t part) {
  store_topic_t *t = rt->topic;
  LOG(r->log, HS_LOG_WARN, "repl", "stale_home_cut", LF_STR("topic", t->name),
      LF_UINT("from", part), LF_UINT("next", t->next), LF_UINT("replica", from),
      LF_STR("detail", "a replica holds records of a later term"));
  repl_fail_waiting(rt, HS_EUNAVAILABLE, "the home's log was older than a "
                                         "replica's; try again");
  store_truncate(r->store, t, part);
  if (rt->committed > part) rt->committed = part;
  for (size_t i = 0; i < rt->n; i++) {
    replica_t *rep = &rt->r[i];
    if (rep->acked > part) rep->acked = part;
    if (rep->sent > part) rep->sent = part;
    if (rep->id != from) rep->state = REPLICA_BROKEN;
  }
  rt->settling = true;
  replica_t *rep = replica_find(rt, from);
  if (rep) rep->state = REPLICA_SYNCING;
  sync_send(r, t, from);
}

/* A replica answered its SYNC: its stream goes live from its next offset. */
static void replica_synced(repl_t *r, repl_topic_t *rt, replica_t *rep,
                           uint64_t next, uint64_t missing) {
  store_topic_t *t = rt->topic;
  rep->state = REPLICA_LIVE;
  rep->lives++;
  replica_out_reset(rep); /* acks of frames before the SYNC came before it */
  rep->acked = next;
  rep->sent = next < t->first ? t->first : next;
  if (missing) repl_mark_dirty(r, rt); /* its records go out with the stream */
  /* Cursors moved since the SYNC went out follow its answer. */
  repl_send_cursors(r, t, rep->id);
  repl_readable_now(r, t); /* a claim it serves may have grown */
  if (missing || rep->fresh) {
    r->stats->refills++;
    r->stats->refilled_messages += missing;
    LOG(r->log, HS_LOG_INFO, "repl", "replica_refilled",
        LF_STR("topic", t->name), LF_UINT("replica", rep->id),
        LF_UINT("from", repl_self(r)), LF_UINT("messages", missing),
        LF_UINT("epoch", r->cluster->view.epoch));
  }
  rep->fresh = false;
  repl_advance(r, rt);
  sync_settle(r, rt);
}

/* The new home answered a hand-over: our records follow; a copy no longer
 * ours goes once they are on their way. */
static void handed_over(repl_t *r, repl_topic_t *rt, uint32_t to,
                        uint64_t missing) {
  store_topic_t *t = rt->topic;
  rt->handing_over = false;
  repl_send_cursors(r, t, to);
  LOG(r->log, HS_LOG_INFO, "repl", "topic_handed_over",
      LF_STR("topic", t->name), LF_UINT("to", to),
      LF_UINT("messages", missing), LF_UINT("epoch", r->cluster->view.epoch));
  uint32_t ids[PLACE_COPIES_MAX];
  size_t n = repl_copies(r, t, ids);
  if (!place_contains(ids, n, repl_self(r))) repl_drop_copy(r, t, false);
}

static void on_synced(link_t *link, const link_reply_t *reply, void *ud) {
  sync_req_t req = *(sync_req_t *)ud;
  repl_t *r = req.repl;
  uint32_t peer;
  free(ud);
  if (!peers_id(link, &peer)) return; /* the node is closing */
  store_topic_t *t = store_topic_find(r->store, req.name, req.nn);
  if (reply->status) {
    LOG(r->log, HS_LOG_WARN, "repl", "sync_failed", LF_UINT("peer", req.to),
        LF_STRN("topic", req.name, req.nn),
        LF_STR("error", hs_err_name(reply->status)),
        LF_STRN("detail", reply->message, reply->message_len));
    return sync_failed(t, req.to);
  }
  wire_reader_t rd;
  msg_ack_t a;
  wire_reader_init(&rd, reply->frame->body, reply->frame->body_len);
  repl_topic_t *rt = t ? repl_of(t) : NULL;
  if (!rt || !msg_ack_get(&rd, &a)) return;
  if (rt->home && a.part < t->next) return take_newer(r, rt, req.to, a.part);
  uint64_t from = a.next < t->first ? t->first : a.next;
  uint64_t missing = a.next < t->next ? t->next - from : 0;
  replica_t *rep = rt->home ? replica_find(rt, req.to) : NULL;
  bool streamed = rep && rep->state == REPLICA_SYNCING;
  /* A replica's records go out with its stream, as the link drains. */
  if (missing && !streamed) repl_send_range(r, t, req.to, a.next, t->next);
  /* A replica holding records of the former home past ours sends them
   * back (apply_sync); they come before any new one. */
  if (rep && rt->settling) sync_await(r, rt, a.next, req.to);
  if (streamed) return replica_synced(r, rt, rep, a.next, missing);
  if (!rt->home && rt->handing_over) handed_over(r, rt, req.to, missing);
}

int repl_topic_created(repl_t *r, store_topic_t *t) {
  repl_topic_t *rt = repl_state(r, t);
  if (!rt || store_term_begin(r->store, t, t->max_term + 1)) return HS_ENOMEM;
  rt->home = true;
  uint32_t ids[PLACE_COPIES_MAX];
  size_t n = repl_copies(r, t, ids);
  rt->n = 0;
  for (size_t i = 0; i < n; i++)
    if (ids[i] != repl_self(r))
      rt->r[rt->n++] = (replica_t){.id = ids[i], .state = REPLICA_SYNCING};
  for (size_t i = 0; i < rt->n; i++) sync_send(r, t, rt->r[i].id);
  if (rt->n)
    LOG(r->log, HS_LOG_INFO, "repl", "topic_homed_here",
        LF_STR("topic", t->name), LF_UINT("replicas", rt->n));
  return 0;
}

/* A new home writes nothing before it has heard every replica: another
 * copy may hold records of the former home past ours, and a record
 * written now would take one of their offsets. Requests get UNAVAILABLE
 * meanwhile (clients retry), as during any hand-over. */
void sync_settle(repl_t *r, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  if (!rt->settling || !rt->home || rt->filling_to > t->next) return;
  for (size_t i = 0; i < rt->n; i++)
    if (rt->r[i].state != REPLICA_LIVE) return;
  rt->settling = false;
  rt->filling_to = 0;
  /* What it writes from here on is its own term's: higher than any. */
  store_term_begin(r->store, t, t->max_term + 1);
  LOG(r->log, HS_LOG_INFO, "repl", "topic_settled", LF_STR("topic", t->name),
      LF_UINT("term", store_term(t)),
      LF_UINT("next", t->next), LF_UINT("replicas", rt->n),
      LF_UINT("epoch", r->cluster->view.epoch));
}

void sync_broken(repl_t *r, repl_topic_t *rt) {
  for (size_t i = 0; i < rt->n; i++) {
    replica_t *rep = &rt->r[i];
    if (rep->state != REPLICA_BROKEN) continue;
    rep->state = REPLICA_SYNCING;
    sync_send(r, rt->topic, rep->id);
  }
}

void repl_send_back(repl_t *r, store_topic_t *t, uint32_t asker,
                    bool asker_is_home) {
  repl_topic_t *rt = repl_of(t);
  if (!rt) return;
  if (rt->home) {
    replica_t *rep = replica_find(rt, asker);
    if (!rep || rep->state == REPLICA_SYNCING) return;
    rep->state = REPLICA_SYNCING;
    rep->fresh = true;
    rep->filling = true;
    sync_send(r, t, asker);
  } else if (asker_is_home && !rt->handing_over) {
    sync_send(r, t, asker);
  }
}

