/* read — pulls served by any live copy of their topic, not only its home.
 *
 * The node a pull enters picks the copy that serves it: the node's
 * read_replica policy, else itself when it holds a copy, else the nearest
 * copy (ties split by subscriber, so subscribers spread). A copy that is
 * not the home does not own the cursor. It sends CLAIM to the home, which
 * runs the cursor logic a pull there would run (catching up with what the
 * client has seen, waiting for news) and moves the cursor over the
 * offsets the copy may hand out: committed ones the copy holds. The copy
 * then sends those records from its own log, byte-identical to the
 * home's. With one owner of the cursor, a subscriber sees the home's
 * sequence whichever copy serves it; across a failover the client's
 * `seen` aligns the new home's cursor as for any pull. The data leaves
 * from the copy; only the small claim crosses to the home. */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "cube/cube.h"
#include "node/node.h"

/* ---- choosing the copy ------------------------------------------------------ */

static uint64_t *reads_slot(reads_t *rd, uint32_t id) {
  uint64_t *slot = map_get(&rd->sent, &id, 4);
  if (slot) return slot;
  slot = calloc(1, sizeof *slot);
  if (slot && map_put(&rd->sent, &id, 4, slot)) {
    free(slot);
    slot = NULL;
  }
  return slot;
}

/* Itself if it holds a copy, else the nearest copy; among equally near
 * ones the subscriber's hash picks, so different subscribers spread. */
static size_t default_choice(uint32_t self, const uint32_t *ids,
                             const uint32_t *hops, size_t n, msg_str_t sid) {
  unsigned best = UINT32_MAX;
  size_t ties = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] == self) return i;
    if (hops[i] < best) {
      best = hops[i];
      ties = 0;
    }
    if (hops[i] == best) ties++;
  }
  size_t pick = (size_t)(hash_fnv1a(HASH_FNV_INIT, sid.s, sid.n) % ties);
  for (size_t i = 0; i < n; i++)
    if (hops[i] == best && pick-- == 0) return i;
  return 0;
}

/* The policy's choice among the n candidates, or n for the default. */
static size_t policy_choice(hs_node_t *node, const msg_pull_t *pull,
                            const uint32_t *ids, const uint32_t *hops,
                            size_t n) {
  reads_t *rd = &node->reads;
  uint64_t reads[PLACE_COPIES_MAX];
  for (size_t i = 0; i < n; i++) {
    uint64_t *slot = map_get(&rd->sent, &ids[i], 4);
    reads[i] = slot ? *slot : 0;
  }
  uint32_t want = rd->cb(node, pull->topic.s, pull->topic.n, ids, hops, reads,
                         n, rd->ud);
  for (size_t i = 0; i < n; i++)
    if (ids[i] == want) return i;
  uint32_t suppressed;
  if (want != UINT32_MAX &&
      log_limit_allow(&rd->ignored_limit, log_now_ms(), &suppressed))
    LOG(&node->log, HS_LOG_WARN, "read", "policy_ignored",
        LF_STRN("topic", pull->topic.s, pull->topic.n), LF_UINT("answer", want),
        LF_STR("why", "not a live copy of the topic"),
        LF_UINT("suppressed", suppressed));
  return n;
}

uint32_t read_choose(hs_node_t *node, const msg_pull_t *pull) {
  uint32_t ids[PLACE_COPIES_MAX], hops[PLACE_COPIES_MAX];
  size_t n = cluster_copies(&node->cluster,
                            place_topic(pull->topic.s, pull->topic.n), ids,
                            PLACE_COPIES_MAX);
  if (n == 0) return UINT32_MAX;
  for (size_t i = 0; i < n; i++) hops[i] = cube_distance(node_self(node), ids[i]);
  size_t pick = node->reads.cb ? policy_choice(node, pull, ids, hops, n) : n;
  if (pick == n)
    pick = default_choice(node_self(node), ids, hops, n, pull->subscriber);
  uint64_t *slot = reads_slot(&node->reads, ids[pick]);
  if (slot) ++*slot;
  return ids[pick];
}

void read_forward(op_ctx_t *ctx, const msg_pull_t *pull, uint32_t server) {
  buf_t body = BUF_INIT;
  wire_writer_t w = {.b = &body};
  msg_read_t m = {server, *pull};
  msg_read_put(&w, &m);
  if (w.err) return op_out_of_memory(ctx);
  wire_frame_t f;
  op_ctx_t sub;
  op_ctx_reframe(ctx, WIRE_READ, &body, &f, &sub);
  sub.m.read = m;
  route_forward(&sub, server);
  buf_free(&body);
}


/* ---- serving from a copy ----------------------------------------------------- */

/* Writes a PULL answer of the records [from, from + count) of this copy.
 * False when the copy no longer holds them all (dropped or trimmed since
 * it asked): the caller gives the claim back. */
