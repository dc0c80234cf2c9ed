/* The membership view: the merge rule, the epoch, placement over live
 * members and the encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cube/cube.h"
#include "hypersub.h"
#include "unit.h"
#include "cube/view.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) { /* xorshift64*, fixed seed */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

/* Sorted, unique, epoch = sum of versions: the invariants of every view. */
static bool view_ok(const view_t *v) {
  uint64_t sum = 0;
  for (size_t i = 0; i < v->n; i++) {
    if (i > 0 && v->members[i - 1].id >= v->members[i].id) return false;
    sum += v->members[i].version;
  }
  return sum == v->epoch && v->n <= v->cap;
}

static bool views_equal(const view_t *a, const view_t *b) {
  if (a->n != b->n || a->epoch != b->epoch) return false;
  for (size_t i = 0; i < a->n; i++) {
    const view_member_t *x = &a->members[i], *y = &b->members[i];
    if (x->id != y->id || x->state != y->state || x->version != y->version ||
        strcmp(x->addr, y->addr) != 0)
      return false;
  }
  return true;
}

/* A random view over ids 0..15: small versions and few addrs, so equal
 * versions, equal states and differing addrs all happen. */
static void random_view(view_t *v) {
  view_init(v);
  for (uint32_t id = 0; id < 16; id++) {
    if (rnd(3) == 0) continue;
    char addr[32];
    snprintf(addr, sizeof addr, "10.0.0.%u:%u", id, 7000 + rnd(2));
    int rc = view_upsert(v, id, addr, (view_state_t)(1 + rnd(4)), rnd(4));
    if (rc != 1) abort();
  }
}

/* Hand-built encodings, independent of view_encode. */
typedef struct {
  uint32_t id;
  uint8_t state;
  uint64_t version;
  const char *addr;
} raw_member_t;

static void raw_encode(buf_t *b, uint64_t epoch, uint32_t count,
                       const raw_member_t *m, size_t n) {
  buf_append(b, &epoch, 8);
  buf_append(b, &count, 4);
  for (size_t i = 0; i < n; i++) {
    uint8_t len = (uint8_t)strlen(m[i].addr);
    buf_append(b, &m[i].id, 4);
    buf_append(b, &m[i].state, 1);
    buf_append(b, &m[i].version, 8);
    buf_append(b, &len, 1);
    buf_append(b, m[i].addr, len);
  }
}

/* ---- the merge rule ----------------------------------------------------- */

CASE(upsert_adds_replaces_and_ignores_older) {
  static const struct {
    uint32_t id;
    const char *addr;
    view_state_t state;
    uint64_t version;
    int rc;               /* what upsert returns */
    view_state_t state_after;
    uint64_t version_after;
    const char *addr_after;
    size_t n_after;
  } ops[] = {
      {5, "10.0.0.1:1", VIEW_ALIVE, 1, 1, VIEW_ALIVE, 1, "10.0.0.1:1", 1},     /* add */
      {5, "10.0.0.1:1", VIEW_ALIVE, 1, 0, VIEW_ALIVE, 1, "10.0.0.1:1", 1},     /* same */
      {5, "10.0.0.2:2", VIEW_ALIVE, 0, 0, VIEW_ALIVE, 1, "10.0.0.1:1", 1},     /* older */
      {5, "10.0.0.2:2", VIEW_LEFT, 0, 0, VIEW_ALIVE, 1, "10.0.0.1:1", 1},      /* older, final */
      {5, "10.0.0.2:2", VIEW_ALIVE, 3, 1, VIEW_ALIVE, 3, "10.0.0.2:2", 1},     /* newer: addr moves */
      {5, "10.0.0.3:3", VIEW_DEAD, 3, 1, VIEW_DEAD, 3, "10.0.0.3:3", 1},       /* equal, more final */
      {5, "10.0.0.4:4", VIEW_SUSPECT, 3, 0, VIEW_DEAD, 3, "10.0.0.3:3", 1},    /* equal, less final */
      {5, "10.0.0.4:4", VIEW_ALIVE, 4, 1, VIEW_ALIVE, 4, "10.0.0.4:4", 1},     /* revived */
      {1, "10.0.0.5:5", VIEW_SUSPECT, 0, 1, VIEW_SUSPECT, 0, "10.0.0.5:5", 2}, /* insert before */
      {9, "10.0.0.6:6", VIEW_ALIVE, 7, 1, VIEW_ALIVE, 7, "10.0.0.6:6", 3},     /* insert after */
      {3, "10.0.0.7:7", VIEW_ALIVE, 2, 1, VIEW_ALIVE, 2, "10.0.0.7:7", 4},     /* insert between */
  };
  view_t v;
  view_init(&v);
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    int rc = view_upsert(&v, ops[i].id, ops[i].addr, ops[i].state,
                         ops[i].version);
    CHECK(rc == ops[i].rc);
    const view_member_t *m = view_find(&v, ops[i].id);
    CHECK(m != NULL);
    if (!m) break;
    CHECK(m->state == ops[i].state_after);
    CHECK(m->version == ops[i].version_after);
    CHECK(strcmp(m->addr, ops[i].addr_after) == 0);
    CHECK(v.n == ops[i].n_after);
    CHECK(view_ok(&v));
  }
  CHECK(view_find(&v, 0) == NULL);
  CHECK(view_find(&v, 4) == NULL);
  CHECK(view_find(&v, 10) == NULL);
  CHECK(v.epoch == 4 + 0 + 7 + 2);
  view_free(&v);
  CHECK(v.members == NULL && v.n == 0 && v.epoch == 0);
}

