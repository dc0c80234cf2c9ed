/* waiters — long polls: a PULL (CLAIM, FETCH) with a wait and nothing to take
 * is parked on its topic and on its connection until records become
 * readable (repl's hook), its wait runs out, the topic goes or the
 * connection closes. */
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

static void waiter_closed(uv_handle_t *h) { free(h->data); }

void waiters_free(pull_waiter_t *w) {
  hs_node_t *node = w->node;
  ahead_cancel(w); /* a cursor that went ahead of an answer it never got */
  store_topic_t *t = w->topic;
  node_conn_t *nc = w->nc;
  if (w->topic_prev)
    w->topic_prev->topic_next = w->topic_next;
  else
    t->waiters = w->topic_next;
  if (w->topic_next) w->topic_next->topic_prev = w->topic_prev;
  if (w->conn_prev)
    w->conn_prev->conn_next = w->conn_next;
  else
    nc->waiters = w->conn_next;
  if (w->conn_next) w->conn_next->conn_prev = w->conn_prev;
  nc->n_waiters--;
  node->n_waiting--;
  uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

/* Answers w with what there is, frees it and sends. False when sending
 * closed the connection (a slow reader over its limit): other waiters may
 * have gone with it. */
static bool answer(pull_waiter_t *w, store_cursor_t *cur) {
  node_conn_t *nc = w->nc;
  hs_node_t *node = w->node;
  if (cur || w->fetch)
    w->answer(w, cur);
  else
    node_reply_error(nc, w->op, w->req_id, HS_ENOT_SUBSCRIBED,
                     "subscriber \"%s\" is not subscribed to topic \"%s\"",
                     w->sid, w->topic->name);
  waiters_free(w);
  node->stats.frames_out++;
  return conn_dirty(&nc->conn) == 0;
}

/* The subscriber's cursor; NULL for a FETCH or a cursor gone. */
static store_cursor_t *cursor_of(const pull_waiter_t *w) {
  return w->fetch ? NULL : store_cursor(w->topic, w->sid, w->sid_len);
}

static void on_wait_timeout(uv_timer_t *timer) {
  pull_waiter_t *w = timer->data;
  w->node->stats.pull_wait_timeouts++;
  answer(w, cursor_of(w));
}

/* Whether one more long poll may park here; answers LIMIT when not. */
static bool room_to_park(op_ctx_t *ctx) {
  node_conn_t *nc = ctx->nc;
  hs_node_t *node = nc->node;
  bool node_full = node->n_waiting >= node->cfg.max_parked;
  if (!node_full && nc->n_waiters < node->cfg.max_parked_per_connection)
    return true;
  node->stats.limit_refusals++;
  if (node_full)
    op_error(ctx, HS_ELIMIT,
             "node %u has %u long polls parked already (max_parked): pull "
             "again later, or without a wait",
             node_self(node), node->cfg.max_parked);
  else
    op_error(ctx, HS_ELIMIT,
             "this connection has %u long polls parked on node %u "
             "(max_parked_per_connection)",
             node->cfg.max_parked_per_connection, node_self(node));
  return false;
}

pull_waiter_t *waiters_park(op_ctx_t *ctx, store_topic_t *t, msg_str_t sid,
                            uint32_t max, uint32_t wait_ms) {
  node_conn_t *nc = ctx->nc;
  hs_node_t *node = nc->node;
  if (!room_to_park(ctx)) return NULL;
  if (wait_ms > node->cfg.max_wait_ms) wait_ms = node->cfg.max_wait_ms;
  pull_waiter_t *w = calloc(1, sizeof *w);
  if (!w) {
    op_out_of_memory(ctx);
    return NULL;
  }
  uv_timer_init(node->loop, &w->timer);
  w->timer.data = w;
  w->node = node;
  w->nc = nc;
  w->topic = t;
  w->req_id = ctx->f->id;
  w->op = ctx->f->op;
  w->max = max;
  w->sid_len = (uint8_t)sid.n;
  memcpy(w->sid, sid.s, sid.n);
  w->topic_next = t->waiters;
  if (w->topic_next) w->topic_next->topic_prev = w;
  t->waiters = w;
  w->conn_next = nc->waiters;
  if (w->conn_next) w->conn_next->conn_prev = w;
  nc->waiters = w;
  nc->n_waiters++;
  node->n_waiting++;
  node->stats.pull_waits++;
  uv_timer_start(&w->timer, on_wait_timeout, wait_ms, 0);
  return w;
}

void waiters_wake(void *ud, store_topic_t *t) {
  (void)ud;
again:
  for (pull_waiter_t *w = t->waiters, *next; w; w = next) {
    next = w->topic_next;
    store_cursor_t *cur = cursor_of(w);
    /* Another pull of the same subscriber may have taken the news. */
    if ((!cur && !w->fetch) || !w->ready(w, cur)) continue;
    if (!answer(w, cur)) goto again; /* `next` may have gone too */
  }
}

void waiters_drop(void *ud, store_topic_t *t, int code, const char *why) {
  hs_node_t *node = ud;
  while (t->waiters) {
    pull_waiter_t *w = t->waiters;
    node_conn_t *nc = w->nc;
    node_reply_error(nc, w->op, w->req_id, code, "topic \"%s\" %s", t->name,
                     why);
    waiters_free(w);
    node->stats.frames_out++;
    node_send(nc);
  }
}

bool waiters_release(pull_waiter_t *w) {
  w->max = 0; /* answered empty: nobody waits for what it would take */
  return answer(w, cursor_of(w));
}

void waiters_unpark(hs_node_t *node, store_topic_t *t, msg_str_t sid) {
  (void)node;
again:
  for (pull_waiter_t *w = t->waiters, *next; w; w = next) {
    next = w->topic_next;
    if (w->fetch || w->nc->role != WIRE_ROLE_PEER || w->sid_len != sid.n ||
        memcmp(w->sid, sid.s, sid.n))
      continue;
    if (!waiters_release(w)) goto again;
  }
}
