/* cluster — this node's place in the cube: the membership view built from
 * its configuration and merged at peer HELLOs, placement of keys on the
 * members (cube.h's rule), and the WHERE and VIEW requests. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cube/cube.h"
#include "core/addr.h"
#include "node/node.h"


int cluster_init(hs_node_t *node, const hs_node_config_t *cfg) {
  view_init(&node->view);
  node->replicas = cfg->replicas;
  /* The port is known once listening; node_listen updates it. */
  addr_format(node->self_addr, sizeof node->self_addr, node->host,
              cfg->port);
  /* A joining node learns its id and the members from the cluster. */
  if (cfg->join) {
    struct sockaddr_storage ss;
    return cfg->n_peers || addr_parse(cfg->join, &ss) ||
                   (cfg->id != HS_ID_ANY && cfg->id >= (1u << CUBE_MAX_DIM))
               ? HS_EINVALID
               : 0;
  }
  int rc = view_upsert(&node->view, cfg->id, node->self_addr, VIEW_ALIVE, 1);
  for (size_t i = 0; rc >= 0 && i < cfg->n_peers; i++) {
    const hs_peer_t *p = &cfg->peers[i];
    if (p->id == cfg->id || view_find(&node->view, p->id)) return HS_EINVALID;
    struct sockaddr_storage ss;
    if (!p->addr || addr_parse(p->addr, &ss)) return HS_EINVALID;
    rc = view_upsert(&node->view, p->id, p->addr, VIEW_ALIVE, 1);
  }
  return rc < 0 ? rc : 0;
}

void cluster_listening(hs_node_t *node) {
  /* Our own entry learns the bound port before any peer has seen it, so it
   * is set in place rather than versioned. */
  addr_format(node->self_addr, sizeof node->self_addr, node->host,
              node->port);
  view_member_t *me = (view_member_t *)view_find(&node->view, node->cfg.id);
  if (me) memcpy(me->addr, node->self_addr, sizeof me->addr);
}

size_t cluster_copies(const hs_node_t *node, uint64_t h, uint32_t *out,
                      size_t cap) {
  return place_copies(&node->view, node->replicas, h, out, cap);
}

bool cluster_hello_peer(node_conn_t *nc, const wire_frame_t *f,
                        wire_reader_t *r, uint32_t peer_id) {
  hs_node_t *node = nc->node;
  uint32_t replicas;
  view_t theirs;
  if (!wire_get_u32(r, "replicas", &replicas)) {
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "malformed peer HELLO: field \"replicas\" is missing");
    return false;
  }
  if (replicas != node->replicas) {
    node_reply_error(nc, f->op, f->id, HS_EDENIED,
                     "placement differs: node %u keeps %u copies per topic, "
                     "node %u keeps %u",
                     peer_id, replicas, node->cfg.id, node->replicas);
    return false;
  }
  if (view_decode(r, &theirs) || !wire_reader_done(r)) {
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "malformed peer HELLO: field \"%s\"",
                     r->bad ? r->bad : "view");
    return false;
  }
  for (size_t i = 0; i < theirs.n; i++) {
    struct sockaddr_storage ss;
    if (addr_parse(theirs.members[i].addr, &ss) == 0) continue;
    view_free(&theirs);
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "peer HELLO: member %u has an address that is not "
                     "host:port", theirs.members[i].id);
    return false;
  }
  if (!view_find(&theirs, peer_id)) {
    view_free(&theirs);
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "peer HELLO: node %u is not in its own view", peer_id);
    return false;
  }
  cluster_merge(node, &theirs, peer_id);
  view_free(&theirs);
  return true;
}

static const char *state_name(view_state_t s);

