/* stats — log-linear latency histograms and the node's stats JSON.
 *
 * Buckets: values 0..7 have one bucket each; a value v >= 8 with leading
 * bit e (v in [2^e, 2^(e+1))) goes to (e - 2) * 8 + m, m being the 3 bits
 * below the leading one. Each bucket is 1/8 of its power of two wide, so
 * its upper bound is within 12.5% of any value in it. 2^64 - 1 lands in
 * bucket 495, below STATS_BUCKETS. */
#include "core/stats.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hypersub.h"

#define SUB_BITS 3 /* log2(STATS_SUB) */

static unsigned bucket_of(uint64_t us) {
  if (us < STATS_SUB) return (unsigned)us;
  unsigned e = 63 - (unsigned)__builtin_clzll(us);
  unsigned m = (unsigned)(us >> (e - SUB_BITS)) & (STATS_SUB - 1);
  unsigned i = (e - SUB_BITS + 1) * STATS_SUB + m;
  return i < STATS_BUCKETS ? i : STATS_BUCKETS - 1;
}

/* The largest value that lands in bucket i. */
static uint64_t bucket_upper(unsigned i) {
  if (i < STATS_SUB) return i;
  unsigned e = i / STATS_SUB + SUB_BITS - 1;
  if (e > 63) return UINT64_MAX;
  uint64_t m = i % STATS_SUB;
  uint64_t width = (uint64_t)1 << (e - SUB_BITS);
  return ((STATS_SUB + m) << (e - SUB_BITS)) + (width - 1);
}

void stats_hist_add(stats_hist_t *h, uint64_t us) {
  unsigned i = bucket_of(us);
  if (h->buckets[i] < UINT32_MAX) h->buckets[i]++;
  h->count++;
  h->sum_us = us > UINT64_MAX - h->sum_us ? UINT64_MAX : h->sum_us + us;
  if (us > h->max_us) h->max_us = us;
}

uint64_t stats_hist_quantile(const stats_hist_t *h, double q) {
  if (h->count == 0) return 0;
  if (!(q > 0)) q = 0; /* also NaN */
  if (q > 1) q = 1;
  double x = q * (double)h->count;
  uint64_t target;
  if (x >= (double)h->count) {
    target = h->count;
  } else {
    target = (uint64_t)x;
    if ((double)target < x) target++; /* ceil */
  }
  if (target < 1) target = 1;
  uint64_t cum = 0;
  for (unsigned i = 0; i < STATS_BUCKETS; i++) {
    cum += h->buckets[i];
    if (cum >= target) {
      uint64_t up = bucket_upper(i);
      return up < h->max_us ? up : h->max_us;
    }
  }
  return h->max_us; /* only when a bucket saturated */
}

uint64_t stats_hist_below(const stats_hist_t *h, uint64_t us) {
  uint64_t n = 0;
  for (unsigned i = 0; i < STATS_BUCKETS && bucket_upper(i) <= us; i++)
    n += h->buckets[i];
  return n;
}

void stats_init(stats_t *s, uint64_t now_ms) {
  memset(s, 0, sizeof *s);
  s->started_ms = now_ms;
}

/* ---- JSON ---------------------------------------------------------------- */

static void write_histogram(json_t *j, const char *name,
                            const stats_hist_t *h) {
  json_open(j, name);
  json_u64(j, "count", h->count);
  json_u64(j, "mean", h->sum_us / h->count);
  json_u64(j, "p50", stats_hist_quantile(h, 0.50));
  json_u64(j, "p99", stats_hist_quantile(h, 0.99));
  json_u64(j, "p999", stats_hist_quantile(h, 0.999));
  json_u64(j, "max", h->max_us);
  json_close(j);
}

void stats_write(json_t *j, const stats_t *s, const stats_gauges_t *g,
                 stats_op_name_fn op_name) {
  static const stats_gauges_t none;
  if (!g) g = &none;
  json_u64(j, "node", g->node_id);
  json_u64(j, "uptime_ms",
           g->now_ms > s->started_ms ? g->now_ms - s->started_ms : 0);
  json_u64(j, "connections", g->connections);
  json_u64(j, "topics", g->topics);
  json_u64(j, "publishers", g->publishers);
  json_u64(j, "subscribers", g->subscribers);
  json_u64(j, "messages", g->messages);
  json_u64(j, "bytes", g->bytes);
  json_u64(j, "pull_waiting", g->pull_waiting);
#define STATS_COUNTER(name, what) json_u64(j, #name, s->name);
  STATS_COUNTERS(STATS_COUNTER)
#undef STATS_COUNTER

  json_open(j, "hops");
  for (unsigned h = 0; h < STATS_HOPS; h++) {
    char key[16];
    snprintf(key, sizeof key, "%u", h);
    if (s->hops[h]) json_u64(j, key, s->hops[h]);
  }
  json_close(j);

  json_open(j, "requests");
  for (int op = 0; op < STATS_OPS; op++) {
    const char *name = op_name(op);
    if (name && s->requests[op]) json_u64(j, name, s->requests[op]);
  }
  json_close(j);

  json_open(j, "errors");
  for (int i = 1; i < STATS_ERRORS; i++) {
    const char *name = hs_err_name(-i);
    if (s->errors[i] && strcmp(name, "UNKNOWN") != 0)
      json_u64(j, name, s->errors[i]);
  }
  json_close(j);

  json_open(j, "latency_us");
  for (int op = 0; op < STATS_OPS; op++) {
    const char *name = op_name(op);
    if (name && s->latency[op].count) write_histogram(j, name, &s->latency[op]);
  }
  json_close(j);
}

int stats_json(const stats_t *s, const stats_gauges_t *g,
               stats_op_name_fn op_name, buf_t *out) {
  json_t j;
  json_init(&j, out);
  json_open(&j, NULL);
  stats_write(&j, s, g, op_name);
  json_close(&j);
  return json_end(&j);
}
