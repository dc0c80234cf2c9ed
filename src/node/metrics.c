/* metrics — the node in the Prometheus text exposition format (0.0.4):
 * counters (*_total), gauges, latency histograms in seconds, per-topic
 * replica lag; names hypersub_*, labels op, code, state, topic, replica. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "node/node.h"

/* Histogram bounds, µs: 50 µs .. 10 s. */
static const uint64_t bounds_us[] = {50,     100,    250,     500,    1000,
                                     2500,   5000,   10000,   25000,  50000,
                                     100000, 250000, 500000,  1000000,
                                     2500000, 5000000, 10000000};
#define N_BOUNDS (sizeof bounds_us / sizeof bounds_us[0])

static void printf_to(buf_t *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void printf_to(buf_t *out, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n > 0) buf_append(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* # HELP and # TYPE of a family. */
static void family(buf_t *out, const char *name, const char *type,
                   const char *help) {
  printf_to(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(buf_t *out, const char *name, const char *help, uint64_t v) {
  family(out, name, "gauge", help);
  printf_to(out, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value, escaped as the format asks (\\, \", \n). */
static void label_value(buf_t *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch == '\\' || ch == '"') buf_append(out, "\\", 1);
    if (ch == '\n') {
      buf_append(out, "\\n", 2);
      continue;
    }
    buf_append(out, &ch, 1);
  }
}

/* The counters of STATS_COUNTERS, each hypersub_<name>_total; byte
 * counters get the unit at the end of the name. */
static void counters(buf_t *out, const stats_t *s, uint64_t open_in,
                     uint64_t open_out) {
  static const struct {
    const char *counter, *metric;
  } renamed[] = {{"bytes_in", "hypersub_received_bytes_total"},
                 {"bytes_out", "hypersub_sent_bytes_total"}};
#define COUNTER(name, what)                                                  \
  {                                                                          \
    char metric[96];                                                         \
    snprintf(metric, sizeof metric, "hypersub_%s_total", #name);             \
    for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)          \
      if (!strcmp(renamed[i].counter, #name))                                \
        snprintf(metric, sizeof metric, "%s", renamed[i].metric);            \
    uint64_t v = s->name;                                                    \
    if (!strcmp(#name, "bytes_in")) v += open_in;                            \
    if (!strcmp(#name, "bytes_out")) v += open_out;                          \
    family(out, metric, "counter", what);                                    \
    printf_to(out, "%s %llu\n", metric, (unsigned long long)v);              \
  }
  STATS_COUNTERS(COUNTER)
#undef COUNTER
}

static void requests(buf_t *out, const stats_t *s) {
  family(out, "hypersub_requests_total", "counter",
         "requests served by this node, by op");
  for (int op = 0; op < STATS_OPS; op++) {
    const char *name = wire_op_name(op);
    if (name && s->requests[op])
      printf_to(out, "hypersub_requests_total{op=\"%s\"} %llu\n", name,
                (unsigned long long)s->requests[op]);
  }
  family(out, "hypersub_errors_total", "counter",
         "error answers given by this node, by code");
  for (int i = 1; i < STATS_ERRORS; i++) {
    const char *name = hs_err_name(-i);
    if (s->errors[i] && strcmp(name, "UNKNOWN"))
      printf_to(out, "hypersub_errors_total{code=\"%s\"} %llu\n", name,
                (unsigned long long)s->errors[i]);
  }
  family(out, "hypersub_request_duration_seconds", "histogram",
         "time from a request's arrival to its answer, by op");
  for (int op = 0; op < STATS_OPS; op++) {
    const char *name = wire_op_name(op);
    const stats_hist_t *h = &s->latency[op];
    if (!name || !h->count) continue;
    for (size_t b = 0; b < N_BOUNDS; b++)
      printf_to(out,
                "hypersub_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} "
                "%llu\n",
                name, (double)bounds_us[b] / 1e6,
                (unsigned long long)stats_hist_below(h, bounds_us[b]));
    printf_to(out,
              "hypersub_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} "
              "%llu\n",
              name, (unsigned long long)h->count);
    printf_to(out, "hypersub_request_duration_seconds_sum{op=\"%s\"} %.6f\n",
              name, (double)h->sum_us / 1e6);
    printf_to(out, "hypersub_request_duration_seconds_count{op=\"%s\"} %llu\n",
              name, (unsigned long long)h->count);
  }
}

static void membership(buf_t *out, hs_node_t *node) {
  const view_t *v = &node->cluster.view;
  gauge(out, "hypersub_view_epoch", "the epoch of this node's view", v->epoch);
  gauge(out, "hypersub_cube_dimension", "the cube's dimension in this view",
        view_dim(v));
  family(out, "hypersub_members", "gauge", "members of the view, by state");
  static const view_state_t states[] = {VIEW_ALIVE, VIEW_SUSPECT, VIEW_DEAD,
                                        VIEW_LEFT};
  for (size_t k = 0; k < sizeof states / sizeof states[0]; k++) {
    uint64_t n = 0;
    for (size_t i = 0; i < v->n; i++) n += v->members[i].state == states[k];
    printf_to(out, "hypersub_members{state=\"%s\"} %llu\n",
              cluster_state_name(states[k]), (unsigned long long)n);
  }
  gauge(out, "hypersub_peer_links",
        "members this node holds a connection with, either way",
        node_peer_links(node));
  gauge(out, "hypersub_quorum", "1 while this node sees a majority alive",
        !node->cluster.quorum_lost);
  gauge(out, "hypersub_catching_up", "1 while this node fetches its topics",
        node->member.catching_up);
  const char *why;
  gauge(out, "hypersub_ready", "1 when /readyz answers 200",
        facts_ready(node, &why));
}

/* Each replica of each topic homed here. */
static void lags(buf_t *out, hs_node_t *node) {
  static const char *const names[2] = {"hypersub_topic_replica_lag_records",
                                       "hypersub_topic_replica_lag_seconds"};
  static const char *const helps[2] = {
      "records a topic's home holds that the replica has not acknowledged",
      "age of the oldest record the replica has not acknowledged"};
  uint64_t now = log_now_ms();
  repl_lag_t lag[32];
  for (int which = 0; which < 2; which++) {
    family(out, names[which], "gauge", helps[which]);
    void *v;
    for (size_t i = 0; map_next(&node->store.topics, &i, NULL, NULL, &v);) {
      store_topic_t *t = v;
      size_t n = repl_lags(t, now, lag, 32);
      for (size_t k = 0; k < n; k++) {
        printf_to(out, "%s{topic=\"", names[which]);
        label_value(out, t->name, t->name_len);
        if (which == 0)
          printf_to(out, "\",replica=\"%u\"} %llu\n", lag[k].replica,
                    (unsigned long long)lag[k].records);
        else
          printf_to(out, "\",replica=\"%u\"} %.3f\n", lag[k].replica,
                    (double)lag[k].ms / 1e3);
      }
    }
  }
}

void metrics_write(hs_node_t *node, buf_t *out) {
  const stats_t *s = &node->stats;
  printf_to(out,
            "# HELP hypersub_info the node: its id, cluster and version\n"
            "# TYPE hypersub_info gauge\n"
            "hypersub_info{node=\"%u\",cluster=\"",
            node_self(node));
  label_value(out, node->cluster_name, strlen(node->cluster_name));
  printf_to(out, "\",version=\"%s\"} 1\n", HS_VERSION);
  uint64_t now = log_now_ms();
  gauge(out, "hypersub_uptime_seconds", "seconds since the node started",
        now > s->started_ms ? (now - s->started_ms) / 1000 : 0);
  requests(out, s);
  /* Connections still open have not added their byte counts yet. */
  uint64_t open_in = 0, open_out = 0;
  for (node_conn_t *nc = node->conns; nc; nc = nc->next) {
    open_in += nc->conn.bytes_in;
    open_out += nc->conn.bytes_out;
  }
  counters(out, s, open_in, open_out);
  gauge(out, "hypersub_connections", "connections open now", node->n_conns);
  gauge(out, "hypersub_long_polls_parked", "pulls parked waiting for records",
        node->n_waiting);
  gauge(out, "hypersub_topics", "topics this node holds a copy of",
        node->store.topics.count);
  gauge(out, "hypersub_publishers", "publishers registered here",
        node->store.publishers.count);
  gauge(out, "hypersub_subscribers", "subscribers registered here",
        node->store.subscribers.count);
  gauge(out, "hypersub_stored_messages", "messages retained here",
        node->store.messages);
  gauge(out, "hypersub_stored_bytes", "payload bytes retained here",
        node->store.bytes);
  facts_t f;
  facts_of(node, &f);
  gauge(out, "hypersub_topics_homed", "topics this node is the home of",
        f.topics_homed);
  gauge(out, "hypersub_topics_replicated", "topics this node holds a replica of",
        f.topics_replicated);
  gauge(out, "hypersub_topics_under_replicated",
        "topics homed here with fewer streaming replicas than the copy set wants",
        f.under_replicated);
  membership(out, node);
  lags(out, node);
}
