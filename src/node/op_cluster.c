/* op_cluster — the cluster's requests: WHERE and VIEW for clients, PING
 * and GOSSIP between peers. */
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

/* PING: answered with our epoch and digest, and our view when theirs
 * differs. */
void op_ping(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  node_conn_t *nc = ctx->nc;
  health_pinged(&node->health, nc->peer_id);
  const view_t *v = &node->cluster.view;
  msg_pong_t pong = {v->epoch, view_digest(v), {NULL, 0}};
  buf_t view = BUF_INIT;
  if (pong.digest != ctx->m.ping.digest && view_encode(v, &view))
    return op_out_of_memory(ctx);
  pong.view = msg_str(view.data, view.len);
  size_t at = nc->conn.out.len;
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_pong_put(&w, &pong);
  node_reply_end(nc, &w);
  buf_free(&view);
  node->stats.heartbeat_bytes += nc->conn.out.len - at + ctx->f->body_len +
                                 WIRE_HEADER;
}

/* GOSSIP: a view pushed to us; the answer is a pong without a view. */
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
  msg_pong_t pong = {node->cluster.view.epoch, view_digest(&node->cluster.view),
                     {NULL, 0}};
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_pong_put(&w, &pong);
  node_reply_end(ctx->nc, &w);
}
