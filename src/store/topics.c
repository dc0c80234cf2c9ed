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

static int store_register(store_t *s, map_t *m, const char *id, size_t n) {
  if (map_get(m, id, n))
    return HS_EEXISTS;
  int rc = map_put(m, id, n, (void *)1);
  if (!rc && s->hooks.identity)
    s->hooks.identity(s->hooks.ud, m == &s->publishers, id, n);
  return rc;
}

int store_publisher_create(store_t *s, const char *id, size_t n) {
  return store_register(s, &s->publishers, id, n);
}

bool store_publisher_exists(const store_t *s, const char *id, size_t n) {
  return map_get(&s->publishers, id, n) != NULL;
}

int store_subscriber_create(store_t *s, const char *id, size_t n) {
  return store_register(s, &s->subscribers, id, n);
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
  if (s->hooks.topic_created) s->hooks.topic_created(s->hooks.ud, t);
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
  free(t->index);
  void *cur;
  for (size_t i = 0; map_next(&t->cursors, &i, NULL, NULL, &cur);)
    free(cur);
  s->cursors -= t->cursors.count;
  map_free(&t->cursors);
  dedup_free(t);
  free(t->terms);
  free(t->name);
  free(t->owner);
  free(t);
}

void store_topic_delete(store_t *s, store_topic_t *t) {
  if (s->hooks.topic_deleted) s->hooks.topic_deleted(s->hooks.ud, t);
  map_del(&s->topics, t->name, t->name_len);
  store_hooks_t hooks = s->hooks;
  memset(&s->hooks, 0, sizeof s->hooks); /* its chunks go with it */
  store_topic_destroy(s, t);
  s->hooks = hooks;
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
  cur->prev = cur->next;
  if (map_put(&t->cursors, sid, n, cur) != 0) {
    free(cur);
    return HS_ENOMEM;
  }
  s->cursors++;
  if (s->hooks.cursor)
    s->hooks.cursor(s->hooks.ud, t, sid, n, cur->next, cur->prev);
  return 0;
}

void store_cursor_restore(store_t *s, store_topic_t *t, const char *sid,
                          size_t n, uint64_t next, uint64_t prev) {
  store_cursor_t *cur = map_get(&t->cursors, sid, n);
  if (!cur || (cur->next == next && cur->prev == prev)) return;
  cur->next = next;
  cur->prev = prev;
  if (s->hooks.cursor) s->hooks.cursor(s->hooks.ud, t, sid, n, next, prev);
}

void store_cursor_set(store_t *s, store_topic_t *t, const char *sid, size_t n,
                      uint64_t next) {
  store_cursor_restore(s, t, sid, n, next, next);
}

void store_cursor_pulled(store_t *s, store_topic_t *t, const char *sid,
                         size_t n, uint64_t next) {
  store_cursor_t *cur = map_get(&t->cursors, sid, n);
  if (cur) store_cursor_restore(s, t, sid, n, next, cur->next);
}

/* ---- terms --------------------------------------------------------------- */

uint64_t store_term_at(const store_topic_t *t, uint64_t offset) {
  uint64_t term = 0;
  for (size_t i = 0; i < t->n_terms && t->terms[i].start <= offset; i++)
    term = t->terms[i].term;
  return term;
}

uint64_t store_term_end(const store_topic_t *t, uint64_t term) {
  for (size_t i = 0; i < t->n_terms; i++)
    if (t->terms[i].term > term) return t->terms[i].start;
  return t->next;
}

int store_term_begin(store_t *s, store_topic_t *t, uint64_t term) {
  if (term <= store_term(t)) return 0;
  if (term > t->max_term) t->max_term = term;
  store_term_t *last = t->n_terms ? &t->terms[t->n_terms - 1] : NULL;
  if (last && last->start == t->next) { /* no record in it: replaced */
    last->term = term;
  } else {
    store_term_t *grown = realloc(t->terms, (t->n_terms + 1) * sizeof *grown);
    if (!grown) return HS_ENOMEM;
    t->terms = grown;
    t->terms[t->n_terms++] = (store_term_t){term, t->next};
  }
  if (s->hooks.term) s->hooks.term(s->hooks.ud, t);
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
