/* client — one connection, many requests in flight matched by id.
 *
 * Requests issued before the handshake wait in `queue`. A client keeps a
 * copy of each request frame in flight (the journal) so it can send it
 * again: when its connection drops, it connects again (trying the
 * addresses in turn) and resends, in order; when a node answers
 * UNAVAILABLE or CLOSED (a node on the way died), it resends after a short
 * backoff. All within the request's own deadline. Publishes carry this
 * client's producer id and a sequence number, so a retried one is stored
 * once. Peer links (the node's own) never retry: the node decides. */
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "core/addr.h"
#include "net/conn.h"
#include "hypersub.h"
#include "core/map.h"
#include "proto/wire.h"

#define HELLO_ID 0
/* Until the node says its limit in the HELLO reply. */
#define DEFAULT_MAX_FRAME (1024 * 1024 + 64 * 1024)

typedef struct pending {
  uint32_t id; /* 0: free slot */
  uint8_t op;
  uint8_t tries;     /* times it was sent again */
  hs_reply_cb cb;
  void *ud;
  uint64_t deadline; /* uv_now() milliseconds */
  uint64_t retry_at; /* resend then (uv_now ms); 0: not waiting to */
  size_t jpos, jlen; /* its frame in the journal; jlen 0: none */
  uint64_t *seen;    /* a pull: its subscription's position */
} pending_t;

typedef struct client_conn {
  conn_t conn;
  uv_connect_t connect_req;
  hs_client_t *client;
} client_conn_t;

typedef enum { C_IDLE, C_CONNECTING, C_HELLO, C_READY } client_state_t;

struct hs_client {
  uv_loop_t *loop;
  client_conn_t *cc; /* the live connection, or NULL */
  flusher_t flusher;
  uv_timer_t timer;
  char **addrs;
  size_t n_addrs, addr_next;
  uint32_t timeout_ms;
  size_t max_output;
  size_t max_frame;
  client_state_t state;
  uint64_t connect_deadline;
  char last_error[200];
  int refused; /* the code of a refused handshake, e.g. HS_EDENIED */
  uint32_t conn_refused; /* connects refused (no listener) in a row */
  buf_t queue; /* frames waiting for the handshake */
  pending_t *slots;
  size_t cap, count;
  uint32_t next_id;
  hs_reply_cb connect_cb;
  void *connect_ud;
  uint32_t node_id;
  hs_message_t *msgs;
  size_t msgs_cap;
  uint32_t nodes[255]; /* a WHERE reply */
  void *data;
  int open_handles;
  bool closed;
  /* HELLO: clients say role 1 and node 0; peer links say who they are. */
  uint8_t role;
  uint32_t self_id;
  char cluster[HS_NAME_MAX + 1];
  buf_t hello_extra; /* appended to a peer's HELLO body */
  buf_t journal;      /* frames in flight, to send again */
  size_t journal_live; /* bytes of it still needed */
  uint64_t producer;  /* random, names this client's publishes */
  uint64_t seq;       /* the last publish's sequence number */
  map_t seen;         /* "subscriber\ntopic" -> uint64_t* cursor */
  uint64_t retries;
  uint64_t *next_seen; /* for the request being built */
};

static void client_release(hs_client_t *c);
static void connect_next(hs_client_t *c);

/* ---- the pending table: linear probing keyed by request id ------------- */

static size_t slot_of(const hs_client_t *c, uint32_t id) {
  return (size_t)(id * 2654435761u) & (c->cap - 1);
}

static int pending_grow(hs_client_t *c) {
  size_t cap = c->cap ? c->cap * 2 : 64;
  pending_t *old = c->slots, *slots = calloc(cap, sizeof *slots);
  if (!slots) return HS_ENOMEM;
  size_t old_cap = c->cap;
  c->slots = slots;
  c->cap = cap;
  for (size_t i = 0; i < old_cap; i++) {
    if (!old[i].id) continue;
    size_t j = slot_of(c, old[i].id);
    while (slots[j].id) j = (j + 1) & (cap - 1);
    slots[j] = old[i];
  }
  free(old);
  return 0;
}

static pending_t *pending_find(hs_client_t *c, uint32_t id) {
  if (!c->cap) return NULL;
  for (size_t j = slot_of(c, id);; j = (j + 1) & (c->cap - 1)) {
    if (c->slots[j].id == id) return &c->slots[j];
    if (!c->slots[j].id) return NULL;
  }
}

/* Removes the entry, shifting later entries of its probe run back. */
static pending_t pending_take(hs_client_t *c, pending_t *p) {
  pending_t taken = *p;
  size_t mask = c->cap - 1, i = (size_t)(p - c->slots), j = i;
  c->slots[i].id = 0;
  for (;;) {
    j = (j + 1) & mask;
    if (!c->slots[j].id) break;
    size_t home = slot_of(c, c->slots[j].id);
    /* Move j back to i unless its home lies cyclically in (i, j]. */
    if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
      c->slots[i] = c->slots[j];
      c->slots[j].id = 0;
      i = j;
    }
  }
  c->count--;
  return taken;
}

/* ---- completing requests ----------------------------------------------- */