static bool serve(hs_node_t *node, node_conn_t *nc, req_t *r,
                  store_topic_t *t, uint64_t from, uint32_t count) {
  if (!t || t->first > from || t->next < from + count) return false;
  uint64_t next;
  uint32_t n = messages_reply(nc, WIRE_PULL, r->id, t, from, from + count,
                              count, &next);
  /* The home sized the range to fit a frame with the same records, so
   * n == count; if not, what did not fit goes back. */
  if (n < count) route_rewind(node, &r->u.claim.key, next, from + count);
  node->stats.replica_reads++;
  return true;
}

/* The home served the messages itself (this copy lacked them): passed on,
 * or given back when the client left. */
static void pass_on(req_t *r, const msg_claim_reply_t *c) {
  node_conn_t *nc = r->nc;
  if (!nc) return route_rewind_pull(r->node, &r->u.claim.key, c->body.s,
                                    c->body.n);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, WIRE_PULL, WIRE_F_REPLY, r->id);
  wire_put(&w, c->body.s, c->body.n);
  node_reply_end(nc, &w);
  r->node->stats.frames_out++;
}

/* The range the home granted: served from this copy, or given back when
 * the client left or the copy no longer holds it. */
static void serve_range(req_t *r, const msg_claim_reply_t *c) {
  hs_node_t *node = r->node;
  node_conn_t *nc = r->nc;
  const char *sid, *topic;
  size_t sn, tn;
  req_key_parts(&r->u.claim.key, &sid, &sn, &topic, &tn);
  store_topic_t *t = store_topic_find(&node->store, topic, tn);
  if (nc && serve(node, nc, r, t, c->from, c->count)) {
    node->stats.frames_out++;
    return;
  }
  if (c->count) route_rewind(node, &r->u.claim.key, c->from, c->from + c->count);
  if (!nc) return;
  node_reply_error(nc, WIRE_PULL, r->id, HS_EUNAVAILABLE,
                   "node %u's copy of the topic changed while serving the "
                   "pull; try again",
                   node_self(node));
  node->stats.frames_out++;
}

/* The home's answer to a CLAIM. */
static void claimed(req_t *r, const link_reply_t *reply) {
  hs_node_t *node = r->node;
  node_conn_t *nc = r->nc;
  wire_reader_t rd;
  msg_claim_reply_t c;
  if (reply->status) {
    if (nc)
      node_reply_error(nc, WIRE_PULL, r->id, reply->status,
                       "via node %u, claiming the cursor at the topic's home: "
                       "%.*s",
                       r->next_hop, (int)reply->message_len, reply->message);
  } else {
    wire_reader_init(&rd, reply->frame->body, reply->frame->body_len);
    if (!msg_claim_reply_get(&rd, &c)) {
      if (nc)
        node_reply_error(nc, WIRE_PULL, r->id, HS_EPROTOCOL,
                         "the topic's home answered the claim with a "
                         "malformed frame (field \"%s\")",
                         rd.bad);
    } else if (c.served_at_home) {
      pass_on(r, &c);
    } else {
      serve_range(r, &c);
    }
  }
  if (nc) node_send(nc);
  req_give(&node->reqs, r);
}

/* The pull's client left (or this node is leaving): the claim parked at
 * the home is answered now, not at the end of its wait; a range it grants
 * meanwhile is given back (serve_range). */
static void claim_orphaned(req_t *r) { route_unpark(r->node, &r->u.claim.key); }

void read_from_copy(op_ctx_t *ctx, store_topic_t *t, const msg_pull_t *pull,
                    uint32_t max) {
  hs_node_t *node = ctx->nc->node;
  uint32_t home;
  if (!cluster_copies(&node->cluster, place_topic(t->name, t->name_len), &home,
                      1))
    return op_error(ctx, HS_EUNAVAILABLE, "topic \"%s\" has no live home",
                    t->name);
  req_t *r = req_take(&node->reqs, node);
  if (!r) return op_out_of_memory(ctx);
  r->id = ctx->f->id;
  r->op = WIRE_PULL;
  r->done = claimed;
  r->orphaned = claim_orphaned;
  r->u.claim.max = max;
  req_key_set(&r->u.claim.key, pull->subscriber.s, pull->subscriber.n, t->name,
              t->name_len);
  msg_claim_t m = {pull->subscriber, msg_str(t->name, t->name_len),
                   node_self(node), t->first, t->next, max, pull->seen,
                   pull->wait_ms};
  buf_t body = BUF_INIT;
  wire_writer_t w = {.b = &body};
  msg_claim_put(&w, &m);
  char msg[160];
  int rc = w.err ? HS_ENOMEM
                 : route_send(node, r, WIRE_CLAIM, ctx->f->flags & WIRE_F_RETRY,
                              body.data, body.len, home, msg, sizeof msg);
  buf_free(&body);
  if (rc) {
    req_give(&node->reqs, r);
    return op_error(ctx, rc, "%s", rc == HS_ENOMEM && w.err ? "out of memory"
                                                            : msg);
  }
  req_attach(r, ctx->nc, &ctx->nc->reqs);
}
