/* msg — one typed encoder and one decoder per op body, used by the sender
 * and the receiver alike (wire.h has the frame around them).
 *
 * Decoders read a body with a wire_reader_t: `msg_X_get(r, &m)` fills m
 * and returns true when every field was there and nothing is left over;
 * on false r->bad names the field that did not fit. Strings point into the
 * frame. A list (the messages of a pull, the records of a replication, the
 * names of a HOLDING answer) is checked whole by the decoder, so walking it
 * afterwards with its `_next` function cannot fail. The names in the bodies
 * nodes send each other (msg_peer.c) are held to the name rules here
 * (wire_name_check), naming the field; those of the client API are checked
 * by whoever acts on them.
 *
 * Encoders append a body to a frame begun with wire_begin:
 * `msg_X_put(w, &m)`. Lists are written between a `_begin` and an `_end`
 * that fills in their count. Callers check name lengths (<= 255) first. */
#ifndef HS_MSG_H
#define HS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/wire.h"

/* Bytes in a frame; valid while the frame is. */
typedef struct msg_str {
  const char *s;
  size_t n;
} msg_str_t;

static inline msg_str_t msg_str(const char *s, size_t n) {
  return (msg_str_t){s, n};
}

/* A list checked by its decoder: the bytes of its entries and how many are
 * still to be read. */
typedef struct msg_list {
  wire_reader_t r;
  uint32_t left;
} msg_list_t;

/* A list being written: where its count goes and how many were added. */
typedef struct msg_count {
  size_t at;
  uint32_t n;
} msg_count_t;

/* ---- requests and replies of the client API ------------------------------ */

/* HELLO: the first frame of every connection, with a fresh nonce. A client
 * names its user (empty: none); a peer says who it is, which run of it
 * (its incarnation) and how many copies it keeps per topic. */
#define MSG_NONCE 16
typedef struct msg_hello {
  uint8_t role; /* WIRE_ROLE_CLIENT or WIRE_ROLE_PEER */
  msg_str_t cluster;
  msg_str_t user;       /* clients */
  uint32_t node;        /* peers: who (HS_ID_ANY: a node asking to join) */
  uint64_t incarnation; /* peers */
  uint32_t replicas;    /* peers */
  uint8_t nonce[MSG_NONCE];
} msg_hello_t;
bool msg_hello_get(wire_reader_t *r, msg_hello_t *m);
void msg_hello_put(wire_writer_t *w, const msg_hello_t *m);

/* The answer: who answered, its frame limit, and what the connection must
 * prove before anything else (MSG_AUTH_NONE: nothing, it is ready). */
enum {
  MSG_AUTH_NONE = 0,     /* an open node, to a client */
  MSG_AUTH_KEY = 1,      /* a peer proves the cluster key (or, open, says
                            only who it is): AUTH follows */
  MSG_AUTH_PASSWORD = 2  /* a user proves a password: AUTH follows */
};
typedef struct msg_hello_reply {
  uint32_t node;
  uint32_t max_frame;
  uint8_t auth;
  uint8_t nonce[MSG_NONCE];
  uint8_t salt[16];  /* PASSWORD: the user's salt and Argon2id's limits */
  uint32_t ops, mem_kib;
} msg_hello_reply_t;
bool msg_hello_reply_get(wire_reader_t *r, msg_hello_reply_t *m);
void msg_hello_reply_put(wire_writer_t *w, const msg_hello_reply_t *m);

/* AUTH: the proof (empty when the node asked for none) and, from a peer,
 * its view; the answer is the node's proof and, to a peer, its view. */
typedef struct msg_auth {
  msg_str_t proof;
  msg_str_t view; /* peers: the rest of the body */
} msg_auth_t;
bool msg_auth_get(wire_reader_t *r, msg_auth_t *m);
void msg_auth_put(wire_writer_t *w, const msg_auth_t *m);