static bool retryable(const hs_client_t *c, uint8_t op) {
  return c->role == WIRE_ROLE_CLIENT && op != WIRE_STOP_NODE &&
         op != WIRE_LEAVE && op != WIRE_HELLO;
}

static void journal_release(hs_client_t *c, const pending_t *p) {
  c->journal_live = p->jlen < c->journal_live ? c->journal_live - p->jlen : 0;
  if (c->count == 0) {
    buf_clear(&c->journal);
    c->journal_live = 0;
  }
}

static void complete(hs_client_t *c, pending_t p, hs_reply_t *r) {
  journal_release(c, &p);
  if (p.seen && r->status == 0 && (p.op == WIRE_PULL || p.op == WIRE_SUBSCRIBE))
    *p.seen = r->offset;
  /* A retried create found what its first try made; a retried delete
   * found it done. */
  hs_reply_t ok = {0};
  if (p.tries &&
      ((r->status == HS_EEXISTS &&
        (p.op == WIRE_CREATE_PUBLISHER || p.op == WIRE_CREATE_SUBSCRIBER ||
         p.op == WIRE_CREATE_TOPIC)) ||
       (r->status == HS_ENO_TOPIC && p.op == WIRE_DELETE_TOPIC)))
    r = &ok;
  p.cb(c, r, p.ud);
}

/* Puts a journalled request's frame on the wire again, marked a retry; a
 * pull says where its subscription stands now. */
static void resend(hs_client_t *c, pending_t *p);

static void fail(hs_client_t *c, pending_t p, int code, const char *msg) {
  hs_reply_t r = {.status = code, .message = msg, .message_len = strlen(msg)};
  complete(c, p, &r);
}

/* Fails every request in flight (their callbacks may issue new ones: those
 * are kept). */
static void fail_all(hs_client_t *c, int code, const char *msg) {
  size_t n = c->count;
  if (!n) return;
  pending_t *batch = malloc(n * sizeof *batch);
  if (!batch) abort(); /* cannot report failures without memory */
  size_t k = 0;
  for (size_t i = 0; i < c->cap; i++)
    if (c->slots[i].id) batch[k++] = c->slots[i];
  memset(c->slots, 0, c->cap * sizeof *c->slots);
  c->count = 0;
  for (size_t i = 0; i < k; i++) fail(c, batch[i], code, msg);
  free(batch);
}

static void arm_timer(hs_client_t *c);

static int by_id(const void *a, const void *b) {
  uint32_t x = ((const pending_t *)a)->id, y = ((const pending_t *)b)->id;
  return x < y ? -1 : x > y;
}

static void pending_insert(hs_client_t *c, const pending_t *p) {
  size_t j = slot_of(c, p->id);
  while (c->slots[j].id) j = (j + 1) & (c->cap - 1);
  c->slots[j] = *p;
  c->count++;
}

/* The connection dropped: requests that may be sent again and have time
 * left go out again, in the order they were made, on a new connection;
 * the others fail with `code`. */
static void resend_or_fail(hs_client_t *c, int code, const char *msg) {
  size_t n = c->count;
  if (!n) return;
  pending_t *all = malloc(n * sizeof *all);
  if (!all) abort(); /* cannot report failures without memory */
  size_t k = 0;
  for (size_t i = 0; i < c->cap; i++)
    if (c->slots[i].id) all[k++] = c->slots[i];
  memset(c->slots, 0, c->cap * sizeof *c->slots);
  c->count = 0;
  qsort(all, k, sizeof *all, by_id);
  uint64_t now = uv_now(c->loop);
  size_t kept = 0;
  for (size_t i = 0; i < k; i++)
    if (all[i].jlen && all[i].deadline > now) {
      all[i].retry_at = 0;
      pending_insert(c, &all[i]);
      kept++;
    }
  for (size_t i = 0; i < k && kept; i++)
    if (all[i].jlen && all[i].deadline > now)
      resend(c, pending_find(c, all[i].id));
  for (size_t i = 0; i < k && !c->closed; i++)
    if (!(all[i].jlen && all[i].deadline > now)) fail(c, all[i], code, msg);
  free(all);
}

static void on_timer(uv_timer_t *t) {
  hs_client_t *c = t->data;
  uint64_t now = uv_now(c->loop);
  for (size_t i = 0; i < c->cap && !c->closed; i++) {
    pending_t *p = &c->slots[i];
    if (p->id && p->retry_at && p->retry_at <= now && p->deadline > now) {
      p->retry_at = 0;
      resend(c, p);
    }
  }
  if ((c->state == C_CONNECTING || c->state == C_HELLO) &&
      now >= c->connect_deadline && c->cc) {
    snprintf(c->last_error, sizeof c->last_error, "connect timed out");
    conn_close(&c->cc->conn, HS_ETIMEOUT);
  }
  size_t n = 0;
  for (size_t i = 0; i < c->cap; i++)
    if (c->slots[i].id && c->slots[i].deadline <= now) n++;
  if (n) {
    pending_t *batch = malloc(n * sizeof *batch);
    if (!batch) abort();
    size_t k = 0;
    for (size_t i = 0; i < c->cap && k < n;) {
      if (c->slots[i].id && c->slots[i].deadline <= now)
        batch[k++] = pending_take(c, &c->slots[i]); /* may shift into i */
      else
        i++;
    }
    for (size_t i = 0; i < k && !c->closed; i++) {
      char msg[96];
      snprintf(msg, sizeof msg, "no answer to %s within %u ms",
               wire_op_name(batch[i].op), c->timeout_ms);
      fail(c, batch[i], HS_ETIMEOUT, msg);
    }
    free(batch);
  }
  if (!c->closed) arm_timer(c);
}

