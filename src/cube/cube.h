/* cube — the hypercube's pure functions: ids, neighbours, distance, the
 * placement rule and the next hop. No state, no I/O: the node and the Lua
 * cluster driver both call these, so placement agrees everywhere.
 *
 * Placement: h = cube_hash(topic); h' = h cut to D bits, where D is the
 * cube's dimension (the bits needed for the largest member id). The
 * preference list of a topic is every live member ordered by
 * (popcount(id ^ h'), id ^ h'): the first is the home, the next R-1 hold
 * replicas. Growing D adds the same bit to every old member's distance, so
 * their order is kept: when a node joins, only topics that now prefer it
 * move. */
#ifndef HS_CUBE_H
#define HS_CUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CUBE_MAX_DIM 20 /* up to 2^20 node ids */

/* The stable 64-bit hash used for placement: FNV-1a 64 of the bytes, then
 * the splitmix64 finaliser so the low bits that placement reads are well
 * mixed. Never change it: nodes of different builds must agree. */
uint64_t cube_hash(const void *key, size_t n);

/* Bits needed for ids 0..max_id: 0 for {0}, 1 for {0,1}, 3 for 4..7. */
unsigned cube_dim(uint32_t max_id);

static inline unsigned cube_distance(uint32_t a, uint32_t b) {
  return (unsigned)__builtin_popcount(a ^ b);
}

/* h cut to dim bits: the vertex placement measures distance from. */
static inline uint32_t cube_cut(uint64_t h, unsigned dim) {
  return dim >= 32 ? (uint32_t)h : (uint32_t)(h & ((1ull << dim) - 1));
}

/* The preference order's key of id for the cut hash hd: distance first,
 * then the XOR itself (distinct for distinct ids, so the order is total). */
static inline uint64_t cube_pref_key(uint32_t id, uint32_t hd) {
  return ((uint64_t)cube_distance(id, hd) << 32) | (id ^ hd);
}

/* Orders ids[0..n) in place by preference for hash h in dimension dim. */
void cube_prefs(uint64_t h, unsigned dim, uint32_t *ids, size_t n);

/* Whether a node id is a live member, for the routing functions. */
typedef bool (*cube_alive_fn)(uint32_t id, void *ud);

/* The neighbour to forward to from `self` toward `target`: the live
 * neighbour fixing the lowest differing bit; if none is live, a detour
 * through the lowest non-differing bit whose neighbour is live and is not
 * `came_from` (pass UINT32_MAX when the request came from a client).
 * Returns target when self == target, UINT32_MAX when no neighbour helps. */
uint32_t cube_next_hop(uint32_t self, uint32_t target, unsigned dim,
                       uint32_t came_from, cube_alive_fn alive, void *ud);

#endif
