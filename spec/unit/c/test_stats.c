/* stats: histogram quantiles, the stats JSON, error names. */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "hypersub.h"
#include "core/stats.h"
#include "proto/wire.h"
#include "unit.h"

static stats_hist_t hist; /* big: keep them off the stack */
static stats_t st;

static int within(uint64_t got, uint64_t want, double tol) {
  double d = (double)got - (double)want;
  if (d < 0) d = -d;
  return d <= tol * (double)want;
}

CASE(hist_uniform_quantiles) {
  memset(&hist, 0, sizeof hist);
  for (uint64_t v = 1; v <= 1000; v++) stats_hist_add(&hist, v);
  CHECK(hist.count == 1000);
  CHECK(hist.sum_us == 500500);
  CHECK(hist.max_us == 1000);
  uint64_t p50 = stats_hist_quantile(&hist, 0.50);
  uint64_t p99 = stats_hist_quantile(&hist, 0.99);
  uint64_t p999 = stats_hist_quantile(&hist, 0.999);
  CHECK(within(p50, 500, 0.125) && p50 >= 500);
  CHECK(within(p99, 990, 0.125) && p99 >= 990);
  CHECK(within(p999, 999, 0.125) && p999 >= 999);
  CHECK(stats_hist_quantile(&hist, 1.0) == 1000);
  CHECK(stats_hist_quantile(&hist, 0.0) == 1);
  CHECK(stats_hist_quantile(&hist, 0.001) == 1);
}

CASE(hist_small_values_exact) {
  memset(&hist, 0, sizeof hist);
  for (uint64_t v = 0; v < 16; v++) stats_hist_add(&hist, v);
  /* 0..15 each have their own bucket */
  for (uint64_t k = 1; k <= 16; k++)
    CHECK(stats_hist_quantile(&hist, (double)k / 16) == k - 1);
}

CASE(hist_every_value_within_bound) {
  /* one value per hist: its quantile is its bucket's bound, capped at max,
   * so exactly the value; two values check the bound of the smaller. */
  static const uint64_t vals[] = {1,       7,        8,          9,
                                  17,      100,      1000,       4095,
                                  4096,    123456,   1000000007, 1ull << 40,
                                  (1ull << 62) + 12345};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    memset(&hist, 0, sizeof hist);
    stats_hist_add(&hist, vals[i]);
    CHECK(stats_hist_quantile(&hist, 0.5) == vals[i]);
    stats_hist_add(&hist, vals[i] * 2 + 1000);
    uint64_t q = stats_hist_quantile(&hist, 0.5);
    CHECK(q >= vals[i] && within(q, vals[i], 0.125));
  }
}

CASE(hist_bimodal) {
  memset(&hist, 0, sizeof hist);
  for (int i = 0; i < 900; i++) stats_hist_add(&hist, 100);
  for (int i = 0; i < 100; i++) stats_hist_add(&hist, 50000);
  CHECK(within(stats_hist_quantile(&hist, 0.5), 100, 0.125));
  CHECK(within(stats_hist_quantile(&hist, 0.9), 100, 0.125));
  CHECK(stats_hist_quantile(&hist, 0.901) == 50000); /* capped at max */
  CHECK(stats_hist_quantile(&hist, 0.99) == 50000);
}

CASE(hist_empty_and_max_cap) {
  memset(&hist, 0, sizeof hist);
  CHECK(stats_hist_quantile(&hist, 0.5) == 0);
  CHECK(stats_hist_quantile(&hist, 1.0) == 0);
  stats_hist_add(&hist, 1001); /* bucket [960, 1023] */
  CHECK(stats_hist_quantile(&hist, 0.99) == 1001);
  CHECK(hist.max_us == 1001);
  stats_hist_add(&hist, 0);
  CHECK(stats_hist_quantile(&hist, 0.5) == 0);
  CHECK(stats_hist_quantile(&hist, 2.0) == 1001); /* q clamped */
  CHECK(stats_hist_quantile(&hist, -1.0) == 0);
}

CASE(hist_huge_values) {
  memset(&hist, 0, sizeof hist);
  stats_hist_add(&hist, UINT64_MAX);
  stats_hist_add(&hist, UINT64_MAX);
  stats_hist_add(&hist, UINT64_MAX - 1);
  CHECK(hist.count == 3);
  CHECK(hist.sum_us == UINT64_MAX); /* saturates */
  CHECK(hist.max_us == UINT64_MAX);
  CHECK(stats_hist_quantile(&hist, 0.5) == UINT64_MAX);
  uint64_t n = 0;
  for (int i = 0; i < STATS_BUCKETS; i++) n += hist.buckets[i];
  CHECK(n == 3);
}

static int balanced(const char *s, size_t n) {
  int depth = 0, in_str = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\') i++;
      else if (c == '"') in_str = 0;
      continue;
    }
    if (c == '"') in_str = 1;
    else if (c == '{') depth++;
    else if (c == '}' && --depth < 0) return 0;
    else if (c == '[' || c == ']') return 0; /* none in stats */
  }
  return depth == 0 && !in_str && n > 0 && s[0] == '{' && s[n - 1] == '}';
}

static int has(const buf_t *b, const char *needle) {
  return memmem(b->data, b->len, needle, strlen(needle)) != NULL;
}