/* Runs the timer toward the earliest deadline, or stops it. */
static void arm_timer(hs_client_t *c) {
  uint64_t due = UINT64_MAX;
  for (size_t i = 0; i < c->cap; i++) {
    if (!c->slots[i].id) continue;
    if (c->slots[i].deadline < due) due = c->slots[i].deadline;
    if (c->slots[i].retry_at && c->slots[i].retry_at < due)
      due = c->slots[i].retry_at;
  }
  if ((c->state == C_CONNECTING || c->state == C_HELLO) &&
      c->connect_deadline < due)
    due = c->connect_deadline;
  if (due == UINT64_MAX) {
    uv_timer_stop(&c->timer);
    return;
  }
  uint64_t now = uv_now(c->loop);
  uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

/* ---- decoding replies -------------------------------------------------- */

static int decode_messages(hs_client_t *c, wire_reader_t *r, hs_reply_t *out) {
  uint32_t count;
  if (!wire_get_u64(r, "next", &out->offset) || !wire_get_u32(r, "count", &count))
    return HS_EPROTOCOL;
  /* Each message takes at least 21 bytes: bound count before sizing. */
  if ((size_t)count > (size_t)(r->end - r->p) / 21) return HS_EPROTOCOL;
  if (count > c->msgs_cap) {
    hs_message_t *m = realloc(c->msgs, count * sizeof *m);
    if (!m) return HS_ENOMEM;
    c->msgs = m;
    c->msgs_cap = count;
  }
  for (uint32_t i = 0; i < count; i++) {
    hs_message_t *m = &c->msgs[i];
    if (!wire_get_u64(r, "offset", &m->offset) ||
        !wire_get_u64(r, "time", &m->time_ms) ||
        !wire_get_str8(r, "publisher", &m->publisher, &m->publisher_len) ||
        !wire_get_bytes32(r, "data", &m->data, &m->len))
      return HS_EPROTOCOL;
  }
  out->messages = c->msgs;
  out->n_messages = count;
  return 0;
}

static int decode_reply(hs_client_t *c, const wire_frame_t *f, hs_reply_t *out) {
  wire_reader_t r;
  wire_reader_init(&r, f->body, f->body_len);
  if (f->flags & WIRE_F_ERROR) {
    uint16_t code;
    if (!wire_get_u16(&r, "code", &code) ||
        !wire_get_str16(&r, "message", &out->message, &out->message_len))
      return HS_EPROTOCOL;
    out->status = -(int)code;
    return 0;
  }
  /* A peer link relays replies as raw frames: nothing to decode. */
  if (c->role == WIRE_ROLE_PEER && f->op != WIRE_HELLO) return 0;
  switch (f->op) {
    case WIRE_HELLO: {
      uint32_t max_frame;
      if (!wire_get_u32(&r, "node", &out->node_id) ||
          !wire_get_u32(&r, "max_frame", &max_frame))
        return HS_EPROTOCOL;
      c->max_frame = max_frame;
      if (c->role == WIRE_ROLE_PEER) return 0; /* its view follows */
      break;
    }
    case WIRE_PUBLISH:
    case WIRE_SUBSCRIBE:
      if (!wire_get_u64(&r, "offset", &out->offset)) return HS_EPROTOCOL;
      break;
    case WIRE_PULL: {
      int rc = decode_messages(c, &r, out);
      if (rc) return rc;
      break;
    }
    case WIRE_STATS:
    case WIRE_VIEW:
    case WIRE_LOCAL:
    case WIRE_LIST_TOPICS:
      if (!wire_get_bytes32(&r, "json", &out->text, &out->text_len))
        return HS_EPROTOCOL;
      break;
    case WIRE_WHERE: {
      uint8_t n;
      if (!wire_get_u64(&r, "epoch", &out->epoch) ||
          !wire_get_u8(&r, "count", &n))
        return HS_EPROTOCOL;
      for (uint8_t i = 0; i < n; i++)
        if (!wire_get_u32(&r, "node", &c->nodes[i])) return HS_EPROTOCOL;
      out->nodes = c->nodes;
      out->n_nodes = n;
      break;
    }
    case WIRE_JOIN: /* id and view: the joining node reads reply.raw */
      return 0;
    default:
      break;
  }
  return wire_reader_done(&r) ? 0 : HS_EPROTOCOL;
}

static void handshake_done(hs_client_t *c, hs_reply_t *r) {
  if (r->status) {
    snprintf(c->last_error, sizeof c->last_error, "%.*s",
             (int)r->message_len, r->message);
    /* A refusal is final: no other address will say otherwise. */
    c->addr_next = c->n_addrs;
    c->refused = r->status;
    conn_close(&c->cc->conn, r->status);
    return;
  }
  c->state = C_READY;
  c->node_id = r->node_id;
  c->cc->conn.max_frame = c->max_frame;
  if (c->queue.len) {
    buf_append(&c->cc->conn.out, c->queue.data, c->queue.len);
    buf_clear(&c->queue);
    conn_dirty(&c->cc->conn);
  }
  arm_timer(c);
  if (c->connect_cb) {
    hs_reply_cb cb = c->connect_cb;
    c->connect_cb = NULL;
    cb(c, r, c->connect_ud);
  }
}

static void cc_on_frame(conn_t *conn, const wire_frame_t *f) {
  client_conn_t *cc = conn->owner;
  hs_client_t *c = cc->client;
  hs_reply_t r = {0};
  r.raw = f->body - WIRE_HEADER;
  r.raw_len = WIRE_HEADER + f->body_len;
  int rc = (f->flags & WIRE_F_REPLY) ? decode_reply(c, f, &r) : HS_EPROTOCOL;
  if (rc) {
    snprintf(c->last_error, sizeof c->last_error,
             "malformed %s reply from the node",
             wire_op_name(f->op) ? wire_op_name(f->op) : "unknown");
    conn_close(conn, rc);
    return;
  }
  if (c->state == C_HELLO) {
    if (f->id == HELLO_ID) handshake_done(c, &r);
    return;
  }
  pending_t *p = pending_find(c, f->id);
  if (!p || p->retry_at) return; /* timed out, or a late answer to a try */
  if ((r.status == HS_EUNAVAILABLE || r.status == HS_ECLOSED) && p->jlen) {
    /* A node on the way died: try again shortly, the view will have moved. */
    uint64_t now = uv_now(c->loop);
    uint64_t backoff = (uint64_t)20 << (p->tries < 4 ? p->tries : 4);
    if (now + backoff < p->deadline) {
      p->retry_at = now + backoff;
      arm_timer(c);
      return;
    }
  }
  complete(c, pending_take(c, p), &r);
}

static void cc_on_oversize(conn_t *conn, uint8_t op, uint32_t id, size_t len) {
  client_conn_t *cc = conn->owner;
  (void)op;
  (void)id;
  snprintf(cc->client->last_error, sizeof cc->client->last_error,
           "reply of %zu bytes is over the limit", len);
  conn_close(conn, HS_EPROTOCOL);
}

static void cc_on_garbage(conn_t *conn, const char *why, const char *bytes,
                          size_t n) {
  client_conn_t *cc = conn->owner;
  (void)bytes;
  (void)n;
  snprintf(cc->client->last_error, sizeof cc->client->last_error,
           "bad frame from the node: %s", why);
  conn_close(conn, HS_EPROTOCOL);
}

static void cc_on_close(conn_t *conn, int reason) {
  client_conn_t *cc = conn->owner;
  hs_client_t *c = cc->client;
  if (c->cc != cc) return;
  c->cc = NULL;
  client_state_t was = c->state;
  c->state = C_IDLE;
  if (c->closed) return;
  if (was == C_READY) {
    char msg[256];
    snprintf(msg, sizeof msg, "connection to node %u closed%s%s", c->node_id,
             reason && reason != HS_EUNAVAILABLE ? ": " : "",
             reason && reason != HS_EUNAVAILABLE ? hs_err_message(reason) : "");
    resend_or_fail(c, HS_ECLOSED, msg);
    if (!c->closed) arm_timer(c);
    return;
  }
  if (!c->last_error[0])
    snprintf(c->last_error, sizeof c->last_error, "%s",
             reason ? hs_err_message(reason) : "connection closed");
  connect_next(c);
}

static void cc_on_free(conn_t *conn) {
  client_conn_t *cc = conn->owner;
  hs_client_t *c = cc->client;
  free(cc);
  client_release(c);
}

static const conn_hooks_t client_conn_hooks = {
    .on_frame = cc_on_frame,
    .on_oversize = cc_on_oversize,
    .on_garbage = cc_on_garbage,
    .on_close = cc_on_close,
    .on_free = cc_on_free,
};

/* ---- connecting -------------------------------------------------------- */

static void on_connect(uv_connect_t *req, int status) {
  client_conn_t *cc = req->data;
  hs_client_t *c = cc->client;
  if (cc->conn.closing) return;
  if (status < 0) {
    if (status == UV_ECONNREFUSED) c->conn_refused++;
    snprintf(c->last_error, sizeof c->last_error, "%s: %s",
             c->addrs[c->addr_next - 1], uv_strerror(status));
    conn_close(&cc->conn, HS_EIO);
    return;
  }
  c->state = C_HELLO;
  c->conn_refused = 0;
  wire_writer_t w;
  wire_begin(&w, &cc->conn.out, WIRE_HELLO, 0, HELLO_ID);
  wire_put_u8(&w, c->role);
  wire_put_str8(&w, c->cluster, strlen(c->cluster));
  wire_put_u32(&w, c->self_id);
  wire_put(&w, c->hello_extra.data, c->hello_extra.len);
  wire_end(&w);
  if (conn_start(&cc->conn)) conn_close(&cc->conn, HS_EIO);
}

/* Gives up: fails the queue and the connect callback. */
static void connect_failed(hs_client_t *c) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "could not connect to");
  for (size_t i = 0; i < c->n_addrs && n < (int)sizeof msg; i++)
    n += snprintf(msg + n, sizeof msg - (size_t)n, "%s %s", i ? "," : "",
                  c->addrs[i]);
  if (c->last_error[0] && n < (int)sizeof msg)
    snprintf(msg + n, sizeof msg - (size_t)n, " (%s)", c->last_error);
  buf_clear(&c->queue);
  c->state = C_IDLE;
  if (c->connect_cb) {
    hs_reply_cb cb = c->connect_cb;
    c->connect_cb = NULL;
    hs_reply_t r = {.status = c->refused ? c->refused : HS_EUNAVAILABLE,
                    .message = msg,
                    .message_len = strlen(msg)};
    cb(c, &r, c->connect_ud);
  }
  if (!c->closed) fail_all(c, c->refused ? c->refused : HS_EUNAVAILABLE, msg);
  if (!c->closed) arm_timer(c);
}

