/* op_pull — subscribing and pulling at a topic's home (a pull that enters
 * at a copy is served there: read.c), long polls, and the cursor moves a
 * pull's client may ask for: REWIND (its answer found nobody), UNPARK (its
 * client left). */
#include <string.h>

#include "node/node.h"

void op_subscribe(op_ctx_t *ctx) {
  const msg_subscribe_t *m = &ctx->m.subscribe;
  hs_node_t *node = ctx->nc->node;
  if (m->from > HS_FROM_OFFSET)
    return op_error(ctx, HS_EINVALID,
                    "from %u is not earliest (0), latest (1) or an offset (2)",
                    m->from);
  if (!op_name_ok(ctx, "subscriber id", m->subscriber) ||
      !op_name_ok(ctx, "topic name", m->topic) ||
      !op_identity_ok(ctx, PLACE_SUBSCRIBER, m->subscriber))
    return;
  store_topic_t *t = op_find_topic(ctx, m->topic);
  if (!t) return;
  const char *sid = m->subscriber.s;
  size_t sn = m->subscriber.n;
  uint64_t next = m->from == HS_FROM_EARLIEST ? t->first
                  : m->from == HS_FROM_LATEST ? t->next
                                              : m->offset;
  bool again = store_cursor(t, sid, sn) != NULL;
  if (!again && !op_under_limit(ctx, node->store.cursors,
                                node->cfg.max_subscriptions, "subscriptions",
                                "max_subscriptions"))
    return;
  if (store_subscribe(&node->store, t, sid, sn, next))
    return op_out_of_memory(ctx);
  store_cursor_t *cur = store_cursor(t, sid, sn);
  repl_cursor(&node->repl, t, sid, sn, cur->next, cur->prev, NULL);
  LOG(&node->log, HS_LOG_INFO, "store", again ? "resubscribed" : "subscribed",
      LF_STRN("subscriber", sid, sn), LF_STRN("topic", m->topic.s, m->topic.n),
      LF_UINT("cursor", cur->next));
  wire_writer_t w;
  msg_offset_t reply = {cur->next};
  size_t mark = ctx->nc->conn.out.len;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_offset_put(&w, &reply);
  node_reply_end(ctx->nc, &w);
  op_hold(ctx, mark, NULL, 0);
}

void pull_align(hs_node_t *node, store_topic_t *t, msg_str_t sid,
                store_cursor_t *cur, uint64_t seen, bool retry) {
  if (seen == UINT64_MAX) return;
  if (seen > t->next) seen = t->next;
  if (seen < t->first) seen = t->first;
  /* Forward: the client saw more than this copy heard of. Back: only the
   * retry of the last pull answered (its answer was lost on the way),
   * never a client whose cursor is old because others pulled since. */
  bool back = retry && seen < cur->next && seen == cur->prev;
  if (!(seen > cur->next || back)) return;
  LOG(&node->log, HS_LOG_INFO, "store", "cursor_aligned",
      LF_STRN("subscriber", sid.s, sid.n), LF_STR("topic", t->name),
      LF_UINT("was", cur->next), LF_UINT("cursor", seen));
  store_cursor_set(&node->store, t, sid.s, sid.n, seen);
  repl_cursor(&node->repl, t, sid.s, sid.n, seen, seen, NULL);
}

/* Writes a PULL answer with the messages after the cursor and moves the
 * cursor past them. */
static void reply_messages(node_conn_t *nc, uint32_t id, store_topic_t *t,
                           msg_str_t sid, store_cursor_t *cur, uint32_t max) {
  hs_node_t *node = nc->node;
  size_t mark = nc->conn.out.len;
  uint64_t next;
  uint32_t n = messages_reply(nc, WIRE_PULL, id, t, cur->next,
                              repl_readable(t), max, &next);
  if (!n) return;
  LOG(&node->log, HS_LOG_DEBUG, "store", "pulled",
      LF_STRN("subscriber", sid.s, sid.n), LF_STR("topic", t->name),
      LF_UINT("from", cur->next), LF_UINT("count", n));
  store_cursor_pulled(&node->store, t, sid.s, sid.n, next);
  node_hold_cursor(nc, WIRE_PULL, id, mark, t, sid.s, sid.n);
}

static void pull_answer(pull_waiter_t *w, store_cursor_t *cur) {
  if (ahead_answer(w, cur)) return;
  reply_messages(w->nc, w->req_id, w->topic, msg_str(w->sid, w->sid_len), cur,
                 w->max);
}