CASE(upsert_rejects_bad_arguments) {
  char long_addr[VIEW_ADDR_MAX + 2];
  memset(long_addr, 'x', sizeof long_addr - 1);
  long_addr[sizeof long_addr - 1] = '\0'; /* 64 bytes */
  char max_addr[VIEW_ADDR_MAX + 1]; /* 63 bytes: 10.0.0.1:000...01 */
  memset(max_addr, '0', sizeof max_addr - 1);
  memcpy(max_addr, "10.0.0.1:", 9);
  max_addr[sizeof max_addr - 2] = '1';
  max_addr[sizeof max_addr - 1] = '\0';
  const struct {
    uint32_t id;
    const char *addr;
    int state;
    int rc;
  } v[] = {
      {1, NULL, VIEW_ALIVE, HS_EINVALID},
      {1, "", VIEW_ALIVE, HS_EINVALID},
      {1, long_addr, VIEW_ALIVE, HS_EINVALID},
      {1, "zz", VIEW_ALIVE, HS_EINVALID},       /* not host:port */
      {1, "1\":1", VIEW_ALIVE, HS_EINVALID},    /* not an IP */
      {1, "10.0.0.1:65536", VIEW_ALIVE, HS_EINVALID},
      {1, "10.0.0.1:1", 0, HS_EINVALID},
      {1, "10.0.0.1:1", 5, HS_EINVALID},
      {1u << CUBE_MAX_DIM, "10.0.0.1:1", VIEW_ALIVE, HS_EINVALID},
      {UINT32_MAX, "10.0.0.1:1", VIEW_ALIVE, HS_EINVALID},
      {(1u << CUBE_MAX_DIM) - 1, "10.0.0.1:1", VIEW_ALIVE, 1},
      {2, max_addr, VIEW_ALIVE, 1},
  };
  view_t view;
  view_init(&view);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    size_t n = view.n;
    int rc = view_upsert(&view, v[i].id, v[i].addr, (view_state_t)v[i].state, 9);
    CHECK(rc == v[i].rc);
    CHECK(view.n == n + (rc == 1));
    CHECK(view_ok(&view));
  }
  CHECK(strcmp(view_find(&view, 2)->addr, max_addr) == 0);
  view_free(&view);
}

