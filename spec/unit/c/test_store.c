/* test_store — topic logs: registries, topics, append and iteration across
 * chunks, retention (count, bytes, age), cursors, the accounting, producer
 * sequence numbers and dedup, truncation and reset. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hypersub.h"
#include "store/chunk.h"
#include "store/store.h"
#include "unit.h"

#define S(str) str, sizeof(str) - 1

/* Record i's payload: i % 50 bytes of a pattern that includes NULs, and a
 * publisher id that varies with i; both derived so they can be checked. */
static size_t payload(uint64_t i, char *buf) {
  size_t n = i % 50;
  for (size_t j = 0; j < n; j++)
    buf[j] = (char)((i + j) % 7 == 0 ? 0 : (i * 31 + j) & 0xff);
  return n;
}

static size_t publisher(uint64_t i, char *buf) {
  return (size_t)snprintf(buf, 32, "pub-%u", (unsigned)(i % 13));
}

static int append_n(store_t *s, store_topic_t *t, uint64_t n,
                    uint64_t time_step) {
  char data[64], pub[32];
  int ok = 1;
  for (uint64_t k = 0; k < n; k++) {
    uint64_t i = t->next, off = UINT64_MAX;
    size_t len = payload(i, data), pl = publisher(i, pub);
    ok &= store_append(s, t, i * time_step, pub, pl, data, len, &off) == 0;
    ok &= off == i;
  }
  return ok;
}

/* Iterates from `from`; checks every record against payload()/publisher()
 * and append_n's times, and that offsets are dense. Returns the number read; *start the first. */
static uint64_t check_from(const store_topic_t *t, uint64_t from,
                           uint64_t time_step, uint64_t *start, int *ok) {
  store_iter_t it;
  store_msg_t m;
  char data[64], pub[32];
  uint64_t n = 0, expect = 0;
  store_iter_init(&it, t, from);
  while (store_iter_next(&it, &m)) {
    if (n == 0) {
      expect = m.offset;
      if (start)
        *start = m.offset;
    }
    size_t len = payload(m.offset, data), pl = publisher(m.offset, pub);
    *ok &= m.offset == expect++;
    *ok &= m.time_ms == m.offset * time_step;
    *ok &= m.len == len && memcmp(m.data, data, len) == 0;
    *ok &= m.publisher_len == pl && memcmp(m.publisher, pub, pl) == 0;
    n++;
  }
  return n;
}

/* Sums of the retained records, recomputed by reading the log. */
static void sums(const store_topic_t *t, uint64_t *msgs, uint64_t *bytes) {
  store_iter_t it;
  store_msg_t m;
  *msgs = *bytes = 0;
  store_iter_init(&it, t, 0);
  while (store_iter_next(&it, &m)) {
    (*msgs)++;
    *bytes += m.len;
  }
}

CASE(defaults) {
  store_t s;
  store_init(&s, NULL);
  CHECK(s.limits.chunk_size == 1 << 20);
  CHECK(s.limits.retain_messages == 0 && s.limits.retain_bytes == 0 &&
        s.limits.retain_ms == 0);
  CHECK(s.messages == 0 && s.bytes == 0);
  store_free(&s);

  store_limits_t l = {.retain_messages = 7, .chunk_size = 0};
  store_init(&s, &l);
  CHECK(s.limits.chunk_size == 1 << 20 && s.limits.retain_messages == 7);
  store_free(&s);
}

CASE(registries) {
  static const struct {
    int (*create)(store_t *, const char *, size_t);
    bool (*exists)(const store_t *, const char *, size_t);
  } t[] = {{store_publisher_create, store_publisher_exists},
           {store_subscriber_create, store_subscriber_exists}};
  store_t s;
  store_init(&s, NULL);
  for (size_t i = 0; i < 2; i++) {
    CHECK(!t[i].exists(&s, S("alice")));
    CHECK(t[i].create(&s, S("alice")) == 0);
    CHECK(t[i].create(&s, S("alice")) == HS_EEXISTS);
    CHECK(t[i].create(&s, S("bob")) == 0);
    CHECK(t[i].exists(&s, S("alice")) && t[i].exists(&s, S("bob")));
    CHECK(!t[i].exists(&s, S("alic")) && !t[i].exists(&s, S("alice2")));
  }
  /* The two registries are separate. */
  CHECK(!store_publisher_exists(&s, S("carol")));
  CHECK(store_subscriber_create(&s, S("carol")) == 0);
  CHECK(!store_publisher_exists(&s, S("carol")));
  store_free(&s);
}

CASE(topic_create_find_delete) {
  store_t s;
  store_init(&s, NULL);
  store_topic_t *t = NULL, *t2 = NULL;
  CHECK(store_topic_find(&s, S("news")) == NULL);
  CHECK(store_topic_create(&s, S("news"), S("alice"), &t) == 0 && t);
  CHECK(store_topic_create(&s, S("news"), S("bob"), &t2) == HS_EEXISTS);
  CHECK(t2 == NULL);
  CHECK(store_topic_create(&s, S("sport"), S("bob"), NULL) == 0);
  CHECK(store_topic_find(&s, S("news")) == t);
  CHECK(strcmp(t->name, "news") == 0 && t->name_len == 4);
  CHECK(strcmp(t->owner, "alice") == 0 && t->owner_len == 5);
  CHECK(t->first == 0 && t->next == 0 && t->bytes == 0);
  CHECK(t->head == NULL && t->tail == NULL && t->waiters == NULL);

  store_topic_delete(&s, t);
  CHECK(store_topic_find(&s, S("news")) == NULL);
  CHECK(store_topic_find(&s, S("sport")) != NULL);
  CHECK(store_topic_create(&s, S("news"), S("carol"), &t) == 0);
  CHECK(strcmp(t->owner, "carol") == 0 && t->next == 0);
  store_free(&s);
}

CASE(append_dense_offsets) {
  store_t s;
  store_init(&s, NULL);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_n(&s, t, 100, 1));
  CHECK(t->first == 0 && t->next == 100);
  int ok = 1;
  uint64_t start = UINT64_MAX;
  CHECK(check_from(t, 0, 1, &start, &ok) == 100 && start == 0 && ok);
  store_free(&s);
}