/* CREATE_PUBLISHER, CREATE_SUBSCRIBER */
typedef struct msg_id {
  msg_str_t id;
} msg_id_t;
bool msg_id_get(wire_reader_t *r, msg_id_t *m);
void msg_id_put(wire_writer_t *w, const msg_id_t *m);

/* CREATE_TOPIC, DELETE_TOPIC */
typedef struct msg_topic {
  msg_str_t publisher, topic;
} msg_topic_t;
bool msg_topic_get(wire_reader_t *r, msg_topic_t *m);
void msg_topic_put(wire_writer_t *w, const msg_topic_t *m);

/* PUBLISH. producer 0: no dedup; else a retry of (producer, seq) is
 * answered, not stored again. */
typedef struct msg_publish {
  msg_str_t publisher, topic;
  uint8_t ack; /* hs_ack_t */
  uint64_t producer, seq;
  msg_str_t data;
} msg_publish_t;
bool msg_publish_get(wire_reader_t *r, msg_publish_t *m);
void msg_publish_put(wire_writer_t *w, const msg_publish_t *m);

/* The reply of PUBLISH (the message's offset) and of SUBSCRIBE (the
 * subscriber's cursor). */
typedef struct msg_offset {
  uint64_t offset;
} msg_offset_t;
bool msg_offset_get(wire_reader_t *r, msg_offset_t *m);
void msg_offset_put(wire_writer_t *w, const msg_offset_t *m);

typedef struct msg_subscribe {
  msg_str_t subscriber, topic;
  uint8_t from; /* hs_from_t */
  uint64_t offset;
} msg_subscribe_t;
bool msg_subscribe_get(wire_reader_t *r, msg_subscribe_t *m);
void msg_subscribe_put(wire_writer_t *w, const msg_subscribe_t *m);

/* PULL. seen: the cursor the client's last answer left, UINT64_MAX if
 * none. */
typedef struct msg_pull {
  msg_str_t subscriber, topic;
  uint32_t max;
  uint64_t seen;
  uint32_t wait_ms;
} msg_pull_t;
bool msg_pull_get(wire_reader_t *r, msg_pull_t *m);
void msg_pull_put(wire_writer_t *w, const msg_pull_t *m);

/* FETCH: a topic's committed records from `offset` on, for a reader that
 * keeps its own position (no subscriber, no cursor); answered as PULL is,
 * its `next` being where to read on. */
typedef struct msg_fetch {
  msg_str_t topic;
  uint64_t offset;
  uint32_t max;
  uint32_t wait_ms;
} msg_fetch_t;
bool msg_fetch_get(wire_reader_t *r, msg_fetch_t *m);
void msg_fetch_put(wire_writer_t *w, const msg_fetch_t *m);

/* The reply of PULL: the cursor after it, then the messages. */
typedef struct msg_message {
  uint64_t offset, time_ms;
  msg_str_t publisher, data;
} msg_message_t;

/* Bytes a message takes in a PULL reply. */
static inline size_t msg_message_size(size_t publisher_len, size_t len) {
  return 8 + 8 + 1 + publisher_len + 4 + len;
}

typedef struct msg_messages {
  uint64_t next;
  uint32_t count;
  msg_list_t list;
} msg_messages_t;
bool msg_messages_get(wire_reader_t *r, msg_messages_t *m);
bool msg_message_next(msg_messages_t *m, msg_message_t *out);
/* Writing one: begin, add each message, end with the cursor after them. */
void msg_messages_begin(wire_writer_t *w, msg_count_t *c);
void msg_messages_add(wire_writer_t *w, msg_count_t *c,
                      const msg_message_t *m);
void msg_messages_end(wire_writer_t *w, const msg_count_t *c, uint64_t next);

typedef struct msg_stop {
  uint32_t node;
  uint32_t restart_after_ms;
} msg_stop_t;
bool msg_stop_get(wire_reader_t *r, msg_stop_t *m);
void msg_stop_put(wire_writer_t *w, const msg_stop_t *m);

/* STATS, VIEW, LOCAL: no body. */
bool msg_empty_get(wire_reader_t *r);

