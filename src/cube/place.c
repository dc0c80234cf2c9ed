/* place — the copy sets of keys under a view (place.h says the rules). */
#include "cube/place.h"

#include "core/hash.h"
#include "cube/cube.h"
#include "hypersub.h"

size_t place_copy_count(const view_t *v, uint32_t replicas) {
  size_t want = replicas == HS_REPLICAS_NEIGHBOURS ? view_dim(v) + 1 : replicas;
  return want < PLACE_COPIES_MAX ? want : PLACE_COPIES_MAX;
}

size_t place_copies(const view_t *v, uint32_t replicas, uint64_t h,
                    uint32_t *out, size_t cap) {
  size_t want = place_copy_count(v, replicas);
  return view_prefs(v, h, out, want < cap ? want : cap);
}

uint32_t place_home(const view_t *v, uint32_t replicas, uint64_t h,
                    uint32_t none) {
  uint32_t home;
  return place_copies(v, replicas, h, &home, 1) ? home : none;
}

uint64_t place_topic(const char *name, size_t n) { return cube_hash(name, n); }

uint64_t place_identity(uint8_t kind, const char *id, size_t n) {
  const char *prefix = kind == PLACE_PUBLISHER ? "p:" : "s:";
  return hash_mix64(hash_fnv1a(hash_fnv1a(HASH_FNV_INIT, prefix, 2), id, n));
}

uint32_t place_coordinator(const view_t *v, uint32_t none) {
  uint32_t first;
  return view_live(v, &first, 1) ? first : none;
}