CASE(iterate_from) {
  /* Small chunks so `from` lands in the middle of the chunk list. */
  store_limits_t l = {.chunk_size = 256};
  static const struct {
    uint64_t from, start, n;
  } cases[] = {
      {0, 0, 500},     {1, 1, 499},  {37, 37, 463},     {250, 250, 250},
      {498, 498, 2},   {499, 499, 1}, {500, 0, 0},      {501, 0, 0},
      {UINT64_MAX, 0, 0},
  };
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_n(&s, t, 500, 1));
  CHECK(t->head != t->tail);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int ok = 1;
    uint64_t start = 0;
    CHECK(check_from(t, cases[i].from, 1, &start, &ok) == cases[i].n);
    CHECK(ok && start == cases[i].start);
  }
  store_free(&s);
}

/* A read starts where its offset is, from either end of the chunk list
 * and at any distance from a chunk's marks, also after a cut in the
 * middle of a chunk and after retention took chunks from the front. */
CASE(iterate_from_every_offset) {
  store_limits_t l = {.chunk_size = 4096};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_n(&s, t, 3000, 1));
  CHECK(t->head != t->tail && t->head->next != t->tail);
  int ok = 1;
  uint64_t start = 0;
  for (uint64_t from = 0; from < 3000; from++) {
    ok &= check_from(t, from, 1, &start, &ok) == 3000 - from && start == from;
  }
  CHECK(ok);
  /* cut inside a chunk, between two marks, then appends past the cut */
  CHECK(store_truncate(&s, t, 1500 + CHUNK_MARK_EVERY / 2) == 0);
  CHECK(append_n(&s, t, 700, 1));
  for (uint64_t from = 1400; from < t->next; from++) {
    ok &= check_from(t, from, 1, &start, &ok) == t->next - from && start == from;
  }
  CHECK(ok);
  /* the front chunks go */
  while (t->head->next != t->tail) chunk_drop_head(&s, t);
  for (uint64_t from = t->first; from < t->next; from++) {
    ok &= check_from(t, from, 1, &start, &ok) == t->next - from && start == from;
  }
  CHECK(ok);
  /* appends once the front went: the chunk index wraps round its ring and
   * grows from the middle of it */
  CHECK(t->index_at > 0);
  CHECK(append_n(&s, t, 6000, 1));
  CHECK(t->index_n > 8);
  for (uint64_t from = t->first; from < t->next; from++) {
    ok &= check_from(t, from, 1, &start, &ok) == t->next - from && start == from;
  }
  CHECK(ok);
  store_free(&s);
}

CASE(empty_topic_iteration) {
  store_t s;
  store_init(&s, NULL);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, 0);
  CHECK(!store_iter_next(&it, &m));
  store_free(&s);
}

CASE(iterator_sees_later_appends) {
  store_limits_t l = {.chunk_size = 64};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_n(&s, t, 1, 1));
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, 0);
  CHECK(store_iter_next(&it, &m) && m.offset == 0);
  CHECK(!store_iter_next(&it, &m));
  /* Appended in the same chunk, then into new ones. */
  CHECK(append_n(&s, t, 5, 1));
  for (uint64_t o = 1; o <= 5; o++)
    CHECK(store_iter_next(&it, &m) && m.offset == o);
  CHECK(!store_iter_next(&it, &m));
  store_free(&s);
}

CASE(record_larger_than_chunk) {
  store_limits_t l = {.chunk_size = 256};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  static char big[10000];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (char)(i * 7);
  uint64_t off;
  CHECK(store_append(&s, t, 1, S("a"), S("small"), &off) == 0 && off == 0);
  CHECK(store_append(&s, t, 2, S("b"), big, sizeof big, &off) == 0 &&
        off == 1);
  CHECK(store_append(&s, t, 3, S("c"), S("after"), &off) == 0 && off == 2);
  CHECK(t->bytes == 5 + sizeof big + 5 && s.bytes == t->bytes);

  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, 1);
  CHECK(store_iter_next(&it, &m) && m.offset == 1 && m.time_ms == 2);
  CHECK(m.len == sizeof big && memcmp(m.data, big, sizeof big) == 0);
  CHECK(m.publisher_len == 1 && m.publisher[0] == 'b');
  CHECK(store_iter_next(&it, &m) && m.offset == 2 && m.len == 5 &&
        memcmp(m.data, "after", 5) == 0);
  CHECK(!store_iter_next(&it, &m));
  store_free(&s);
}

CASE(empty_payload_and_publisher) {
  store_t s;
  store_init(&s, NULL);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  uint64_t off;
  CHECK(store_append(&s, t, 5, S("alice"), NULL, 0, &off) == 0 && off == 0);
  CHECK(store_append(&s, t, 6, NULL, 0, S("x"), &off) == 0 && off == 1);
  CHECK(store_append(&s, t, 7, NULL, 0, NULL, 0, NULL) == 0);
  CHECK(t->next == 3 && t->bytes == 1 && s.messages == 3 && s.bytes == 1);

  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, 0);
  CHECK(store_iter_next(&it, &m) && m.len == 0 && m.publisher_len == 5 &&
        memcmp(m.publisher, "alice", 5) == 0 && m.time_ms == 5);
  CHECK(store_iter_next(&it, &m) && m.len == 1 && m.data[0] == 'x' &&
        m.publisher_len == 0);
  CHECK(store_iter_next(&it, &m) && m.len == 0 && m.publisher_len == 0 &&
        m.offset == 2);
  CHECK(!store_iter_next(&it, &m));
  store_free(&s);
}

