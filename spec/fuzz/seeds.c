/* seeds — writes the fuzzers' first corpus and their dictionary with the
 * real encoders (proto/msg.h): for every op a valid request, after the
 * requests that make the names it uses, in DIR/client (after a client's
 * HELLO) and DIR/peer (a peer's connection is past its handshake already);
 * DIR/node.dict holds frame headers, names and common values.
 *
 *   fuzz_seeds DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cube/place.h"
#include "cube/view.h"
#include "harness.h"
#include "hypersub.h"
#include "proto/msg.h"

#define S(s) msg_str((s), strlen(s))

static const char *dir;
static buf_t seed;  /* the seed being written: how it is read, then frames */
static wire_writer_t w;
static uint32_t next_id;
static view_t view; /* the harness's view: members 0 and 1 */
static buf_t gossip; /* a view that adds member 2 */

/* Names placed by the harness's view: homed at the node (0) or at the
 * peer (1). */
static char pub[16], sub[16], topic[16], remote[16];

static void die(const char *what) {
  fprintf(stderr, "fuzz_seeds: %s: %s\n", what, errno ? strerror(errno) : "");
  exit(1);
}

static void pick(char *out, const char *prefix, uint32_t home,
                 uint64_t (*hash)(const char *, size_t, uint8_t), uint8_t kind) {
  for (int i = 0;; i++) {
    snprintf(out, 16, "%s%d", prefix, i);
    if (place_home(&view, HARNESS_REPLICAS, hash(out, strlen(out), kind),
                   UINT32_MAX) == home)
      return;
  }
}

static uint64_t topic_hash(const char *s, size_t n, uint8_t kind) {
  (void)kind;
  return place_topic(s, n);
}

static uint64_t identity_hash(const char *s, size_t n, uint8_t kind) {
  return place_identity(kind, s, n);
}

/* ---- frames ----------------------------------------------------------------- */

/* Begins a frame of op; a routed one carries its hop count first. */
static wire_writer_t *begin(uint8_t op, uint16_t flags) {
  wire_begin(&w, &seed, op, flags, next_id++);
  if (flags & WIRE_F_ROUTED) wire_put_u8(&w, 1);
  return &w;
}

static void end(void) {
  if (wire_end(&w)) die("out of memory");
}

static void put_hello(uint16_t f) {
  msg_hello_t m = {.role = WIRE_ROLE_CLIENT, .cluster = S(HARNESS_CLUSTER),
                   .user = S("")};
  msg_hello_put(begin(WIRE_HELLO, f), &m);
  end();
}

static void put_auth(uint16_t f) {
  msg_auth_t m = {S(""), msg_str(gossip.data, gossip.len)};
  msg_auth_put(begin(WIRE_AUTH, f), &m);
  end();
}

static void put_identity(uint8_t op, const char *id, uint16_t f) {
  msg_id_t m = {S(id)};
  msg_id_put(begin(op, f), &m);
  end();
}

static void put_create_publisher(uint16_t f) {
  put_identity(WIRE_CREATE_PUBLISHER, pub, f);
}

static void put_create_subscriber(uint16_t f) {
  put_identity(WIRE_CREATE_SUBSCRIBER, sub, f);
}

static void put_topic_op(uint8_t op, const char *t, uint16_t f) {
  msg_topic_t m = {S(pub), S(t)};
  msg_topic_put(begin(op, f), &m);
  end();
}

static void put_create_topic(uint16_t f) {
  put_topic_op(WIRE_CREATE_TOPIC, topic, f);
}

static void put_delete_topic(uint16_t f) {
  put_topic_op(WIRE_DELETE_TOPIC, topic, f);
}

static void put_publish_with(uint16_t f, uint8_t ack, uint64_t producer) {
  msg_publish_t m = {S(pub), S(topic), ack, producer, 1, S("hello")};
  msg_publish_put(begin(WIRE_PUBLISH, f), &m);
  end();
}