CASE(json_contents) {
  stats_init(&st, 1000);
  CHECK(st.started_ms == 1000 && st.bytes_in == 0 && st.requests[1] == 0);
  st.requests[WIRE_PUBLISH] = 3;
  st.errors[-HS_ENO_TOPIC] = 2;
  st.errors[-HS_EIO] = 1;
  st.bytes_in = 11;
  st.pull_wait_timeouts = 4;
  for (uint64_t v = 1; v <= 1000; v++)
    stats_hist_add(&st.latency[WIRE_PUBLISH], v);
  stats_gauges_t g = {.node_id = 5, .now_ms = 3500, .connections = 2,
                      .topics = 7, .pull_waiting = 1};
  buf_t b = BUF_INIT;
  CHECK(stats_json(&st, &g, wire_op_name, &b) == 0);
  CHECK(balanced(b.data, b.len));
  CHECK(has(&b, "{\"node\":5,\"uptime_ms\":2500,\"connections\":2,"
                "\"topics\":7,\"publishers\":0,\"subscribers\":0,"
                "\"messages\":0,\"bytes\":0,\"pull_waiting\":1,"
                "\"bytes_in\":11,\"bytes_out\":0,"));
  static const char *const keys[] = {
      "\"frames_in\":0,",          "\"frames_out\":0,",
      "\"connections_accepted\":0,", "\"connections_closed\":0,",
      "\"connections_refused\":0,",  "\"connections_dropped_slow\":0,",
      "\"protocol_errors\":0,",      "\"messages_published\":0,",
      "\"messages_pulled\":0,",      "\"pull_waits\":0,",
      "\"pull_wait_timeouts\":4,"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    CHECK(has(&b, keys[i]));
  CHECK(has(&b, "\"requests\":{\"publish\":3}"));
  CHECK(has(&b, "\"errors\":{\"NO_TOPIC\":2,\"IO\":1}"));
  CHECK(has(&b, "\"latency_us\":{\"publish\":{\"count\":1000,\"mean\":500,"
                "\"p50\":"));
  CHECK(has(&b, ",\"max\":1000}}}"));
  CHECK(!has(&b, "\"hello\""));
  CHECK(!has(&b, "\"pull\""));
  CHECK(!has(&b, "UNKNOWN"));
  CHECK(!has(&b, "OK"));
  buf_free(&b);
}

CASE(json_empty) {
  stats_init(&st, 50);
  stats_gauges_t g = {.node_id = 0, .now_ms = 10}; /* clock went back */
  buf_t b = BUF_INIT;
  CHECK(buf_append(&b, "x", 1) == 0); /* appends after what is there */
  CHECK(stats_json(&st, &g, wire_op_name, &b) == 0);
  CHECK(b.data[0] == 'x');
  CHECK(balanced(b.data + 1, b.len - 1));
  CHECK(has(&b, "x{\"node\":0,\"uptime_ms\":0,"));
  CHECK(has(&b, ",\"requests\":{},\"errors\":{},\"latency_us\":{}}"));
  buf_free(&b);
}

CASE(json_several_ops) {
  stats_init(&st, 0);
  st.requests[WIRE_HELLO] = 1;
  st.requests[WIRE_PULL] = 9;
  st.requests[WIRE_STATS] = 2;
  stats_hist_add(&st.latency[WIRE_HELLO], 10);
  stats_hist_add(&st.latency[WIRE_PULL], 20); /* bucket [20, 21] */
  stats_hist_add(&st.latency[WIRE_PULL], 40);
  stats_gauges_t g = {.now_ms = 0};
  buf_t b = BUF_INIT;
  CHECK(stats_json(&st, &g, wire_op_name, &b) == 0);
  CHECK(balanced(b.data, b.len));
  CHECK(has(&b, "\"requests\":{\"hello\":1,\"pull\":9,\"stats\":2}"));
  CHECK(has(&b, "\"latency_us\":{\"hello\":{\"count\":1,\"mean\":10,"
                "\"p50\":10,\"p99\":10,\"p999\":10,\"max\":10},"
                "\"pull\":{\"count\":2,\"mean\":30,\"p50\":21,\"p99\":40,"
                "\"p999\":40,\"max\":40}}}"));
  buf_free(&b);
}

CASE(error_names) {
#define CHECK_ERR(name, num, msg)                               \
  CHECK(strcmp(hs_err_name(HS_E##name), #name) == 0);           \
  CHECK(strcmp(hs_err_message(HS_E##name), msg) == 0);          \
  CHECK(HS_E##name == -(num));
  HS_ERRORS(CHECK_ERR)
#undef CHECK_ERR
  CHECK(strcmp(hs_err_name(HS_ENO_TOPIC), "NO_TOPIC") == 0);
  CHECK(strcmp(hs_err_message(HS_ENO_TOPIC), "no such topic") == 0);
  CHECK(strcmp(hs_err_name(0), "OK") == 0);
  CHECK(hs_err_message(0) != NULL);
  CHECK(strcmp(hs_err_name(-999), "UNKNOWN") == 0);
  CHECK(strcmp(hs_err_name(5), "UNKNOWN") == 0); /* positive is not a code */
  CHECK(strcmp(hs_err_name(-19), "UNKNOWN") == 0);
  CHECK(hs_err_message(-999) != NULL && hs_err_message(12345) != NULL);
}

int main(void) {
  RUN(hist_uniform_quantiles);
  RUN(hist_small_values_exact);
  RUN(hist_every_value_within_bound);
  RUN(hist_bimodal);
  RUN(hist_empty_and_max_cap);
  RUN(hist_huge_values);
  RUN(json_contents);
  RUN(json_empty);
  RUN(json_several_ops);
  RUN(error_names);
  UNIT_EXIT();
}