CASE(equal_version_more_final_state_wins) {
  /* Every ordered pair of states at one version, both arrival orders. */
  for (int a = VIEW_ALIVE; a <= VIEW_LEFT; a++)
    for (int b = VIEW_ALIVE; b <= VIEW_LEFT; b++) {
      int win = a > b ? a : b;
      view_t v;
      view_init(&v);
      CHECK(view_upsert(&v, 3, "10.0.0.8:1", (view_state_t)a, 6) == 1);
      CHECK(view_upsert(&v, 3, "10.0.0.8:1", (view_state_t)b, 6) == (b > a));
      CHECK(view_find(&v, 3)->state == (view_state_t)win);
      CHECK(v.epoch == 6);
      view_free(&v);
    }
  /* Equal version and state: the greater addr wins, whatever the order. */
  view_t x, y;
  view_init(&x);
  view_init(&y);
  CHECK(view_upsert(&x, 1, "10.0.0.1:1", VIEW_ALIVE, 2) == 1);
  CHECK(view_upsert(&x, 1, "10.0.0.2:1", VIEW_ALIVE, 2) == 1);
  CHECK(view_upsert(&y, 1, "10.0.0.2:1", VIEW_ALIVE, 2) == 1);
  CHECK(view_upsert(&y, 1, "10.0.0.1:1", VIEW_ALIVE, 2) == 0);
  CHECK(views_equal(&x, &y));
  CHECK(strcmp(view_find(&x, 1)->addr, "10.0.0.2:1") == 0);
  view_free(&x);
  view_free(&y);
}

/* ---- merge laws on random views ---------------------------------------- */

/* r = merge of the views, in the given order, onto an empty view. */
static int merge_in_order(view_t *r, view_t *const *vs, size_t n) {
  view_init(r);
  for (size_t i = 0; i < n; i++)
    if (view_merge(r, vs[i]) < 0) return -1;
  return 0;
}

/* The oracle: per id, the maximum of (version, state, addr) present. */
static bool is_join(const view_t *r, view_t *const *vs, size_t n) {
  for (uint32_t id = 0; id < 16; id++) {
    const view_member_t *best = NULL;
    for (size_t i = 0; i < n; i++) {
      const view_member_t *m = view_find(vs[i], id);
      if (!m) continue;
      if (!best || m->version > best->version ||
          (m->version == best->version &&
           (m->state > best->state ||
            (m->state == best->state && strcmp(m->addr, best->addr) > 0))))
        best = m;
    }
    const view_member_t *got = view_find(r, id);
    if (!best != !got) return false;
    if (best && (got->version != best->version || got->state != best->state ||
                 strcmp(got->addr, best->addr) != 0))
      return false;
  }
  return view_ok(r);
}

CASE(merge_is_commutative_associative_idempotent) {
  static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                  {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (int round = 0; round < 300; round++) {
    view_t a, b, c;
    random_view(&a);
    random_view(&b);
    random_view(&c);
    view_t *abc[3] = {&a, &b, &c};

    /* merge(a, merge(b, c)) */
    view_t bc, left;
    CHECK(view_copy(&bc, &b) == 0);
    CHECK(view_merge(&bc, &c) >= 0);
    CHECK(view_copy(&left, &a) == 0);
    CHECK(view_merge(&left, &bc) >= 0);
    /* merge(merge(a, b), c) */
    view_t right;
    CHECK(view_copy(&right, &a) == 0);
    CHECK(view_merge(&right, &b) >= 0);
    CHECK(view_merge(&right, &c) >= 0);
    CHECK(views_equal(&left, &right));
    CHECK(is_join(&left, abc, 3));

    /* every order gives the same view */
    for (int p = 0; p < 6; p++) {
      view_t *order[3] = {abc[perms[p][0]], abc[perms[p][1]], abc[perms[p][2]]};
      view_t r;
      CHECK(merge_in_order(&r, order, 3) == 0);
      CHECK(views_equal(&r, &left));
      view_free(&r);
    }

    /* commutative for two */
    view_t ab, ba;
    CHECK(view_copy(&ab, &a) == 0);
    CHECK(view_merge(&ab, &b) >= 0);
    CHECK(view_copy(&ba, &b) == 0);
    CHECK(view_merge(&ba, &a) >= 0);
    CHECK(views_equal(&ab, &ba));

    /* idempotent: merging again, or merging a part, changes nothing */
    view_t again;
    CHECK(view_copy(&again, &left) == 0);
    CHECK(view_merge(&again, &left) == 0);
    CHECK(view_merge(&again, &a) == 0);
    CHECK(view_merge(&again, &bc) == 0);
    CHECK(view_merge(&left, &left) == 0); /* onto itself */
    CHECK(views_equal(&again, &left));

    view_t *all[] = {&a, &b, &c, &bc, &left, &right, &ab, &ba, &again};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) view_free(all[i]);
  }
}

