/* health — failure detection and the spreading of view changes.
 *
 * Every heartbeat_ms a node pings the peers it watches: its live cube
 * neighbours, the nearest live members when it has fewer than two
 * neighbours, and whoever pinged it lately (so watching is mutual even in
 * sparse clusters). Any answer or ping from a peer counts as hearing from
 * it. A watched peer silent for suspect_ms is SUSPECT (it still serves:
 * placement does not move, so a short stall costs nothing); silent for
 * dead_ms it is DEAD, and its topics move to the next nodes of their
 * preference lists.
 *
 * A PING carries the sender's view digest; the answer carries the
 * receiver's, and its whole view when they differ. A decision made here is
 * pushed to every live member at once (GOSSIP); the digests in pings mend
 * whatever a push missed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/link.h"
#include "cube/cube.h"
#include "node/node.h"

#define BOOT_GRACE 10

typedef struct health_peer {
  uint32_t id;
  uint64_t last_heard; /* uv_now ms */
  uint64_t pinged_ms;  /* when it last pinged us; 0: never */
  bool in_flight;      /* a ping of ours awaits its answer */
  bool heard_once;     /* it answered since this node started */
  bool watched;        /* set by the last tick */
  bool was_watched;    /* set by the tick before */
  uint64_t probed_ms;  /* a dead member: when we last pinged it */
} health_peer_t;

static health_peer_t *peer_of(hs_node_t *node, uint32_t id) {
  for (size_t i = 0; i < node->n_watch; i++)
    if (node->watch[i].id == id) return &node->watch[i];
  if (node->n_watch == node->cap_watch) {
    size_t cap = node->cap_watch ? node->cap_watch * 2 : 16;
    health_peer_t *w = realloc(node->watch, cap * sizeof *w);
    if (!w) return NULL;
    node->watch = w;
    node->cap_watch = cap;
  }
  health_peer_t *p = &node->watch[node->n_watch++];
  *p = (health_peer_t){.id = id, .last_heard = uv_now(node->loop)};
  return p;
}

static void heard(hs_node_t *node, uint32_t id) {
  health_peer_t *p = peer_of(node, id);
  if (p) {
    p->last_heard = uv_now(node->loop);
    p->heard_once = true;
  }
  const view_member_t *m = view_find(&node->view, id);
  /* We suspected it and it spoke: take the suspicion back ourselves. */
  if (m && m->state == VIEW_SUSPECT) cluster_set_state(node, id, VIEW_ALIVE);
}

static bool serves(const view_member_t *m) {
  return m->state == VIEW_ALIVE || m->state == VIEW_SUSPECT;
}

/* Marks the peers to watch this tick. */
static void choose_watched(hs_node_t *node, uint64_t now) {
  uint32_t self = node->cfg.id;
  size_t neighbours = 0;
  for (size_t i = 0; i < node->n_watch; i++) {
    node->watch[i].was_watched = node->watch[i].watched;
    node->watch[i].watched = false;
  }
  for (size_t i = 0; i < node->view.n; i++) {
    const view_member_t *m = &node->view.members[i];
    if (m->id == self || !serves(m)) continue;
    health_peer_t *p = NULL;
    if (cube_distance(m->id, self) == 1) {
      neighbours++;
      p = peer_of(node, m->id);
    } else {
      for (size_t j = 0; j < node->n_watch; j++)
        if (node->watch[j].id == m->id &&
            node->watch[j].pinged_ms &&
            now - node->watch[j].pinged_ms < node->cfg.dead_ms)
          p = &node->watch[j];
    }
    if (p) p->watched = true;
  }
  /* Fewer than two neighbours: also watch the nearest other members. */
  for (size_t want = neighbours; want < 2; want++) {
    const view_member_t *best = NULL;
    for (size_t i = 0; i < node->view.n; i++) {
      const view_member_t *m = &node->view.members[i];
      if (m->id == self || !serves(m) || cube_distance(m->id, self) == 1)
        continue;
      health_peer_t *p = peer_of(node, m->id);
      if (!p || p->watched) continue;
      uint64_t key = ((uint64_t)cube_distance(m->id, self) << 32) | m->id;
      if (!best ||
          key < (((uint64_t)cube_distance(best->id, self) << 32) | best->id))
        best = m;
    }
    if (!best) break;
    peer_of(node, best->id)->watched = true;
  }
  /* Silence counts from when watching began: a peer known from an old
   * HELLO but not watched since is not silent, merely unasked. */
  for (size_t i = 0; i < node->n_watch; i++) {
    health_peer_t *p = &node->watch[i];
    if (p->watched && !p->was_watched && p->last_heard < now) {
      p->last_heard = now;
      p->in_flight = false;
    }
  }
}

