/* hash — the stable hashes: FNV-1a 64 over bytes, and the splitmix64
 * finaliser that spreads its bits. Placement and digests depend on them
 * never changing. */
#ifndef HS_HASH_H
#define HS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_INIT 0xcbf29ce484222325ull

/* Continues an FNV-1a 64 hash `h` over p[0..n) (start from HASH_FNV_INIT). */
static inline uint64_t hash_fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* The splitmix64 finaliser: every output bit depends on every input bit. */
static inline uint64_t hash_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

#endif
