/* health — heartbeats to watched peers, suspicion and death, view pushes
 * (health.h says the rules). */
#include "cluster/health.h"

#include <stdlib.h>
#include <string.h>

#include "cube/cube.h"

/* A member never heard from may still be starting (a cluster comes up one
 * process at a time): while this node is young, such a member gets this
 * many dead times more. */
#define BOOT_GRACE 10

struct health_peer {
  uint32_t id;
  uint64_t last_heard; /* uv_now ms */
  uint64_t pinged_ms;  /* when it last pinged us; 0: never */
  bool in_flight;      /* a ping of ours awaits its answer */
  bool heard_once;     /* it answered since this node started */
  bool watched;        /* set by the last tick */
  bool was_watched;    /* set by the tick before */
  uint64_t probed_ms;  /* a dead member: when we last pinged it */
};

void health_init(health_t *h, uv_loop_t *loop, cluster_t *cluster,
                 peers_t *peers, uint32_t suspect_ms, uint32_t dead_ms,
                 log_t *log, stats_t *stats) {
  memset(h, 0, sizeof *h);
  h->loop = loop;
  h->cluster = cluster;
  h->peers = peers;
  h->suspect_ms = suspect_ms;
  h->dead_ms = dead_ms;
  h->log = log;
  h->stats = stats;
}

void health_free(health_t *h) {
  free(h->watch);
  h->watch = NULL;
  h->n_watch = h->cap_watch = 0;
}

static health_peer_t *find(const health_t *h, uint32_t id) {
  for (size_t i = 0; i < h->n_watch; i++)
    if (h->watch[i].id == id) return &h->watch[i];
  return NULL;
}

/* The peer's entry, made if need be (NULL when out of memory). */
static health_peer_t *peer_of(health_t *h, uint32_t id) {
  health_peer_t *p = find(h, id);
  if (p) return p;
  if (h->n_watch == h->cap_watch) {
    size_t cap = h->cap_watch ? h->cap_watch * 2 : 16;
    health_peer_t *w = realloc(h->watch, cap * sizeof *w);
    if (!w) return NULL;
    h->watch = w;
    h->cap_watch = cap;
  }
  p = &h->watch[h->n_watch++];
  *p = (health_peer_t){.id = id, .last_heard = uv_now(h->loop)};
  return p;
}

void health_heard(health_t *h, uint32_t id) {
  const view_member_t *m = view_find(&h->cluster->view, id);
  if (!m) return;
  health_peer_t *p = peer_of(h, id);
  if (p) {
    p->last_heard = uv_now(h->loop);
    p->heard_once = true;
  }
  /* We suspected it and it spoke: take the suspicion back ourselves. */
  if (m->state == VIEW_SUSPECT) cluster_set_state(h->cluster, id, VIEW_ALIVE);
}

void health_pinged(health_t *h, uint32_t id) {
  health_peer_t *p = peer_of(h, id);
  if (p) p->pinged_ms = uv_now(h->loop);
  health_heard(h, id);
}

void health_start(health_t *h) {
  uint64_t now = uv_now(h->loop);
  h->started_ms = now;
  for (size_t i = 0; i < h->n_watch; i++) {
    h->watch[i].last_heard = now;
    h->watch[i].in_flight = false;
    h->watch[i].heard_once = false;
  }
}

/* ---- choosing whom to watch ---------------------------------------------- */

/* Fewer than two neighbours: also watch the nearest other members. */
static void watch_nearest(health_t *h, size_t neighbours) {
  const view_t *v = &h->cluster->view;
  uint32_t self = h->cluster->self;
  for (size_t want = neighbours; want < 2; want++) {
    const view_member_t *best = NULL;
    uint64_t best_key = UINT64_MAX;
    for (size_t i = 0; i < v->n; i++) {
      const view_member_t *m = &v->members[i];
      if (m->id == self || !view_serves(m->state) ||
          cube_distance(m->id, self) == 1)
        continue;
      health_peer_t *p = peer_of(h, m->id);
      uint64_t key = ((uint64_t)cube_distance(m->id, self) << 32) | m->id;
      if (p && !p->watched && key < best_key) {
        best = m;
        best_key = key;
      }
    }
    if (!best) break;
    peer_of(h, best->id)->watched = true;
  }
}

