/* test_place — placement in one place (cube/place.c): copy counts and the
 * D+1 rule, copy sets over the serving members only, the home, identity
 * keys apart from topic keys, the coordinator. */
#include <string.h>

#include "cube/cube.h"
#include "cube/place.h"
#include "hypersub.h"
#include "unit.h"

/* A view of ids 0..n-1, all alive. */
static void full_view(view_t *v, uint32_t n) {
  view_init(v);
  for (uint32_t id = 0; id < n; id++) {
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", 7000 + id);
    view_upsert(v, id, addr, VIEW_ALIVE, 1);
  }
}

CASE(copy_count_is_r_or_the_neighbours_rule) {
  view_t v;
  full_view(&v, 8); /* D = 3 */
  CHECK(place_copy_count(&v, 3) == 3);
  CHECK(place_copy_count(&v, 1) == 1);
  CHECK(place_copy_count(&v, HS_REPLICAS_NEIGHBOURS) == 4);
  CHECK(place_copy_count(&v, 1000) == PLACE_COPIES_MAX);
  view_free(&v);
}

CASE(neighbours_rule_gives_the_home_and_its_cube_neighbours) {
  view_t v;
  full_view(&v, 16); /* a full cube, D = 4 */
  for (int k = 0; k < 50; k++) {
    char topic[16];
    snprintf(topic, sizeof topic, "t%d", k);
    uint32_t ids[PLACE_COPIES_MAX];
    size_t n = place_copies(&v, HS_REPLICAS_NEIGHBOURS, place_topic(topic, strlen(topic)),
                            ids, PLACE_COPIES_MAX);
    CHECK(n == 5);
    for (size_t i = 1; i < n; i++) CHECK(cube_distance(ids[0], ids[i]) == 1);
  }
  view_free(&v);
}

CASE(copies_follow_the_preference_order_over_serving_members) {
  view_t v;
  full_view(&v, 8);
  uint64_t h = place_topic("news", 4);
  uint32_t all[8] = {0, 1, 2, 3, 4, 5, 6, 7}, ids[PLACE_COPIES_MAX];
  cube_prefs(h, 3, all, 8);
  CHECK(place_copies(&v, 3, h, ids, PLACE_COPIES_MAX) == 3);
  CHECK(memcmp(ids, all, 3 * sizeof *ids) == 0);
  CHECK(place_home(&v, 3, h, 99) == all[0]);
  /* The home dies: the next in line is home, the dimension stays. */
  view_set_state(&v, all[0], VIEW_DEAD);
  CHECK(place_copies(&v, 3, h, ids, PLACE_COPIES_MAX) == 3);
  CHECK(ids[0] == all[1] && ids[1] == all[2] && ids[2] == all[3]);
  /* A suspect still serves. */
  view_set_state(&v, all[1], VIEW_SUSPECT);
  CHECK(place_home(&v, 3, h, 99) == all[1]);
  /* cap bounds what is written. */
  CHECK(place_copies(&v, 3, h, ids, 1) == 1 && ids[0] == all[1]);
  view_free(&v);
}

CASE(no_serving_member_has_no_home) {
  view_t v;
  full_view(&v, 2);
  view_set_state(&v, 0, VIEW_DEAD);
  view_set_state(&v, 1, VIEW_LEFT);
  uint32_t ids[4];
  CHECK(place_copies(&v, 3, place_topic("x", 1), ids, 4) == 0);
  CHECK(place_home(&v, 3, place_topic("x", 1), 42) == 42);
  CHECK(place_coordinator(&v, 42) == 42);
  view_free(&v);
}

CASE(identities_hash_apart_from_topics_and_each_other) {
  uint64_t t = place_topic("alice", 5);
  uint64_t p = place_identity(PLACE_PUBLISHER, "alice", 5);
  uint64_t s = place_identity(PLACE_SUBSCRIBER, "alice", 5);
  CHECK(t != p && t != s && p != s);
  /* The identity key is the placement hash of "p:" or "s:" and the id,
   * as the nodes of earlier builds had it. */
  CHECK(p == cube_hash("p:alice", 7));
  CHECK(s == cube_hash("s:alice", 7));
  /* Any length of id works, without a copy of it. */
  char long_id[1000];
  memset(long_id, 'x', sizeof long_id);
  CHECK(place_identity(PLACE_PUBLISHER, long_id, sizeof long_id) != 0);
}