CASE(merge_counts_changed_members) {
  view_t a, b;
  view_init(&a);
  view_init(&b);
  view_upsert(&a, 1, "10.0.0.1:1", VIEW_ALIVE, 1);
  view_upsert(&a, 2, "10.0.0.1:2", VIEW_ALIVE, 5);
  view_upsert(&b, 1, "10.0.0.1:1", VIEW_DEAD, 2);    /* newer: changes */
  view_upsert(&b, 2, "10.0.0.1:2", VIEW_ALIVE, 4);   /* older: ignored */
  view_upsert(&b, 3, "10.0.0.1:3", VIEW_ALIVE, 0);   /* new: added */
  CHECK(view_merge(&a, &b) == 2);
  CHECK(view_merge(&a, &b) == 0);
  CHECK(a.n == 3 && a.epoch == 2 + 5 + 0);
  view_free(&a);
  view_free(&b);
}

CASE(epoch_is_sum_of_versions_after_every_operation) {
  view_t v, other;
  view_init(&v);
  for (int step = 0; step < 3000; step++) {
    uint32_t id = rnd(32);
    char addr[16];
    snprintf(addr, sizeof addr, "10.1.0.%u:%u", id, rnd(3));
    switch (rnd(3)) {
    case 0:
      CHECK(view_upsert(&v, id, addr, (view_state_t)(1 + rnd(4)), rnd(50)) >= 0);
      break;
    case 1: {
      int rc = view_set_state(&v, id, (view_state_t)(1 + rnd(4)));
      CHECK(rc == (view_find(&v, id) ? 1 : HS_EINVALID));
      break;
    }
    default:
      random_view(&other);
      CHECK(view_merge(&v, &other) >= 0);
      view_free(&other);
    }
    CHECK(view_ok(&v));
  }
  view_free(&v);
}

CASE(set_state_bumps_version) {
  view_t v;
  view_init(&v);
  view_upsert(&v, 4, "10.0.0.9:4", VIEW_ALIVE, 7);
  CHECK(view_set_state(&v, 4, VIEW_SUSPECT) == 1);
  CHECK(view_find(&v, 4)->version == 8 && view_find(&v, 4)->state == VIEW_SUSPECT);
  CHECK(view_set_state(&v, 4, VIEW_SUSPECT) == 1); /* a decision, even if equal */
  CHECK(view_find(&v, 4)->version == 9);
  CHECK(view_set_state(&v, 4, VIEW_DEAD) == 1);
  CHECK(view_set_state(&v, 4, VIEW_ALIVE) == 1); /* revive */
  CHECK(view_find(&v, 4)->version == 11 && view_find(&v, 4)->state == VIEW_ALIVE);
  CHECK(strcmp(view_find(&v, 4)->addr, "10.0.0.9:4") == 0);
  CHECK(v.epoch == 11);
  CHECK(view_set_state(&v, 5, VIEW_DEAD) == HS_EINVALID);
  CHECK(view_set_state(&v, 4, (view_state_t)0) == HS_EINVALID);
  CHECK(view_set_state(&v, 4, (view_state_t)5) == HS_EINVALID);
  CHECK(view_upsert(&v, 6, "10.0.0.9:6", VIEW_ALIVE, UINT64_MAX) == HS_EINVALID);
  CHECK(view_find(&v, 6) == NULL);
  CHECK(view_find(&v, 4)->version == 11);
  /* the revived entry beats a peer's older "dead" report */
  CHECK(view_upsert(&v, 4, "10.0.0.9:4", VIEW_DEAD, 10) == 0);
  CHECK(view_ok(&v));
  view_free(&v);
}

/* Whoever is reported suspect, dead or left can refute it: no entry that
 * is not alive reaches the cap, and a member one below it can still be
 * revived. */