CASE(payload_and_publisher_round_trip) {
  static const struct {
    const char *pub;
    size_t pl;
    const char *data;
    size_t len;
  } cases[] = {
      {S("alice"), S("hello")},
      {S("b"), "\0\0\0", 3},
      {S("pub-with-a-longer-id.example"), "a\0b\0c", 5},
      {S("x"), "\xff\x00\x80", 3},
  };
  size_t nc = sizeof cases / sizeof cases[0];
  store_limits_t l = {.chunk_size = 48}; /* a chunk per record or two */
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  for (size_t i = 0; i < nc; i++)
    CHECK(store_append(&s, t, 1000 + i, cases[i].pub, cases[i].pl,
                       cases[i].data, cases[i].len, NULL) == 0);
  /* The maximum publisher length (u8) fits; one more does not. */
  char pub[257];
  memset(pub, 'p', sizeof pub);
  CHECK(store_append(&s, t, 1, pub, 256, S("x"), NULL) == HS_ETOO_LARGE);
  CHECK(t->next == nc);
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, 0);
  for (size_t i = 0; i < nc; i++) {
    CHECK(store_iter_next(&it, &m) && m.offset == i);
    CHECK(m.time_ms == 1000 + i);
    CHECK(m.publisher_len == cases[i].pl &&
          memcmp(m.publisher, cases[i].pub, m.publisher_len) == 0);
    CHECK(m.len == cases[i].len && memcmp(m.data, cases[i].data, m.len) == 0);
  }
  CHECK(!store_iter_next(&it, &m));
  CHECK(store_append(&s, t, 1, pub, 255, S("x"), NULL) == 0);
  store_iter_init(&it, t, nc);
  CHECK(store_iter_next(&it, &m) && m.publisher_len == 255);
  store_free(&s);
}

/* After any retention: offsets never reused, iteration from 0 starts at
 * first, and the counters agree with what the log holds. */
static void check_retained(store_t *s, store_topic_t *t, uint64_t total,
                           uint64_t time_step, int *ok) {
  uint64_t msgs, bytes, start = UINT64_MAX;
  *ok &= t->next == total;
  sums(t, &msgs, &bytes);
  *ok &= msgs == t->next - t->first && bytes == t->bytes;
  uint64_t n = check_from(t, 0, time_step, &start, ok);
  *ok &= n == msgs && (n == 0 || start == t->first);
  if (s->topics.count == 1) /* else the caller checks the totals */
    *ok &= s->messages == msgs && s->bytes == bytes;
}

CASE(retention_by_count) {
  static const uint64_t limits[] = {1, 10, 37, 100};
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    store_limits_t l = {.retain_messages = limits[i], .chunk_size = 256};
    store_t s;
    store_init(&s, &l);
    store_topic_t *t;
    CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
    uint64_t prev_first = 0;
    for (int k = 0; k < 1000; k++) {
      CHECK(append_n(&s, t, 1, 1));
      uint64_t n = t->next - t->first;
      CHECK(t->first >= prev_first);
      prev_first = t->first;
      /* Whole chunks only: at or under the limit unless just the tail
       * is left, and under it by less than one chunk's records (records
       * here are >= 18 bytes, so <= 256 / 18 per chunk). */
      CHECK(n <= limits[i] || t->head == t->tail);
      CHECK(n + 256 / 18 > limits[i] || t->next < limits[i]);
    }
    int ok = 1;
    check_retained(&s, t, 1000, 1, &ok);
    CHECK(ok);
    CHECK(t->first > 0);
    store_free(&s);
  }
}

CASE(retention_by_bytes) {
  static const uint64_t limits[] = {1, 100, 1000, 5000};
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    store_limits_t l = {.retain_bytes = limits[i], .chunk_size = 256};
    store_t s;
    store_init(&s, &l);
    store_topic_t *t;
    CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
    CHECK(append_n(&s, t, 1000, 1));
    int ok = 1;
    check_retained(&s, t, 1000, 1, &ok);
    CHECK(ok);
    CHECK(t->first > 0 && t->next > t->first);
    /* At or under the limit unless just the tail is left, and under it
     * by less than one dropped chunk's payload. */
    CHECK(t->bytes <= limits[i] || t->head == t->tail);
    CHECK(t->bytes + 256 > limits[i]);
    store_free(&s);
  }
}

CASE(retention_keeps_newest_chunk) {
  /* One record far over both limits: it stays, as the tail chunk. */
  store_limits_t l = {.retain_messages = 1, .retain_bytes = 10,
                      .chunk_size = 256};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  static char big[1000];
  uint64_t off;
  CHECK(store_append(&s, t, 1, S("a"), big, sizeof big, &off) == 0);
  CHECK(store_append(&s, t, 2, S("a"), big, sizeof big, &off) == 0);
  CHECK(off == 1 && t->first == 1 && t->head == t->tail);
  CHECK(t->bytes == sizeof big && s.bytes == sizeof big && s.messages == 1);
  store_free(&s);
}

CASE(expire_by_age) {
  store_limits_t l = {.retain_ms = 1000, .chunk_size = 256};
  store_t s;
  store_init(&s, &l);
  store_topic_t *a, *b;
  CHECK(store_topic_create(&s, S("a"), S("p"), &a) == 0);
  CHECK(store_topic_create(&s, S("b"), S("p"), &b) == 0);
  CHECK(append_n(&s, a, 1000, 10)); /* record i at time 10 * i */
  CHECK(append_n(&s, b, 1000, 10));

  /* Nothing is old enough yet. */
  store_expire(&s, 1000);
  CHECK(a->first == 0 && b->first == 0);

  /* Cutoff 5000: records before offset 500 may go, none after. */
  store_expire(&s, 6000);
  CHECK(a->first > 0 && a->first <= 500 && b->first == a->first);
  CHECK(500 - a->first <= 256 / 18);
  int ok = 1;
  check_retained(&s, a, 1000, 10, &ok);
  CHECK(ok);
  CHECK(s.messages == 2 * (1000 - a->first));
  CHECK(s.bytes == a->bytes + b->bytes && a->bytes == b->bytes);

  /* Everything is old: only each tail chunk remains. */
  store_expire(&s, UINT64_MAX);
  CHECK(a->head == a->tail && a->head && a->next - a->first >= 1);
  CHECK(b->head == b->tail && b->head);
  check_retained(&s, a, 1000, 10, &ok);
  CHECK(ok);
  CHECK(s.messages == (a->next - a->first) + (b->next - b->first));
  store_free(&s);

  /* retain_ms 0 keeps everything. */
  store_init(&s, &(store_limits_t){.chunk_size = 256});
  CHECK(store_topic_create(&s, S("a"), S("p"), &a) == 0);
  CHECK(append_n(&s, a, 100, 10));
  store_expire(&s, UINT64_MAX);
  CHECK(a->first == 0 && s.messages == 100);
  store_free(&s);
}

