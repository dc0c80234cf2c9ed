/* dispatch — one frame from a connection: the checks every request meets
 * (a request, after HELLO, forwarded only by peers), its body decoded with
 * the typed codec, then run here or sent on toward the node it must run
 * on, and counted. A request whose publisher or subscriber this node
 * cannot vouch for waits while the identity's home is asked (LOOKUP), then
 * runs again. */
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

typedef void (*op_fn)(op_ctx_t *ctx);

/* Who may send an op: anyone during the handshake, clients (with their
 * user's rights: publish, subscribe or run the node) and peers, or peers
 * only (what nodes send each other). A peer asking to join may send JOIN
 * and nothing else. */
enum { HANDSHAKE = 1, ANY_CLIENT, PUBLISHES, SUBSCRIBES, RUNS_NODE, PEERS };

static const struct {
  op_fn fn;
  uint8_t who;
} handlers[WIRE_OP_MAX] = {
    [WIRE_HELLO] = {op_hello, HANDSHAKE},
    [WIRE_AUTH] = {op_auth, HANDSHAKE},
    [WIRE_CREATE_PUBLISHER] = {op_create_identity, ANY_CLIENT},
    [WIRE_CREATE_SUBSCRIBER] = {op_create_identity, ANY_CLIENT},
    [WIRE_CREATE_TOPIC] = {op_create_topic, PUBLISHES},
    [WIRE_DELETE_TOPIC] = {op_delete_topic, PUBLISHES},
    [WIRE_PUBLISH] = {op_publish, PUBLISHES},
    [WIRE_SUBSCRIBE] = {op_subscribe, SUBSCRIBES},
    [WIRE_PULL] = {op_pull, SUBSCRIBES},
    [WIRE_STOP_NODE] = {op_stop_node, RUNS_NODE},
    [WIRE_STATS] = {op_stats, ANY_CLIENT},
    [WIRE_WHERE] = {op_where, ANY_CLIENT},
    [WIRE_VIEW] = {op_view, ANY_CLIENT},
    [WIRE_LOOKUP] = {op_lookup, PEERS},
    [WIRE_REPLICATE] = {op_replicate, PEERS},
    [WIRE_LOCAL] = {op_local, ANY_CLIENT},
    [WIRE_LIST_TOPICS] = {op_list_topics, ANY_CLIENT},
    [WIRE_HOMED] = {op_homed, PEERS},
    [WIRE_REWIND] = {op_rewind, PEERS},
    [WIRE_UNPARK] = {op_unpark, PEERS},
    [WIRE_PING] = {op_ping, PEERS},
    [WIRE_GOSSIP] = {op_gossip, PEERS},
    [WIRE_READ] = {op_read, PEERS},
    [WIRE_CLAIM] = {op_claim, PEERS},
    [WIRE_JOIN] = {op_join, PEERS},
    [WIRE_LEAVE] = {op_leave, RUNS_NODE},
    [WIRE_HOLDING] = {op_holding, PEERS},
    [WIRE_SPREAD] = {op_spread, PEERS},
    [WIRE_PROBE] = {op_probe, PEERS},
    [WIRE_FETCH] = {op_fetch, SUBSCRIBES},
    [WIRE_RELEASE] = {op_release, PEERS},
};

/* Answers a frame that breaks the protocol, and hangs up when asked. */
static void refuse(node_conn_t *nc, const wire_frame_t *f, int code,
                   bool hang_up, const char *why) {
  node_reply_error(nc, f->op, f->id, code, "%s", why);
  node_send(nc);
  if (hang_up) conn_shutdown(&nc->conn);
}

static void log_retry(hs_node_t *node, node_conn_t *nc, uint8_t op) {
  uint32_t suppressed = 0;
  node->stats.retries++;
  if (log_limit_allow(&node->retry_limit, log_now_ms(), &suppressed))
    LOG(&node->log, HS_LOG_INFO, "node", "client_retried",
        LF_STR("op", wire_op_name(op) ? wire_op_name(op) : "unknown"),
        LF_STR("from", nc->peer), LF_UINT("suppressed", suppressed));
}

