/* health — failure detection, suspect then dead, by the cube neighbours.
 *
 * On each tick a node pings the peers it watches: its live cube
 * neighbours, the nearest live members when it has fewer than two
 * neighbours, and whoever pinged it lately (so watching is mutual even in
 * sparse clusters). Any answer or ping from a peer counts as hearing from
 * it. A peer that answered before and now refuses connections twice in a
 * row is dead at once (its process is gone).
 *
 * A watched peer silent for suspect_ms is probed indirectly first (SWIM's
 * ping-req): up to two other live neighbours of this node are asked to
 * reach it, each through a neighbour of the target when one is live, so
 * the question travels on cube edges that avoid the silent link. Any
 * "alive" counts as hearing from it. Only when no probe reaches it is it
 * SUSPECT (it still serves: placement does not move, so a short stall
 * costs nothing); silent for dead_ms it is DEAD. So one slow link does not
 * kill a healthy node while another path reaches it.
 *
 * One decision, one view change: a member's watchers act in turn. The
 * first of its live neighbours (by id) decides; the k-th gives the others
 * k heartbeats before it acts itself, by which time the first one's
 * decision has reached it and there is nothing left to decide.
 *
 * A PING carries the sender's view digest; the answer carries the
 * receiver's, and its whole view when the digests differed on two pings
 * in a row (anti-entropy: one heartbeat lets a change on its way along
 * the cube arrive first). Dead members are pinged by their own watchers
 * once per dead time, so a node that was only cut off meets the others
 * again. */
#ifndef HS_HEALTH_H
#define HS_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "cluster/transport.h"
#include "core/buf.h"
#include "proto/msg.h"

typedef struct health_peer health_peer_t;
typedef struct health_relay health_relay_t;

/* Where a probe run for another member tells its answer (once). */
typedef void (*health_answer_fn)(void *ctx, bool alive);

typedef struct health_config {
  uint32_t heartbeat_ms, suspect_ms, dead_ms;
} health_config_t;

typedef struct health {
  cluster_t *cluster;
  const cluster_net_t *net;
  log_t *log;
  stats_t *stats;
  uint32_t heartbeat_ms, suspect_ms, dead_ms;
  health_peer_t *watch; /* what it knows of each peer */
  size_t n_watch, cap_watch;
  health_relay_t *relays; /* probes it runs for others */
  size_t n_relays;
  uint64_t started_ms, dead_scan_ms, relay_gen;
} health_t;

void health_init(health_t *h, cluster_t *cluster, const cluster_net_t *net,
                 const health_config_t *cfg, log_t *log, stats_t *stats);
/* Probes run for others are answered "not alive" first. */
void health_free(health_t *h);
/* Detection (re)starts: every peer gets a full timeout from now. */
void health_start(health_t *h);
/* One heartbeat: suspicions, probes, deaths, pings, pings of the dead. */
void health_tick(health_t *h);
/* A peer spoke to us (a HELLO, a ping): it is up. */
void health_heard(health_t *h, uint32_t id);

/* A PING from `from`: hears it, and writes the answer's body (a pong,
 * with our view when the digests differ again) to `pong`. 0 or
 * HS_ENOMEM. */
int health_on_ping(health_t *h, uint32_t from, const msg_ping_t *ping,
                   buf_t *pong);
/* A PROBE from `from`: reaches its target (directly, or through one of
 * the target's neighbours), then answer(ctx, alive) (maybe at once). */
void health_on_probe(health_t *h, uint32_t from, const msg_probe_t *probe,
                     health_answer_fn answer, void *ctx);
/* Whether member `id` is one this node watches (it pings it). */
bool health_watches(const health_t *h, uint32_t id);
/* Bytes this part holds (its watch list and probe slots). */
size_t health_bytes(const health_t *h);
/* "watching": peers watched; "unheard": those not heard from since this
 * node started. */
void health_stats(const health_t *h, json_t *j);

#endif
