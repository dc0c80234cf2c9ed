/* op_names — identities and topics: creating publishers and subscribers at
 * their home, answering lookups of them, creating and deleting topics. */
#include <string.h>

#include "node/node.h"

void op_create_identity(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  bool pub = ctx->f->op == WIRE_CREATE_PUBLISHER;
  const char *what = pub ? "publisher" : "subscriber";
  msg_str_t id = ctx->m.id.id;
  if (!op_name_ok(ctx, pub ? "publisher id" : "subscriber id", id)) return;
  store_t *s = &node->store;
  if (!op_under_limit(ctx, s->publishers.count + s->subscribers.count,
                      node->cfg.max_identities, "publishers and subscribers",
                      "max_identities"))
    return;
  int rc = pub ? store_publisher_create(&node->store, id.s, id.n)
               : store_subscriber_create(&node->store, id.s, id.n);
  if (rc == HS_EEXISTS)
    return op_error(ctx, HS_EEXISTS, "%s \"%.*s\" already exists", what,
                    (int)id.n, id.s);
  if (rc) return op_out_of_memory(ctx);
  LOG(&node->log, HS_LOG_INFO, "store",
      pub ? "publisher_created" : "subscriber_created",
      LF_STRN(what, id.s, id.n));
  repl_identity(&node->repl, pub ? PLACE_PUBLISHER : PLACE_SUBSCRIBER, id.s,
                id.n);
  size_t mark = ctx->nc->conn.out.len;
  op_ok(ctx);
  op_hold(ctx, mark, NULL, 0); /* the journal holds it first */
}

/* LOOKUP: does an identity exist here, at its home? */
void op_lookup(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_lookup_t *m = &ctx->m.lookup;
  store_t *s = &node->store;
  msg_exists_t reply = {
      m->kind == PLACE_PUBLISHER    ? store_publisher_exists(s, m->id.s, m->id.n)
      : m->kind == PLACE_SUBSCRIBER ? store_subscriber_exists(s, m->id.s, m->id.n)
                                    : 0};
  if (!reply.exists && node->member.catching_up)
    return op_error(ctx, HS_EUNAVAILABLE,
                    "node %u is still receiving the identities it holds; try "
                    "again",
                    node_self(node));
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_exists_put(&w, &reply);
  node_reply_end(ctx->nc, &w);
}

/* The publisher and topic names a topic request carries. */
static bool names_ok(op_ctx_t *ctx) {
  return op_name_ok(ctx, "publisher id", ctx->m.topic.publisher) &&
         op_name_ok(ctx, "topic name", ctx->m.topic.topic);
}

void op_create_topic(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  msg_str_t pid = ctx->m.topic.publisher, topic = ctx->m.topic.topic;
  if (!names_ok(ctx) || !op_identity_ok(ctx, PLACE_PUBLISHER, pid) ||
      !op_may_serve(ctx, store_topic_find(&node->store, topic.s, topic.n)) ||
      !op_under_limit(ctx, node->store.topics.count, node->cfg.max_topics,
                      "topics", "max_topics"))
    return;
  store_topic_t *t;
  int rc = store_topic_create(&node->store, topic.s, topic.n, pid.s, pid.n, &t);
  if (rc == HS_EEXISTS)
    return op_error(ctx, HS_EEXISTS, "topic \"%.*s\" already exists",
                    (int)topic.n, topic.s);
  if (rc) return op_out_of_memory(ctx);
  if (repl_topic_created(&node->repl, t)) {
    store_topic_delete(&node->store, t);
    return op_out_of_memory(ctx);
  }
  LOG(&node->log, HS_LOG_INFO, "store", "topic_created",
      LF_STRN("topic", topic.s, topic.n), LF_STRN("publisher", pid.s, pid.n));
  size_t mark = ctx->nc->conn.out.len;
  op_ok(ctx);
  op_hold(ctx, mark, NULL, 0); /* the journal holds it first */
}

void op_delete_topic(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  msg_str_t pid = ctx->m.topic.publisher, topic = ctx->m.topic.topic;
  if (!names_ok(ctx)) return;
  store_topic_t *t = op_find_topic(ctx, topic);
  if (!t) return;
  if (pid.n != t->owner_len || memcmp(pid.s, t->owner, pid.n))
    return op_error(ctx, HS_ENOT_OWNER,
                    "topic \"%s\" belongs to publisher \"%s\", not \"%.*s\"",
                    t->name, t->owner, (int)pid.n, pid.s);
  uint64_t messages = t->next - t->first;
  waiters_drop(node, t, HS_ENO_TOPIC, "was deleted");
  repl_topic_deleted(&node->repl, t);
  store_topic_delete(&node->store, t);
  LOG(&node->log, HS_LOG_INFO, "store", "topic_deleted",
      LF_STRN("topic", topic.s, topic.n), LF_STRN("publisher", pid.s, pid.n),
      LF_UINT("messages", messages));
  size_t mark = ctx->nc->conn.out.len;
  op_ok(ctx);
  op_hold(ctx, mark, NULL, 0); /* the journal holds it first */
}
