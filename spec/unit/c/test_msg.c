/* test_msg — the typed codec of every op body (proto/msg.h): each encodes
 * and decodes back to the same fields, every strict prefix of a body fails
 * naming a field (never reads past the end), a byte too many fails where
 * the body has no trailing view, lists are walked back whole, and a count
 * larger than the bytes could hold is refused before anything is sized.
 *
 * Bodies under test are copied into malloc'd buffers of exactly their
 * size, so an overread is an ASan report under `make asan`. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "hypersub.h"
#include "proto/msg.h"
#include "unit.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static bool same(msg_str_t a, const char *s) {
  return a.n == strlen(s) && memcmp(a.s, s, a.n) == 0;
}

static msg_str_t S(const char *s) { return msg_str(s, strlen(s)); }

/* A case: writes a body, then checks a decode of it. */
typedef struct codec_case {
  const char *name;
  void (*put)(wire_writer_t *w);
  bool (*get)(wire_reader_t *r); /* decodes and compares every field */
  bool rest;                     /* ends in a view: extra bytes are its */
} codec_case_t;

/* ---- the cases ------------------------------------------------------------- */

static void put_hello(wire_writer_t *w) {
  msg_hello_t m = {.role = WIRE_ROLE_CLIENT, .cluster = S("hypersub"),
                   .user = S("alice"), .nonce = {1, 2, 3}};
  msg_hello_put(w, &m);
}
static bool get_hello(wire_reader_t *r) {
  msg_hello_t m;
  return msg_hello_get(r, &m) && m.role == WIRE_ROLE_CLIENT &&
         same(m.cluster, "hypersub") && same(m.user, "alice") &&
         m.nonce[2] == 3;
}

static void put_hello_peer(wire_writer_t *w) {
  msg_hello_t m = {.role = WIRE_ROLE_PEER, .cluster = S("c"), .node = 7,
                   .incarnation = 99, .replicas = 3, .nonce = {9}};
  msg_hello_put(w, &m);
}
static bool get_hello_peer(wire_reader_t *r) {
  msg_hello_t m;
  return msg_hello_get(r, &m) && m.role == WIRE_ROLE_PEER && m.node == 7 &&
         m.incarnation == 99 && m.replicas == 3 && m.nonce[0] == 9;
}

static void put_hello_reply(wire_writer_t *w) {
  msg_hello_reply_t m = {.node = 5, .max_frame = 1 << 20,
                         .auth = MSG_AUTH_PASSWORD, .nonce = {4},
                         .salt = {5}, .ops = 2, .mem_kib = 16384};
  msg_hello_reply_put(w, &m);
}
static bool get_hello_reply(wire_reader_t *r) {
  msg_hello_reply_t m;
  return msg_hello_reply_get(r, &m) && m.node == 5 && m.max_frame == 1 << 20 &&
         m.auth == MSG_AUTH_PASSWORD && m.nonce[0] == 4 && m.salt[0] == 5 &&
         m.ops == 2 && m.mem_kib == 16384;
}

static void put_auth(wire_writer_t *w) {
  msg_auth_t m = {S("0123456789abcdef0123456789abcdef"), S("VIEW")};
  msg_auth_put(w, &m);
}
static bool get_auth(wire_reader_t *r) {
  msg_auth_t m;
  return msg_auth_get(r, &m) && m.proof.n == 32 && same(m.view, "VIEW");
}

static void put_id(wire_writer_t *w) {
  msg_id_t m = {S("p1")};
  msg_id_put(w, &m);
}
static bool get_id(wire_reader_t *r) {
  msg_id_t m;
  return msg_id_get(r, &m) && same(m.id, "p1");
}

static void put_topic(wire_writer_t *w) {
  msg_topic_t m = {S("p1"), S("news")};
  msg_topic_put(w, &m);
}
static bool get_topic(wire_reader_t *r) {
  msg_topic_t m;
  return msg_topic_get(r, &m) && same(m.publisher, "p1") && same(m.topic, "news");
}

