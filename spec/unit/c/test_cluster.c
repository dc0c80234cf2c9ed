/* test_cluster — the view this node holds and who hears of its changes
 * (cluster/cluster.c): listeners fire in the order they were registered,
 * with the view before, who told us, whether the decision was ours and
 * whether placement moved; merges that change nothing fire nothing;
 * losing a majority fences through the hook; being told we are dead gets
 * a refutation, a fence and a rejoin. No sockets, no loop. */
#include <stdio.h>
#include <string.h>

#include "cluster/cluster.h"
#include "hypersub.h"
#include "unit.h"

typedef struct heard {
  char order[64]; /* listener letters, in the order they ran */
  size_t n;
  uint32_t from;
  bool ours, moved;
  uint64_t old_epoch;
  int fenced, rejoined;
} heard_t;

static heard_t H;

static void note(char who, const cluster_change_t *c) {
  if (H.n + 1 < sizeof H.order) H.order[H.n++] = who;
  H.order[H.n] = 0;
  H.from = c->from;
  H.ours = c->ours;
  H.moved = c->placement_moved;
  H.old_epoch = c->old->epoch;
}
static void listener_a(void *ud, const cluster_change_t *c) { (void)ud; note('a', c); }
static void listener_b(void *ud, const cluster_change_t *c) { (void)ud; note('b', c); }
static void listener_c(void *ud, const cluster_change_t *c) { (void)ud; note('c', c); }
static void on_fenced(void *ud, const char *why) {
  (void)ud;
  (void)why;
  H.fenced++;
}
static void on_rejoined(void *ud) {
  (void)ud;
  H.rejoined++;
}

static log_t lg;
static stats_t st;

/* Node 0 of a cluster of n configured members. */
static void start(cluster_t *c, uint32_t n) {
  hs_node_config_t cfg;
  hs_peer_t peers[8];
  char addrs[8][32];
  hs_node_config_init(&cfg);
  for (uint32_t i = 1; i < n; i++) {
    snprintf(addrs[i], sizeof addrs[i], "127.0.0.1:%u", 7000 + i);
    peers[i - 1] = (hs_peer_t){i, addrs[i]};
  }
  cfg.peers = peers;
  cfg.n_peers = n - 1;
  log_init(&lg, 0);
  lg.level = HS_LOG_OFF;
  memset(&st, 0, sizeof st);
  memset(&H, 0, sizeof H);
  cluster_init(c, &cfg, "127.0.0.1", &lg, &st);
  c->hooks = (cluster_hooks_t){on_fenced, on_rejoined, NULL};
}

CASE(listeners_fire_in_registration_order) {
  cluster_t c;
  start(&c, 4);
  CHECK(cluster_listen(&c, listener_b, NULL) == 0);
  CHECK(cluster_listen(&c, listener_a, NULL) == 0);
  CHECK(cluster_listen(&c, listener_c, NULL) == 0);
  uint64_t before = c.view.epoch;
  cluster_set_state(&c, 2, VIEW_SUSPECT);
  CHECK(strcmp(H.order, "bac") == 0);
  CHECK(H.from == 0 && H.ours);
  CHECK(!H.moved); /* a suspect still serves */
  CHECK(H.old_epoch == before);
  cluster_set_state(&c, 2, VIEW_DEAD);
  CHECK(strcmp(H.order, "bacbac") == 0);
  CHECK(H.moved && st.failovers == 1);
  cluster_free(&c);
}

CASE(a_full_table_of_listeners_is_refused) {
  cluster_t c;
  start(&c, 2);
  for (int i = 0; i < CLUSTER_LISTENERS_MAX; i++)
    CHECK(cluster_listen(&c, listener_a, NULL) == 0);
  CHECK(cluster_listen(&c, listener_a, NULL) == HS_ENOMEM);
  cluster_free(&c);
}

CASE(merges_fire_with_who_told_us_and_only_on_change) {
  cluster_t c, peer;
  start(&peer, 4);
  cluster_set_state(&peer, 3, VIEW_DEAD); /* the peer knows 3 is dead */
  start(&c, 4);
  cluster_listen(&c, listener_a, NULL);
  CHECK(cluster_merge(&c, &peer.view, 1) == 1);
  CHECK(strcmp(H.order, "a") == 0 && H.from == 1 && !H.ours && H.moved);
  CHECK(cluster_merge(&c, &peer.view, 1) == 0); /* nothing new */
  CHECK(strcmp(H.order, "a") == 0);
  cluster_free(&c);
  cluster_free(&peer);
}

CASE(losing_a_majority_fences_once) {
  cluster_t c;
  start(&c, 5);
  cluster_listen(&c, cluster_quorum_listener, &c);
  cluster_set_state(&c, 1, VIEW_DEAD);
  cluster_set_state(&c, 2, VIEW_DEAD);
  CHECK(!c.quorum_lost && H.fenced == 0); /* 3 of 5 still alive */
  cluster_set_state(&c, 3, VIEW_DEAD);
  CHECK(c.quorum_lost && H.fenced == 1);
  cluster_set_state(&c, 4, VIEW_DEAD);
  CHECK(H.fenced == 1); /* lost already */
  cluster_set_state(&c, 3, VIEW_ALIVE);
  cluster_set_state(&c, 4, VIEW_ALIVE);
  CHECK(!c.quorum_lost);
  cluster_free(&c);
}

CASE(told_we_are_dead_we_refute_fence_and_rejoin) {
  cluster_t c, peer;
  start(&peer, 3);
  cluster_set_state(&peer, 0, VIEW_DEAD); /* the peer declared us dead */
  start(&c, 3);
  cluster_listen(&c, listener_a, NULL);
  CHECK(cluster_merge(&c, &peer.view, 2) > 0);
  const view_member_t *me = view_find(&c.view, 0);
  CHECK(me->state == VIEW_ALIVE && me->version == 3); /* above the peer's */
  CHECK(H.fenced == 1 && H.rejoined == 1);
  CHECK(H.ours); /* the refutation is a decision to spread */
  cluster_free(&c);
  cluster_free(&peer);
}

CASE(a_leaving_node_does_not_refute) {
  cluster_t c, peer;
  start(&peer, 3);
  cluster_set_state(&peer, 0, VIEW_DEAD);
  start(&c, 3);
  cluster_leave(&c);
  CHECK(view_find(&c.view, 0)->state == VIEW_LEFT);
  cluster_merge(&c, &peer.view, 2);
  CHECK(view_find(&c.view, 0)->state == VIEW_LEFT && H.fenced == 0);
  cluster_free(&c);
  cluster_free(&peer);
}

int main(void) {
  RUN(listeners_fire_in_registration_order);
  RUN(a_full_table_of_listeners_is_refused);
  RUN(merges_fire_with_who_told_us_and_only_on_change);
  RUN(losing_a_majority_fences_once);
  RUN(told_we_are_dead_we_refute_fence_and_rejoin);
  RUN(a_leaving_node_does_not_refute);
  UNIT_EXIT();
}