CASE(refuting_is_possible_up_to_the_cap) {
  view_t v;
  view_init(&v);
  const uint64_t max = VIEW_VERSION_MAX;
  CHECK(view_upsert(&v, 1, "10.0.0.9:1", VIEW_DEAD, max) == HS_EINVALID);
  CHECK(view_upsert(&v, 1, "10.0.0.9:1", VIEW_SUSPECT, max) == HS_EINVALID);
  CHECK(view_upsert(&v, 1, "10.0.0.9:1", VIEW_LEFT, max) == HS_EINVALID);
  CHECK(view_upsert(&v, 1, "10.0.0.9:1", VIEW_ALIVE, max + 1) == HS_EINVALID);
  CHECK(view_upsert(&v, 1, "10.0.0.9:1", VIEW_DEAD, max - 1) == 1);
  CHECK(view_set_state(&v, 1, VIEW_ALIVE) == 1); /* the refutation */
  CHECK(view_find(&v, 1)->version == max && view_find(&v, 1)->state == VIEW_ALIVE);
  /* Nothing beats it now, and nothing moves it past the cap. */
  CHECK(view_upsert(&v, 1, "10.0.0.9:1", VIEW_DEAD, max) == HS_EINVALID);
  CHECK(view_upsert(&v, 1, "10.0.0.9:1", VIEW_DEAD, max - 1) == 0);
  CHECK(view_set_state(&v, 1, VIEW_ALIVE) == HS_EINVALID);
  CHECK(view_set_state(&v, 1, VIEW_DEAD) == HS_EINVALID);
  /* One below the cap, only a revival may take the last version. */
  CHECK(view_upsert(&v, 2, "10.0.0.9:2", VIEW_ALIVE, max - 1) == 1);
  CHECK(view_set_state(&v, 2, VIEW_SUSPECT) == HS_EINVALID);
  CHECK(view_find(&v, 2)->state == VIEW_ALIVE);
  CHECK(view_ok(&v));
  view_free(&v);
}

/* ---- live members, dimension, placement -------------------------------- */

CASE(live_and_dim) {
  static const struct {
    uint32_t id;
    view_state_t state;
  } members[] = {{0, VIEW_ALIVE}, {2, VIEW_SUSPECT}, {3, VIEW_DEAD},
                 {6, VIEW_ALIVE}, {9, VIEW_LEFT},    {12, VIEW_DEAD}};
  view_t v;
  view_init(&v);
  CHECK(view_dim(&v) == 0);
  CHECK(view_live(&v, NULL, 0) == 0);
  for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
    view_upsert(&v, members[i].id, "10.0.9.9:1", members[i].state, 1);
  uint32_t ids[8];
  CHECK(view_live(&v, ids, 8) == 3);
  CHECK(ids[0] == 0 && ids[1] == 2 && ids[2] == 6);
  uint32_t one[1] = {99};
  CHECK(view_live(&v, one, 1) == 3 && one[0] == 0); /* count past cap */
  CHECK(view_dim(&v) == 4);                        /* DEAD 12 keeps 4 bits */
  CHECK(view_set_state(&v, 12, VIEW_LEFT) == 1);
  CHECK(view_dim(&v) == 3); /* LEFT 12 and 9 drop out: largest is 6 */
  CHECK(view_set_state(&v, 6, VIEW_DEAD) == 1);
  CHECK(view_dim(&v) == 3);
  CHECK(view_live(&v, ids, 8) == 2);
  /* a lone member 0 has dimension 0; all LEFT gives 0 too */
  view_t w;
  view_init(&w);
  view_upsert(&w, 0, "10.0.9.9:1", VIEW_ALIVE, 0);
  CHECK(view_dim(&w) == 0);
  view_upsert(&w, 5, "10.0.9.9:1", VIEW_LEFT, 0);
  CHECK(view_dim(&w) == 0);
  view_free(&w);
  view_free(&v);
}