CASE(coordinator_is_the_lowest_serving_id) {
  view_t v;
  full_view(&v, 4);
  CHECK(place_coordinator(&v, 99) == 0);
  view_set_state(&v, 0, VIEW_DEAD);
  CHECK(place_coordinator(&v, 99) == 1);
  view_free(&v);
}

/* Every member that shares a copy set with `id`, by trying every cut hash:
 * the answer place_partners must give, found the slow way. */
static size_t partners_by_hand(const view_t *v, uint32_t replicas, uint32_t id,
                               uint8_t *is) {
  unsigned dim = view_dim(v);
  memset(is, 0, 1u << dim);
  for (uint32_t hd = 0; hd < (1u << dim); hd++) {
    uint32_t ids[PLACE_COPIES_MAX];
    size_t n = place_copies(v, replicas, hd, ids, PLACE_COPIES_MAX);
    if (!place_contains(ids, n, id)) continue;
    for (size_t i = 0; i < n; i++) is[ids[i]] = ids[i] != id;
  }
  size_t count = 0;
  for (uint32_t i = 0; i < (1u << dim); i++) count += is[i];
  return count;
}

/* How many serving members place_partners answers wrongly for. */
static int partners_wrong(const view_t *v, uint32_t replicas) {
  uint8_t is[256];
  int wrong = 0;
  for (size_t i = 0; i < v->n; i++) {
    uint32_t id = v->members[i].id, out[256];
    if (!view_serves(v->members[i].state)) continue;
    size_t want = partners_by_hand(v, replicas, id, is);
    size_t n = place_partners(v, replicas, id, out, 256);
    bool bad = n != want;
    for (size_t k = 0; k < n && k < 256; k++) bad |= !is[out[k]];
    if (bad) printf("# partners of %u: %zu, by hand %zu\n", id, n, want);
    wrong += bad;
  }
  return wrong;
}

CASE(partners_are_the_members_that_share_a_copy_set) {
  view_t v;
  full_view(&v, 32); /* a full cube: R = 3 shares with 3 others */
  CHECK(0 == partners_wrong(&v, 3));
  uint32_t out[32];
  CHECK(place_partners(&v, 3, 0, out, 32) == 3);
  CHECK(0 == partners_wrong(&v, HS_REPLICAS_NEIGHBOURS));
  CHECK(0 == partners_wrong(&v, 1));
  /* holes: members that left, died, or never were */
  view_set_state(&v, 5, VIEW_DEAD);
  view_set_state(&v, 9, VIEW_LEFT);
  view_set_state(&v, 17, VIEW_SUSPECT);
  CHECK(0 == partners_wrong(&v, 3));
  CHECK(0 == partners_wrong(&v, 5));
  view_free(&v);
  full_view(&v, 3); /* sparse: ids 0, 1, 2 and one from far away */
  view_upsert(&v, 200, "127.0.0.1:9", VIEW_ALIVE, 1);
  CHECK(0 == partners_wrong(&v, 2));
  CHECK(0 == partners_wrong(&v, 3));
  view_free(&v);
}

CASE(contains) {
  uint32_t ids[3] = {4, 9, 1};
  CHECK(place_contains(ids, 3, 9));
  CHECK(!place_contains(ids, 3, 2));
  CHECK(!place_contains(ids, 0, 4));
}

int main(void) {
  RUN(copy_count_is_r_or_the_neighbours_rule);
  RUN(neighbours_rule_gives_the_home_and_its_cube_neighbours);
  RUN(copies_follow_the_preference_order_over_serving_members);
  RUN(no_serving_member_has_no_home);
  RUN(identities_hash_apart_from_topics_and_each_other);
  RUN(coordinator_is_the_lowest_serving_id);
  RUN(partners_are_the_members_that_share_a_copy_set);
  RUN(contains);
  UNIT_EXIT();
}
