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

#include "cube/cube.h"
#include "node/node.h"
#include "core/hash.h"
#include "node/repl.h"

/* ---- choosing the copy --------------------------------------------------- */

static uint64_t *reads_slot(hs_node_t *node, uint32_t id) {
  uint64_t *slot = map_get(&node->reads_sent, &id, 4);
  if (slot) return slot;
  slot = calloc(1, sizeof *slot);
  if (slot && map_put(&node->reads_sent, &id, 4, slot)) {
    free(slot);
    slot = NULL;
  }
  return slot;
}

/* Itself if it holds a copy, else the nearest copy; among equally near
 * ones the subscriber's hash picks, so different subscribers spread. */
static size_t default_choice(const hs_node_t *node, const uint32_t *ids,
                             const uint32_t *hops, size_t n, const char *sid,
                             size_t sn) {
  unsigned best = UINT32_MAX;
  size_t ties = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] == node->cfg.id) return i;
    if (hops[i] < best) {
      best = hops[i];
      ties = 0;
    }
    if (hops[i] == best) ties++;
  }
  size_t pick = (size_t)(hash_fnv1a(HASH_FNV_INIT, sid, sn) % ties);
  for (size_t i = 0; i < n; i++)
    if (hops[i] == best && pick-- == 0) return i;
  return 0;
}

uint32_t read_choose(hs_node_t *node, const wire_frame_t *pull) {
  wire_reader_t r;
  const char *sid, *topic;
  size_t sn, tn;
  wire_reader_init(&r, pull->body, pull->body_len);
  if (!wire_get_str8(&r, "subscriber", &sid, &sn) ||
      !wire_get_str8(&r, "topic", &topic, &tn))
    return UINT32_MAX; /* malformed: the home says what is wrong */
  uint32_t ids[HS_REPL_MAX + 1], hops[HS_REPL_MAX + 1];
  uint64_t reads[HS_REPL_MAX + 1];
  size_t n = cluster_copies(node, cube_hash(topic, tn), ids, HS_REPL_MAX + 1);
  if (n == 0) return UINT32_MAX;
  for (size_t i = 0; i < n; i++) {
    hops[i] = cube_distance(node->cfg.id, ids[i]);
    uint64_t *slot = map_get(&node->reads_sent, &ids[i], 4);
    reads[i] = slot ? *slot : 0;
  }
  size_t pick = n;
  if (node->read_replica_cb) {
    uint32_t want = node->read_replica_cb(node, topic, tn, ids, hops, reads,
                                          n, node->read_replica_ud);
    for (size_t i = 0; i < n && pick == n; i++)
      if (ids[i] == want) pick = i;
    uint32_t suppressed;
    if (pick == n && want != UINT32_MAX &&
        log_limit_allow(&node->read_limit, log_now_ms(), &suppressed))
      LOG(&node->log, HS_LOG_WARN, "read", "policy_ignored",
          LF_STRN("topic", topic, tn), LF_UINT("answer", want),
          LF_STR("why", "not a live copy of the topic"),
          LF_UINT("suppressed", suppressed));
  }
  if (pick == n) pick = default_choice(node, ids, hops, n, sid, sn);
  uint64_t *slot = reads_slot(node, ids[pick]);
  if (slot) ++*slot;
  return ids[pick];
}

void read_forward(node_conn_t *nc, const wire_frame_t *pull, uint8_t hops,
                  uint32_t server) {
  /* A READ body is the server's id, then the PULL body (at most two
   * names and 16 bytes, checked by the frame's own lengths). */
  char body[4 + 2 + 2 * HS_NAME_MAX + 4 + 8 + 4];
  if (pull->body_len > sizeof body - 4) {
    node_reply_error(nc, pull->op, pull->id, HS_EINVALID,
                     "malformed pull request: %zu bytes is too long",
                     pull->body_len);
    return;
  }
  memcpy(body, &server, 4);
  memcpy(body + 4, pull->body, pull->body_len);
  wire_frame_t f = *pull;
  f.op = WIRE_READ;
  f.body = body;
  f.body_len = 4 + pull->body_len;
  route_forward(nc, &f, hops, server);
}

void read_free(hs_node_t *node) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->reads_sent, &i, &k, &kn, &v);) free(v);
  map_free(&node->reads_sent);
}

/* ---- serving from a copy ------------------------------------------------- */

