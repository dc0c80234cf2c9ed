/* view — the membership view: every member the node knows, its address,
 * its state and a version, plus an epoch that summarises the whole. Pure:
 * no I/O, no clock, no libuv. Nodes gossip whole views and merge them.
 *
 * Merge rule, per member: an incoming entry replaces the local one when its
 * version is higher; at an equal version the more final state wins
 * (ALIVE < SUSPECT < DEAD < LEFT); at an equal version and state the
 * greater addr (strcmp) wins, so even two nodes that disagree about an
 * address converge. An unknown member is added. Entries are thus totally
 * ordered by (version, state, addr) and merge keeps the maximum: it is
 * commutative, associative and idempotent, and views converge whatever
 * order updates arrive in. The addr travels with the winning entry.
 *
 * The epoch is the sum of every member's version (mod 2^64): equal content
 * gives an equal epoch on every node, and any change raises it.
 *
 * Encoding (little-endian, as wire.h): u64 epoch, u32 count, then count
 * times: u32 id, u8 state, u64 version, str8 addr. Members ascend by id. */
#ifndef HS_VIEW_H
#define HS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/buf.h"
#include "proto/wire.h"

#define VIEW_ADDR_MAX ADDR_MAX /* bytes of "host:port", without the NUL */

typedef enum {
  VIEW_ALIVE = 1,
  VIEW_SUSPECT = 2,
  VIEW_DEAD = 3,
  VIEW_LEFT = 4
} view_state_t;

typedef struct view_member {
  uint32_t id;
  char addr[VIEW_ADDR_MAX + 1]; /* "host:port", NUL-terminated */
  view_state_t state;
  uint64_t version; /* bumped by whoever changes this member's entry */
} view_member_t;

/* The highest version an entry may have: far beyond any real history
 * (one change a microsecond for 8 years), and low enough that neither a
 * bump nor the epoch's sum of a view the wire can carry overflows. An
 * entry at the cap is alive: one that says suspect, dead or left is at
 * most VIEW_VERSION_MAX - 1, so its member can always refute it. */
#define VIEW_VERSION_MAX ((uint64_t)1 << 48)

typedef struct view {
  view_member_t *members; /* sorted by id, no duplicates */
  size_t n, cap;
  uint64_t epoch; /* sum of every member's version */
} view_t;

/* Members in these states serve: placement and routing count them. */
static inline bool view_serves(view_state_t s) {
  return s == VIEW_ALIVE || s == VIEW_SUSPECT;
}

/* Makes v an empty view (no memory held). */
void view_init(view_t *v);
/* Frees v's members and leaves it empty, ready for reuse. */
void view_free(view_t *v);
/* Initialises dst as a copy of src (dst's old content is not freed); 0 or
 * HS_ENOMEM (dst is then empty). Caller frees dst with view_free. */
int view_copy(view_t *dst, const view_t *src);

/* The member with this id, or NULL; the pointer lasts until v changes. */
const view_member_t *view_find(const view_t *v, uint32_t id);
/* Applies the merge rule to one entry: 1 if v changed, 0 if not,
 * HS_EINVALID (addr NULL, empty or over VIEW_ADDR_MAX bytes, bad state, id
 * over 2^CUBE_MAX_DIM-1, version past the cap or at it and not alive) or
 * HS_ENOMEM (v unchanged on any error). */
int view_upsert(view_t *v, uint32_t id, const char *addr, view_state_t state,
                uint64_t version);
/* Upserts every member of src into dst: the number of members that changed
 * (>= 0), or HS_ENOMEM (dst then holds the members merged so far, still a
 * valid view). */
int view_merge(view_t *dst, const view_t *src);
/* A local decision about a known member (suspect, declare dead, revive):
 * sets its state and bumps its version by 1. 1, or HS_EINVALID when the id
 * is unknown, the state is bad or the new version would break the cap. */
int view_set_state(view_t *v, uint32_t id, view_state_t state);

/* Writes the ids of members that serve (ALIVE or SUSPECT) in ascending
 * order, at most cap of them; returns how many there are (may exceed cap). */
size_t view_live(const view_t *v, uint32_t *ids, size_t cap);
/* The cube dimension: cube_dim of the largest id that is not LEFT (DEAD
 * members keep it, so a failure does not reshuffle placement); 0 if none. */
unsigned view_dim(const view_t *v);
/* The first min(cap, live) entries of hash h's preference list: live ids in
 * cube_prefs order for view_dim(v). Returns how many were written (<= cap). */
size_t view_prefs(const view_t *v, uint64_t h, uint32_t *out, size_t cap);
/* A cube_alive_fn; ud is the const view_t *: ALIVE or SUSPECT. */
bool view_is_alive(uint32_t id, void *ud);

/* A 64-bit digest of every member's id, state, version and addr: equal
 * views have equal digests; unlike the epoch, two different changes rarely
 * collide. Nodes compare it to decide whether to exchange views. */
uint64_t view_digest(const view_t *v);

/* Appends v's encoding to out; 0 or HS_ENOMEM (out then as before). */
int view_encode(const view_t *v, buf_t *out);
/* Reads one encoded view at r's position into out, which the call
 * initialises (caller frees with view_free; out is empty after a failure,
 * so freeing it then is harmless too). 0, or
 * HS_EPROTOCOL with r->bad naming the field (short input, a count larger
 * than the bytes left allow, bad state, empty/long/NUL-bearing addr, id out
 * of range, ids not strictly ascending, a version the cap refuses, epoch
 * not the sum of versions), or
 * HS_ENOMEM. Does not require r to be exhausted afterwards. */
int view_decode(wire_reader_t *r, view_t *out);

#endif
