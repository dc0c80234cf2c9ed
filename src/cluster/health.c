/* health — pings to watched peers, indirect probes, suspicion and death,
 * and the digests' repairs (health.h says the rules). */
#include "cluster/health.h"

#include <stdlib.h>
#include <string.h>

#include "cube/cube.h"
#include "hypersub.h"

/* A member never heard from may still be starting (a cluster comes up one
 * process at a time): while this node is young, such a member gets this
 * many dead times more. */
#define BOOT_GRACE 10
/* Other members asked to reach a silent peer. */
#define PROBE_HELPERS 2
/* Digests that differ on this many pings in a row: send the view. */
#define REPAIR_AFTER 2

/* What an answer is to: the tag's top byte, the rest its subject. */
enum { TAG_PING = 1, TAG_PROBE, TAG_RELAY, TAG_PUSH };
#define TAG_LOW ((UINT64_C(1) << 56) - 1)

static uint64_t tag_of(unsigned kind, uint64_t v) {
  return (uint64_t)kind << 56 | (v & TAG_LOW);
}

struct health_peer {
  uint32_t id;
  uint64_t last_heard; /* ms on the transport's clock, directly or not */
  uint64_t pinged_ms;  /* when it last pinged us; 0: never */
  uint64_t probed_ms;  /* a dead member: when we last pinged it */
  uint64_t gone_ms;    /* its port refused us twice: since when (0: no) */
  uint64_t round_ms;   /* the last round of indirect probes began */
  uint8_t probes_out;  /* answers of that round still due */
  bool round_alive;    /* one of them reached it */
  bool in_flight;      /* a ping of ours awaits its answer */
  bool heard_once;     /* it answered since this node started */
  bool watched;        /* set by the last tick */
  bool was_watched;    /* set by the tick before */
  uint8_t mismatches;      /* its pings' digests differed from ours */
  uint8_t pong_mismatches; /* our pings' answers differed */
};

/* A probe this node runs for another member: answered once. */
struct health_relay {
  uint32_t gen; /* 0: a free slot */
  health_answer_fn answer;
  void *ctx;
};

void health_init(health_t *h, cluster_t *cluster, const cluster_net_t *net,
                 const health_config_t *cfg, log_t *log, stats_t *stats) {
  memset(h, 0, sizeof *h);
  h->cluster = cluster;
  h->net = net;
  h->heartbeat_ms = cfg->heartbeat_ms;
  h->suspect_ms = cfg->suspect_ms;
  h->dead_ms = cfg->dead_ms;
  h->log = log;
  h->stats = stats;
}

static void relay_end(health_t *h, size_t slot, bool alive);

void health_free(health_t *h) {
  for (size_t i = 0; i < h->n_relays; i++)
    if (h->relays[i].gen) relay_end(h, i, false);
  free(h->relays);
  free(h->watch);
  h->relays = NULL;
  h->watch = NULL;
  h->n_watch = h->cap_watch = h->n_relays = 0;
}

static uint64_t now_of(const health_t *h) { return cluster_net_now(h->net); }

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
  *p = (health_peer_t){.id = id, .last_heard = now_of(h)};
  return p;
}

static bool serving(const health_t *h, uint32_t id) {
  const view_member_t *m = view_find(&h->cluster->view, id);
  return m && view_serves(m->state);
}

void health_heard(health_t *h, uint32_t id) {
  if (!view_find(&h->cluster->view, id)) return;
  health_peer_t *p = peer_of(h, id);
  if (!p) return;
  p->last_heard = now_of(h);
  p->heard_once = true;
  p->gone_ms = 0;
}

void health_start(health_t *h) {
  uint64_t now = now_of(h);
  h->started_ms = now;
  for (size_t i = 0; i < h->n_watch; i++) {
    health_peer_t *p = &h->watch[i];
    p->last_heard = now;
    p->in_flight = p->heard_once = false;
    p->gone_ms = 0;
  }
}

bool health_watches(const health_t *h, uint32_t id) {
  const health_peer_t *p = find(h, id);
  return p && p->watched;
}

/* ---- choosing whom to watch ---------------------------------------------- */

/* Fewer than two neighbours: also watch the nearest other members (by
 * distance, then id), whoever else is watched already: a nearest one
 * that pings us back is still the nearest, not a reason to add another. */