void read_from_copy(node_conn_t *nc, const wire_frame_t *f,
                    store_topic_t *t, const char *sid, size_t sn,
                    uint32_t max, uint64_t seen, uint32_t wait_ms) {
  hs_node_t *node = nc->node;
  uint32_t home;
  if (!cluster_copies(node, cube_hash(t->name, t->name_len), &home, 1))
    return node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                            "topic \"%s\" has no live home", t->name);
  relay_t *r = route_relay_take(node);
  if (!r)
    return node_reply_error(nc, f->op, f->id, HS_ENOMEM,
                            "the node is out of memory");
  r->node = node;
  r->id = f->id;
  r->op = WIRE_PULL;
  r->claim = true;
  r->max = max;
  /* The key (str8 subscriber, str8 topic) starts the CLAIM body too. */
  char *k = r->key;
  *k++ = (char)sn;
  memcpy(k, sid, sn);
  k += sn;
  *k++ = (char)t->name_len;
  memcpy(k, t->name, t->name_len);
  k += t->name_len;
  r->key_len = (uint16_t)(k - r->key);
  char body[sizeof r->key + 4 + 8 + 8 + 4 + 8 + 4];
  size_t len = r->key_len;
  memcpy(body, r->key, len);
  memcpy(body + len, &node->cfg.id, 4);
  memcpy(body + len + 4, &t->first, 8);
  memcpy(body + len + 12, &t->next, 8);
  memcpy(body + len + 20, &max, 4);
  memcpy(body + len + 24, &seen, 8);
  memcpy(body + len + 32, &wait_ms, 4);
  len += 36;
  char msg[160];
  int rc = route_send(node, r, WIRE_CLAIM, f->flags & WIRE_F_RETRY, body,
                      len, home, msg, sizeof msg);
  if (rc) {
    route_relay_give(node, r);
    return node_reply_error(nc, f->op, f->id, rc, "%s", msg);
  }
  route_relay_attach(r, nc);
}

/* Writes a PULL reply of the records [from, from + count) of this copy.
 * False when the copy no longer holds them all (dropped or trimmed since
 * it asked): the caller gives the claim back. */
static bool serve(hs_node_t *node, node_conn_t *nc, uint32_t id,
                  store_topic_t *t, uint64_t from, uint32_t count,
                  const relay_t *r) {
  if (!t || t->first > from || t->next < from + count) return false;
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, WIRE_PULL, WIRE_F_REPLY, id);
  uint64_t next;
  uint32_t n = ops_put_messages(node, &w, t, from, from + count, count, &next);
  wire_end(&w);
  /* The home sized the range to fit a frame with the same records, so
   * n == count; if not, what did not fit goes back. */
  if (n < count) route_rewind(node, r->key, r->key_len, next, from + count);
  node->stats.replica_reads++;
  return true;
}

void read_claim_done(hs_node_t *node, relay_t *r, const link_reply_t *reply) {
  node_conn_t *nc = r->nc;
  if (reply->status) {
    if (nc)
      node_reply_error(nc, WIRE_PULL, r->id, reply->status,
                       "via node %u, claiming the cursor at the topic's "
                       "home: %.*s",
                       r->next_hop, (int)reply->message_len, reply->message);
    if (nc) node_send(nc);
    return;
  }
  wire_reader_t rd;
  wire_reader_init(&rd, reply->frame->body, reply->frame->body_len);
  uint8_t served_at_home;
  uint64_t from;
  uint32_t count;
  if (!wire_get_u8(&rd, "mode", &served_at_home) ||
      (!served_at_home && (!wire_get_u64(&rd, "from", &from) ||
                           !wire_get_u32(&rd, "count", &count)))) {
    if (nc) {
      node_reply_error(nc, WIRE_PULL, r->id, HS_EPROTOCOL,
                       "the topic's home answered the claim with a "
                       "malformed frame (field \"%s\")", rd.bad);
      node_send(nc);
    }
    return;
  }
  if (served_at_home) { /* this copy lacked them: the home sent them */
    size_t len = (size_t)(rd.end - rd.p);
    if (!nc) return route_rewind_pull(node, r->key, r->key_len, rd.p, len);
    wire_writer_t w;
    wire_begin(&w, &nc->conn.out, WIRE_PULL, WIRE_F_REPLY, r->id);
    wire_put(&w, rd.p, len);
    wire_end(&w);
    node->stats.frames_out++;
    node_send(nc);
    return;
  }
  const char *topic = r->key + 2 + (uint8_t)r->key[0];
  store_topic_t *t = store_topic_find(&node->store, topic,
                                      (uint8_t)r->key[1 + (uint8_t)r->key[0]]);
  if (!nc) {
    if (count) route_rewind(node, r->key, r->key_len, from, from + count);
    return;
  }
  if (!serve(node, nc, r->id, t, from, count, r)) {
    if (count) route_rewind(node, r->key, r->key_len, from, from + count);
    node_reply_error(nc, WIRE_PULL, r->id, HS_EUNAVAILABLE,
                     "node %u's copy of the topic changed while serving the "
                     "pull; try again",
                     node->cfg.id);
  }
  node->stats.frames_out++;
  node_send(nc);
}