/* The reply of STATS, VIEW, LOCAL (JSON) and LIST_TOPICS, HOMED (names,
 * one per line). */
typedef struct msg_text {
  msg_str_t text;
} msg_text_t;
bool msg_text_get(wire_reader_t *r, msg_text_t *m);
void msg_text_put(wire_writer_t *w, const msg_text_t *m);

/* WHERE: a topic name; the reply names its copies, home first. */
typedef struct msg_where {
  msg_str_t topic;
} msg_where_t;
bool msg_where_get(wire_reader_t *r, msg_where_t *m);
void msg_where_put(wire_writer_t *w, const msg_where_t *m);

#define MSG_WHERE_MAX 255
typedef struct msg_where_reply {
  uint64_t epoch;
  uint8_t count;
  uint32_t nodes[MSG_WHERE_MAX];
} msg_where_reply_t;
bool msg_where_reply_get(wire_reader_t *r, msg_where_reply_t *m);
void msg_where_reply_put(wire_writer_t *w, const msg_where_reply_t *m);

/* LIST_TOPICS: the cluster's topics starting with prefix ("" for all). */
typedef struct msg_prefix {
  msg_str_t prefix;
} msg_prefix_t;
bool msg_prefix_get(wire_reader_t *r, msg_prefix_t *m);
void msg_prefix_put(wire_writer_t *w, const msg_prefix_t *m);

/* LEAVE: a node id. */
typedef struct msg_node {
  uint32_t node;
} msg_node_t;
bool msg_node_get(wire_reader_t *r, msg_node_t *m);
void msg_node_put(wire_writer_t *w, const msg_node_t *m);

/* An error reply: the positive HS_E* number and what was wrong. */
typedef struct msg_error {
  uint16_t code;
  msg_str_t message;
} msg_error_t;
bool msg_error_get(wire_reader_t *r, msg_error_t *m);
void msg_error_put(wire_writer_t *w, const msg_error_t *m);

/* ---- between nodes --------------------------------------------------------- */

/* LOOKUP: does an identity exist (asked of its home)? */
enum { MSG_PUBLISHER = 1, MSG_SUBSCRIBER = 2 }; /* identity kinds */
typedef struct msg_lookup {
  uint8_t kind;
  msg_str_t id;
} msg_lookup_t;
bool msg_lookup_get(wire_reader_t *r, msg_lookup_t *m);
void msg_lookup_put(wire_writer_t *w, const msg_lookup_t *m);

typedef struct msg_exists {
  uint8_t exists; /* 0 or 1 */
} msg_exists_t;
bool msg_exists_get(wire_reader_t *r, msg_exists_t *m);
void msg_exists_put(wire_writer_t *w, const msg_exists_t *m);

/* REPLICATE: a change the home sends a copy (and a copy hands back). */
enum {
  REPL_PUBLISHER = 1, /* name: an identity to hold */
  REPL_SUBSCRIBER,
  REPL_SYNC,   /* owner, first, next, committed, terms, cursors: align a
                  copy */
  REPL_DELETE, /* the topic was deleted */
  REPL_APPEND, /* committed, first, term, records */
  REPL_CURSOR, /* subscriber, next, prev */
  REPL_COMMIT  /* committed */
};
typedef struct msg_replicate {
  uint8_t kind;
  msg_str_t name; /* the topic or identity */
  msg_str_t owner;      /* SYNC */
  uint64_t first;       /* SYNC, APPEND (the first record's offset) */
  uint64_t next;        /* SYNC, CURSOR */
  uint64_t committed;   /* SYNC, APPEND, COMMIT */
  uint64_t term;        /* APPEND: the term its records were written in */
  uint64_t prev;        /* CURSOR: where the last pull it answered began */
  msg_str_t subscriber; /* CURSOR */
  msg_list_t terms;     /* SYNC: the home's terms, (term, start) each */
  msg_list_t list;      /* SYNC: cursors; APPEND: records */
} msg_replicate_t;
bool msg_replicate_get(wire_reader_t *r, msg_replicate_t *m);
/* PUBLISHER, SUBSCRIBER, DELETE, CURSOR, COMMIT (no list). */
void msg_replicate_put(wire_writer_t *w, const msg_replicate_t *m);

