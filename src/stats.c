/* stats — log-linear latency histograms and the node's stats JSON.
 *
 * Buckets: values 0..7 have one bucket each; a value v >= 8 with leading
 * bit e (v in [2^e, 2^(e+1))) goes to (e - 2) * 8 + m, m being the 3 bits
 * below the leading one. Each bucket is 1/8 of its power of two wide, so
 * its upper bound is within 12.5% of any value in it. 2^64 - 1 lands in
 * bucket 495, below STATS_BUCKETS. */
#include "stats.h"

#include <stdarg.h>
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

void stats_init(stats_t *s, uint64_t now_ms) {
  memset(s, 0, sizeof *s);
  s->started_ms = now_ms;
}

/* ---- JSON ---------------------------------------------------------------- */
typedef struct jw {
  buf_t *b;
  int err; /* sticky: 0 or HS_ENOMEM */
} jw_t;

__attribute__((format(printf, 2, 3))) static void jw_printf(jw_t *w,
                                                            const char *fmt,
                                                            ...) {
  if (w->err) return;
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) { /* only from a long name */
    w->err = HS_ENOMEM;
    return;
  }
  if (buf_append(w->b, tmp, (size_t)n)) w->err = HS_ENOMEM;
}

static void jw_u64(jw_t *w, bool *first, const char *key, uint64_t v) {
  jw_printf(w, "%s\"%s\":%llu", *first ? "" : ",", key,
            (unsigned long long)v);
  *first = false;
}

int stats_json(const stats_t *s, const stats_gauges_t *g, buf_t *out) {
  static const stats_gauges_t none;
  if (!g) g = &none;
  jw_t w = {out, 0};
  size_t start = out->len;
  bool first = true;

  jw_printf(&w, "{");
  jw_u64(&w, &first, "node", g->node_id);
  jw_u64(&w, &first, "uptime_ms",
         g->now_ms > s->started_ms ? g->now_ms - s->started_ms : 0);
  jw_u64(&w, &first, "connections", g->connections);
  jw_u64(&w, &first, "topics", g->topics);
  jw_u64(&w, &first, "publishers", g->publishers);
  jw_u64(&w, &first, "subscribers", g->subscribers);
  jw_u64(&w, &first, "messages", g->messages);
  jw_u64(&w, &first, "bytes", g->bytes);
  jw_u64(&w, &first, "pull_waiting", g->pull_waiting);

#define STATS_COUNTER(f) jw_u64(&w, &first, #f, s->f)
  STATS_COUNTER(bytes_in);
  STATS_COUNTER(bytes_out);
  STATS_COUNTER(frames_in);
  STATS_COUNTER(frames_out);
  STATS_COUNTER(connections_accepted);
  STATS_COUNTER(connections_closed);
  STATS_COUNTER(connections_refused);
  STATS_COUNTER(connections_dropped_slow);
  STATS_COUNTER(protocol_errors);
  STATS_COUNTER(messages_published);
  STATS_COUNTER(messages_pulled);
  STATS_COUNTER(pull_waits);
  STATS_COUNTER(pull_wait_timeouts);
  STATS_COUNTER(forwards);
  STATS_COUNTER(no_route);
  STATS_COUNTER(replicated);
  STATS_COUNTER(failures);
  STATS_COUNTER(failovers);
  STATS_COUNTER(promotions);
  STATS_COUNTER(refills);
  STATS_COUNTER(refilled_messages);
  STATS_COUNTER(deduplicated);
  STATS_COUNTER(retries);
  STATS_COUNTER(replica_reads);
  STATS_COUNTER(claims);
  STATS_COUNTER(heartbeats);
  STATS_COUNTER(heartbeat_bytes);
#undef STATS_COUNTER

  jw_printf(&w, ",\"hops\":{");
  first = true;
  for (unsigned h = 0; h < STATS_HOPS; h++) {
    char key[16];
    snprintf(key, sizeof key, "%u", h);
    if (s->hops[h]) jw_u64(&w, &first, key, s->hops[h]);
  }
  jw_printf(&w, "}");

  jw_printf(&w, ",\"requests\":{");
  first = true;
  for (int op = 0; op < WIRE_OP_MAX; op++) {
    const char *name = wire_op_name(op);
    if (name && s->requests[op]) jw_u64(&w, &first, name, s->requests[op]);
  }

  jw_printf(&w, "},\"errors\":{");
  first = true;
  for (int i = 1; i < STATS_ERRORS; i++) {
    const char *name = hs_err_name(-i);
    if (s->errors[i] && strcmp(name, "UNKNOWN") != 0)
      jw_u64(&w, &first, name, s->errors[i]);
  }

  jw_printf(&w, "},\"latency_us\":{");
  first = true;
  for (int op = 0; op < WIRE_OP_MAX; op++) {
    const char *name = wire_op_name(op);
    const stats_hist_t *h = &s->latency[op];
    if (!name || h->count == 0) continue;
    jw_printf(&w, "%s\"%s\":{", first ? "" : ",", name);
    first = false;
    bool f2 = true;
    jw_u64(&w, &f2, "count", h->count);
    jw_u64(&w, &f2, "mean", h->sum_us / h->count);
    jw_u64(&w, &f2, "p50", stats_hist_quantile(h, 0.50));
    jw_u64(&w, &f2, "p99", stats_hist_quantile(h, 0.99));
    jw_u64(&w, &f2, "p999", stats_hist_quantile(h, 0.999));
    jw_u64(&w, &f2, "max", h->max_us);
    jw_printf(&w, "}");
  }
  jw_printf(&w, "}}");

  if (w.err) out->len = start; /* no half object */
  return w.err;
}