static void connect_next(hs_client_t *c) {
  while (c->addr_next < c->n_addrs) {
    const char *addr = c->addrs[c->addr_next++];
    struct sockaddr_storage ss;
    if (addr_parse(addr, &ss)) {
      snprintf(c->last_error, sizeof c->last_error,
               "\"%s\" is not host:port", addr);
      continue;
    }
    client_conn_t *cc = calloc(1, sizeof *cc);
    if (!cc) break;
    if (conn_init(&cc->conn, c->loop, &c->flusher, &client_conn_hooks, cc,
                  DEFAULT_MAX_FRAME, c->max_output)) {
      free(cc);
      break;
    }
    cc->client = c;
    cc->connect_req.data = cc;
    c->open_handles++;
    c->cc = cc;
    c->state = C_CONNECTING;
    uv_update_time(c->loop);
    c->connect_deadline = uv_now(c->loop) + c->timeout_ms;
    int rc = uv_tcp_connect(&cc->connect_req, &cc->conn.tcp,
                            (struct sockaddr *)&ss, on_connect);
    if (rc) {
      snprintf(c->last_error, sizeof c->last_error, "%s: %s", addr,
               uv_strerror(rc));
      c->cc = NULL;
      c->state = C_IDLE;
      conn_close(&cc->conn, HS_EIO);
      continue;
    }
    arm_timer(c);
    return;
  }
  connect_failed(c);
}

