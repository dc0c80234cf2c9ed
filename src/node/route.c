/* route — requests travel to the node that owns their key, one cube hop at
 * a time, and replies travel back the same way.
 *
 * A hop re-sends the request frame on its link to the next node with the
 * ROUTED flag and a one-byte hop count in front of the body, and keeps a
 * relay: which connection and request id the reply goes back to. Relays
 * come from a free list, so forwarding allocates nothing per request. A
 * relay whose connection closed is orphaned: its reply is dropped.
 *
 * A relay can instead hold a continuation: the identity lookups a topic's
 * home makes when it does not know a publisher or subscriber yet. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "net/link.h"
#include "proto/msg.h"
#include "cube/cube.h"
#include "node/node.h"

static int send_on(hs_node_t *node, relay_t *r, const wire_frame_t *f,
                   uint8_t hops, uint32_t target, uint32_t came_from,
                   char *msg, size_t msg_len);

/* ---- links ------------------------------------------------------------- */

static void *id_key(uint32_t *id) { return id; }

link_t *route_link(hs_node_t *node, uint32_t peer) {
  link_t *link = map_get(&node->links, id_key(&peer), 4);
  if (link) return link;
  const view_member_t *m = view_find(&node->view, peer);
  if (!m) return NULL;
  buf_t view = BUF_INIT;
  if (view_encode(&node->view, &view)) return NULL;
  const char *addrs[1] = {m->addr};
  link_config_t cfg = {
      .addrs = addrs,
      .n_addrs = 1,
      .timeout_ms = node->cfg.peer_timeout_ms,
      .max_output = node->cfg.max_output,
      .hello = {.role = WIRE_ROLE_PEER,
                .cluster = msg_str(node->cluster, strlen(node->cluster)),
                .node = node->cfg.id,
                .replicas = node->replicas,
                .view = msg_str(view.data, view.len)},
      .flusher = &node->flusher,
  };
  int rc = link_new(node->loop, &cfg, &link);
  buf_free(&view);
  if (rc) return NULL;
  link_set_data(link, node);
  if (map_put(&node->links, id_key(&peer), 4, link)) {
    link_free(link);
    return NULL;
  }
  LOG(&node->log, HS_LOG_INFO, "cluster", "link_opened", LF_UINT("peer", peer),
      LF_STR("addr", m->addr));
  return link;
}

void route_drop_link(hs_node_t *node, uint32_t peer) {
  link_t *link = map_del(&node->links, id_key(&peer), 4);
  /* Its requests fail now (CLOSED), through their callbacks: relayed
   * clients hear of it and retry elsewhere. */
  if (link) link_free(link);
}

void route_close_links(hs_node_t *node) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->links, &i, &k, &kn, &v);) {
    link_set_data(v, NULL); /* replies failing now find no node */
    link_free(v);
  }
  map_free(&node->links);
}

/* ---- relays ------------------------------------------------------------ */

relay_t *route_relay_take(hs_node_t *node) {
  relay_t *r = node->spare_relays;
  if (r)
    node->spare_relays = r->next;
  else if (!(r = malloc(sizeof *r)))
    return NULL;
  memset(r, 0, offsetof(relay_t, key)); /* the key is filled when used */
  return r;
}

void route_relay_attach(relay_t *r, node_conn_t *nc) {
  r->nc = nc;
  r->prev = NULL;
  r->next = nc->relays;
  if (nc->relays) nc->relays->prev = r;
  nc->relays = r;
}

static void relay_detach(relay_t *r) {
  node_conn_t *nc = r->nc;
  if (!nc) return;
  if (r->prev)
    r->prev->next = r->next;
  else
    nc->relays = r->next;
  if (r->next) r->next->prev = r->prev;
  r->nc = NULL;
}

void route_relay_give(hs_node_t *node, relay_t *r) {
  relay_detach(r);
  free(r->frame);
  r->frame = NULL;
  buf_free(&r->names);
  r->next = node->spare_relays;
  node->spare_relays = r;
}

/* Sends a body of str8 subscriber, str8 topic (+ extra) to the topic's
 * home, answer ignored. */
