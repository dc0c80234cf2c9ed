/* route — requests travel to the node that owns their key, one cube hop at
 * a time, and answers travel back the same way.
 *
 * A hop sends the request on its link to the next node with the ROUTED
 * flag and a one-byte hop count in front of the body, and keeps a request
 * (req.h): which connection and request id the answer goes back to. A
 * forwarded pull whose client left releases what the home parked for it,
 * and gives back what the home handed out for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/cube.h"
#include "node/node.h"

static int send_on(hs_node_t *node, req_t *r, const wire_frame_t *f,
                   uint8_t hops, uint32_t target, uint32_t came_from,
                   char *msg, size_t msg_len);

/* ---- where a request runs ------------------------------------------------ */

static uint32_t topic_home(const hs_node_t *node, msg_str_t topic) {
  return cluster_home(&node->cluster, place_topic(topic.s, topic.n));
}

static uint32_t identity_home(const hs_node_t *node, uint8_t kind,
                              msg_str_t id) {
  return cluster_home(&node->cluster, place_identity(kind, id.s, id.n));
}

/* A node the request names, if it is a member; else this one. */
static uint32_t named(const hs_node_t *node, uint32_t id) {
  return view_find(&node->cluster.view, id) ? id : node_self(node);
}

uint32_t route_target(const hs_node_t *node, uint8_t op, const msg_t *m) {
  if (node->cluster.view.n <= 1) return node_self(node);
  switch (op) {
    case WIRE_CREATE_PUBLISHER:
      return identity_home(node, PLACE_PUBLISHER, m->id.id);
    case WIRE_CREATE_SUBSCRIBER:
      return identity_home(node, PLACE_SUBSCRIBER, m->id.id);
    case WIRE_LOOKUP:
      return identity_home(node, m->lookup.kind, m->lookup.id);
    case WIRE_CREATE_TOPIC:
    case WIRE_DELETE_TOPIC: return topic_home(node, m->topic.topic);
    case WIRE_PUBLISH: return topic_home(node, m->publish.topic);
    case WIRE_SUBSCRIBE: return topic_home(node, m->subscribe.topic);
    case WIRE_PULL: return topic_home(node, m->pull.topic);
    case WIRE_FETCH: return topic_home(node, m->fetch.topic);
    case WIRE_REWIND: return topic_home(node, m->rewind.topic);
    case WIRE_UNPARK: return topic_home(node, m->key.topic);
    case WIRE_CLAIM: return topic_home(node, m->claim.topic);
    case WIRE_READ: /* to the copy named; its home if that one died */
      return cluster_alive(&node->cluster, m->read.server)
                 ? m->read.server
                 : topic_home(node, m->read.pull.topic);
    case WIRE_JOIN:
      return place_coordinator(&node->cluster.view, node_self(node));
    case WIRE_STOP_NODE: return named(node, m->stop.node);
    case WIRE_LEAVE: return named(node, m->node.node);
    case WIRE_HOMED: return named(node, m->homed.node);
    default: return node_self(node);
  }
}

uint32_t route_next_hop(hs_node_t *node, uint32_t target, uint32_t came_from) {
  uint32_t self = node_self(node);
  if (node->next_hop_cb) {
    uint32_t n = node->next_hop_cb(node, target, node->next_hop_ud);
    if (n != UINT32_MAX && n != self && cluster_alive(&node->cluster, n) &&
        cube_distance(n, self) == 1)
      return n;
  }
  return cube_next_hop(self, target, view_dim(&node->cluster.view), came_from,
                       view_is_alive, &node->cluster.view);
}

static unsigned hop_limit(const hs_node_t *node) {
  return node->cfg.hop_limit ? node->cfg.hop_limit
                             : 2 * view_dim(&node->cluster.view) + 2;
}

/* ---- answers coming back -------------------------------------------------- */

static void send_to_topic_home(hs_node_t *node, uint8_t op,
                               const req_key_t *key, uint64_t from,
                               uint64_t expect);

/* The answer to a forwarded request: relayed to its client under the id
 * the client used; a pull's messages whose client left are given back. */
static void relayed(req_t *r, const link_reply_t *reply) {
  hs_node_t *node = r->node;
  node_conn_t *nc = r->nc;
  if (nc && reply->frame) {
    wire_copy_frame(&nc->conn.out, reply->frame, r->id);
    node_send(nc);
  } else if (nc) {
    node_reply_error(nc, r->op, r->id, reply->status, "via node %u: %.*s",
                     r->next_hop, (int)reply->message_len, reply->message);
    node_send(nc);
  } else if (r->op == WIRE_PULL && r->u.pull.len && reply->frame &&
             !(reply->frame->flags & WIRE_F_ERROR)) {
    route_rewind_pull(node, &r->u.pull, reply->frame->body,
                      reply->frame->body_len);
  }
  req_give(&node->reqs, r);
}

