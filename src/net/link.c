/* link — a request/reply connection: connecting through an address list,
 * the HELLO handshake, the table of requests in flight, deadlines. */
#include "net/link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "hypersub.h"
#include "net/pending.h"

#define HELLO_ID 0
/* Until the node says its limit in the HELLO reply. */
#define DEFAULT_MAX_FRAME (1024 * 1024 + 64 * 1024)

typedef struct request {
  uint32_t id; /* first: the pending table's key */
  uint8_t op;
  link_reply_cb cb;
  void *ud;
  uint64_t deadline; /* uv_now() ms */
} request_t;

typedef struct link_conn {
  conn_t conn;
  uv_connect_t connect_req;
  link_t *link;
} link_conn_t;

/* L_HELLO and L_AUTH: the handshake's two answers awaited. */
typedef enum { L_IDLE, L_CONNECTING, L_HELLO, L_AUTH, L_READY } link_state_t;

struct link {
  uv_loop_t *loop;
  link_conn_t *cc; /* the live connection, or NULL */
  flusher_t own_flusher;
  flusher_t *flusher;
  uv_timer_t timer;
  char **addrs;
  size_t n_addrs, addr_next;
  uint32_t timeout_ms;
  size_t max_output, max_frame;
  link_state_t state;
  bool connect_due;  /* connect on the timer's next run (not inside a call) */
  uint64_t connect_deadline;
  char last_error[200];
  int refused;           /* the code of a refused handshake */
  uint32_t conn_refused; /* connects refused (no listener) in a row */
  buf_t queue;           /* frames waiting for the handshake */
  pending_t pending;     /* request_t by id */
  uint32_t next_id;
  uint32_t node_id;
  uint64_t used_ms; /* uv_now of the last request or answer */
  hello_t hello;
  msg_hello_reply_t answer; /* the node's answer to HELLO, until ready */
  link_connect_cb connect_cb;
  void *connect_ud;
  link_refused_cb refused_cb;
  void *refused_ud;
  void *data;
  void (*free_data)(void *);
  int open_handles;
  bool closed;
  bool weak; /* holds the loop only while busy (link_config_t.weak) */
  tls_ctx_t *tls; /* link_config_t.tls */
};

static void link_release(link_t *l);

static bool handshaking(const link_t *l) {
  return l->state == L_CONNECTING || l->state == L_HELLO || l->state == L_AUTH;
}
static void connect_next(link_t *l);
static void arm_timer(link_t *l);

/* A weak link's socket and timer count for the loop only while a request
 * or a connect waits on them (the timer may still run toward the
 * deadline of a request answered since). */
static void hold_loop(link_t *l) {
  if (!l->weak) return;
  bool busy = l->pending.count || l->connect_cb || l->state != L_READY;
  uv_handle_t *handles[] = {(uv_handle_t *)&l->timer,
                            l->cc ? (uv_handle_t *)&l->cc->conn.tcp : NULL};
  for (size_t i = 0; i < 2; i++) {
    if (!handles[i]) continue;
    if (busy)
      uv_ref(handles[i]);
    else
      uv_unref(handles[i]);
  }
}

/* ---- completing requests ------------------------------------------------- */

static void complete(link_t *l, request_t *req, const link_reply_t *r) {
  req->cb(l, r, req->ud);
  if (!l->closed) hold_loop(l);
}

static void fail(link_t *l, request_t *req, int code, const char *msg) {
  link_reply_t r = {.status = code, .message = msg, .message_len = strlen(msg)};
  complete(l, req, &r);
}

/* Fails every request in flight, oldest first (callbacks may send new
 * ones: those are kept). */
static void fail_all(link_t *l, int code, const char *msg) {
  size_t n = l->pending.count;
  if (!n) return;
  request_t *batch = malloc(n * sizeof *batch);
  if (!batch) abort(); /* cannot report failures without memory */
  pending_drain(&l->pending, batch);
  for (size_t i = 0; i < n; i++) fail(l, &batch[i], code, msg);
  free(batch);
}

/* ---- the timer: connecting, deadlines ------------------------------------- */