static const char payload[] = {0, 1, 2, (char)0xff, 0};

static void put_publish(wire_writer_t *w) {
  msg_publish_t m = {S("p"), S("t"), HS_ACK_ALL, 99, 1234,
                     msg_str(payload, sizeof payload)};
  msg_publish_put(w, &m);
}
static bool get_publish(wire_reader_t *r) {
  msg_publish_t m;
  return msg_publish_get(r, &m) && same(m.publisher, "p") && same(m.topic, "t") &&
         m.ack == HS_ACK_ALL && m.producer == 99 && m.seq == 1234 &&
         m.data.n == sizeof payload && !memcmp(m.data.s, payload, sizeof payload);
}

static void put_offset(wire_writer_t *w) {
  msg_offset_t m = {UINT64_MAX - 1};
  msg_offset_put(w, &m);
}
static bool get_offset(wire_reader_t *r) {
  msg_offset_t m;
  return msg_offset_get(r, &m) && m.offset == UINT64_MAX - 1;
}

static void put_subscribe(wire_writer_t *w) {
  msg_subscribe_t m = {S("s"), S("t"), HS_FROM_OFFSET, 42};
  msg_subscribe_put(w, &m);
}
static bool get_subscribe(wire_reader_t *r) {
  msg_subscribe_t m;
  return msg_subscribe_get(r, &m) && same(m.subscriber, "s") &&
         same(m.topic, "t") && m.from == HS_FROM_OFFSET && m.offset == 42;
}

static void put_pull(wire_writer_t *w) {
  msg_pull_t m = {S("s"), S("t"), 100, UINT64_MAX, 2500};
  msg_pull_put(w, &m);
}
static bool get_pull(wire_reader_t *r) {
  msg_pull_t m;
  return msg_pull_get(r, &m) && same(m.subscriber, "s") && same(m.topic, "t") &&
         m.max == 100 && m.seen == UINT64_MAX && m.wait_ms == 2500;
}

static void put_read(wire_writer_t *w) {
  msg_read_t m = {3, {S("s"), S("t"), 1, 7, 0}};
  msg_read_put(w, &m);
}
static bool get_read(wire_reader_t *r) {
  msg_read_t m;
  return msg_read_get(r, &m) && m.server == 3 && same(m.pull.topic, "t") &&
         m.pull.seen == 7;
}

static void put_messages(wire_writer_t *w) {
  msg_count_t c;
  msg_messages_begin(w, &c);
  for (int i = 0; i < 3; i++) {
    msg_message_t m = {10 + (uint64_t)i, 1000, S("pub"), S(i == 1 ? "" : "data")};
    msg_messages_add(w, &c, &m);
  }
  msg_messages_end(w, &c, 13);
}
static bool get_messages(wire_reader_t *r) {
  msg_messages_t ms;
  msg_message_t m;
  if (!msg_messages_get(r, &ms) || ms.next != 13 || ms.count != 3) return false;
  for (int i = 0; i < 3; i++)
    if (!msg_message_next(&ms, &m) || m.offset != 10 + (uint64_t)i ||
        !same(m.publisher, "pub") || !same(m.data, i == 1 ? "" : "data"))
      return false;
  return !msg_message_next(&ms, &m);
}

static void put_stop(wire_writer_t *w) {
  msg_stop_t m = {4, 250};
  msg_stop_put(w, &m);
}
static bool get_stop(wire_reader_t *r) {
  msg_stop_t m;
  return msg_stop_get(r, &m) && m.node == 4 && m.restart_after_ms == 250;
}

static void put_text(wire_writer_t *w) {
  msg_text_t m = {S("{\"a\":1}")};
  msg_text_put(w, &m);
}
static bool get_text(wire_reader_t *r) {
  msg_text_t m;
  return msg_text_get(r, &m) && same(m.text, "{\"a\":1}");
}

