/* simnet — members on a virtual clock over an in-process transport
 * (simnet.h says what it models). */
#include "cluster/simnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/place.h"
#include "hypersub.h"

enum { EV_TICK = 1, EV_DELIVER, EV_REPLY, EV_TIMEOUT, EV_JOINED, EV_STOP };

typedef struct event {
  uint64_t at, seq;
  uint8_t kind, op;
  bool gone;
  int status;
  uint32_t a, b;     /* members: from, to (a tick's or a stop's: a) */
  uint32_t req, gen; /* the request a delivery, answer or timeout is of */
  char *body;        /* owned */
  size_t len;
} event_t;

/* A request sent and not yet answered. */
typedef struct pending {
  uint32_t gen; /* 0: a free slot */
  uint32_t from, to;
  cluster_reply_fn cb;
  void *ud;
  uint64_t tag;
} pending_t;

typedef struct contact {
  uint32_t peer;
  uint64_t at_us;
  uint32_t refused; /* its port refused our messages, in a row */
} contact_t;

typedef struct peer {
  simnet_t *s;
  uint32_t id;
  bool running, joining, crashed, hung;
  cluster_t cluster;
  health_t health;
  spread_t spread;
  stats_t *stats; /* large (histograms): apart */
  log_t log;
  cluster_net_t net;
  simnet_traffic_t traffic;
  contact_t *contacts;
  size_t n_contacts, cap_contacts;
  uint32_t *cuts; /* messages to these are lost */
  size_t n_cuts;
} peer_t;

struct simnet {
  simnet_config_t cfg;
  uint64_t now_us, seq, rng;
  peer_t **members; /* by id */
  size_t cap_members;
  event_t *heap;
  size_t n_heap, cap_heap;
  pending_t *pending;
  size_t n_pending, cap_pending;
  uint32_t gen;
  bool closing;
};

/* ---- the clock's queue ------------------------------------------------------- */