static void expire(link_t *l, uint64_t now) {
  size_t n = 0, i = 0;
  request_t *req;
  while ((req = pending_next(&l->pending, &i)))
    if (req->deadline <= now) n++;
  if (!n) return;
  request_t *batch = malloc(n * sizeof *batch);
  if (!batch) abort();
  size_t k = 0;
  for (i = 0; k < n && (req = pending_next(&l->pending, &i));) {
    if (req->deadline > now) continue;
    pending_take(&l->pending, req, &batch[k++]);
    i--; /* the slot may hold a shifted entry now */
  }
  for (i = 0; i < k && !l->closed; i++) {
    char msg[96];
    const char *name = wire_op_name(batch[i].op);
    snprintf(msg, sizeof msg, "no answer to %s within %u ms",
             name ? name : "request", l->timeout_ms);
    fail(l, &batch[i], HS_ETIMEOUT, msg);
  }
  free(batch);
}

static void on_timer(uv_timer_t *t) {
  link_t *l = t->data;
  uint64_t now = uv_now(l->loop);
  if (l->connect_due) {
    l->connect_due = false;
    connect_next(l);
  }
  if (handshaking(l) && now >= l->connect_deadline && l->cc) {
    snprintf(l->last_error, sizeof l->last_error, "connect timed out");
    conn_close(&l->cc->conn, HS_ETIMEOUT);
  }
  if (!l->closed) expire(l, now);
  if (!l->closed) arm_timer(l);
}

/* Runs the timer toward the earliest deadline, or stops it. */
static void arm_timer(link_t *l) {
  uint64_t due = l->connect_due ? 0 : UINT64_MAX;
  size_t i = 0;
  request_t *req;
  while ((req = pending_next(&l->pending, &i)))
    if (req->deadline < due) due = req->deadline;
  if (handshaking(l) && l->connect_deadline < due)
    due = l->connect_deadline;
  if (due == UINT64_MAX) {
    uv_timer_stop(&l->timer);
    return;
  }
  uint64_t now = uv_now(l->loop);
  uv_timer_start(&l->timer, on_timer, due > now ? due - now : 0, 0);
}

/* Connecting starts on the next turn, never inside the call that asked. */
static void start_connecting(link_t *l) {
  l->addr_next = 0;
  l->refused = 0;
  l->last_error[0] = 0;
  l->state = L_CONNECTING;
  l->connect_due = true;
  uv_update_time(l->loop);
  l->connect_deadline = uv_now(l->loop) + l->timeout_ms;
  arm_timer(l);
}

/* ---- the connection's events ----------------------------------------------- */

/* The node refused the handshake: final, no other address will say
 * otherwise. */
static void refuse(link_t *l, int code, const char *why) {
  snprintf(l->last_error, sizeof l->last_error, "%s", why);
  l->addr_next = l->n_addrs;
  l->refused = code;
  if (l->refused_cb) l->refused_cb(l, code, why, l->refused_ud);
  if (l->cc) conn_close(&l->cc->conn, code);
}

/* An error reply to HELLO or AUTH: the node refused us. */
static void refused_by_node(link_t *l, wire_reader_t *r) {
  msg_error_t err;
  char why[200];
  bool ok = msg_error_get(r, &err);
  snprintf(why, sizeof why, "%.*s", ok ? (int)err.message.n : 0,
           ok ? err.message.s : "");
  refuse(l, ok && err.code ? -(int)err.code : HS_EPROTOCOL, why);
}

static void ready(link_t *l, const msg_hello_reply_t *hello) {
  l->state = L_READY;
  l->node_id = hello->node;
  /* Not above what this end would buffer: a node cannot make us take a
   * frame of gigabytes. */
  l->max_frame = hello->max_frame < l->max_output ? hello->max_frame
                                                  : l->max_output;
  l->cc->conn.max_frame = l->max_frame;
  if (l->queue.len) { /* what was asked while connecting goes out now */
    if (buf_append(&l->cc->conn.out, l->queue.data, l->queue.len))
      fail_all(l, HS_ENOMEM, "out of memory sending the queued requests");
    buf_clear(&l->queue);
    conn_dirty(&l->cc->conn);
  }
  arm_timer(l);
  if (l->connect_cb) {
    link_connect_cb cb = l->connect_cb;
    l->connect_cb = NULL;
    cb(l, 0, NULL, hello, l->connect_ud);
  }
  if (!l->closed) hold_loop(l);
}

