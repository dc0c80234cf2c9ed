/* msg_peer — the bodies only nodes send each other: replication, lookups,
 * heartbeats, claims, joins, catching up. */
#include "proto/msg.h"

#include "hypersub.h"
#include "proto/msg_util.h"

/* ---- LOOKUP -------------------------------------------------------------------- */

bool msg_lookup_get(wire_reader_t *r, msg_lookup_t *m) {
  return wire_get_u8(r, "kind", &m->kind) && msg_get_name(r, "id", &m->id) &&
         wire_reader_done(r);
}

void msg_lookup_put(wire_writer_t *w, const msg_lookup_t *m) {
  wire_put_u8(w, m->kind);
  wire_put_str8(w, m->id.s, m->id.n);
}

bool msg_exists_get(wire_reader_t *r, msg_exists_t *m) {
  return wire_get_u8(r, "exists", &m->exists) && wire_reader_done(r);
}

void msg_exists_put(wire_writer_t *w, const msg_exists_t *m) {
  wire_put_u8(w, m->exists);
}

/* ---- REPLICATE ------------------------------------------------------------------- */

static bool record_fields(wire_reader_t *r, msg_record_t *m) {
  return wire_get_u64(r, "record.time", &m->time_ms) &&
         msg_get_name(r, "record.publisher", &m->publisher) &&
         wire_get_u64(r, "record.producer", &m->producer) &&
         wire_get_u64(r, "record.seq", &m->seq) &&
         msg_get_bytes32(r, "record.data", &m->data);
}

static bool record_check(wire_reader_t *r) {
  msg_record_t m;
  return record_fields(r, &m);
}

static bool cursor_fields(wire_reader_t *r, msg_cursor_t *m) {
  return msg_get_name(r, "cursor.subscriber", &m->subscriber) &&
         wire_get_u64(r, "cursor.next", &m->next) &&
         wire_get_u64(r, "cursor.prev", &m->prev);
}

static bool term_fields(wire_reader_t *r, uint64_t *term, uint64_t *start) {
  return wire_get_u64(r, "term.term", term) &&
         wire_get_u64(r, "term.start", start);
}

static bool term_check(wire_reader_t *r) {
  uint64_t a, b;
  return term_fields(r, &a, &b);
}

static bool cursor_check(wire_reader_t *r) {
  msg_cursor_t m;
  return cursor_fields(r, &m);
}

static bool replicate_tail(wire_reader_t *r, msg_replicate_t *m) {
  uint32_t n;
  switch (m->kind) {
    case REPL_PUBLISHER:
    case REPL_SUBSCRIBER:
    case REPL_DELETE:
      return true;
    case REPL_SYNC:
      return msg_get_name(r, "owner", &m->owner) &&
             wire_get_u64(r, "first", &m->first) &&
             wire_get_u64(r, "next", &m->next) &&
             wire_get_u64(r, "committed", &m->committed) &&
             wire_get_u32(r, "terms", &n) &&
             msg_list_take(r, "terms", n, 16, term_check, &m->terms) &&
             wire_get_u32(r, "cursors", &n) &&
             msg_list_take(r, "cursors", n, 1 + 8 + 8, cursor_check, &m->list);
    case REPL_APPEND:
      return wire_get_u64(r, "committed", &m->committed) &&
             wire_get_u64(r, "first", &m->first) &&
             wire_get_u64(r, "term", &m->term) &&
             wire_get_u32(r, "count", &n) &&
             msg_list_take(r, "count", n, msg_record_size(0, 0),
                           record_check, &m->list);
    case REPL_CURSOR:
      return msg_get_name(r, "subscriber", &m->subscriber) &&
             wire_get_u64(r, "next", &m->next) &&
             wire_get_u64(r, "prev", &m->prev);
    case REPL_COMMIT:
      return wire_get_u64(r, "committed", &m->committed);
  }
  if (!r->bad) r->bad = "kind";
  return false;
}

bool msg_replicate_get(wire_reader_t *r, msg_replicate_t *m) {
  *m = (msg_replicate_t){0};
  return wire_get_u8(r, "kind", &m->kind) && msg_get_name(r, "name", &m->name) &&
         replicate_tail(r, m) && wire_reader_done(r);
}

static void replicate_head(wire_writer_t *w, const msg_replicate_t *m) {
  wire_put_u8(w, m->kind);
  wire_put_str8(w, m->name.s, m->name.n);
}