CASE(is_alive_is_a_cube_alive_fn) {
  view_t v;
  view_init(&v);
  view_upsert(&v, 1, "10.0.9.9:1", VIEW_ALIVE, 0);
  view_upsert(&v, 2, "10.0.9.9:2", VIEW_SUSPECT, 0);
  view_upsert(&v, 3, "10.0.9.9:3", VIEW_DEAD, 0);
  view_upsert(&v, 4, "10.0.9.9:4", VIEW_LEFT, 0);
  cube_alive_fn f = view_is_alive;
  CHECK(!f(0, &v) && f(1, &v) && f(2, &v) && !f(3, &v) && !f(4, &v) &&
        !f(5, &v));
  /* routing toward 3 from 0 takes neighbour 1, then 2 once 1 is dead */
  CHECK(view_dim(&v) == 2);
  CHECK(cube_next_hop(0, 3, view_dim(&v), UINT32_MAX, f, &v) == 1);
  CHECK(view_set_state(&v, 1, VIEW_DEAD) == 1);
  CHECK(cube_next_hop(0, 3, view_dim(&v), UINT32_MAX, f, &v) == 2);
  view_free(&v);
}

CASE(prefs_equal_cube_prefs_over_live_ids) {
  for (int round = 0; round < 200; round++) {
    view_t v;
    view_init(&v);
    for (uint32_t id = 0; id < 40; id++)
      if (rnd(2)) view_upsert(&v, id, "10.0.9.9:1", (view_state_t)(1 + rnd(4)), 0);
    uint32_t live[64];
    size_t n = view_live(&v, live, 64);
    char name[32];
    int len = snprintf(name, sizeof name, "topic-%d", round);
    uint64_t h = cube_hash(name, (size_t)len);
    cube_prefs(h, view_dim(&v), live, n);
    uint32_t got[64];
    CHECK(view_prefs(&v, h, got, 64) == n);
    CHECK(n == 0 || memcmp(got, live, n * sizeof *got) == 0);
    /* fewer slots than live members: the same list, cut */
    for (size_t cap = 0; cap <= n; cap++) {
      uint32_t few[64];
      CHECK(view_prefs(&v, h, few, cap) == cap);
      CHECK(cap == 0 || memcmp(few, live, cap * sizeof *few) == 0);
    }
    view_free(&v);
  }
}

/* ---- copy, encode, decode ---------------------------------------------- */

CASE(copy_is_deep) {
  view_t a, b;
  view_init(&a);
  CHECK(view_copy(&b, &a) == 0 && b.n == 0 && b.members == NULL);
  view_upsert(&a, 1, "10.0.0.1:1", VIEW_ALIVE, 3);
  view_upsert(&a, 7, "10.0.0.1:7", VIEW_DEAD, 4);
  CHECK(view_copy(&b, &a) == 0);
  CHECK(views_equal(&a, &b));
  view_set_state(&b, 1, VIEW_SUSPECT);
  CHECK(view_find(&a, 1)->state == VIEW_ALIVE);
  view_free(&a);
  view_free(&b);
}

CASE(encode_decode_round_trip) {
  for (int round = 0; round < 100; round++) {
    view_t v;
    random_view(&v);
    if (round == 0) view_free(&v); /* the empty view too */
    if (round == 1) { /* extremes: largest id, longest addr, top version */
      char addr[VIEW_ADDR_MAX + 1]; /* 10.0.0.1:000...01 */
      memset(addr, '0', VIEW_ADDR_MAX);
      memcpy(addr, "10.0.0.1:", 9);
      addr[VIEW_ADDR_MAX - 1] = '1';
      addr[VIEW_ADDR_MAX] = '\0';
      CHECK(view_upsert(&v, (1u << CUBE_MAX_DIM) - 1, addr, VIEW_ALIVE,
                        VIEW_VERSION_MAX) == 1);
    }
    buf_t b = BUF_INIT;
    buf_append(&b, "pre", 3); /* appends: keeps what is there */
    CHECK(view_encode(&v, &b) == 0);
    CHECK(memcmp(b.data, "pre", 3) == 0);
    buf_append(&b, "tail", 4); /* the view may be followed by more fields */
    wire_reader_t r;
    wire_reader_init(&r, b.data + 3, b.len - 3);
    view_t d;
    CHECK(view_decode(&r, &d) == 0);
    CHECK(r.bad == NULL);
    CHECK(views_equal(&v, &d));
    CHECK(r.end - r.p == 4 && memcmp(r.p, "tail", 4) == 0);
    buf_free(&b);
    view_free(&v);
    view_free(&d);
  }
}

