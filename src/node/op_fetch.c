/* op_fetch — FETCH: a topic's records from an offset the reader keeps, for
 * readers that need no subscriber and no cursor (a replay, an export, a
 * cache warming up). The answer's `next` is where the reader reads on.
 *
 * Nothing is written for it anywhere, so it costs one round trip: the
 * node it enters serves it from its own copy when it holds one with
 * committed records from the offset on (the home, or a live replica),
 * else the topic's home does. A copy hands out only offsets it knows are
 * committed, so no record in an answer can be taken back by a failover.
 * With a wait and nothing committed past the offset, it parks like a long
 * poll. */
#include "node/node.h"

/* This node's copy of the topic when it serves a fetch: the home's, which
 * knows the latest commit; a replica's only where the client entered
 * (hops 0), only when it holds committed records from the offset on, and
 * only while it may serve (not still receiving its topics after a
 * restart). Else NULL, and the fetch goes on to the home: a replica hears of a
 * commit with the home's next frame, so a read at the head, or a long
 * poll, is fresher there, and a replica that trimmed more lacks older
 * offsets. */
store_topic_t *fetch_served_here(hs_node_t *node, const msg_fetch_t *m,
                                 uint8_t hops) {
  store_topic_t *t = store_topic_find(&node->store, m->topic.s, m->topic.n);
  if (!t || !repl_is_copy(t)) return NULL;
  if (repl_is_home(t)) return t;
  bool mine = hops == 0 && m->offset >= t->first &&
              m->offset < repl_readable(t) && node_serves_now(node, t);
  return mine ? t : NULL;
}

/* Writes a FETCH answer: the committed records from `from` on, as many as
 * fit. An offset below the first retained one reads from that one (the
 * records' offsets show the jump). */
static void reply_records(node_conn_t *nc, uint32_t id, store_topic_t *t,
                          uint64_t from, uint32_t max) {
  if (from < t->first) from = t->first;
  uint64_t next;
  messages_reply(nc, WIRE_FETCH, id, t, from, repl_readable(t), max, &next);
}

static bool fetch_ready(const pull_waiter_t *w, const store_cursor_t *cur) {
  (void)cur;
  return repl_readable(w->topic) > w->from;
}

static void fetch_answer(pull_waiter_t *w, store_cursor_t *cur) {
  (void)cur;
  reply_records(w->nc, w->req_id, w->topic, w->from, w->max);
}

void op_fetch(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_fetch_t *m = &ctx->m.fetch;
  if (!op_name_ok(ctx, "topic name", m->topic)) return;
  uint32_t max = m->max == 0 || m->max > node->cfg.max_pull ? node->cfg.max_pull
                                                            : m->max;
  /* Either way the node must be fit to serve: not cut off from the
   * majority, not still receiving its topics after a restart, not a new
   * home still settling or filling (op_may_serve; op_find_topic asks it). */
  store_topic_t *t = fetch_served_here(node, m, ctx->hops);
  if (t ? !op_may_serve(ctx, t) : !(t = op_find_topic(ctx, m->topic))) return;
  uint64_t from = m->offset < t->first ? t->first : m->offset;
  if (from < repl_readable(t) || m->wait_ms == 0)
    return reply_records(ctx->nc, ctx->f->id, t, from, max);
  pull_waiter_t *w = waiters_park(ctx, t, msg_str("", 0), max, m->wait_ms);
  if (!w) return;
  w->fetch = true;
  w->from = from;
  w->ready = fetch_ready;
  w->answer = fetch_answer;
}

/* RELEASE: the peer that passed a long-poll fetch on to this node under
 * `id` lost its client. A fetch parked here is answered now, empty; one
 * this node passed on further is released at the next node the same way.
 * Only the connection's own requests are looked at. */
void op_release(op_ctx_t *ctx) {
  node_conn_t *nc = ctx->nc;
  uint32_t id = ctx->m.release.id;
  op_ok(ctx);
  for (pull_waiter_t *w = nc->waiters; w; w = w->conn_next)
    if (w->fetch && w->req_id == id) {
      waiters_release(w);
      return;
    }
  for (req_t *r = nc->reqs; r; r = r->next)
    if (r->op == WIRE_FETCH && r->id == id && r->orphaned == route_release) {
      route_release(r);
      return;
    }
}
