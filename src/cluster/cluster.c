/* cluster — the view this node holds and what happens when it changes. */
#include "cluster/cluster.h"

#include <string.h>

#include "core/addr.h"

int cluster_init(cluster_t *c, const hs_node_config_t *cfg, const char *host,
                 log_t *log, stats_t *stats) {
  memset(c, 0, sizeof *c);
  view_init(&c->view);
  c->self = cfg->id;
  c->replicas = cfg->replicas;
  c->log = log;
  c->stats = stats;
  /* The port is known once listening (cluster_listening). */
  if (addr_format(c->self_addr, sizeof c->self_addr, host, cfg->port))
    return HS_EINVALID;
  struct sockaddr_storage ss;
  if (cfg->join) /* a joining node learns its id and the members later */
    return cfg->n_peers || addr_parse(cfg->join, &ss) ||
                   (cfg->id != HS_ID_ANY && cfg->id > HS_ID_MAX)
               ? HS_EINVALID
               : 0;
  int rc = view_upsert(&c->view, cfg->id, c->self_addr, VIEW_ALIVE, 1);
  for (size_t i = 0; rc >= 0 && i < cfg->n_peers; i++) {
    const hs_peer_t *p = &cfg->peers[i];
    if (p->id == cfg->id || view_find(&c->view, p->id)) return HS_EINVALID;
    if (!p->addr || addr_parse(p->addr, &ss)) return HS_EINVALID;
    rc = view_upsert(&c->view, p->id, p->addr, VIEW_ALIVE, 1);
  }
  return rc < 0 ? rc : 0;
}

void cluster_free(cluster_t *c) { view_free(&c->view); }

uint64_t cluster_digest(cluster_t *c) {
  if (!c->digest_ok) c->digest = view_digest(&c->view);
  c->digest_ok = true;
  return c->digest;
}

void cluster_listening(cluster_t *c, const char *host, int port) {
  c->digest_ok = false;
  addr_format(c->self_addr, sizeof c->self_addr, host, port);
  view_member_t *me = (view_member_t *)view_find(&c->view, c->self);
  if (me) memcpy(me->addr, c->self_addr, sizeof me->addr);
}

void cluster_adopt(cluster_t *c, uint32_t id, view_t *view) {
  c->self = id;
  c->digest_ok = false;
  view_free(&c->view);
  c->view = *view;
  view_init(view);
}

int cluster_listen(cluster_t *c, cluster_listener_fn fn, void *ud) {
  if (c->n_listeners == CLUSTER_LISTENERS_MAX) return HS_ENOMEM;
  c->listeners[c->n_listeners].fn = fn;
  c->listeners[c->n_listeners].ud = ud;
  c->n_listeners++;
  return 0;
}

/* ---- acting on a change ---------------------------------------------------- */

const char *cluster_state_name(view_state_t s) {
  switch (s) {
    case VIEW_ALIVE: return "alive";
    case VIEW_SUSPECT: return "suspect";
    case VIEW_DEAD: return "dead";
    default: return "left";
  }
}

/* Logs what happened to each member between `old` and now. */
static void log_changes(const cluster_t *c, const view_t *old, uint32_t from) {
  for (size_t i = 0; i < c->view.n; i++) {
    const view_member_t *m = &c->view.members[i];
    const view_member_t *was = view_find(old, m->id);
    if (was && was->state == m->state) continue;
    const char *ev = m->state == VIEW_SUSPECT ? "node_suspected"
                     : m->state == VIEW_DEAD  ? "node_failed"
                     : m->state == VIEW_LEFT  ? "node_left"
                     : was                    ? "node_recovered"
                                              : "node_joined";
    LOG(c->log, m->state == VIEW_ALIVE ? HS_LOG_INFO : HS_LOG_WARN, "cluster",
        ev, LF_UINT("node", m->id), LF_UINT("epoch", c->view.epoch),
        LF_STR("was", was ? cluster_state_name(was->state) : "unknown"),
        LF_UINT("version", m->version),
        LF_STR("by", from == c->self ? "self" : "peer"), LF_UINT("from", from));
  }
}

/* Whether some member stopped or started serving: only then can
 * placement have moved. */
static bool placement_moved(const view_t *now, const view_t *old) {
  for (size_t i = 0; i < now->n; i++) {
    const view_member_t *m = &now->members[i];
    const view_member_t *was = view_find(old, m->id);
    if (!was || view_serves(m->state) != view_serves(was->state)) return true;
  }
  return false;
}

static void view_changed(cluster_t *c, const view_t *old, uint32_t from,
                         bool ours) {
  c->digest_ok = false;
  LOG(c->log, HS_LOG_INFO, "cluster", "view_changed",
      LF_UINT("epoch", c->view.epoch), LF_UINT("members", c->view.n),
      LF_UINT("from", from));
  log_changes(c, old, from);
  cluster_change_t change = {.old = old,
                             .from = from,
                             .ours = ours,
                             .placement_moved = placement_moved(&c->view, old)};
  if (change.placement_moved) c->stats->failovers++;
  for (size_t i = 0; i < c->n_listeners; i++)
    c->listeners[i].fn(c->listeners[i].ud, &change);
}