void msg_replicate_put(wire_writer_t *w, const msg_replicate_t *m) {
  replicate_head(w, m);
  if (m->kind == REPL_CURSOR) {
    wire_put_str8(w, m->subscriber.s, m->subscriber.n);
    wire_put_u64(w, m->next);
    wire_put_u64(w, m->prev);
  } else if (m->kind == REPL_COMMIT) {
    wire_put_u64(w, m->committed);
  }
}

bool msg_record_next(msg_replicate_t *m, msg_record_t *out) {
  if (!m->list.left) return false;
  m->list.left--;
  return record_fields(&m->list.r, out);
}

void msg_append_begin(wire_writer_t *w, msg_count_t *c,
                      const msg_replicate_t *m) {
  replicate_head(w, m);
  wire_put_u64(w, m->committed);
  wire_put_u64(w, m->first);
  wire_put_u64(w, m->term);
  msg_count_begin(w, c);
}

void msg_append_add(wire_writer_t *w, msg_count_t *c,
                    const msg_record_t *rec) {
  wire_put_u64(w, rec->time_ms);
  wire_put_str8(w, rec->publisher.s, rec->publisher.n);
  wire_put_u64(w, rec->producer);
  wire_put_u64(w, rec->seq);
  wire_put_bytes32(w, rec->data.s, rec->data.n);
  c->n++;
}

bool msg_cursor_next(msg_replicate_t *m, msg_cursor_t *out) {
  if (!m->list.left) return false;
  m->list.left--;
  return cursor_fields(&m->list.r, out);
}

void msg_sync_begin(wire_writer_t *w, msg_count_t *c, const msg_replicate_t *m,
                    const uint64_t (*terms)[2], size_t n) {
  replicate_head(w, m);
  wire_put_str8(w, m->owner.s, m->owner.n);
  wire_put_u64(w, m->first);
  wire_put_u64(w, m->next);
  wire_put_u64(w, m->committed);
  wire_put_u32(w, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    wire_put_u64(w, terms[i][0]);
    wire_put_u64(w, terms[i][1]);
  }
  msg_count_begin(w, c);
}

void msg_sync_add(wire_writer_t *w, msg_count_t *c, const msg_cursor_t *cur) {
  wire_put_str8(w, cur->subscriber.s, cur->subscriber.n);
  wire_put_u64(w, cur->next);
  wire_put_u64(w, cur->prev);
  c->n++;
}

bool msg_term_next(msg_replicate_t *m, uint64_t *term, uint64_t *start) {
  if (!m->terms.left) return false;
  m->terms.left--;
  return term_fields(&m->terms.r, term, start);
}

bool msg_ack_get(wire_reader_t *r, msg_ack_t *m) {
  return wire_get_u64(r, "next", &m->next) && msg_get_str8(r, "name", &m->name) &&
         wire_get_u64(r, "part", &m->part) && wire_reader_done(r);
}

void msg_ack_put(wire_writer_t *w, const msg_ack_t *m) {
  wire_put_u64(w, m->next);
  wire_put_str8(w, m->name.s, m->name.n);
  wire_put_u64(w, m->part);
}

/* ---- listings, cursors ------------------------------------------------------------ */

bool msg_homed_get(wire_reader_t *r, msg_homed_t *m) {
  return wire_get_u32(r, "node", &m->node) &&
         msg_get_str8(r, "prefix", &m->prefix) && wire_reader_done(r);
}

void msg_homed_put(wire_writer_t *w, const msg_homed_t *m) {
  wire_put_u32(w, m->node);
  wire_put_str8(w, m->prefix.s ? m->prefix.s : "", m->prefix.n);
}

bool msg_rewind_get(wire_reader_t *r, msg_rewind_t *m) {
  return msg_get_name(r, "subscriber", &m->subscriber) &&
         msg_get_name(r, "topic", &m->topic) && wire_get_u64(r, "from", &m->from) &&
         wire_get_u64(r, "expect", &m->expect) && wire_reader_done(r);
}

void msg_rewind_put(wire_writer_t *w, const msg_rewind_t *m) {
  wire_put_str8(w, m->subscriber.s, m->subscriber.n);
  wire_put_str8(w, m->topic.s, m->topic.n);
  wire_put_u64(w, m->from);
  wire_put_u64(w, m->expect);
}

bool msg_release_get(wire_reader_t *r, msg_release_t *m) {
  return wire_get_u32(r, "id", &m->id) && wire_reader_done(r);
}

