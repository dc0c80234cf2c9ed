/* client — the public client: requests on a link, sent again when the node
 * or a node on the way died, within each request's own deadline.
 *
 * A request keeps a copy of its body in the journal. When the connection
 * drops, the link fails what was in flight (oldest first) and the client
 * sends each again at once, in order, on a new connection (trying the
 * addresses in turn). When a node answers UNAVAILABLE or CLOSED (a node on
 * the way died), it sends it again after a short backoff. Publishes carry
 * this client's producer id and a sequence number, so the home stores a
 * retried one once; a retried pull says where its subscription stands
 * now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "client/journal.h"
#include "client/reply.h"
#include "core/map.h"
#include "hypersub.h"
#include "net/link.h"
#include "net/pending.h"

/* Backoff before sending again after UNAVAILABLE: 5 ms doubling to 320 (a
 * hand-over is over within milliseconds; a dead node takes longer). */
#define RETRY_BASE_MS 5
#define RETRY_DOUBLINGS 6
/* A leave answers once the node's topics are handed over. */
#define LEAVE_EXTRA_MS 30000

typedef struct client_req {
  uint32_t id; /* first: the pending table's key */
  uint8_t op;
  uint8_t tries;     /* times it was sent again */
  hs_reply_cb cb;
  void *ud;
  uint64_t deadline; /* uv_now() ms */
  uint64_t retry_at; /* waiting to be sent again then; 0: on the link */
  journal_ref_t body; /* len 0: not sent again */
  uint64_t *seen;    /* a pull or subscribe: its subscription's position */
} client_req_t;

struct hs_client {
  uv_loop_t *loop;
  link_t *link;
  tls_ctx_t *tls; /* NULL: plain TCP */
  uv_timer_t timer; /* sends again after a backoff; deadlines meanwhile */
  uint32_t timeout_ms;
  pending_t reqs;   /* client_req_t by our own id */
  uint32_t next_id;
  size_t walk;      /* journal_compact's walk over reqs */
  journal_t journal;
  reply_buf_t rb;
  hs_reply_cb connect_cb;
  void *connect_ud;
  uint64_t producer; /* random, names this client's publishes */
  uint64_t seq;      /* the last publish's sequence number */
  map_t seen;        /* "subscriber\ntopic" -> uint64_t* cursor */
  uint64_t retries;
  void *data;
  bool closed, timer_open;
};

static void arm_timer(hs_client_t *c);
static void send_again(hs_client_t *c, client_req_t *req);

/* ---- completing ------------------------------------------------------------ */

static bool retryable(uint8_t op) {
  return op != WIRE_STOP_NODE && op != WIRE_LEAVE;
}

static void complete(hs_client_t *c, client_req_t *found, hs_reply_t *r) {
  client_req_t req;
  pending_take(&c->reqs, found, &req);
  journal_release(&c->journal, &req.body, c->reqs.count == 0);
  if (req.seen && r->status == 0 &&
      (req.op == WIRE_PULL || req.op == WIRE_SUBSCRIBE))
    *req.seen = r->offset;
  /* A retried create found what its first try made; a retried delete
   * found it done. */
  hs_reply_t ok = {0};
  if (req.tries &&
      ((r->status == HS_EEXISTS &&
        (req.op == WIRE_CREATE_PUBLISHER || req.op == WIRE_CREATE_SUBSCRIBER ||
         req.op == WIRE_CREATE_TOPIC)) ||
       (r->status == HS_ENO_TOPIC && req.op == WIRE_DELETE_TOPIC)))
    r = &ok;
  req.cb(c, r, req.ud);
}

static void fail(hs_client_t *c, client_req_t *req, int code, const char *msg) {
  hs_reply_t r = {.status = code, .message = msg, .message_len = strlen(msg)};
  complete(c, req, &r);
}

/* What to do with a failure: send again now (the connection dropped), after
 * a backoff (a node said UNAVAILABLE or CLOSED), or give up. */
static bool try_again(hs_client_t *c, client_req_t *req,
                      const link_reply_t *r) {
  if (c->closed || !req->body.len) return false;
  uint64_t now = uv_now(c->loop);
  if (!r->frame && r->status == HS_ECLOSED && req->deadline > now) {
    send_again(c, req);
    return true;
  }
  if (!r->frame || (r->status != HS_EUNAVAILABLE && r->status != HS_ECLOSED))
    return false;
  uint64_t backoff = (uint64_t)RETRY_BASE_MS
                     << (req->tries < RETRY_DOUBLINGS ? req->tries
                                                      : RETRY_DOUBLINGS);
  if (now + backoff >= req->deadline) return false;
  req->retry_at = now + backoff;
  arm_timer(c);
  return true;
}