static void put_publish(uint16_t f) { put_publish_with(f, HS_ACK_HOME, 0); }
static void put_publish_all(uint16_t f) { put_publish_with(f, HS_ACK_ALL, 0); }
static void put_publish_none(uint16_t f) { put_publish_with(f, HS_ACK_NONE, 0); }
/* The same producer's seq twice: the second is answered, not stored. */
static void put_publish_dedup(uint16_t f) {
  put_publish_with(f, HS_ACK_HOME, 7);
  put_publish_with(f | WIRE_F_RETRY, HS_ACK_HOME, 7);
}

static void put_subscribe(uint16_t f) {
  msg_subscribe_t m = {S(sub), S(topic), 0, 0};
  msg_subscribe_put(begin(WIRE_SUBSCRIBE, f), &m);
  end();
}

static msg_pull_t pull_of(const char *t, uint32_t wait_ms) {
  return (msg_pull_t){S(sub), S(t), 10, UINT64_MAX, wait_ms};
}

static void put_pull(uint16_t f) {
  msg_pull_t m = pull_of(topic, 0);
  msg_pull_put(begin(WIRE_PULL, f), &m);
  end();
}

/* Nothing new to deliver: parked for a long poll. */
static void put_pull_wait(uint16_t f) {
  put_pull(f);
  msg_pull_t m = pull_of(topic, 20);
  m.seen = 1;
  msg_pull_put(begin(WIRE_PULL, f), &m);
  end();
}

/* A topic the peer homes: a copy here serves it, claiming at the home. */
static void put_pull_remote(uint16_t f) {
  msg_pull_t m = pull_of(remote, 0);
  msg_pull_put(begin(WIRE_PULL, f), &m);
  end();
}

/* From an offset: what is committed; past the end, parked for a wait; a
 * remote topic's, passed on to its home. */
static void put_fetch(uint16_t f) {
  msg_fetch_t m = {S(topic), 0, 10, 0};
  msg_fetch_put(begin(WIRE_FETCH, f), &m);
  end();
  m = (msg_fetch_t){S(topic), 1000, 10, 20};
  msg_fetch_put(begin(WIRE_FETCH, f), &m);
  end();
  m = (msg_fetch_t){S(remote), 0, 10, 0};
  msg_fetch_put(begin(WIRE_FETCH, f), &m);
  end();
}

/* A long-poll fetch parked for the peer, then released by its id. */
static void put_release(uint16_t f) {
  msg_fetch_t m = {S(topic), 1000, 10, 20};
  msg_release_t r = {next_id};
  msg_fetch_put(begin(WIRE_FETCH, f), &m);
  end();
  msg_release_put(begin(WIRE_RELEASE, f), &r);
  end();
}

static void put_stop_node(uint16_t f) {
  msg_stop_t m = {0, 0};
  msg_stop_put(begin(WIRE_STOP_NODE, f), &m);
  end();
}

static void put_stop_restart(uint16_t f) {
  msg_stop_t m = {0, 1};
  msg_stop_put(begin(WIRE_STOP_NODE, f), &m);
  end();
}

static void put_empty(uint8_t op, uint16_t f) {
  begin(op, f);
  end();
}

static void put_stats(uint16_t f) { put_empty(WIRE_STATS, f); }
static void put_view(uint16_t f) { put_empty(WIRE_VIEW, f); }
static void put_local(uint16_t f) { put_empty(WIRE_LOCAL, f); }

static void put_where(uint16_t f) {
  msg_where_t m = {S(topic)};
  msg_where_put(begin(WIRE_WHERE, f), &m);
  end();
}

static void put_list_topics(uint16_t f) {
  msg_prefix_t m = {S("")};
  msg_prefix_put(begin(WIRE_LIST_TOPICS, f), &m);
  end();
}

static void put_leave(uint16_t f) {
  msg_node_t m = {HARNESS_PEER_ID};
  msg_node_put(begin(WIRE_LEAVE, f), &m);
  end();
}

static void put_leave_self(uint16_t f) {
  msg_node_t m = {0};
  msg_node_put(begin(WIRE_LEAVE, f), &m);
  end();
}

