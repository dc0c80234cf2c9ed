/* cube — the hypercube's pure functions (cube.h says what each does). */
#include "cube/cube.h"

#include "core/hash.h"
#include "hypersub.h"

uint64_t cube_hash(const void *key, size_t n) {
  return hash_mix64(hash_fnv1a(HASH_FNV_INIT, key, n));
}

unsigned cube_dim(uint32_t max_id) {
  unsigned d = 0;
  while (d < 32 && (max_id >> d) != 0) d++;
  return d;
}

void cube_prefs(uint64_t h, unsigned dim, uint32_t *ids, size_t n) {
  uint32_t hd = cube_cut(h, dim);
  /* Insertion sort: clusters are small (n <= a few hundred) and callers
   * cache the result per view epoch. */
  for (size_t i = 1; i < n; i++) {
    uint32_t id = ids[i];
    uint64_t k = cube_pref_key(id, hd);
    size_t j = i;
    while (j > 0 && cube_pref_key(ids[j - 1], hd) > k) {
      ids[j] = ids[j - 1];
      j--;
    }
    ids[j] = id;
  }
}

uint32_t cube_next_hop(uint32_t self, uint32_t target, unsigned dim,
                       uint32_t came_from, cube_alive_fn alive, void *ud) {
  if (self == target) return target;
  uint32_t diff = self ^ target;
  for (unsigned b = 0; b < dim; b++) {
    uint32_t n = self ^ (1u << b);
    if ((diff >> b & 1) && alive(n, ud)) return n;
  }
  for (unsigned b = 0; b < dim; b++) {
    uint32_t n = self ^ (1u << b);
    if (!(diff >> b & 1) && n != came_from && alive(n, ud)) return n;
  }
  return UINT32_MAX;
}

HS_API uint64_t hs_hash(const void *key, size_t n) { return cube_hash(key, n); }

HS_API void hs_placement(const void *key, size_t key_len, uint32_t *ids,
                         size_t n) {
  uint32_t max = 0;
  for (size_t i = 0; i < n; i++)
    if (ids[i] > max) max = ids[i];
  cube_prefs(cube_hash(key, key_len), cube_dim(max), ids, n);
}