static void on_link_reply(link_t *l, const link_reply_t *r, void *ud) {
  hs_client_t *c = link_data(l);
  client_req_t *req = pending_find(&c->reqs, (uint32_t)(uintptr_t)ud);
  if (!req) return;
  if (r->status && try_again(c, req, r)) return;
  hs_reply_t out = {.status = r->status,
                    .message = r->message,
                    .message_len = r->message_len};
  if (r->frame) {
    out.raw = r->frame->body - WIRE_HEADER;
    out.raw_len = WIRE_HEADER + r->frame->body_len;
  }
  int rc = r->status ? 0 : reply_decode(&c->rb, req->op, r->frame, &out);
  if (rc) {
    char msg[96];
    const char *name = wire_op_name(req->op);
    snprintf(msg, sizeof msg, "malformed %s reply from the node",
             name ? name : "unknown");
    return fail(c, req, rc, msg);
  }
  complete(c, req, &out);
}

/* ---- sending ---------------------------------------------------------------- */

static uint32_t remaining(const hs_client_t *c, const client_req_t *req) {
  uint64_t now = uv_now(c->loop);
  return req->deadline > now ? (uint32_t)(req->deadline - now) : 1;
}

/* A retried pull says where its subscription stands now. */
static void put_body(hs_client_t *c, wire_writer_t *w, client_req_t *req) {
  const char *body = journal_at(&c->journal, &req->body);
  msg_pull_t pull;
  wire_reader_t r;
  wire_reader_init(&r, body, req->body.len);
  if (req->op == WIRE_PULL && msg_pull_get(&r, &pull)) {
    pull.seen = req->seen ? *req->seen : UINT64_MAX;
    msg_pull_put(w, &pull);
  } else {
    wire_put(w, body, req->body.len);
  }
}

static void send_again(hs_client_t *c, client_req_t *req) {
  wire_writer_t w;
  uint32_t link_id;
  req->retry_at = 0;
  req->tries++;
  c->retries++;
  int rc = link_begin(c->link, req->op, WIRE_F_RETRY, &w, &link_id);
  if (!rc) {
    put_body(c, &w, req);
    rc = link_end(c->link, &w, link_id, remaining(c, req), on_link_reply,
                  (void *)(uintptr_t)req->id);
  }
  if (rc) fail(c, req, rc, hs_err_message(rc));
}

static void on_timer(uv_timer_t *t) {
  hs_client_t *c = t->data;
  uint64_t now = uv_now(c->loop);
  size_t i = 0;
  client_req_t *req;
  /* One due request per pass: sending or failing may move the table. */
  while (!c->closed && (req = pending_next(&c->reqs, &i))) {
    if (!req->retry_at) continue;
    if (req->deadline <= now) {
      char msg[96];
      snprintf(msg, sizeof msg, "no answer to %s within %u ms",
               wire_op_name(req->op), c->timeout_ms);
      fail(c, req, HS_ETIMEOUT, msg);
      i = 0;
    } else if (req->retry_at <= now) {
      send_again(c, req);
      i = 0;
    }
  }
  if (!c->closed) arm_timer(c);
}

static void arm_timer(hs_client_t *c) {
  uint64_t due = UINT64_MAX;
  size_t i = 0;
  client_req_t *req;
  while ((req = pending_next(&c->reqs, &i))) {
    if (!req->retry_at) continue;
    if (req->retry_at < due) due = req->retry_at;
    if (req->deadline < due) due = req->deadline;
  }
  if (due == UINT64_MAX) {
    uv_timer_stop(&c->timer);
    return;
  }
  uint64_t now = uv_now(c->loop);
  uv_timer_start(&c->timer, on_timer, due > now ? due - now : 0, 0);
}

static journal_ref_t *walk_refs(void *ctx) {
  hs_client_t *c = ctx;
  client_req_t *req = pending_next(&c->reqs, &c->walk);
  if (!req) c->walk = 0;
  return req ? &req->body : NULL;
}

