/* test_map — the hash map: FNV-1a, put/get/replace/del, growth,
 * tombstones and iteration. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hypersub.h"
#include "core/hash.h"
#include "core/map.h"
#include "unit.h"

#define V(i) ((void *)(uintptr_t)(i))

/* Live + tombstones stay at or under ~70% of the capacity. */
static int load_ok(const map_t *m) {
  return m->cap == 0 || ((m->cap & (m->cap - 1)) == 0 &&
                         m->used * 10 <= m->cap * 7 && m->count <= m->used);
}

CASE(fnv1a_vectors) {
  static const struct {
    const char *s;
    size_t n;
    uint64_t h;
  } t[] = {
      {"", 0, 0xcbf29ce484222325ULL},
      {"a", 1, 0xaf63dc4c8601ec8cULL},
      {"foobar", 6, 0x85944171f73967e8ULL},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    CHECK(hash_fnv1a(HASH_FNV_INIT, t[i].s, t[i].n) == t[i].h);
}

CASE(map_hash_is_keyed) {
  /* SipHash-2-4's reference vector: key 00..0f, message 00..0e. */
  unsigned char key[16], msg[15];
  for (int i = 0; i < 16; i++) key[i] = (unsigned char)i;
  for (int i = 0; i < 15; i++) msg[i] = (unsigned char)i;
  CHECK(map_hash_seeded(key, msg, sizeof msg) == 0xa129ca6149be45e5ULL);
  unsigned char other[16] = {1};
  CHECK(map_hash_seeded(other, msg, sizeof msg) !=
        map_hash_seeded(key, msg, sizeof msg));
  /* The process's own seed is stable within the process. */
  CHECK(map_hash("topic", 5) == map_hash("topic", 5));
}

CASE(empty_map) {
  map_t m = MAP_INIT;
  size_t i = 0;
  CHECK(map_get(&m, "x", 1) == NULL);
  CHECK(map_del(&m, "x", 1) == NULL);
  CHECK(!map_next(&m, &i, NULL, NULL, NULL));
  map_free(&m);
  CHECK(m.cap == 0 && m.count == 0 && m.slots == NULL);
}

CASE(put_get_replace_del) {
  /* Keys compare by bytes and length: "ab" vs "ab\0", "" and NULs. */
  static const struct {
    const char *k;
    size_t n;
  } t[] = {{"", 0}, {"a", 1}, {"ab", 2}, {"ab\0", 3}, {"\0\0", 2},
           {"news", 4}, {"sensor.temp", 11}};
  size_t nt = sizeof t / sizeof t[0];
  map_t m = MAP_INIT;
  for (size_t i = 0; i < nt; i++)
    CHECK(map_put(&m, t[i].k, t[i].n, V(i + 1)) == 0);
  CHECK(m.count == nt);
  for (size_t i = 0; i < nt; i++)
    CHECK(map_get(&m, t[i].k, t[i].n) == V(i + 1));
  CHECK(map_get(&m, "abc", 3) == NULL);

  /* Replacing keeps the count. */
  for (size_t i = 0; i < nt; i++)
    CHECK(map_put(&m, t[i].k, t[i].n, V(100 + i)) == 0);
  CHECK(m.count == nt);
  for (size_t i = 0; i < nt; i++)
    CHECK(map_get(&m, t[i].k, t[i].n) == V(100 + i));

  for (size_t i = 0; i < nt; i += 2)
    CHECK(map_del(&m, t[i].k, t[i].n) == V(100 + i));
  for (size_t i = 0; i < nt; i++)
    CHECK(map_get(&m, t[i].k, t[i].n) == (i % 2 ? V(100 + i) : NULL));
  CHECK(map_del(&m, t[0].k, t[0].n) == NULL);
  CHECK(m.count == nt / 2);
  map_free(&m);
}

CASE(key_is_copied) {
  map_t m = MAP_INIT;
  char k[8] = "topic";
  CHECK(map_put(&m, k, 5, V(1)) == 0);
  memcpy(k, "xxxxx", 5);
  CHECK(map_get(&m, "topic", 5) == V(1));
  size_t i = 0, n = 0;
  const char *key = NULL;
  CHECK(map_next(&m, &i, &key, &n, NULL) && n == 5 &&
        memcmp(key, "topic", 5) == 0);
  map_free(&m);
}

CASE(growth) {
  map_t m = MAP_INIT;
  char k[32];
  size_t last_cap = 0;
  for (int i = 0; i < 20000; i++) {
    int n = snprintf(k, sizeof k, "key-%d", i);
    CHECK(map_put(&m, k, (size_t)n, V(i + 1)) == 0);
    CHECK(m.cap >= last_cap);
    CHECK(load_ok(&m));
    last_cap = m.cap;
  }
  CHECK(m.count == 20000);
  CHECK(m.cap >= 32768);
  for (int i = 0; i < 20000; i++) {
    int n = snprintf(k, sizeof k, "key-%d", i);
    CHECK(map_get(&m, k, (size_t)n) == V(i + 1));
  }
  map_free(&m);
}

CASE(tombstone_reuse) {
  map_t m = MAP_INIT;
  char k[32];
  for (int i = 0; i < 5; i++) {
    int n = snprintf(k, sizeof k, "k%d", i);
    CHECK(map_put(&m, k, (size_t)n, V(i + 1)) == 0);
  }
  /* Deleting leaves a tombstone; putting the key back reuses a slot. */
  size_t used = m.used;
  CHECK(map_del(&m, "k2", 2) == V(3));
  CHECK(m.used == used && m.count == 4);
  CHECK(map_put(&m, "k2", 2, V(33)) == 0);
  CHECK(m.used == used && m.count == 5);
  CHECK(map_get(&m, "k2", 2) == V(33));

  /* Churn of distinct keys: rebuilds drop tombstones so the table stays
   * small while only a few keys are live. */
  for (int i = 0; i < 100000; i++) {
    int n = snprintf(k, sizeof k, "churn-%d", i);
    CHECK(map_put(&m, k, (size_t)n, V(i + 1)) == 0);
    CHECK(map_del(&m, k, (size_t)n) == V(i + 1));
    CHECK(load_ok(&m));
  }
  CHECK(m.count == 5 && m.cap <= 16);
  for (int i = 0; i < 5; i++) {
    int n = snprintf(k, sizeof k, "k%d", i);
    CHECK(map_get(&m, k, (size_t)n) == (i == 2 ? V(33) : V(i + 1)));
  }
  map_free(&m);
}

CASE(iteration_visits_live_once) {
  enum { N = 1000 };
  static unsigned char seen[N];
  memset(seen, 0, sizeof seen);
  map_t m = MAP_INIT;
  char k[32];
  for (int i = 0; i < N; i++) {
    int n = snprintf(k, sizeof k, "%d", i);
    CHECK(map_put(&m, k, (size_t)n, V(i + 1)) == 0);
  }
  for (int i = 0; i < N; i += 2) {
    int n = snprintf(k, sizeof k, "%d", i);
    CHECK(map_del(&m, k, (size_t)n) == V(i + 1));
  }
  const char *key;
  size_t n, visits = 0;
  void *v;
  for (size_t i = 0; map_next(&m, &i, &key, &n, &v);) {
    uintptr_t x = (uintptr_t)v - 1;
    CHECK(x < N && x % 2 == 1);
    if (x >= N)
      continue;
    seen[x]++;
    int kn = snprintf(k, sizeof k, "%d", (int)x);
    CHECK(n == (size_t)kn && memcmp(key, k, n) == 0);
    visits++;
  }
  CHECK(visits == N / 2 && visits == m.count);
  for (int i = 0; i < N; i++)
    CHECK(seen[i] == (i % 2 ? 1 : 0));
  map_free(&m);
}

int main(void) {
  RUN(fnv1a_vectors);
  RUN(map_hash_is_keyed);
  RUN(empty_map);
  RUN(put_get_replace_del);
  RUN(key_is_copied);
  RUN(growth);
  RUN(tombstone_reuse);
  RUN(iteration_visits_live_once);
  UNIT_EXIT();
}
