/* catchup — a node that joined, started or came back asks every live
 * member which topics it holds that the node should hold too (HOLDING,
 * carrying the asker's view so the member judges by it). Until each member
 * answered and each such topic arrived, a request for a topic it lacks
 * gets UNAVAILABLE (the client retries) instead of NO_TOPIC, and a topic
 * is not created anew here. Members also send back what the asker should
 * hold and may have lost (it restarted empty). */
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

/* Which round of asking an answer belongs to (earlier rounds' answers are
 * not counted). */
typedef struct ask {
  hs_node_t *node;
  uint32_t round;
} ask_t;

static void on_holding(link_t *link, const link_reply_t *reply, void *ud);

/* Sends HOLDING (our view) to one member; false if it could not. */
static bool ask(hs_node_t *node, uint32_t id, const buf_t *view) {
  link_t *link = peers_link(&node->peers, id);
  ask_t *a = malloc(sizeof *a);
  wire_writer_t w;
  uint32_t rid;
  if (!link || !a || link_begin(link, WIRE_HOLDING, 0, &w, &rid)) {
    free(a);
    return false;
  }
  *a = (ask_t){node, node->member.catch_round};
  msg_view_t m = {msg_str(view->data, view->len)};
  msg_view_put(&w, &m);
  if (link_end(link, &w, rid, 0, on_holding, a)) {
    free(a);
    return false;
  }
  return true;
}

void catchup_start(hs_node_t *node) {
  member_t *mb = &node->member;
  buf_t view = BUF_INIT;
  if (view_encode(&node->cluster.view, &view)) return;
  map_free(&mb->catch_expect);
  mb->catching_up = true;
  mb->catch_started_ms = uv_now(node->loop);
  mb->catch_pending = 0;
  mb->catch_round++;
  const view_t *v = &node->cluster.view;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    if (m->id != node_self(node) && view_serves(m->state) &&
        ask(node, m->id, &view))
      mb->catch_pending++;
  }
  buf_free(&view);
  LOG(&node->log, HS_LOG_INFO, "cluster", "catching_up",
      LF_UINT("asked", mb->catch_pending),
      LF_UINT("epoch", node->cluster.view.epoch));
  catchup_tick(node);
}


/* A member's answer: the topics we should hold up to their offsets (the
 * highest any member said, kept as next + 1), and identities to hold. */
static void take_answer(hs_node_t *node, const link_reply_t *reply) {
  wire_reader_t r;
  msg_holding_t h;
  wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
  if (!msg_holding_get(&r, &h)) return;
  msg_held_topic_t t;
  msg_str_t name;
  while (msg_held_topic_next(&h.topics, &t)) {
    map_t *m = &node->member.catch_expect;
    uintptr_t next = (uintptr_t)t.next + 1;
    if (next > (uintptr_t)map_get(m, t.name.s, t.name.n))
      map_put(m, t.name.s, t.name.n, (void *)next);
  }
  while (msg_held_name_next(&h.publishers, &name))
    store_publisher_create(&node->store, name.s, name.n);
  while (msg_held_name_next(&h.subscribers, &name))
    store_subscriber_create(&node->store, name.s, name.n);
}

static void on_holding(link_t *link, const link_reply_t *reply, void *ud) {
  ask_t a = *(ask_t *)ud;
  uint32_t peer;
  free(ud);
  hs_node_t *node = a.node;
  if (!peers_id(link, &peer) || !node->member.catching_up ||
      a.round != node->member.catch_round)
    return;
  if (node->member.catch_pending) node->member.catch_pending--;
  if (reply->status == 0) take_answer(node, reply);
  catchup_tick(node);
}

/* How many of the topics members named are not here (or still filling). */
static size_t still_missing(hs_node_t *node) {
  size_t missing = 0;
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->member.catch_expect, &i, &k, &kn, &v);) {
    uint32_t ids[PLACE_COPIES_MAX];
    size_t n = cluster_copies(&node->cluster, place_topic(k, kn), ids,
                              PLACE_COPIES_MAX);
    bool ours = place_contains(ids, n, node_self(node));
    store_topic_t *t = store_topic_find(&node->store, k, kn);
    uint64_t want = (uint64_t)((uintptr_t)v - 1);
    if (ours && (!t || t->next < want)) missing++;
  }
  return missing;
}

void catchup_tick(hs_node_t *node) {
  member_t *mb = &node->member;
  if (!mb->catching_up) return;
  uint64_t took = uv_now(node->loop) - mb->catch_started_ms;
  size_t missing = mb->catch_pending ? 1 : still_missing(node);
  bool late = took > (uint64_t)MEMBER_PATIENCE * node->cfg.dead_ms;
  if (missing && !late) return;
  mb->catching_up = false;
  if (missing)
    LOG(&node->log, HS_LOG_WARN, "cluster", "catch_up_incomplete",
        LF_UINT("missing", still_missing(node)),
        LF_UINT("unanswered", mb->catch_pending), LF_UINT("ms", took));
  else
    LOG(&node->log, HS_LOG_INFO, "cluster", "caught_up",
        LF_UINT("topics", mb->catch_expect.count), LF_UINT("ms", took),
        LF_UINT("epoch", node->cluster.view.epoch));
  map_free(&mb->catch_expect);
}

/* ---- the member asked ----------------------------------------------------------- */

/* The topics held here whose copies include the asker, each with the
 * offset it reaches; each is sent back too (the asker may have lost it). */
static void put_topics(hs_node_t *node, wire_writer_t *w, uint32_t asker) {
  msg_count_t c;
  msg_count_begin(w, &c);
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    uint32_t ids[PLACE_COPIES_MAX];
    size_t n = cluster_copies(&node->cluster, place_topic(t->name, t->name_len),
                              ids, PLACE_COPIES_MAX);
    if (!place_contains(ids, n, asker)) continue;
    msg_held_topic_t held = {msg_str(t->name, t->name_len), t->next};
    msg_held_topic_add(w, &c, &held);
    repl_send_back(&node->repl, t, asker, ids[0] == asker);
  }
  msg_list_end(w, &c);
}

/* The identities of a kind held here whose copies include the asker: it
 * takes them in with the answer, so a lookup at it finds them as soon as
 * it has caught up. */
static void put_identities(hs_node_t *node, wire_writer_t *w, const map_t *m,
                           uint8_t kind, uint32_t asker) {
  msg_count_t c;
  msg_count_begin(w, &c);
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(m, &i, &k, &kn, &v);) {
    uint32_t ids[PLACE_COPIES_MAX];
    size_t n = cluster_copies(&node->cluster, place_identity(kind, k, kn), ids,
                              PLACE_COPIES_MAX);
    if (place_contains(ids, n, asker)) msg_held_name_add(w, &c, msg_str(k, kn));
  }
  msg_list_end(w, &c);
}

void op_holding(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  view_t theirs;
  wire_reader_t r;
  wire_reader_init(&r, ctx->m.view.view.s, ctx->m.view.view.n);
  if (view_decode(&r, &theirs) || !wire_reader_done(&r)) {
    view_free(&theirs);
    return op_error(ctx, HS_EINVALID, "malformed holding request: field \"%s\"",
                    r.bad ? r.bad : "view");
  }
  cluster_merge(&node->cluster, &theirs, ctx->nc->peer_id);
  view_free(&theirs);
  uint32_t asker = ctx->nc->peer_id;
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  put_topics(node, &w, asker);
  put_identities(node, &w, &node->store.publishers, PLACE_PUBLISHER, asker);
  put_identities(node, &w, &node->store.subscribers, PLACE_SUBSCRIBER, asker);
  wire_end(&w);
}