static void put_where(wire_writer_t *w) {
  msg_where_t m = {S("news")};
  msg_where_put(w, &m);
}
static bool get_where(wire_reader_t *r) {
  msg_where_t m;
  return msg_where_get(r, &m) && same(m.topic, "news");
}

static void put_where_reply(wire_writer_t *w) {
  msg_where_reply_t m = {.epoch = 9, .count = 3, .nodes = {4, 0, 5}};
  msg_where_reply_put(w, &m);
}
static bool get_where_reply(wire_reader_t *r) {
  msg_where_reply_t m;
  return msg_where_reply_get(r, &m) && m.epoch == 9 && m.count == 3 &&
         m.nodes[0] == 4 && m.nodes[2] == 5;
}

static void put_prefix(wire_writer_t *w) {
  msg_prefix_t m = {S("")};
  msg_prefix_put(w, &m);
}
static bool get_prefix(wire_reader_t *r) {
  msg_prefix_t m;
  return msg_prefix_get(r, &m) && m.prefix.n == 0;
}

static void put_node(wire_writer_t *w) {
  msg_node_t m = {HS_ID_MAX};
  msg_node_put(w, &m);
}
static bool get_node(wire_reader_t *r) {
  msg_node_t m;
  return msg_node_get(r, &m) && m.node == HS_ID_MAX;
}

static void put_error(wire_writer_t *w) {
  msg_error_t m = {5, S("topic \"x\" does not exist")};
  msg_error_put(w, &m);
}
static bool get_error(wire_reader_t *r) {
  msg_error_t m;
  return msg_error_get(r, &m) && m.code == 5 &&
         same(m.message, "topic \"x\" does not exist");
}

static void put_lookup(wire_writer_t *w) {
  msg_lookup_t m = {MSG_SUBSCRIBER, S("s1")};
  msg_lookup_put(w, &m);
}
static bool get_lookup(wire_reader_t *r) {
  msg_lookup_t m;
  return msg_lookup_get(r, &m) && m.kind == MSG_SUBSCRIBER && same(m.id, "s1");
}

static void put_exists(wire_writer_t *w) {
  msg_exists_t m = {1};
  msg_exists_put(w, &m);
}
static bool get_exists(wire_reader_t *r) {
  msg_exists_t m;
  return msg_exists_get(r, &m) && m.exists == 1;
}

static void put_repl_cursor(wire_writer_t *w) {
  msg_replicate_t m = {.kind = REPL_CURSOR, .name = S("t"),
                       .subscriber = S("s"), .next = 77, .prev = 70};
  msg_replicate_put(w, &m);
}
static bool get_repl_cursor(wire_reader_t *r) {
  msg_replicate_t m;
  return msg_replicate_get(r, &m) && m.kind == REPL_CURSOR && same(m.name, "t") &&
         same(m.subscriber, "s") && m.next == 77 && m.prev == 70;
}

static void put_repl_commit(wire_writer_t *w) {
  msg_replicate_t m = {.kind = REPL_COMMIT, .name = S("t"), .committed = 5};
  msg_replicate_put(w, &m);
}
static bool get_repl_commit(wire_reader_t *r) {
  msg_replicate_t m;
  return msg_replicate_get(r, &m) && m.kind == REPL_COMMIT && m.committed == 5;
}

static void put_repl_identity(wire_writer_t *w) {
  msg_replicate_t m = {.kind = REPL_PUBLISHER, .name = S("p9")};
  msg_replicate_put(w, &m);
}
static bool get_repl_identity(wire_reader_t *r) {
  msg_replicate_t m;
  return msg_replicate_get(r, &m) && m.kind == REPL_PUBLISHER &&
         same(m.name, "p9");
}