/* A record of an APPEND, as the home's log has it. */
typedef struct msg_record {
  uint64_t time_ms;
  msg_str_t publisher;
  uint64_t producer, seq;
  msg_str_t data;
} msg_record_t;
static inline size_t msg_record_size(size_t publisher_len, size_t len) {
  return 8 + 1 + publisher_len + 8 + 8 + 4 + len;
}
bool msg_record_next(msg_replicate_t *m, msg_record_t *out);
/* APPEND: begin with the header fields of m, add records, end. */
void msg_append_begin(wire_writer_t *w, msg_count_t *c,
                      const msg_replicate_t *m);
void msg_append_add(wire_writer_t *w, msg_count_t *c, const msg_record_t *rec);

/* A subscriber's cursor, carried by a SYNC: its next offset, and where the
 * last pull it answered began (a retry of that pull may go back there). */
typedef struct msg_cursor {
  msg_str_t subscriber;
  uint64_t next, prev;
} msg_cursor_t;
bool msg_cursor_next(msg_replicate_t *m, msg_cursor_t *out);
/* One of a SYNC's terms. */
bool msg_term_next(msg_replicate_t *m, uint64_t *term, uint64_t *start);
/* SYNC: the header fields of m, the terms (n pairs of term and start),
 * then cursors added and the list ended. */
void msg_sync_begin(wire_writer_t *w, msg_count_t *c, const msg_replicate_t *m,
                    const uint64_t (*terms)[2], size_t n);
void msg_sync_add(wire_writer_t *w, msg_count_t *c, const msg_cursor_t *cur);

/* Ends any list: writes its count. */
void msg_list_end(wire_writer_t *w, const msg_count_t *c);

/* The reply to REPLICATE: the receiver's next offset of the topic. */
typedef struct msg_ack {
  uint64_t next;
  msg_str_t name;
  /* A SYNC's answer from a copy whose log, from this offset on, is newer
   * than the home's (written in a later term): the home takes it from
   * there. UINT64_MAX: none. */
  uint64_t part;
} msg_ack_t;
bool msg_ack_get(wire_reader_t *r, msg_ack_t *m);
void msg_ack_put(wire_writer_t *w, const msg_ack_t *m);

/* HOMED: the topics node `node` homes, to the node gathering a listing. */
typedef struct msg_homed {
  uint32_t node;
  msg_str_t prefix;
} msg_homed_t;
bool msg_homed_get(wire_reader_t *r, msg_homed_t *m);
void msg_homed_put(wire_writer_t *w, const msg_homed_t *m);

/* REWIND: move the cursor back to `from` if it is at `expect` (a pull's
 * answer found its client gone). */
typedef struct msg_rewind {
  msg_str_t subscriber, topic;
  uint64_t from, expect;
} msg_rewind_t;
bool msg_rewind_get(wire_reader_t *r, msg_rewind_t *m);
void msg_rewind_put(wire_writer_t *w, const msg_rewind_t *m);

/* RELEASE: the long-poll FETCH this peer passed on over this connection
 * as request `id` lost its client: answer it now. */
typedef struct msg_release {
  uint32_t id;
} msg_release_t;
bool msg_release_get(wire_reader_t *r, msg_release_t *m);
void msg_release_put(wire_writer_t *w, const msg_release_t *m);

/* UNPARK: answer the parked pulls of a subscriber (their client left). */
typedef struct msg_key {
  msg_str_t subscriber, topic;
} msg_key_t;
bool msg_key_get(wire_reader_t *r, msg_key_t *m);
void msg_key_put(wire_writer_t *w, const msg_key_t *m);