void node_dispatch(node_conn_t *nc, const wire_frame_t *f) {
  hs_node_t *node = nc->node;
  node->stats.frames_in++;
  if (f->flags & WIRE_F_REPLY)
    return refuse(nc, f, HS_EPROTOCOL, true,
                  "a node takes requests, not replies");
  if (node->member.joining && f->op != WIRE_HELLO && f->op != WIRE_AUTH)
    return refuse(nc, f, HS_EUNAVAILABLE, false,
                  "this node is joining the cluster; try again");
  if (nc->stage == NC_HELLO && f->op != WIRE_HELLO)
    return refuse(nc, f, HS_EPROTOCOL, true, "the first frame must be HELLO");
  if (nc->stage == NC_AUTH && f->op != WIRE_AUTH)
    return refuse(nc, f, HS_EPROTOCOL, true, "AUTH must follow HELLO");
  if ((f->flags & WIRE_F_RETRY) && !(f->flags & WIRE_F_ROUTED))
    log_retry(node, nc, f->op);
  wire_frame_t g = *f;
  uint8_t hops = 0;
  if (f->flags & WIRE_F_ROUTED) {
    if (nc->role != WIRE_ROLE_PEER || f->body_len < 1)
      return refuse(nc, f, HS_EPROTOCOL, true, "only peers forward requests");
    hops = (uint8_t)f->body[0];
    g.body++;
    g.body_len--;
    g.flags &= (uint16_t)~WIRE_F_ROUTED;
  }
  node_run(nc, &g, hops, false);
}

/* Names the field a body lacked, or the bytes it had too many. */
static void bad_request(op_ctx_t *ctx, const wire_reader_t *r) {
  const char *op = wire_op_name(ctx->f->op);
  if (strcmp(r->bad, "trailing bytes") == 0)
    op_error(ctx, HS_EINVALID,
             "malformed %s request: bytes after the last field", op);
  else
    op_error(ctx, HS_EINVALID,
             "malformed %s request: field \"%s\" is missing or truncated", op,
             r->bad);
  if (ctx->f->op == WIRE_HELLO) conn_shutdown(&ctx->nc->conn);
}

/* A pull entering the cluster here may be served by any live copy; a
 * fetch by the copy it enters at or its home (op_fetch.c). */
static uint32_t pull_server(op_ctx_t *ctx, uint32_t target) {
  hs_node_t *node = ctx->nc->node;
  if (ctx->f->op == WIRE_FETCH)
    return fetch_served_here(node, &ctx->m.fetch, ctx->hops) ? node_self(node)
                                                             : target;
  if (ctx->f->op != WIRE_PULL || ctx->hops != 0 || target == node_self(node))
    return target;
  uint32_t server = read_choose(node, &ctx->m.pull);
  return server == UINT32_MAX ? target : server;
}

/* The identity's home answered: learn a positive answer (identities are
 * never deleted, so it stays true), then run the request again. */
