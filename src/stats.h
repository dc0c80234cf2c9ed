/* stats — counters and latency histograms of a node, and their JSON. */
#ifndef HS_STATS_H
#define HS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "wire.h"

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

/* Number of HS_E* codes: errors are counted by -code. */
#define STATS_ERRORS 32
/* Hop counts kept apart; more land in the last slot. */
#define STATS_HOPS 16

typedef struct stats {
  uint64_t started_ms;
  uint64_t requests[WIRE_OP_MAX]; /* by op */
  uint64_t errors[STATS_ERRORS];  /* by -HS_E* code */
  stats_hist_t latency[WIRE_OP_MAX]; /* service time by op, µs */
  uint64_t bytes_in, bytes_out;
  uint64_t frames_in, frames_out;
  uint64_t connections_accepted, connections_closed;
  uint64_t connections_refused;     /* over max_connections */
  uint64_t connections_dropped_slow; /* over max_output */
  uint64_t protocol_errors;          /* bad frames */
  uint64_t messages_published, messages_pulled;
  uint64_t pull_waits, pull_wait_timeouts;
  uint64_t forwards;               /* requests sent on to another node */
  uint64_t no_route;               /* requests no live way led on from here */
  uint64_t replicated;             /* changes sent to replicas */
  uint64_t hops[STATS_HOPS];       /* requests served here, by hops taken */
  uint64_t failures;               /* members this node declared dead */
  uint64_t failovers;              /* view changes that moved topics */
  uint64_t promotions;             /* topics this node became home of */
  uint64_t refills;                /* replicas this node brought up to date */
  uint64_t refilled_messages;      /* messages those refills sent */
  uint64_t deduplicated;           /* retried publishes answered, not stored */
  uint64_t retries;                /* requests clients sent again here */
  uint64_t replica_reads;          /* pulls served here from a replica's copy */
  uint64_t claims;                 /* cursor ranges granted to replicas */
  uint64_t heartbeats;             /* pings sent */
  uint64_t heartbeat_bytes;        /* bytes of pings, their answers, gossip */
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
int stats_json(const stats_t *s, const stats_gauges_t *g, buf_t *out);

#endif