/* The answer to HELLO: ready, or AUTH goes out. */
static void hello_answered(link_t *l, wire_reader_t *r,
                           msg_hello_reply_t *hello) {
  char why[200];
  bool auth;
  if (!msg_hello_reply_get(r, hello))
    return refuse(l, HS_EPROTOCOL, "malformed hello reply from the node");
  wire_writer_t w;
  wire_begin(&w, &l->cc->conn.out, WIRE_AUTH, 0, HELLO_ID);
  int rc = hello_answer(&l->hello, hello, &w, &auth, why, sizeof why);
  if (rc || !auth) l->cc->conn.out.len = w.start; /* no AUTH after all */
  if (rc) return refuse(l, rc, why);
  if (!auth) return ready(l, hello);
  wire_end(&w);
  l->state = L_AUTH;
  conn_dirty(&l->cc->conn);
}

static void handshake_frame(link_t *l, const wire_frame_t *f) {
  wire_reader_t r;
  wire_reader_init(&r, f->body, f->body_len);
  if (f->id != HELLO_ID) return;
  if (f->flags & WIRE_F_ERROR) return refused_by_node(l, &r);
  if (l->state == L_HELLO) return hello_answered(l, &r, &l->answer);
  msg_auth_t auth;
  char why[200];
  if (!msg_auth_get(&r, &auth))
    return refuse(l, HS_EPROTOCOL, "malformed auth reply from the node");
  int rc = hello_verify(&l->hello, &auth, why, sizeof why);
  if (rc) return refuse(l, rc, why);
  ready(l, &l->answer);
}

static void cc_on_frame(conn_t *conn, const wire_frame_t *f) {
  link_conn_t *cc = conn->owner;
  link_t *l = cc->link;
  if (!(f->flags & WIRE_F_REPLY)) {
    snprintf(l->last_error, sizeof l->last_error,
             "the node sent a request, not a reply");
    conn_close(conn, HS_EPROTOCOL);
    return;
  }
  if (l->state == L_HELLO || l->state == L_AUTH) return handshake_frame(l, f);
  request_t *found = pending_find(&l->pending, f->id), req;
  if (!found) return; /* timed out already */
  pending_take(&l->pending, found, &req);
  l->used_ms = uv_now(l->loop);
  link_reply_t r = {.frame = f};
  wire_reader_t rd;
  msg_error_t err;
  wire_reader_init(&rd, f->body, f->body_len);
  if (f->flags & WIRE_F_ERROR) {
    if (msg_error_get(&rd, &err)) {
      r.status = err.code ? -(int)err.code : HS_EPROTOCOL;
      r.message = err.message.s;
      r.message_len = err.message.n;
    } else {
      r.status = HS_EPROTOCOL;
      r.message = "malformed error reply";
      r.message_len = strlen(r.message);
    }
  }
  complete(l, &req, &r);
}

static void cc_on_oversize(conn_t *conn, uint8_t op, uint32_t id, size_t len) {
  link_conn_t *cc = conn->owner;
  (void)op;
  (void)id;
  snprintf(cc->link->last_error, sizeof cc->link->last_error,
           "reply of %zu bytes is over the limit", len);
  conn_close(conn, HS_EPROTOCOL);
}

static void cc_on_garbage(conn_t *conn, const char *why, const char *bytes,
                          size_t n) {
  link_conn_t *cc = conn->owner;
  (void)bytes;
  (void)n;
  snprintf(cc->link->last_error, sizeof cc->link->last_error,
           "bad frame from the node: %s", why);
  conn_close(conn, HS_EPROTOCOL);
}

