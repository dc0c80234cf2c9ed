/* dedup — each topic remembers the last sequence number of each producer,
 * so a retried publish is answered, not stored twice. */
#include <stdlib.h>
#include <string.h>

#include "hypersub.h"
#include "store/chunk.h"

/* Removes the entry whose last record is oldest and returns its memory
 * for reuse. Only a full table gets here, so a scan is fine. */
static store_producer_t *dedup_evict(store_topic_t *t) {
  const char *k;
  void *v;
  store_producer_t *old = NULL;
  uint64_t key = 0;
  for (size_t i = 0; map_next(&t->producers, &i, &k, NULL, &v);) {
    store_producer_t *e = v;
    if (!old || e->offset < old->offset) {
      old = e;
      memcpy(&key, k, 8);
    }
  }
  map_del(&t->producers, &key, 8);
  return old;
}

/* The producer's entry, made when missing with offset UINT64_MAX until the
 * append fills it in. NULL when out of memory; an entry evicted to make
 * room stays gone then, which only costs dedup on its oldest producer. */
store_producer_t *dedup_entry(store_topic_t *t,
                                              uint64_t producer) {
  store_producer_t *e = map_get(&t->producers, &producer, 8);
  if (e)
    return e;
  e = t->producers.count >= STORE_PRODUCERS_MAX ? dedup_evict(t)
                                                : malloc(sizeof *e);
  if (!e)
    return NULL;
  *e = (store_producer_t){.seq = 0, .offset = UINT64_MAX, .tail = 0,
                          .known_from = UINT64_MAX};
  if (map_put(&t->producers, &producer, 8, e) != 0) {
    free(e);
    return NULL;
  }
  return e;
}


/* Seq s is bit s % STORE_RECENT_SEQS of the ring; the ring covers the
 * seqs above e->seq - STORE_RECENT_SEQS (and from known_from on). */
static void recent_set(store_producer_t *e, uint64_t s, bool on) {
  uint64_t k = s % STORE_RECENT_SEQS, bit = (uint64_t)1 << (k % 64);
  if (on)
    e->recent[k / 64] |= bit;
  else
    e->recent[k / 64] &= ~bit;
}

void dedup_note(store_producer_t *e, uint64_t seq, uint64_t offset) {
  bool fresh = e->offset == UINT64_MAX;
  if (fresh || seq > e->seq) {
    if (fresh || e->known_from == UINT64_MAX ||
        seq - e->seq >= STORE_RECENT_SEQS) {
      memset(e->recent, 0, sizeof e->recent);
      if (fresh || e->known_from == UINT64_MAX)
        e->known_from = seq; /* from here on every append is noted */
    } else {
      /* The seqs coming into the window take the places of those leaving
       * it: usually one. */
      for (uint64_t s = e->seq + 1; s < seq; s++) recent_set(e, s, false);
    }
    e->seq = seq;
    e->offset = offset;
  }
  if (seq >= e->known_from && e->seq - seq < STORE_RECENT_SEQS)
    recent_set(e, seq, true);
  e->tail = offset;
}

/* Whether the window says for sure that seq was never appended. */
static bool surely_new(const store_producer_t *e, uint64_t seq) {
  uint64_t k = seq % STORE_RECENT_SEQS;
  return e->known_from != UINT64_MAX && seq >= e->known_from &&
         e->seq - seq < STORE_RECENT_SEQS &&
         !(e->recent[k / 64] >> (k % 64) & 1);
}

void dedup_free(store_topic_t *t) {
  void *v;
  for (size_t i = 0; map_next(&t->producers, &i, NULL, NULL, &v);)
    free(v);
  map_free(&t->producers);
}


/* Retries make seqs arrive out of order by at most a client's requests in
 * flight; a chunk with a seq this much older ends the search. */
#define STORE_REORDER 65536

/* The offset of (producer, seq) at or before `last`, or UINT64_MAX. Seqs
 * mostly increase along the log, so the walk goes back a chunk at a time
 * and stops at the first chunk holding a seq of the producer older than
 * any reordering explains. */
static uint64_t dedup_find(const store_topic_t *t, uint64_t producer,
                               uint64_t seq, uint64_t last) {
  if (t->next == t->first)
    return UINT64_MAX;
  if (last >= t->next) /* its latest record was cut off */
    last = t->next - 1;
  if (last < t->first)
    return UINT64_MAX;
  const store_chunk_t *c = t->tail;
  while (c->first > last)
    c = c->prev;
  for (; c; c = c->prev) {
    bool older = false;
    size_t pos = 0;
    store_msg_t m;
    for (uint64_t o = c->first; o < c->first + c->count && o <= last; o++) {
      pos += chunk_read(c, pos, &m);
      if (m.producer != producer)
        continue;
      if (m.seq == seq)
        return o;
      older |= m.seq + STORE_REORDER < seq;
    }
    if (older)
      break;
  }
  return UINT64_MAX;
}

bool store_dedup(const store_topic_t *t, uint64_t producer, uint64_t seq,
                 uint64_t *offset) {
  if (!producer)
    return false;
  const store_producer_t *e = map_get(&t->producers, &producer, 8);
  if (!e || seq > e->seq)
    return false;
  uint64_t at;
  if (seq == e->seq) {
    /* The last seq's record is the entry's own: no scan for a retry. */
    bool kept = e->offset >= t->first && e->offset < t->next;
    at = kept ? e->offset : UINT64_MAX;
  } else {
    /* Retries of several publishes may arrive out of order: an older seq
     * is a duplicate only if its record is found. */
    if (surely_new(e, seq)) return false;
    at = dedup_find(t, producer, seq, e->tail > e->offset ? e->tail : e->offset);
    if (at == UINT64_MAX) return false;
  }
  if (offset) *offset = at;
  return true;
}


/* Forgets the producers whose entry points at or past `next`, a batch per
 * pass since the map must not change while it is walked. */
static void dedup_drop_from(store_topic_t *t, uint64_t next) {
  enum { BATCH = 64 };
  size_t n;
  do {
    uint64_t keys[BATCH];
    const char *k;
    void *v;
    n = 0;
    for (size_t i = 0;
         n < BATCH && map_next(&t->producers, &i, &k, NULL, &v);)
      if (((store_producer_t *)v)->offset >= next)
        memcpy(&keys[n++], k, 8);
    for (size_t j = 0; j < n; j++)
      free(map_del(&t->producers, &keys[j], 8));
  } while (n == BATCH);
}

/* After a truncation to `next`: an entry at or past next takes the last
 * remaining record of its producer, found in one pass over the log (the
 * first match replaces the removed seq, later ones raise it as appends
 * would); entries with nothing left go. Entries below next are exact
 * already, and evicted producers stay out. */
void dedup_cut(store_topic_t *t, uint64_t next) {
  bool stale = false;
  void *v;
  for (size_t i = 0; !stale && map_next(&t->producers, &i, NULL, NULL, &v);)
    stale = ((store_producer_t *)v)->offset >= next;
  if (!stale)
    return;
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, t->first);
  while (store_iter_next(&it, &m)) {
    store_producer_t *e =
        m.producer ? map_get(&t->producers, &m.producer, 8) : NULL;
    if (e && (e->offset >= next || (m.offset > e->offset && m.seq > e->seq))) {
      e->seq = m.seq;
      e->offset = m.offset;
      e->known_from = UINT64_MAX; /* its window no longer says what is kept */
    }
    if (e && m.offset < next) e->tail = m.offset;
  }
  dedup_drop_from(t, next);
}

