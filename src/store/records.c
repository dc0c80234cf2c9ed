/* records — writing a topic's log: appends (the payload copied once, into
 * the tail chunk), retention by count, bytes and age, truncation and reset
 * (a replica realigning its copy to the home's). */
#include <stdlib.h>
#include <string.h>

#include "hypersub.h"
#include "store/chunk.h"

static bool store_over_limits(const store_t *s, const store_topic_t *t) {
  const store_limits_t *l = &s->limits;
  return (l->retain_messages && t->next - t->first > l->retain_messages) ||
         (l->retain_bytes && t->bytes > l->retain_bytes);
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
    if (!chunk_index_reserve(t) || !(fresh = chunk_new(s, need, t->next)))
      return HS_ENOMEM;
  }
  store_producer_t *e = NULL;
  if (producer && !(e = dedup_entry(t, producer))) {
    free(fresh);
    return HS_ENOMEM;
  }
  if (fresh) chunk_link(t, fresh);

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
  chunk_mark(c);
  c->used += need;
  c->count++;
  c->bytes += len;
  if (c->count == 1 || time_ms > c->max_time)
    c->max_time = time_ms;

  if (e) dedup_note(e, seq, t->next);
  if (offset)
    *offset = t->next;
  t->next++;
  if (!s->hooks.appended) t->synced = t->next;
  t->bytes += len;
  s->messages++;
  s->bytes += len;
  if (s->hooks.appended)
    s->hooks.appended(s->hooks.ud, t, c, t->next - 1, p, need);

  bool dropped = false;
  while (t->head != t->tail && store_over_limits(s, t)) {
    chunk_drop_head(s, t);
    dropped = true;
  }
  if (dropped && s->hooks.first_moved) s->hooks.first_moved(s->hooks.ud, t);
  return 0;
}

int store_append_raw(store_t *s, store_topic_t *t, const unsigned char *rec,
                     size_t len) {
  if (len < STORE_REC_HEAD) return HS_EINVALID;
  uint64_t time_ms, producer, seq;
  uint32_t dlen;
  memcpy(&time_ms, rec, 8);
  memcpy(&producer, rec + 8, 8);
  memcpy(&seq, rec + 16, 8);
  memcpy(&dlen, rec + 24, 4);
  size_t plen = rec[28];
  if (len != STORE_REC_HEAD + plen + dlen) return HS_EINVALID;
  return store_append_seq(s, t, time_ms, (const char *)rec + STORE_REC_HEAD,
                          plen, producer, seq, rec + STORE_REC_HEAD + plen,
                          dlen, NULL);
}

void store_seal(store_topic_t *t) {
  if (t->tail) t->tail->size = t->tail->used;
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
    uint64_t was = t->first;
    while (t->head != t->tail && t->head->max_time < cutoff)
      chunk_drop_head(s, t);
    if (t->first != was && s->hooks.first_moved)
      s->hooks.first_moved(s->hooks.ud, t);
  }
}


/* Keeps the records of c (the tail) below `next` (> c->first), recounting
 * what the cut takes away. */
static void store_chunk_cut(store_t *s, store_topic_t *t, store_chunk_t *c,
                            uint64_t next) {
  uint64_t keep = next - c->first, bytes = 0, max_time = 0;
  size_t pos = 0;
  store_msg_t m;
  for (uint64_t k = 0; k < keep; k++) {
    pos += chunk_read(c, pos, &m);
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
  if (s->hooks.chunk_cut) s->hooks.chunk_cut(s->hooks.ud, t, c);
}

/* Terms that begin at or past `next` go with the records. */
static void terms_cut(store_topic_t *t, uint64_t next) {
  while (t->n_terms && t->terms[t->n_terms - 1].start >= next) t->n_terms--;
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
    chunk_drop_tail(s, t);
  if (t->tail && next < t->tail->first + t->tail->count)
    store_chunk_cut(s, t, t->tail, next);
  t->next = next;
  if (t->synced > next) t->synced = next;
  bool first_moved = t->first > next;
  if (first_moved)
    t->first = next;
  store_cursors_clamp(t, next);
  dedup_cut(t, next);
  terms_cut(t, next);
  if (first_moved && s->hooks.first_moved) s->hooks.first_moved(s->hooks.ud, t);
  return 0;
}

void store_topic_reset(store_t *s, store_topic_t *t, uint64_t first) {
  while (t->head)
    chunk_drop_head(s, t);
  dedup_free(t);
  t->first = t->next = t->synced = first;
  t->n_terms = 0;
  void *v;
  for (size_t i = 0; map_next(&t->cursors, &i, NULL, NULL, &v);)
    ((store_cursor_t *)v)->next = first;
  if (s->hooks.first_moved) s->hooks.first_moved(s->hooks.ud, t);
}

