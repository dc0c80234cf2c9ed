/* op_publish — a publish at its topic's home: deduplicated by (producer,
 * seq), appended to the log, answered at once or, for ack "all", once
 * every replica holds it. */
#include <stddef.h>
#include <string.h>

#include "node/node.h"

static void answer(node_conn_t *nc, uint32_t id, uint64_t offset) {
  wire_writer_t w;
  msg_offset_t m = {offset};
  wire_begin(&w, &nc->conn.out, WIRE_PUBLISH, WIRE_F_REPLY, id);
  msg_offset_put(&w, &m);
  node_reply_end(nc, &w);
}

/* Every replica holds the publish, or never will here. */
static void replicated(repl_waiter_t *waiter, int status, const char *why) {
  req_t *r = (req_t *)((char *)waiter - offsetof(req_t, u.publish));
  hs_node_t *node = r->node;
  if (r->nc) {
    if (status)
      node_reply_error(r->nc, WIRE_PUBLISH, r->id, status, "%s", why);
    else
      answer(r->nc, r->id, waiter->offset);
    node->stats.frames_out++;
    node_send(r->nc);
  }
  req_give(&node->reqs, r);
}

/* Parks the publish until every replica holds offset. */
static void wait_for_replicas(op_ctx_t *ctx, store_topic_t *t,
                              uint64_t offset) {
  hs_node_t *node = ctx->nc->node;
  req_t *r = req_take(&node->reqs, node);
  if (!r) return op_error(ctx, HS_ENOMEM, "out of memory");
  r->id = ctx->f->id;
  r->op = WIRE_PUBLISH;
  r->u.publish.offset = offset;
  r->u.publish.done = replicated;
  req_attach(r, ctx->nc, &ctx->nc->reqs);
  repl_wait(&node->repl, t, &r->u.publish);
}

static bool checks_ok(op_ctx_t *ctx, store_topic_t **t) {
  hs_node_t *node = ctx->nc->node;
  const msg_publish_t *m = &ctx->m.publish;
  if (m->data.n > node->cfg.max_payload) {
    op_error(ctx, HS_ETOO_LARGE, "message of %zu bytes is over max_payload %zu",
             m->data.n, node->cfg.max_payload);
    return false;
  }
  if (m->ack > HS_ACK_ALL) {
    op_error(ctx, HS_EINVALID,
             "ack mode %u is not none (0), home (1) or all (2)", m->ack);
    return false;
  }
  if (!op_name_ok(ctx, "publisher id", m->publisher) ||
      !op_name_ok(ctx, "topic name", m->topic))
    return false;
  /* The topic's owner exists (it made the topic): no lookup needed. */
  store_topic_t *held = store_topic_find(&node->store, m->topic.s, m->topic.n);
  bool owner = held && held->owner_len == m->publisher.n &&
               !memcmp(held->owner, m->publisher.s, m->publisher.n);
  if (!owner && !op_identity_ok(ctx, PLACE_PUBLISHER, m->publisher))
    return false;
  if (!(*t = op_find_topic(ctx, m->topic))) return false;
  if (node->disk && !disk_topic_ok(*t)) {
    op_error(ctx, HS_ESTORAGE,
             "node %u cannot write topic \"%s\" to its data directory %s "
             "(see its log); reads go on", node_self(node), (*t)->name,
             disk_dir(node->disk));
    return false;
  }
  return true;
}

void op_publish(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_publish_t *m = &ctx->m.publish;
  store_topic_t *t;
  if (!checks_ok(ctx, &t)) return;
  uint64_t offset;
  if (store_dedup(t, m->producer, m->seq, &offset)) {
    /* A retry of a publish stored before: answered as the first time. */
    node->stats.deduplicated++;
    LOG(&node->log, HS_LOG_INFO, "store", "publish_deduplicated",
        LF_STR("topic", t->name), LF_UINT("offset", offset),
        LF_UINT("seq", m->seq), LF_STRN("publisher", m->publisher.s, m->publisher.n));
    if (m->ack == HS_ACK_ALL && offset != UINT64_MAX &&
        offset >= repl_readable(t) && repl_replicated(t))
      return wait_for_replicas(ctx, t, offset);
  } else {
    if (store_append_seq(&node->store, t, log_now_ms(), m->publisher.s,
                         m->publisher.n, m->producer, m->seq, m->data.s,
                         m->data.n, &offset))
      return op_out_of_memory(ctx);
    node->stats.messages_published++;
    if (repl_append(&node->repl, t) && m->ack == HS_ACK_ALL)
      return wait_for_replicas(ctx, t, offset); /* answered when all hold it */
  }
  size_t mark = ctx->nc->conn.out.len;
  answer(ctx->nc, ctx->f->id, offset);
  /* ack "home" (or "all" with no replica): once this copy is on disk. */
  if (m->ack != HS_ACK_NONE && offset != UINT64_MAX)
    op_hold(ctx, mark, t, offset + 1);
  LOG(&node->log, HS_LOG_DEBUG, "store", "published", LF_STR("topic", t->name),
      LF_UINT("offset", offset), LF_UINT("bytes", m->data.n),
      LF_STRN("publisher", m->publisher.s, m->publisher.n));
  if (t->waiters) waiters_wake(node, t);
}
