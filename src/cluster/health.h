/* health — failure detection and the spreading of view changes.
 *
 * On each tick a node pings the peers it watches: its live cube
 * neighbours, the nearest live members when it has fewer than two
 * neighbours, and whoever pinged it lately (so watching is mutual even in
 * sparse clusters). Any answer or ping from a peer counts as hearing from
 * it. A watched peer silent for suspect_ms is SUSPECT (it still serves:
 * placement does not move, so a short stall costs nothing); silent for
 * dead_ms it is DEAD. A peer that answered before and now refuses
 * connections twice in a row is dead at once (its process is gone).
 *
 * A PING carries the sender's view digest; the answer carries the
 * receiver's, and its whole view when they differ. A decision made here
 * is pushed to every live member at once (GOSSIP); the digests in pings
 * mend whatever a push missed. */
#ifndef HS_HEALTH_H
#define HS_HEALTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "net/peers.h"

typedef struct health_peer health_peer_t;

typedef struct health {
  uv_loop_t *loop;
  cluster_t *cluster;
  peers_t *peers;
  log_t *log;
  stats_t *stats;
  uint32_t suspect_ms, dead_ms;
  health_peer_t *watch; /* what it knows of each peer */
  size_t n_watch, cap_watch;
  uint64_t started_ms;
} health_t;

void health_init(health_t *h, uv_loop_t *loop, cluster_t *cluster,
                 peers_t *peers, uint32_t suspect_ms, uint32_t dead_ms,
                 log_t *log, stats_t *stats);
void health_free(health_t *h);
/* Detection (re)starts: every peer gets a full timeout from now. */
void health_start(health_t *h);
/* One heartbeat: suspicions, deaths, pings, probes of the dead. */
void health_tick(health_t *h);
/* A peer spoke to us (a HELLO, a ping): it is up. */
void health_heard(health_t *h, uint32_t id);
/* A peer pinged us: watch it back for a while. */
void health_pinged(health_t *h, uint32_t id);
/* Sends this node's view to every live member. */
void health_spread(health_t *h);
/* The listener the node registers last: spreads decisions made here. */
void health_spread_listener(void *ud, const cluster_change_t *change);
/* "watching": peers watched; "unheard": those not heard from since this
 * node started. */
void health_stats(const health_t *h, json_t *j);

#endif
