/* msg — the bodies of the client API's requests and replies. msg_peer.c
 * has the bodies only nodes send; request.c decodes any request by op. */
#include "proto/msg.h"

#include "hypersub.h"
#include "proto/msg_util.h"

/* ---- HELLO and AUTH ------------------------------------------------------ */

bool msg_hello_get(wire_reader_t *r, msg_hello_t *m) {
  *m = (msg_hello_t){0};
  if (!wire_get_u8(r, "role", &m->role) || !msg_get_str8(r, "cluster", &m->cluster))
    return false;
  if (m->role == WIRE_ROLE_PEER &&
      (!wire_get_u32(r, "node", &m->node) ||
       !wire_get_u64(r, "incarnation", &m->incarnation) ||
       !wire_get_u32(r, "replicas", &m->replicas)))
    return false;
  if (m->role != WIRE_ROLE_PEER && !msg_get_str8(r, "user", &m->user))
    return false;
  return wire_get(r, "nonce", m->nonce, MSG_NONCE) && wire_reader_done(r);
}

void msg_hello_put(wire_writer_t *w, const msg_hello_t *m) {
  wire_put_u8(w, m->role);
  wire_put_str8(w, m->cluster.s, m->cluster.n);
  if (m->role == WIRE_ROLE_PEER) {
    wire_put_u32(w, m->node);
    wire_put_u64(w, m->incarnation);
    wire_put_u32(w, m->replicas);
  } else {
    wire_put_str8(w, m->user.s ? m->user.s : "", m->user.n);
  }
  wire_put(w, m->nonce, MSG_NONCE);
}

bool msg_hello_reply_get(wire_reader_t *r, msg_hello_reply_t *m) {
  return wire_get_u32(r, "node", &m->node) &&
         wire_get_u32(r, "max_frame", &m->max_frame) &&
         wire_get_u8(r, "auth", &m->auth) &&
         wire_get(r, "nonce", m->nonce, MSG_NONCE) &&
         wire_get(r, "salt", m->salt, sizeof m->salt) &&
         wire_get_u32(r, "ops", &m->ops) &&
         wire_get_u32(r, "mem_kib", &m->mem_kib) && wire_reader_done(r);
}

void msg_hello_reply_put(wire_writer_t *w, const msg_hello_reply_t *m) {
  wire_put_u32(w, m->node);
  wire_put_u32(w, m->max_frame);
  wire_put_u8(w, m->auth);
  wire_put(w, m->nonce, MSG_NONCE);
  wire_put(w, m->salt, sizeof m->salt);
  wire_put_u32(w, m->ops);
  wire_put_u32(w, m->mem_kib);
}

bool msg_auth_get(wire_reader_t *r, msg_auth_t *m) {
  if (!msg_get_str8(r, "proof", &m->proof)) return false;
  m->view = msg_rest(r);
  return true;
}

void msg_auth_put(wire_writer_t *w, const msg_auth_t *m) {
  wire_put_str8(w, m->proof.s ? m->proof.s : "", m->proof.n);
  wire_put(w, m->view.s, m->view.n);
}

/* ---- names, topics, publish ---------------------------------------------------- */

bool msg_id_get(wire_reader_t *r, msg_id_t *m) {
  return msg_get_str8(r, "id", &m->id) && wire_reader_done(r);
}

void msg_id_put(wire_writer_t *w, const msg_id_t *m) {
  wire_put_str8(w, m->id.s, m->id.n);
}

bool msg_topic_get(wire_reader_t *r, msg_topic_t *m) {
  return msg_get_str8(r, "publisher", &m->publisher) &&
         msg_get_str8(r, "topic", &m->topic) && wire_reader_done(r);
}

void msg_topic_put(wire_writer_t *w, const msg_topic_t *m) {
  wire_put_str8(w, m->publisher.s, m->publisher.n);
  wire_put_str8(w, m->topic.s, m->topic.n);
}

bool msg_publish_get(wire_reader_t *r, msg_publish_t *m) {
  return msg_get_str8(r, "publisher", &m->publisher) &&
         msg_get_str8(r, "topic", &m->topic) && wire_get_u8(r, "ack", &m->ack) &&
         wire_get_u64(r, "producer", &m->producer) &&
         wire_get_u64(r, "seq", &m->seq) &&
         msg_get_bytes32(r, "data", &m->data) && wire_reader_done(r);
}