static void send_to_topic_home(hs_node_t *node, uint8_t op, const char *key,
                               size_t key_len, const void *extra,
                               size_t extra_len) {
  size_t sn = (uint8_t)key[0];
  const char *topic = key + 2 + sn;
  size_t tn = (uint8_t)key[1 + sn];
  uint32_t home;
  if (!cluster_copies(node, cube_hash(topic, tn), &home, 1)) return;
  char body[2 + 2 * HS_NAME_MAX + 16];
  memcpy(body, key, key_len);
  if (extra_len) memcpy(body + key_len, extra, extra_len);
  relay_t *r = route_relay_take(node);
  if (!r) return;
  r->node = node;
  r->op = op;
  wire_frame_t f = {.version = HS_WIRE_VERSION,
                    .op = op,
                    .body = body,
                    .body_len = key_len + extra_len};
  char msg[160];
  if (send_on(node, r, &f, 0, home, UINT32_MAX, msg, sizeof msg))
    route_relay_give(node, r);
}

void route_orphan_relays(node_conn_t *nc) {
  while (nc->relays) {
    relay_t *r = nc->relays;
    /* A pull may be parked at the home for this client: release it. */
    if (r->op == WIRE_PULL && r->key_len)
      send_to_topic_home(r->node, WIRE_UNPARK, r->key, r->key_len, NULL, 0);
    relay_detach(r);
  }
}

void route_free_relays(hs_node_t *node) {
  while (node->spare_relays) {
    relay_t *r = node->spare_relays;
    node->spare_relays = r->next;
    free(r);
  }
}

/* ---- forwarding -------------------------------------------------------- */

static void send_to_topic_home(hs_node_t *node, uint8_t op, const char *key,
                               size_t key_len, const void *extra,
                               size_t extra_len);

/* A PULL reply whose client is gone: ask the topic's home to move the
 * cursor back over the messages, if nobody moved it since (REWIND). */
static void rewind_cursor(hs_node_t *node, relay_t *r, const link_reply_t *reply) {
  if (!reply->frame || (reply->frame->flags & WIRE_F_ERROR)) return;
  route_rewind_pull(node, r->key, r->key_len, reply->frame->body,
                    reply->frame->body_len);
}

void route_rewind_pull(hs_node_t *node, const char *key, size_t key_len,
                       const char *body, size_t len) {
  uint32_t count;
  wire_reader_t rd;
  wire_reader_init(&rd, body, len);
  uint64_t first = 0, last = 0, t;
  const char *s;
  size_t n;
  if (!wire_get_u64(&rd, "next", &t) || !wire_get_u32(&rd, "count", &count) ||
      count == 0)
    return;
  for (uint32_t i = 0; i < count; i++) {
    if (!wire_get_u64(&rd, "offset", i ? &last : &first) ||
        !wire_get_u64(&rd, "time", &t) || !wire_get_str8(&rd, "p", &s, &n) ||
        !wire_get_bytes32(&rd, "data", &s, &n))
      return;
  }
  if (count == 1) last = first;
  route_rewind(node, key, key_len, first, last + 1);
}

void route_rewind(hs_node_t *node, const char *key, size_t key_len,
                  uint64_t from, uint64_t expect) {
  uint64_t range[2] = {from, expect};
  send_to_topic_home(node, WIRE_REWIND, key, key_len, range, sizeof range);
  LOG(&node->log, HS_LOG_INFO, "route", "pull_undelivered",
      LF_UINT("from", from), LF_UINT("to", expect - 1));
}

static void on_relayed(link_t *link, const link_reply_t *reply, void *ud) {
  relay_t *r = ud;
  hs_node_t *node = r->node;
  (void)link;
  if (!link_data(link)) { /* the node is closing: just recycle */
    route_relay_give(node, r);
    return;
  }
  node_conn_t *nc = r->nc;
  if (r->claim) { /* a pull this copy serves (read.c) */
    read_claim_done(node, r, reply);
    route_relay_give(node, r);
    return;
  }
  if (r->gather) { /* a part of a LIST_TOPICS */
    list_part_done(node, r, reply);
    route_relay_give(node, r);
    return;
  }
  if (r->frame) { /* a lookup: learn, then run the saved request again */
    route_lookup_done(node, r, reply);
    route_relay_give(node, r);
    return;
  }
  if (!nc && r->op == WIRE_PULL && r->key_len) {
    /* The client left: put back what the home handed out for it. */
    rewind_cursor(node, r, reply);
  } else if (nc) {
    if (reply->frame) {
      /* The reply as it came, under the id our sender used. */
      wire_copy_frame(&nc->conn.out, reply->frame, r->id);
    } else {
      node_reply_error(nc, r->op, r->id, reply->status, "via node %u: %.*s",
                       r->next_hop, (int)reply->message_len, reply->message);
    }
    node_send(nc);
  }
  route_relay_give(node, r);
}