static void start_connecting(hs_client_t *c) {
  c->addr_next = 0;
  c->refused = 0;
  c->last_error[0] = 0;
  connect_next(c);
}

/* ---- public API -------------------------------------------------------- */

HS_API void hs_client_config_init(hs_client_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->timeout_ms = 5000;
  cfg->max_output = 64 * 1024 * 1024;
}

HS_API int hs_client_new(uv_loop_t *loop, const hs_client_config_t *cfg,
                         hs_reply_cb cb, void *ud, hs_client_t **out) {
  if (!cfg->n_addrs || !cfg->timeout_ms || !cfg->max_output ||
      (cfg->cluster && (!*cfg->cluster || strlen(cfg->cluster) > HS_NAME_MAX)))
    return HS_EINVALID;
  for (size_t i = 0; i < cfg->n_addrs; i++) {
    struct sockaddr_storage ss;
    if (!cfg->addrs[i] || addr_parse(cfg->addrs[i], &ss))
      return HS_EINVALID;
  }
  hs_client_t *c = calloc(1, sizeof *c);
  if (!c) return HS_ENOMEM;
  c->addrs = calloc(cfg->n_addrs, sizeof *c->addrs);
  if (!c->addrs) {
    free(c);
    return HS_ENOMEM;
  }
  for (size_t i = 0; i < cfg->n_addrs; i++) {
    c->addrs[i] = strdup(cfg->addrs[i]);
    if (!c->addrs[i]) {
      while (i--) free(c->addrs[i]);
      free(c->addrs);
      free(c);
      return HS_ENOMEM;
    }
  }
  c->loop = loop;
  c->n_addrs = cfg->n_addrs;
  c->timeout_ms = cfg->timeout_ms;
  c->max_output = cfg->max_output;
  c->max_frame = DEFAULT_MAX_FRAME;
  c->next_id = 1;
  c->connect_cb = cb;
  c->connect_ud = ud;
  c->role = WIRE_ROLE_CLIENT;
  /* A random producer id, so the seqs of two clients never mix. */
  if (getrandom(&c->producer, sizeof c->producer, 0) != sizeof c->producer)
    c->producer = uv_hrtime() ^ ((uint64_t)(uintptr_t)c << 16);
  if (!c->producer) c->producer = 1;
  snprintf(c->cluster, sizeof c->cluster, "%s",
           cfg->cluster ? cfg->cluster : "hypersub");
  flusher_init(&c->flusher, loop);
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->open_handles = 2;
  *out = c;
  start_connecting(c);
  return 0;
}

HS_API void hs_client_set_data(hs_client_t *c, void *data) { c->data = data; }
HS_API uint64_t hs_client_retries(const hs_client_t *c) { return c->retries; }