static void put_append(wire_writer_t *w) {
  msg_replicate_t h = {.kind = REPL_APPEND, .name = S("t"), .committed = 3,
                       .first = 4, .term = 7};
  msg_count_t c;
  msg_append_begin(w, &c, &h);
  for (int i = 0; i < 2; i++) {
    msg_record_t rec = {100 + (uint64_t)i, S("p"), 8, (uint64_t)i, S("x")};
    msg_append_add(w, &c, &rec);
  }
  msg_list_end(w, &c);
}
static bool get_append(wire_reader_t *r) {
  msg_replicate_t m;
  msg_record_t rec;
  if (!msg_replicate_get(r, &m) || m.kind != REPL_APPEND || m.committed != 3 ||
      m.first != 4 || m.term != 7 || m.list.left != 2)
    return false;
  for (int i = 0; i < 2; i++)
    if (!msg_record_next(&m, &rec) || rec.time_ms != 100 + (uint64_t)i ||
        rec.producer != 8 || rec.seq != (uint64_t)i || !same(rec.data, "x"))
      return false;
  return !msg_record_next(&m, &rec);
}

static void put_sync(wire_writer_t *w) {
  msg_replicate_t h = {.kind = REPL_SYNC, .name = S("t"), .owner = S("p"),
                       .first = 1, .next = 9, .committed = 8};
  msg_count_t c;
  const uint64_t terms[2][2] = {{1, 0}, {3, 5}};
  msg_sync_begin(w, &c, &h, terms, 2);
  msg_cursor_t cur = {S("s1"), 3, 2};
  msg_sync_add(w, &c, &cur);
  msg_list_end(w, &c);
}
static bool get_sync(wire_reader_t *r) {
  msg_replicate_t m;
  msg_cursor_t cur;
  uint64_t term, start;
  return msg_replicate_get(r, &m) && m.kind == REPL_SYNC && same(m.owner, "p") &&
         m.first == 1 && m.next == 9 && m.committed == 8 &&
         msg_term_next(&m, &term, &start) && term == 1 && start == 0 &&
         msg_term_next(&m, &term, &start) && term == 3 && start == 5 &&
         !msg_term_next(&m, &term, &start) &&
         msg_cursor_next(&m, &cur) && same(cur.subscriber, "s1") &&
         cur.next == 3 && cur.prev == 2 && !msg_cursor_next(&m, &cur);
}

static void put_ack(wire_writer_t *w) {
  msg_ack_t m = {12, S("t"), 9};
  msg_ack_put(w, &m);
}
static bool get_ack(wire_reader_t *r) {
  msg_ack_t m;
  return msg_ack_get(r, &m) && m.next == 12 && same(m.name, "t") && m.part == 9;
}

static void put_homed(wire_writer_t *w) {
  msg_homed_t m = {2, S("pre")};
  msg_homed_put(w, &m);
}
static bool get_homed(wire_reader_t *r) {
  msg_homed_t m;
  return msg_homed_get(r, &m) && m.node == 2 && same(m.prefix, "pre");
}

static void put_rewind(wire_writer_t *w) {
  msg_rewind_t m = {S("s"), S("t"), 3, 7};
  msg_rewind_put(w, &m);
}
static bool get_rewind(wire_reader_t *r) {
  msg_rewind_t m;
  return msg_rewind_get(r, &m) && m.from == 3 && m.expect == 7 &&
         same(m.topic, "t");
}

static void put_key(wire_writer_t *w) {
  msg_key_t m = {S("s"), S("t")};
  msg_key_put(w, &m);
}
static bool get_key(wire_reader_t *r) {
  msg_key_t m;
  return msg_key_get(r, &m) && same(m.subscriber, "s") && same(m.topic, "t");
}

static void put_ping(wire_writer_t *w) {
  msg_ping_t m = {4, 0xdeadbeef};
  msg_ping_put(w, &m);
}
static bool get_ping(wire_reader_t *r) {
  msg_ping_t m;
  return msg_ping_get(r, &m) && m.epoch == 4 && m.digest == 0xdeadbeef;
}