CASE(decode_of_every_prefix_fails_cleanly) {
  view_t v;
  view_init(&v);
  view_upsert(&v, 0, "127.0.0.1:7000", VIEW_ALIVE, 3);
  view_upsert(&v, 5, "127.0.0.1:7005", VIEW_DEAD, 9);
  view_upsert(&v, 11, "10.0.0.8:1", VIEW_LEFT, 1);
  buf_t b = BUF_INIT;
  CHECK(view_encode(&v, &b) == 0);
  for (size_t len = 0; len < b.len; len++) {
    char *p = malloc(len ? len : 1); /* exactly len bytes: ASan sees overreads */
    if (len) memcpy(p, b.data, len);
    wire_reader_t r;
    wire_reader_init(&r, p, len);
    view_t d;
    d.members = (view_member_t *)&d; /* garbage: the call initialises */
    CHECK(view_decode(&r, &d) == HS_EPROTOCOL);
    CHECK(r.bad != NULL);
    CHECK(d.members == NULL && d.n == 0);
    view_free(&d);
    free(p);
  }
  buf_free(&b);
  view_free(&v);
}

CASE(decode_rejects_huge_count_before_allocating) {
  buf_t b = BUF_INIT;
  raw_member_t m = {1, VIEW_ALIVE, 0, "10.0.0.1:1"};
  raw_encode(&b, 0, 1u << 31, &m, 1);
  wire_reader_t r;
  wire_reader_init(&r, b.data, b.len);
  view_t d;
  CHECK(view_decode(&r, &d) == HS_EPROTOCOL);
  CHECK(r.bad && strcmp(r.bad, "view.count") == 0); /* failed at the count */
  CHECK(d.members == NULL && d.cap == 0);
  buf_free(&b);
}

