/* list — LIST_TOPICS: the cluster's topics, gathered from every live
 * member. Each member answers HOMED with the topics it is home of, so each
 * topic is named once; the node the client asked joins the parts, sorts
 * them and answers. A part that fails fails the whole answer: a partial
 * list would look complete. */
#include <stdlib.h>
#include <string.h>

#include "node/node.h"

/* Appends the names of topics homed here that start with prefix, one per
 * line; false when they would pass the reply budget (it stops there). */
static bool homed_names(hs_node_t *node, msg_str_t prefix, buf_t *out) {
  size_t budget = node_reply_budget(node);
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    if (t->name_len < prefix.n || memcmp(t->name, prefix.s, prefix.n)) continue;
    uint32_t home;
    if (cluster_copies(&node->cluster, place_topic(t->name, t->name_len),
                       &home, 1) &&
        home != node_self(node))
      continue; /* a replica's copy: its home names it */
    if (out->len + t->name_len + 1 > budget) return false;
    if (buf_append(out, t->name, t->name_len) || buf_append(out, "\n", 1))
      return false;
  }
  return true;
}

/* The listing fails with code, at node `at`'s part. */
static void gather_fail(req_t *g, int code, uint32_t at) {
  g->u.gather.failed = code;
  g->u.gather.failed_node = at;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the lines of b in place. */
static int sort_lines(buf_t *b) {
  size_t n = 0;
  for (size_t i = 0; i < b->len; i++) n += b->data[i] == '\n';
  if (n < 2) return 0;
  char **lines = malloc(n * sizeof *lines);
  char *copy = malloc(b->len);
  if (!lines || !copy) {
    free(lines);
    free(copy);
    return HS_ENOMEM;
  }
  memcpy(copy, b->data, b->len);
  size_t k = 0;
  for (char *p = copy; k < n; k++) {
    lines[k] = p;
    p = memchr(p, '\n', (size_t)(copy + b->len - p));
    *p++ = 0;
  }
  qsort(lines, n, sizeof *lines, by_name);
  buf_clear(b); /* keeps its room: the appends below cannot fail */
  for (k = 0; k < n; k++) {
    buf_append(b, lines[k], strlen(lines[k]));
    buf_append(b, "\n", 1);
  }
  free(lines);
  free(copy);
  return 0;
}

static void finish(req_t *g) {
  hs_node_t *node = g->node;
  node_conn_t *nc = g->nc;
  if (nc) {
    if (g->u.gather.failed == HS_ETOO_LARGE) {
      node_reply_error(nc, WIRE_LIST_TOPICS, g->id, HS_ETOO_LARGE,
                       "the listing is over %zu bytes (node %u's part "
                       "passed it): list a narrower prefix",
                       node_reply_budget(node), g->u.gather.failed_node);
    } else if (g->u.gather.failed) {
      node_reply_error(nc, WIRE_LIST_TOPICS, g->id, g->u.gather.failed,
                       "node %u did not answer the listing",
                       g->u.gather.failed_node);
    } else if (sort_lines(&g->u.gather.names)) {
      node_reply_error(nc, WIRE_LIST_TOPICS, g->id, HS_ENOMEM, "out of memory");
    } else {
      wire_writer_t w;
      msg_text_t m = {msg_str(g->u.gather.names.data, g->u.gather.names.len)};
      wire_begin(&w, &nc->conn.out, WIRE_LIST_TOPICS, WIRE_F_REPLY, g->id);
      msg_text_put(&w, &m);
      node_reply_end(nc, &w);
    }
    node->stats.frames_out++;
    node_send(nc);
  }
  buf_free(&g->u.gather.names);
  req_give(&node->reqs, g);
}

/* A member's part came (or failed). */
static void part_done(req_t *part, const link_reply_t *reply) {
  req_t *g = part->u.part.gather;
  wire_reader_t r;
  msg_text_t m;
  buf_t *names = &g->u.gather.names;
  if (g->u.gather.failed) {
    /* the answer is an error already */
  } else if (reply->status) {
    gather_fail(g, reply->status, part->u.part.target);
  } else {
    wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
    if (!msg_text_get(&r, &m))
      gather_fail(g, HS_EPROTOCOL, part->u.part.target);
    else if (names->len + m.text.n > node_reply_budget(part->node) ||
             buf_append(names, m.text.s, m.text.n))
      gather_fail(g, HS_ETOO_LARGE, part->u.part.target);
  }
  req_give(&part->node->reqs, part);
  if (--g->u.gather.remaining == 0) finish(g);
}

/* Asks member `id` for its part; false when it could not be asked. */
static bool ask(hs_node_t *node, req_t *g, uint32_t id, msg_str_t prefix) {
  req_t *part = req_take(&node->reqs, node);
  if (!part) return false;
  part->op = WIRE_HOMED;
  part->done = part_done;
  part->u.part.gather = g;
  part->u.part.target = id;
  buf_t body = BUF_INIT;
  wire_writer_t w = {.b = &body};
  msg_homed_t m = {id, prefix};
  msg_homed_put(&w, &m);
  char msg[160];
  g->u.gather.remaining++;
  int rc = w.err ? HS_ENOMEM
                 : route_send(node, part, WIRE_HOMED, 0, body.data, body.len,
                              id, msg, sizeof msg);
  buf_free(&body);
  if (rc) {
    g->u.gather.remaining--;
    req_give(&node->reqs, part);
  }
  return rc == 0;
}

void op_list_topics(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  msg_str_t prefix = ctx->m.prefix.prefix;
  req_t *g = req_take(&node->reqs, node);
  if (!g) return op_out_of_memory(ctx);
  g->id = ctx->f->id;
  g->op = ctx->f->op;
  g->u.gather.names = (buf_t)BUF_INIT;
  g->u.gather.failed = 0;
  req_attach(g, ctx->nc, &ctx->nc->reqs);
  if (!homed_names(node, prefix, &g->u.gather.names))
    gather_fail(g, HS_ETOO_LARGE, node_self(node));
  g->u.gather.remaining = 1; /* held until every part is asked */
  const view_t *v = &node->cluster.view;
  for (size_t i = 0; i < v->n && !g->u.gather.failed; i++) {
    const view_member_t *mb = &v->members[i];
    if (mb->id == node_self(node) || !view_serves(mb->state)) continue;
    if (!ask(node, g, mb->id, prefix)) {
      g->u.gather.failed = HS_EUNAVAILABLE;
      g->u.gather.failed_node = mb->id;
    }
  }
  if (--g->u.gather.remaining == 0) finish(g);
}

void op_homed(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  buf_t names = BUF_INIT;
  if (!homed_names(node, ctx->m.homed.prefix, &names)) {
    buf_free(&names);
    return op_error(ctx, HS_ETOO_LARGE,
                    "node %u homes over %zu bytes of topic names under this "
                    "prefix", node_self(node), node_reply_budget(node));
  }
  wire_writer_t w;
  msg_text_t m = {msg_str(names.data, names.len)};
  wire_begin(&w, &ctx->nc->conn.out, ctx->f->op, WIRE_F_REPLY, ctx->f->id);
  msg_text_put(&w, &m);
  node_reply_end(ctx->nc, &w);
  buf_free(&names);
}
