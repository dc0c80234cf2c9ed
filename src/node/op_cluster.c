/* op_cluster — the cluster's requests: HELLO (a peer's carries its view),
 * WHERE and VIEW for clients, PING and GOSSIP between peers. */
#include <string.h>

#include "core/addr.h"
#include "node/node.h"

/* The peer part of a HELLO: placement must agree, its view is merged.
 * False when it has answered. */
static bool hello_peer(op_ctx_t *ctx, const msg_hello_t *m) {
  hs_node_t *node = ctx->nc->node;
  if (m->replicas != node->cluster.replicas) {
    op_error(ctx, HS_EDENIED,
             "placement differs: node %u keeps %u copies per topic, node %u "
             "keeps %u",
             m->node, m->replicas, node_self(node), node->cluster.replicas);
    return false;
  }
  view_t theirs;
  wire_reader_t r;
  wire_reader_init(&r, m->view.s, m->view.n);
  if (view_decode(&r, &theirs) || !wire_reader_done(&r)) {
    op_error(ctx, HS_EINVALID, "malformed peer HELLO: field \"%s\"",
             r.bad ? r.bad : "view");
    return false;
  }
  for (size_t i = 0; i < theirs.n; i++) {
    const view_member_t *mb = &theirs.members[i];
    if (addr_valid(mb->addr, strlen(mb->addr))) continue;
    uint32_t bad = mb->id;
    view_free(&theirs);
    op_error(ctx, HS_EINVALID,
             "peer HELLO: member %u has an address that is not host:port", bad);
    return false;
  }
  if (!view_find(&theirs, m->node)) {
    view_free(&theirs);
    op_error(ctx, HS_EINVALID, "peer HELLO: node %u is not in its own view",
             m->node);
    return false;
  }
  cluster_merge(&node->cluster, &theirs, m->node);
  view_free(&theirs);
  return true;
}

/* Whether the HELLO may open this connection; false when answered. */
static bool hello_allowed(op_ctx_t *ctx, const msg_hello_t *m) {
  hs_node_t *node = ctx->nc->node;
  if (ctx->nc->hello_done) {
    op_error(ctx, HS_EPROTOCOL, "HELLO was already received on this connection");
    return false;
  }
  if (m->cluster.n != strlen(node->cluster_name) ||
      memcmp(m->cluster.s, node->cluster_name, m->cluster.n)) {
    op_error(ctx, HS_EDENIED, "cluster \"%.*s\" is not this node's cluster \"%s\"",
             (int)(m->cluster.n > 64 ? 64 : m->cluster.n), m->cluster.s,
             node->cluster_name);
  } else if (m->role != WIRE_ROLE_CLIENT && m->role != WIRE_ROLE_PEER) {
    op_error(ctx, HS_EDENIED, "role %u is not client (1) or peer (2)", m->role);
  } else if (m->role == WIRE_ROLE_PEER && node->member.joining) {
    op_error(ctx, HS_EUNAVAILABLE, "node is still joining the cluster");
  } else if (m->role != WIRE_ROLE_PEER || hello_peer(ctx, m)) {
    return true;
  }
  conn_shutdown(&ctx->nc->conn);
  return false;
}

void op_hello(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  node_conn_t *nc = ctx->nc;
  const msg_hello_t *m = &ctx->m.hello;
  if (!hello_allowed(ctx, m)) return;
  nc->hello_done = true;
  nc->role = m->role;
  nc->peer_id = m->node;
  if (m->role == WIRE_ROLE_PEER) health_heard(&node->health, m->node);
  buf_t view = BUF_INIT;
  if (m->role == WIRE_ROLE_PEER && view_encode(&node->cluster.view, &view))
    return op_out_of_memory(ctx);
  msg_hello_reply_t reply = {node_self(node), (uint32_t)node->max_frame,
                             msg_str(view.data, view.len)};
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_hello_reply_put(&w, &reply);
  wire_end(&w);
  buf_free(&view);
}

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
  wire_end(&w);
}

/* Writes a text answer (JSON) from node->scratch. */
static void reply_text(op_ctx_t *ctx, const buf_t *text) {
  wire_writer_t w;
  msg_text_t m = {msg_str(text->data, text->len)};
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_text_put(&w, &m);
  wire_end(&w);
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
  wire_end(&w);
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
  wire_end(&w);
}