void msg_release_put(wire_writer_t *w, const msg_release_t *m) {
  wire_put_u32(w, m->id);
}

bool msg_key_get(wire_reader_t *r, msg_key_t *m) {
  return msg_get_name(r, "subscriber", &m->subscriber) &&
         msg_get_name(r, "topic", &m->topic) && wire_reader_done(r);
}

void msg_key_put(wire_writer_t *w, const msg_key_t *m) {
  wire_put_str8(w, m->subscriber.s, m->subscriber.n);
  wire_put_str8(w, m->topic.s, m->topic.n);
}

/* ---- heartbeats ---------------------------------------------------------------- */

bool msg_ping_get(wire_reader_t *r, msg_ping_t *m) {
  return wire_get_u64(r, "epoch", &m->epoch) &&
         wire_get_u64(r, "digest", &m->digest) && wire_reader_done(r);
}

void msg_ping_put(wire_writer_t *w, const msg_ping_t *m) {
  wire_put_u64(w, m->epoch);
  wire_put_u64(w, m->digest);
}

bool msg_pong_get(wire_reader_t *r, msg_pong_t *m) {
  if (!wire_get_u64(r, "epoch", &m->epoch) ||
      !wire_get_u64(r, "digest", &m->digest))
    return false;
  m->view = msg_rest(r);
  return true;
}

void msg_pong_put(wire_writer_t *w, const msg_pong_t *m) {
  wire_put_u64(w, m->epoch);
  wire_put_u64(w, m->digest);
  wire_put(w, m->view.s, m->view.n);
}

bool msg_view_get(wire_reader_t *r, msg_view_t *m) {
  m->view = msg_rest(r);
  return true;
}

void msg_view_put(wire_writer_t *w, const msg_view_t *m) {
  wire_put(w, m->view.s, m->view.n);
}

/* ---- SPREAD and PROBE ------------------------------------------------------------ */

bool msg_spread_get(wire_reader_t *r, msg_spread_t *m) {
  if (!wire_get_u8(r, "dim", &m->dim) || !wire_get_u8(r, "hops", &m->hops))
    return false;
  m->view = msg_rest(r);
  return true;
}

void msg_spread_put(wire_writer_t *w, const msg_spread_t *m) {
  wire_put_u8(w, m->dim);
  wire_put_u8(w, m->hops);
  wire_put(w, m->view.s, m->view.n);
}

bool msg_probe_get(wire_reader_t *r, msg_probe_t *m) {
  return wire_get_u32(r, "target", &m->target) &&
         wire_get_u32(r, "timeout_ms", &m->timeout_ms) &&
         wire_get_u8(r, "relays", &m->relays) && wire_reader_done(r);
}

void msg_probe_put(wire_writer_t *w, const msg_probe_t *m) {
  wire_put_u32(w, m->target);
  wire_put_u32(w, m->timeout_ms);
  wire_put_u8(w, m->relays);
}

bool msg_probed_get(wire_reader_t *r, msg_probed_t *m) {
  return wire_get_u8(r, "alive", &m->alive) && wire_reader_done(r);
}

void msg_probed_put(wire_writer_t *w, const msg_probed_t *m) {
  wire_put_u8(w, m->alive);
}

/* ---- CLAIM -------------------------------------------------------------------- */

bool msg_claim_get(wire_reader_t *r, msg_claim_t *m) {
  return msg_get_name(r, "subscriber", &m->subscriber) &&
         msg_get_name(r, "topic", &m->topic) &&
         wire_get_u32(r, "server", &m->server) &&
         wire_get_u64(r, "first", &m->first) &&
         wire_get_u64(r, "next", &m->next) && wire_get_u32(r, "max", &m->max) &&
         wire_get_u64(r, "seen", &m->seen) &&
         wire_get_u32(r, "wait_ms", &m->wait_ms) && wire_reader_done(r);
}

void msg_claim_put(wire_writer_t *w, const msg_claim_t *m) {
  wire_put_str8(w, m->subscriber.s, m->subscriber.n);
  wire_put_str8(w, m->topic.s, m->topic.n);
  wire_put_u32(w, m->server);
  wire_put_u64(w, m->first);
  wire_put_u64(w, m->next);
  wire_put_u32(w, m->max);
  wire_put_u64(w, m->seen);
  wire_put_u32(w, m->wait_ms);
}

