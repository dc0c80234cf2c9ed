/* apply — the receiving side of REPLICATE: a replica applies its home's
 * appends, cursors, commits, deletes and identities; a home takes records
 * handed back to it; and SYNC makes or aligns a copy. */
#include <stdio.h>
#include <string.h>

#include "repl/repl_topic.h"

#define FAIL(code, ...)                        \
  do {                                         \
    snprintf(why, why_len, __VA_ARGS__);       \
    return (code);                             \
  } while (0)

/* Appends the records past our next offset; true when any was new. */
static int append_records(repl_t *r, store_topic_t *t, msg_replicate_t *m,
                          bool *added) {
  msg_record_t rec;
  *added = false;
  for (uint64_t offset = m->first; msg_record_next(m, &rec); offset++) {
    if (offset < t->next) continue; /* had it already */
    /* Written in the sender's term: a later one begins here. */
    if (store_term_begin(r->store, t, m->term)) return HS_ENOMEM;
    uint64_t got;
    if (store_append_seq(r->store, t, rec.time_ms, rec.publisher.s,
                         rec.publisher.n, rec.producer, rec.seq, rec.data.s,
                         rec.data.n, &got))
      return HS_ENOMEM;
    *added = true;
  }
  return 0;
}

static int apply_append(repl_t *r, uint32_t from, msg_replicate_t *m,
                        uint64_t *next, char *why, size_t why_len) {
  store_topic_t *t = store_topic_find(r->store, m->name.s, m->name.n);
  if (!t)
    FAIL(HS_ENO_TOPIC, "replica has no topic \"%.*s\"", (int)m->name.n,
         m->name.s);
  if (!repl_accepts(r, t->name, t->name_len, from))
    FAIL(HS_EDENIED, "node %u is not the home of topic \"%s\" here", from,
         t->name);
  if (m->first > t->next)
    FAIL(HS_EINVALID, "gap in topic \"%s\": got offset %llu, next is %llu",
         t->name, (unsigned long long)m->first, (unsigned long long)t->next);
  repl_topic_t *rt = repl_state(r, t);
  bool added;
  if (!rt || append_records(r, t, m, &added)) FAIL(HS_ENOMEM, "out of memory");
  if (added && from == rt->filling_from) rt->filling_heard = uv_now(r->loop);
  bool filled = rt->filling_to && t->next >= rt->filling_to;
  if (filled) rt->filling_to = 0;
  if (rt->home) {
    if (filled) sync_broken(r, rt); /* the replicas that waited for it */
    sync_settle(r, rt);
    /* Records handed back to the home: the other replicas get them too. */
    replica_t *back = replica_find(rt, from);
    if (back && back->acked < t->next) back->acked = t->next;
    if (added) repl_append(r, t);
    repl_advance(r, rt);
  } else {
    repl_heard_commit(rt, m->committed);
  }
  if (added || !rt->home) repl_readable_now(r, t);
  *next = t->next;
  return 0;
}

/* The home's word is final (links keep order): even a rewind; the
 * records it points past may still be on their way. A home hears cursors
 * only from its former home, handing the topic over, which may echo what
 * it heard from us: only moves forward count. */
static void apply_cursor(repl_t *r, uint32_t from, const msg_replicate_t *m) {
  store_topic_t *t = store_topic_find(r->store, m->name.s, m->name.n);
  if (!t || !repl_accepts(r, t->name, t->name_len, from) ||
      store_subscribe(r->store, t, m->subscriber.s, m->subscriber.n, m->next))
    return;
  repl_topic_t *rt = repl_of(t);
  store_cursor_t *cur = store_cursor(t, m->subscriber.s, m->subscriber.n);
  const char *sid = m->subscriber.s;
  size_t sn = m->subscriber.n;
  if (!(rt && rt->home)) {
    store_cursor_restore(r->store, t, sid, sn, m->next, m->prev);
  } else if (m->next > cur->next) { /* where the former home's last pull began
                                       comes too: its retry may go back */
    uint64_t next = m->next > t->next ? t->next : m->next;
    store_cursor_restore(r->store, t, sid, sn, next,
                         m->prev < next ? m->prev : next);
  }
}

/* Only the home commits, and never past what this copy holds. */
static uint64_t apply_commit(repl_t *r, uint32_t from,
                             const msg_replicate_t *m) {
  store_topic_t *t = store_topic_find(r->store, m->name.s, m->name.n);
  repl_topic_t *rt = t ? repl_of(t) : NULL;
  if (!rt || rt->home || !repl_home_is(r, t->name, t->name_len, from))
    return t ? t->next : 0;
  uint64_t committed = m->committed < t->next ? m->committed : t->next;
  if (repl_heard_commit(rt, committed)) repl_readable_now(r, t);
  return t->next;
}