static void on_pong(link_t *link, const link_reply_t *reply, void *ud);

static void send_ping(hs_node_t *node, health_peer_t *p) {
  link_t *link = route_link(node, p->id);
  if (!link) return;
  uint64_t body[2] = {node->view.epoch, view_digest(&node->view)};
  if (link_send(link, WIRE_PING, 0, (const char *)body, sizeof body, NULL, 0,
                0, on_pong, (void *)(uintptr_t)p->id))
    return;
  p->in_flight = true;
  node->stats.heartbeats++;
  node->stats.heartbeat_bytes += WIRE_HEADER + sizeof body;
}

/* Members this node holds dead are pinged once per dead time: a healed
 * partition or a node that was only stalled answers, the views meet in
 * the answer, and whoever finds itself dead says otherwise. */
static void probe_dead(hs_node_t *node, uint64_t now) {
  if (node->leaving) return;
  for (size_t i = 0; i < node->view.n; i++) {
    const view_member_t *m = &node->view.members[i];
    if (m->state != VIEW_DEAD || m->id == node->cfg.id) continue;
    health_peer_t *p = peer_of(node, m->id);
    if (!p || p->in_flight || now - p->probed_ms < node->cfg.dead_ms) continue;
    p->probed_ms = now;
    send_ping(node, p);
  }
}

static void on_tick(uv_timer_t *timer) {
  hs_node_t *node = timer->data;
  uint64_t now = uv_now(node->loop);
  choose_watched(node, now);
  /* Decisions change the view (and may grow node->watch): act on a copy
   * of the ids first. */
  for (size_t i = 0; i < node->n_watch; i++) {
    health_peer_t p = node->watch[i];
    if (!p.watched) continue;
    const view_member_t *m = view_find(&node->view, p.id);
    if (!m) continue;
    uint64_t silent = now - p.last_heard;
    /* A member never heard from may still be starting (a cluster comes up
     * one process at a time): while this node is young, such a member
     * gets BOOT_GRACE dead times more. */
    if (!p.heard_once &&
        now - node->health_started_ms < (uint64_t)BOOT_GRACE * node->cfg.dead_ms) {
      uint64_t grace = (uint64_t)BOOT_GRACE * node->cfg.dead_ms;
      silent = silent > grace ? silent - grace : 0;
    }
    if (silent >= node->cfg.dead_ms && m->state != VIEW_DEAD) {
      node->stats.failures++;
      cluster_set_state(node, p.id, VIEW_DEAD);
      continue;
    }
    if (silent >= node->cfg.suspect_ms && m->state == VIEW_ALIVE)
      cluster_set_state(node, p.id, VIEW_SUSPECT);
  }
  for (size_t i = 0; i < node->n_watch; i++) {
    health_peer_t *p = &node->watch[i];
    const view_member_t *m = view_find(&node->view, p->id);
    /* A leaving node stops pinging: its links drain before it stops. */
    if (p->watched && !p->in_flight && m && serves(m) && !node->leaving)
      send_ping(node, p);
  }
  probe_dead(node, now);
  repl_retry(node);
  member_tick(node);
}

void health_start(hs_node_t *node) {
  /* Everyone gets a full timeout from now: a start is not a silence. */
  uint64_t now = uv_now(node->loop);
  node->health_started_ms = now;
  for (size_t i = 0; i < node->n_watch; i++) {
    node->watch[i].last_heard = now;
    node->watch[i].in_flight = false;
    node->watch[i].heard_once = false;
  }
  /* The first round goes out at once: peers hear of us early. */
  uv_timer_start(&node->heartbeat_timer, on_tick, 0, node->cfg.heartbeat_ms);
}

void health_stop(hs_node_t *node) { uv_timer_stop(&node->heartbeat_timer); }

void health_heard(hs_node_t *node, uint32_t id) {
  if (view_find(&node->view, id)) heard(node, id);
}

void health_stats_json(hs_node_t *node, buf_t *out) {
  size_t watched = 0, unheard = 0;
  for (size_t i = 0; i < node->n_watch; i++) {
    if (!node->watch[i].watched) continue;
    watched++;
    unheard += !node->watch[i].heard_once;
  }
  char tmp[96];
  int n = snprintf(tmp, sizeof tmp, ",\"watching\":%zu,\"unheard\":%zu",
                   watched, unheard);
  buf_append(out, tmp, (size_t)n);
}

void health_free(hs_node_t *node) {
  free(node->watch);
  node->watch = NULL;
  node->n_watch = node->cap_watch = 0;
}

/* ---- the messages -------------------------------------------------------- */