/* A forwarded pull's client left: release what the home parked for it. */
static void pull_orphaned(req_t *r) {
  if (r->u.pull.len) route_unpark(r->node, &r->u.pull);
}

static void on_answer(link_t *link, const link_reply_t *reply, void *ud) {
  req_t *r = ud;
  uint32_t peer;
  if (!peers_id(link, &peer)) { /* the node is closing: just recycle */
    req_detach(r);
    r->nc = NULL;
  }
  r->done(r, reply);
}

/* ---- sending on ------------------------------------------------------------ */

/* How much longer than the peer timeout a request may take: a pull's wait
 * (only pulls, reads, claims and fetches are decoded for it). */
static uint32_t extra_wait(const wire_frame_t *f) {
  if (f->op != WIRE_PULL && f->op != WIRE_READ && f->op != WIRE_CLAIM &&
      f->op != WIRE_FETCH)
    return 0;
  msg_t m;
  wire_reader_t rd;
  wire_reader_init(&rd, f->body, f->body_len);
  if (!msg_request_get(f->op, &rd, &m)) return 0;
  return msg_request_wait_ms(f->op, &m);
}

/* The next node toward target, or an error with a message. */
static int next_node(hs_node_t *node, uint8_t hops, uint32_t target,
                     uint32_t came_from, uint32_t *next, char *msg,
                     size_t msg_len) {
  if (hops >= hop_limit(node)) {
    node->stats.no_route++;
    snprintf(msg, msg_len, "no route to node %u within %u hops", target,
             hop_limit(node));
    return HS_EUNAVAILABLE;
  }
  *next = route_next_hop(node, target, came_from);
  /* No live neighbour leads on (a sparse cluster, or failures around us):
   * go straight to the target over a link of its own. */
  if (*next == UINT32_MAX && cluster_alive(&node->cluster, target))
    *next = target;
  if (*next == UINT32_MAX) {
    node->stats.no_route++;
    snprintf(msg, msg_len, "no live node leads from node %u to node %u",
             node_self(node), target);
    return HS_EUNAVAILABLE;
  }
  return 0;
}

/* Sends f toward `target` for request r; its answer goes to r->done. */
static int send_on(hs_node_t *node, req_t *r, const wire_frame_t *f,
                   uint8_t hops, uint32_t target, uint32_t came_from,
                   char *msg, size_t msg_len) {
  uint32_t next;
  int rc = next_node(node, hops, target, came_from, &next, msg, msg_len);
  if (rc) return rc;
  link_t *link = peers_link(&node->peers, next);
  if (!link) {
    snprintf(msg, msg_len, "no link to node %u", next);
    return HS_ENOMEM;
  }
  uint32_t wait = extra_wait(f);
  r->next_hop = next;
  uint8_t h = (uint8_t)(hops + 1);
  uint16_t flags = WIRE_F_ROUTED | (f->flags & WIRE_F_RETRY);
  rc = link_send(link, f->op, flags, (const char *)&h, 1, f->body, f->body_len,
                 wait ? link_timeout(link) + wait : 0, on_answer, r, &r->sent_id);
  if (rc) {
    snprintf(msg, msg_len, "cannot send to node %u: %s", next,
             hs_err_message(rc));
    return rc;
  }
  node->stats.forwards++;
  LOG(&node->log, HS_LOG_DEBUG, "route", "forwarded",
      LF_STR("op", wire_op_name(f->op)), LF_UINT("to", next),
      LF_UINT("target", target), LF_UINT("hops", h));
  return 0;
}