static int begin(hs_client_t *c, uint8_t op, wire_writer_t *w, uint32_t *id) {
  if (c->closed) return HS_ECLOSED;
  return link_begin(c->link, op, 0, w, id);
}

/* Sends the request begun with `begin`; extra_ms adds to its deadline. */
static int finish(hs_client_t *c, wire_writer_t *w, uint32_t link_id,
                  uint32_t extra_ms, uint64_t *seen, hs_reply_cb cb,
                  void *ud) {
  uint32_t id = c->next_id++;
  if (c->next_id == 0) c->next_id = 1;
  client_req_t *req = pending_add(&c->reqs, id);
  if (!req) {
    w->b->len = w->start;
    return HS_ENOMEM;
  }
  uv_update_time(c->loop); /* deadlines count from the call */
  uint32_t timeout = c->timeout_ms + extra_ms;
  *req = (client_req_t){.id = id, .op = w->op, .cb = cb, .ud = ud,
                        .deadline = uv_now(c->loop) + timeout, .seen = seen};
  if (retryable(w->op)) {
    size_t len;
    const char *body = wire_body(w, &len);
    journal_compact(&c->journal, walk_refs, c);
    journal_add(&c->journal, body, len, &req->body);
  }
  int rc = link_end(c->link, w, link_id, timeout, on_link_reply,
                    (void *)(uintptr_t)id);
  if (rc) {
    client_req_t gone;
    pending_take(&c->reqs, req, &gone);
    journal_release(&c->journal, &gone.body, c->reqs.count == 0);
  }
  return rc;
}

/* ---- the requests ----------------------------------------------------------- */

static int check_name(const char *s) {
  return s ? wire_name_check(s, strlen(s)) : HS_EINVALID;
}

static msg_str_t str_of(const char *s) { return msg_str(s, strlen(s)); }

#define SEND(c, op, extra, seen, cb, ud, put)               \
  do {                                                      \
    wire_writer_t w_;                                       \
    uint32_t id_;                                           \
    int rc_ = begin((c), (op), &w_, &id_);                  \
    if (rc_) return rc_;                                    \
    put;                                                    \
    return finish((c), &w_, id_, (extra), (seen), (cb), (ud)); \
  } while (0)

HS_API int hs_client_create_publisher(hs_client_t *c, const char *pid,
                                      hs_reply_cb cb, void *ud) {
  int rc = check_name(pid);
  if (rc) return rc;
  msg_id_t m = {str_of(pid)};
  SEND(c, WIRE_CREATE_PUBLISHER, 0, NULL, cb, ud, msg_id_put(&w_, &m));
}

HS_API int hs_client_create_subscriber(hs_client_t *c, const char *sid,
                                       hs_reply_cb cb, void *ud) {
  int rc = check_name(sid);
  if (rc) return rc;
  msg_id_t m = {str_of(sid)};
  SEND(c, WIRE_CREATE_SUBSCRIBER, 0, NULL, cb, ud, msg_id_put(&w_, &m));
}

static int topic_request(hs_client_t *c, uint8_t op, const char *pid,
                         const char *topic, hs_reply_cb cb, void *ud) {
  int rc;
  if ((rc = check_name(pid)) || (rc = check_name(topic))) return rc;
  msg_topic_t m = {str_of(pid), str_of(topic)};
  SEND(c, op, 0, NULL, cb, ud, msg_topic_put(&w_, &m));
}

HS_API int hs_client_create_topic(hs_client_t *c, const char *pid,
                                  const char *topic, hs_reply_cb cb,
                                  void *ud) {
  return topic_request(c, WIRE_CREATE_TOPIC, pid, topic, cb, ud);
}

HS_API int hs_client_delete_topic(hs_client_t *c, const char *pid,
                                  const char *topic, hs_reply_cb cb,
                                  void *ud) {
  return topic_request(c, WIRE_DELETE_TOPIC, pid, topic, cb, ud);
}