/* Only the home deletes a copy; a home deletes through DELETE_TOPIC,
 * which checks the owner. */
static void apply_delete(repl_t *r, uint32_t from, const msg_replicate_t *m) {
  store_topic_t *t = store_topic_find(r->store, m->name.s, m->name.n);
  if (t && from != repl_self(r) && repl_home_is(r, t->name, t->name_len, from))
    repl_drop_copy(r, t, true);
}

int repl_apply(repl_t *r, uint32_t from, msg_replicate_t *m,
               repl_answer_t *ans, char *why, size_t why_len) {
  uint64_t *next = &ans->next;
  *next = 0;
  ans->part = UINT64_MAX;
  switch (m->kind) {
    case REPL_PUBLISHER:
      store_publisher_create(r->store, m->name.s, m->name.n);
      return 0;
    case REPL_SUBSCRIBER:
      store_subscriber_create(r->store, m->name.s, m->name.n);
      return 0;
    case REPL_SYNC:
      return apply_sync(r, from, m, ans, why, why_len);
    case REPL_DELETE:
      apply_delete(r, from, m);
      return 0;
    case REPL_APPEND:
      return apply_append(r, from, m, next, why, why_len);
    case REPL_CURSOR:
      apply_cursor(r, from, m);
      return 0;
    case REPL_COMMIT:
      *next = apply_commit(r, from, m);
      return 0;
  }
  FAIL(HS_EINVALID, "unknown replicate kind %u", m->kind);
}

/* ---- SYNC --------------------------------------------------------------------- */

/* The sender's cursors. A replica takes them unclamped (the records they
 * point past may be on their way still); a home keeps its own (it moves
 * them), and one taking the topic over keeps the furthest it hears of
 * (copies may lag the former home), up to the records it holds or awaits. */
static void take_cursors(repl_t *r, store_topic_t *t, repl_topic_t *rt,
                         bool to_home, msg_replicate_t *m) {
  uint64_t reach = rt->filling_to > t->next ? rt->filling_to : t->next;
  msg_cursor_t c;
  while (msg_cursor_next(m, &c)) {
    if (to_home && c.next > reach) c.next = reach;
    store_cursor_t *cur = store_cursor(t, c.subscriber.s, c.subscriber.n);
    const char *sid = c.subscriber.s;
    size_t sn = c.subscriber.n;
    if (rt->home && cur) {
      if (to_home && c.next > cur->next)
        store_cursor_restore(r->store, t, sid, sn, c.next,
                             c.prev < c.next ? c.prev : c.next);
      continue;
    }
    if (to_home && cur && cur->next > c.next) continue;
    if (store_subscribe(r->store, t, sid, sn, c.next) == 0)
      store_cursor_restore(r->store, t, sid, sn, c.next,
                           c.prev < c.next ? c.prev : c.next);
  }
}

/* The first offset where this copy's log and the home's part ways: where
 * a record here was written in another term than the home's record at
 * that offset (offsets the home has not reached yet count as its current
 * term's). A copy holding records of a home that was fenced before they
 * were committed finds them this way. */
static uint64_t parting(const store_topic_t *t, msg_replicate_t *m,
                        uint64_t *home_term) {
  uint64_t home_terms[64][2];
  size_t n = 0;
  uint64_t term, start;
  *home_term = 0;
  while (n < 64 && msg_term_next(m, &term, &start))
    home_terms[n][0] = term, home_terms[n++][1] = start;
  if (!n) return t->next; /* a home with no terms yet: nothing to compare */
  for (size_t i = 0; i < t->n_terms; i++) {
    uint64_t s = t->terms[i].start < t->first ? t->first : t->terms[i].start;
    uint64_t e = i + 1 < t->n_terms ? t->terms[i + 1].start : t->next;
    if (s < home_terms[0][1]) s = home_terms[0][1]; /* the home cannot judge */
    for (uint64_t o = s; o < e;) { /* by the home's breakpoints in [s, e) */
      size_t k = 0;
      while (k + 1 < n && home_terms[k + 1][1] <= o) k++;
      if (home_terms[k][0] != t->terms[i].term) {
        *home_term = home_terms[k][0];
        return o;
      }
      o = k + 1 < n && home_terms[k + 1][1] < e ? home_terms[k + 1][1] : e;
    }
  }
  return t->next;
}