static void put_pong(wire_writer_t *w) {
  msg_pong_t m = {4, 5, S("VIEW")};
  msg_pong_put(w, &m);
}
static bool get_pong(wire_reader_t *r) {
  msg_pong_t m;
  return msg_pong_get(r, &m) && m.epoch == 4 && m.digest == 5 &&
         same(m.view, "VIEW");
}

static void put_claim(wire_writer_t *w) {
  msg_claim_t m = {S("s"), S("t"), 6, 1, 9, 100, 4, 1000};
  msg_claim_put(w, &m);
}
static bool get_claim(wire_reader_t *r) {
  msg_claim_t m;
  return msg_claim_get(r, &m) && m.server == 6 && m.first == 1 && m.next == 9 &&
         m.max == 100 && m.seen == 4 && m.wait_ms == 1000;
}

static void put_claim_range(wire_writer_t *w) { msg_claim_range_put(w, 5, 3); }
static bool get_claim_range(wire_reader_t *r) {
  msg_claim_reply_t m;
  return msg_claim_reply_get(r, &m) && !m.served_at_home && m.from == 5 &&
         m.count == 3;
}

static void put_claim_served(wire_writer_t *w) {
  msg_claim_served_put(w);
  put_messages(w);
}
static bool get_claim_served(wire_reader_t *r) {
  msg_claim_reply_t m;
  wire_reader_t body;
  if (!msg_claim_reply_get(r, &m) || !m.served_at_home ||
      m.messages.count != 3)
    return false;
  wire_reader_init(&body, m.body.s, m.body.n); /* the PULL body it came in */
  return get_messages(&body);
}

static void put_join(wire_writer_t *w) {
  msg_join_t m = {HS_ID_ANY, S("127.0.0.1:7000"), 3};
  msg_join_put(w, &m);
}
static bool get_join(wire_reader_t *r) {
  msg_join_t m;
  return msg_join_get(r, &m) && m.id == HS_ID_ANY &&
         same(m.addr, "127.0.0.1:7000") && m.replicas == 3;
}

static void put_join_reply(wire_writer_t *w) {
  msg_join_reply_t m = {9, S("VIEW")};
  msg_join_reply_put(w, &m);
}
static bool get_join_reply(wire_reader_t *r) {
  msg_join_reply_t m;
  return msg_join_reply_get(r, &m) && m.id == 9 && same(m.view, "VIEW");
}

static void put_holding(wire_writer_t *w) {
  msg_count_t c;
  msg_count_begin(w, &c);
  msg_held_topic_t t = {S("news"), 40};
  msg_held_topic_add(w, &c, &t);
  msg_list_end(w, &c);
  msg_count_begin(w, &c);
  msg_held_name_add(w, &c, S("p1"));
  msg_held_name_add(w, &c, S("p2"));
  msg_list_end(w, &c);
  msg_count_begin(w, &c);
  msg_list_end(w, &c);
  msg_holding_end(w, 1, 77);
}
static bool get_holding(wire_reader_t *r) {
  msg_holding_t h;
  msg_held_topic_t t;
  msg_str_t n1, n2, n3;
  return msg_holding_get(r, &h) && msg_held_topic_next(&h.topics, &t) &&
         same(t.name, "news") && t.next == 40 &&
         !msg_held_topic_next(&h.topics, &t) &&
         msg_held_name_next(&h.publishers, &n1) &&
         msg_held_name_next(&h.publishers, &n2) && same(n2, "p2") &&
         !msg_held_name_next(&h.publishers, &n3) &&
         !msg_held_name_next(&h.subscribers, &n3) && h.more == 1 &&
         h.layout == 77;
}

static void put_holding_ask(wire_writer_t *w) {
  msg_holding_ask_t m = {5, 6, S("VIEW")};
  msg_holding_ask_put(w, &m);
}
static bool get_holding_ask(wire_reader_t *r) {
  msg_holding_ask_t m;
  return msg_holding_ask_get(r, &m) && m.skip == 5 && m.layout == 6 &&
         same(m.view, "VIEW");
}