static void cc_on_close(conn_t *conn, int reason) {
  link_conn_t *cc = conn->owner;
  link_t *l = cc->link;
  if (l->cc != cc) return;
  l->cc = NULL;
  link_state_t was = l->state;
  l->state = L_IDLE;
  if (l->closed) return;
  if (was == L_READY) {
    char msg[256];
    snprintf(msg, sizeof msg, "connection to node %u closed%s%s", l->node_id,
             reason && reason != HS_EUNAVAILABLE ? ": " : "",
             reason && reason != HS_EUNAVAILABLE ? hs_err_message(reason) : "");
    fail_all(l, HS_ECLOSED, msg);
    if (!l->closed) arm_timer(l);
    return;
  }
  if (!l->last_error[0])
    snprintf(l->last_error, sizeof l->last_error, "%s",
             reason ? hs_err_message(reason) : "connection closed");
  l->state = L_CONNECTING;
  connect_next(l);
}

static void cc_on_free(conn_t *conn) {
  link_conn_t *cc = conn->owner;
  link_t *l = cc->link;
  free(cc);
  link_release(l);
}

static const conn_hooks_t link_conn_hooks = {
    .on_frame = cc_on_frame,
    .on_oversize = cc_on_oversize,
    .on_garbage = cc_on_garbage,
    .on_close = cc_on_close,
    .on_free = cc_on_free,
};

/* ---- connecting ------------------------------------------------------------ */

static void on_connect(uv_connect_t *req, int status) {
  link_conn_t *cc = req->data;
  link_t *l = cc->link;
  if (cc->conn.closing) return;
  if (status < 0) {
    if (status == UV_ECONNREFUSED) l->conn_refused++;
    snprintf(l->last_error, sizeof l->last_error, "%s: %s",
             l->addrs[l->addr_next - 1], uv_strerror(status));
    conn_close(&cc->conn, HS_EIO);
    return;
  }
  l->state = L_HELLO;
  l->conn_refused = 0;
  wire_writer_t w;
  wire_begin(&w, &cc->conn.out, WIRE_HELLO, 0, HELLO_ID);
  hello_put(&l->hello, &w);
  wire_end(&w);
  if (conn_start(&cc->conn)) conn_close(&cc->conn, HS_EIO);
}

/* Gives up: fails the queue and the connect callback. */
static void connect_failed(link_t *l) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, "could not connect to");
  for (size_t i = 0; i < l->n_addrs && n < (int)sizeof msg; i++)
    n += snprintf(msg + n, sizeof msg - (size_t)n, "%s %s", i ? "," : "",
                  l->addrs[i]);
  if (l->last_error[0] && n < (int)sizeof msg)
    snprintf(msg + n, sizeof msg - (size_t)n, " (%s)", l->last_error);
  buf_clear(&l->queue);
  l->state = L_IDLE;
  int code = l->refused ? l->refused : HS_EUNAVAILABLE;
  if (l->connect_cb) {
    link_connect_cb cb = l->connect_cb;
    l->connect_cb = NULL;
    cb(l, code, msg, NULL, l->connect_ud);
  }
  if (!l->closed) fail_all(l, code, msg);
  if (!l->closed) arm_timer(l);
}

/* Starts a connection to the next address; returns false when it could
 * not even start (the caller tries the next). */
static bool connect_to(link_t *l, const char *addr) {
  struct sockaddr_storage ss;
  if (addr_parse(addr, &ss)) {
    snprintf(l->last_error, sizeof l->last_error, "\"%s\" is not host:port",
             addr);
    return false;
  }
  link_conn_t *cc = calloc(1, sizeof *cc);
  if (!cc || conn_init(&cc->conn, l->loop, l->flusher, &link_conn_hooks, cc,
                       DEFAULT_MAX_FRAME, l->max_output)) {
    free(cc);
    snprintf(l->last_error, sizeof l->last_error, "out of memory");
    return false;
  }
  cc->link = l;
  cc->connect_req.data = cc;
  char host[ADDR_MAX + 1];
  if (l->tls && (addr_host(addr, host, sizeof host) ||
                 !(cc->conn.tls = tls_conn_new(l->tls, host)))) {
    snprintf(l->last_error, sizeof l->last_error, "%s: cannot start TLS",
             addr);
    l->open_handles++;             /* given back when libuv lets go */
    conn_close(&cc->conn, HS_ENOMEM); /* not l->cc: the link is not told */
    return false;
  }
  l->open_handles++;
  l->cc = cc;
  int rc = uv_tcp_connect(&cc->connect_req, &cc->conn.tcp,
                          (struct sockaddr *)&ss, on_connect);
  if (rc) {
    snprintf(l->last_error, sizeof l->last_error, "%s: %s", addr,
             uv_strerror(rc));
    l->cc = NULL;
    conn_close(&cc->conn, HS_EIO);
    return false;
  }
  return true;
}

