/* chunk — a topic's chunks: made, freed from either end, and read record
 * by record through an iterator that points into them (no copy). */
#include <stdlib.h>
#include <string.h>

#include "hypersub.h"
#include "store/chunk.h"

/* A chunk with room for `need` bytes whose first record will be `first`;
 * not linked yet. */
store_chunk_t *chunk_new(const store_t *s, size_t need,
                                      uint64_t first) {
  size_t size = need > s->limits.chunk_size ? need : s->limits.chunk_size;
  /* the most records that fit, each at least a header long */
  size_t marks_cap = size / STORE_REC_HEAD / CHUNK_MARK_EVERY + 1;
  size_t at = (size + 7) & ~(size_t)7; /* the marks, aligned */
  store_chunk_t *c = malloc(sizeof *c + at + marks_cap * sizeof(size_t));
  if (c)
    *c = (store_chunk_t){.first = first,
                         .size = size,
                         .marks = (size_t *)(void *)(c->data + at),
                         .marks_cap = marks_cap};
  return c;
}

bool chunk_index_reserve(store_topic_t *t) {
  if (t->index_n < t->index_cap) return true;
  size_t cap = t->index_cap ? 2 * t->index_cap : 8;
  store_chunk_t **ring = malloc(cap * sizeof *ring);
  if (!ring) return false;
  for (size_t i = 0; i < t->index_n; i++)
    ring[i] = t->index[(t->index_at + i) % t->index_cap];
  free(t->index);
  t->index = ring;
  t->index_cap = cap;
  t->index_at = 0;
  return true;
}

void chunk_link(store_topic_t *t, store_chunk_t *c) {
  c->prev = t->tail;
  if (t->tail)
    t->tail->next = c;
  else
    t->head = c;
  t->tail = c;
  t->index[(t->index_at + t->index_n++) % t->index_cap] = c;
}

void chunk_mark(store_chunk_t *c) {
  if (c->count % CHUNK_MARK_EVERY) return;
  size_t i = (size_t)(c->count / CHUNK_MARK_EVERY);
  if (i < c->marks_cap) c->marks[i] = c->used;
}


/* Takes a chunk's records out of every count and frees it. */
void chunk_free(store_t *s, store_topic_t *t, store_chunk_t *c) {
  t->bytes -= c->bytes;
  s->messages -= c->count;
  s->bytes -= c->bytes;
  free(c);
}

/* Unlinks and frees the head chunk; first moves past its records. */
void chunk_drop_head(store_t *s, store_topic_t *t) {
  store_chunk_t *c = t->head;
  t->head = c->next;
  if (t->head)
    t->head->prev = NULL;
  else
    t->tail = NULL;
  t->index_at = (t->index_at + 1) % t->index_cap;
  t->index_n--;
  t->first += c->count;
  uint64_t first = c->first;
  chunk_free(s, t, c);
  if (s->hooks.chunk_dropped) s->hooks.chunk_dropped(s->hooks.ud, t, first);
}

/* Unlinks and frees the tail chunk; the caller sets next. */
void chunk_drop_tail(store_t *s, store_topic_t *t) {
  store_chunk_t *c = t->tail;
  t->tail = c->prev;
  if (t->tail)
    t->tail->next = NULL;
  else
    t->head = NULL;
  t->index_n--;
  uint64_t first = c->first;
  chunk_free(s, t, c);
  if (s->hooks.chunk_dropped) s->hooks.chunk_dropped(s->hooks.ud, t, first);
}


/* Reads the record header at pos; returns the record's total size. */
size_t chunk_read(const store_chunk_t *c, size_t pos,
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
  /* The last chunk whose first is at most `from`: most reads start in
   * the tail chunk, so it is tried first. */
  const store_chunk_t *c = t->tail;
  if (from < c->first) {
    size_t lo = 0, hi = t->index_n - 1; /* c is in [lo, hi) */
    while (hi - lo > 1) {
      size_t mid = lo + (hi - lo) / 2;
      if (t->index[(t->index_at + mid) % t->index_cap]->first <= from)
        lo = mid;
      else
        hi = mid;
    }
    c = t->index[(t->index_at + lo) % t->index_cap];
  }
  uint64_t k = from - c->first, i = k / CHUNK_MARK_EVERY;
  if (i >= c->marks_cap) i = c->marks_cap - 1;
  size_t pos = c->marks[i];
  for (uint64_t o = i * CHUNK_MARK_EVERY; o < k; o++)
    pos += chunk_read(c, pos, NULL);
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
  it->pos += chunk_read(c, it->pos, m);
  m->offset = it->offset++;
  return true;
}

