/* ahead — a long poll's cursor sent with the records it waits for.
 *
 * A pull's answer leaves only once every live copy holds the subscriber's
 * new cursor (durable.c). For a long poll at the home that would be one
 * replica round trip after the records commit. Instead, once new records
 * are on the live replicas' links (repl's `streamed` hook), the home
 * sends each of them the cursor the poll will have once it takes those
 * records, right behind them; the answer is held on those
 * acknowledgements and leaves at the commit.
 *
 * The copies then know a cursor the home has not moved yet. Wherever the
 * poll does not get exactly those records — its wait ends first, its
 * client leaves, another pull moved the cursor, the copy set changed (a
 * copy synced again since counts: a SYNC carries the home's cursor) —
 * the copies are told the home's cursor again (or the answer is held on a
 * new cursor, as any pull's is). A copy applies cursors in the order they
 * come, so the last one it heard is the home's. Should the home die in
 * between, a copy may hold the cursor past records nobody was given: the
 * poll's client asks again with `seen` and the new home's cursor goes
 * back to it, as after a lost answer of any pull (op_pull.c). */
#include <string.h>

#include "node/node.h"

/* Drops the held answer and tells the copies the home's cursor again. */
static void cancel(pull_waiter_t *w, req_t *held) {
  hs_node_t *node = w->node;
  node_hold_drop(held);
  const store_cursor_t *cur = store_cursor(w->topic, w->sid, w->sid_len);
  if (cur && !node->freeing)
    repl_cursor(&node->repl, w->topic, w->sid, w->sid_len, cur->next,
                cur->prev, NULL);
}

void ahead_streamed(void *ud, store_topic_t *t) {
  hs_node_t *node = ud;
  if (!t->waiters) return;
  uint64_t stamps[PLACE_COPIES_MAX];
  uint64_t sent;
  size_t n = repl_live(t, stamps, PLACE_COPIES_MAX, &sent);
  if (!n) return;
  uint64_t readable = repl_readable(t);
  for (pull_waiter_t *w = t->waiters; w; w = w->topic_next) {
    if (w->op != WIRE_PULL || w->ahead) continue;
    const store_cursor_t *cur = store_cursor(t, w->sid, w->sid_len);
    /* Answered at this turn's wake-up, or nothing on its way for it. */
    if (!cur || cur->next < readable || cur->next >= sent) continue;
    uint64_t to = sent - cur->next > w->max ? cur->next + w->max : sent;
    size_t asked;
    req_t *held =
        node_hold_ahead(node, t, w->sid, w->sid_len, to, cur->next, &asked);
    if (!held) continue;
    if (asked < n) { /* a link refused it */
      cancel(w, held);
      continue;
    }
    w->ahead = held;
    w->ahead_from = cur->next;
    w->ahead_to = to;
    w->ahead_n = (uint8_t)n;
    memcpy(w->ahead_stamps, stamps, n * sizeof *stamps);
    node->stats.pulls_ahead++;
  }
}

bool ahead_ready(const pull_waiter_t *w, const store_cursor_t *cur) {
  uint64_t readable = repl_readable(w->topic);
  if (w->ahead && cur->next == w->ahead_from) return readable >= w->ahead_to;
  return cur->next < readable;
}

/* Every live copy now was told the cursor ahead, and has not been synced
 * since (a SYNC carries the home's cursor, not the one sent ahead). */
static bool copies_told(const pull_waiter_t *w) {
  uint64_t stamps[PLACE_COPIES_MAX];
  uint64_t sent;
  size_t n = repl_live(w->topic, stamps, PLACE_COPIES_MAX, &sent);
  if (!n) return false;
  for (size_t i = 0; i < n; i++) {
    size_t k = 0;
    while (k < w->ahead_n && w->ahead_stamps[k] != stamps[i]) k++;
    if (k == w->ahead_n) return false;
  }
  return true;
}

bool ahead_answer(pull_waiter_t *w, store_cursor_t *cur) {
  req_t *held = w->ahead;
  if (!held) return false;
  w->ahead = NULL;
  store_topic_t *t = w->topic;
  if (cur->next != w->ahead_from || repl_readable(t) < w->ahead_to ||
      !copies_told(w)) {
    cancel(w, held);
    return false;
  }
  node_conn_t *nc = w->nc;
  hs_node_t *node = nc->node;
  size_t mark = nc->conn.out.len;
  uint64_t next;
  uint32_t n = messages_reply(nc, WIRE_PULL, w->req_id, t, cur->next,
                              w->ahead_to, (uint32_t)(w->ahead_to - cur->next),
                              &next);
  if (next != w->ahead_to) { /* not all in one frame: as any pull */
    nc->conn.out.len = mark;
    node->stats.messages_pulled -= n; /* taken back: counted by the pull */
    cancel(w, held);
    return false;
  }
  LOG(&node->log, HS_LOG_DEBUG, "store", "pulled",
      LF_STRN("subscriber", w->sid, w->sid_len), LF_STR("topic", t->name),
      LF_UINT("from", cur->next), LF_UINT("count", n), LF_STR("cursor", "ahead"));
  store_cursor_pulled(&node->store, t, w->sid, w->sid_len, next);
  node_hold_adopt(nc, held, WIRE_PULL, w->req_id, mark);
  return true;
}

void ahead_cancel(pull_waiter_t *w) {
  req_t *held = w->ahead;
  if (!held) return;
  w->ahead = NULL;
  cancel(w, held);
}