HS_API int hs_client_publish(hs_client_t *c, const char *pid,
                             const char *topic, const void *data, size_t len,
                             hs_ack_t ack, hs_reply_cb cb, void *ud) {
  int rc;
  if ((rc = check_name(pid)) || (rc = check_name(topic))) return rc;
  if ((unsigned)ack > HS_ACK_ALL) return HS_EINVALID;
  if (len > UINT32_MAX) return HS_ETOO_LARGE;
  msg_publish_t m = {str_of(pid), str_of(topic), (uint8_t)ack, c->producer,
                     c->seq + 1, msg_str(data, len)};
  wire_writer_t w;
  uint32_t id;
  if ((rc = begin(c, WIRE_PUBLISH, &w, &id))) return rc;
  msg_publish_put(&w, &m);
  rc = finish(c, &w, id, 0, NULL, cb, ud);
  if (!rc) c->seq++;
  return rc;
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
  if ((rc = check_name(sid)) || (rc = check_name(topic))) return rc;
  if ((unsigned)from > HS_FROM_OFFSET) return HS_EINVALID;
  uint64_t *seen = seen_slot(c, sid, topic);
  if (!seen) return HS_ENOMEM;
  msg_subscribe_t m = {str_of(sid), str_of(topic), (uint8_t)from, offset};
  SEND(c, WIRE_SUBSCRIBE, 0, seen, cb, ud, msg_subscribe_put(&w_, &m));
}

HS_API int hs_client_pull(hs_client_t *c, const char *sid, const char *topic,
                          uint32_t max, uint32_t wait_ms, hs_reply_cb cb,
                          void *ud) {
  int rc;
  if ((rc = check_name(sid)) || (rc = check_name(topic))) return rc;
  uint64_t *seen = seen_slot(c, sid, topic);
  if (!seen) return HS_ENOMEM;
  msg_pull_t m = {str_of(sid), str_of(topic), max, *seen, wait_ms};
  SEND(c, WIRE_PULL, wait_ms, seen, cb, ud, msg_pull_put(&w_, &m));
}

HS_API int hs_client_fetch(hs_client_t *c, const char *topic, uint64_t offset,
                           uint32_t max, uint32_t wait_ms, hs_reply_cb cb,
                           void *ud) {
  int rc = check_name(topic);
  if (rc) return rc;
  msg_fetch_t m = {str_of(topic), offset, max, wait_ms};
  SEND(c, WIRE_FETCH, wait_ms, NULL, cb, ud, msg_fetch_put(&w_, &m));
}

HS_API int hs_client_stop_node(hs_client_t *c, uint32_t node_id,
                               uint32_t restart_after_ms, hs_reply_cb cb,
                               void *ud) {
  msg_stop_t m = {node_id, restart_after_ms};
  SEND(c, WIRE_STOP_NODE, 0, NULL, cb, ud, msg_stop_put(&w_, &m));
}

HS_API int hs_client_leave(hs_client_t *c, uint32_t node_id, hs_reply_cb cb,
                           void *ud) {
  msg_node_t m = {node_id};
  SEND(c, WIRE_LEAVE, LEAVE_EXTRA_MS, NULL, cb, ud, msg_node_put(&w_, &m));
}

HS_API int hs_client_stats(hs_client_t *c, hs_reply_cb cb, void *ud) {
  SEND(c, WIRE_STATS, 0, NULL, cb, ud, (void)0);
}

HS_API int hs_client_where(hs_client_t *c, const char *topic, hs_reply_cb cb,
                           void *ud) {
  int rc = check_name(topic);
  if (rc) return rc;
  msg_where_t m = {str_of(topic)};
  SEND(c, WIRE_WHERE, 0, NULL, cb, ud, msg_where_put(&w_, &m));
}

HS_API int hs_client_view(hs_client_t *c, hs_reply_cb cb, void *ud) {
  SEND(c, WIRE_VIEW, 0, NULL, cb, ud, (void)0);
}

HS_API int hs_client_list_topics(hs_client_t *c, const char *prefix,
                                 hs_reply_cb cb, void *ud) {
  size_t pn = prefix ? strlen(prefix) : 0;
  int rc = pn ? check_name(prefix) : 0;
  if (rc) return rc;
  msg_prefix_t m = {msg_str(prefix ? prefix : "", pn)};
  SEND(c, WIRE_LIST_TOPICS, 0, NULL, cb, ud, msg_prefix_put(&w_, &m));
}

HS_API int hs_client_local(hs_client_t *c, hs_reply_cb cb, void *ud) {
  SEND(c, WIRE_LOCAL, 0, NULL, cb, ud, (void)0);
}

/* ---- life cycle -------------------------------------------------------------- */

HS_API void hs_client_config_init(hs_client_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->timeout_ms = 5000;
  cfg->max_output = 64 * 1024 * 1024;
}