static void push_view(hs_node_t *node, uint32_t to) {
  link_t *link = route_link(node, to);
  buf_t b = BUF_INIT;
  if (link && view_encode(&node->view, &b) == 0 &&
      link_send(link, WIRE_GOSSIP, 0, b.data, b.len, NULL, 0, 0,
                      on_pong, (void *)(uintptr_t)UINT32_MAX) == 0)
    node->stats.heartbeat_bytes += WIRE_HEADER + b.len;
  buf_free(&b);
}

void health_spread(hs_node_t *node) {
  for (size_t i = 0; i < node->view.n; i++) {
    const view_member_t *m = &node->view.members[i];
    if (m->id != node->cfg.id && serves(m)) push_view(node, m->id);
  }
}

/* An answer to a ping (ud: the peer) or to a gossip push (ud: UINT32_MAX):
 * u64 epoch, u64 digest, then the peer's view when ours differed. */
static void on_pong(link_t *link, const link_reply_t *reply, void *ud) {
  hs_node_t *node = link_data(link);
  uint32_t from = (uint32_t)(uintptr_t)ud;
  if (!node) return; /* the node is closing */
  health_peer_t *p = from == UINT32_MAX ? NULL : peer_of(node, from);
  if (p) p->in_flight = false;
  if (reply->status && p && p->watched && p->heard_once &&
      link_refused(link) >= 2) {
    /* Twice no listener on its port, a heartbeat apart, where it answered
     * before: its process is gone (a stalled one still accepts). No need
     * to wait for dead_ms. One never heard from may not listen yet. */
    const view_member_t *m = view_find(&node->view, from);
    if (m && m->state != VIEW_DEAD && m->state != VIEW_LEFT) {
      LOG(&node->log, HS_LOG_WARN, "cluster", "peer_gone",
          LF_UINT("peer", from), LF_STR("why", "connection refused twice"));
      node->stats.failures++;
      cluster_set_state(node, from, VIEW_DEAD);
    }
    return;
  }
  if (reply->status || !reply->frame || from == UINT32_MAX) return;
  node->stats.heartbeat_bytes += WIRE_HEADER + reply->frame->body_len;
  wire_reader_t r;
  uint64_t epoch, digest;
  wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
  if (!wire_get_u64(&r, "epoch", &epoch) ||
      !wire_get_u64(&r, "digest", &digest))
    return;
  heard(node, from);
  if (r.p < r.end) { /* its view follows (wire_reader_done would mark r bad) */
    view_t theirs;
    if (view_decode(&r, &theirs)) return;
    cluster_merge(node, &theirs, from);
    view_free(&theirs);
  }
  /* We know something it does not: tell it. */
  if (view_digest(&node->view) != digest) push_view(node, from);
}

static bool from_peer(node_conn_t *nc, const wire_frame_t *f) {
  if (nc->role == WIRE_ROLE_PEER) return true;
  node_reply_error(nc, f->op, f->id, HS_EDENIED, "only peers send %s",
                   wire_op_name(f->op));
  return false;
}

/* PING: u64 epoch, u64 digest. */
void health_op_ping(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r) {
  hs_node_t *node = nc->node;
  uint64_t epoch, digest;
  if (!from_peer(nc, f)) return;
  if (!wire_get_u64(r, "epoch", &epoch) ||
      !wire_get_u64(r, "digest", &digest) || !wire_reader_done(r))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed ping: field \"%s\"", r->bad);
  health_peer_t *p = peer_of(node, nc->peer_id);
  if (p) p->pinged_ms = uv_now(node->loop);
  if (view_find(&node->view, nc->peer_id)) heard(node, nc->peer_id);
  uint64_t mine = view_digest(&node->view);
  size_t at = nc->conn.out.len;
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u64(&w, node->view.epoch);
  wire_put_u64(&w, mine);
  if (mine != digest && view_encode(&node->view, w.b)) w.err = HS_ENOMEM;
  wire_end(&w);
  node->stats.heartbeat_bytes += nc->conn.out.len - at + WIRE_HEADER + 16;
}

/* GOSSIP: a view; the answer is a pong without a view. */
void health_op_gossip(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r) {
  hs_node_t *node = nc->node;
  view_t theirs;
  if (!from_peer(nc, f)) return;
  if (view_decode(r, &theirs) || !wire_reader_done(r)) {
    view_free(&theirs); /* empty after a failed decode: harmless */
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed gossip: field \"%s\"",
                            r->bad ? r->bad : "view");
  }
  node->stats.heartbeat_bytes += WIRE_HEADER + f->body_len;
  cluster_merge(node, &theirs, nc->peer_id);
  view_free(&theirs);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u64(&w, node->view.epoch);
  wire_put_u64(&w, view_digest(&node->view));
  wire_end(&w);
}
