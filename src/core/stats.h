/* stats — counters and latency histograms of a node, and their JSON. */
#ifndef HS_STATS_H
#define HS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/json.h"

/* Log-linear buckets: 8 per power of two of microseconds, so a quantile
 * is within 12.5% of the true value. */
#define STATS_SUB 8
#define STATS_BUCKETS (64 * STATS_SUB)

typedef struct stats_hist {
  uint64_t count;
  uint64_t sum_us;
  uint64_t max_us;
  uint32_t buckets[STATS_BUCKETS];
} stats_hist_t;

void stats_hist_add(stats_hist_t *h, uint64_t us);
/* The value at quantile q in [0, 1] (an upper bound of its bucket, capped
 * by the max seen); 0 when empty. */
uint64_t stats_hist_quantile(const stats_hist_t *h, double q);
/* How many values landed in buckets wholly at or below us (a cumulative
 * histogram bucket, as Prometheus counts them). */
uint64_t stats_hist_below(const stats_hist_t *h, uint64_t us);

/* Request ops are counted by number, below this (the wire's op codes). */
#define STATS_OPS 64
/* Number of HS_E* codes: errors are counted by -code. */
#define STATS_ERRORS 32
/* Hop counts kept apart; more land in the last slot. */
#define STATS_HOPS 16

/* The counters, in the order the JSON lists them: X(name, what it counts). */
#define STATS_COUNTERS(X)                                                   \
  X(bytes_in, "bytes read from connections")                                \
  X(bytes_out, "bytes written to connections")                              \
  X(frames_in, "frames received")                                           \
  X(frames_out, "frames answered")                                          \
  X(connections_accepted, "connections accepted")                           \
  X(connections_closed, "connections closed")                               \
  X(connections_refused, "connections refused over a budget")              \
  X(handshake_timeouts, "connections closed past handshake_ms")             \
  X(handshakes_evicted, "handshakes closed for a newer one")                \
  X(limit_refusals, "requests refused with LIMIT")                          \
  X(connections_dropped_slow, "connections dropped over max_output")        \
  X(protocol_errors, "bad frames")                                          \
  X(messages_published, "messages stored by publishes homed here")          \
  X(messages_pulled, "messages handed to pulls")                            \
  X(pull_waits, "pulls parked for a long poll")                             \
  X(pulls_ahead, "long polls whose cursor went to the copies with their records") \
  X(pull_wait_timeouts, "long polls whose wait ran out")                    \
  X(forwards, "requests sent on to another node")                           \
  X(no_route, "requests no live way led on from here")                      \
  X(replicated, "changes sent to replicas")                                 \
  X(failures, "members this node declared dead")                            \
  X(failovers, "view changes that moved topics")                            \
  X(promotions, "topics this node became home of")                          \
  X(refills, "replicas this node brought up to date")                       \
  X(refilled_messages, "messages those refills sent")                       \
  X(deduplicated, "retried publishes answered, not stored")                 \
  X(retries, "requests clients sent again here")                            \
  X(replica_reads, "pulls served here from a replica's copy")               \
  X(claims, "cursor ranges granted to replicas")                            \
  X(heartbeats, "pings sent")                                               \
  X(heartbeat_bytes, "bytes of pings, their answers and gossip")          \
  X(view_messages_sent, "view changes sent along the cube")                \
  X(view_messages_received, "view changes received along the cube")        \
  X(view_repairs, "whole views sent to a peer whose digest differed")      \
  X(probes_sent, "indirect probes this node asked others for")             \
  X(probes_served, "indirect probes this node ran for others")             \
  X(probes_confirmed, "indirect probes that found their target alive")

typedef struct stats {
  uint64_t started_ms;
  uint64_t requests[STATS_OPS];    /* by op */
  uint64_t errors[STATS_ERRORS];   /* by -HS_E* code */
  stats_hist_t latency[STATS_OPS]; /* service time by op, µs */
  uint64_t hops[STATS_HOPS];       /* requests served here, by hops taken */
#define STATS_FIELD(name, what) uint64_t name;
  STATS_COUNTERS(STATS_FIELD)
#undef STATS_FIELD
} stats_t;

void stats_init(stats_t *s, uint64_t now_ms);

/* Gauges the node adds beside the counters. */
typedef struct stats_gauges {
  uint32_t node_id;
  uint64_t now_ms;
  uint64_t connections; /* open now */
  uint64_t topics, publishers, subscribers;
  uint64_t messages, bytes; /* retained in the store */
  uint64_t pull_waiting;    /* long polls parked now */
} stats_gauges_t;

/* Writes one JSON object:
 * {"node":0,"uptime_ms":..,"connections":..,"topics":..,...,
 *  "requests":{"publish":n,...},"errors":{"NO_TOPIC":n,...},
 *  "latency_us":{"publish":{"count":n,"mean":..,"p50":..,"p99":..,
 *                           "p999":..,"max":..},...}}
 * Ops and errors with a zero count are left out. 0 or HS_ENOMEM. */
typedef const char *(*stats_op_name_fn)(int op); /* NULL: no such op */
int stats_json(const stats_t *s, const stats_gauges_t *g,
               stats_op_name_fn op_name, buf_t *out);
/* The same fields into an object the caller has open (and will close). */
void stats_write(json_t *j, const stats_t *s, const stats_gauges_t *g,
                 stats_op_name_fn op_name);

#endif