/* PING: the sender's view epoch and digest. The reply (a pong) carries the
 * receiver's, and its whole view when the digests differed. GOSSIP's body
 * is a view; its reply is a pong without one. */
typedef struct msg_ping {
  uint64_t epoch, digest;
} msg_ping_t;
bool msg_ping_get(wire_reader_t *r, msg_ping_t *m);
void msg_ping_put(wire_writer_t *w, const msg_ping_t *m);

typedef struct msg_pong {
  uint64_t epoch, digest;
  msg_str_t view; /* may be empty */
} msg_pong_t;
bool msg_pong_get(wire_reader_t *r, msg_pong_t *m);
void msg_pong_put(wire_writer_t *w, const msg_pong_t *m);

/* GOSSIP and HOLDING requests: a view (the whole body). */
typedef struct msg_view {
  msg_str_t view;
} msg_view_t;
bool msg_view_get(wire_reader_t *r, msg_view_t *m);
void msg_view_put(wire_writer_t *w, const msg_view_t *m);

/* SPREAD: a view change travelling along the cube (cluster/spread.h): the
 * dimension it crossed to get here (the receiver sends it on along the
 * dimensions above), the hops it took so far, then the changed entries as
 * a view. Its reply is empty. */
typedef struct msg_spread {
  uint8_t dim, hops;
  msg_str_t view; /* the rest of the body */
} msg_spread_t;
bool msg_spread_get(wire_reader_t *r, msg_spread_t *m);
void msg_spread_put(wire_writer_t *w, const msg_spread_t *m);

/* PROBE: is `target` alive? Asked of another member when this node cannot
 * hear it: the member pings it, or passes the probe on once more (relays
 * 1) to a neighbour of the target; the answer is due within timeout_ms. */
typedef struct msg_probe {
  uint32_t target, timeout_ms;
  uint8_t relays;
} msg_probe_t;
bool msg_probe_get(wire_reader_t *r, msg_probe_t *m);
void msg_probe_put(wire_writer_t *w, const msg_probe_t *m);

/* The reply to PROBE: 1 when the target answered. */
typedef struct msg_probed {
  uint8_t alive;
} msg_probed_t;
bool msg_probed_get(wire_reader_t *r, msg_probed_t *m);
void msg_probed_put(wire_writer_t *w, const msg_probed_t *m);

/* READ: a pull, to be served by the copy `server` (its reply is PULL's). */
typedef struct msg_read {
  uint32_t server;
  msg_pull_t pull;
} msg_read_t;
bool msg_read_get(wire_reader_t *r, msg_read_t *m);
void msg_read_put(wire_writer_t *w, const msg_read_t *m);

/* CLAIM: the copy `server`, holding [first, next), will serve a pull; the
 * home moves the cursor over what it may hand out. */
typedef struct msg_claim {
  msg_str_t subscriber, topic;
  uint32_t server;
  uint64_t first, next;
  uint32_t max;
  uint64_t seen;
  uint32_t wait_ms;
} msg_claim_t;
bool msg_claim_get(wire_reader_t *r, msg_claim_t *m);
void msg_claim_put(wire_writer_t *w, const msg_claim_t *m);

/* The reply: the range [from, from + count) the server sends from its
 * copy; or, served_at_home, the messages themselves (the server lacked
 * them). */
typedef struct msg_claim_reply {
  uint8_t served_at_home;
  uint64_t from;
  uint32_t count;
  msg_messages_t messages; /* served_at_home, */
  msg_str_t body;          /* and the PULL answer body they came in */
} msg_claim_reply_t;
bool msg_claim_reply_get(wire_reader_t *r, msg_claim_reply_t *m);
void msg_claim_range_put(wire_writer_t *w, uint64_t from, uint32_t count);
/* served at home: follow with msg_messages_begin ... end. */
void msg_claim_served_put(wire_writer_t *w);

/* JOIN: a new node asks for `id` (HS_ID_ANY: the lowest free) at `addr`;
 * the reply gives its id and the view. */
