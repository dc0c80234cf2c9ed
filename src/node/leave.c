/* leave — a member going away gracefully: it marks itself LEFT in its view
 * and spreads it; its topics move to the next nodes of their preference
 * lists (repl's hand-over); once none is in flight and the links have
 * drained (or it waited too long), it answers and the node stops. */
#include "node/node.h"

/* The pulls waiting here on other nodes (a claim for a pull this copy
 * serves, a pull or fetch passed on towards its home) are answered UNAVAILABLE so
 * their clients ask again elsewhere, and released at the home as those of
 * a client that left are: a long poll would hold the leave for its wait. */
static void release_pulls(hs_node_t *node) {
  for (node_conn_t *nc = node->conns; nc; nc = nc->next) {
    bool answered = false;
    for (req_t *r = nc->reqs, *next; r; r = next) {
      next = r->next;
      if (r->op != WIRE_PULL && r->op != WIRE_FETCH) continue;
      node_reply_error(nc, r->op, r->id, HS_EUNAVAILABLE,
                       "node %u is leaving: pull again at another node",
                       node_self(node));
      node->stats.frames_out++;
      answered = true;
      req_detach(r);
      if (r->orphaned) r->orphaned(r);
    }
    if (answered) node_send(nc);
  }
}

bool leave_refuses(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  if (!node->cluster.leaving || !msg_request_wait_ms(ctx->f->op, &ctx->m))
    return false;
  op_error(ctx, HS_EUNAVAILABLE, "node %u is leaving: pull again at another node",
           node_self(node));
  return true;
}

void leave_start(hs_node_t *node, req_t *r, const char *by) {
  release_pulls(node);
  node->member.leave_req = r;
  node->member.leave_started_ms = uv_now(node->loop);
  LOG(&node->log, HS_LOG_WARN, "cluster", "leaving", LF_STR("by", by),
      LF_UINT("topics", node->store.topics.count));
  cluster_leave(&node->cluster);
}

void op_leave(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  uint32_t id = ctx->m.node.node;
  if (id != node_self(node))
    return op_error(ctx, HS_ENO_NODE, "node %u does not exist", id);
  if (node->cluster.leaving)
    return op_error(ctx, HS_EEXISTS, "node %u is already leaving", id);
  req_t *r = req_take(&node->reqs, node);
  if (!r) return op_error(ctx, HS_ENOMEM, "out of memory");
  r->id = ctx->f->id;
  r->op = ctx->f->op;
  req_attach(r, ctx->nc, &ctx->nc->reqs);
  leave_start(node, r, ctx->nc->peer);
  /* Answered by leave_tick on a later tick: by then the view saying LEFT
   * has gone out on the links, which stopping closes. */
  ctx->suspended = true;
}

node_conn_t *leave_finish(hs_node_t *node) {
  size_t left = node->member.leave_left;
  req_t *r = node->member.leave_req;
  node->member.leave_req = NULL;
  node_conn_t *keep = r ? r->nc : NULL;
  if (keep && left)
    node_reply_error(keep, WIRE_LEAVE, r->id, HS_EUNAVAILABLE,
                     "node %u left with %zu hand-overs or view updates "
                     "unanswered",
                     node_self(node), left);
  else if (keep)
    node_reply_ok(keep, WIRE_LEAVE, r->id);
  if (r) req_give(&node->reqs, r);
  node->cluster.leaving = false;
  return keep;
}

bool leave_tick(hs_node_t *node) {
  if (!node->cluster.leaving) return false;
  /* Hand-overs in flight, and requests unanswered on the links (the view
   * saying LEFT, the records): stopping would drop them. */
  size_t left = repl_holding(&node->repl) + peers_unanswered(&node->peers);
  uint64_t took = uv_now(node->loop) - node->member.leave_started_ms;
  if (left && took <= (uint64_t)MEMBER_PATIENCE * node->cfg.dead_ms)
    return false;
  if (left)
    LOG(&node->log, HS_LOG_WARN, "cluster", "leave_incomplete",
        LF_UINT("waiting_for", left), LF_UINT("ms", took));
  else
    LOG(&node->log, HS_LOG_INFO, "cluster", "left", LF_UINT("ms", took),
        LF_UINT("epoch", node->cluster.view.epoch));
  node->member.leave_left = left;
  return true;
}
