/* map — an open-addressing hash map from byte strings to pointers. Keys are
 * copied into the map; values are the caller's. Used for topics, publishers,
 * subscribers and cursors. */
#ifndef HS_MAP_H
#define HS_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct map_slot map_slot_t;

typedef struct map {
  map_slot_t *slots;
  size_t cap;   /* power of two, or 0 */
  size_t count; /* live entries */
  size_t used;  /* live + deleted (tombstones) */
} map_t;

#define MAP_INIT {NULL, 0, 0, 0}

/* The maps' hash: SipHash-2-4 (libsodium's crypto_shorthash) keyed with a
 * seed drawn at random once per process, so names chosen by a stranger
 * cannot be made to collide. Not stable across processes: placement and
 * digests use core/hash.h. */
uint64_t map_hash(const void *key, size_t n);
/* The same hash under a given 16-byte seed (for tests). */
uint64_t map_hash_seeded(const unsigned char seed[16], const void *key,
                         size_t n);

void *map_get(const map_t *m, const void *key, size_t n);
/* Inserts or replaces. 0 or HS_ENOMEM. */
int map_put(map_t *m, const void *key, size_t n, void *value);
/* Removes and returns the value, or NULL when absent. */
void *map_del(map_t *m, const void *key, size_t n);

/* Iteration: for (size_t i = 0; map_next(m, &i, &k, &kn, &v);) ...
 * The map must not change during it. */
int map_next(const map_t *m, size_t *i, const char **key, size_t *n,
             void **value);

/* Frees the map's memory (not the values). */
void map_free(map_t *m);

#endif