typedef struct msg_join {
  uint32_t id;
  msg_str_t addr;
  uint32_t replicas;
} msg_join_t;
bool msg_join_get(wire_reader_t *r, msg_join_t *m);
void msg_join_put(wire_writer_t *w, const msg_join_t *m);

typedef struct msg_join_reply {
  uint32_t id;
  msg_str_t view;
} msg_join_reply_t;
bool msg_join_reply_get(wire_reader_t *r, msg_join_reply_t *m);
void msg_join_reply_put(wire_writer_t *w, const msg_join_reply_t *m);

/* HOLDING: the asker's view, and where this page starts: the items of
 * earlier pages to skip (topics, then publishers, then subscribers, as
 * the holder walks them) and the holder's layout that page came from (0
 * at first: a different layout starts over, resending is harmless). */
typedef struct msg_holding_ask {
  uint64_t skip, layout;
  msg_str_t view; /* the rest of the body */
} msg_holding_ask_t;
bool msg_holding_ask_get(wire_reader_t *r, msg_holding_ask_t *m);
void msg_holding_ask_put(wire_writer_t *w, const msg_holding_ask_t *m);

/* The reply to HOLDING: the topics held here whose copies include the
 * asker (each with the offset it reaches), then the publishers, then the
 * subscribers whose copies include it, as many as fit a frame; then more
 * (1: ask again, skipping what came) and the holder's layout. */
typedef struct msg_holding {
  msg_list_t topics, publishers, subscribers;
  uint8_t more;
  uint64_t layout;
} msg_holding_t;
typedef struct msg_held_topic {
  msg_str_t name;
  uint64_t next;
} msg_held_topic_t;
bool msg_holding_get(wire_reader_t *r, msg_holding_t *m);
bool msg_held_topic_next(msg_list_t *l, msg_held_topic_t *out);
bool msg_held_name_next(msg_list_t *l, msg_str_t *out);
/* Written in order: the topics list, then the two name lists, each between
 * msg_count_begin and msg_list_end. */
void msg_count_begin(wire_writer_t *w, msg_count_t *c);
void msg_held_topic_add(wire_writer_t *w, msg_count_t *c,
                        const msg_held_topic_t *t);
void msg_held_name_add(wire_writer_t *w, msg_count_t *c, msg_str_t name);
/* After the three lists. */
void msg_holding_end(wire_writer_t *w, uint8_t more, uint64_t layout);

/* ---- every request ---------------------------------------------------------- */

typedef union msg {
  msg_hello_t hello;
  msg_auth_t auth;
  msg_id_t id;
  msg_topic_t topic;
  msg_publish_t publish;
  msg_subscribe_t subscribe;
  msg_pull_t pull;
  msg_fetch_t fetch;
  msg_release_t release;
  msg_stop_t stop;
  msg_where_t where;
  msg_lookup_t lookup;
  msg_replicate_t replicate;
  msg_prefix_t prefix;
  msg_homed_t homed;
  msg_rewind_t rewind;
  msg_key_t key;
  msg_ping_t ping;
  msg_view_t view;
  msg_spread_t spread;
  msg_probe_t probe;
  msg_holding_ask_t holding;
  msg_read_t read;
  msg_claim_t claim;
  msg_join_t join;
  msg_node_t node;
} msg_t;

/* Decodes the request body of `op` into the member of m that op uses;
 * false with r->bad naming the field (or "op" for an unknown op). */
bool msg_request_get(uint8_t op, wire_reader_t *r, msg_t *m);

/* The subscriber and topic a request keys on (PULL, READ, CLAIM, REWIND,
 * UNPARK, SUBSCRIBE), for relays that must remember them. */
bool msg_request_key(uint8_t op, const msg_t *m, msg_key_t *key);
/* How long a decoded PULL, READ, CLAIM or FETCH may wait for news (ms); 0 for
 * any other op. */
uint32_t msg_request_wait_ms(uint8_t op, const msg_t *m);

#endif