HS_API int hs_client_set_addrs(hs_client_t *c, const char *const *addrs,
                               size_t n) {
  if (!n) return HS_EINVALID;
  for (size_t i = 0; i < n; i++) {
    struct sockaddr_storage ss;
    if (!addrs[i] || addr_parse(addrs[i], &ss)) return HS_EINVALID;
  }
  char **copy = calloc(n, sizeof *copy);
  if (!copy) return HS_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (!(copy[i] = strdup(addrs[i]))) {
      while (i--) free(copy[i]);
      free(copy);
      return HS_ENOMEM;
    }
  for (size_t i = 0; i < c->n_addrs; i++) free(c->addrs[i]);
  free(c->addrs);
  c->addrs = copy;
  c->n_addrs = n;
  c->addr_next = 0;
  return 0;
}
HS_API void *hs_client_data(const hs_client_t *c) { return c->data; }
HS_API size_t hs_client_pending(const hs_client_t *c) { return c->count; }

/* Starts a request frame in the right buffer; finish with end_request. */
static buf_t *request_buf(hs_client_t *c) {
  return c->state == C_READY ? &c->cc->conn.out : &c->queue;
}

/* Drops the journal's dead bytes once they are most of it. */
static void journal_compact(hs_client_t *c) {
  if (c->journal.len < (1u << 20) || c->journal_live > c->journal.len / 2)
    return;
  buf_t fresh = BUF_INIT;
  for (size_t i = 0; i < c->cap; i++) {
    pending_t *p = &c->slots[i];
    if (!p->id || !p->jlen) continue;
    size_t at = fresh.len;
    if (buf_append(&fresh, c->journal.data + p->jpos, p->jlen)) {
      buf_free(&fresh);
      return; /* keep the old one */
    }
    p->jpos = at;
  }
  buf_free(&c->journal);
  c->journal = fresh;
}

static int end_request(hs_client_t *c, wire_writer_t *w, uint8_t op,
                       uint32_t id, uint32_t extra_ms, hs_reply_cb cb,
                       void *ud) {
  uint64_t *seen = c->next_seen;
  c->next_seen = NULL;
  int rc = wire_end(w);
  if (rc) return rc;
  if (c->count + 1 > c->cap / 2 && (rc = pending_grow(c))) {
    w->b->len = w->start;
    return rc;
  }
  pending_t p = {.id = id,
                 .op = op,
                 .cb = cb,
                 .ud = ud,
                 .deadline = uv_now(c->loop) + c->timeout_ms + extra_ms,
                 .seen = seen};
  if (retryable(c, op)) {
    /* A copy to send again if the node or the way to it dies. */
    journal_compact(c);
    p.jpos = c->journal.len;
    p.jlen = w->b->len - w->start;
    if (buf_append(&c->journal, w->b->data + w->start, p.jlen)) p.jlen = 0;
    c->journal_live += p.jlen;
  }
  pending_insert(c, &p);
  if (!uv_is_active((uv_handle_t *)&c->timer)) arm_timer(c);
  if (c->state == C_READY) {
    if (conn_dirty(&c->cc->conn) == HS_ETOO_LARGE) return 0; /* failed all */
  } else if (c->state == C_IDLE) {
    start_connecting(c);
  }
  return 0;
}

static void resend(hs_client_t *c, pending_t *p) {
  buf_t *out = request_buf(c);
  size_t at = out->len;
  if (buf_append(out, c->journal.data + p->jpos, p->jlen)) return;
  char *frame = out->data + at;
  uint16_t flags;
  memcpy(&flags, frame + 6, 2);
  flags |= WIRE_F_RETRY;
  memcpy(frame + 6, &flags, 2);
  if (p->op == WIRE_PULL) { /* ..., u64 seen, u32 wait_ms */
    uint64_t seen = p->seen ? *p->seen : UINT64_MAX;
    memcpy(frame + p->jlen - 12, &seen, 8);
  }
  p->tries++;
  c->retries++;
  if (c->state == C_READY)
    conn_dirty(&c->cc->conn);
  else if (c->state == C_IDLE)
    start_connecting(c);
}

static int begin_request(hs_client_t *c, wire_writer_t *w, uint8_t op,
                         uint32_t *id) {
  if (c->closed) return HS_ECLOSED;
  /* Deadlines count from the call, even after a stretch without the loop. */
  uv_update_time(c->loop);
  if (c->state != C_READY && c->queue.len > c->max_output) return HS_ETOO_LARGE;
  *id = c->next_id++;
  if (c->next_id == 0) c->next_id = 1;
  wire_begin(w, request_buf(c), op, 0, *id);
  return w->err;
}

static int check_name(const char *s) {
  return s ? wire_name_check(s, strlen(s)) : HS_EINVALID;
}

/* The requests that carry one or two names and nothing else. */
static int names_request(hs_client_t *c, uint8_t op, const char *a,
                         const char *b, hs_reply_cb cb, void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = check_name(a)) || (b && (rc = check_name(b)))) return rc;
  if ((rc = begin_request(c, &w, op, &id))) return rc;
  wire_put_str8(&w, a, strlen(a));
  if (b) wire_put_str8(&w, b, strlen(b));
  return end_request(c, &w, op, id, 0, cb, ud);
}

HS_API int hs_client_create_publisher(hs_client_t *c, const char *pid,
                                      hs_reply_cb cb, void *ud) {
  return names_request(c, WIRE_CREATE_PUBLISHER, pid, NULL, cb, ud);
}