/* How much longer than the peer timeout a request may take: a pull's wait
 * (the last field of PULL, READ and CLAIM). */
static uint32_t extra_wait(const wire_frame_t *f) {
  uint32_t wait = 0;
  if ((f->op == WIRE_PULL || f->op == WIRE_READ || f->op == WIRE_CLAIM) &&
      f->body_len >= 4)
    memcpy(&wait, f->body + f->body_len - 4, 4);
  return wait;
}

uint32_t route_next_hop(hs_node_t *node, uint32_t target, uint32_t came_from) {
  if (node->next_hop_cb) {
    uint32_t n = node->next_hop_cb(node, target, node->next_hop_ud);
    if (n != UINT32_MAX && n != node->cfg.id &&
        view_is_alive(n, &node->view) &&
        cube_distance(n, node->cfg.id) == 1)
      return n;
  }
  return cube_next_hop(node->cfg.id, target, view_dim(&node->view),
                       came_from, view_is_alive, &node->view);
}

static unsigned hop_limit(const hs_node_t *node) {
  return node->cfg.hop_limit ? node->cfg.hop_limit
                             : 2 * view_dim(&node->view) + 2;
}

/* Sends f toward `target` for relay r (already filled but for next_hop).
 * Returns 0, or an error with a message in msg. */
static int send_on(hs_node_t *node, relay_t *r, const wire_frame_t *f,
                   uint8_t hops, uint32_t target, uint32_t came_from,
                   char *msg, size_t msg_len) {
  if (hops >= hop_limit(node)) {
    node->stats.no_route++;
    snprintf(msg, msg_len, "no route to node %u within %u hops", target,
             hop_limit(node));
    return HS_EUNAVAILABLE;
  }
  uint32_t next = route_next_hop(node, target, came_from);
  /* No live neighbour leads on (a sparse cluster, or failures around us):
   * go straight to the target over a link of its own. */
  if (next == UINT32_MAX && view_is_alive(target, &node->view)) next = target;
  if (next == UINT32_MAX) {
    node->stats.no_route++;
    snprintf(msg, msg_len, "no live node leads from node %u to node %u",
             node->cfg.id, target);
    return HS_EUNAVAILABLE;
  }
  link_t *link = route_link(node, next);
  if (!link) {
    snprintf(msg, msg_len, "no link to node %u", next);
    return HS_ENOMEM;
  }
  r->next_hop = next;
  uint8_t h = (uint8_t)(hops + 1);
  uint16_t flags = WIRE_F_ROUTED | (f->flags & WIRE_F_RETRY);
  uint32_t wait = extra_wait(f);
  int rc = link_send(link, f->op, flags, (const char *)&h, 1, f->body,
                     f->body_len, wait ? link_timeout(link) + wait : 0,
                     on_relayed, r);
  if (rc) {
    snprintf(msg, msg_len, "cannot send to node %u: %s", next,
             hs_err_message(rc));
    return rc;
  }
  node->stats.forwards++;
  LOG(&node->log, HS_LOG_DEBUG, "route", "forwarded",
      LF_STR("op", wire_op_name(f->op)), LF_UINT("to", next),
      LF_UINT("target", target), LF_UINT("hops", h));
  return 0;
}

void route_forward(node_conn_t *nc, const wire_frame_t *f, uint8_t hops,
                   uint32_t target) {
  hs_node_t *node = nc->node;
  relay_t *r = route_relay_take(node);
  if (!r) {
    node_reply_error(nc, f->op, f->id, HS_ENOMEM, "the node is out of memory");
    return;
  }
  r->node = node;
  r->id = f->id;
  r->op = f->op == WIRE_READ ? WIRE_PULL : f->op; /* answered as a PULL */
  if (r->op == WIRE_PULL) { /* keep who pulls what, to rewind if need be */
    wire_reader_t rd;
    const char *a, *b;
    size_t an, bn;
    size_t skip = f->op == WIRE_READ ? 4 : 0; /* READ's u32 server */
    wire_reader_init(&rd, f->body + skip, f->body_len - skip);
    if (wire_get_str8(&rd, "subscriber", &a, &an) &&
        wire_get_str8(&rd, "topic", &b, &bn)) {
      r->key_len = (uint16_t)(2 + an + bn);
      memcpy(r->key, f->body + skip, r->key_len);
    }
  }
  char msg[160];
  int rc = send_on(node, r, f, hops, target,
                   nc->role == WIRE_ROLE_PEER ? nc->peer_id : UINT32_MAX, msg,
                   sizeof msg);
  if (rc) {
    route_relay_give(node, r);
    node_reply_error(nc, f->op, f->id, rc, "%s", msg);
    return;
  }
  route_relay_attach(r, nc);
}

