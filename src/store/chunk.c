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
  /* Reads mostly start near the end: walk from whichever end is nearer. */
  const store_chunk_t *c;
  if (from - t->first < t->next - from) {
    c = t->head;
    while (from >= c->first + c->count) c = c->next;
  } else {
    c = t->tail;
    while (from < c->first) c = c->prev;
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

