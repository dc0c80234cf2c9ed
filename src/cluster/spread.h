/* spread — view changes travel along the cube's edges: a binomial-tree
 * broadcast. The node that decided a change sends the changed entries to
 * its neighbour on every dimension; a node that received them on
 * dimension k merges them and sends them on along the dimensions above k.
 * Every live member gets them once: N-1 messages, at most D steps.
 *
 * A neighbour that is dead, left or not a member at all is stepped over:
 * its part of the tree is sent to directly, at the roots of the live
 * parts (a detour, on a link made for it). A suspect one gets the news
 * but is stepped over the same way. What a message misses (a
 * member that died on the way, a node that was cut off) the digests of
 * the heartbeats repair (health.h). */
#ifndef HS_SPREAD_H
#define HS_SPREAD_H

#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/transport.h"
#include "proto/msg.h"

/* The dimension a message to a suspect member carries: above every
 * other, so it sends nothing on (its part of the tree was sent to
 * directly). */
#define SPREAD_LEAF 255

typedef struct spread {
  cluster_t *cluster;
  const cluster_net_t *net;
  stats_t *stats;
  uint8_t last_hops;   /* steps the last change received had taken */
  uint64_t changed_ms; /* the transport's clock at the last change */
} spread_t;

void spread_init(spread_t *s, cluster_t *cluster, const cluster_net_t *net,
                 stats_t *stats);
/* The listener the node registers last: sends a change decided here
 * (change->ours) to every live member along the cube. */
void spread_listener(void *ud, const cluster_change_t *change);
/* A SPREAD from `from`: merged, then sent on. 0, or HS_EINVALID when its
 * entries cannot be read (why names the field). */
int spread_on_message(spread_t *s, uint32_t from, const msg_spread_t *m,
                      const char **why);

#endif
