/* store — topic logs in large chunks, cursors and the registries.
 *
 * A record in a chunk is, unaligned (read and written with memcpy):
 *   u64 time_ms | u64 producer | u64 seq | u32 payload length |
 *   u8 publisher length | publisher bytes | payload bytes
 * (producer and seq are 0 when the publish carried none).
 * Chunks form a list head <-> tail; appends go into the tail and only a full
 * tail costs a malloc. Retention frees whole chunks from the front and never
 * the tail, so limits are approximate by up to one chunk and a topic with
 * records always keeps at least its newest one. A chunk is never empty:
 * truncation frees a chunk it empties, so a topic may have no chunks while
 * first == next > 0. The back links serve truncation and dedup lookups,
 * which work from the newest end. */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#include "hypersub.h"

#define STORE_CHUNK_DEFAULT ((size_t)1 << 20)
#define STORE_REC_HEAD (8 + 8 + 8 + 4 + 1)

struct store_chunk {
  store_chunk_t *next, *prev;
  uint64_t first;    /* offset of the first record */
  uint64_t count;    /* records in the chunk */
  uint64_t bytes;    /* payload bytes of those records */
  uint64_t max_time; /* newest time_ms, for age retention */
  size_t size;       /* capacity of data */
  size_t used;       /* bytes of data written */
  unsigned char data[];
};

void store_init(store_t *s, const store_limits_t *limits) {
  memset(s, 0, sizeof *s);
  if (limits)
    s->limits = *limits;
  if (s->limits.chunk_size == 0)
    s->limits.chunk_size = STORE_CHUNK_DEFAULT;
}

/* ---- registries ---------------------------------------------------------- */

static int store_register(map_t *m, const char *id, size_t n) {
  if (map_get(m, id, n))
    return HS_EEXISTS;
  return map_put(m, id, n, (void *)1);
}

int store_publisher_create(store_t *s, const char *id, size_t n) {
  return store_register(&s->publishers, id, n);
}

bool store_publisher_exists(const store_t *s, const char *id, size_t n) {
  return map_get(&s->publishers, id, n) != NULL;
}

int store_subscriber_create(store_t *s, const char *id, size_t n) {
  return store_register(&s->subscribers, id, n);
}

bool store_subscriber_exists(const store_t *s, const char *id, size_t n) {
  return map_get(&s->subscribers, id, n) != NULL;
}

/* ---- topics -------------------------------------------------------------- */

static char *store_strdup(const char *p, size_t n) {
  char *c = malloc(n + 1);
  if (c) {
    memcpy(c, p, n);
    c[n] = '\0';
  }
  return c;
}

int store_topic_create(store_t *s, const char *name, size_t n,
                       const char *owner, size_t owner_len,
                       store_topic_t **out) {
  if (map_get(&s->topics, name, n))
    return HS_EEXISTS;
  store_topic_t *t = calloc(1, sizeof *t);
  if (!t)
    return HS_ENOMEM;
  t->name = store_strdup(name, n);
  t->owner = store_strdup(owner, owner_len);
  if (!t->name || !t->owner || map_put(&s->topics, name, n, t) != 0) {
    free(t->name);
    free(t->owner);
    free(t);
    return HS_ENOMEM;
  }
  t->name_len = n;
  t->owner_len = owner_len;
  if (out)
    *out = t;
  return 0;
}

store_topic_t *store_topic_find(const store_t *s, const char *name,
                                size_t n) {
  return map_get(&s->topics, name, n);
}

/* Takes a chunk's records out of every count and frees it. */
static void store_chunk_free(store_t *s, store_topic_t *t, store_chunk_t *c) {
  t->bytes -= c->bytes;
  s->messages -= c->count;
  s->bytes -= c->bytes;
  free(c);
}

/* Unlinks and frees the head chunk; first moves past its records. */
static void store_drop_head(store_t *s, store_topic_t *t) {
  store_chunk_t *c = t->head;
  t->head = c->next;
  if (t->head)
    t->head->prev = NULL;
  else
    t->tail = NULL;
  t->first += c->count;
  store_chunk_free(s, t, c);
}