/* Logs what happened to each member between `old` and the current view. */
static void log_changes(hs_node_t *node, const view_t *old, uint32_t from) {
  for (size_t i = 0; i < node->view.n; i++) {
    const view_member_t *m = &node->view.members[i];
    const view_member_t *was = view_find(old, m->id);
    if (was && was->state == m->state) continue;
    const char *ev = m->state == VIEW_SUSPECT ? "node_suspected"
                     : m->state == VIEW_DEAD  ? "node_failed"
                     : m->state == VIEW_LEFT  ? "node_left"
                     : was                    ? "node_recovered"
                                              : "node_joined";
    LOG(&node->log,
        m->state == VIEW_ALIVE ? HS_LOG_INFO : HS_LOG_WARN, "cluster", ev,
        LF_UINT("node", m->id), LF_UINT("epoch", node->view.epoch),
        LF_STR("was", was ? state_name(was->state) : "unknown"),
        LF_UINT("version", m->version),
        LF_STR("by", from == node->cfg.id ? "self" : "peer"),
        LF_UINT("from", from));
  }
}

/* Whether some member stopped or started serving between old and now:
 * only then can placement have moved. */
static bool placement_moved(const hs_node_t *node, const view_t *old) {
  for (size_t i = 0; i < node->view.n; i++) {
    const view_member_t *m = &node->view.members[i];
    const view_member_t *was = view_find(old, m->id);
    if (!was) return true;
    if (view_is_alive(m->id, (void *)&node->view) !=
        view_is_alive(m->id, (void *)old))
      return true;
  }
  return false;
}

/* Acts on a view change: logs it, drops links to the dead (which fails
 * what waits on them, so clients retry elsewhere) and moves topics. */
static void view_changed(hs_node_t *node, const view_t *old, uint32_t from) {
  LOG(&node->log, HS_LOG_INFO, "cluster", "view_changed",
      LF_UINT("epoch", node->view.epoch), LF_UINT("members", node->view.n),
      LF_UINT("from", from));
  log_changes(node, old, from);
  for (size_t i = 0; i < node->view.n; i++) {
    const view_member_t *m = &node->view.members[i];
    const view_member_t *was = view_find(old, m->id);
    if (m->id != node->cfg.id && !view_is_alive(m->id, &node->view) &&
        (!was || view_is_alive(m->id, (void *)old)))
      route_drop_link(node, m->id);
  }
  member_quorum_check(node);
  if (placement_moved(node, old)) {
    node->stats.failovers++;
    repl_reconcile(node, old);
  }
}

/* When the others think this node suspect or dead, say otherwise: a
 * higher version of our own entry, alive. */
static bool refute(hs_node_t *node) {
  const view_member_t *me = view_find(&node->view, node->cfg.id);
  if (!me || me->state == VIEW_ALIVE || node->leaving) return false;
  bool was_dead = me->state == VIEW_DEAD || me->state == VIEW_LEFT;
  view_set_state(&node->view, node->cfg.id, VIEW_ALIVE);
  if (was_dead) {
    /* The others went on without us: what we wrote since is not theirs. */
    repl_fence(node, "this node was declared dead and came back");
    node->rejoined = true;
  }
  return true;
}

int cluster_merge(hs_node_t *node, const view_t *theirs, uint32_t from) {
  view_t old;
  if (view_copy(&old, &node->view)) return 0;
  int changed = view_merge(&node->view, theirs);
  bool refuted = changed > 0 && refute(node);
  if (changed > 0) view_changed(node, &old, from);
  view_free(&old);
  if (refuted) health_spread(node);
  if (node->rejoined) { /* fetch what it should hold, as a joiner does */
    node->rejoined = false;
    member_catch_up_start(node);
  }
  return changed > 0 ? changed : 0;
}

void cluster_set_state(hs_node_t *node, uint32_t id, view_state_t state) {
  view_t old;
  if (view_copy(&old, &node->view)) return;
  if (view_set_state(&node->view, id, state) > 0) {
    view_changed(node, &old, node->cfg.id);
    health_spread(node);
  }
  view_free(&old);
}