static void connect_next(link_t *l) {
  while (l->addr_next < l->n_addrs) {
    uv_update_time(l->loop);
    l->connect_deadline = uv_now(l->loop) + l->timeout_ms;
    if (connect_to(l, l->addrs[l->addr_next++])) {
      arm_timer(l);
      return;
    }
  }
  connect_failed(l);
}

/* ---- sending ------------------------------------------------------------- */

static buf_t *out_buf(link_t *l) {
  return l->state == L_READY ? &l->cc->conn.out : &l->queue;
}

size_t link_buffered(const link_t *l) {
  return l->state == L_READY ? conn_buffered(&l->cc->conn) : l->queue.len;
}

int link_begin(link_t *l, uint8_t op, uint16_t flags, wire_writer_t *w,
               uint32_t *id) {
  if (l->closed) return HS_ECLOSED;
  if (link_buffered(l) > l->max_output) return HS_ETOO_LARGE;
  *id = l->next_id++;
  if (l->next_id == 0) l->next_id = 1;
  wire_begin(w, out_buf(l), op, flags, *id);
  return w->err;
}

int link_end(link_t *l, wire_writer_t *w, uint32_t id, uint32_t timeout_ms,
             link_reply_cb cb, void *ud) {
  int rc = wire_end(w);
  if (rc) return rc;
  if (link_buffered(l) > l->max_output) {
    w->b->len = w->start; /* refused here rather than closing the link */
    return HS_ETOO_LARGE;
  }
  request_t *req = pending_add(&l->pending, id);
  if (!req) {
    w->b->len = w->start;
    return HS_ENOMEM;
  }
  uint8_t op = w->op;
  uv_update_time(l->loop); /* deadlines count from the call */
  l->used_ms = uv_now(l->loop);
  *req = (request_t){.id = id, .op = op, .cb = cb, .ud = ud,
                     .deadline = uv_now(l->loop) +
                                 (timeout_ms ? timeout_ms : l->timeout_ms)};
  if (!uv_is_active((uv_handle_t *)&l->timer)) arm_timer(l);
  if (l->state == L_READY)
    conn_dirty(&l->cc->conn);
  else if (l->state == L_IDLE)
    start_connecting(l);
  hold_loop(l);
  return 0;
}

int link_send(link_t *l, uint8_t op, uint16_t flags, const char *head,
              size_t head_len, const char *body, size_t body_len,
              uint32_t timeout_ms, link_reply_cb cb, void *ud, uint32_t *id) {
  wire_writer_t w;
  uint32_t rid;
  int rc = link_begin(l, op, flags, &w, &rid);
  if (rc) return rc;
  wire_put(&w, head, head_len);
  wire_put(&w, body, body_len);
  rc = link_end(l, &w, rid, timeout_ms, cb, ud);
  if (!rc && id) *id = rid;
  return rc;
}

/* ---- the rest of the API ---------------------------------------------------- */

static char **copy_addrs(const char *const *addrs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    struct sockaddr_storage ss;
    if (!addrs[i] || addr_parse(addrs[i], &ss)) return NULL;
  }
  char **copy = calloc(n, sizeof *copy);
  for (size_t i = 0; copy && i < n; i++)
    if (!(copy[i] = strdup(addrs[i]))) {
      while (i--) free(copy[i]);
      free(copy);
      copy = NULL;
    }
  return copy;
}

static void free_addrs(char **addrs, size_t n) {
  for (size_t i = 0; i < n; i++) free(addrs[i]);
  free(addrs);
}