/* When the others think this node suspect or dead, say otherwise: a
 * higher version of our own entry, alive. Returns 1 when it refuted, 2
 * when it had been declared dead (the others went on without us). */
static int refute(cluster_t *c) {
  const view_member_t *me = view_find(&c->view, c->self);
  if (!me || me->state == VIEW_ALIVE || c->leaving) return 0;
  bool was_dead = me->state == VIEW_DEAD || me->state == VIEW_LEFT;
  view_set_state(&c->view, c->self, VIEW_ALIVE);
  return was_dead ? 2 : 1;
}

int cluster_merge(cluster_t *c, const view_t *theirs, uint32_t from) {
  view_t old;
  if (view_copy(&old, &c->view)) return 0;
  int changed = view_merge(&c->view, theirs);
  if (changed) c->digest_ok = false;
  int refuted = changed > 0 ? refute(c) : 0;
  /* What we wrote since we were declared dead is not theirs. */
  if (refuted == 2 && c->hooks.fenced)
    c->hooks.fenced(c->hooks.ud, "this node was declared dead and came back");
  if (changed > 0) view_changed(c, &old, from, refuted > 0);
  view_free(&old);
  if (refuted == 2 && c->hooks.rejoined) c->hooks.rejoined(c->hooks.ud);
  return changed > 0 ? changed : 0;
}

void cluster_set_state(cluster_t *c, uint32_t id, view_state_t state) {
  view_t old;
  if (view_copy(&old, &c->view)) return;
  if (view_set_state(&c->view, id, state) > 0)
    view_changed(c, &old, c->self, true);
  view_free(&old);
}

void cluster_leave(cluster_t *c) {
  c->leaving = true;
  cluster_set_state(c, c->self, VIEW_LEFT);
}

int cluster_admit(cluster_t *c, uint32_t id, const char *addr) {
  view_t old;
  if (view_copy(&old, &c->view)) return HS_ENOMEM;
  const view_member_t *m = view_find(&c->view, id);
  int rc = view_upsert(&c->view, id, addr, VIEW_ALIVE, m ? m->version + 1 : 1);
  if (rc > 0) {
    LOG(c->log, HS_LOG_INFO, "cluster", "node_admitted", LF_UINT("node", id),
        LF_STR("addr", addr), LF_UINT("epoch", c->view.epoch),
        LF_UINT("dim", view_dim(&c->view)));
    view_changed(c, &old, c->self, true);
  }
  view_free(&old);
  return rc < 0 ? rc : 0;
}

void cluster_quorum_listener(void *ud, const cluster_change_t *change) {
  cluster_t *c = ud;
  (void)change;
  size_t members = 0, live = 0;
  for (size_t i = 0; i < c->view.n; i++) {
    const view_member_t *m = &c->view.members[i];
    if (m->state == VIEW_LEFT) continue;
    members++;
    live += view_serves(m->state);
  }
  bool lost = 2 * live <= members && members > 1;
  if (lost == c->quorum_lost) return;
  c->quorum_lost = lost;
  LOG(c->log, lost ? HS_LOG_WARN : HS_LOG_INFO, "cluster",
      lost ? "quorum_lost" : "quorum_regained", LF_UINT("live", live),
      LF_UINT("members", members), LF_UINT("epoch", c->view.epoch));
  if (lost && c->hooks.fenced)
    c->hooks.fenced(c->hooks.ud,
                    "this node sees no majority of the cluster alive");
}

/* ---- placement and reports --------------------------------------------------- */

size_t cluster_copies(const cluster_t *c, uint64_t h, uint32_t *out,
                      size_t cap) {
  return place_copies(&c->view, c->replicas, h, out, cap);
}

uint32_t cluster_home(const cluster_t *c, uint64_t h) {
  return place_home(&c->view, c->replicas, h, c->self);
}

bool cluster_alive(const cluster_t *c, uint32_t id) {
  const view_member_t *m = view_find(&c->view, id);
  return m && view_serves(m->state);
}

uint32_t cluster_copy_count(const cluster_t *c) {
  return (uint32_t)place_copy_count(&c->view, c->replicas);
}

void cluster_view_json(const cluster_t *c, json_t *j) {
  json_open(j, NULL);
  json_u64(j, "self", c->self);
  json_u64(j, "epoch", c->view.epoch);
  json_u64(j, "dim", view_dim(&c->view));
  json_u64(j, "replicas", cluster_copy_count(c));
  json_open_list(j, "members");
  for (size_t i = 0; i < c->view.n; i++) {
    const view_member_t *m = &c->view.members[i];
    json_open(j, NULL);
    json_u64(j, "id", m->id);
    json_str(j, "addr", m->addr, strlen(m->addr));
    json_str(j, "state", cluster_state_name(m->state),
             strlen(cluster_state_name(m->state)));
    json_u64(j, "version", m->version);
    json_close(j);
  }
  json_close_list(j);
  json_close(j);
}