/* Unlinks and frees the tail chunk; the caller sets next. */
static void store_drop_tail(store_t *s, store_topic_t *t) {
  store_chunk_t *c = t->tail;
  t->tail = c->prev;
  if (t->tail)
    t->tail->next = NULL;
  else
    t->head = NULL;
  store_chunk_free(s, t, c);
}

static void store_producers_free(store_topic_t *t) {
  void *v;
  for (size_t i = 0; map_next(&t->producers, &i, NULL, NULL, &v);)
    free(v);
  map_free(&t->producers);
}

/* Frees everything the topic holds; the caller removes it from the map. */
static void store_topic_destroy(store_t *s, store_topic_t *t) {
  while (t->head)
    store_drop_head(s, t);
  void *cur;
  for (size_t i = 0; map_next(&t->cursors, &i, NULL, NULL, &cur);)
    free(cur);
  map_free(&t->cursors);
  store_producers_free(t);
  free(t->name);
  free(t->owner);
  free(t);
}

void store_topic_delete(store_t *s, store_topic_t *t) {
  map_del(&s->topics, t->name, t->name_len);
  store_topic_destroy(s, t);
}

/* ---- append and retention ------------------------------------------------ */

static bool store_over_limits(const store_t *s, const store_topic_t *t) {
  const store_limits_t *l = &s->limits;
  return (l->retain_messages && t->next - t->first > l->retain_messages) ||
         (l->retain_bytes && t->bytes > l->retain_bytes);
}

/* Removes the entry whose last record is oldest and returns its memory
 * for reuse. Only a full table gets here, so a scan is fine. */
