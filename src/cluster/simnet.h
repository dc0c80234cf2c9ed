/* simnet — many members in one process, on one virtual clock: the same
 * view, placement, failure detection and spreading code as a node
 * (cluster, health, spread), over an in-process transport (transport.h)
 * that delivers each message after a fixed latency. Members can crash
 * (their port refuses), hang (silent), and single directions of single
 * links can be cut. Nothing here opens a socket or reads a real clock, so
 * a run is deterministic and a thousand members cost a few megabytes
 * each. The unit tests and the scale bench drive it. */
#ifndef HS_SIMNET_H
#define HS_SIMNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/health.h"
#include "cluster/spread.h"

typedef struct simnet simnet_t;

typedef struct simnet_config {
  uint32_t heartbeat_ms, suspect_ms, dead_ms; /* as a node's options */
  uint32_t replicas;                          /* copies per topic */
  uint32_t latency_us;  /* one way, per message */
  uint32_t timeout_ms;  /* a request's, as peer_timeout */
  uint64_t seed;        /* the ticks' phases */
} simnet_config_t;

/* Every member's counters of what crossed the transport. */
typedef struct simnet_traffic {
  uint64_t messages, bytes; /* sent and received, requests and answers */
} simnet_traffic_t;

simnet_t *simnet_new(const simnet_config_t *cfg);
void simnet_free(simnet_t *s);

/* Members that know each other from the start, all alive. 0 or
 * HS_ENOMEM / HS_EINVALID (an id twice, or over HS_ID_MAX). */
int simnet_start(simnet_t *s, const uint32_t *ids, size_t n);
/* A new member, admitted by the coordinator, which sends it the view
 * one round trip later. 0 or an error. */
int simnet_join(simnet_t *s, uint32_t id);
/* The member leaves (LEFT, spread) and stops a second later. */
void simnet_leave(simnet_t *s, uint32_t id);
/* Its process is gone: its port refuses from now on. */
void simnet_crash(simnet_t *s, uint32_t id);
/* It stops answering anything (a stalled process), or answers again. */
void simnet_hang(simnet_t *s, uint32_t id, bool hung);
/* Messages from `from` to `to` are lost (one direction of one link). */
void simnet_cut(simnet_t *s, uint32_t from, uint32_t to, bool cut);

/* Runs the clock forward by `us`. */
void simnet_run(simnet_t *s, uint64_t us);
/* Runs until every running member holds the same view, or `us` passed;
 * true when they do. */
bool simnet_run_until_converged(simnet_t *s, uint64_t us);
uint64_t simnet_now_us(const simnet_t *s);

/* A running member's parts (NULL for an id that is not running). */
cluster_t *simnet_cluster(simnet_t *s, uint32_t id);
stats_t *simnet_stats(simnet_t *s, uint32_t id);
spread_t *simnet_spread(simnet_t *s, uint32_t id);
const simnet_traffic_t *simnet_traffic(simnet_t *s, uint32_t id);
/* The members it exchanged a message with (either way) in the last
 * window_us: the links it needed. */
size_t simnet_links(simnet_t *s, uint32_t id, uint64_t window_us);
/* Bytes of membership a member holds: its view, watch list, probe slots,
 * the parts themselves (not the simulator's own bookkeeping). */
size_t simnet_member_bytes(simnet_t *s, uint32_t id);
/* Whether every running member holds the same view. */
bool simnet_converged(simnet_t *s);
/* The ids that are running (not crashed or gone), ascending. */
size_t simnet_running(const simnet_t *s, uint32_t *out, size_t cap);

#endif