int cluster_admit(hs_node_t *node, uint32_t id, const char *addr) {
  view_t old;
  if (view_copy(&old, &node->view)) return HS_ENOMEM;
  const view_member_t *m = view_find(&node->view, id);
  int rc = view_upsert(&node->view, id, addr, VIEW_ALIVE, m ? m->version + 1 : 1);
  if (rc > 0) {
    LOG(&node->log, HS_LOG_INFO, "cluster", "node_admitted", LF_UINT("node", id),
        LF_STR("addr", addr), LF_UINT("epoch", node->view.epoch),
        LF_UINT("dim", view_dim(&node->view)));
    view_changed(node, &old, node->cfg.id);
    health_spread(node);
  }
  view_free(&old);
  return rc < 0 ? rc : 0;
}

void cluster_put_view(hs_node_t *node, wire_writer_t *w) {
  if (w->err) return;
  if (view_encode(&node->view, w->b)) w->err = HS_ENOMEM;
}

void cluster_op_where(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r) {
  const char *topic;
  size_t tn;
  if (!wire_get_str8(r, "topic", &topic, &tn) || !wire_reader_done(r)) {
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "malformed where request: field \"%s\"", r->bad);
    return;
  }
  if (wire_name_check(topic, tn)) {
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "topic name must be 1-255 bytes of printable ASCII "
                     "without space, '\"' or '\\' (got %zu bytes)",
                     tn);
    return;
  }
  uint32_t ids[255];
  size_t n = cluster_copies(nc->node, cube_hash(topic, tn), ids, 255);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u64(&w, nc->node->view.epoch);
  wire_put_u8(&w, (uint8_t)n);
  for (size_t i = 0; i < n; i++) wire_put_u32(&w, ids[i]);
  wire_end(&w);
}

static const char *state_name(view_state_t s) {
  switch (s) {
    case VIEW_ALIVE:
      return "alive";
    case VIEW_SUSPECT:
      return "suspect";
    case VIEW_DEAD:
      return "dead";
    default:
      return "left";
  }
}

HS_API size_t hs_node_members(const hs_node_t *node, hs_member_t *out,
                              size_t cap) {
  for (size_t i = 0; i < node->view.n && i < cap; i++) {
    const view_member_t *m = &node->view.members[i];
    out[i] = (hs_member_t){m->id, m->addr, state_name(m->state)};
  }
  return node->view.n;
}

HS_API uint64_t hs_node_epoch(const hs_node_t *node) {
  return node->view.epoch;
}

HS_API unsigned hs_node_dim(const hs_node_t *node) {
  return view_dim(&node->view);
}

void cluster_op_view(node_conn_t *nc, const wire_frame_t *f,
                     wire_reader_t *r) {
  hs_node_t *node = nc->node;
  if (!wire_reader_done(r)) {
    node_reply_error(nc, f->op, f->id, HS_EINVALID,
                     "malformed view request: bytes after the last field");
    return;
  }
  buf_t *json = &node->scratch;
  buf_clear(json);
  char tmp[256];
  int n = snprintf(tmp, sizeof tmp,
                   "{\"self\":%" PRIu32 ",\"epoch\":%" PRIu64
                   ",\"dim\":%u,\"replicas\":%u,\"members\":[",
                   node->cfg.id, node->view.epoch, view_dim(&node->view),
                   node->replicas == HS_REPLICAS_NEIGHBOURS
                       ? view_dim(&node->view) + 1
                       : node->replicas);
  buf_append(json, tmp, (size_t)n);
  for (size_t i = 0; i < node->view.n; i++) {
    const view_member_t *m = &node->view.members[i];
    /* Addresses were checked as host:port when they entered the view. */
    n = snprintf(tmp, sizeof tmp,
                 "%s{\"id\":%" PRIu32 ",\"addr\":\"%s\",\"state\":\"%s\","
                 "\"version\":%" PRIu64 "}",
                 i ? "," : "", m->id, m->addr, state_name(m->state),
                 m->version);
    buf_append(json, tmp, (size_t)n);
  }
  buf_append(json, "]}", 2);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_bytes32(&w, json->data, json->len);
  wire_end(&w);
}