static store_producer_t *store_producer_evict(store_topic_t *t) {
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
static store_producer_t *store_producer_entry(store_topic_t *t,
                                              uint64_t producer) {
  store_producer_t *e = map_get(&t->producers, &producer, 8);
  if (e)
    return e;
  e = t->producers.count >= STORE_PRODUCERS_MAX ? store_producer_evict(t)
                                                : malloc(sizeof *e);
  if (!e)
    return NULL;
  *e = (store_producer_t){.seq = 0, .offset = UINT64_MAX, .tail = 0};
  if (map_put(&t->producers, &producer, 8, e) != 0) {
    free(e);
    return NULL;
  }
  return e;
}

/* A chunk with room for `need` bytes whose first record will be `first`;
 * not linked yet. */
static store_chunk_t *store_chunk_new(const store_t *s, size_t need,
                                      uint64_t first) {
  size_t size = need > s->limits.chunk_size ? need : s->limits.chunk_size;
  store_chunk_t *c = malloc(sizeof *c + size);
  if (c)
    *c = (store_chunk_t){.first = first, .size = size};
  return c;
}

int store_append(store_t *s, store_topic_t *t, uint64_t time_ms,
                 const char *publisher, size_t publisher_len,
                 const void *data, size_t len, uint64_t *offset) {
  return store_append_seq(s, t, time_ms, publisher, publisher_len, 0, 0,
                          data, len, offset);
}

int store_append_seq(store_t *s, store_topic_t *t, uint64_t time_ms,
                     const char *publisher, size_t publisher_len,
                     uint64_t producer, uint64_t seq, const void *data,
                     size_t len, uint64_t *offset) {
  /* The header's fields are u32 and u8. */
  if (len > UINT32_MAX || publisher_len > UINT8_MAX)
    return HS_ETOO_LARGE;
  size_t need = STORE_REC_HEAD + publisher_len + len;
  /* Everything that can fail comes before the log changes: a new chunk is
   * linked only once the dedup entry exists, so no chunk is left empty. */
  store_chunk_t *fresh = NULL;
  if (!t->tail || t->tail->size - t->tail->used < need) {
    fresh = store_chunk_new(s, need, t->next);
    if (!fresh)
      return HS_ENOMEM;
  }
  store_producer_t *e = NULL;
  if (producer && !(e = store_producer_entry(t, producer))) {
    free(fresh);
    return HS_ENOMEM;
  }
  if (fresh) {
    fresh->prev = t->tail;
    if (t->tail)
      t->tail->next = fresh;
    else
      t->head = fresh;
    t->tail = fresh;
  }

  store_chunk_t *c = t->tail;
  unsigned char *p = c->data + c->used;
  uint32_t len32 = (uint32_t)len;
  uint8_t plen8 = (uint8_t)publisher_len;
  memcpy(p, &time_ms, 8);
  memcpy(p + 8, &producer, 8);
  memcpy(p + 16, &seq, 8);
  memcpy(p + 24, &len32, 4);
  memcpy(p + 28, &plen8, 1);
  /* Guarded: memcpy with a NULL source is undefined even for 0 bytes. */
  if (publisher_len)
    memcpy(p + STORE_REC_HEAD, publisher, publisher_len);
  if (len)
    memcpy(p + STORE_REC_HEAD + publisher_len, data, len);
  c->used += need;
  c->count++;
  c->bytes += len;
  if (c->count == 1 || time_ms > c->max_time)
    c->max_time = time_ms;

  if (e && (e->offset == UINT64_MAX || seq > e->seq)) {
    e->seq = seq;
    e->offset = t->next;
  }
  if (e) e->tail = t->next;
  if (offset)
    *offset = t->next;
  t->next++;
  t->bytes += len;
  s->messages++;
  s->bytes += len;

  while (t->head != t->tail && store_over_limits(s, t))
    store_drop_head(s, t);
  return 0;
}

void store_expire(store_t *s, uint64_t now_ms) {
  uint64_t keep = s->limits.retain_ms;
  if (keep == 0 || now_ms <= keep)
    return;
  uint64_t cutoff = now_ms - keep;
  void *v;
  /* Dropping chunks does not change the topics map, so this is safe. */
  for (size_t i = 0; map_next(&s->topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    while (t->head != t->tail && t->head->max_time < cutoff)
      store_drop_head(s, t);
  }
}

/* ---- reading ------------------------------------------------------------- */

/* Reads the record header at pos; returns the record's total size. */
static size_t store_rec_read(const store_chunk_t *c, size_t pos,
                             store_msg_t *m) {
  const unsigned char *p = c->data + pos;
  uint64_t time_ms;
  uint32_t len;
  uint8_t plen;
  memcpy(&time_ms, p, 8);
  memcpy(&len, p + 24, 4);
  memcpy(&plen, p + 28, 1);
  if (m) {
    m->time_ms = time_ms;
    memcpy(&m->producer, p + 8, 8);
    memcpy(&m->seq, p + 16, 8);
    m->publisher = (const char *)p + STORE_REC_HEAD;
    m->publisher_len = plen;
    m->data = (const char *)p + STORE_REC_HEAD + plen;
    m->len = len;
  }
  return STORE_REC_HEAD + (size_t)plen + len;
}

void store_iter_init(store_iter_t *it, const store_topic_t *t,
                     uint64_t from) {
  *it = (store_iter_t){.t = t};
  if (from < t->first)
    from = t->first;
  if (from >= t->next)
    return; /* chunk NULL: an empty iteration */
  const store_chunk_t *c = t->head;
  while (from >= c->first + c->count)
    c = c->next;
  size_t pos = 0;
  for (uint64_t o = c->first; o < from; o++)
    pos += store_rec_read(c, pos, NULL);
  it->chunk = c;
  it->pos = pos;
  it->offset = from;
}

bool store_iter_next(store_iter_t *it, store_msg_t *m) {
  const store_chunk_t *c = it->chunk;
  if (!c)
    return false;
  if (it->pos >= c->used) {
    if (!c->next)
      return false; /* stay put: a later append may extend this chunk */
    c = it->chunk = c->next;
    it->pos = 0;
  }
  it->pos += store_rec_read(c, it->pos, m);
  m->offset = it->offset++;
  return true;
}

/* ---- dedup ---------------------------------------------------------------- */

/* Retries make seqs arrive out of order by at most a client's requests in
 * flight; a chunk with a seq this much older ends the search. */
#define STORE_REORDER 65536

/* The offset of (producer, seq) at or before `last`, or UINT64_MAX. Seqs
 * mostly increase along the log, so the walk goes back a chunk at a time
 * and stops at the first chunk holding a seq of the producer older than
 * any reordering explains. */
static uint64_t store_seq_find(const store_topic_t *t, uint64_t producer,
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
      pos += store_rec_read(c, pos, &m);
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
    at = store_seq_find(t, producer, seq, e->tail > e->offset ? e->tail : e->offset);
    if (at == UINT64_MAX) return false;
  }
  if (offset) *offset = at;
  return true;
}

/* ---- truncate and reset --------------------------------------------------- */

/* Keeps the records of c (the tail) below `next` (> c->first), recounting
 * what the cut takes away. */
static void store_chunk_cut(store_t *s, store_topic_t *t, store_chunk_t *c,
                            uint64_t next) {
  uint64_t keep = next - c->first, bytes = 0, max_time = 0;
  size_t pos = 0;
  store_msg_t m;
  for (uint64_t k = 0; k < keep; k++) {
    pos += store_rec_read(c, pos, &m);
    bytes += m.len;
    if (k == 0 || m.time_ms > max_time)
      max_time = m.time_ms;
  }
  uint64_t gone = c->bytes - bytes;
  t->bytes -= gone;
  s->messages -= c->count - keep;
  s->bytes -= gone;
  c->count = keep;
  c->bytes = bytes;
  c->max_time = max_time;
  c->used = pos;
}

/* Forgets the producers whose entry points at or past `next`, a batch per
 * pass since the map must not change while it is walked. */
static void store_producers_drop_from(store_topic_t *t, uint64_t next) {
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
static void store_producers_cut(store_topic_t *t, uint64_t next) {
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
    }
    if (e && m.offset < next) e->tail = m.offset;
  }
  store_producers_drop_from(t, next);
}