void msg_publish_put(wire_writer_t *w, const msg_publish_t *m) {
  wire_put_str8(w, m->publisher.s, m->publisher.n);
  wire_put_str8(w, m->topic.s, m->topic.n);
  wire_put_u8(w, m->ack);
  wire_put_u64(w, m->producer);
  wire_put_u64(w, m->seq);
  wire_put_bytes32(w, m->data.s, m->data.n);
}

bool msg_offset_get(wire_reader_t *r, msg_offset_t *m) {
  return wire_get_u64(r, "offset", &m->offset) && wire_reader_done(r);
}

void msg_offset_put(wire_writer_t *w, const msg_offset_t *m) {
  wire_put_u64(w, m->offset);
}

/* ---- subscribe and pull ---------------------------------------------------------- */

bool msg_subscribe_get(wire_reader_t *r, msg_subscribe_t *m) {
  return msg_get_str8(r, "subscriber", &m->subscriber) &&
         msg_get_str8(r, "topic", &m->topic) && wire_get_u8(r, "from", &m->from) &&
         wire_get_u64(r, "offset", &m->offset) && wire_reader_done(r);
}

void msg_subscribe_put(wire_writer_t *w, const msg_subscribe_t *m) {
  wire_put_str8(w, m->subscriber.s, m->subscriber.n);
  wire_put_str8(w, m->topic.s, m->topic.n);
  wire_put_u8(w, m->from);
  wire_put_u64(w, m->offset);
}

/* A PULL body, also READ's tail. */
static bool pull_fields(wire_reader_t *r, msg_pull_t *m) {
  return msg_get_str8(r, "subscriber", &m->subscriber) &&
         msg_get_str8(r, "topic", &m->topic) && wire_get_u32(r, "max", &m->max) &&
         wire_get_u64(r, "seen", &m->seen) &&
         wire_get_u32(r, "wait_ms", &m->wait_ms);
}

bool msg_pull_get(wire_reader_t *r, msg_pull_t *m) {
  return pull_fields(r, m) && wire_reader_done(r);
}

void msg_pull_put(wire_writer_t *w, const msg_pull_t *m) {
  wire_put_str8(w, m->subscriber.s, m->subscriber.n);
  wire_put_str8(w, m->topic.s, m->topic.n);
  wire_put_u32(w, m->max);
  wire_put_u64(w, m->seen);
  wire_put_u32(w, m->wait_ms);
}

bool msg_fetch_get(wire_reader_t *r, msg_fetch_t *m) {
  return msg_get_str8(r, "topic", &m->topic) &&
         wire_get_u64(r, "offset", &m->offset) &&
         wire_get_u32(r, "max", &m->max) &&
         wire_get_u32(r, "wait_ms", &m->wait_ms) && wire_reader_done(r);
}

void msg_fetch_put(wire_writer_t *w, const msg_fetch_t *m) {
  wire_put_str8(w, m->topic.s, m->topic.n);
  wire_put_u64(w, m->offset);
  wire_put_u32(w, m->max);
  wire_put_u32(w, m->wait_ms);
}

bool msg_read_get(wire_reader_t *r, msg_read_t *m) {
  return wire_get_u32(r, "server", &m->server) && pull_fields(r, &m->pull) &&
         wire_reader_done(r);
}

void msg_read_put(wire_writer_t *w, const msg_read_t *m) {
  wire_put_u32(w, m->server);
  msg_pull_put(w, &m->pull);
}

static bool message_fields(wire_reader_t *r, msg_message_t *m) {
  return wire_get_u64(r, "message.offset", &m->offset) &&
         wire_get_u64(r, "message.time", &m->time_ms) &&
         msg_get_str8(r, "message.publisher", &m->publisher) &&
         msg_get_bytes32(r, "message.data", &m->data);
}

static bool message_check(wire_reader_t *r) {
  msg_message_t m;
  return message_fields(r, &m);
}

/* The messages list without the done check (a CLAIM reply embeds it). */
static bool messages_fields(wire_reader_t *r, msg_messages_t *m) {
  return wire_get_u64(r, "next", &m->next) &&
         wire_get_u32(r, "count", &m->count) &&
         msg_list_take(r, "count", m->count, msg_message_size(0, 0),
                       message_check, &m->list);
}

