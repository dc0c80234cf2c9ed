/* durable — answers held until what they report is kept. A handler
 * writes its answer as usual and then holds it: with a data directory it
 * leaves once the changes it reports are written to the node's files (so
 * a crash of the process loses nothing acknowledged, in every fsync mode)
 * and, with fsync "always", synced; for a pull, also once every live copy
 * of the topic has the subscriber's new cursor (so a pull through any
 * client after a failover neither repeats nor skips). An answer whose
 * change could not be written turns into STORAGE. */
#include <stddef.h>
#include <string.h>

#include "node/node.h"

bool node_durable(const hs_node_t *node) { return node->disk != NULL; }

static void deliver(req_t *r) {
  hs_node_t *node = r->node;
  int status = r->u.held.status;
  store_topic_t *t = r->u.held.name_len
                         ? store_topic_find(&node->store, r->u.held.name,
                                            r->u.held.name_len)
                         : NULL;
  if (!status && t && t->next < r->u.held.need)
    status = HS_EUNAVAILABLE; /* its record was cut (a fence) meanwhile */
  else if (!status && t && t->synced < r->u.held.need)
    status = HS_ESTORAGE; /* its file could not be written */
  if (r->nc && status == HS_EUNAVAILABLE) {
    node_reply_error(r->nc, r->op, r->id, status,
                     "node %u dropped the record before it was on disk "
                     "(it lost its replicas); try again",
                     node_self(node));
    node_send(r->nc);
  } else if (r->nc && status) {
    node_reply_error(r->nc, r->op, r->id,
                     status == HS_ECLOSED ? status : HS_ESTORAGE,
                     "node %u could not keep this on disk (%s): see its log",
                     node_self(node), node->disk ? disk_dir(node->disk) : "");
    node_send(r->nc);
  } else if (r->nc) {
    if (buf_append(&r->nc->conn.out, r->u.held.frame.data,
                   r->u.held.frame.len))
      node_reply_error(r->nc, r->op, r->id, HS_ENOMEM, "out of memory");
    node->stats.frames_out++;
    node_send(r->nc);
  }
  buf_free(&r->u.held.frame);
  req_give(&node->reqs, r);
}

static void release(req_t *r, int status) {
  if (status && !r->u.held.status) r->u.held.status = status;
  if (--r->u.held.pending == 0) deliver(r);
}

static void synced(disk_wait_t *w, int status) {
  release((req_t *)((char *)w - offsetof(req_t, u.held.wait)), status);
}

static void copies_answered(repl_cursor_wait_t *w) {
  release((req_t *)((char *)w - offsetof(req_t, u.held.copies)), 0);
}

/* A held request with no answer, no topic and no wait yet: pending 1
 * while its waits are set up. */
static req_t *held_new(hs_node_t *node) {
  req_t *r = req_take(&node->reqs, node);
  if (!r) return NULL;
  r->u.held.frame = (buf_t)BUF_INIT;
  r->u.held.need = 0;
  r->u.held.name_len = 0;
  r->u.held.wait.done = synced;
  r->u.held.copies.done = copies_answered;
  r->u.held.pending = 1;
  r->u.held.status = 0;
  return r;
}

/* The answer written since mark, taken out of the connection's output
 * into a held request (NULL: it stays where it is, answered at once). */
static req_t *take_answer(node_conn_t *nc, uint8_t op, uint32_t id,
                          size_t mark, const store_topic_t *t, uint64_t need) {
  hs_node_t *node = nc->node;
  if (nc->conn.out.len <= mark) return NULL;
  req_t *r = held_new(node);
  if (!r) return NULL;
  r->id = id;
  r->op = op;
  if (buf_append(&r->u.held.frame, nc->conn.out.data + mark,
                 nc->conn.out.len - mark)) {
    req_give(&node->reqs, r);
    return NULL;
  }
  nc->conn.out.len = mark;
  r->u.held.need = need;
  r->u.held.name_len = t ? (uint8_t)t->name_len : 0;
  if (t) memcpy(r->u.held.name, t->name, t->name_len);
  req_attach(r, nc, &nc->reqs);
  return r;
}

void op_hold(op_ctx_t *ctx, size_t mark, const store_topic_t *t,
             uint64_t need) {
  node_hold(ctx->nc, ctx->f->op, ctx->f->id, mark, t, need);
}

void node_hold(node_conn_t *nc, uint8_t op, uint32_t id, size_t mark,
               const store_topic_t *t, uint64_t need) {
  hs_node_t *node = nc->node;
  if (!node_durable(node)) return;
  req_t *r = take_answer(nc, op, id, mark, t, need);
  if (!r) return;
  r->u.held.pending++;
  disk_wait(node->disk, &r->u.held.wait);
  release(r, 0);
}

req_t *node_hold_ahead(hs_node_t *node, store_topic_t *t, const char *sid,
                       size_t sn, uint64_t next, uint64_t prev, size_t *asked) {
  *asked = 0;
  req_t *r = held_new(node); /* pending 1 until adopted or dropped */
  if (!r) return NULL;
  if ((*asked = repl_cursor(&node->repl, t, sid, sn, next, prev,
                            &r->u.held.copies)))
    r->u.held.pending++;
  return r;
}

void node_hold_adopt(node_conn_t *nc, req_t *r, uint8_t op, uint32_t id,
                     size_t mark) {
  hs_node_t *node = nc->node;
  r->id = id;
  r->op = op;
  if (nc->conn.out.len > mark &&
      !buf_append(&r->u.held.frame, nc->conn.out.data + mark,
                  nc->conn.out.len - mark)) {
    nc->conn.out.len = mark;
    req_attach(r, nc, &nc->reqs);
  } /* else (nothing written, or no memory) it stays in the output */
  if (node_durable(node)) { /* the cursor's move, on this node's disk too */
    r->u.held.pending++;
    disk_wait(node->disk, &r->u.held.wait);
  }
  release(r, 0);
}

void node_hold_drop(req_t *r) { release(r, 0); }

void node_hold_cursor(node_conn_t *nc, uint8_t op, uint32_t id, size_t mark,
                      store_topic_t *t, const char *sid, size_t sn) {
  hs_node_t *node = nc->node;
  const store_cursor_t *cur = store_cursor(t, sid, sn);
  bool copies = repl_replicated(t);
  if (!copies && !node_durable(node)) return;
  req_t *r = take_answer(nc, op, id, mark, NULL, 0);
  if (!r) { /* answered at once; the copies hear of the cursor all the same */
    repl_cursor(&node->repl, t, sid, sn, cur->next, cur->prev, NULL);
    return;
  }
  if (repl_cursor(&node->repl, t, sid, sn, cur->next, cur->prev,
                  &r->u.held.copies))
    r->u.held.pending++;
  if (node_durable(node)) {
    r->u.held.pending++;
    disk_wait(node->disk, &r->u.held.wait);
  }
  release(r, 0);
}