/* Marks the peers to watch this tick. */
static void choose_watched(health_t *h, uint64_t now) {
  const view_t *v = &h->cluster->view;
  uint32_t self = h->cluster->self;
  size_t neighbours = 0;
  for (size_t i = 0; i < h->n_watch; i++) {
    h->watch[i].was_watched = h->watch[i].watched;
    h->watch[i].watched = false;
  }
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    if (m->id == self || !view_serves(m->state)) continue;
    health_peer_t *p = NULL;
    if (cube_distance(m->id, self) == 1) {
      neighbours++;
      p = peer_of(h, m->id);
    } else if ((p = find(h, m->id)) &&
               !(p->pinged_ms && now - p->pinged_ms < h->dead_ms)) {
      p = NULL; /* watched only while it pings us */
    }
    if (p) p->watched = true;
  }
  watch_nearest(h, neighbours);
  /* Silence counts from when watching began: a peer known from an old
   * HELLO but not watched since is not silent, merely unasked. */
  for (size_t i = 0; i < h->n_watch; i++) {
    health_peer_t *p = &h->watch[i];
    if (p->watched && !p->was_watched && p->last_heard < now) {
      p->last_heard = now;
      p->in_flight = false;
    }
  }
}

/* ---- pings and pushes ---------------------------------------------------------- */

static void on_pong(link_t *link, const link_reply_t *reply, void *ud);

/* A push's answer says only the peer's epoch and digest. */
static void on_pushed(link_t *link, const link_reply_t *reply, void *ud) {
  (void)link;
  (void)reply;
  (void)ud;
}

static void send_ping(health_t *h, health_peer_t *p) {
  link_t *link = peers_link(h->peers, p->id);
  if (!link) return;
  msg_ping_t m = {h->cluster->view.epoch, view_digest(&h->cluster->view)};
  wire_writer_t w;
  uint32_t id;
  if (link_begin(link, WIRE_PING, 0, &w, &id)) return;
  msg_ping_put(&w, &m);
  size_t len;
  wire_body(&w, &len);
  if (link_end(link, &w, id, 0, on_pong, h)) return;
  p->in_flight = true;
  h->stats->heartbeats++;
  h->stats->heartbeat_bytes += WIRE_HEADER + len;
}

static void push_view(health_t *h, uint32_t to) {
  link_t *link = peers_link(h->peers, to);
  buf_t b = BUF_INIT;
  wire_writer_t w;
  uint32_t id;
  if (link && view_encode(&h->cluster->view, &b) == 0 &&
      link_begin(link, WIRE_GOSSIP, 0, &w, &id) == 0) {
    msg_view_t m = {msg_str(b.data, b.len)};
    msg_view_put(&w, &m);
    if (link_end(link, &w, id, 0, on_pushed, h) == 0)
      h->stats->heartbeat_bytes += WIRE_HEADER + b.len;
  }
  buf_free(&b);
}

void health_spread(health_t *h) {
  const view_t *v = &h->cluster->view;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    if (m->id != h->cluster->self && view_serves(m->state)) push_view(h, m->id);
  }
}

void health_spread_listener(void *ud, const cluster_change_t *change) {
  if (change->ours) health_spread(ud);
}

/* Twice no listener on its port, a heartbeat apart, where it answered
 * before: its process is gone (a stalled one still accepts). No need to
 * wait for dead_ms. One never heard from may not listen yet. */
static void refused(health_t *h, link_t *link, health_peer_t *p) {
  if (!p->watched || !p->heard_once || link_refused(link) < 2) return;
  const view_member_t *m = view_find(&h->cluster->view, p->id);
  if (!m || m->state == VIEW_DEAD || m->state == VIEW_LEFT) return;
  LOG(h->log, HS_LOG_WARN, "cluster", "peer_gone", LF_UINT("peer", p->id),
      LF_STR("why", "connection refused twice"));
  h->stats->failures++;
  cluster_set_state(h->cluster, p->id, VIEW_DEAD);
}

