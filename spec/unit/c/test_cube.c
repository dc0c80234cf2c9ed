/* The cube's pure functions: placement and routing. */
#include <stdint.h>
#include <string.h>

#include "cube/cube.h"
#include "unit.h"

static bool all_alive(uint32_t id, void *ud) {
  uint32_t n = *(uint32_t *)ud;
  return id < n;
}

typedef struct {
  uint32_t members; /* ids 0..members-1 exist */
  uint32_t dead;    /* bitmask of dead ids (ids < 32) */
} alive_set_t;

static bool alive_in_set(uint32_t id, void *ud) {
  alive_set_t *s = ud;
  return id < s->members && !(id < 32 && (s->dead >> id & 1));
}

CASE(hash_is_pinned) {
  /* Placement depends on these: they must never change. */
  static const struct { const char *key; uint64_t h; } v[] = {
      {"", 0xf52a15e9a9b5e89bull},
      {"news", 0x3d16b1ed7dd99a4bull},
      {"a", 0x02c0bdbf481420f8ull},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint64_t h = cube_hash(v[i].key, strlen(v[i].key));
    if (h != v[i].h) printf("# cube_hash(\"%s\") = 0x%016llxull\n", v[i].key,
                            (unsigned long long)h);
    CHECK(h == v[i].h);
  }
}

CASE(dimension) {
  static const struct { uint32_t max_id; unsigned d; } v[] = {
      {0, 0}, {1, 1}, {2, 2}, {3, 2}, {4, 3}, {7, 3}, {8, 4}, {63, 6}, {64, 7},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    CHECK(cube_dim(v[i].max_id) == v[i].d);
}

CASE(full_cube_replicates_to_neighbours) {
  /* All alive, R = D + 1: the home is h' and the replicas its neighbours. */
  for (unsigned dim = 1; dim <= 5; dim++) {
    uint32_t n = 1u << dim;
    for (uint64_t h = 0; h < n; h++) {
      uint32_t ids[32];
      for (uint32_t i = 0; i < n; i++) ids[i] = i;
      cube_prefs(h | 0xabcd00000ull << dim, dim, ids, n);
      CHECK(ids[0] == h);
      for (unsigned r = 1; r <= dim; r++) CHECK(cube_distance(ids[r], (uint32_t)h) == 1);
      for (uint32_t r = 1; r < n; r++)
        CHECK(cube_distance(ids[r - 1], (uint32_t)h) <= cube_distance(ids[r], (uint32_t)h));
    }
  }
}

CASE(prefs_is_a_permutation_on_partial_cubes) {
  uint32_t members[] = {0, 1, 2, 5, 6, 9, 12};
  size_t n = sizeof members / sizeof members[0];
  for (uint32_t t = 0; t < 500; t++) {
    char name[32];
    int len = snprintf(name, sizeof name, "topic-%u", t);
    uint64_t h = cube_hash(name, (size_t)len);
    uint32_t ids[16];
    memcpy(ids, members, sizeof members);
    cube_prefs(h, cube_dim(12), ids, n);
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) seen |= 1u << ids[i];
    uint32_t want = 0;
    for (size_t i = 0; i < n; i++) want |= 1u << members[i];
    CHECK(seen == want);
    uint32_t hd = (uint32_t)(h & 15);
    for (size_t i = 1; i < n; i++) {
      unsigned a = cube_distance(ids[i - 1], hd), b = cube_distance(ids[i], hd);
      CHECK(a < b || (a == b && (ids[i - 1] ^ hd) < (ids[i] ^ hd)));
    }
  }
}

CASE(growth_moves_only_topics_that_prefer_the_new_node) {
  /* 8 nodes (D = 3) gain node 8 (D = 4): removing 8 from each new list
   * gives back the old list, so nothing else moves. */
  for (uint32_t t = 0; t < 2000; t++) {
    char name[32];
    int len = snprintf(name, sizeof name, "t%u", t);
    uint64_t h = cube_hash(name, (size_t)len);
    uint32_t before[8], after[9];
    for (uint32_t i = 0; i < 8; i++) before[i] = after[i] = i;
    after[8] = 8;
    cube_prefs(h, cube_dim(7), before, 8);
    cube_prefs(h, cube_dim(8), after, 9);
    size_t k = 0;
    for (size_t i = 0; i < 9; i++)
      if (after[i] != 8) CHECK(after[i] == before[k++]);
  }
}

CASE(hops_equal_hamming_distance_on_a_full_cube) {
  for (unsigned dim = 1; dim <= 6; dim++) {
    uint32_t n = 1u << dim;
    for (uint32_t s = 0; s < n; s++)
      for (uint32_t t = 0; t < n; t++) {
        uint32_t at = s, hops = 0;
        while (at != t && hops <= dim) {
          at = cube_next_hop(at, t, dim, UINT32_MAX, all_alive, &n);
          hops++;
        }
        CHECK(at == t);
        CHECK(hops == cube_distance(s, t));
      }
  }
}

CASE(detours_around_dead_neighbours) {
  /* 16 nodes, 0's neighbours 1 and 2 dead: 0 -> 3 must detour. */
  alive_set_t a = {16, (1u << 1) | (1u << 2)};
  uint32_t at = 0, prev = UINT32_MAX, hops = 0;
  while (at != 3 && hops < 8) {
    uint32_t next = cube_next_hop(at, 3, 4, prev, alive_in_set, &a);
    CHECK(next != UINT32_MAX);
    if (next == UINT32_MAX) break;
    CHECK(alive_in_set(next, &a));
    prev = at;
    at = next;
    hops++;
  }
  CHECK(at == 3);
  CHECK(hops <= 4);
}

CASE(no_route_when_isolated) {
  alive_set_t a = {4, (1u << 1) | (1u << 2)};
  CHECK(cube_next_hop(0, 3, 2, UINT32_MAX, alive_in_set, &a) == UINT32_MAX);
  CHECK(cube_next_hop(3, 3, 2, UINT32_MAX, alive_in_set, &a) == 3);
}

int main(void) {
  RUN(hash_is_pinned);
  RUN(dimension);
  RUN(full_cube_replicates_to_neighbours);
  RUN(prefs_is_a_permutation_on_partial_cubes);
  RUN(growth_moves_only_topics_that_prefer_the_new_node);
  RUN(hops_equal_hamming_distance_on_a_full_cube);
  RUN(detours_around_dead_neighbours);
  RUN(no_route_when_isolated);
  UNIT_EXIT();
}