CASE(decode_rejects_bad_fields) {
  static const char long_addr[] =
      "0123456789012345678901234567890123456789012345678901234567890123";
  static const struct {
    const char *what;
    uint64_t epoch; /* UINT64_MAX: use the right sum */
    raw_member_t m[2];
    size_t n;
    int rc;
    const char *bad;
  } v[] = {
      {"valid", UINT64_MAX, {{1, 1, 2, "10.0.0.1:1"}, {2, 4, 3, "10.0.0.1:2"}}, 2, 0, NULL},
      {"duplicate id", UINT64_MAX, {{1, 1, 2, "10.0.0.1:1"}, {1, 1, 3, "10.0.0.1:2"}}, 2,
       HS_EPROTOCOL, "view.id"},
      {"unsorted ids", UINT64_MAX, {{2, 1, 2, "10.0.0.1:1"}, {1, 1, 3, "10.0.0.1:2"}}, 2,
       HS_EPROTOCOL, "view.id"},
      {"state 0", UINT64_MAX, {{1, 0, 2, "10.0.0.1:1"}}, 1, HS_EPROTOCOL, "view.state"},
      {"state 5", UINT64_MAX, {{1, 5, 2, "10.0.0.1:1"}}, 1, HS_EPROTOCOL, "view.state"},
      {"wrong epoch", 4, {{1, 1, 2, "10.0.0.1:1"}, {2, 1, 3, "10.0.0.1:2"}}, 2, HS_EPROTOCOL,
       "view.epoch"},
      {"empty addr", UINT64_MAX, {{1, 1, 2, ""}}, 1, HS_EPROTOCOL, "view.addr"},
      {"64-byte addr", UINT64_MAX, {{1, 1, 2, long_addr}}, 1, HS_EPROTOCOL,
       "view.addr"},
      {"id too large", UINT64_MAX, {{1u << CUBE_MAX_DIM, 1, 2, "10.0.0.1:1"}}, 1,
       HS_EPROTOCOL, "view.id"},
      {"addr zz", UINT64_MAX, {{1, 1, 2, "zz"}}, 1, HS_EPROTOCOL, "view.addr"},
      {"addr with a quote", UINT64_MAX, {{1, 1, 2, "1\""}}, 1, HS_EPROTOCOL,
       "view.addr"},
      {"version past the cap", UINT64_MAX,
       {{1, 1, VIEW_VERSION_MAX + 1, "10.0.0.1:1"}}, 1, HS_EPROTOCOL,
       "view.version"},
      {"version at the cap", UINT64_MAX, {{1, 1, VIEW_VERSION_MAX, "10.0.0.1:1"}},
       1, 0, NULL},
      /* No one could refute these: the version above is the cap. */
      {"suspect at the cap", UINT64_MAX,
       {{1, VIEW_SUSPECT, VIEW_VERSION_MAX, "10.0.0.1:1"}}, 1, HS_EPROTOCOL,
       "view.version"},
      {"dead at the cap", UINT64_MAX,
       {{1, VIEW_DEAD, VIEW_VERSION_MAX, "10.0.0.1:1"}}, 1, HS_EPROTOCOL,
       "view.version"},
      {"left at the cap", UINT64_MAX,
       {{1, VIEW_LEFT, VIEW_VERSION_MAX, "10.0.0.1:1"}}, 1, HS_EPROTOCOL,
       "view.version"},
      {"dead below the cap", UINT64_MAX,
       {{1, VIEW_DEAD, VIEW_VERSION_MAX - 1, "10.0.0.1:1"}}, 1, 0, NULL},
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint64_t epoch = v[i].epoch;
    if (epoch == UINT64_MAX) {
      epoch = 0;
      for (size_t k = 0; k < v[i].n; k++) epoch += v[i].m[k].version;
    }
    buf_t b = BUF_INIT;
    raw_encode(&b, epoch, (uint32_t)v[i].n, v[i].m, v[i].n);
    wire_reader_t r;
    wire_reader_init(&r, b.data, b.len);
    view_t d;
    int rc = view_decode(&r, &d);
    if (rc != v[i].rc) printf("# %s: rc %d\n", v[i].what, rc);
    CHECK(rc == v[i].rc);
    CHECK(v[i].bad ? r.bad && strcmp(r.bad, v[i].bad) == 0 : r.bad == NULL);
    CHECK(rc == 0 ? d.n == v[i].n && view_ok(&d) : d.n == 0 && !d.members);
    view_free(&d);
    buf_free(&b);
  }
  /* an addr with a NUL inside cannot round-trip as a C string */
  buf_t b = BUF_INIT;
  uint64_t epoch = 0;
  uint32_t count = 1, id = 1;
  uint8_t state = VIEW_ALIVE, len = 3;
  buf_append(&b, &epoch, 8);
  buf_append(&b, &count, 4);
  buf_append(&b, &id, 4);
  buf_append(&b, &state, 1);
  buf_append(&b, &epoch, 8);
  buf_append(&b, &len, 1);
  buf_append(&b, "a\0b", 3);
  wire_reader_t r;
  wire_reader_init(&r, b.data, b.len);
  view_t d;
  CHECK(view_decode(&r, &d) == HS_EPROTOCOL);
  CHECK(r.bad && strcmp(r.bad, "view.addr") == 0);
  buf_free(&b);
}

int main(void) {
  RUN(upsert_adds_replaces_and_ignores_older);
  RUN(upsert_rejects_bad_arguments);
  RUN(equal_version_more_final_state_wins);
  RUN(merge_is_commutative_associative_idempotent);
  RUN(merge_counts_changed_members);
  RUN(epoch_is_sum_of_versions_after_every_operation);
  RUN(set_state_bumps_version);
  RUN(refuting_is_possible_up_to_the_cap);
  RUN(live_and_dim);
  RUN(is_alive_is_a_cube_alive_fn);
  RUN(prefs_equal_cube_prefs_over_live_ids);
  RUN(copy_is_deep);
  RUN(encode_decode_round_trip);
  RUN(decode_of_every_prefix_fails_cleanly);
  RUN(decode_rejects_huge_count_before_allocating);
  RUN(decode_rejects_bad_fields);
  UNIT_EXIT();
}