/* An answer to a ping. */
static void on_pong(link_t *link, const link_reply_t *reply, void *ud) {
  health_t *h = ud;
  uint32_t from;
  if (!peers_id(link, &from)) return; /* the node is closing */
  health_peer_t *p = peer_of(h, from);
  if (p) p->in_flight = false;
  if (reply->status) {
    if (p) refused(h, link, p);
    return;
  }
  h->stats->heartbeat_bytes += WIRE_HEADER + reply->frame->body_len;
  wire_reader_t r;
  msg_pong_t pong;
  wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
  if (!msg_pong_get(&r, &pong)) return;
  health_heard(h, from);
  if (pong.view.n) {
    view_t theirs;
    wire_reader_t vr;
    wire_reader_init(&vr, pong.view.s, pong.view.n);
    if (view_decode(&vr, &theirs)) return;
    cluster_merge(h->cluster, &theirs, from);
    view_free(&theirs);
  }
  /* We know something it does not: tell it. */
  if (view_digest(&h->cluster->view) != pong.digest) push_view(h, from);
}

/* ---- the tick ----------------------------------------------------------------- */

/* How long a watched peer has been silent, with the boot grace. */
static uint64_t silence(const health_t *h, const health_peer_t *p,
                        uint64_t now) {
  uint64_t silent = now - p->last_heard;
  uint64_t grace = (uint64_t)BOOT_GRACE * h->dead_ms;
  if (!p->heard_once && now - h->started_ms < grace)
    silent = silent > grace ? silent - grace : 0;
  return silent;
}

/* Suspects and declares dead. Decisions change the view (and may grow the
 * watch list): each peer is read as a copy. */
static void judge(health_t *h, uint64_t now) {
  for (size_t i = 0; i < h->n_watch; i++) {
    health_peer_t p = h->watch[i];
    if (!p.watched) continue;
    const view_member_t *m = view_find(&h->cluster->view, p.id);
    if (!m) continue;
    uint64_t silent = silence(h, &p, now);
    if (silent >= h->dead_ms && m->state != VIEW_DEAD) {
      h->stats->failures++;
      cluster_set_state(h->cluster, p.id, VIEW_DEAD);
    } else if (silent >= h->suspect_ms && m->state == VIEW_ALIVE) {
      cluster_set_state(h->cluster, p.id, VIEW_SUSPECT);
    }
  }
}

/* Members this node holds dead are pinged once per dead time: a healed
 * partition or a node that was only stalled answers, the views meet in
 * the answer, and whoever finds itself dead says otherwise. */
static void probe_dead(health_t *h, uint64_t now) {
  const view_t *v = &h->cluster->view;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    if (m->state != VIEW_DEAD || m->id == h->cluster->self) continue;
    health_peer_t *p = peer_of(h, m->id);
    if (!p || p->in_flight || now - p->probed_ms < h->dead_ms) continue;
    p->probed_ms = now;
    send_ping(h, p);
    v = &h->cluster->view; /* unchanged by a send, but read afresh */
  }
}

void health_tick(health_t *h) {
  uint64_t now = uv_now(h->loop);
  choose_watched(h, now);
  judge(h, now);
  /* A leaving node stops pinging: its links drain before it stops. */
  if (h->cluster->leaving) return;
  for (size_t i = 0; i < h->n_watch; i++) {
    health_peer_t *p = &h->watch[i];
    const view_member_t *m = view_find(&h->cluster->view, p->id);
    if (p->watched && !p->in_flight && m && view_serves(m->state))
      send_ping(h, &h->watch[i]);
  }
  probe_dead(h, now);
}

void health_stats(const health_t *h, json_t *j) {
  size_t watched = 0, unheard = 0;
  for (size_t i = 0; i < h->n_watch; i++) {
    if (!h->watch[i].watched) continue;
    watched++;
    unheard += !h->watch[i].heard_once;
  }
  json_u64(j, "watching", watched);
  json_u64(j, "unheard", unheard);
}
