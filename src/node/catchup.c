/* catchup — a node that joined, started or came back asks the members
 * that share a copy set with it, found through placement
 * (place_partners), which topics they hold that the node should hold too
 * (HOLDING, carrying the asker's view so the member judges by it). Until
 * each of them answered and each such topic arrived, a request for a
 * topic it lacks gets UNAVAILABLE (the client retries) instead of
 * NO_TOPIC, and a topic is not created anew here. Members also send back
 * what the asker should hold and may have lost (it restarted empty). */
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

/* Which round of asking an answer belongs to (earlier rounds' answers are
 * not counted), and which page of the member's answer it asked for. */
typedef struct ask {
  hs_node_t *node;
  uint32_t round;
  uint64_t skip, layout;
} ask_t;

static void on_holding(link_t *link, const link_reply_t *reply, void *ud);

/* Sends HOLDING (our view, the page) to one member; false if it could
 * not. */
static bool ask(hs_node_t *node, uint32_t id, const buf_t *view,
                uint64_t skip, uint64_t layout) {
  link_t *link = peers_link(&node->peers, id);
  ask_t *a = malloc(sizeof *a);
  wire_writer_t w;
  uint32_t rid;
  if (!link || !a || link_begin(link, WIRE_HOLDING, 0, &w, &rid)) {
    free(a);
    return false;
  }
  *a = (ask_t){node, node->member.catch_round, skip, layout};
  msg_holding_ask_t m = {skip, layout, msg_str(view->data, view->len)};
  msg_holding_ask_put(&w, &m);
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
  uint32_t *ids = malloc((v->n ? v->n : 1) * sizeof *ids);
  size_t n = ids ? place_partners(v, node->cluster.replicas, node_self(node),
                                  ids, v->n)
                 : 0;
  for (size_t i = 0; i < n && i < v->n; i++)
    if (cluster_alive(&node->cluster, ids[i]) &&
        ask(node, ids[i], &view, 0, 0))
      mb->catch_pending++;
  free(ids);
  buf_free(&view);
  LOG(&node->log, HS_LOG_INFO, "cluster", "catching_up",
      LF_UINT("asked", mb->catch_pending),
      LF_UINT("epoch", node->cluster.view.epoch));
  catchup_tick(node);
}


/* A member's answer: the topics we should hold up to their offsets (the
 * highest any member said, kept as next + 1), and identities to hold.
 * False when it could not be read. */
static bool take_answer(hs_node_t *node, const link_reply_t *reply,
                        msg_holding_t *h_out) {
  wire_reader_t r;
  msg_holding_t h;
  wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
  if (!msg_holding_get(&r, &h)) return false;
  *h_out = h;
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
  return true;
}

/* The member has more than one frame holds: the next page, or false. */
static bool ask_next_page(hs_node_t *node, uint32_t peer, const ask_t *a,
                          const msg_holding_t *h) {
  /* h was copied before its lists were walked: left is their length */
  uint64_t got = (uint64_t)h->topics.left + h->publishers.left +
                 h->subscribers.left;
  uint64_t skip = a->layout == h->layout ? a->skip + got : got;
  buf_t view = BUF_INIT;
  bool asked = !view_encode(&node->cluster.view, &view) &&
               ask(node, peer, &view, skip, h->layout);
  buf_free(&view);
  return asked;
}

static void on_holding(link_t *link, const link_reply_t *reply, void *ud) {
  ask_t a = *(ask_t *)ud;
  uint32_t peer;
  free(ud);
  hs_node_t *node = a.node;
  if (!peers_id(link, &peer) || !node->member.catching_up ||
      a.round != node->member.catch_round)
    return;
  msg_holding_t h;
  bool more = reply->status == 0 && take_answer(node, reply, &h) && h.more &&
              ask_next_page(node, peer, &a, &h);
  if (!more && node->member.catch_pending) node->member.catch_pending--;
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
  if (node->disk) disk_settle_damage(node->disk);
}