bool msg_claim_reply_get(wire_reader_t *r, msg_claim_reply_t *m) {
  if (!wire_get_u8(r, "mode", &m->served_at_home)) return false;
  if (m->served_at_home > 1) {
    r->bad = "mode";
    return false;
  }
  if (m->served_at_home) {
    m->body = msg_str(r->p, (size_t)(r->end - r->p));
    return msg_messages_get(r, &m->messages);
  }
  return wire_get_u64(r, "from", &m->from) &&
         wire_get_u32(r, "count", &m->count) && wire_reader_done(r);
}

void msg_claim_range_put(wire_writer_t *w, uint64_t from, uint32_t count) {
  wire_put_u8(w, 0);
  wire_put_u64(w, from);
  wire_put_u32(w, count);
}

void msg_claim_served_put(wire_writer_t *w) { wire_put_u8(w, 1); }

/* ---- JOIN and HOLDING ----------------------------------------------------------- */

bool msg_join_get(wire_reader_t *r, msg_join_t *m) {
  return wire_get_u32(r, "id", &m->id) && msg_get_str8(r, "addr", &m->addr) &&
         wire_get_u32(r, "replicas", &m->replicas) && wire_reader_done(r);
}

void msg_join_put(wire_writer_t *w, const msg_join_t *m) {
  wire_put_u32(w, m->id);
  wire_put_str8(w, m->addr.s, m->addr.n);
  wire_put_u32(w, m->replicas);
}

bool msg_join_reply_get(wire_reader_t *r, msg_join_reply_t *m) {
  if (!wire_get_u32(r, "id", &m->id)) return false;
  m->view = msg_rest(r);
  return true;
}

void msg_join_reply_put(wire_writer_t *w, const msg_join_reply_t *m) {
  wire_put_u32(w, m->id);
  wire_put(w, m->view.s, m->view.n);
}

static bool held_topic_fields(wire_reader_t *r, msg_held_topic_t *t) {
  return msg_get_name(r, "topics.name", &t->name) &&
         wire_get_u64(r, "topics.next", &t->next);
}

static bool held_topic_check(wire_reader_t *r) {
  msg_held_topic_t t;
  return held_topic_fields(r, &t);
}

static bool held_name_check(wire_reader_t *r) {
  msg_str_t s;
  return msg_get_name(r, "names.name", &s);
}

bool msg_holding_get(wire_reader_t *r, msg_holding_t *m) {
  uint32_t nt, np, ns;
  return wire_get_u32(r, "topics", &nt) &&
         msg_list_take(r, "topics", nt, 1 + 8, held_topic_check, &m->topics) &&
         wire_get_u32(r, "publishers", &np) &&
         msg_list_take(r, "publishers", np, 1, held_name_check,
                       &m->publishers) &&
         wire_get_u32(r, "subscribers", &ns) &&
         msg_list_take(r, "subscribers", ns, 1, held_name_check,
                       &m->subscribers) &&
         wire_get_u8(r, "more", &m->more) &&
         wire_get_u64(r, "layout", &m->layout) && wire_reader_done(r);
}

void msg_holding_end(wire_writer_t *w, uint8_t more, uint64_t layout) {
  wire_put_u8(w, more);
  wire_put_u64(w, layout);
}

bool msg_holding_ask_get(wire_reader_t *r, msg_holding_ask_t *m) {
  if (!wire_get_u64(r, "skip", &m->skip) ||
      !wire_get_u64(r, "layout", &m->layout))
    return false;
  m->view = msg_rest(r);
  return true;
}

void msg_holding_ask_put(wire_writer_t *w, const msg_holding_ask_t *m) {
  wire_put_u64(w, m->skip);
  wire_put_u64(w, m->layout);
  wire_put(w, m->view.s, m->view.n);
}

bool msg_held_topic_next(msg_list_t *l, msg_held_topic_t *out) {
  if (!l->left) return false;
  l->left--;
  return held_topic_fields(&l->r, out);
}

bool msg_held_name_next(msg_list_t *l, msg_str_t *out) {
  if (!l->left) return false;
  l->left--;
  return msg_get_name(&l->r, "names.name", out);
}

void msg_held_topic_add(wire_writer_t *w, msg_count_t *c,
                        const msg_held_topic_t *t) {
  wire_put_str8(w, t->name.s, t->name.n);
  wire_put_u64(w, t->next);
  c->n++;
}

void msg_held_name_add(wire_writer_t *w, msg_count_t *c, msg_str_t name) {
  wire_put_str8(w, name.s, name.n);
  c->n++;
}
