/* topics — the store's maps: topics made, found and deleted, subscriber
 * cursors, and the registries of publishers and subscribers. */
#include <stdlib.h>
#include <string.h>

#include "hypersub.h"
#include "store/chunk.h"

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

/* Frees everything the topic holds; the caller removes it from the map. */
static void store_topic_destroy(store_t *s, store_topic_t *t) {
  while (t->head)
    chunk_drop_head(s, t);
  void *cur;
  for (size_t i = 0; map_next(&t->cursors, &i, NULL, NULL, &cur);)
    free(cur);
  s->cursors -= t->cursors.count;
  map_free(&t->cursors);
  dedup_free(t);
  free(t->name);
  free(t->owner);
  free(t);
}

void store_topic_delete(store_t *s, store_topic_t *t) {
  map_del(&s->topics, t->name, t->name_len);
  store_topic_destroy(s, t);
}

/* ---- cursors ------------------------------------------------------------- */

int store_subscribe(store_t *s, store_topic_t *t, const char *sid, size_t n,
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
  s->cursors++;
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
