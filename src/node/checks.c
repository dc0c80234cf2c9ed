/* checks — what a request must meet before a handler acts on it, each
 * failure answered with its code and what was wrong: names, whether this
 * node may serve the topic now, whether an identity exists. */
#include "node/node.h"

bool op_name_ok(op_ctx_t *ctx, const char *what, msg_str_t s) {
  if (wire_name_check(s.s, s.n) == 0) return true;
  op_error(ctx, HS_EINVALID,
           "%s must be 1-255 bytes of printable ASCII without space, '\"' or "
           "'\\' (got %zu bytes)",
           what, s.n);
  return false;
}

bool op_under_limit(op_ctx_t *ctx, uint64_t have, uint64_t limit,
                    const char *what, const char *option) {
  if (have < limit) return true;
  hs_node_t *node = ctx->nc->node;
  node->stats.limit_refusals++;
  op_error(ctx, HS_ELIMIT, "node %u holds %llu %s, its limit (%s)",
           node_self(node), (unsigned long long)limit, what, option);
  return false;
}

/* Catching up: not before every member answered, and not a topic whose
 * records are still coming (a write now would land at an offset the
 * copies already used). */
static bool still_arriving(const hs_node_t *node, const store_topic_t *t) {
  const member_t *m = &node->member;
  return m->catching_up &&
         (m->catch_pending || !t ||
          catchup_expected(node, t->name, t->name_len) > t->next);
}

bool node_serves_now(const hs_node_t *node, const store_topic_t *t) {
  uint32_t from;
  return !node->cluster.quorum_lost && !still_arriving(node, t) &&
         (!t || repl_serving(t, &from) == REPL_SERVE_OK);
}

bool op_may_serve(op_ctx_t *ctx, const store_topic_t *t) {
  hs_node_t *node = ctx->nc->node;
  uint32_t from = 0;
  if (node->cluster.quorum_lost) {
    op_error(ctx, HS_EUNAVAILABLE,
             "node %u sees no majority of the cluster alive and serves no "
             "topic until it does",
             node_self(node));
    return false;
  }
  if (still_arriving(node, t)) {
    op_error(ctx, HS_EUNAVAILABLE,
             "node %u is still receiving the topics it holds; try again",
             node_self(node));
    return false;
  }
  switch (t ? repl_serving(t, &from) : REPL_SERVE_OK) {
    case REPL_SERVE_OK:
      return true;
    case REPL_SERVE_SETTLING:
      op_error(ctx, HS_EUNAVAILABLE,
               "topic \"%s\" moved to node %u, which is hearing from its "
               "replicas first; try again",
               t->name, node_self(node));
      return false;
    case REPL_SERVE_FILLING:
      op_error(ctx, HS_EUNAVAILABLE,
               "topic \"%s\" is being handed to node %u by node %u; try again",
               t->name, node_self(node), from);
      return false;
  }
  return true;
}

store_topic_t *op_find_topic(op_ctx_t *ctx, msg_str_t name) {
  store_topic_t *t = store_topic_find(&ctx->nc->node->store, name.s, name.n);
  if (!op_may_serve(ctx, t)) return NULL;
  if (!t)
    op_error(ctx, HS_ENO_TOPIC, "topic \"%.*s\" does not exist", (int)name.n,
             name.s);
  return t;
}

bool op_identity_ok(op_ctx_t *ctx, uint8_t kind, msg_str_t id) {
  hs_node_t *node = ctx->nc->node;
  bool pub = kind == PLACE_PUBLISHER;
  const char *what = pub ? "publisher" : "subscriber";
  if (pub ? store_publisher_exists(&node->store, id.s, id.n)
          : store_subscriber_exists(&node->store, id.s, id.n))
    return true;
  uint64_t h = place_identity(kind, id.s, id.n);
  if (!ctx->looked_up && cluster_home(&node->cluster, h) != node_self(node)) {
    ctx->lookup_kind = kind; /* the dispatch asks its home, then again */
    ctx->lookup_id = id;
    return false;
  }
  if (node->member.catching_up && !ctx->looked_up) {
    op_error(ctx, HS_EUNAVAILABLE,
             "node %u is still receiving the identities it holds; try again",
             node_self(node));
    return false;
  }
  op_error(ctx, pub ? HS_ENO_PUBLISHER : HS_ENO_SUBSCRIBER,
           "%s \"%.*s\" does not exist", what, (int)id.n, id.s);
  return false;
}