static void put_spread(wire_writer_t *w) {
  msg_spread_t m = {3, 2, S("VIEW")};
  msg_spread_put(w, &m);
}
static bool get_spread(wire_reader_t *r) {
  msg_spread_t m;
  return msg_spread_get(r, &m) && m.dim == 3 && m.hops == 2 &&
         same(m.view, "VIEW");
}

static void put_probe(wire_writer_t *w) {
  msg_probe_t m = {7, 250, 1};
  msg_probe_put(w, &m);
}
static bool get_probe(wire_reader_t *r) {
  msg_probe_t m;
  return msg_probe_get(r, &m) && m.target == 7 && m.timeout_ms == 250 &&
         m.relays == 1;
}

static void put_probed(wire_writer_t *w) {
  msg_probed_t m = {1};
  msg_probed_put(w, &m);
}
static bool get_probed(wire_reader_t *r) {
  msg_probed_t m;
  return msg_probed_get(r, &m) && m.alive == 1;
}

static const codec_case_t cases[] = {
    {"hello", put_hello, get_hello, false},
    {"hello_peer", put_hello_peer, get_hello_peer, false},
    {"hello_reply", put_hello_reply, get_hello_reply, false},
    {"auth", put_auth, get_auth, true},
    {"id", put_id, get_id, false},
    {"topic", put_topic, get_topic, false},
    {"publish", put_publish, get_publish, false},
    {"offset", put_offset, get_offset, false},
    {"subscribe", put_subscribe, get_subscribe, false},
    {"pull", put_pull, get_pull, false},
    {"read", put_read, get_read, false},
    {"messages", put_messages, get_messages, false},
    {"stop", put_stop, get_stop, false},
    {"text", put_text, get_text, false},
    {"where", put_where, get_where, false},
    {"where_reply", put_where_reply, get_where_reply, false},
    {"prefix", put_prefix, get_prefix, false},
    {"node", put_node, get_node, false},
    {"error", put_error, get_error, false},
    {"lookup", put_lookup, get_lookup, false},
    {"exists", put_exists, get_exists, false},
    {"replicate_cursor", put_repl_cursor, get_repl_cursor, false},
    {"replicate_commit", put_repl_commit, get_repl_commit, false},
    {"replicate_identity", put_repl_identity, get_repl_identity, false},
    {"replicate_append", put_append, get_append, false},
    {"replicate_sync", put_sync, get_sync, false},
    {"ack", put_ack, get_ack, false},
    {"homed", put_homed, get_homed, false},
    {"rewind", put_rewind, get_rewind, false},
    {"key", put_key, get_key, false},
    {"ping", put_ping, get_ping, false},
    {"pong", put_pong, get_pong, true},
    {"claim", put_claim, get_claim, false},
    {"claim_range", put_claim_range, get_claim_range, false},
    {"claim_served", put_claim_served, get_claim_served, false},
    {"join", put_join, get_join, false},
    {"join_reply", put_join_reply, get_join_reply, true},
    {"holding", put_holding, get_holding, false},
    {"holding_ask", put_holding_ask, get_holding_ask, true},
    {"spread", put_spread, get_spread, true},
    {"probe", put_probe, get_probe, false},
    {"probed", put_probed, get_probed, false},
};

/* ---- the checks ---------------------------------------------------------------- */

static void encode(const codec_case_t *c, buf_t *b) {
  wire_writer_t w = {.b = b};
  c->put(&w);
}

/* Decodes n bytes of p from an exact-size copy; *bad gets the field. */
static bool decode(const codec_case_t *c, const char *p, size_t n,
                   const char **bad) {
  char *copy = malloc(n ? n : 1);
  memcpy(copy, p, n);
  wire_reader_t r;
  wire_reader_init(&r, copy, n);
  bool ok = c->get(&r);
  *bad = r.bad;
  free(copy);
  return ok;
}