HS_API int hs_client_create_subscriber(hs_client_t *c, const char *sid,
                                       hs_reply_cb cb, void *ud) {
  return names_request(c, WIRE_CREATE_SUBSCRIBER, sid, NULL, cb, ud);
}

HS_API int hs_client_create_topic(hs_client_t *c, const char *pid,
                                  const char *topic, hs_reply_cb cb,
                                  void *ud) {
  return names_request(c, WIRE_CREATE_TOPIC, pid, topic, cb, ud);
}

HS_API int hs_client_delete_topic(hs_client_t *c, const char *pid,
                                  const char *topic, hs_reply_cb cb,
                                  void *ud) {
  return names_request(c, WIRE_DELETE_TOPIC, pid, topic, cb, ud);
}

HS_API int hs_client_publish(hs_client_t *c, const char *pid,
                             const char *topic, const void *data, size_t len,
                             hs_ack_t ack, hs_reply_cb cb, void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = check_name(pid)) || (rc = check_name(topic))) return rc;
  if ((unsigned)ack > HS_ACK_ALL) return HS_EINVALID;
  if (len > UINT32_MAX) return HS_ETOO_LARGE;
  if ((rc = begin_request(c, &w, WIRE_PUBLISH, &id))) return rc;
  wire_put_str8(&w, pid, strlen(pid));
  wire_put_str8(&w, topic, strlen(topic));
  wire_put_u8(&w, (uint8_t)ack);
  wire_put_u64(&w, c->producer);
  wire_put_u64(&w, ++c->seq);
  wire_put_bytes32(&w, data, len);
  return end_request(c, &w, WIRE_PUBLISH, id, 0, cb, ud);
}

/* Where this client's subscription stands (the cursor its last answer
 * left; UINT64_MAX: not known yet). One allocation per subscription. */
static uint64_t *seen_slot(hs_client_t *c, const char *sid, const char *topic) {
  char key[2 * HS_NAME_MAX + 2];
  size_t sn = strlen(sid), tn = strlen(topic);
  memcpy(key, sid, sn);
  key[sn] = '\n';
  memcpy(key + sn + 1, topic, tn);
  uint64_t *slot = map_get(&c->seen, key, sn + 1 + tn);
  if (slot) return slot;
  if (!(slot = malloc(sizeof *slot))) return NULL;
  *slot = UINT64_MAX;
  if (map_put(&c->seen, key, sn + 1 + tn, slot)) {
    free(slot);
    return NULL;
  }
  return slot;
}

HS_API int hs_client_subscribe(hs_client_t *c, const char *sid,
                               const char *topic, hs_from_t from,
                               uint64_t offset, hs_reply_cb cb, void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = check_name(sid)) || (rc = check_name(topic))) return rc;
  if ((unsigned)from > HS_FROM_OFFSET) return HS_EINVALID;
  uint64_t *seen = seen_slot(c, sid, topic);
  if (!seen) return HS_ENOMEM;
  if ((rc = begin_request(c, &w, WIRE_SUBSCRIBE, &id))) return rc;
  c->next_seen = seen;
  wire_put_str8(&w, sid, strlen(sid));
  wire_put_str8(&w, topic, strlen(topic));
  wire_put_u8(&w, (uint8_t)from);
  wire_put_u64(&w, offset);
  return end_request(c, &w, WIRE_SUBSCRIBE, id, 0, cb, ud);
}

HS_API int hs_client_pull(hs_client_t *c, const char *sid, const char *topic,
                          uint32_t max, uint32_t wait_ms, hs_reply_cb cb,
                          void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = check_name(sid)) || (rc = check_name(topic))) return rc;
  uint64_t *seen = seen_slot(c, sid, topic);
  if (!seen) return HS_ENOMEM;
  if ((rc = begin_request(c, &w, WIRE_PULL, &id))) return rc;
  c->next_seen = seen;
  wire_put_str8(&w, sid, strlen(sid));
  wire_put_str8(&w, topic, strlen(topic));
  wire_put_u32(&w, max);
  wire_put_u64(&w, *seen);
  wire_put_u32(&w, wait_ms);
  return end_request(c, &w, WIRE_PULL, id, wait_ms, cb, ud);
}

HS_API int hs_client_stop_node(hs_client_t *c, uint32_t node_id,
                               uint32_t restart_after_ms, hs_reply_cb cb,
                               void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = begin_request(c, &w, WIRE_STOP_NODE, &id))) return rc;
  wire_put_u32(&w, node_id);
  wire_put_u32(&w, restart_after_ms);
  return end_request(c, &w, WIRE_STOP_NODE, id, 0, cb, ud);
}

/* A leave answers once the node's topics are handed over. */
#define LEAVE_EXTRA_MS 30000

HS_API int hs_client_leave(hs_client_t *c, uint32_t node_id, hs_reply_cb cb,
                           void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = begin_request(c, &w, WIRE_LEAVE, &id))) return rc;
  wire_put_u32(&w, node_id);
  return end_request(c, &w, WIRE_LEAVE, id, LEAVE_EXTRA_MS, cb, ud);
}

uint32_t client_conn_refused(const hs_client_t *c) { return c->conn_refused; }