int route_send_part(hs_node_t *node, relay_t *part, uint8_t op,
                    const char *body, size_t len, uint32_t target) {
  char msg[160];
  return route_send(node, part, op, 0, body, len, target, msg, sizeof msg);
}

int route_send(hs_node_t *node, relay_t *r, uint8_t op, uint16_t flags,
               const char *body, size_t len, uint32_t target, char *msg,
               size_t msg_len) {
  wire_frame_t f = {.version = HS_WIRE_VERSION,
                    .op = op,
                    .flags = flags,
                    .body = body,
                    .body_len = len};
  return send_on(node, r, &f, 0, target, UINT32_MAX, msg, msg_len);
}

/* ---- identity lookups --------------------------------------------------- */

int route_lookup(node_conn_t *nc, const wire_frame_t *f, uint8_t kind,
                 const char *id, size_t n) {
  hs_node_t *node = nc->node;
  relay_t *r = route_relay_take(node);
  if (!r) return HS_ENOMEM;
  r->node = node;
  r->id = f->id;
  r->op = f->op;
  r->hops = nc->hops;
  /* The request's body, to run it again once the answer is in. */
  r->frame_len = f->body_len;
  r->frame = malloc(r->frame_len ? r->frame_len : 1);
  if (!r->frame) {
    route_relay_give(node, r);
    return HS_ENOMEM;
  }
  memcpy(r->frame, f->body, f->body_len);
  char body[2 + HS_NAME_MAX];
  body[0] = (char)kind;
  body[1] = (char)n;
  memcpy(body + 2, id, n);
  wire_frame_t lookup = {.version = HS_WIRE_VERSION,
                         .op = WIRE_LOOKUP,
                         .id = f->id,
                         .body = body,
                         .body_len = 2 + n};
  char msg[160];
  int rc = send_on(node, r, &lookup, 0, route_identity_home(node, kind, id, n),
                   UINT32_MAX, msg, sizeof msg);
  if (rc) {
    route_relay_give(node, r);
    return rc;
  }
  route_relay_attach(r, nc);
  node->suspended = true;
  return 0;
}

void route_lookup_done(hs_node_t *node, relay_t *r, const link_reply_t *reply) {
  node_conn_t *nc = r->nc;
  wire_reader_t rd;
  const char *body = r->frame;
  size_t body_len = r->frame_len;
  /* Learn a positive answer: identities are never deleted, so it stays
   * true. The saved request names the identity in its first field. */
  msg_exists_t answer = {0};
  wire_reader_t ar;
  if (reply->status == 0) {
    wire_reader_init(&ar, reply->frame->body, reply->frame->body_len);
    if (!msg_exists_get(&ar, &answer)) answer.exists = 0;
  }
  bool exists = answer.exists == 1;
  if (exists) {
    const char *id;
    size_t n;
    wire_reader_init(&rd, body, body_len);
    if (wire_get_str8(&rd, "id", &id, &n)) {
      bool pub = r->op == WIRE_CREATE_TOPIC || r->op == WIRE_DELETE_TOPIC ||
                 r->op == WIRE_PUBLISH;
      if (pub)
        store_publisher_create(&node->store, id, n);
      else
        store_subscriber_create(&node->store, id, n);
    }
  }
  if (!nc) return;
  if (reply->status) {
    node_reply_error(nc, r->op, r->id, reply->status,
                     "could not check the identity with its home: %.*s",
                     (int)reply->message_len, reply->message);
    node_send(nc);
    return;
  }
  wire_frame_t f = {.version = HS_WIRE_VERSION,
                    .op = r->op,
                    .flags = 0,
                    .id = r->id,
                    .body = body,
                    .body_len = body_len};
  relay_detach(r);
  ops_run(nc, &f, r->hops, true);
}

uint32_t route_identity_home(const hs_node_t *node, uint8_t kind,
                             const char *id, size_t n) {
  return place_home(&node->view, node->replicas, place_identity(kind, id, n),
                    node->cfg.id);
}