CASE(cursors) {
  store_limits_t l = {.retain_messages = 50, .chunk_size = 256};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_n(&s, t, 200, 1));
  CHECK(t->first > 0);

  static const struct {
    const char *sid;
    uint64_t want, got_rel; /* 0: first, 1: want, 2: next */
  } cases[] = {
      {"below", 0, 0},
      {"middle", 170, 1},
      {"at-next", 200, 2},
      {"above", 1000, 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t n = strlen(cases[i].sid);
    CHECK(store_cursor(t, cases[i].sid, n) == NULL);
    CHECK(store_subscribe(&s, t, cases[i].sid, n, cases[i].want) == 0);
    store_cursor_t *c = store_cursor(t, cases[i].sid, n);
    uint64_t expect = cases[i].got_rel == 0   ? t->first
                      : cases[i].got_rel == 1 ? cases[i].want
                                              : t->next;
    CHECK(c && c->next == expect);
  }

  /* Subscribing again keeps the cursor, and its position. */
  store_cursor_t *c = store_cursor(t, S("middle"));
  c->next = 180;
  CHECK(store_subscribe(&s, t, S("middle"), 0) == 0);
  CHECK(store_cursor(t, S("middle")) == c && c->next == 180);
  CHECK(store_cursor(t, S("nobody")) == NULL);
  CHECK(t->cursors.count == 4);

  /* Deleting the topic frees the cursors (the leak checker sees it). */
  store_topic_delete(&s, t);
  CHECK(store_topic_find(&s, S("t")) == NULL);
  store_free(&s);
}

CASE(accounting_across_topics) {
  store_t s;
  store_init(&s, &(store_limits_t){.chunk_size = 256});
  store_topic_t *a, *b;
  CHECK(store_topic_create(&s, S("a"), S("p"), &a) == 0);
  CHECK(store_topic_create(&s, S("b"), S("p"), &b) == 0);
  CHECK(append_n(&s, a, 300, 1));
  CHECK(append_n(&s, b, 120, 1));
  uint64_t am, ab, bm, bb;
  sums(a, &am, &ab);
  sums(b, &bm, &bb);
  CHECK(a->bytes == ab && b->bytes == bb);
  CHECK(s.messages == am + bm && s.bytes == ab + bb);
  CHECK(store_subscribe(&s, a, S("s1"), 0) == 0);
  store_topic_delete(&s, a);
  CHECK(s.messages == bm && s.bytes == bb);
  store_topic_delete(&s, b);
  CHECK(s.messages == 0 && s.bytes == 0);
  CHECK(s.topics.count == 0);
  store_free(&s);
}

CASE(free_with_everything) {
  /* store_free releases topics, records, cursors and registries. */
  store_t s;
  store_init(&s, &(store_limits_t){.chunk_size = 128});
  char name[16];
  for (int i = 0; i < 20; i++) {
    store_topic_t *t;
    int n = snprintf(name, sizeof name, "topic-%d", i);
    CHECK(store_topic_create(&s, name, (size_t)n, S("owner"), &t) == 0);
    CHECK(append_n(&s, t, (uint64_t)i * 10, 1));
    CHECK(store_subscribe(&s, t, S("s1"), 0) == 0);
    CHECK(store_subscribe(&s, t, S("s2"), 5) == 0);
  }
  CHECK(store_publisher_create(&s, S("owner")) == 0);
  CHECK(store_subscriber_create(&s, S("s1")) == 0);
  store_free(&s);
}

/* ---- producer seqs, dedup, truncate, reset -------------------------------- */

/* One record at t->next with append_n's payload, publisher and time (step
 * 1), carrying (producer, seq). */
static int append_ps(store_t *s, store_topic_t *t, uint64_t producer,
                     uint64_t seq) {
  char data[64], pub[32];
  uint64_t i = t->next, off = UINT64_MAX;
  size_t len = payload(i, data), pl = publisher(i, pub);
  return store_append_seq(s, t, i, pub, pl, producer, seq, data, len, &off) ==
             0 &&
         off == i;
}

/* append_n with time step 1, noting in bounds[] each offset that started a
 * new chunk (the tail changed). */
static int append_track(store_t *s, store_topic_t *t, uint64_t n,
                        uint64_t *bounds, size_t *nb, size_t max) {
  int ok = 1;
  for (uint64_t k = 0; k < n; k++) {
    const store_chunk_t *tail = t->tail;
    uint64_t o = t->next;
    ok &= append_n(s, t, 1, 1);
    if (t->tail != tail && *nb < max)
      bounds[(*nb)++] = o;
  }
  return ok;
}

/* Payload bytes of append_n's records [first, next), computed apart from
 * the store. */
static uint64_t expect_bytes(uint64_t first, uint64_t next) {
  uint64_t b = 0;
  for (uint64_t i = first; i < next; i++)
    b += i % 50;
  return b;
}

/* The log holds exactly append_n's records [first, next): bounds, content,
 * dense offsets, and every counter (the store's only when t is its only
 * topic). */
static void check_log(const store_t *s, const store_topic_t *t,
                      uint64_t first, uint64_t next, int *ok) {
  uint64_t msgs, bytes, start = UINT64_MAX;
  *ok &= t->first == first && t->next == next;
  *ok &= (t->head == NULL) == (first == next) && (t->head == NULL) ==
                                                     (t->tail == NULL);
  sums(t, &msgs, &bytes);
  *ok &= msgs == next - first && bytes == expect_bytes(first, next);
  *ok &= t->bytes == bytes;
  *ok &= check_from(t, 0, 1, &start, ok) == msgs;
  *ok &= msgs == 0 || start == first;
  if (s->topics.count == 1)
    *ok &= s->messages == msgs && s->bytes == bytes;
}

/* The record at `offset` carries (producer, seq). */
static bool record_is(const store_topic_t *t, uint64_t offset,
                      uint64_t producer, uint64_t seq) {
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, offset);
  return store_iter_next(&it, &m) && m.offset == offset &&
         m.producer == producer && m.seq == seq;
}