int client_send_raw(hs_client_t *c, uint8_t op, uint16_t flags,
                    const char *prefix, size_t prefix_len, const char *body,
                    size_t body_len, uint32_t extra_ms, hs_reply_cb cb,
                    void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = begin_request(c, &w, op, &id))) return rc;
  memcpy(w.b->data + w.start + 6, &flags, 2);
  wire_put(&w, prefix, prefix_len);
  wire_put(&w, body, body_len);
  return end_request(c, &w, op, id, extra_ms, cb, ud);
}

HS_API int hs_client_stats(hs_client_t *c, hs_reply_cb cb, void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = begin_request(c, &w, WIRE_STATS, &id))) return rc;
  return end_request(c, &w, WIRE_STATS, id, 0, cb, ud);
}

HS_API int hs_client_where(hs_client_t *c, const char *topic, hs_reply_cb cb,
                           void *ud) {
  return names_request(c, WIRE_WHERE, topic, NULL, cb, ud);
}

HS_API int hs_client_view(hs_client_t *c, hs_reply_cb cb, void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = begin_request(c, &w, WIRE_VIEW, &id))) return rc;
  return end_request(c, &w, WIRE_VIEW, id, 0, cb, ud);
}

HS_API int hs_client_list_topics(hs_client_t *c, const char *prefix,
                                hs_reply_cb cb, void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  size_t pn = prefix ? strlen(prefix) : 0;
  if (pn && (rc = check_name(prefix))) return rc;
  if ((rc = begin_request(c, &w, WIRE_LIST_TOPICS, &id))) return rc;
  wire_put_str8(&w, prefix ? prefix : "", pn);
  return end_request(c, &w, WIRE_LIST_TOPICS, id, 0, cb, ud);
}

HS_API int hs_client_local(hs_client_t *c, hs_reply_cb cb, void *ud) {
  int rc;
  uint32_t id;
  wire_writer_t w;
  if ((rc = begin_request(c, &w, WIRE_LOCAL, &id))) return rc;
  return end_request(c, &w, WIRE_LOCAL, id, 0, cb, ud);
}

/* ---- closing ----------------------------------------------------------- */

int client_new_peer(uv_loop_t *loop, const client_peer_config_t *cfg,
                    hs_client_t **out) {
  const char *addrs[1] = {cfg->addr};
  hs_client_config_t ccfg;
  hs_client_config_init(&ccfg);
  ccfg.addrs = addrs;
  ccfg.n_addrs = 1;
  ccfg.timeout_ms = cfg->timeout_ms;
  ccfg.max_output = cfg->max_output;
  if (!cfg->cluster || strlen(cfg->cluster) > HS_NAME_MAX) return HS_EINVALID;
  int rc = hs_client_new(loop, &ccfg, NULL, NULL, out);
  if (rc) return rc;
  hs_client_t *c = *out;
  c->role = WIRE_ROLE_PEER;
  c->self_id = cfg->self_id;
  strcpy(c->cluster, cfg->cluster);
  if (buf_append(&c->hello_extra, cfg->hello_extra, cfg->hello_extra_len)) {
    hs_client_free(c);
    return HS_ENOMEM;
  }
  return 0;
}

static void client_release(hs_client_t *c) {
  if (--c->open_handles > 0 || !c->closed) return;
  buf_free(&c->hello_extra);
  buf_free(&c->journal);
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&c->seen, &i, &k, &kn, &v);) free(v);
  map_free(&c->seen);
  for (size_t i = 0; i < c->n_addrs; i++) free(c->addrs[i]);
  free(c->addrs);
  free(c->slots);
  free(c->msgs);
  buf_free(&c->queue);
  free(c);
}

static void timer_closed(uv_handle_t *h) { client_release(h->data); }
static void flusher_closed(uv_handle_t *h) {
  flusher_t *f = (flusher_t *)h;
  client_release((hs_client_t *)((char *)f - offsetof(hs_client_t, flusher)));
}

HS_API void hs_client_free(hs_client_t *c) {
  if (!c || c->closed) return;
  if (c->connect_cb) {
    hs_reply_cb cb = c->connect_cb;
    c->connect_cb = NULL;
    hs_reply_t r = {.status = HS_ECLOSED,
                    .message = "the client was closed",
                    .message_len = 21};
    cb(c, &r, c->connect_ud);
  }
  fail_all(c, HS_ECLOSED, "the client was closed");
  c->closed = true;
  buf_clear(&c->queue);
  if (c->cc) {
    client_conn_t *cc = c->cc;
    conn_close(&cc->conn, HS_ECLOSED);
  }
  flusher_close(&c->flusher, flusher_closed);
  uv_close((uv_handle_t *)&c->timer, timer_closed);
}

size_t client_buffered(const hs_client_t *c) {
  return c->state == C_READY ? conn_buffered(&c->cc->conn) : c->queue.len;
}

int client_frame_begin(hs_client_t *c, uint8_t op, wire_writer_t *w,
                       uint32_t *id) {
  return begin_request(c, w, op, id);
}

int client_frame_end(hs_client_t *c, wire_writer_t *w, uint8_t op,
                     uint32_t id, hs_reply_cb cb, void *ud) {
  return end_request(c, w, op, id, 0, cb, ud);
}