void route_forward(op_ctx_t *ctx, uint32_t target) {
  hs_node_t *node = ctx->nc->node;
  const wire_frame_t *f = ctx->f;
  req_t *r = req_take(&node->reqs, node);
  if (!r) return op_out_of_memory(ctx);
  r->id = f->id;
  r->op = f->op == WIRE_READ ? WIRE_PULL : f->op; /* answered as a PULL */
  r->done = relayed;
  msg_key_t key;
  r->u.pull.len = 0;
  if (r->op == WIRE_PULL && msg_request_key(f->op, &ctx->m, &key)) {
    /* Who pulls what, to give back or release if the client leaves. */
    req_key_set(&r->u.pull, key.subscriber.s, key.subscriber.n, key.topic.s,
                key.topic.n);
    r->orphaned = pull_orphaned;
  } else if (r->op == WIRE_FETCH && msg_request_wait_ms(f->op, &ctx->m)) {
    r->orphaned = route_release; /* a long poll the next node may park */
  }
  char msg[160];
  uint32_t came_from =
      ctx->nc->role == WIRE_ROLE_PEER ? ctx->nc->peer_id : UINT32_MAX;
  int rc = send_on(node, r, f, ctx->hops, target, came_from, msg, sizeof msg);
  if (rc) {
    req_give(&node->reqs, r);
    return op_error(ctx, rc, "%s", msg);
  }
  req_attach(r, ctx->nc, &ctx->nc->reqs);
}

int route_send(hs_node_t *node, req_t *r, uint8_t op, uint16_t flags,
               const char *body, size_t len, uint32_t target, char *msg,
               size_t msg_len) {
  wire_frame_t f = {.version = HS_WIRE_VERSION,
                    .op = op,
                    .flags = flags,
                    .body = body,
                    .body_len = len};
  return send_on(node, r, &f, 0, target, UINT32_MAX, msg, msg_len);
}

/* ---- cursors given back, pulls released ---------------------------------------- */

static void ignore_answer(req_t *r, const link_reply_t *reply) {
  (void)reply;
  req_give(&r->node->reqs, r);
}

void route_release(req_t *r) {
  hs_node_t *node = r->node;
  if (node->freeing) return; /* its links are going too */
  link_t *link = peers_link(&node->peers, r->next_hop);
  req_t *q = link ? req_take(&node->reqs, node) : NULL;
  if (!q) return; /* its wait runs out there */
  buf_t body = BUF_INIT;
  wire_writer_t w = {.b = &body};
  msg_release_put(&w, &(msg_release_t){r->sent_id});
  q->op = WIRE_RELEASE;
  q->done = ignore_answer;
  if (w.err || link_send(link, WIRE_RELEASE, 0, NULL, 0, body.data, body.len,
                         0, on_answer, q, NULL))
    req_give(&node->reqs, q);
  buf_free(&body);
}

/* Sends REWIND (from, expect) or UNPARK about key to the topic's home; the
 * answer is not waited for. */
static void send_to_topic_home(hs_node_t *node, uint8_t op,
                               const req_key_t *key, uint64_t from,
                               uint64_t expect) {
  msg_key_t k;
  req_key_parts(key, &k.subscriber.s, &k.subscriber.n, &k.topic.s, &k.topic.n);
  uint32_t home;
  if (!cluster_copies(&node->cluster, place_topic(k.topic.s, k.topic.n), &home,
                      1))
    return;
  buf_t body = BUF_INIT;
  wire_writer_t w = {.b = &body};
  if (op == WIRE_REWIND) {
    msg_rewind_t m = {k.subscriber, k.topic, from, expect};
    msg_rewind_put(&w, &m);
  } else {
    msg_key_put(&w, &k);
  }
  req_t *r = w.err ? NULL : req_take(&node->reqs, node);
  char msg[160];
  if (r) {
    r->op = op;
    r->done = ignore_answer;
    if (route_send(node, r, op, 0, body.data, body.len, home, msg, sizeof msg))
      req_give(&node->reqs, r);
  }
  buf_free(&body);
}

void route_rewind(hs_node_t *node, const req_key_t *key, uint64_t from,
                  uint64_t expect) {
  send_to_topic_home(node, WIRE_REWIND, key, from, expect);
  LOG(&node->log, HS_LOG_INFO, "route", "pull_undelivered",
      LF_UINT("from", from), LF_UINT("to", expect - 1));
}

void route_unpark(hs_node_t *node, const req_key_t *key) {
  if (!node->freeing) send_to_topic_home(node, WIRE_UNPARK, key, 0, 0);
}

void route_rewind_pull(hs_node_t *node, const req_key_t *key,
                       const char *body, size_t len) {
  wire_reader_t r;
  msg_messages_t ms;
  msg_message_t m;
  wire_reader_init(&r, body, len);
  if (!msg_messages_get(&r, &ms) || ms.count == 0) return;
  uint64_t first = 0, last = 0;
  for (uint32_t i = 0; msg_message_next(&ms, &m); i++) {
    if (i == 0) first = m.offset;
    last = m.offset;
  }
  route_rewind(node, key, first, last + 1);
}