static void on_connected(link_t *l, int status, const char *message,
                         const msg_hello_reply_t *hello, void *ud) {
  hs_client_t *c = ud;
  (void)l;
  if (!c->connect_cb) return;
  hs_reply_cb cb = c->connect_cb;
  c->connect_cb = NULL;
  hs_reply_t r = {.status = status,
                  .message = message,
                  .message_len = message ? strlen(message) : 0,
                  .node_id = hello ? hello->node : 0};
  cb(c, &r, c->connect_ud);
}

HS_API int hs_client_new(uv_loop_t *loop, const hs_client_config_t *cfg,
                         hs_reply_cb cb, void *ud, hs_client_t **out) {
  const char *cluster = cfg->cluster ? cfg->cluster : "hypersub";
  if (!*cluster || strlen(cluster) > HS_NAME_MAX) return HS_EINVALID;
  hs_client_t *c = calloc(1, sizeof *c);
  if (!c) return HS_ENOMEM;
  char why[256];
  tls_config_t tc = {.cert = cfg->tls_cert, .key = cfg->tls_key,
                     .ca = cfg->tls_ca};
  int rc = cfg->tls || cfg->tls_ca ? tls_ctx_new(&tc, &c->tls, why, sizeof why)
                                   : 0;
  if (rc) {
    free(c);
    return rc;
  }
  link_config_t lc = {
      .addrs = cfg->addrs,
      .n_addrs = cfg->n_addrs,
      .timeout_ms = cfg->timeout_ms,
      .max_output = cfg->max_output,
      .hello = {.role = WIRE_ROLE_CLIENT,
                .cluster = str_of(cluster),
                .user = str_of(cfg->user ? cfg->user : ""),
                .password = str_of(cfg->password ? cfg->password : ""),
                .expect = UINT32_MAX},
      .connect_cb = on_connected,
      .connect_ud = c,
      .weak = true,
      .tls = c->tls,
  };
  rc = link_new(loop, &lc, &c->link);
  if (rc) {
    tls_ctx_free(c->tls);
    free(c);
    return rc;
  }
  link_set_data(c->link, c, NULL);
  c->loop = loop;
  c->timeout_ms = cfg->timeout_ms;
  c->next_id = 1;
  c->connect_cb = cb;
  c->connect_ud = ud;
  pending_init(&c->reqs, sizeof(client_req_t));
  /* A random producer id, so the seqs of two clients never mix. */
  if (getrandom(&c->producer, sizeof c->producer, 0) != sizeof c->producer)
    c->producer = uv_hrtime() ^ ((uint64_t)(uintptr_t)c << 16);
  if (!c->producer) c->producer = 1;
  uv_timer_init(loop, &c->timer);
  c->timer.data = c;
  c->timer_open = true;
  *out = c;
  return 0;
}

HS_API void hs_client_set_data(hs_client_t *c, void *data) { c->data = data; }
HS_API void *hs_client_data(const hs_client_t *c) { return c->data; }
HS_API uint64_t hs_client_retries(const hs_client_t *c) { return c->retries; }
HS_API size_t hs_client_pending(const hs_client_t *c) { return c->reqs.count; }

HS_API int hs_client_set_addrs(hs_client_t *c, const char *const *addrs,
                               size_t n) {
  return link_set_addrs(c->link, addrs, n);
}

static void client_release(uv_handle_t *h) {
  hs_client_t *c = h->data;
  journal_free(&c->journal);
  reply_buf_free(&c->rb);
  void *v;
  for (size_t i = 0; map_next(&c->seen, &i, NULL, NULL, &v);) free(v);
  map_free(&c->seen);
  pending_free(&c->reqs);
  tls_ctx_free(c->tls); /* sessions still closing hold their own reference */
  free(c);
}

/* Fails what waits for a resend (the link fails what is in flight). */
static void fail_waiting(hs_client_t *c) {
  size_t i = 0;
  client_req_t *req;
  while ((req = pending_next(&c->reqs, &i))) {
    if (!req->retry_at) continue;
    fail(c, req, HS_ECLOSED, "the client was closed");
    i = 0;
  }
}

HS_API void hs_client_free(hs_client_t *c) {
  if (!c || c->closed) return;
  c->closed = true; /* no resend from here on */
  link_free(c->link); /* fails its requests (and the connect) first */
  fail_waiting(c);
  uv_close((uv_handle_t *)&c->timer, client_release);
}