CASE(seq_round_trip) {
  static const struct {
    uint64_t producer, seq;
  } cases[] = {
      {0, 0}, {1, 1}, {1, 2}, {42, 7}, {UINT64_MAX, UINT64_MAX - 1},
      {0x0102030405060708ULL, 0x1122334455667788ULL}, {0, 5}, {9, 0},
  };
  size_t nc = sizeof cases / sizeof cases[0];
  store_t s;
  store_init(&s, &(store_limits_t){.chunk_size = 100});
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  for (size_t r = 0; r < 3; r++) /* several rounds: across chunks */
    for (size_t i = 0; i < nc; i++)
      CHECK(append_ps(&s, t, cases[i].producer, cases[i].seq));
  CHECK(append_n(&s, t, 1, 1)); /* store_append: 0, 0 */
  /* Refused before anything changes: no record, no dedup entry. */
  char pub[256];
  memset(pub, 'p', sizeof pub);
  size_t before = t->producers.count;
  CHECK(store_append_seq(&s, t, 1, pub, 256, 77, 1, S("x"), NULL) ==
        HS_ETOO_LARGE);
  CHECK(t->producers.count == before && !store_dedup(t, 77, 1, NULL));

  int ok = 1;
  check_log(&s, t, 0, 3 * nc + 1, &ok);
  CHECK(ok);
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, 0);
  for (size_t r = 0; r < 3; r++)
    for (size_t i = 0; i < nc; i++) {
      CHECK(store_iter_next(&it, &m) && m.offset == r * nc + i);
      CHECK(m.producer == cases[i].producer && m.seq == cases[i].seq);
    }
  CHECK(store_iter_next(&it, &m) && m.producer == 0 && m.seq == 0);
  CHECK(!store_iter_next(&it, &m));
  store_free(&s);
}

CASE(dedup_finds_offsets) {
  /* A sends even seqs only (its odd ones went elsewhere), B every seq,
   * interleaved with records without a producer, over many chunks. */
  enum { N = 100, A = 7, B = 9 };
  uint64_t a_off[N + 1], b_off[N + 1];
  store_t s;
  store_init(&s, &(store_limits_t){.chunk_size = 256});
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  for (uint64_t k = 1; k <= N; k++) {
    a_off[k] = t->next;
    CHECK(append_ps(&s, t, A, 2 * k));
    CHECK(append_n(&s, t, 1, 1));
    b_off[k] = t->next;
    CHECK(append_ps(&s, t, B, k));
  }
  CHECK(t->head != t->tail && t->producers.count == 2);

  uint64_t o = 0;
  CHECK(!store_dedup(t, 0, 0, &o) && !store_dedup(t, 0, 5, &o));
  CHECK(!store_dedup(t, 11, 1, &o));           /* unknown producer */
  CHECK(!store_dedup(t, A, 2 * N + 1, &o));    /* above the last */
  CHECK(!store_dedup(t, B, N + 1, NULL));
  for (uint64_t k = 1; k <= N; k++) {
    o = 0;
    CHECK(store_dedup(t, A, 2 * k, &o) && o == a_off[k]);
    CHECK(record_is(t, o, A, 2 * k));
    o = 0;
    CHECK(store_dedup(t, B, k, &o) && o == b_off[k]);
    /* A skipped odd seq is below the last but no record has it: a retry
     * arriving late, not a duplicate. */
    CHECK(!store_dedup(t, A, 2 * k - 1, &o));
  }
  CHECK(!store_dedup(t, A, 0, NULL) && store_dedup(t, A, 2 * N, NULL));

  /* The next seq becomes a dup once stored; a lower one does not move the
   * entry. */
  CHECK(append_ps(&s, t, A, 2 * N + 1));
  CHECK(store_dedup(t, A, 2 * N + 1, &o) && o == t->next - 1);
  CHECK(append_ps(&s, t, A, 3));
  CHECK(store_dedup(t, A, 2 * N + 1, &o) && o == t->next - 2);
  CHECK(!store_dedup(t, A, 2 * N + 2, NULL));
  store_free(&s);
}

/* The offset of (producer, seq) by reading the whole log, or UINT64_MAX. */
static uint64_t find_by_scan(const store_topic_t *t, uint64_t producer,
                             uint64_t seq) {
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, t->first);
  while (store_iter_next(&it, &m))
    if (m.producer == producer && m.seq == seq) return m.offset;
  return UINT64_MAX;
}

/* Every seq up to past the highest, answered as a read of the log would. */
static int dedup_agrees(const store_topic_t *t, uint64_t producer,
                        uint64_t upto) {
  for (uint64_t q = 0; q <= upto; q++) {
    uint64_t o = 0, want = find_by_scan(t, producer, q);
    bool dup = store_dedup(t, producer, q, &o);
    if (want == UINT64_MAX ? dup : !dup || o != want) {
      fprintf(stderr, "seq %llu: dedup %d at %llu, log at %llu\n",
              (unsigned long long)q, dup, (unsigned long long)o,
              (unsigned long long)want);
      return 0;
    }
  }
  return 1;
}

CASE(dedup_window_matches_the_log) {
  /* Seqs out of order within blocks, gaps, jumps across word edges and
   * past the window, retries of missing seqs appended late, then a cut
   * that rewrites the entry: each answer as reading the log gives. */
  enum { P = 42 };
  store_t s;
  store_init(&s, &(store_limits_t){.chunk_size = 4096});
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  uint64_t seq = 1, rnd = 12345;
  const uint64_t jumps[] = {1, 2, 63, 64, 65, 130, 1023, 1024, 1025, 5000, 3};
  for (size_t j = 0; j < sizeof jumps / sizeof *jumps; j++) {
    uint64_t block[40];
    for (int i = 0; i < 40; i++) block[i] = seq + (uint64_t)i;
    for (int i = 39; i > 0; i--) { /* shuffled: retries out of order */
      rnd = rnd * 6364136223846793005u + 1442695040888963407u;
      int k = (int)((rnd >> 33) % (uint64_t)(i + 1));
      uint64_t x = block[i];
      block[i] = block[k];
      block[k] = x;
    }
    for (int i = 0; i < 40; i++)
      if (block[i] % 7 != 3) CHECK(append_ps(&s, t, P, block[i]));
    seq += 40 + jumps[j];
  }
  CHECK(append_n(&s, t, 5, 1)); /* records without a producer between */
  CHECK(append_ps(&s, t, P, seq - 2000)); /* a late retry, below the window */
  CHECK(append_ps(&s, t, P, seq - 5));    /* and one within it */
  CHECK(dedup_agrees(t, P, seq + 2));
  /* A cut takes the entry back to the last record left: the window is
   * not trusted past that, and answers stay right. */
  CHECK(store_truncate(&s, t, t->next - 50) == 0);
  CHECK(dedup_agrees(t, P, seq + 2));
  uint64_t again = seq + 10;
  CHECK(append_ps(&s, t, P, again));
  CHECK(append_ps(&s, t, P, again - 3));
  CHECK(dedup_agrees(t, P, again + 2));
  store_free(&s);
}