static void put_lookup(uint16_t f) {
  msg_lookup_t m = {MSG_PUBLISHER, S(pub)};
  msg_lookup_put(begin(WIRE_LOOKUP, f), &m);
  end();
}

static void put_replicate_kind(uint16_t f, uint8_t kind, const char *name) {
  msg_replicate_t m = {.kind = kind, .name = S(name), .subscriber = S(sub),
                       .next = 1, .committed = 1};
  msg_replicate_put(begin(WIRE_REPLICATE, f), &m);
  end();
}

static void put_replicate_publisher(uint16_t f) {
  put_replicate_kind(f, REPL_PUBLISHER, "p-copy");
}

static void put_replicate_subscriber(uint16_t f) {
  put_replicate_kind(f, REPL_SUBSCRIBER, "s-copy");
}

/* The peer, home of `remote`, brings this copy in line, appends a record,
 * moves a cursor and commits. */
static void put_replicate_stream(uint16_t f) {
  msg_count_t c;
  msg_replicate_t m = {.kind = REPL_SYNC, .name = S(remote), .owner = S(pub),
                       .first = 0, .next = 0, .committed = 0};
  static const uint64_t terms[][2] = {{1, 0}}; /* term 1 from offset 0 */
  wire_writer_t *wr = begin(WIRE_REPLICATE, f);
  msg_sync_begin(wr, &c, &m, terms, 1);
  msg_cursor_t cur = {S(sub), 0, 0};
  msg_sync_add(wr, &c, &cur);
  msg_list_end(wr, &c);
  end();
  m = (msg_replicate_t){.kind = REPL_APPEND, .name = S(remote),
                        .committed = 1, .first = 0, .term = 1};
  wr = begin(WIRE_REPLICATE, f);
  msg_append_begin(wr, &c, &m);
  msg_record_t rec = {1000, S(pub), 0, 0, S("copied")};
  msg_append_add(wr, &c, &rec);
  msg_list_end(wr, &c);
  end();
  put_replicate_kind(f, REPL_CURSOR, remote);
  put_replicate_kind(f, REPL_COMMIT, remote);
}

static void put_replicate_delete(uint16_t f) {
  put_replicate_kind(f, REPL_DELETE, topic);
}

static void put_homed(uint16_t f) {
  msg_homed_t m = {0, S("")};
  msg_homed_put(begin(WIRE_HOMED, f), &m);
  end();
}

static void put_rewind(uint16_t f) {
  msg_rewind_t m = {S(sub), S(topic), 0, 1};
  msg_rewind_put(begin(WIRE_REWIND, f), &m);
  end();
}

static void put_unpark(uint16_t f) {
  msg_key_t m = {S(sub), S(topic)};
  msg_key_put(begin(WIRE_UNPARK, f), &m);
  end();
}

/* A pull parked here, then released: its client left elsewhere. */
static void put_unpark_parked(uint16_t f) {
  put_pull_wait(f);
  put_unpark(f);
}

static void put_ping(uint16_t f) {
  msg_ping_t m = {view.epoch, view_digest(&view)};
  msg_ping_put(begin(WIRE_PING, f), &m);
  end();
}

static void put_ping_differs(uint16_t f) {
  msg_ping_t m = {view.epoch + 1, 1};
  msg_ping_put(begin(WIRE_PING, f), &m);
  end();
}

static void put_view_op(uint8_t op, uint16_t f) {
  msg_view_t m = {msg_str(gossip.data, gossip.len)};
  msg_view_put(begin(op, f), &m);
  end();
}

static void put_gossip(uint16_t f) { put_view_op(WIRE_GOSSIP, f); }

static void put_holding(uint16_t f) {
  msg_holding_ask_t m = {0, 0, msg_str(gossip.data, gossip.len)};
  msg_holding_ask_put(begin(WIRE_HOLDING, f), &m);
  end();
}