bool msg_messages_get(wire_reader_t *r, msg_messages_t *m) {
  return messages_fields(r, m) && wire_reader_done(r);
}

bool msg_message_next(msg_messages_t *m, msg_message_t *out) {
  if (!m->list.left) return false;
  m->list.left--;
  return message_fields(&m->list.r, out);
}

void msg_messages_begin(wire_writer_t *w, msg_count_t *c) {
  wire_put_u64(w, 0); /* the cursor after them, known at the end */
  msg_count_begin(w, c);
}

void msg_messages_add(wire_writer_t *w, msg_count_t *c,
                      const msg_message_t *m) {
  wire_put_u64(w, m->offset);
  wire_put_u64(w, m->time_ms);
  wire_put_str8(w, m->publisher.s, m->publisher.n);
  wire_put_bytes32(w, m->data.s, m->data.n);
  c->n++;
}

void msg_messages_end(wire_writer_t *w, const msg_count_t *c, uint64_t next) {
  if (w->err) return;
  memcpy(w->b->data + c->at - 8, &next, 8);
  msg_list_end(w, c);
}

/* ---- control and listings ------------------------------------------------------- */

bool msg_stop_get(wire_reader_t *r, msg_stop_t *m) {
  return wire_get_u32(r, "node", &m->node) &&
         wire_get_u32(r, "restart_after_ms", &m->restart_after_ms) &&
         wire_reader_done(r);
}

void msg_stop_put(wire_writer_t *w, const msg_stop_t *m) {
  wire_put_u32(w, m->node);
  wire_put_u32(w, m->restart_after_ms);
}

bool msg_empty_get(wire_reader_t *r) { return wire_reader_done(r); }

bool msg_text_get(wire_reader_t *r, msg_text_t *m) {
  return msg_get_bytes32(r, "text", &m->text) && wire_reader_done(r);
}

void msg_text_put(wire_writer_t *w, const msg_text_t *m) {
  wire_put_bytes32(w, m->text.s ? m->text.s : "", m->text.n);
}

bool msg_where_get(wire_reader_t *r, msg_where_t *m) {
  return msg_get_str8(r, "topic", &m->topic) && wire_reader_done(r);
}

void msg_where_put(wire_writer_t *w, const msg_where_t *m) {
  wire_put_str8(w, m->topic.s, m->topic.n);
}

bool msg_where_reply_get(wire_reader_t *r, msg_where_reply_t *m) {
  if (!wire_get_u64(r, "epoch", &m->epoch) || !wire_get_u8(r, "count", &m->count))
    return false;
  for (unsigned i = 0; i < m->count; i++)
    if (!wire_get_u32(r, "node", &m->nodes[i])) return false;
  return wire_reader_done(r);
}

void msg_where_reply_put(wire_writer_t *w, const msg_where_reply_t *m) {
  wire_put_u64(w, m->epoch);
  wire_put_u8(w, m->count);
  for (unsigned i = 0; i < m->count; i++) wire_put_u32(w, m->nodes[i]);
}

bool msg_prefix_get(wire_reader_t *r, msg_prefix_t *m) {
  return msg_get_str8(r, "prefix", &m->prefix) && wire_reader_done(r);
}

void msg_prefix_put(wire_writer_t *w, const msg_prefix_t *m) {
  wire_put_str8(w, m->prefix.s ? m->prefix.s : "", m->prefix.n);
}

bool msg_node_get(wire_reader_t *r, msg_node_t *m) {
  return wire_get_u32(r, "node", &m->node) && wire_reader_done(r);
}

void msg_node_put(wire_writer_t *w, const msg_node_t *m) {
  wire_put_u32(w, m->node);
}

bool msg_error_get(wire_reader_t *r, msg_error_t *m) {
  return wire_get_u16(r, "code", &m->code) &&
         msg_get_str16(r, "message", &m->message) && wire_reader_done(r);
}

void msg_error_put(wire_writer_t *w, const msg_error_t *m) {
  wire_put_u16(w, m->code);
  wire_put_str16(w, m->message.s, m->message.n);
}