CASE(dedup_after_retention) {
  store_limits_t l = {.retain_messages = 20, .chunk_size = 256};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_ps(&s, t, 5, 1)); /* Q: one record, soon dropped */
  for (uint64_t k = 1; k <= 200; k++)
    CHECK(append_ps(&s, t, 3, k)); /* P: seq k at offset k */
  CHECK(t->first > 1 && t->next == 201);

  uint64_t o = 0;
  /* The entry's own record is gone: still a dup, no offset. */
  CHECK(store_dedup(t, 5, 1, &o) && o == UINT64_MAX);
  CHECK(!store_dedup(t, 5, 2, &o));
  /* An older seq whose record was dropped is not known any more. */
  CHECK(!store_dedup(t, 3, 1, &o));
  CHECK(!store_dedup(t, 3, t->first - 1, &o));
  CHECK(store_dedup(t, 3, t->first, &o) && o == t->first);
  CHECK(store_dedup(t, 3, 200, &o) && o == 200);
  CHECK(store_dedup(t, 3, t->first + 3, &o) && o == t->first + 3);

  /* Age retention the same. */
  store_free(&s);
  store_init(&s, &(store_limits_t){.retain_ms = 100, .chunk_size = 256});
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  for (uint64_t k = 1; k <= 300; k++)
    CHECK(append_ps(&s, t, 3, k)); /* time = offset = k - 1 */
  store_expire(&s, 1000);
  CHECK(t->first > 0 && t->head == t->tail);
  CHECK(!store_dedup(t, 3, 1, &o));
  CHECK(store_dedup(t, 3, 300, &o) && o == 299);
  CHECK(store_dedup(t, 3, t->first + 1, &o) && o == t->first);
  store_free(&s);
}

CASE(dedup_eviction) {
  store_t s;
  store_init(&s, NULL);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  /* Producer p at offset p - 1. */
  for (uint64_t p = 1; p <= STORE_PRODUCERS_MAX; p++)
    CHECK(append_ps(&s, t, p, 1));
  CHECK(t->producers.count == STORE_PRODUCERS_MAX);
  for (uint64_t p = 1; p <= STORE_PRODUCERS_MAX; p++)
    CHECK(store_dedup(t, p, 1, NULL));

  /* Producer 1 sends again, so 2 holds the oldest offset: the newcomer
   * evicts 2, not the first inserted. */
  CHECK(append_ps(&s, t, 1, 2));
  CHECK(append_ps(&s, t, 5000, 1));
  CHECK(t->producers.count == STORE_PRODUCERS_MAX);
  CHECK(!store_dedup(t, 2, 1, NULL));
  CHECK(store_dedup(t, 1, 1, NULL) && store_dedup(t, 1, 2, NULL));
  CHECK(store_dedup(t, 3, 1, NULL) && store_dedup(t, 5000, 1, NULL));
  CHECK(append_ps(&s, t, 5001, 1));
  CHECK(!store_dedup(t, 3, 1, NULL) && store_dedup(t, 4, 1, NULL));
  CHECK(t->producers.count == STORE_PRODUCERS_MAX);
  /* Known producers cost no entry. */
  CHECK(append_ps(&s, t, 5001, 2) && append_ps(&s, t, 4, 2));
  CHECK(t->producers.count == STORE_PRODUCERS_MAX);
  CHECK(store_dedup(t, 5, 1, NULL));
  store_free(&s);
}

/* A topic of 300 small records over many 256-byte chunks; bounds[] gets
 * the first offset of each chunk. */
static store_topic_t *chunked(store_t *s, uint64_t *bounds, size_t *nb,
                              size_t max) {
  store_topic_t *t = NULL;
  store_init(s, &(store_limits_t){.chunk_size = 256});
  if (store_topic_create(s, S("t"), S("p"), &t) != 0 ||
      !append_track(s, t, 300, bounds, nb, max))
    return NULL;
  return t;
}

CASE(truncate_middle_of_chunk) {
  uint64_t b[300];
  size_t nb = 0;
  store_t s;
  store_topic_t *t = chunked(&s, b, &nb, 300);
  CHECK(t && nb > 10 && b[0] == 0);
  int ok = 1;

  /* In the tail chunk: it stays the tail. */
  uint64_t cut = b[nb - 1] + 1;
  CHECK(cut < 299);
  const store_chunk_t *tail = t->tail;
  CHECK(store_truncate(&s, t, cut) == 0);
  CHECK(t->tail == tail);
  check_log(&s, t, 0, cut, &ok);
  CHECK(ok);

  /* In a middle chunk: that chunk becomes the tail. */
  cut = b[nb / 2] + 2;
  CHECK(cut < b[nb / 2 + 1]);
  CHECK(store_truncate(&s, t, cut) == 0);
  check_log(&s, t, 0, cut, &ok);
  CHECK(ok);

  /* Appends continue at cut, dense, into the cut chunk's free space and
   * then new chunks. */
  tail = t->tail;
  CHECK(append_n(&s, t, 1, 1) && t->tail == tail);
  CHECK(append_n(&s, t, 99, 1));
  check_log(&s, t, 0, cut + 100, &ok);
  CHECK(ok);
  store_free(&s);
}

CASE(truncate_at_chunk_boundary) {
  uint64_t b[300];
  size_t nb = 0;
  store_t s;
  store_topic_t *t = chunked(&s, b, &nb, 300);
  CHECK(t && nb > 3);
  int ok = 1;
  /* Cutting at the tail's first record frees the tail. */
  const store_chunk_t *last = t->tail;
  CHECK(store_truncate(&s, t, b[nb - 1]) == 0);
  CHECK(t->tail != last && t->tail != NULL);
  check_log(&s, t, 0, b[nb - 1], &ok);
  CHECK(ok);
  /* The next record goes into a new chunk (the old tail was full), and
   * iteration crosses into it. */
  const store_chunk_t *prev = t->tail;
  CHECK(append_n(&s, t, 1, 1) && t->tail != prev);
  check_log(&s, t, 0, b[nb - 1] + 1, &ok);
  CHECK(ok);
  /* At the second chunk's start: one chunk left. */
  CHECK(store_truncate(&s, t, b[1]) == 0);
  CHECK(t->head == t->tail && t->head);
  check_log(&s, t, 0, b[1], &ok);
  CHECK(ok);
  store_free(&s);
}