static bool before(const event_t *x, const event_t *y) {
  return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void push(simnet_t *s, event_t ev) {
  if (s->n_heap == s->cap_heap) {
    size_t cap = s->cap_heap ? 2 * s->cap_heap : 1024;
    event_t *h = realloc(s->heap, cap * sizeof *h);
    if (!h) {
      free(ev.body);
      return;
    }
    s->heap = h;
    s->cap_heap = cap;
  }
  ev.seq = s->seq++;
  size_t i = s->n_heap++;
  while (i && before(&ev, &s->heap[(i - 1) / 2])) {
    s->heap[i] = s->heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  s->heap[i] = ev;
}

static event_t pop(simnet_t *s) {
  event_t top = s->heap[0], last = s->heap[--s->n_heap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->n_heap) break;
    if (c + 1 < s->n_heap && before(&s->heap[c + 1], &s->heap[c])) c++;
    if (!before(&s->heap[c], &last)) break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (s->n_heap) s->heap[i] = last;
  return top;
}

static char *copy(const char *p, size_t n) {
  char *c = malloc(n ? n : 1);
  if (c && n) memcpy(c, p, n);
  return c;
}

/* ---- members ------------------------------------------------------------------- */

static peer_t *peer_at(const simnet_t *s, uint32_t id) {
  return id < s->cap_members ? s->members[id] : NULL;
}

static contact_t *contact(peer_t *m, uint32_t peer) {
  for (size_t i = 0; i < m->n_contacts; i++)
    if (m->contacts[i].peer == peer) return &m->contacts[i];
  if (m->n_contacts == m->cap_contacts) {
    size_t cap = m->cap_contacts ? 2 * m->cap_contacts : 8;
    contact_t *c = realloc(m->contacts, cap * sizeof *c);
    if (!c) return NULL;
    m->contacts = c;
    m->cap_contacts = cap;
  }
  m->contacts[m->n_contacts] = (contact_t){.peer = peer};
  return &m->contacts[m->n_contacts++];
}

/* A message crossed between m and peer: it counts, and so does the link. */
static void crossed(peer_t *m, uint32_t peer, size_t len) {
  contact_t *c = contact(m, peer);
  if (c) c->at_us = m->s->now_us;
  m->traffic.messages++;
  m->traffic.bytes += WIRE_HEADER + len;
}

static bool is_cut(const peer_t *m, uint32_t to) {
  for (size_t i = 0; i < m->n_cuts; i++)
    if (m->cuts[i] == to) return true;
  return false;
}

static int sim_send(void *ud, uint32_t to, uint8_t op, const char *body,
                    size_t len, uint32_t timeout_ms, cluster_reply_fn cb,
                    void *cb_ud, uint64_t tag);

static uint64_t sim_now(void *ud) {
  const peer_t *m = ud;
  return m->s->now_us / 1000;
}

static peer_t *member_new(simnet_t *s, uint32_t id) {
  if (id > HS_ID_MAX || peer_at(s, id)) return NULL;
  if (id >= s->cap_members) {
    size_t cap = s->cap_members ? s->cap_members : 64;
    while (cap <= id) cap *= 2;
    peer_t **ms = realloc(s->members, cap * sizeof *ms);
    if (!ms) return NULL;
    memset(ms + s->cap_members, 0, (cap - s->cap_members) * sizeof *ms);
    s->members = ms;
    s->cap_members = cap;
  }
  peer_t *m = calloc(1, sizeof *m);
  stats_t *st = malloc(sizeof *st);
  hs_node_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.id = id;
  cfg.port = 1;
  cfg.replicas = s->cfg.replicas;
  if (!m || !st || cluster_init(&m->cluster, &cfg, "10.0.0.0", &m->log, st)) {
    free(m);
    free(st);
    return NULL;
  }
  m->s = s;
  m->id = id;
  m->stats = st;
  stats_init(st, 0);
  log_init(&m->log, id);
  m->log.level = HS_LOG_OFF;
  m->net = (cluster_net_t){sim_send, sim_now, m};
  health_config_t hc = {s->cfg.heartbeat_ms, s->cfg.suspect_ms,
                        s->cfg.dead_ms};
  health_init(&m->health, &m->cluster, &m->net, &hc, &m->log, st);
  spread_init(&m->spread, &m->cluster, &m->net, st);
  cluster_listen(&m->cluster, cluster_quorum_listener, &m->cluster);
  cluster_listen(&m->cluster, spread_listener, &m->spread);
  s->members[id] = m;
  return m;
}

static void member_free(peer_t *m) {
  health_free(&m->health);
  cluster_free(&m->cluster);
  free(m->stats);
  free(m->contacts);
  free(m->cuts);
  free(m);
}

static uint64_t rnd(simnet_t *s) {
  s->rng ^= s->rng << 13;
  s->rng ^= s->rng >> 7;
  s->rng ^= s->rng << 17;
  return s->rng;
}

/* Starts the member's heartbeat at a phase of its own. */
static void begin(simnet_t *s, peer_t *m) {
  m->running = true;
  m->joining = false;
  health_start(&m->health);
  uint64_t hb = (uint64_t)s->cfg.heartbeat_ms * 1000;
  push(s, (event_t){.at = s->now_us + rnd(s) % hb, .kind = EV_TICK, .a = m->id});
}

/* ---- the transport ------------------------------------------------------------- */

static int sim_send(void *ud, uint32_t to, uint8_t op, const char *body,
                    size_t len, uint32_t timeout_ms, cluster_reply_fn cb,
                    void *cb_ud, uint64_t tag) {
  peer_t *m = ud;
  simnet_t *s = m->s;
  if (!m->running || s->closing) return HS_ECLOSED;
  size_t slot = 0;
  while (slot < s->n_pending && s->pending[slot].gen) slot++;
  if (slot == s->n_pending) {
    if (s->n_pending == s->cap_pending) {
      size_t cap = s->cap_pending ? 2 * s->cap_pending : 1024;
      pending_t *p = realloc(s->pending, cap * sizeof *p);
      if (!p) return HS_ENOMEM;
      s->pending = p;
      s->cap_pending = cap;
    }
    s->n_pending++;
  }
  if (++s->gen == 0) s->gen = 1;
  s->pending[slot] = (pending_t){s->gen, m->id, to, cb, cb_ud, tag};
  crossed(m, to, len);
  uint64_t wait = (uint64_t)(timeout_ms ? timeout_ms : s->cfg.timeout_ms) * 1000;
  push(s, (event_t){.at = s->now_us + wait, .kind = EV_TIMEOUT,
                    .req = (uint32_t)slot, .gen = s->gen});
  if (!is_cut(m, to))
    push(s, (event_t){.at = s->now_us + s->cfg.latency_us, .kind = EV_DELIVER,
                      .op = op, .a = m->id, .b = to, .req = (uint32_t)slot,
                      .gen = s->gen, .body = copy(body, len), .len = len});
  return 0;
}

/* The answer to a request delivered to `by`, on its way back. */
static void answer(simnet_t *s, const event_t *req, peer_t *by, int status,
                   bool gone, const char *body, size_t len) {
  if (by) crossed(by, req->a, len);
  if (by && is_cut(by, req->a)) return;
  push(s, (event_t){.at = s->now_us + s->cfg.latency_us, .kind = EV_REPLY,
                    .status = status, .gone = gone, .a = req->a, .b = req->b,
                    .req = req->req, .gen = req->gen,
                    .body = copy(body, len), .len = len});
}

typedef struct later {
  simnet_t *s;
  event_t req;
} later_t;

/* A PROBE's answer, whenever the member has it. */
static void probe_answered(void *ctx, bool alive) {
  later_t *l = ctx;
  peer_t *by = peer_at(l->s, l->req.b);
  char b = alive;
  if (!l->s->closing && by && by->running) answer(l->s, &l->req, by, 0, 0, &b, 1);
  free(l);
}

/* A request reaches a running member: its handler, as a node's. */
static void handle(simnet_t *s, peer_t *t, const event_t *ev) {
  wire_reader_t r;
  wire_reader_init(&r, ev->body, ev->len);
  buf_t out = BUF_INIT;
  msg_t m;
  int rc = msg_request_get(ev->op, &r, &m) ? 0 : HS_EINVALID;
  const char *why;
  if (!rc && ev->op == WIRE_PING) {
    rc = health_on_ping(&t->health, ev->a, &m.ping, &out);
  } else if (!rc && ev->op == WIRE_SPREAD) {
    rc = spread_on_message(&t->spread, ev->a, &m.spread, &why);
  } else if (!rc && ev->op == WIRE_GOSSIP) {
    view_t v;
    wire_reader_t vr;
    wire_reader_init(&vr, m.view.view.s, m.view.view.n);
    if ((rc = view_decode(&vr, &v)) == 0) cluster_merge(&t->cluster, &v, ev->a);
    view_free(&v);
  } else if (!rc && ev->op == WIRE_PROBE) {
    later_t *l = malloc(sizeof *l);
    if (l) {
      *l = (later_t){s, *ev};
      l->req.body = NULL;
      return health_on_probe(&t->health, ev->a, &m.probe, probe_answered, l);
    }
    rc = HS_ENOMEM;
  }
  answer(s, ev, t, rc, false, out.data, out.len);
  buf_free(&out);
}

static void deliver(simnet_t *s, const event_t *ev) {
  peer_t *t = peer_at(s, ev->b), *from = peer_at(s, ev->a);
  if (t && t->running && t->hung) return; /* silence: the sender times out */
  if (!t || !t->running) { /* no one listens: refused */
    contact_t *c = from ? contact(from, ev->b) : NULL;
    bool gone = c && ++c->refused >= 2;
    return answer(s, ev, NULL, HS_EUNAVAILABLE, gone, NULL, 0);
  }
  if (from) {
    contact_t *c = contact(from, ev->b);
    if (c) c->refused = 0;
  }
  crossed(t, ev->a, ev->len);
  if (t->joining) return answer(s, ev, t, HS_EUNAVAILABLE, false, NULL, 0);
  handle(s, t, ev);
}

/* An answer or a timeout ends the request once. */
static void complete(simnet_t *s, const event_t *ev, int status, bool gone,
                     const char *body, size_t len) {
  if (ev->req >= s->n_pending || s->pending[ev->req].gen != ev->gen) return;
  pending_t p = s->pending[ev->req];
  s->pending[ev->req].gen = 0;
  peer_t *m = peer_at(s, p.from);
  if (!m || !m->running) return;
  if (ev->kind == EV_REPLY) crossed(m, p.to, len);
  cluster_reply_t r = {.status = status, .gone = gone, .body = body,
                       .len = len};
  p.cb(p.ud, p.tag, p.to, &r);
}

/* ---- running -------------------------------------------------------------------- */

static void joined(simnet_t *s, const event_t *ev) {
  peer_t *m = peer_at(s, ev->a);
  view_t v;
  wire_reader_t r;
  wire_reader_init(&r, ev->body, ev->len);
  if (!m || view_decode(&r, &v)) return;
  cluster_adopt(&m->cluster, m->id, &v);
  begin(s, m);
}

static void step(simnet_t *s) {
  event_t ev = pop(s);
  s->now_us = ev.at;
  peer_t *m = peer_at(s, ev.a);
  switch (ev.kind) {
    case EV_TICK:
      if (!m || !m->running) break;
      if (!m->hung) health_tick(&m->health);
      push(s, (event_t){.at = s->now_us + (uint64_t)s->cfg.heartbeat_ms * 1000,
                        .kind = EV_TICK, .a = ev.a});
      break;
    case EV_DELIVER: deliver(s, &ev); break;
    case EV_REPLY: complete(s, &ev, ev.status, ev.gone, ev.body, ev.len); break;
    case EV_TIMEOUT: complete(s, &ev, HS_ETIMEOUT, false, NULL, 0); break;
    case EV_JOINED: joined(s, &ev); break;
    case EV_STOP:
      if (m) m->running = false;
      break;
  }
  free(ev.body);
}

void simnet_run(simnet_t *s, uint64_t us) {
  uint64_t end = s->now_us + us;
  while (s->n_heap && s->heap[0].at <= end) step(s);
  s->now_us = end;
}

bool simnet_converged(simnet_t *s) {
  bool first = true;
  uint64_t digest = 0;
  for (size_t i = 0; i < s->cap_members; i++) {
    peer_t *m = s->members[i];
    if (!m || !m->running || m->joining || m->hung) continue;
    uint64_t d = cluster_digest(&m->cluster);
    if (!first && d != digest) return false;
    digest = d;
    first = false;
  }
  return true;
}

bool simnet_run_until_converged(simnet_t *s, uint64_t us) {
  uint64_t end = s->now_us + us, check = s->now_us;
  while (s->n_heap && s->heap[0].at <= end) {
    step(s);
    if (s->now_us >= check) { /* at most once per 100 µs of the clock */
      if (simnet_converged(s)) return true;
      check = s->now_us + 100;
    }
  }
  s->now_us = end;
  return simnet_converged(s);
}

/* ---- the API ----------------------------------------------------------------- */

simnet_t *simnet_new(const simnet_config_t *cfg) {
  simnet_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  s->rng = cfg->seed ? cfg->seed : 1;
  return s;
}

void simnet_free(simnet_t *s) {
  if (!s) return;
  s->closing = true;
  for (size_t i = 0; i < s->cap_members; i++)
    if (s->members[i]) member_free(s->members[i]);
  for (size_t i = 0; i < s->n_heap; i++) free(s->heap[i].body);
  free(s->members);
  free(s->heap);
  free(s->pending);
  free(s);
}

/* An address for the view (nothing connects to it). */
static void sim_addr(char *out, size_t n, uint32_t id) {
  snprintf(out, n, "10.%u.%u.%u:7000", id >> 16 & 255, id >> 8 & 255,
           id & 255);
}

int simnet_start(simnet_t *s, const uint32_t *ids, size_t n) {
  view_t v;
  view_init(&v);
  char addr[32];
  for (size_t i = 0; i < n; i++) {
    sim_addr(addr, sizeof addr, ids[i]);
    if (view_find(&v, ids[i]) || view_upsert(&v, ids[i], addr, VIEW_ALIVE, 1) < 0) {
      view_free(&v);
      return HS_EINVALID;
    }
  }
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    peer_t *m = member_new(s, ids[i]);
    view_t mine;
    if (!m || view_copy(&mine, &v)) {
      rc = HS_ENOMEM;
      break;
    }
    cluster_adopt(&m->cluster, ids[i], &mine);
    begin(s, m);
  }
  view_free(&v);
  return rc;
}

int simnet_join(simnet_t *s, uint32_t id) {
  uint32_t ids[1];
  if (!simnet_running(s, ids, 1)) return HS_EUNAVAILABLE;
  peer_t *coord = peer_at(s, place_coordinator(&peer_at(s, ids[0])->cluster.view,
                                                ids[0]));
  peer_t *m = member_new(s, id);
  if (!m || !coord) return HS_ENOMEM;
  m->running = m->joining = true;
  char addr[32];
  sim_addr(addr, sizeof addr, id);
  buf_t b = BUF_INIT;
  int rc = cluster_admit(&coord->cluster, id, addr);
  if (!rc) rc = view_encode(&coord->cluster.view, &b);
  if (!rc) /* the JOIN went there and its answer comes back */
    push(s, (event_t){.at = s->now_us + 2 * (uint64_t)s->cfg.latency_us,
                      .kind = EV_JOINED, .a = id, .body = b.data, .len = b.len});
  else
    buf_free(&b);
  return rc;
}

void simnet_leave(simnet_t *s, uint32_t id) {
  peer_t *m = peer_at(s, id);
  if (!m || !m->running) return;
  cluster_leave(&m->cluster);
  push(s, (event_t){.at = s->now_us + 500000, .kind = EV_STOP, .a = id});
}

void simnet_crash(simnet_t *s, uint32_t id) {
  peer_t *m = peer_at(s, id);
  if (m) m->running = false, m->crashed = true;
}

void simnet_hang(simnet_t *s, uint32_t id, bool hung) {
  peer_t *m = peer_at(s, id);
  if (m) m->hung = hung;
}

void simnet_cut(simnet_t *s, uint32_t from, uint32_t to, bool cut) {
  peer_t *m = peer_at(s, from);
  if (!m) return;
  for (size_t i = 0; i < m->n_cuts; i++)
    if (m->cuts[i] == to) {
      if (!cut) m->cuts[i] = m->cuts[--m->n_cuts];
      return;
    }
  uint32_t *c = cut ? realloc(m->cuts, (m->n_cuts + 1) * sizeof *c) : NULL;
  if (!c) return;
  m->cuts = c;
  m->cuts[m->n_cuts++] = to;
}

uint64_t simnet_now_us(const simnet_t *s) { return s->now_us; }

cluster_t *simnet_cluster(simnet_t *s, uint32_t id) {
  peer_t *m = peer_at(s, id);
  return m && m->running ? &m->cluster : NULL;
}

stats_t *simnet_stats(simnet_t *s, uint32_t id) {
  peer_t *m = peer_at(s, id);
  return m ? m->stats : NULL;
}

spread_t *simnet_spread(simnet_t *s, uint32_t id) {
  peer_t *m = peer_at(s, id);
  return m ? &m->spread : NULL;
}

const simnet_traffic_t *simnet_traffic(simnet_t *s, uint32_t id) {
  peer_t *m = peer_at(s, id);
  return m ? &m->traffic : NULL;
}

size_t simnet_links(simnet_t *s, uint32_t id, uint64_t window_us) {
  peer_t *m = peer_at(s, id);
  size_t n = 0;
  for (size_t i = 0; m && i < m->n_contacts; i++)
    n += s->now_us - m->contacts[i].at_us <= window_us &&
         m->contacts[i].at_us;
  return n;
}

size_t simnet_member_bytes(simnet_t *s, uint32_t id) {
  peer_t *m = peer_at(s, id);
  return m ? sizeof m->cluster + sizeof m->spread +
                 m->cluster.view.cap * sizeof *m->cluster.view.members +
                 health_bytes(&m->health)
           : 0;
}

size_t simnet_running(const simnet_t *s, uint32_t *out, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < s->cap_members; i++) {
    peer_t *m = s->members[i];
    if (!m || !m->running || m->joining) continue;
    if (n < cap) out[n] = m->id;
    n++;
  }
  return n;
}