void op_pull(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_pull_t *m = &ctx->m.pull;
  if (!op_name_ok(ctx, "subscriber id", m->subscriber) ||
      !op_name_ok(ctx, "topic name", m->topic))
    return;
  uint32_t max = m->max == 0 || m->max > node->cfg.max_pull ? node->cfg.max_pull
                                                            : m->max;
  /* A cursor proves the subscriber exists: no lookup at the identity's
   * home (which may be new and still receiving it). A copy leaves the
   * check to the home, which has the cursor. */
  uint32_t home = cluster_home(&node->cluster, place_topic(m->topic.s, m->topic.n));
  store_topic_t *held = store_topic_find(&node->store, m->topic.s, m->topic.n);
  if (home != node_self(node)) { /* a copy here serves it (read.c) */
    if (held && repl_is_copy(held)) return read_from_copy(ctx, held, m, max);
    return route_forward(ctx, home); /* no copy after all */
  }
  if (!(held && store_cursor(held, m->subscriber.s, m->subscriber.n)) &&
      !op_identity_ok(ctx, PLACE_SUBSCRIBER, m->subscriber))
    return;
  store_topic_t *t = op_find_topic(ctx, m->topic);
  if (!t) return;
  store_cursor_t *cur = store_cursor(t, m->subscriber.s, m->subscriber.n);
  if (!cur)
    return op_error(ctx, HS_ENOT_SUBSCRIBED,
                    "subscriber \"%.*s\" is not subscribed to topic \"%.*s\"",
                    (int)m->subscriber.n, m->subscriber.s, (int)m->topic.n,
                    m->topic.s);
  pull_align(node, t, m->subscriber, cur, m->seen, ctx->f->flags & WIRE_F_RETRY);
  if (cur->next < repl_readable(t) || m->wait_ms == 0)
    return reply_messages(ctx->nc, ctx->f->id, t, m->subscriber, cur, max);
  pull_waiter_t *w = waiters_park(ctx, t, m->subscriber, max, m->wait_ms);
  if (!w) return;
  w->ready = ahead_ready;
  w->answer = pull_answer;
}

/* READ: a pull the node it entered sent to this copy (read.c); answered
 * as a PULL. */
void op_read(op_ctx_t *ctx) {
  buf_t body = BUF_INIT;
  wire_writer_t w = {.b = &body};
  msg_pull_put(&w, &ctx->m.read.pull);
  if (w.err) return op_out_of_memory(ctx);
  /* The pull as its own frame: it may be forwarded or looked up again. */
  wire_frame_t pull;
  op_ctx_t sub;
  op_ctx_reframe(ctx, WIRE_PULL, &body, &pull, &sub);
  sub.m.pull = ctx->m.read.pull;
  op_pull(&sub);
  ctx->suspended = sub.suspended;
  buf_free(&body);
}

/* REWIND: a pull's answer found its client gone; the cursor moves back
 * over those messages unless it moved since. */
void op_rewind(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_rewind_t *m = &ctx->m.rewind;
  store_topic_t *t = store_topic_find(&node->store, m->topic.s, m->topic.n);
  store_cursor_t *cur =
      t ? store_cursor(t, m->subscriber.s, m->subscriber.n) : NULL;
  if (cur && cur->next == m->expect && m->from < m->expect) {
    store_cursor_set(&node->store, t, m->subscriber.s, m->subscriber.n,
                     m->from < t->first ? t->first : m->from);
    repl_cursor(&node->repl, t, m->subscriber.s, m->subscriber.n, cur->next,
                cur->prev, NULL);
    LOG(&node->log, HS_LOG_INFO, "store", "cursor_rewound",
        LF_STRN("subscriber", m->subscriber.s, m->subscriber.n),
        LF_STRN("topic", m->topic.s, m->topic.n), LF_UINT("cursor", cur->next));
    waiters_wake(node, t);
  }
  size_t mark = ctx->nc->conn.out.len;
  op_ok(ctx);
  op_hold(ctx, mark, NULL, 0);
}

/* UNPARK: the client of pulls parked here by peers left: answer them empty
 * now, so no message is handed to a pull nobody waits for. */
void op_unpark(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_key_t *m = &ctx->m.key;
  store_topic_t *t = store_topic_find(&node->store, m->topic.s, m->topic.n);
  if (t) waiters_unpark(node, t, m->subscriber);
  op_ok(ctx);
}
