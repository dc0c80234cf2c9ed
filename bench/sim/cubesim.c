/* bench/sim/cubesim.c — one cluster size in simulation (src/cluster/simnet.h):
 * the node's own view, placement, failure detection and spreading code,
 * many members in this one process over an in-process transport on a
 * virtual clock. For N members (ids 0..N-1) it measures, and prints as
 * one line "RESULT {json}":
 *   - at idle (a window after everyone heard from its neighbours): the
 *     members each exchanged a message with (the links it needs), and
 *     messages and bytes per member per second;
 *   - a join, a leave and a crash: messages, repairs, steps (hops of the
 *     spread) and time until every member holds the same view; for the
 *     crash, the time until its first watcher declares it dead;
 *   - the hops of a request routed along the cube from a random member
 *     to a random key's home (the node's next-hop code), after the crash;
 *   - the bytes of membership state per member.
 *
 *   hs-cubesim --nodes N [--latency-us 100] [--heartbeat-ms 100]
 *              [--suspect-ms 500] [--dead-ms 1000] [--idle-ms 2000]
 *              [--routes 20000] [--seed 1] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../loadgen/common.h"
#include "cluster/simnet.h"
#include "cube/cube.h"
#include "cube/place.h"

#define MS 1000ull

typedef struct change {
  double ms;
  unsigned steps;
  uint64_t msgs, repairs;
  int converged;
} change_t;

static uint32_t n_nodes;

static uint64_t sum(simnet_t *s, size_t field_off) {
  uint64_t total = 0;
  for (uint32_t id = 0; id <= n_nodes; id++) {
    stats_t *st = simnet_stats(s, id);
    if (st) total += *(uint64_t *)((char *)st + field_off);
  }
  return total;
}
#define SUM(s, f) sum((s), offsetof(stats_t, f))

/* Runs until one view everywhere (at most 10 s of the clock). */
static change_t measure(simnet_t *s, uint64_t t0, uint64_t msgs0,
                        uint64_t rep0) {
  change_t c = {0};
  c.converged = simnet_run_until_converged(s, 10000 * MS);
  c.ms = (double)(simnet_now_us(s) - t0) / 1000.0;
  for (uint32_t id = 0; id <= n_nodes; id++) {
    spread_t *sp = simnet_spread(s, id);
    if (sp && simnet_cluster(s, id) && sp->last_hops > c.steps &&
        sp->changed_ms * MS >= t0 - MS)
      c.steps = sp->last_hops;
  }
  c.msgs = SUM(s, view_messages_sent) - msgs0;
  c.repairs = SUM(s, view_repairs) - rep0;
  return c;
}

static void print_change(const char *name, const change_t *c) {
  printf("\"%s\":{\"ms\":%.3f,\"steps\":%u,\"messages\":%llu,"
         "\"repairs\":%llu,\"converged\":%s},",
         name, c->ms, c->steps, (unsigned long long)c->msgs,
         (unsigned long long)c->repairs, c->converged ? "true" : "false");
}

/* Whether any running member holds `id` dead. */
static bool seen_dead(simnet_t *s, uint32_t id) {
  for (uint32_t b = 0; b < 31 && (1u << b) <= n_nodes; b++) {
    cluster_t *c = simnet_cluster(s, id ^ (1u << b));
    const view_member_t *m = c ? view_find(&c->view, id) : NULL;
    if (m && m->state == VIEW_DEAD) return true;
  }
  return false;
}

/* Mean and max hops of requests from random members to random keys'
 * homes, routed the node's way. */
static void routes(simnet_t *s, long count, double *mean, unsigned *max) {
  cluster_t *c = simnet_cluster(s, 1);
  const view_t *v = &c->view;
  unsigned dim = view_dim(v);
  uint64_t x = 88172645463325252ull, total = 0;
  long done = 0;
  *max = 0;
  for (long i = 0; i < count; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint32_t at = (uint32_t)(x % n_nodes);
    if (!cluster_alive(c, at)) continue;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint32_t home = place_home(v, c->replicas, x, at), from = UINT32_MAX;
    unsigned hops = 0;
    while (at != home && hops < 64) {
      uint32_t next = cube_next_hop(at, home, dim, from, view_is_alive,
                                    (void *)v);
      if (next == UINT32_MAX) break;
      from = at, at = next, hops++;
    }
    total += hops;
    done++;
    if (hops > *max) *max = hops;
  }
  *mean = done ? (double)total / (double)done : 0;
}

