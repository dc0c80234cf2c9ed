/* store — topic logs in large chunks, cursors and the registries.
 *
 * A record in a chunk is, unaligned (read and written with memcpy):
 *   u64 time_ms | u32 payload length | u8 publisher length |
 *   publisher bytes | payload bytes
 * Chunks form a list head -> tail; appends go into the tail and only a full
 * tail costs a malloc. Retention frees whole chunks from the front and never
 * the tail, so limits are approximate by up to one chunk and a topic with
 * records always keeps at least its newest one. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "hypersub.h"

#define STORE_CHUNK_DEFAULT ((size_t)1 << 20)
#define STORE_REC_HEAD (8 + 4 + 1)

struct store_chunk {
  store_chunk_t *next;
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

/* Unlinks the head chunk and takes its records out of every count. */
static void store_drop_head(store_t *s, store_topic_t *t) {
  store_chunk_t *c = t->head;
  t->head = c->next;
  if (!t->head)
    t->tail = NULL;
  t->first += c->count;
  t->bytes -= c->bytes;
  s->messages -= c->count;
  s->bytes -= c->bytes;
  free(c);
}

/* Frees everything the topic holds; the caller removes it from the map. */
static void store_topic_destroy(store_t *s, store_topic_t *t) {
  while (t->head)
    store_drop_head(s, t);
  void *cur;
  for (size_t i = 0; map_next(&t->cursors, &i, NULL, NULL, &cur);)
    free(cur);
  map_free(&t->cursors);
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

int store_append(store_t *s, store_topic_t *t, uint64_t time_ms,
                 const char *publisher, size_t publisher_len,
                 const void *data, size_t len, uint64_t *offset) {
  /* The header's fields are u32 and u8. */
  if (len > UINT32_MAX || publisher_len > UINT8_MAX)
    return HS_ETOO_LARGE;
  size_t need = STORE_REC_HEAD + publisher_len + len;
  store_chunk_t *c = t->tail;
  if (!c || c->size - c->used < need) {
    size_t size = need > s->limits.chunk_size ? need : s->limits.chunk_size;
    c = malloc(sizeof *c + size);
    if (!c)
      return HS_ENOMEM;
    *c = (store_chunk_t){.first = t->next, .size = size};
    if (t->tail)
      t->tail->next = c;
    else
      t->head = c;
    t->tail = c;
  }

  unsigned char *p = c->data + c->used;
  uint32_t len32 = (uint32_t)len;
  uint8_t plen8 = (uint8_t)publisher_len;
  memcpy(p, &time_ms, 8);
  memcpy(p + 8, &len32, 4);
  memcpy(p + 12, &plen8, 1);
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
  memcpy(&len, p + 8, 4);
  memcpy(&plen, p + 12, 1);
  if (m) {
    m->time_ms = time_ms;
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
