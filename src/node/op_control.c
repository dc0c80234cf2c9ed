/* op_control — running the node: STOP_NODE, STATS, LOCAL (what this node
 * holds, with a digest of each copy), and REPLICATE from the peers. */
#include <stdio.h>

#include "core/hash.h"
#include "node/node.h"

void op_stop_node(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_stop_t *m = &ctx->m.stop;
  if (m->node != node_self(node))
    return op_error(ctx, HS_ENO_NODE, "node %u does not exist", m->node);
  LOG(&node->log, HS_LOG_WARN, "node", "stop_requested",
      LF_STR("by", ctx->nc->peer),
      LF_UINT("restart_after_ms", m->restart_after_ms));
  op_ok(ctx);
  node_send(ctx->nc);
  /* The answer goes out first; then the node drops everything. */
  node_halt(node, ctx->nc, m->restart_after_ms);
}

static void reply_text(op_ctx_t *ctx, const char *text, size_t len) {
  wire_writer_t w;
  msg_text_t m = {msg_str(text, len)};
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_text_put(&w, &m);
  node_reply_end(ctx->nc, &w);
}

void op_stats(op_ctx_t *ctx) {
  size_t len;
  const char *json = hs_node_stats_json(ctx->nc->node, &len);
  if (!json) return op_out_of_memory(ctx);
  reply_text(ctx, json, len);
}

/* A digest of every record of t, so copies compare without moving data. */
static uint64_t digest(const store_topic_t *t) {
  uint64_t d = HASH_FNV_INIT;
  store_iter_t it;
  store_msg_t m;
  store_iter_init(&it, t, t->first);
  while (store_iter_next(&it, &m)) {
    uint64_t parts[3] = {m.offset, m.time_ms,
                         hash_fnv1a(HASH_FNV_INIT, m.publisher, m.publisher_len)};
    d ^= hash_fnv1a(HASH_FNV_INIT, parts, sizeof parts);
    d = d * 0x100000001b3ull ^ hash_fnv1a(HASH_FNV_INIT, m.data, m.len);
  }
  return d;
}

/* LOCAL hashes at most this many payload bytes per request: digests are
 * for comparing copies in tests and by hand, and must not hold the loop
 * long enough for peers to think the node dead. */
#define LOCAL_DIGEST_BYTES (64u << 20)

void op_local(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  json_t j;
  buf_clear(&node->scratch);
  json_init(&j, &node->scratch);
  json_open(&j, NULL);
  json_open_list(&j, "topics");
  void *v;
  uint64_t hashed = 0;
  bool cut = false;
  for (size_t i = 0; map_next(&node->store.topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    if (node->scratch.len + 256 + t->name_len > node_reply_budget(node)) {
      cut = true; /* the rest would not fit one reply */
      break;
    }
    json_open(&j, NULL);
    json_u64(&j, "first", t->first);
    json_u64(&j, "next", t->next);
    json_u64(&j, "bytes", t->bytes);
    json_u64(&j, "cursors", t->cursors.count);
    if (hashed + t->bytes <= LOCAL_DIGEST_BYTES) { /* else no digest */
      char hex[17];
      hashed += t->bytes;
      snprintf(hex, sizeof hex, "%016llx", (unsigned long long)digest(t));
      json_str(&j, "digest", hex, 16);
    }
    json_str(&j, "name", t->name, t->name_len);
    json_close(&j);
  }
  json_close_list(&j);
  json_bool(&j, "more", cut);
  json_close(&j);
  if (json_end(&j)) return op_out_of_memory(ctx);
  reply_text(ctx, node->scratch.data, node->scratch.len);
}

void op_replicate(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  msg_replicate_t *m = &ctx->m.replicate;
  repl_answer_t ans;
  char why[256];
  int rc = repl_apply(&node->repl, ctx->nc->peer_id, m, &ans, why, sizeof why);
  if (rc) return op_error(ctx, rc, "%s", why);
  uint64_t next = ans.next;
  msg_ack_t ack = {next, m->name, ans.part};
  wire_writer_t w;
  size_t mark = ctx->nc->conn.out.len;
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_ack_put(&w, &ack);
  node_reply_end(ctx->nc, &w);
  /* The ack says what this copy holds: on disk, first. */
  store_topic_t *t = store_topic_find(&node->store, m->name.s, m->name.n);
  bool records = m->kind == REPL_APPEND || m->kind == REPL_SYNC;
  op_hold(ctx, mark, records ? t : NULL, next);
}