static void looked_up(req_t *r, const link_reply_t *reply) {
  hs_node_t *node = r->node;
  node_conn_t *nc = r->nc;
  msg_exists_t answer = {0};
  wire_reader_t rd, body;
  if (reply->status == 0) {
    wire_reader_init(&rd, reply->frame->body, reply->frame->body_len);
    if (!msg_exists_get(&rd, &answer)) answer.exists = 0;
  }
  msg_str_t id;
  wire_reader_init(&body, r->u.lookup.body, r->u.lookup.len);
  /* Every request that looks an identity up names it first. */
  if (answer.exists == 1 && wire_get_str8(&body, "id", &id.s, &id.n)) {
    bool pub = r->op == WIRE_CREATE_TOPIC || r->op == WIRE_DELETE_TOPIC ||
               r->op == WIRE_PUBLISH;
    if (pub)
      store_publisher_create(&node->store, id.s, id.n);
    else
      store_subscriber_create(&node->store, id.s, id.n);
  }
  if (nc && reply->status) {
    node_reply_error(nc, r->op, r->id, reply->status,
                     "could not check the identity with its home: %.*s",
                     (int)reply->message_len, reply->message);
    node_send(nc);
  } else if (nc) {
    wire_frame_t f = {.version = HS_WIRE_VERSION,
                      .op = r->op,
                      .id = r->id,
                      .body = r->u.lookup.body,
                      .body_len = r->u.lookup.len};
    req_detach(r);
    node_run(nc, &f, r->hops, true);
  }
  free(r->u.lookup.body);
  req_give(&node->reqs, r);
}

/* Asks the identity's home whether it exists, then runs the request
 * again. 0 or an error. */
static int lookup(op_ctx_t *ctx, uint8_t kind, msg_str_t id) {
  hs_node_t *node = ctx->nc->node;
  const wire_frame_t *f = ctx->f;
  req_t *r = req_take(&node->reqs, node);
  if (!r) return HS_ENOMEM;
  r->id = f->id;
  r->op = f->op;
  r->hops = ctx->hops;
  r->done = looked_up;
  /* The request's body, to run it again once the answer is in. */
  r->u.lookup.len = f->body_len;
  r->u.lookup.body = malloc(f->body_len ? f->body_len : 1);
  buf_t body = BUF_INIT;
  wire_writer_t w = {.b = &body};
  msg_lookup_t m = {kind, id};
  msg_lookup_put(&w, &m);
  char msg[160];
  int rc = !r->u.lookup.body || w.err ? HS_ENOMEM : 0;
  if (!rc) {
    memcpy(r->u.lookup.body, f->body, f->body_len);
    rc = route_send(node, r, WIRE_LOOKUP, 0, body.data, body.len,
                    cluster_home(&node->cluster, place_identity(kind, id.s, id.n)),
                    msg, sizeof msg);
  }
  buf_free(&body);
  if (rc) {
    free(r->u.lookup.body);
    req_give(&node->reqs, r);
    return rc;
  }
  req_attach(r, ctx->nc, &ctx->nc->reqs);
  ctx->suspended = true;
  return 0;
}

/* The handler could not tell whether an identity exists: ask its home. */
static void start_lookup(op_ctx_t *ctx) {
  const char *what =
      ctx->lookup_kind == PLACE_PUBLISHER ? "publisher" : "subscriber";
  int rc = lookup(ctx, ctx->lookup_kind, ctx->lookup_id);
  if (rc)
    op_error(ctx, rc, "could not look up %s \"%.*s\"", what,
             (int)ctx->lookup_id.n, ctx->lookup_id.s);
}

/* Runs the handler here, counting it: requests, hops, service time. */
static void run_here(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  node_conn_t *nc = ctx->nc;
  uint8_t op = ctx->f->op;
  uint64_t t0 = uv_hrtime();
  size_t before = nc->conn.out.len;
  handlers[op].fn(ctx);
  if (ctx->lookup_kind) start_lookup(ctx);
  if (ctx->suspended) { /* counted when it runs again */
    node_send(nc);
    return;
  }
  node->stats.requests[op]++;
  /* The histogram is of routed work: heartbeats have their own counts. */
  if (op != WIRE_PING && op != WIRE_GOSSIP && op != WIRE_SPREAD &&
      op != WIRE_PROBE)
    node->stats.hops[ctx->hops < STATS_HOPS ? ctx->hops : STATS_HOPS - 1]++;
  /* Answered now, not parked for a long poll or a lookup. */
  if (nc->conn.out.len != before) {
    node->stats.frames_out++;
    stats_hist_add(&node->stats.latency[op], (uv_hrtime() - t0) / 1000);
  }
  node_send(nc);
}

