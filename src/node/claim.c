/* claim — the home's side of a pull served by a copy: CLAIM moves the
 * cursor over the offsets the copy may hand out (committed ones it holds),
 * as a pull served here would, long poll included; the copy then sends
 * those records from its own log (read.c). */
#include "node/node.h"

uint64_t claim_end(const store_topic_t *t, uint32_t server,
                   uint64_t server_next) {
  uint64_t acked = repl_acked(t, server);
  uint64_t held = acked > server_next ? acked : server_next;
  uint64_t end = repl_readable(t);
  return held < end ? held : end;
}

/* Answers a CLAIM: the range [cursor, ...) the server hands out, the
 * cursor moved past it; or, when the server lacks the cursor's offset (its
 * copy starts later), the messages themselves. */
static void reply_claim(node_conn_t *nc, uint32_t id, store_topic_t *t,
                        msg_str_t sid, store_cursor_t *cur, uint32_t max,
                        const pull_waiter_t *c) {
  hs_node_t *node = nc->node;
  wire_writer_t w;
  size_t mark = nc->conn.out.len;
  wire_begin(&w, &nc->conn.out, WIRE_CLAIM, WIRE_F_REPLY, id);
  uint64_t from = cur->next < t->first ? t->first : cur->next, next;
  uint32_t n;
  if (from < c->server_first) {
    msg_claim_served_put(&w);
    n = messages_put(node, &w, t, from, repl_readable(t), max, &next);
  } else {
    n = messages_span(node, t, from, claim_end(t, c->server, c->server_next),
                      max, &next);
    msg_claim_range_put(&w, from, n);
  }
  node_reply_end(nc, &w);
  node->stats.claims++;
  if (!n) return;
  LOG(&node->log, HS_LOG_DEBUG, "store", "claimed",
      LF_STRN("subscriber", sid.s, sid.n), LF_STR("topic", t->name),
      LF_UINT("server", c->server), LF_UINT("from", from), LF_UINT("count", n));
  store_cursor_pulled(&node->store, t, sid.s, sid.n, next);
  node_hold_cursor(nc, WIRE_CLAIM, id, mark, t, sid.s, sid.n);
}

static bool claim_ready(const pull_waiter_t *w, const store_cursor_t *cur) {
  uint64_t end = cur->next >= w->server_first
                     ? claim_end(w->topic, w->server, w->server_next)
                     : repl_readable(w->topic);
  return cur->next < end;
}

static void claim_answer(pull_waiter_t *w, store_cursor_t *cur) {
  reply_claim(w->nc, w->req_id, w->topic, msg_str(w->sid, w->sid_len), cur,
              w->max, w);
}

void op_claim(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_claim_t *m = &ctx->m.claim;
  store_topic_t *t = op_find_topic(ctx, m->topic);
  if (!t) return;
  if (!repl_is_home(t))
    return op_error(ctx, HS_EUNAVAILABLE,
                    "node %u does not serve topic \"%s\" yet", node_self(node),
                    t->name);
  store_cursor_t *cur = store_cursor(t, m->subscriber.s, m->subscriber.n);
  if (!cur && !op_identity_ok(ctx, PLACE_SUBSCRIBER, m->subscriber))
    return; /* NO_SUBSCRIBER */
  if (!cur)
    return op_error(ctx, HS_ENOT_SUBSCRIBED,
                    "subscriber \"%.*s\" is not subscribed to topic \"%.*s\"",
                    (int)m->subscriber.n, m->subscriber.s, (int)m->topic.n,
                    m->topic.s);
  uint32_t max = m->max == 0 || m->max > node->cfg.max_pull ? node->cfg.max_pull
                                                            : m->max;
  pull_align(node, t, m->subscriber, cur, m->seen, ctx->f->flags & WIRE_F_RETRY);
  pull_waiter_t probe = {.topic = t, .server = m->server,
                         .server_first = m->first, .server_next = m->next};
  /* What the server may hand out grows with the home's records up to what
   * it said it holds, and past that only with its acknowledgements (a
   * replica streamed to): a claim that cannot grow is answered now, not
   * parked for nothing. */
  bool can_grow = cur->next < m->first || m->next > cur->next ||
                  repl_streams_to(t, m->server);
  if (claim_ready(&probe, cur) || m->wait_ms == 0 || !can_grow)
    return reply_claim(ctx->nc, ctx->f->id, t, m->subscriber, cur, max, &probe);
  pull_waiter_t *w = waiters_park(ctx, t, m->subscriber, max, m->wait_ms);
  if (!w) return;
  w->ready = claim_ready;
  w->answer = claim_answer;
  w->server = m->server;
  w->server_first = m->first;
  w->server_next = m->next;
}
