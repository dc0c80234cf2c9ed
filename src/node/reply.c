/* reply — what a request's answer looks like when it is not data: an
 * error with its code and what was wrong (counted by code), or an empty
 * success; and the connection's output queued for this turn's flush. */
#include <stdarg.h>
#include <stdio.h>

#include "node/node.h"

void node_reply_error(node_conn_t *nc, uint8_t op, uint32_t id, int code,
                      const char *fmt, ...) {
  char msg[512];
  if (-code < STATS_ERRORS) nc->node->stats.errors[-code]++;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  wire_put_error(&nc->conn.out, op, id, code, msg, (size_t)n);
}

void node_reply_ok(node_conn_t *nc, uint8_t op, uint32_t id) {
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, op, WIRE_F_REPLY, id);
  node_reply_end(nc, &w);
}

void node_reply_end(node_conn_t *nc, wire_writer_t *w) {
  uint8_t op = w->op;
  uint32_t id = w->id;
  int rc = wire_end(w);
  if (rc) /* the half-written answer is gone: say why instead */
    node_reply_error(nc, op, id, rc,
                     rc == HS_ENOMEM ? "the node is out of memory"
                                     : "the answer would pass 4 GiB");
}

void node_send(node_conn_t *nc) { conn_dirty(&nc->conn); }

void op_error(op_ctx_t *ctx, int code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  (void)n;
  node_reply_error(ctx->nc, ctx->f->op, ctx->f->id, code, "%s", msg);
}

void op_ok(op_ctx_t *ctx) { node_reply_ok(ctx->nc, ctx->f->op, ctx->f->id); }

void op_out_of_memory(op_ctx_t *ctx) {
  op_error(ctx, HS_ENOMEM, "the node is out of memory");
}