/* The topic a client's request acts on, for its user's rights. */
static msg_str_t topic_of(uint8_t op, const msg_t *m) {
  switch (op) {
    case WIRE_CREATE_TOPIC:
    case WIRE_DELETE_TOPIC: return m->topic.topic;
    case WIRE_PUBLISH: return m->publish.topic;
    case WIRE_SUBSCRIBE: return m->subscribe.topic;
    case WIRE_PULL: return m->pull.topic;
    case WIRE_FETCH: return m->fetch.topic;
  }
  return msg_str("", 0);
}

/* Whether this connection may send this op at all (checked before its
 * body is read); false when it has answered. */
static bool role_permitted(op_ctx_t *ctx, uint8_t who) {
  node_conn_t *nc = ctx->nc;
  const char *op = wire_op_name(ctx->f->op);
  if (who == HANDSHAKE) return true; /* its handler checks the stage */
  if (nc->role == WIRE_ROLE_PEER) {
    if (!nc->joiner || ctx->f->op == WIRE_JOIN) return true;
    op_error(ctx, HS_EDENIED,
             "a node asking to join may send only JOIN, not %s", op);
    return false;
  }
  if (who == PEERS) {
    op_error(ctx, HS_EDENIED, "only peers send %s", op);
    return false;
  }
  if (who != RUNS_NODE || !nc->user || nc->user->admin) return true;
  op_error(ctx, HS_EDENIED, "user \"%s\" may not %s: it does not run the node",
           nc->user->name, op);
  return false;
}

/* Whether the client's user may act on the request's topic; false when it
 * has answered (DENIED names the user, the op and the topic). */
static bool topic_permitted(op_ctx_t *ctx, uint8_t who) {
  const user_t *u = ctx->nc->user;
  if (!u || ctx->nc->role != WIRE_ROLE_CLIENT ||
      (who != PUBLISHES && who != SUBSCRIBES))
    return true;
  msg_str_t t = topic_of(ctx->f->op, &ctx->m);
  bool pub = who == PUBLISHES;
  if (pub ? user_may_publish(u, t.s, t.n) : user_may_subscribe(u, t.s, t.n))
    return true;
  op_error(ctx, HS_EDENIED, "user \"%s\" may not %s topic \"%.*s\" (%s)",
           u->name, pub ? "publish to" : "subscribe to", (int)t.n, t.s,
           wire_op_name(ctx->f->op));
  return false;
}

void node_run(node_conn_t *nc, const wire_frame_t *f, uint8_t hops,
              bool looked_up) {
  hs_node_t *node = nc->node;
  op_ctx_t ctx = {.nc = nc, .f = f, .hops = hops, .looked_up = looked_up};
  if (f->op >= WIRE_OP_MAX || !handlers[f->op].fn) {
    node_reply_error(nc, f->op, f->id, HS_EINVALID, "unknown op %u", f->op);
    return node_send(nc);
  }
  uint8_t who = handlers[f->op].who;
  if (!role_permitted(&ctx, who)) return node_send(nc);
  wire_reader_t r;
  wire_reader_init(&r, f->body, f->body_len);
  if (!msg_request_get(f->op, &r, &ctx.m)) {
    bad_request(&ctx, &r);
    return node_send(nc);
  }
  if (!topic_permitted(&ctx, who)) return node_send(nc);
  if (leave_refuses(&ctx)) return node_send(nc);
  uint32_t target = route_target(node, f->op, &ctx.m);
  uint32_t server = pull_server(&ctx, target);
  if (server != target && server != node_self(node)) {
    read_forward(&ctx, &ctx.m.pull, server);
    return node_send(nc);
  }
  if (server == node_self(node)) target = server;
  if (target != node_self(node)) {
    route_forward(&ctx, target);
    return node_send(nc);
  }
  run_here(&ctx);
}
