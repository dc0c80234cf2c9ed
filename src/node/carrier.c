/* carrier — membership's transport (cluster/transport.h) over the node's
 * peer links: a request on the link to the member, its answer (or the
 * link's failure) back to the part that sent it, with whether the
 * member's port is closed (refused twice: its process is gone). */
#include <stdlib.h>

#include "node/node.h"

typedef struct sent {
  cluster_reply_fn cb;
  void *ud;
  uint64_t tag;
} sent_t;

static void on_reply(link_t *link, const link_reply_t *reply, void *ud) {
  sent_t s = *(sent_t *)ud;
  free(ud);
  uint32_t from = UINT32_MAX;
  bool open = peers_id(link, &from);
  cluster_reply_t r = {.status = reply->status,
                       .gone = reply->status && link_refused(link) >= 2,
                       .closing = !open};
  if (reply->status == 0 && reply->frame) {
    r.body = reply->frame->body;
    r.len = reply->frame->body_len;
  }
  s.cb(s.ud, s.tag, from, &r);
}

static int carrier_send(void *ud, uint32_t to, uint8_t op, const char *body,
                 size_t len, uint32_t timeout_ms, cluster_reply_fn cb,
                 void *cb_ud, uint64_t tag) {
  hs_node_t *node = ud;
  link_t *link = peers_link(&node->peers, to);
  if (!link) return HS_EUNAVAILABLE;
  sent_t *s = malloc(sizeof *s);
  if (!s) return HS_ENOMEM;
  *s = (sent_t){cb, cb_ud, tag};
  int rc = link_send(link, op, 0, "", 0, body, len, timeout_ms, on_reply, s,
                     NULL);
  if (rc) free(s);
  return rc;
}

static uint64_t loop_now(void *ud) {
  hs_node_t *node = ud;
  return uv_now(node->loop);
}

void carrier_init(hs_node_t *node) {
  node->net = (cluster_net_t){carrier_send, loop_now, node};
}
