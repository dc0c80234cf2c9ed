/* place — the copy sets of keys under a view (place.h says the rules). */
#include "cube/place.h"

#include <stdbool.h>
#include <stdlib.h>

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

/* Whether `id` is among the first `want` of the preference list of the
 * cut hash hd: fewer than `want` live members come before it. */
static bool copy_of(const view_t *v, size_t want, uint32_t id, uint32_t hd) {
  uint64_t mine = cube_pref_key(id, hd);
  size_t before = 0;
  for (size_t i = 0; i < v->n && before < want; i++) {
    const view_member_t *m = &v->members[i];
    before += m->id != id && view_serves(m->state) &&
              cube_pref_key(m->id, hd) < mine;
  }
  return before < want;
}

static bool bit_test_set(uint8_t *bits, uint32_t i) {
  bool was = bits[i >> 3] & (1u << (i & 7));
  bits[i >> 3] |= (uint8_t)(1u << (i & 7));
  return was;
}

size_t place_partners(const view_t *v, uint32_t replicas, uint32_t id,
                      uint32_t *out, size_t cap) {
  unsigned dim = view_dim(v);
  size_t want = place_copy_count(v, replicas), live = view_live(v, NULL, 0);
  size_t vertices = (size_t)1 << dim, n = 0, head = 0, tail = 0;
  uint8_t *seen = calloc(vertices / 8 + 1, 1);
  uint8_t *taken = calloc(vertices / 8 + 1, 1);
  uint32_t *queue = malloc(vertices * sizeof *queue);
  if (!seen || !taken || !queue || id >= vertices) goto done;
  bit_test_set(taken, id);
  queue[tail++] = id;
  bit_test_set(seen, id);
  while (head < tail && n + 1 < live) {
    uint32_t hd = queue[head++];
    if (!copy_of(v, want, id, hd)) continue;
    uint32_t copies[PLACE_COPIES_MAX];
    size_t k = view_prefs(v, hd, copies, want);
    for (size_t i = 0; i < k; i++)
      if (!bit_test_set(taken, copies[i]) && n++ < cap) out[n - 1] = copies[i];
    for (unsigned b = 0; b < dim; b++)
      if (!bit_test_set(seen, hd ^ (1u << b))) queue[tail++] = hd ^ (1u << b);
  }
done:
  free(seen);
  free(taken);
  free(queue);
  return n;
}
