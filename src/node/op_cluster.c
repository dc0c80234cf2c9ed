/* op_cluster — the cluster's requests: WHERE and VIEW for clients; PING,
 * GOSSIP, SPREAD and PROBE between peers. */
#include <string.h>

#include "node/node.h"

void op_where(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  msg_str_t topic = ctx->m.where.topic;
  if (!op_name_ok(ctx, "topic name", topic)) return;
  msg_where_reply_t reply = {.epoch = node->cluster.view.epoch};
  reply.count = (uint8_t)cluster_copies(&node->cluster,
                                        place_topic(topic.s, topic.n),
                                        reply.nodes, PLACE_COPIES_MAX);
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_where_reply_put(&w, &reply);
  node_reply_end(ctx->nc, &w);
}

/* Writes a text answer (JSON) from node->scratch. */
static void reply_text(op_ctx_t *ctx, const buf_t *text) {
  wire_writer_t w;
  msg_text_t m = {msg_str(text->data, text->len)};
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_text_put(&w, &m);
  node_reply_end(ctx->nc, &w);
}

void op_view(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  json_t j;
  buf_clear(&node->scratch);
  json_init(&j, &node->scratch);
  cluster_view_json(&node->cluster, &j);
  if (json_end(&j)) return op_out_of_memory(ctx);
  reply_text(ctx, &node->scratch);
}

/* Writes the answer's body made in `body`. */
static void reply_body(op_ctx_t *ctx, const buf_t *body) {
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  wire_put(&w, body->len ? body->data : "", body->len);
  node_reply_end(ctx->nc, &w);
}

/* PING: answered with our epoch and digest, and our view when theirs
 * differs again (health.h). */
void op_ping(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  buf_t pong = BUF_INIT;
  if (health_on_ping(&node->health, ctx->nc->peer_id, &ctx->m.ping, &pong)) {
    buf_free(&pong);
    return op_out_of_memory(ctx);
  }
  reply_body(ctx, &pong);
  buf_free(&pong);
}

/* GOSSIP: a whole view pushed to us (a repair); the answer is a pong
 * without a view. */
void op_gossip(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  view_t theirs;
  wire_reader_t r;
  wire_reader_init(&r, ctx->m.view.view.s, ctx->m.view.view.n);
  if (view_decode(&r, &theirs) || !wire_reader_done(&r)) {
    view_free(&theirs); /* empty after a failed decode: harmless */
    return op_error(ctx, HS_EINVALID, "malformed gossip: field \"%s\"",
                    r.bad ? r.bad : "view");
  }
  node->stats.heartbeat_bytes += WIRE_HEADER + ctx->f->body_len;
  cluster_merge(&node->cluster, &theirs, ctx->nc->peer_id);
  view_free(&theirs);
  msg_pong_t pong = {node->cluster.view.epoch, cluster_digest(&node->cluster),
                     {NULL, 0}};
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_pong_put(&w, &pong);
  node_reply_end(ctx->nc, &w);
}

/* SPREAD: a view change along the cube, merged and sent on (spread.h). */
void op_spread(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const char *why = NULL;
  if (spread_on_message(&node->spread, ctx->nc->peer_id, &ctx->m.spread, &why))
    return op_error(ctx, HS_EINVALID, "malformed spread: field \"%s\"", why);
  op_ok(ctx);
}

/* The answer to a PROBE run here, whenever it comes: to its connection if
 * that is still open. */
static void probe_answer(void *ud, bool alive) {
  req_t *r = ud;
  hs_node_t *node = r->node;
  if (r->nc) {
    wire_writer_t w;
    msg_probed_t m = {alive};
    wire_begin(&w, &r->nc->conn.out, WIRE_PROBE, WIRE_F_REPLY, r->id);
    msg_probed_put(&w, &m);
    node_reply_end(r->nc, &w);
    node_send(r->nc);
  }
  req_give(&node->reqs, r);
}

/* PROBE: reach the target for the asker, who cannot (health.h). */
void op_probe(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  req_t *r = req_take(&node->reqs, node);
  if (!r) return op_out_of_memory(ctx);
  r->id = ctx->f->id;
  r->op = WIRE_PROBE;
  req_attach(r, ctx->nc, &ctx->nc->reqs);
  ctx->suspended = true;
  health_on_probe(&node->health, ctx->nc->peer_id, &ctx->m.probe,
                  probe_answer, r);
}
