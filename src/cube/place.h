/* place — where keys live, in one place: a key's copies in a view (home
 * first, cube.h's preference order over the serving members), how many
 * copies a topic has (R, or D + 1 for "neighbours"), the keys of
 * identities, and the coordinator of joins. Pure. */
#ifndef HS_PLACE_H
#define HS_PLACE_H

#include <stddef.h>
#include <stdint.h>

#include "cube/view.h"

/* Most copies a key can have, home included. */
#define PLACE_COPIES_MAX 32

/* Identity kinds (the wire's LOOKUP kinds). */
enum { PLACE_PUBLISHER = 1, PLACE_SUBSCRIBER = 2 };

/* Copies per key under view v: `replicas`, or the D + 1 rule (the home and
 * every cube neighbour) for HS_REPLICAS_NEIGHBOURS; at most
 * PLACE_COPIES_MAX. */
size_t place_copy_count(const view_t *v, uint32_t replicas);
/* The copies of hash h under v, home first: at most cap of them (and at
 * most place_copy_count). Returns how many were written. */
size_t place_copies(const view_t *v, uint32_t replicas, uint64_t h,
                    uint32_t *out, size_t cap);
/* The first copy, or `none` when no member serves. */
uint32_t place_home(const view_t *v, uint32_t replicas, uint64_t h,
                    uint32_t none);
/* The placement hash of a topic name. */
uint64_t place_topic(const char *name, size_t n);
/* The placement hash of a publisher or subscriber id: it hashes apart
 * from a topic of the same name ("p:" or "s:" before the id). */
uint64_t place_identity(uint8_t kind, const char *id, size_t n);
/* The member JOINs go to: the lowest serving id (`none` if there is
 * none). */
uint32_t place_coordinator(const view_t *v, uint32_t none);

/* The members that share a copy set with `id` under v, for some key: the
 * nodes that can hold a copy `id` should hold too. Found by walking the
 * cut hashes outward from `id` itself: a cut hash one step nearer to
 * `id` ranks it no lower, so the hashes whose copies include `id` form a
 * connected ball around it, and the walk stops at its edge. Writes up to
 * cap ids; returns how many there are, or 0 when out of memory. */
size_t place_partners(const view_t *v, uint32_t replicas, uint32_t id,
                      uint32_t *out, size_t cap);

/* Whether `id` is among the n ids (a copy set). */
static inline bool place_contains(const uint32_t *ids, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id) return true;
  return false;
}

#endif