static void watch_nearest(health_t *h, size_t neighbours) {
  const view_t *v = &h->cluster->view;
  uint32_t self = h->cluster->self;
  uint64_t last = 0;
  for (size_t want = neighbours; want < 2; want++) {
    const view_member_t *best = NULL;
    uint64_t best_key = UINT64_MAX;
    for (size_t i = 0; i < v->n; i++) {
      const view_member_t *m = &v->members[i];
      if (m->id == self || !view_serves(m->state) ||
          cube_distance(m->id, self) == 1)
        continue;
      uint64_t key = ((uint64_t)cube_distance(m->id, self) << 32) | m->id;
      if (key > last && key < best_key) {
        best = m;
        best_key = key;
      }
    }
    if (!best) break;
    last = best_key;
    health_peer_t *p = peer_of(h, best->id);
    if (p) p->watched = true;
  }
}

/* Marks the peers to watch this tick: the live neighbours (looked up, not
 * searched for), those that pinged us lately, the nearest when short. */
static void choose_watched(health_t *h, uint64_t now) {
  uint32_t self = h->cluster->self;
  unsigned dim = view_dim(&h->cluster->view);
  size_t neighbours = 0;
  for (size_t i = 0; i < h->n_watch; i++) {
    h->watch[i].was_watched = h->watch[i].watched;
    h->watch[i].watched = false;
  }
  for (unsigned b = 0; b < dim; b++) {
    uint32_t id = self ^ (1u << b);
    if (!serving(h, id)) continue;
    neighbours++;
    health_peer_t *p = peer_of(h, id);
    if (p) p->watched = true;
  }
  for (size_t i = 0; i < h->n_watch; i++) {
    health_peer_t *p = &h->watch[i];
    if (!p->watched && p->pinged_ms && now - p->pinged_ms < h->dead_ms &&
        serving(h, p->id))
      p->watched = true; /* watched only while it pings us */
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

/* This node's turn among the watchers of `id`: how many of its live
 * neighbours come before us by id (all of them when we are not one). */
static unsigned rank_of(const health_t *h, uint32_t id) {
  uint32_t self = h->cluster->self;
  unsigned dim = view_dim(&h->cluster->view), before = 0, live = 0;
  bool neighbour = false;
  for (unsigned b = 0; b < dim; b++) {
    uint32_t n = id ^ (1u << b);
    if (n == self) {
      neighbour = true;
    } else if (serving(h, n)) {
      live++;
      before += n < self;
    }
  }
  return neighbour ? before : live;
}

/* ---- sending ------------------------------------------------------------------ */

static void on_reply(void *ud, uint64_t tag, uint32_t from,
                     const cluster_reply_t *r);

/* Sends a body made by put(w, m); 0 or an error. */
static int send_body(health_t *h, uint32_t to, uint8_t op, buf_t *body,
                     uint32_t timeout_ms, uint64_t tag) {
  int rc = body->len || op != WIRE_GOSSIP
               ? h->net->send(h->net->ud, to, op, body->data, body->len,
                              timeout_ms, on_reply, h, tag)
               : HS_EINVALID;
  buf_free(body);
  return rc;
}

static int send_ping(health_t *h, uint32_t to, uint32_t timeout_ms,
                     uint64_t tag) {
  buf_t b = BUF_INIT;
  wire_writer_t w = {.b = &b};
  msg_ping_t m = {h->cluster->view.epoch, cluster_digest(h->cluster)};
  msg_ping_put(&w, &m);
  size_t len = b.len;
  int rc = w.err ? HS_ENOMEM : send_body(h, to, WIRE_PING, &b, timeout_ms, tag);
  if (rc == 0) {
    h->stats->heartbeats++;
    h->stats->heartbeat_bytes += WIRE_HEADER + len;
  }
  return rc;
}

static void ping(health_t *h, health_peer_t *p) {
  if (send_ping(h, p->id, 0, tag_of(TAG_PING, p->id)) == 0) p->in_flight = true;
}

/* The whole view, to a peer whose digest differed twice (a repair). */
static void push_view(health_t *h, uint32_t to) {
  buf_t b = BUF_INIT;
  if (view_encode(&h->cluster->view, &b)) return buf_free(&b);
  size_t len = b.len;
  if (send_body(h, to, WIRE_GOSSIP, &b, 0, tag_of(TAG_PUSH, to)) == 0) {
    h->stats->view_repairs++;
    h->stats->heartbeat_bytes += WIRE_HEADER + len;
  }
}

static uint32_t probe_timeout(const health_t *h) {
  uint32_t t = (h->dead_ms - h->suspect_ms) / 2;
  return t ? t : 1;
}

static int send_probe(health_t *h, uint32_t to, const msg_probe_t *m,
                      uint64_t tag) {
  buf_t b = BUF_INIT;
  wire_writer_t w = {.b = &b};
  msg_probe_put(&w, m);
  return w.err ? (buf_free(&b), HS_ENOMEM)
               : send_body(h, to, WIRE_PROBE, &b, m->timeout_ms, tag);
}

/* ---- decisions ---------------------------------------------------------------- */

static void declare_dead(health_t *h, uint32_t id, bool gone) {
  const view_member_t *m = view_find(&h->cluster->view, id);
  if (!m || m->state == VIEW_DEAD || m->state == VIEW_LEFT) return;
  if (gone)
    LOG(h->log, HS_LOG_WARN, "cluster", "peer_gone", LF_UINT("peer", id),
        LF_STR("why", "connection refused twice"));
  h->stats->failures++;
  cluster_set_state(h->cluster, id, VIEW_DEAD);
}

/* No probe of the round reached it: suspect (it still serves). */
static void round_failed(health_t *h, uint32_t id) {
  const view_member_t *m = view_find(&h->cluster->view, id);
  if (m && m->state == VIEW_ALIVE)
    cluster_set_state(h->cluster, id, VIEW_SUSPECT);
}

/* Up to PROBE_HELPERS live neighbours of ours (not the target) are asked
 * to reach it; those whose path to it avoids our link come first. */
static size_t helpers(const health_t *h, uint32_t target, uint32_t *out) {
  uint32_t self = h->cluster->self;
  unsigned dim = view_dim(&h->cluster->view);
  size_t n = 0;
  for (int pass = 0; pass < 2; pass++)
    for (unsigned b = 0; b < dim && n < PROBE_HELPERS; b++) {
      uint32_t helper = self ^ (1u << b);
      if (helper == target || !serving(h, helper)) continue;
      bool direct = serving(h, helper ^ self ^ target) &&
                    cube_distance(self, target) == 1;
      if (direct == (pass == 0)) out[n++] = helper;
    }
  return n;
}

/* A round of indirect probes of a silent peer, at most one per probe
 * timeout. With no one to ask, the silence alone decides. */
static void start_round(health_t *h, health_peer_t *p, uint64_t now) {
  if (p->probes_out || (p->round_ms && now - p->round_ms < probe_timeout(h)))
    return;
  uint32_t ids[PROBE_HELPERS], target = p->id;
  size_t n = helpers(h, target, ids);
  p->round_ms = now;
  p->round_alive = false;
  msg_probe_t m = {target, probe_timeout(h), 1};
  uint8_t sent = 0;
  for (size_t i = 0; i < n; i++)
    if (send_probe(h, ids[i], &m, tag_of(TAG_PROBE, target)) == 0) {
      sent++;
      h->stats->probes_sent++;
    }
  /* p may have moved: the view did not change, nor did the watch list */
  p->probes_out = sent;
  if (!sent) round_failed(h, target);
}

/* ---- answers -------------------------------------------------------------------- */

static void on_pong(health_t *h, uint32_t from, const cluster_reply_t *r) {
  health_peer_t *p = peer_of(h, from);
  if (p) p->in_flight = false;
  if (r->status) {
    if (p && r->gone && p->watched && p->heard_once && !p->gone_ms) {
      p->gone_ms = now_of(h);
      if (rank_of(h, from) == 0) declare_dead(h, from, true);
    }
    return;
  }
  h->stats->heartbeat_bytes += WIRE_HEADER + r->len;
  wire_reader_t rd;
  msg_pong_t pong;
  wire_reader_init(&rd, r->body, r->len);
  if (!msg_pong_get(&rd, &pong)) return;
  health_heard(h, from);
  if (pong.view.n) {
    view_t theirs;
    wire_reader_t vr;
    wire_reader_init(&vr, pong.view.s, pong.view.n);
    if (view_decode(&vr, &theirs)) return;
    cluster_merge(h->cluster, &theirs, from);
    view_free(&theirs);
  }
  /* We know something it does not, twice in a row: tell it. */
  p = find(h, from);
  if (!p) return;
  if (cluster_digest(h->cluster) == pong.digest) {
    p->pong_mismatches = 0;
  } else if (++p->pong_mismatches >= REPAIR_AFTER) {
    p->pong_mismatches = 0;
    push_view(h, from);
  }
}

/* A helper's answer about `target`. */
static void on_probed(health_t *h, uint32_t target, const cluster_reply_t *r) {
  health_peer_t *p = find(h, target);
  if (!p || !p->probes_out) return;
  p->probes_out--;
  wire_reader_t rd;
  msg_probed_t m;
  wire_reader_init(&rd, r->body, r->len);
  if (r->status == 0 && msg_probed_get(&rd, &m) && m.alive == 1) {
    h->stats->probes_confirmed++;
    p->round_alive = true;
    p->last_heard = now_of(h); /* heard, by another path */
  }
  if (p->probes_out == 0 && !p->round_alive) round_failed(h, target);
}

static void on_reply(void *ud, uint64_t tag, uint32_t from,
                     const cluster_reply_t *r) {
  health_t *h = ud;
  unsigned kind = (unsigned)(tag >> 56);
  uint64_t v = tag & TAG_LOW;
  if (kind == TAG_RELAY) {
    wire_reader_t rd;
    msg_probed_t m = {0};
    wire_reader_init(&rd, r->body, r->len);
    /* a pong, or the relay's own PROBE answer */
    bool alive = r->status == 0 &&
                 (r->len != 1 || (msg_probed_get(&rd, &m) && m.alive == 1));
    size_t slot = (size_t)(v >> 32);
    if (slot < h->n_relays && h->relays[slot].gen == (uint32_t)v)
      relay_end(h, slot, alive);
    return;
  }
  if (r->closing) return;
  if (kind == TAG_PING) on_pong(h, from, r);
  if (kind == TAG_PROBE) on_probed(h, (uint32_t)v, r);
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

/* Probes, suspects and declares dead, each watcher in its turn. Decisions
 * change the view (and may grow the watch list): entries are found by id
 * again after each. */
static void judge(health_t *h, uint64_t now) {
  for (size_t i = 0; i < h->n_watch; i++) {
    health_peer_t p = h->watch[i];
    if (!p.watched) continue;
    const view_member_t *m = view_find(&h->cluster->view, p.id);
    if (!m || !view_serves(m->state)) continue;
    uint64_t turn = (uint64_t)rank_of(h, p.id) * h->heartbeat_ms;
    uint64_t silent = silence(h, &p, now);
    if (p.gone_ms && now - p.gone_ms >= turn)
      declare_dead(h, p.id, true);
    else if (silent >= h->dead_ms + turn && !p.probes_out)
      declare_dead(h, p.id, false);
    else if (silent >= h->suspect_ms + turn)
      start_round(h, &h->watch[i], now);
  }
}

/* Whether this node watches the dead member `id`: one of its neighbours,
 * or of its nearest when it has fewer than two live neighbours. */
static bool watches_dead(const health_t *h, uint32_t id) {
  uint32_t self = h->cluster->self;
  if (cube_distance(id, self) == 1) return true;
  unsigned dim = view_dim(&h->cluster->view), live = 0;
  for (unsigned b = 0; b < dim; b++) live += serving(h, id ^ (1u << b));
  if (live >= 2) return false;
  const view_t *v = &h->cluster->view;
  uint64_t mine = ((uint64_t)cube_distance(id, self) << 32) | self;
  unsigned closer = 0;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    uint64_t key = ((uint64_t)cube_distance(id, m->id) << 32) | m->id;
    if (m->id != self && view_serves(m->state) &&
        cube_distance(id, m->id) > 1 && key < mine)
      closer++;
  }
  return live + closer < 2;
}

/* Its watchers ping a dead member once per dead time: a healed partition
 * or a node that was only stalled answers, the views meet in the answer,
 * and whoever finds itself dead says otherwise. */
static void ping_dead(health_t *h, uint64_t now) {
  if (now - h->dead_scan_ms < h->dead_ms / 2 && h->dead_scan_ms) return;
  h->dead_scan_ms = now;
  const view_t *v = &h->cluster->view;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    if (m->state != VIEW_DEAD || m->id == h->cluster->self ||
        !watches_dead(h, m->id))
      continue;
    health_peer_t *p = peer_of(h, m->id);
    if (!p || p->in_flight || now - p->probed_ms < h->dead_ms) continue;
    p->probed_ms = now;
    ping(h, p);
  }
}

void health_tick(health_t *h) {
  uint64_t now = now_of(h);
  choose_watched(h, now);
  judge(h, now);
  /* A leaving node stops pinging: its links drain before it stops. */
  if (h->cluster->leaving) return;
  for (size_t i = 0; i < h->n_watch; i++) {
    health_peer_t *p = &h->watch[i];
    if (p->watched && !p->in_flight && serving(h, p->id)) ping(h, p);
  }
  ping_dead(h, now);
}

/* ---- what peers ask ---------------------------------------------------------- */

int health_on_ping(health_t *h, uint32_t from, const msg_ping_t *ping,
                   buf_t *out) {
  health_peer_t *p = peer_of(h, from);
  if (p) p->pinged_ms = now_of(h);
  health_heard(h, from);
  uint64_t digest = cluster_digest(h->cluster);
  buf_t view = BUF_INIT;
  if (ping->digest == digest) {
    if (p) p->mismatches = 0;
  } else if (p && ++p->mismatches >= REPAIR_AFTER) {
    p->mismatches = 0;
    if (view_encode(&h->cluster->view, &view)) return HS_ENOMEM;
    h->stats->view_repairs++;
  }
  msg_pong_t pong = {h->cluster->view.epoch, digest,
                     msg_str(view.data, view.len)};
  size_t at = out->len;
  wire_writer_t w = {.b = out};
  msg_pong_put(&w, &pong);
  buf_free(&view);
  h->stats->heartbeat_bytes += 2 * WIRE_HEADER + 16 + (out->len - at);
  return w.err ? HS_ENOMEM : 0;
}

/* A free relay slot, or SIZE_MAX when out of memory. */
static size_t relay_take(health_t *h, health_answer_fn answer, void *ctx) {
  size_t i = 0;
  while (i < h->n_relays && h->relays[i].gen) i++;
  if (i == h->n_relays) {
    health_relay_t *r = realloc(h->relays, (i + 1) * sizeof *r);
    if (!r) return SIZE_MAX;
    h->relays = r;
    h->n_relays++;
  }
  if (++h->relay_gen == 0) h->relay_gen = 1;
  h->relays[i] = (health_relay_t){(uint32_t)h->relay_gen, answer, ctx};
  return i;
}

static void relay_end(health_t *h, size_t slot, bool alive) {
  health_relay_t r = h->relays[slot];
  h->relays[slot].gen = 0;
  r.answer(r.ctx, alive);
}

/* The neighbour of ours and of `target` (two hops away) to pass a probe
 * to: not `asker`, whose link is the one in doubt. UINT32_MAX: none. */
static uint32_t relay_via(const health_t *h, uint32_t target, uint32_t asker) {
  uint32_t self = h->cluster->self, diff = self ^ target;
  if (cube_distance(self, target) != 2) return UINT32_MAX;
  for (uint32_t bits = diff; bits; bits &= bits - 1) {
    uint32_t via = self ^ (bits & -bits);
    if (via != asker && serving(h, via)) return via;
  }
  return UINT32_MAX;
}

void health_on_probe(health_t *h, uint32_t from, const msg_probe_t *probe,
                     health_answer_fn answer, void *ctx) {
  uint32_t t = probe->target, self = h->cluster->self;
  h->stats->probes_served++;
  if (t == self) return answer(ctx, true);
  const view_member_t *m = view_find(&h->cluster->view, t);
  uint32_t timeout = probe->timeout_ms < h->dead_ms ? probe->timeout_ms
                                                    : h->dead_ms;
  if (!m || m->state == VIEW_LEFT || !timeout || h->cluster->leaving)
    return answer(ctx, false);
  size_t slot = relay_take(h, answer, ctx);
  if (slot == SIZE_MAX) return answer(ctx, false);
  uint64_t tag = tag_of(TAG_RELAY, (uint64_t)slot << 32 | h->relays[slot].gen);
  uint32_t via = probe->relays ? relay_via(h, t, from) : UINT32_MAX;
  msg_probe_t on = {t, timeout - timeout / 4, 0};
  int rc = via != UINT32_MAX ? send_probe(h, via, &on, tag)
                             : send_ping(h, t, timeout, tag);
  if (rc) relay_end(h, slot, false);
}

size_t health_bytes(const health_t *h) {
  return sizeof *h + h->cap_watch * sizeof *h->watch +
         h->n_relays * sizeof *h->relays;
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