CASE(every_body_round_trips) {
  for (size_t i = 0; i < NELEM(cases); i++) {
    buf_t b = BUF_INIT;
    encode(&cases[i], &b);
    const char *bad;
    if (!decode(&cases[i], b.data, b.len, &bad))
      printf("# %s did not round-trip (bad field %s)\n", cases[i].name,
             bad ? bad : "-");
    CHECK(decode(&cases[i], b.data, b.len, &bad));
    buf_free(&b);
  }
}

/* A body ending in a view decodes a cut as a shorter view: its prefixes
 * are checked only as far as the fixed fields reach. */
CASE(every_truncation_names_a_field) {
  for (size_t i = 0; i < NELEM(cases); i++) {
    buf_t b = BUF_INIT;
    encode(&cases[i], &b);
    for (size_t cut = 0; cut < b.len; cut++) {
      const char *bad = NULL;
      bool ok = decode(&cases[i], b.data, cut, &bad);
      if (cases[i].rest) continue; /* ran without overreading: enough */
      if (ok || !bad)
        printf("# %s cut at %zu of %zu: ok=%d bad=%s\n", cases[i].name, cut,
               b.len, ok, bad ? bad : "-");
      CHECK(!ok && bad);
    }
    buf_free(&b);
  }
}

CASE(a_byte_too_many_is_refused) {
  for (size_t i = 0; i < NELEM(cases); i++) {
    if (cases[i].rest) continue;
    buf_t b = BUF_INIT;
    encode(&cases[i], &b);
    buf_append(&b, "!", 1);
    const char *bad = NULL;
    CHECK(!decode(&cases[i], b.data, b.len, &bad));
    CHECK(bad != NULL);
    buf_free(&b);
  }
}

CASE(huge_counts_are_refused_before_sizing) {
  /* A PULL answer claiming 2^32 - 1 messages in 4 bytes of body. */
  char body[8 + 4 + 4];
  uint64_t next = 1;
  uint32_t count = UINT32_MAX;
  memcpy(body, &next, 8);
  memcpy(body + 8, &count, 4);
  memset(body + 12, 0, 4);
  wire_reader_t r;
  msg_messages_t ms;
  wire_reader_init(&r, body, sizeof body);
  CHECK(!msg_messages_get(&r, &ms));
  CHECK(r.bad && strcmp(r.bad, "count") == 0);
  /* A HOLDING answer with a topic count past its bytes. */
  char held[4 + 2];
  uint32_t n = 1000;
  memcpy(held, &n, 4);
  memset(held + 4, 0, 2);
  msg_holding_t h;
  wire_reader_init(&r, held, sizeof held);
  CHECK(!msg_holding_get(&r, &h));
  CHECK(r.bad && strcmp(r.bad, "topics") == 0);
}

/* A HOLDING answer (what a catching-up node is told it holds) with a name
 * that breaks the name rules, in any of its three lists: refused at
 * decode, naming the field; the walkers refuse it too. */