CASE(truncate_across_chunks) {
  uint64_t b[300];
  size_t nb = 0;
  store_t s;
  store_topic_t *t = chunked(&s, b, &nb, 300);
  CHECK(t && nb > 10);
  store_topic_t *u;
  CHECK(store_topic_create(&s, S("u"), S("p"), &u) == 0);
  CHECK(append_n(&s, u, 77, 1));
  int ok = 1;
  uint64_t cuts[] = {b[nb - 2] + 3, b[nb / 2] - 1, b[2] + 1, 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    CHECK(store_truncate(&s, t, cuts[i]) == 0);
    check_log(&s, t, 0, cuts[i], &ok);
    CHECK(ok);
    /* Two topics: the store's counters are both sums. */
    CHECK(s.messages == cuts[i] + 77);
    CHECK(s.bytes == expect_bytes(0, cuts[i]) + expect_bytes(0, 77));
    CHECK(s.bytes == t->bytes + u->bytes);
  }
  check_log(&s, u, 0, 77, &ok);
  CHECK(ok && t->head == t->tail);
  store_free(&s);
}

CASE(truncate_to_first) {
  store_limits_t l = {.retain_messages = 30, .chunk_size = 256};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_n(&s, t, 200, 1));
  uint64_t first = t->first;
  CHECK(first > 0);
  int ok = 1;
  /* To first: no records, no chunks, first unchanged. */
  CHECK(store_truncate(&s, t, first) == 0);
  check_log(&s, t, first, first, &ok);
  CHECK(ok && t->head == NULL && s.messages == 0 && s.bytes == 0);
  CHECK(t->bytes == 0);
  /* Appends continue at first, retention included. */
  CHECK(append_n(&s, t, 100, 1));
  CHECK(t->next == first + 100 && t->first > first);
  check_log(&s, t, t->first, first + 100, &ok);
  CHECK(ok);
  /* Below first: everything goes and both move down to it. */
  uint64_t low = t->first - 5;
  CHECK(store_truncate(&s, t, low) == 0);
  check_log(&s, t, low, low, &ok);
  CHECK(ok);
  CHECK(append_n(&s, t, 3, 1));
  check_log(&s, t, low, low + 3, &ok);
  CHECK(ok);
  /* To 0. */
  CHECK(store_truncate(&s, t, 0) == 0);
  check_log(&s, t, 0, 0, &ok);
  CHECK(ok);
  store_free(&s);
}

CASE(truncate_beyond_next) {
  uint64_t b[300];
  size_t nb = 0;
  store_t s;
  store_topic_t *t = chunked(&s, b, &nb, 300);
  CHECK(t);
  const store_chunk_t *head = t->head, *tail = t->tail;
  uint64_t cuts[] = {300, 301, UINT64_MAX};
  for (size_t i = 0; i < 3; i++) {
    CHECK(store_truncate(&s, t, cuts[i]) == 0);
    int ok = 1;
    check_log(&s, t, 0, 300, &ok);
    CHECK(ok && t->head == head && t->tail == tail);
  }
  /* An empty topic, too. */
  store_topic_t *e;
  CHECK(store_topic_create(&s, S("e"), S("p"), &e) == 0);
  CHECK(store_truncate(&s, e, 0) == 0 && store_truncate(&s, e, 5) == 0);
  CHECK(e->first == 0 && e->next == 0 && e->head == NULL);
  store_free(&s);
}

CASE(truncate_clamps_cursors) {
  store_t s;
  store_init(&s, &(store_limits_t){.chunk_size = 256});
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_n(&s, t, 40, 1));
  CHECK(store_subscribe(&s, t, S("a"), 5) == 0);
  CHECK(store_subscribe(&s, t, S("b"), 20) == 0);
  CHECK(store_subscribe(&s, t, S("c"), 40) == 0);
  CHECK(store_subscribe(&s, t, S("d"), 15) == 0);
  CHECK(store_truncate(&s, t, 15) == 0);
  CHECK(store_cursor(t, S("a"))->next == 5);
  CHECK(store_cursor(t, S("b"))->next == 15);
  CHECK(store_cursor(t, S("c"))->next == 15);
  CHECK(store_cursor(t, S("d"))->next == 15);
  /* Reading from a clamped cursor sees the next append. */
  CHECK(append_n(&s, t, 1, 1));
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, store_cursor(t, S("c"))->next);
  CHECK(store_iter_next(&it, &m) && m.offset == 15);
  CHECK(!store_iter_next(&it, &m));
  CHECK(store_truncate(&s, t, 2) == 0);
  CHECK(store_cursor(t, S("a"))->next == 2);
  CHECK(store_cursor(t, S("b"))->next == 2);
  store_free(&s);
}

CASE(truncate_rebuilds_dedup) {
  enum { A = 1, B = 2, C = 3, D = 4 };
  store_limits_t l = {.retain_messages = 60, .chunk_size = 256};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(append_ps(&s, t, D, 1)); /* D: retention drops its only record */
  CHECK(append_n(&s, t, 80, 1));
  CHECK(t->first > 1);
  uint64_t a_off[11];
  for (uint64_t k = 1; k <= 10; k++) {
    CHECK(append_ps(&s, t, C, k));
    a_off[k] = t->next;
    CHECK(append_ps(&s, t, A, k));
  }
  uint64_t cut = a_off[8]; /* removes A's seqs 8..10 and C's 8..10 */
  CHECK(append_ps(&s, t, B, 1) && append_ps(&s, t, B, 2));
  CHECK(t->producers.count == 4);

  CHECK(store_truncate(&s, t, cut) == 0);
  uint64_t o = 0;
  CHECK(!store_dedup(t, A, 8, &o) && !store_dedup(t, A, 10, &o));
  CHECK(store_dedup(t, A, 7, &o) && o == a_off[7]);
  CHECK(store_dedup(t, A, 1, &o) && o == a_off[1]);
  CHECK(store_dedup(t, C, 8, &o) && o == cut - 1); /* C 8 precedes A 8 */
  CHECK(!store_dedup(t, C, 9, &o));
  CHECK(!store_dedup(t, B, 1, &o)); /* nothing of B left: forgotten */
  CHECK(store_dedup(t, D, 1, &o) && o == UINT64_MAX); /* kept */
  CHECK(t->producers.count == 3);

  /* The removed seq is stored again at the new end. */
  CHECK(append_ps(&s, t, A, 8));
  CHECK(store_dedup(t, A, 8, &o) && o == cut);
  CHECK(store_dedup(t, A, 7, &o) && o == a_off[7]);

  /* Truncating below first removes every record: entries for records
   * at or past the cut go, D's (older) stays. */
  CHECK(store_truncate(&s, t, 1) == 0);
  CHECK(t->producers.count == 1 && store_dedup(t, D, 1, &o) &&
        o == UINT64_MAX);
  CHECK(!store_dedup(t, A, 1, NULL) && !store_dedup(t, C, 1, NULL));
  int ok = 1;
  check_log(&s, t, 1, 1, &ok);
  CHECK(ok);
  store_free(&s);
}

