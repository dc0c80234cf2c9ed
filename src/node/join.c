/* join — members coming in. A new node asks any member; the request goes
 * to the coordinator (the lowest live id), which picks the id (the one
 * asked for, or the lowest no member holds), adds the node to its view and
 * spreads it. The answer carries the id and the view. The cube's
 * dimension grows by itself when the id does not fit: placement is a
 * function of the view. */
#include <stdio.h>
#include <string.h>

#include "core/addr.h"
#include "node/node.h"

/* ---- the joining node ---------------------------------------------------- */

/* The coordinator's answer: our id and the view, or why not. 0 or an
 * error code; *view is the cluster's (to adopt) on success. */
static int read_answer(const link_reply_t *reply, uint32_t *id, view_t *view) {
  if (reply->status) return reply->status;
  wire_reader_t r, vr;
  msg_join_reply_t m;
  wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
  if (!msg_join_reply_get(&r, &m)) return HS_EPROTOCOL;
  wire_reader_init(&vr, m.view.s, m.view.n);
  if (view_decode(&vr, view)) return HS_EPROTOCOL;
  if (!view_find(view, m.id) || !wire_reader_done(&vr)) {
    view_free(view);
    return HS_EPROTOCOL;
  }
  *id = m.id;
  return 0;
}

static void on_joined(link_t *link, const link_reply_t *reply, void *ud) {
  hs_node_t *node = ud;
  if (!node->member.joining) return; /* the node is going away */
  uint32_t id;
  view_t view;
  int rc = read_answer(reply, &id, &view);
  if (rc) {
    snprintf(node->error, sizeof node->error,
             "could not join the cluster via %s: %s%s%.*s", node->cfg.join,
             hs_err_name(rc), reply->status ? ": " : "",
             (int)reply->message_len, reply->status ? reply->message : "");
    LOG(&node->log, HS_LOG_ERROR, "cluster", "join_failed",
        LF_STR("via", node->cfg.join), LF_STR("error", hs_err_name(rc)),
        LF_STRN("detail", reply->message, reply->message_len));
    return node->member.joined(node, false);
  }
  cluster_adopt(&node->cluster, id, &view);
  node->peers.self = id;
  node->log.node = id;
  const view_t *v = &node->cluster.view;
  LOG(&node->log, HS_LOG_INFO, "cluster", "joined", LF_UINT("id", id),
      LF_UINT("epoch", v->epoch), LF_UINT("members", v->n),
      LF_UINT("dim", view_dim(v)), LF_UINT("from", link_node(link)));
  node->member.joined(node, true);
}

int join_start(hs_node_t *node, void (*joined)(hs_node_t *node, bool ok)) {
  node->member.joined = joined;
  const char *addrs[1] = {node->cfg.join};
  link_config_t lc = {
      .addrs = addrs,
      .n_addrs = 1,
      .timeout_ms = node->cfg.peer_timeout_ms,
      .max_output = node->cfg.max_output,
      .hello = {.role = WIRE_ROLE_PEER,
                .cluster = msg_str(node->cluster_name,
                                   strlen(node->cluster_name)),
                .key = node->has_key ? node->key : NULL,
                .node = node->cfg.id,
                .incarnation = node->incarnation,
                .replicas = node->cluster.replicas,
                .expect = UINT32_MAX},
      .flusher = &node->flusher,
      .tls = node->tls_client,
  };
  int rc = link_new(node->loop, &lc, &node->member.join_link);
  if (rc) return rc;
  const char *self = node->cluster.self_addr;
  /* id HS_ID_ANY: the lowest free one */
  msg_join_t m = {node->cfg.id, msg_str(self, strlen(self)),
                  node->cluster.replicas};
  wire_writer_t w;
  uint32_t id;
  if ((rc = link_begin(node->member.join_link, WIRE_JOIN, 0, &w, &id)))
    return rc;
  msg_join_put(&w, &m);
  rc = link_end(node->member.join_link, &w, id, 0, on_joined, node);
  if (rc) return rc;
  node->member.joining = true;
  LOG(&node->log, HS_LOG_INFO, "cluster", "join_asked",
      LF_STR("via", node->cfg.join), LF_STR("addr", self));
  return 0;
}

void join_stop(hs_node_t *node) {
  node->member.joining = false;
  if (node->member.join_link) link_free(node->member.join_link);
  node->member.join_link = NULL;
}

/* ---- the coordinator ----------------------------------------------------------- */

/* The lowest id no member holds (a left one is free again); a JOIN sent
 * again (its answer was lost) gets the same id. */
static uint32_t free_id(const view_t *v, const char *addr) {
  for (size_t i = 0; i < v->n; i++)
    if (v->members[i].state != VIEW_LEFT && !strcmp(v->members[i].addr, addr))
      return v->members[i].id;
  for (uint32_t i = 0;; i++) {
    const view_member_t *m = view_find(v, i);
    if (!m || m->state == VIEW_LEFT) return i;
  }
}

/* The id a JOIN gets, or an error code with why. */
static int pick_id(const view_t *v, uint32_t wanted, const char *addr,
                   uint32_t *id, char *why, size_t why_len) {
  if (wanted == HS_ID_ANY) {
    *id = free_id(v, addr);
    return 0;
  }
  if (wanted > HS_ID_MAX) {
    snprintf(why, why_len, "node id %u is over the largest, %u", wanted,
             HS_ID_MAX);
    return HS_EINVALID;
  }
  const view_member_t *m = view_find(v, wanted);
  if (m && view_serves(m->state) && strcmp(m->addr, addr)) {
    snprintf(why, why_len, "node %u is alive at %s", wanted, m->addr);
    return HS_EEXISTS;
  }
  *id = wanted; /* new, dead, left, or the same address back again */
  return 0;
}

void op_join(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_join_t *m = &ctx->m.join;
  char addr[ADDR_MAX + 1];
  if (!addr_valid(m->addr.s, m->addr.n))
    return op_error(ctx, HS_EINVALID, "join: \"%.*s\" is not host:port",
                    (int)(m->addr.n > ADDR_MAX ? ADDR_MAX : m->addr.n),
                    m->addr.s);
  memcpy(addr, m->addr.s, m->addr.n);
  addr[m->addr.n] = 0;
  if (m->replicas != node->cluster.replicas)
    return op_error(ctx, HS_EDENIED,
                    "placement differs: the joining node keeps %u copies per "
                    "topic, this cluster %u",
                    m->replicas, node->cluster.replicas);
  if (node->cluster.quorum_lost)
    return op_error(ctx, HS_EUNAVAILABLE,
                    "node %u sees no majority of the cluster alive",
                    node_self(node));
  char why[160];
  uint32_t id;
  int rc = pick_id(&node->cluster.view, m->id, addr, &id, why, sizeof why);
  if (rc) return op_error(ctx, rc, "join: %s", why);
  if ((rc = cluster_admit(&node->cluster, id, addr)))
    return op_error(ctx, rc, "join: out of memory");
  buf_t view = BUF_INIT;
  if (view_encode(&node->cluster.view, &view)) return op_out_of_memory(ctx);
  msg_join_reply_t reply = {id, msg_str(view.data, view.len)};
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_join_reply_put(&w, &reply);
  node_reply_end(ctx->nc, &w);
  buf_free(&view);
}