/* Our copy of the topic a SYNC is about, made or realigned. */
static store_topic_t *sync_copy(repl_t *r, uint32_t from, bool to_home,
                                const msg_replicate_t *m) {
  store_topic_t *t = store_topic_find(r->store, m->name.s, m->name.n);
  if (!t) {
    if (store_topic_create(r->store, m->name.s, m->name.n, m->owner.s,
                           m->owner.n, &t))
      return NULL;
    if (m->first) store_topic_reset(r->store, t, m->first);
    LOG(r->log, HS_LOG_INFO, "repl",
        to_home ? "topic_handed_here" : "topic_replicated_here",
        LF_STRN("topic", m->name.s, m->name.n), LF_UINT("from", from),
        LF_UINT("first", m->first), LF_UINT("next", m->next));
  } else if (t->next < m->first) {
    store_topic_reset(r->store, t, m->first); /* what we lack is gone */
  }
  return t;
}

/* A SYNC that cannot be right: offsets backwards, or one that would make
 * the serving home drop records it holds (only a copy that is not home
 * yet may skip ahead to what the sender still has). */
static const char *sync_wrong(repl_t *r, const msg_replicate_t *m) {
  if (m->first > m->next) return "its first offset is past its next";
  if (m->committed > m->next) return "its committed offset is past its next";
  store_topic_t *t = store_topic_find(r->store, m->name.s, m->name.n);
  repl_topic_t *rt = t ? repl_of(t) : NULL;
  if (rt && rt->home && m->first > t->next)
    return "the home would drop records it holds";
  return NULL;
}

/* SYNC is allowed from the topic's home (we are its replica), or to us
 * when we are its home (a former home hands it over). We answer with our
 * next offset; then each side sends the other the records it lacks. */
int apply_sync(repl_t *r, uint32_t from, msg_replicate_t *m, repl_answer_t *ans,
               char *why, size_t why_len) {
  uint64_t *next = &ans->next;
  uint32_t ids[PLACE_COPIES_MAX];
  size_t n = cluster_copies(r->cluster, place_topic(m->name.s, m->name.n),
                            ids, PLACE_COPIES_MAX);
  bool to_home = n && ids[0] == repl_self(r);
  if (!repl_accepts(r, m->name.s, m->name.n, from))
    FAIL(HS_EDENIED, "node %u is not the home of topic \"%.*s\" here", from,
         (int)m->name.n, m->name.s);
  if (!place_contains(ids, n, repl_self(r)))
    FAIL(HS_EDENIED, "node %u holds no copy of topic \"%.*s\" in view %llu",
         repl_self(r), (int)m->name.n, m->name.s,
         (unsigned long long)r->cluster->view.epoch);
  const char *wrong = sync_wrong(r, m);
  if (wrong)
    FAIL(HS_EINVALID, "SYNC of topic \"%.*s\" from node %u refused: %s",
         (int)m->name.n, m->name.s, from, wrong);
  store_topic_t *t = sync_copy(r, from, to_home, m);
  repl_topic_t *rt = t ? repl_state(r, t) : NULL;
  if (!rt) FAIL(HS_ENOMEM, "out of memory");
  uint64_t home_term;
  uint64_t part = to_home ? t->next : parting(t, m, &home_term);
  /* Where the logs part, the later term's records are the ones to keep:
   * ours are cut when the home's are newer; when ours are, the home is
   * told to take them (a home back from a crash with an old log). */
  bool newer = part < t->next && store_term_at(t, part) > home_term;
  if (newer) {
    ans->part = part;
    LOG(r->log, HS_LOG_WARN, "repl", "newer_than_home", LF_STR("topic", t->name),
        LF_UINT("from", part), LF_UINT("next", t->next), LF_UINT("home", from));
  } else if (part < t->next) {
    LOG(r->log, HS_LOG_WARN, "repl", "diverged_cut", LF_STR("topic", t->name),
        LF_UINT("from", part), LF_UINT("next", t->next), LF_UINT("home", from),
        LF_STR("detail", "records a fenced home wrote, never committed"));
    store_truncate(r->store, t, part);
    /* What was heard of the cut records (another run of the topic, one
     * this copy missed the delete of) says nothing of the new ones. */
    if (rt->heard > part) rt->heard = part;
  }
  if (!rt->home) repl_heard_commit(rt, m->committed);
  /* Handed over: the sender's records follow (never from ourselves). */
  if (to_home && from != repl_self(r)) sync_await(r, rt, m->next, from);
  take_cursors(r, t, rt, to_home, m);
  *next = t->next;
  if (to_home && !rt->home) takeover_topic(r, t, NULL);
  /* We hold records the sender lacks: send them back. */
  if (*next > m->next) repl_send_range(r, t, from, m->next, *next);
  return 0;
}