/* A view change coming along dimension 0, to be sent on above it. */
static void put_spread(uint16_t f) {
  msg_spread_t m = {0, 1, msg_str(gossip.data, gossip.len)};
  msg_spread_put(begin(WIRE_SPREAD, f), &m);
  end();
}

/* Is member 2 (in no view here) alive? And the peer itself, relayed. */
static void put_probe(uint16_t f) {
  msg_probe_t m = {2, 50, 0};
  msg_probe_put(begin(WIRE_PROBE, f), &m);
  end();
  m = (msg_probe_t){HARNESS_PEER_ID, 50, 1};
  msg_probe_put(begin(WIRE_PROBE, f), &m);
  end();
}

static void put_read(uint16_t f) {
  msg_read_t m = {0, pull_of(topic, 0)};
  msg_read_put(begin(WIRE_READ, f), &m);
  end();
}

static void put_claim(uint16_t f) {
  msg_claim_t m = {S(sub), S(topic), HARNESS_PEER_ID, 0, 1, 10, UINT64_MAX, 0};
  msg_claim_put(begin(WIRE_CLAIM, f), &m);
  end();
}

static void put_join(uint16_t f) {
  msg_join_t m = {HS_ID_ANY, S("127.0.0.1:3"), HARNESS_REPLICAS};
  msg_join_put(begin(WIRE_JOIN, f), &m);
  end();
}

/* ---- seeds ------------------------------------------------------------------ */

typedef void (*put_fn)(uint16_t flags);

static const struct {
  const char *name;
  put_fn put;
} ops[] = {
    {"hello", put_hello},
    {"auth", put_auth},
    {"create_publisher", put_create_publisher},
    {"create_subscriber", put_create_subscriber},
    {"create_topic", put_create_topic},
    {"delete_topic", put_delete_topic},
    {"publish", put_publish},
    {"publish_all", put_publish_all},
    {"publish_none", put_publish_none},
    {"publish_dedup", put_publish_dedup},
    {"subscribe", put_subscribe},
    {"pull", put_pull},
    {"pull_wait", put_pull_wait},
    {"pull_remote", put_pull_remote},
    {"fetch", put_fetch},
    {"release", put_release},
    {"stop_node", put_stop_node},
    {"stop_restart", put_stop_restart},
    {"stats", put_stats},
    {"where", put_where},
    {"view", put_view},
    {"lookup", put_lookup},
    {"replicate_publisher", put_replicate_publisher},
    {"replicate_subscriber", put_replicate_subscriber},
    {"replicate_stream", put_replicate_stream},
    {"replicate_delete", put_replicate_delete},
    {"local", put_local},
    {"list_topics", put_list_topics},
    {"homed", put_homed},
    {"rewind", put_rewind},
    {"unpark", put_unpark},
    {"unpark_parked", put_unpark_parked},
    {"ping", put_ping},
    {"ping_differs", put_ping_differs},
    {"gossip", put_gossip},
    {"read", put_read},
    {"claim", put_claim},
    {"join", put_join},
    {"leave", put_leave},
    {"leave_self", put_leave_self},
    {"holding", put_holding},
    {"spread", put_spread},
    {"probe", put_probe},
};

/* What each seed does first: the names the ops use, and a message. */
static void put_setup(void) {
  put_create_publisher(0);
  put_create_subscriber(0);
  put_create_topic(0);
  put_publish(0);
  put_subscribe(0);
}

static void seed_begin(uint8_t how, bool client) {
  buf_clear(&seed);
  if (buf_append(&seed, &how, 1)) die("out of memory");
  next_id = 1;
  if (client) put_hello(0);
}

static void seed_write(const char *mode, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/%s", dir, mode, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(seed.data, 1, seed.len, f) != seed.len || fclose(f))
    die(path);
}

static void make_dir(const char *sub_dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s%s%s", dir, sub_dir ? "/" : "", sub_dir ? sub_dir : "");
  if (mkdir(path, 0777) && errno != EEXIST) die(path);
  errno = 0;
}

/* Every op alone and after the setup; a few read a byte or five at a time
 * (the loop turning between), some routed as a peer forwards them. */