CASE(holding_names_that_break_the_rules_are_refused) {
  static const char *const bad[] = {"", "a b", "a\"b", "a\\b", "a\001b",
                                    "\177", "caf\303\251"};
  static const char *const field[] = {"topics.name", "names.name",
                                      "names.name"};
  for (size_t i = 0; i < NELEM(bad); i++) {
    for (int list = 0; list < 3; list++) {
      buf_t b = BUF_INIT;
      wire_writer_t w = {.b = &b};
      for (int k = 0; k < 3; k++) {
        wire_put_u32(&w, k == list);
        if (k != list) continue;
        wire_put_str8(&w, bad[i], strlen(bad[i]));
        if (k == 0) wire_put_u64(&w, 7);
      }
      char *copy = malloc(b.len);
      memcpy(copy, b.data, b.len);
      wire_reader_t r;
      msg_holding_t h;
      wire_reader_init(&r, copy, b.len);
      CHECK(!msg_holding_get(&r, &h));
      CHECK(r.bad && strcmp(r.bad, field[list]) == 0);
      /* Walked by hand, past the decoder: still refused. */
      msg_list_t l;
      msg_str_t name;
      msg_held_topic_t t;
      wire_reader_init(&l.r, copy + 4, b.len - 4);
      l.left = 1;
      if (list == 0) {
        CHECK(!msg_held_topic_next(&l, &t));
      } else {
        wire_reader_init(&l.r, copy + 8, b.len - 8);
        CHECK(!msg_held_name_next(&l, &name));
      }
      CHECK(l.r.bad && strcmp(l.r.bad, field[list]) == 0);
      free(copy);
      buf_free(&b);
    }
  }
  /* The longest name that keeps the rules passes. */
  char longest[HS_NAME_MAX];
  memset(longest, '+', sizeof longest);
  buf_t b = BUF_INIT;
  wire_writer_t w = {.b = &b};
  wire_put_u32(&w, 0);
  wire_put_u32(&w, 1);
  wire_put_str8(&w, longest, sizeof longest);
  wire_put_u32(&w, 0);
  msg_holding_end(&w, 0, 0);
  wire_reader_t r;
  msg_holding_t h;
  msg_str_t name;
  wire_reader_init(&r, b.data, b.len);
  CHECK(msg_holding_get(&r, &h) && msg_held_name_next(&h.publishers, &name) &&
        name.n == HS_NAME_MAX);
  buf_free(&b);
}

CASE(every_request_op_decodes_through_the_dispatch_table) {
  /* A request of each op, written by its own encoder, decodes by op. */
  struct {
    uint8_t op;
    void (*put)(wire_writer_t *w);
  } reqs[] = {
      {WIRE_HELLO, put_hello},          {WIRE_CREATE_PUBLISHER, put_id},
      {WIRE_AUTH, put_auth},
      {WIRE_CREATE_TOPIC, put_topic},   {WIRE_PUBLISH, put_publish},
      {WIRE_SUBSCRIBE, put_subscribe},  {WIRE_PULL, put_pull},
      {WIRE_STOP_NODE, put_stop},       {WIRE_WHERE, put_where},
      {WIRE_LOOKUP, put_lookup},        {WIRE_REPLICATE, put_append},
      {WIRE_LIST_TOPICS, put_prefix},   {WIRE_HOMED, put_homed},
      {WIRE_REWIND, put_rewind},        {WIRE_UNPARK, put_key},
      {WIRE_PING, put_ping},            {WIRE_READ, put_read},
      {WIRE_CLAIM, put_claim},          {WIRE_JOIN, put_join},
      {WIRE_LEAVE, put_node},           {WIRE_SPREAD, put_spread},
      {WIRE_PROBE, put_probe},
  };
  for (size_t i = 0; i < NELEM(reqs); i++) {
    buf_t b = BUF_INIT;
    wire_writer_t w = {.b = &b};
    reqs[i].put(&w);
    wire_reader_t r;
    msg_t m;
    wire_reader_init(&r, b.data, b.len);
    CHECK(msg_request_get(reqs[i].op, &r, &m));
    buf_free(&b);
  }
  wire_reader_t r;
  msg_t m;
  wire_reader_init(&r, "", 0);
  CHECK(!msg_request_get(200, &r, &m));
  CHECK(r.bad && strcmp(r.bad, "op") == 0);
}

int main(void) {
  RUN(every_body_round_trips);
  RUN(every_truncation_names_a_field);
  RUN(a_byte_too_many_is_refused);
  RUN(huge_counts_are_refused_before_sizing);
  RUN(holding_names_that_break_the_rules_are_refused);
  RUN(every_request_op_decodes_through_the_dispatch_table);
  UNIT_EXIT();
}