/* Moves every cursor above `max` down to it. */
static void store_cursors_clamp(store_topic_t *t, uint64_t max) {
  void *v;
  for (size_t i = 0; map_next(&t->cursors, &i, NULL, NULL, &v);) {
    store_cursor_t *cur = v;
    if (cur->next > max)
      cur->next = max;
  }
}

int store_truncate(store_t *s, store_topic_t *t, uint64_t next) {
  if (next >= t->next)
    return 0;
  while (t->tail && t->tail->first >= next)
    store_drop_tail(s, t);
  if (t->tail && next < t->tail->first + t->tail->count)
    store_chunk_cut(s, t, t->tail, next);
  t->next = next;
  if (t->first > next)
    t->first = next;
  store_cursors_clamp(t, next);
  store_producers_cut(t, next);
  return 0;
}

void store_topic_reset(store_t *s, store_topic_t *t, uint64_t first) {
  while (t->head)
    store_drop_head(s, t);
  store_producers_free(t);
  t->first = t->next = first;
  void *v;
  for (size_t i = 0; map_next(&t->cursors, &i, NULL, NULL, &v);)
    ((store_cursor_t *)v)->next = first;
}

/* ---- cursors ------------------------------------------------------------- */

int store_subscribe(store_topic_t *t, const char *sid, size_t n,
                    uint64_t next) {
  if (map_get(&t->cursors, sid, n))
    return 0;
  store_cursor_t *cur = malloc(sizeof *cur);
  if (!cur)
    return HS_ENOMEM;
  cur->next = next < t->first ? t->first : next > t->next ? t->next : next;
  if (map_put(&t->cursors, sid, n, cur) != 0) {
    free(cur);
    return HS_ENOMEM;
  }
  return 0;
}

store_cursor_t *store_cursor(const store_topic_t *t, const char *sid,
                             size_t n) {
  return map_get(&t->cursors, sid, n);
}

void store_free(store_t *s) {
  void *v;
  for (size_t i = 0; map_next(&s->topics, &i, NULL, NULL, &v);)
    store_topic_destroy(s, v);
  map_free(&s->topics);
  map_free(&s->publishers);
  map_free(&s->subscribers);
}
