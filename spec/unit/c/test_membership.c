/* test_membership — membership over the in-process transport (simnet):
 * a change reaches every member along the cube in N-1 messages and at
 * most D steps, detours around the dead, a killed member is found and
 * declared dead by one watcher, a broken direction of one link does not
 * kill a healthy member while indirect probes reach it, a hung member is
 * declared dead all the same, and idle members talk only to their cube
 * neighbours. The same code as a node's, on a virtual clock. */
#include <string.h>

#include "cluster/simnet.h"
#include "cube/cube.h"
#include "hypersub.h"
#include "unit.h"

#define MS 1000ull

static simnet_t *cube(uint32_t n) {
  simnet_config_t cfg = {.heartbeat_ms = 100, .suspect_ms = 500,
                         .dead_ms = 1000, .replicas = 3, .latency_us = 100,
                         .timeout_ms = 5000, .seed = 7};
  simnet_t *s = simnet_new(&cfg);
  uint32_t ids[256];
  for (uint32_t i = 0; i < n; i++) ids[i] = i;
  simnet_start(s, ids, n);
  simnet_run(s, 1500 * MS); /* everyone heard from its neighbours */
  return s;
}

/* Sums a counter over members 0..n-1 (crashed ones too). */
#define SUM(s, n, field)                                       \
  ({                                                           \
    uint64_t sum_ = 0;                                         \
    for (uint32_t i_ = 0; i_ < (n); i_++)                      \
      if (simnet_stats((s), i_)) sum_ += simnet_stats((s), i_)->field; \
    sum_;                                                      \
  })

static view_state_t state_at(simnet_t *s, uint32_t at, uint32_t of) {
  const view_member_t *m = view_find(&simnet_cluster(s, at)->view, of);
  return m ? m->state : 0;
}

CASE(idle_members_talk_only_to_their_neighbours) {
  simnet_t *s = cube(64);
  CHECK(simnet_converged(s));
  simnet_run(s, 2000 * MS);
  for (uint32_t id = 0; id < 64; id++) CHECK(simnet_links(s, id, 1000 * MS) == 6);
  CHECK(SUM(s, 64, view_messages_sent) == 0);
  CHECK(SUM(s, 64, view_repairs) == 0);
  simnet_free(s);
}

CASE(a_join_reaches_everyone_in_n_minus_1_messages_and_d_steps) {
  simnet_t *s = cube(32);
  uint64_t sent = SUM(s, 32, view_messages_sent);
  CHECK(simnet_join(s, 32) == 0);
  CHECK(simnet_run_until_converged(s, 2000 * MS));
  /* 33 members: the coordinator sends, 32 get it once each (the new one
   * refuses it while joining: its view comes in its JOIN's answer) */
  CHECK(SUM(s, 33, view_messages_sent) - sent == 32);
  CHECK(SUM(s, 33, view_messages_received) == 31);
  CHECK(SUM(s, 33, view_repairs) == 0);
  unsigned steps = 0;
  for (uint32_t id = 1; id < 33; id++)
    if (simnet_spread(s, id)->last_hops > steps)
      steps = simnet_spread(s, id)->last_hops;
  CHECK(steps >= 5 && steps <= 6);
  simnet_free(s);
}

CASE(a_kill_is_one_decision_spread_around_the_dead) {
  simnet_t *s = cube(32);
  uint64_t t0 = simnet_now_us(s);
  simnet_crash(s, 0); /* the root of everyone's lowest dimension */
  simnet_run(s, 1000 * MS);
  CHECK(simnet_converged(s));
  for (uint32_t id = 1; id < 32; id++) CHECK(state_at(s, id, 0) == VIEW_DEAD);
  /* one watcher decided: 30 others heard, once each */
  CHECK(SUM(s, 32, failures) == 1);
  CHECK(SUM(s, 32, view_messages_sent) == 30);
  CHECK(SUM(s, 32, view_repairs) == 0);
  /* found within two heartbeats of its port closing */
  uint64_t first = UINT64_MAX;
  for (uint32_t id = 1; id < 32; id++)
    if (simnet_spread(s, id)->changed_ms * MS < first)
      first = simnet_spread(s, id)->changed_ms * MS;
  CHECK(first - t0 <= 300 * MS);
  /* a change after it detours around the dead member */
  CHECK(simnet_join(s, 32) == 0);
  CHECK(simnet_run_until_converged(s, 2000 * MS));
  CHECK(state_at(s, 5, 32) == VIEW_ALIVE);
  simnet_free(s);
}

CASE(a_broken_direction_of_one_link_kills_nobody) {
  simnet_t *s = cube(16);
  simnet_cut(s, 0, 1, true); /* 0 no longer reaches 1, 1 still reaches 0 */
  simnet_run(s, 5000 * MS);
  CHECK(simnet_converged(s));
  for (uint32_t id = 0; id < 16; id++) {
    CHECK(state_at(s, id, 1) == VIEW_ALIVE);
    CHECK(state_at(s, id, 0) == VIEW_ALIVE);
  }
  CHECK(SUM(s, 16, failures) == 0);
  CHECK(simnet_stats(s, 0)->probes_sent > 0);
  CHECK(simnet_stats(s, 0)->probes_confirmed > 0);
  simnet_cut(s, 0, 1, false);
  simnet_free(s);
}

CASE(a_hung_member_is_suspected_then_dead) {
  simnet_t *s = cube(16);
  simnet_hang(s, 6, true);
  simnet_run(s, 2500 * MS);
  CHECK(simnet_converged(s));
  for (uint32_t id = 0; id < 16; id++)
    if (id != 6) CHECK(state_at(s, id, 6) == VIEW_DEAD);
  CHECK(SUM(s, 16, failures) == 1);
  /* it comes back: its watchers ping it, it refutes */
  simnet_hang(s, 6, false);
  CHECK(simnet_run_until_converged(s, 3000 * MS) || simnet_converged(s));
  simnet_run(s, 3000 * MS);
  CHECK(simnet_converged(s));
  CHECK(state_at(s, 0, 6) == VIEW_ALIVE);
  simnet_free(s);
}

CASE(a_leave_reaches_everyone_and_the_tree_keeps_its_shape) {
  simnet_t *s = cube(32);
  uint64_t sent = SUM(s, 32, view_messages_sent);
  simnet_leave(s, 31); /* the largest: the dimension shrinks */
  CHECK(simnet_run_until_converged(s, 1000 * MS));
  CHECK(SUM(s, 32, view_messages_sent) - sent == 31);
  CHECK(state_at(s, 0, 31) == VIEW_LEFT);
  simnet_free(s);
}

int main(void) {
  RUN(idle_members_talk_only_to_their_neighbours);
  RUN(a_join_reaches_everyone_in_n_minus_1_messages_and_d_steps);
  RUN(a_kill_is_one_decision_spread_around_the_dead);
  RUN(a_broken_direction_of_one_link_kills_nobody);
  RUN(a_hung_member_is_suspected_then_dead);
  RUN(a_leave_reaches_everyone_and_the_tree_keeps_its_shape);
  UNIT_EXIT();
}