static void write_mode(const char *mode, bool client) {
  char name[128];
  make_dir(mode);
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    seed_begin(0, client);
    ops[i].put(0);
    snprintf(name, sizeof name, "%s-alone", ops[i].name);
    seed_write(mode, name);
    seed_begin(0, client);
    put_setup();
    ops[i].put(0);
    seed_write(mode, ops[i].name);
    if (!client) {
      seed_begin(0, client);
      put_setup();
      ops[i].put(WIRE_F_ROUTED);
      snprintf(name, sizeof name, "%s-routed", ops[i].name);
      seed_write(mode, name);
    }
  }
  seed_begin(1, client);
  put_setup();
  put_pull(0);
  seed_write(mode, "pull-bytewise");
  seed_begin(0x85, client);
  put_setup();
  put_pull_wait(0);
  seed_write(mode, "pull_wait-turning");
}

/* libFuzzer's dictionary: one "\xNN" token per line. */
static void dict_token(FILE *f, const void *p, size_t n) {
  const uint8_t *b = p;
  fputc('"', f);
  for (size_t i = 0; i < n; i++) fprintf(f, "\\x%02x", b[i]);
  fputs("\"\n", f);
}

static void write_dict(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s/node.dict", dir);
  FILE *f = fopen(path, "w");
  if (!f) die(path);
  /* version, op, flags: a header's middle, for every op and flag. */
  static const uint16_t flags[] = {0, WIRE_F_ROUTED, WIRE_F_RETRY,
                                   WIRE_F_REPLY};
  for (int op = 1; op < WIRE_OP_MAX; op++)
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
      uint8_t h[4] = {HS_WIRE_VERSION, (uint8_t)op, (uint8_t)flags[i],
                      (uint8_t)(flags[i] >> 8)};
      dict_token(f, h, sizeof h);
    }
  const char *words[] = {HARNESS_CLUSTER, HARNESS_PEER_ADDR, "127.0.0.1:",
                         pub, sub, topic, remote};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    uint8_t n = (uint8_t)strlen(words[i]);
    dict_token(f, &n, 1);
    dict_token(f, words[i], n);
  }
  /* Lengths of empty and small frames, "none" ids and offsets. */
  const uint32_t u32s[] = {8, 9, 12, 16, 0xffffffffu, 0x7fffffffu};
  for (size_t i = 0; i < sizeof u32s / sizeof u32s[0]; i++)
    dict_token(f, &u32s[i], 4);
  const uint64_t u64s[] = {UINT64_MAX, (uint64_t)1 << 48};
  for (size_t i = 0; i < sizeof u64s / sizeof u64s[0]; i++)
    dict_token(f, &u64s[i], 8);
  if (fclose(f)) die(path);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  view_init(&view);
  if (view_upsert(&view, 0, "127.0.0.1:7000", VIEW_ALIVE, 1) < 0 ||
      view_upsert(&view, HARNESS_PEER_ID, HARNESS_PEER_ADDR, VIEW_ALIVE, 1) < 0)
    die("view");
  pick(pub, "p", 0, identity_hash, PLACE_PUBLISHER);
  pick(sub, "s", 0, identity_hash, PLACE_SUBSCRIBER);
  pick(topic, "t", 0, topic_hash, 0);
  pick(remote, "r", HARNESS_PEER_ID, topic_hash, 0);
  /* Gossip names the peer and a third member, not the node (its address
   * is the port it was given). */
  view_t g;
  view_init(&g);
  if (view_upsert(&g, HARNESS_PEER_ID, HARNESS_PEER_ADDR, VIEW_ALIVE, 1) < 0 ||
      view_upsert(&g, 2, "127.0.0.1:2", VIEW_ALIVE, 1) < 0 ||
      view_encode(&g, &gossip))
    die("view");
  view_free(&g);
  make_dir(NULL);
  write_mode("client", true);
  write_mode("peer", false);
  write_dict();
  view_free(&view);
  buf_free(&gossip);
  buf_free(&seed);
  return 0;
}
