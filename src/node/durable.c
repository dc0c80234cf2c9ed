/* durable — answers that wait for the disk. With a data directory synced
 * on every write (fsync "always"), a handler writes its answer as usual
 * and then holds it: the answer leaves once the changes it reports are on
 * disk (the batch that carries them is through), or turns into STORAGE
 * when they could not be written. Nothing is acknowledged before it would
 * survive a crash. */
#include <stddef.h>
#include <string.h>

#include "node/node.h"

bool node_durable(const hs_node_t *node) {
  return node->disk && disk_fsync_mode(node->disk) == DISK_FSYNC_ALWAYS;
}

static void synced(disk_wait_t *w, int status) {
  req_t *r = (req_t *)((char *)w - offsetof(req_t, u.held.wait));
  hs_node_t *node = r->node;
  store_topic_t *t = r->u.held.name_len
                         ? store_topic_find(&node->store, r->u.held.name,
                                            r->u.held.name_len)
                         : NULL;
  if (!status && r->u.held.name_len && t && t->synced < r->u.held.need)
    status = HS_ESTORAGE; /* its file could not be written */
  if (r->nc && status) {
    node_reply_error(r->nc, r->op, r->id, status == HS_ECLOSED ? status
                                                               : HS_ESTORAGE,
                     "node %u could not keep this on disk (%s): see its log",
                     node_self(node), disk_dir(node->disk));
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

void op_hold(op_ctx_t *ctx, size_t mark, const store_topic_t *t,
             uint64_t need) {
  node_hold(ctx->nc, ctx->f->op, ctx->f->id, mark, t, need);
}

void node_hold(node_conn_t *nc, uint8_t op, uint32_t id, size_t mark,
               const store_topic_t *t, uint64_t need) {
  hs_node_t *node = nc->node;
  if (!node_durable(node) || nc->conn.out.len <= mark) return;
  req_t *r = req_take(&node->reqs, node);
  if (!r) return; /* answered at once rather than not at all */
  r->id = id;
  r->op = op;
  r->u.held.frame = (buf_t)BUF_INIT;
  if (buf_append(&r->u.held.frame, nc->conn.out.data + mark,
                 nc->conn.out.len - mark)) {
    req_give(&node->reqs, r);
    return;
  }
  nc->conn.out.len = mark;
  r->u.held.need = need;
  r->u.held.name_len = t ? (uint8_t)t->name_len : 0;
  if (t) memcpy(r->u.held.name, t->name, t->name_len);
  r->u.held.wait.done = synced;
  req_attach(r, nc, &nc->reqs);
  disk_wait(node->disk, &r->u.held.wait);
}