int link_new(uv_loop_t *loop, const link_config_t *cfg, link_t **out) {
  if (!cfg->n_addrs || !cfg->timeout_ms || !cfg->max_output)
    return HS_EINVALID;
  for (size_t i = 0; i < cfg->n_addrs; i++) {
    struct sockaddr_storage ss;
    if (!cfg->addrs[i] || addr_parse(cfg->addrs[i], &ss)) return HS_EINVALID;
  }
  link_t *l = calloc(1, sizeof *l);
  if (!l) return HS_ENOMEM;
  int rc = hello_init(&l->hello, &cfg->hello);
  if (rc) {
    free(l);
    return rc;
  }
  if (!(l->addrs = copy_addrs(cfg->addrs, cfg->n_addrs))) {
    hello_free(&l->hello);
    free(l);
    return HS_ENOMEM;
  }
  l->loop = loop;
  l->used_ms = uv_now(loop);
  l->n_addrs = cfg->n_addrs;
  l->timeout_ms = cfg->timeout_ms;
  l->max_output = cfg->max_output;
  l->max_frame = DEFAULT_MAX_FRAME;
  l->next_id = 1;
  l->connect_cb = cfg->connect_cb;
  l->connect_ud = cfg->connect_ud;
  l->refused_cb = cfg->refused_cb;
  l->refused_ud = cfg->refused_ud;
  l->weak = cfg->weak;
  l->tls = cfg->tls;
  pending_init(&l->pending, sizeof(request_t));
  l->flusher = cfg->flusher;
  if (!l->flusher) {
    flusher_init(&l->own_flusher, loop);
    l->flusher = &l->own_flusher;
    l->open_handles++;
  }
  uv_timer_init(loop, &l->timer);
  l->timer.data = l;
  l->open_handles++;
  *out = l;
  start_connecting(l);
  return 0;
}

uint32_t link_timeout(const link_t *l) { return l->timeout_ms; }
size_t link_pending(const link_t *l) { return l->pending.count; }
uint32_t link_refused(const link_t *l) { return l->conn_refused; }
uint64_t link_used(const link_t *l) { return l->used_ms; }
uint32_t link_node(const link_t *l) { return l->node_id; }
void link_set_data(link_t *l, void *data, void (*free_data)(void *)) {
  l->data = data;
  l->free_data = free_data;
}
void *link_data(const link_t *l) { return l->data; }

int link_set_addrs(link_t *l, const char *const *addrs, size_t n) {
  if (!n) return HS_EINVALID;
  for (size_t i = 0; i < n; i++) {
    struct sockaddr_storage ss;
    if (!addrs[i] || addr_parse(addrs[i], &ss)) return HS_EINVALID;
  }
  char **copy = copy_addrs(addrs, n);
  if (!copy) return HS_ENOMEM;
  free_addrs(l->addrs, l->n_addrs);
  l->addrs = copy;
  l->n_addrs = n;
  l->addr_next = 0;
  return 0;
}

static void link_release(link_t *l) {
  if (--l->open_handles > 0 || !l->closed) return;
  free_addrs(l->addrs, l->n_addrs);
  pending_free(&l->pending);
  buf_free(&l->queue);
  hello_free(&l->hello);
  if (l->free_data && l->data) l->free_data(l->data);
  free(l);
}

static void handle_closed(uv_handle_t *h) { link_release(h->data); }

void link_free(link_t *l) {
  if (!l || l->closed) return;
  if (l->connect_cb) {
    link_connect_cb cb = l->connect_cb;
    l->connect_cb = NULL;
    cb(l, HS_ECLOSED, "the client was closed", NULL, l->connect_ud);
  }
  fail_all(l, HS_ECLOSED, "the client was closed");
  l->closed = true;
  buf_clear(&l->queue);
  if (l->cc) conn_close(&l->cc->conn, HS_ECLOSED);
  if (l->flusher == &l->own_flusher) {
    l->own_flusher.prepare.data = l;
    flusher_close(&l->own_flusher, handle_closed);
  }
  uv_close((uv_handle_t *)&l->timer, handle_closed);
}