/* ---- the member asked ----------------------------------------------------------- */

/* One page of a HOLDING answer: the items past `skip` (counted over the
 * three lists in order) that fit `budget` bytes. */
typedef struct page {
  wire_writer_t *w;
  size_t start, budget;
  uint64_t skip, seen; /* items to pass over, and passed so far */
  bool full;           /* an item did not fit: more to ask for */
} page_t;

/* Whether the next item (of `size` bytes) goes in this page. */
static bool page_takes(page_t *p, size_t size) {
  if (p->full) return false;
  if (p->seen++ < p->skip) return false;
  if (p->w->b->len - p->start + size > p->budget) {
    p->full = true;
    return false;
  }
  return true;
}

/* The topics held here whose copies include the asker, each with the
 * offset it reaches; each is sent back too (the asker may have lost it). */
static void put_topics(hs_node_t *node, page_t *p, uint32_t asker) {
  msg_count_t c;
  msg_count_begin(p->w, &c);
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    uint32_t ids[PLACE_COPIES_MAX];
    size_t n = cluster_copies(&node->cluster, place_topic(t->name, t->name_len),
                              ids, PLACE_COPIES_MAX);
    if (!place_contains(ids, n, asker) || !page_takes(p, 1 + t->name_len + 8))
      continue;
    msg_held_topic_t held = {msg_str(t->name, t->name_len), t->next};
    msg_held_topic_add(p->w, &c, &held);
    repl_send_back(&node->repl, t, asker, ids[0] == asker);
  }
  msg_list_end(p->w, &c);
}

/* The identities of a kind held here whose copies include the asker: it
 * takes them in with the answer, so a lookup at it finds them as soon as
 * it has caught up. */
static void put_identities(hs_node_t *node, page_t *p, const map_t *m,
                           uint8_t kind, uint32_t asker) {
  msg_count_t c;
  msg_count_begin(p->w, &c);
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(m, &i, &k, &kn, &v);) {
    uint32_t ids[PLACE_COPIES_MAX];
    size_t n = cluster_copies(&node->cluster, place_identity(kind, k, kn), ids,
                              PLACE_COPIES_MAX);
    if (place_contains(ids, n, asker) && page_takes(p, 1 + kn))
      msg_held_name_add(p->w, &c, msg_str(k, kn));
  }
  msg_list_end(p->w, &c);
}

/* Changes when a map is resized, which reorders its walk: a page asked
 * under another layout starts over. */
static uint64_t layout_of(const store_t *s) {
  return (uint64_t)s->topics.cap ^ (uint64_t)s->publishers.cap << 21 ^
         (uint64_t)s->subscribers.cap << 42;
}

void op_holding(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  view_t theirs;
  wire_reader_t r;
  const msg_holding_ask_t *m = &ctx->m.holding;
  wire_reader_init(&r, m->view.s, m->view.n);
  if (view_decode(&r, &theirs) || !wire_reader_done(&r)) {
    view_free(&theirs);
    return op_error(ctx, HS_EINVALID, "malformed holding request: field \"%s\"",
                    r.bad ? r.bad : "view");
  }
  cluster_merge(&node->cluster, &theirs, ctx->nc->peer_id);
  view_free(&theirs);
  uint32_t asker = ctx->nc->peer_id;
  uint64_t layout = layout_of(&node->store);
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  page_t p = {.w = &w,
              .start = w.b->len,
              .budget = node_reply_budget(node),
              .skip = m->layout == layout ? m->skip : 0};
  put_topics(node, &p, asker);
  put_identities(node, &p, &node->store.publishers, PLACE_PUBLISHER, asker);
  put_identities(node, &p, &node->store.subscribers, PLACE_SUBSCRIBER, asker);
  msg_holding_end(&w, p.full, layout);
  node_reply_end(ctx->nc, &w);
}
