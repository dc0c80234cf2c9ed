/* map — open addressing with linear probing over a keyed hash. A deleted slot becomes a
 * tombstone so probe chains stay intact; tombstones are reused by inserts
 * and dropped when the table is rebuilt. */
#include "core/map.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <stdbool.h>

#include "hypersub.h"

struct map_slot {
  char *key; /* NULL: empty; map_tomb: deleted; else a malloc'd copy */
  size_t n;
  uint64_t hash; /* kept so a rebuild does not rehash every key */
  void *value;
};

/* The address of this byte marks a tombstone; it is never a real key. */
static char map_tomb;

#define MAP_MIN_CAP 8

static int map_live(const map_slot_t *sl) {
  return sl->key != NULL && sl->key != &map_tomb;
}

uint64_t map_hash_seeded(const unsigned char seed[16], const void *key,
                         size_t n) {
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, key, n, seed);
  uint64_t h;
  memcpy(&h, out, sizeof h);
  return h;
}

uint64_t map_hash(const void *key, size_t n) {
  static unsigned char seed[crypto_shorthash_KEYBYTES];
  static bool seeded;
  if (!seeded) { /* sodium_init is safe to call again; it seeds its RNG */
    if (sodium_init() < 0) abort();
    randombytes_buf(seed, sizeof seed);
    seeded = true;
  }
  return map_hash_seeded(seed, key, n);
}

/* The slot holding the key, or NULL. */
static map_slot_t *map_find(const map_t *m, const void *key, size_t n,
                            uint64_t h) {
  if (m->cap == 0)
    return NULL;
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    map_slot_t *sl = &m->slots[i];
    if (sl->key == NULL)
      return NULL;
    if (sl->key != &map_tomb && sl->hash == h && sl->n == n &&
        memcmp(sl->key, key, n) == 0)
      return sl;
  }
}

/* Moves every live entry into a fresh table of `cap` slots; tombstones
 * are left behind. 0 or HS_ENOMEM (the map unchanged). */
static int map_rebuild(map_t *m, size_t cap) {
  map_slot_t *slots = calloc(cap, sizeof *slots);
  if (!slots)
    return HS_ENOMEM;
  for (size_t i = 0; i < m->cap; i++) {
    map_slot_t *sl = &m->slots[i];
    if (!map_live(sl))
      continue;
    size_t j = sl->hash & (cap - 1);
    while (slots[j].key)
      j = (j + 1) & (cap - 1);
    slots[j] = *sl;
  }
  free(m->slots);
  m->slots = slots;
  m->cap = cap;
  m->used = m->count;
  return 0;
}

void *map_get(const map_t *m, const void *key, size_t n) {
  map_slot_t *sl = map_find(m, key, n, map_hash(key, n));
  return sl ? sl->value : NULL;
}

int map_put(map_t *m, const void *key, size_t n, void *value) {
  uint64_t h = map_hash(key, n);
  map_slot_t *sl = map_find(m, key, n, h);
  if (sl) {
    sl->value = value;
    return 0;
  }
  /* n + 1 so an empty key still gets a real, non-NULL copy. */
  char *copy = malloc(n + 1);
  if (!copy)
    return HS_ENOMEM;
  memcpy(copy, key, n);
  copy[n] = '\0';

  /* The first tombstone on the probe path can take the key without
   * lengthening any chain; otherwise an empty slot is used up, so keep
   * live + tombstones at or under ~70%. */
  map_slot_t *tomb = NULL;
  if (m->cap) {
    size_t mask = m->cap - 1;
    for (size_t i = h & mask; m->slots[i].key; i = (i + 1) & mask) {
      if (m->slots[i].key == &map_tomb) {
        tomb = &m->slots[i];
        break;
      }
    }
  }
  if (!tomb && (m->used + 1) * 10 > m->cap * 7) {
    /* Size for the live entries only: heavy churn rebuilds in place. */
    size_t cap = MAP_MIN_CAP;
    while ((m->count + 1) * 2 > cap)
      cap *= 2;
    if (map_rebuild(m, cap) != 0) {
      free(copy);
      return HS_ENOMEM;
    }
  }
  if (tomb) {
    sl = tomb;
  } else {
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key)
      i = (i + 1) & mask;
    sl = &m->slots[i];
    m->used++;
  }
  sl->key = copy;
  sl->n = n;
  sl->hash = h;
  sl->value = value;
  m->count++;
  return 0;
}

void *map_del(map_t *m, const void *key, size_t n) {
  map_slot_t *sl = map_find(m, key, n, map_hash(key, n));
  if (!sl)
    return NULL;
  void *value = sl->value;
  free(sl->key);
  sl->key = &map_tomb;
  sl->value = NULL;
  m->count--;
  return value;
}

int map_next(const map_t *m, size_t *i, const char **key, size_t *n,
             void **value) {
  for (; *i < m->cap; (*i)++) {
    const map_slot_t *sl = &m->slots[*i];
    if (!map_live(sl))
      continue;
    if (key)
      *key = sl->key;
    if (n)
      *n = sl->n;
    if (value)
      *value = sl->value;
    (*i)++;
    return 1;
  }
  return 0;
}

void map_free(map_t *m) {
  for (size_t i = 0; i < m->cap; i++)
    if (map_live(&m->slots[i]))
      free(m->slots[i].key);
  free(m->slots);
  m->slots = NULL;
  m->cap = m->count = m->used = 0;
}