CASE(reset_to_zero) {
  store_t s;
  store_init(&s, &(store_limits_t){.chunk_size = 256});
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  for (uint64_t k = 1; k <= 50; k++)
    CHECK(append_ps(&s, t, k % 4 + 1, k));
  CHECK(store_subscribe(&s, t, S("a"), 10) == 0);
  CHECK(store_subscribe(&s, t, S("b"), 50) == 0);
  store_topic_reset(&s, t, 0);
  int ok = 1;
  check_log(&s, t, 0, 0, &ok);
  CHECK(ok && t->producers.count == 0 && !store_dedup(t, 2, 1, NULL));
  CHECK(store_cursor(t, S("a"))->next == 0);
  CHECK(store_cursor(t, S("b"))->next == 0);
  CHECK(append_n(&s, t, 120, 1));
  check_log(&s, t, 0, 120, &ok);
  CHECK(ok);
  store_free(&s);
}

CASE(reset_to_large_first) {
  const uint64_t F = 1000000000000ULL;
  store_limits_t l = {.retain_messages = 50, .retain_ms = 100,
                      .chunk_size = 256};
  store_t s;
  store_init(&s, &l);
  store_topic_t *t, *u;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  CHECK(store_topic_create(&s, S("u"), S("p"), &u) == 0);
  CHECK(append_n(&s, t, 30, 1) && append_n(&s, u, 30, 1));
  for (uint64_t k = 1; k <= 5; k++)
    CHECK(append_ps(&s, t, 9, k));
  CHECK(store_subscribe(&s, t, S("a"), 3) == 0);
  store_topic_reset(&s, t, F);
  CHECK(s.messages == 30 && s.bytes == u->bytes);
  CHECK(t->first == F && t->next == F && t->head == NULL && t->bytes == 0);
  CHECK(store_cursor(t, S("a"))->next == F);
  CHECK(!store_dedup(t, 9, 1, NULL) && t->producers.count == 0);

  /* A topic with no chunks and first > 0: iteration, subscribing,
   * truncation, age retention. */
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, 0);
  CHECK(!store_iter_next(&it, &m));
  store_iter_init(&it, t, F);
  CHECK(!store_iter_next(&it, &m));
  CHECK(store_subscribe(&s, t, S("low"), 0) == 0);
  CHECK(store_subscribe(&s, t, S("high"), UINT64_MAX) == 0);
  CHECK(store_cursor(t, S("low"))->next == F);
  CHECK(store_cursor(t, S("high"))->next == F);
  CHECK(store_truncate(&s, t, F) == 0 && t->first == F && t->next == F);
  store_expire(&s, UINT64_MAX);
  CHECK(t->first == F && t->head == NULL);

  /* Appends continue at F, dense; retention by count keeps working. */
  CHECK(append_n(&s, t, 200, 1));
  CHECK(t->next == F + 200 && t->first > F);
  CHECK(t->next - t->first <= 50 || t->head == t->tail);
  store_topic_delete(&s, u);
  int ok = 1;
  check_log(&s, t, t->first, F + 200, &ok);
  CHECK(ok);
  /* Iterating from below first starts at first. */
  uint64_t start = 0;
  CHECK(check_from(t, 5, 1, &start, &ok) == t->next - t->first &&
        start == t->first && ok);
  /* Age retention: times are offsets here, so all but the tail is old. */
  CHECK(t->head != t->tail);
  store_expire(&s, F + 1000);
  CHECK(t->head == t->tail && t->first > F + 150);
  check_log(&s, t, t->first, F + 200, &ok);
  CHECK(ok);
  /* Dedup after the reset works from F on. */
  CHECK(append_ps(&s, t, 9, 1));
  uint64_t o = 0;
  CHECK(store_dedup(t, 9, 1, &o) && o == F + 200);
  store_free(&s);
}

int main(void) {
  RUN(defaults);
  RUN(registries);
  RUN(topic_create_find_delete);
  RUN(append_dense_offsets);
  RUN(iterate_from);
  RUN(iterate_from_every_offset);
  RUN(empty_topic_iteration);
  RUN(iterator_sees_later_appends);
  RUN(record_larger_than_chunk);
  RUN(empty_payload_and_publisher);
  RUN(payload_and_publisher_round_trip);
  RUN(retention_by_count);
  RUN(retention_by_bytes);
  RUN(retention_keeps_newest_chunk);
  RUN(expire_by_age);
  RUN(cursors);
  RUN(accounting_across_topics);
  RUN(free_with_everything);
  RUN(seq_round_trip);
  RUN(dedup_finds_offsets);
  RUN(dedup_window_matches_the_log);
  RUN(dedup_after_retention);
  RUN(dedup_eviction);
  RUN(truncate_middle_of_chunk);
  RUN(truncate_at_chunk_boundary);
  RUN(truncate_across_chunks);
  RUN(truncate_to_first);
  RUN(truncate_beyond_next);
  RUN(truncate_clamps_cursors);
  RUN(truncate_rebuilds_dedup);
  RUN(reset_to_zero);
  RUN(reset_to_large_first);
  UNIT_EXIT();
}