int main(int argc, char **argv) {
  double t_start = now_us();
  n_nodes = (uint32_t)flag_int(argc, argv, "--nodes", 64);
  uint64_t idle_ms = (uint64_t)flag_int(argc, argv, "--idle-ms", 2000);
  simnet_config_t cfg = {
      .heartbeat_ms = (uint32_t)flag_int(argc, argv, "--heartbeat-ms", 100),
      .suspect_ms = (uint32_t)flag_int(argc, argv, "--suspect-ms", 500),
      .dead_ms = (uint32_t)flag_int(argc, argv, "--dead-ms", 1000),
      .replicas = 3,
      .latency_us = (uint32_t)flag_int(argc, argv, "--latency-us", 100),
      .timeout_ms = 5000,
      .seed = (uint64_t)flag_int(argc, argv, "--seed", 1)};
  simnet_t *s = simnet_new(&cfg);
  uint32_t *ids = malloc(n_nodes * sizeof *ids);
  for (uint32_t i = 0; i < n_nodes; i++) ids[i] = i;
  if (!s || !ids || simnet_start(s, ids, n_nodes)) {
    fprintf(stderr, "hs-cubesim: could not start %u members\n", n_nodes);
    return 1;
  }
  simnet_run(s, 1500 * MS); /* everyone heard from its neighbours */

  /* idle */
  uint64_t m0 = 0, b0 = 0, m1 = 0, b1 = 0, mem = 0;
  for (uint32_t id = 0; id < n_nodes; id++)
    m0 += simnet_traffic(s, id)->messages, b0 += simnet_traffic(s, id)->bytes;
  simnet_run(s, idle_ms * MS);
  size_t links_max = 0, links_sum = 0;
  for (uint32_t id = 0; id < n_nodes; id++) {
    m1 += simnet_traffic(s, id)->messages, b1 += simnet_traffic(s, id)->bytes;
    size_t l = simnet_links(s, id, idle_ms * MS);
    links_sum += l;
    if (l > links_max) links_max = l;
    mem += simnet_member_bytes(s, id);
  }
  double per = (double)n_nodes * (double)idle_ms / 1000.0;
  printf("RESULT {\"nodes\":%u,\"latency_us\":%u,\"links_mean\":%.2f,"
         "\"links_max\":%zu,\"idle_msgs\":%.1f,\"idle_bytes\":%.1f,"
         "\"mem_bytes\":%.0f,",
         n_nodes, cfg.latency_us, (double)links_sum / n_nodes, links_max,
         (double)(m1 - m0) / per, (double)(b1 - b0) / per,
         (double)mem / n_nodes);

  /* a join (the id after the last: the cube may grow a dimension) */
  uint64_t t0 = simnet_now_us(s), msgs0 = SUM(s, view_messages_sent),
           rep0 = SUM(s, view_repairs);
  simnet_join(s, n_nodes);
  change_t c = measure(s, t0, msgs0, rep0);
  print_change("join", &c);
  simnet_run(s, 1000 * MS);

  /* a leave */
  t0 = simnet_now_us(s), msgs0 = SUM(s, view_messages_sent),
  rep0 = SUM(s, view_repairs);
  simnet_leave(s, n_nodes / 2 + 1);
  c = measure(s, t0, msgs0, rep0);
  print_change("leave", &c);
  simnet_run(s, 1000 * MS);

  /* a crash: its port refuses from now on */
  uint32_t victim = n_nodes / 4 + 3;
  t0 = simnet_now_us(s), msgs0 = SUM(s, view_messages_sent),
  rep0 = SUM(s, view_repairs);
  simnet_crash(s, victim);
  while (!seen_dead(s, victim) && simnet_now_us(s) - t0 < 10000 * MS)
    simnet_run(s, 100);
  double detect = (double)(simnet_now_us(s) - t0) / 1000.0;
  c = measure(s, t0, msgs0, rep0);
  printf("\"detect_ms\":%.1f,", detect);
  print_change("crash", &c);

  double mean;
  unsigned max;
  routes(s, flag_int(argc, argv, "--routes", 20000), &mean, &max);
  printf("\"hops_mean\":%.3f,\"hops_max\":%u,\"run_s\":%.2f}\n", mean, max,
         (now_us() - t_start) / 1e6);
  fflush(stdout);
  simnet_free(s);
  free(ids);
  return 0;
}
