/* pending — linear probing keyed by request id, deletion by backward shift
 * (no tombstones: a table of long-lived connections never degrades). */
#include "net/pending.h"

#include <stdlib.h>
#include <string.h>

static uint32_t id_at(const pending_t *p, size_t i) {
  uint32_t id;
  memcpy(&id, p->slots + i * p->size, 4);
  return id;
}

static char *slot(const pending_t *p, size_t i) { return p->slots + i * p->size; }

static size_t home_of(const pending_t *p, uint32_t id) {
  return (size_t)(id * 2654435761u) & (p->cap - 1);
}

void pending_init(pending_t *p, size_t entry_size) {
  memset(p, 0, sizeof *p);
  p->size = entry_size;
}

void pending_free(pending_t *p) {
  free(p->slots);
  p->slots = NULL;
  p->cap = p->count = 0;
}

void *pending_find(const pending_t *p, uint32_t id) {
  if (!p->cap || !id) return NULL;
  for (size_t j = home_of(p, id);; j = (j + 1) & (p->cap - 1)) {
    uint32_t at = id_at(p, j);
    if (at == id) return slot(p, j);
    if (!at) return NULL;
  }
}

static void put(pending_t *p, const char *entry) {
  uint32_t id;
  memcpy(&id, entry, 4);
  size_t j = home_of(p, id);
  while (id_at(p, j)) j = (j + 1) & (p->cap - 1);
  memcpy(slot(p, j), entry, p->size);
  p->count++;
}

static int grow(pending_t *p) {
  size_t cap = p->cap ? p->cap * 2 : 64;
  char *old = p->slots, *fresh = calloc(cap, p->size);
  if (!fresh) return -1;
  size_t old_cap = p->cap;
  p->slots = fresh;
  p->cap = cap;
  p->count = 0;
  for (size_t i = 0; i < old_cap; i++) {
    uint32_t id;
    memcpy(&id, old + i * p->size, 4);
    if (id) put(p, old + i * p->size);
  }
  free(old);
  return 0;
}

void *pending_add(pending_t *p, uint32_t id) {
  if ((p->count + 1) * 2 > p->cap && grow(p)) return NULL;
  size_t j = home_of(p, id);
  while (id_at(p, j)) j = (j + 1) & (p->cap - 1);
  char *e = slot(p, j);
  memset(e, 0, p->size);
  memcpy(e, &id, 4);
  p->count++;
  return e;
}

void pending_take(pending_t *p, void *entry, void *out) {
  size_t mask = p->cap - 1, i = (size_t)((char *)entry - p->slots) / p->size;
  memcpy(out, entry, p->size);
  memset(slot(p, i), 0, 4);
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    uint32_t id = id_at(p, j);
    if (!id) break;
    size_t home = home_of(p, id);
    /* Move j back to i unless its home lies cyclically in (i, j]. */
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      memcpy(slot(p, i), slot(p, j), p->size);
      memset(slot(p, j), 0, 4);
      i = j;
    }
  }
  p->count--;
}

void *pending_next(const pending_t *p, size_t *i) {
  for (; *i < p->cap; (*i)++)
    if (id_at(p, *i)) return slot(p, (*i)++);
  return NULL;
}

static int by_id(const void *a, const void *b) {
  uint32_t x, y;
  memcpy(&x, a, 4);
  memcpy(&y, b, 4);
  return x < y ? -1 : x > y;
}

void pending_drain(pending_t *p, void *out) {
  size_t k = 0;
  for (size_t i = 0; i < p->cap; i++)
    if (id_at(p, i)) memcpy((char *)out + k++ * p->size, slot(p, i), p->size);
  qsort(out, k, p->size, by_id);
  memset(p->slots, 0, p->cap * p->size);
  p->count = 0;
}
