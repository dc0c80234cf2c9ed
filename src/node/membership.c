/* membership — members coming and going.
 *
 * JOIN: a new node asks any member; the request goes to the coordinator
 * (the lowest live id), which picks the id (the one asked for, or the
 * lowest no member holds), adds the node to its view and spreads it. The
 * answer carries the id and the view. The cube's dimension grows by itself
 * when the id does not fit: placement is a function of the view.
 *
 * LEAVE: the node marks itself LEFT in its view and spreads it; its topics
 * move to the next nodes of their preference lists (the hand-over of
 * takeover.c); once none is in flight it answers and stops.
 *
 * Catching up: a node that joined, started or came back asks every live
 * member which topics it holds that the node should hold too (HOLDING,
 * carrying the asker's view so the member judges by it). Until each member
 * answered and each such topic arrived, a request for a topic it lacks
 * gets UNAVAILABLE (the client retries) instead of NO_TOPIC, and a topic
 * is not created anew here.
 *
 * Quorum: a node that sees no majority of the members (those not LEFT)
 * alive serves no topic and answers UNAVAILABLE: on the minority side of
 * a partition nothing is written that the majority would not know of. */
#include <stdlib.h>
#include <string.h>

#include "net/link.h"
#include "proto/msg.h"
#include "cube/cube.h"
#include "core/addr.h"
#include "node/node.h"
#include "node/repl.h"

/* How long catching up and leaving may take, in dead times: past that the
 * node goes on and says what is missing. */
#define MEMBER_PATIENCE 10

static void on_joined(link_t *c, const link_reply_t *reply, void *ud);

/* ---- joining -------------------------------------------------------------- */

int member_join_start(hs_node_t *node) {
  const char *addrs[1] = {node->cfg.join};
  link_config_t lc = {
      .addrs = addrs,
      .n_addrs = 1,
      .timeout_ms = node->cfg.peer_timeout_ms,
      .max_output = node->cfg.max_output,
      .hello = {.role = WIRE_ROLE_CLIENT,
                .cluster = msg_str(node->cluster, strlen(node->cluster))},
      .flusher = &node->flusher,
  };
  int rc = link_new(node->loop, &lc, &node->join_client);
  if (rc) return rc;
  /* id HS_ID_ANY: the lowest free one */
  msg_join_t m = {node->cfg.id,
                  msg_str(node->self_addr, strlen(node->self_addr)),
                  node->replicas};
  wire_writer_t w;
  uint32_t id;
  if ((rc = link_begin(node->join_client, WIRE_JOIN, 0, &w, &id))) return rc;
  msg_join_put(&w, &m);
  if ((rc = link_end(node->join_client, &w, id, 0, on_joined, node))) return rc;
  node->joining = true;
  LOG(&node->log, HS_LOG_INFO, "cluster", "join_asked",
      LF_STR("via", node->cfg.join), LF_STR("addr", node->self_addr));
  return 0;
}

static void on_joined(link_t *c, const link_reply_t *reply, void *ud) {
  hs_node_t *node = ud;
  (void)c;
  if (!node->joining) return; /* the node is going away */
  view_t view;
  msg_join_reply_t m;
  wire_reader_t r;
  int rc = reply->status;
  if (!rc) {
    wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
    wire_reader_t vr;
    rc = HS_EPROTOCOL;
    if (msg_join_reply_get(&r, &m)) {
      wire_reader_init(&vr, m.view.s, m.view.n);
      if (view_decode(&vr, &view) == 0) {
        rc = view_find(&view, m.id) && wire_reader_done(&vr) ? 0 : HS_EPROTOCOL;
        if (rc) view_free(&view);
      }
    }
  }
  if (rc) {
    snprintf(node->error, sizeof node->error,
             "could not join the cluster via %s: %s%s%.*s", node->cfg.join,
             hs_err_name(rc), reply->status ? ": " : "",
             (int)reply->message_len, reply->status ? reply->message : "");
    LOG(&node->log, HS_LOG_ERROR, "cluster", "join_failed",
        LF_STR("via", node->cfg.join), LF_STR("error", hs_err_name(rc)),
        LF_STRN("detail", reply->message, reply->message_len));
    node_joined(node, false);
    return;
  }
  node->cfg.id = m.id;
  node->log.node = m.id;
  view_free(&node->view);
  node->view = view;
  LOG(&node->log, HS_LOG_INFO, "cluster", "joined", LF_UINT("id", m.id),
      LF_UINT("epoch", view.epoch), LF_UINT("members", view.n),
      LF_UINT("dim", view_dim(&view)), LF_UINT("from", link_node(c)));
  node_joined(node, true);
}

void member_stop_joining(hs_node_t *node) {
  node->joining = false;
  if (node->join_client) link_free(node->join_client);
  node->join_client = NULL;
}

/* The id a JOIN gets, or an error code with why. */
static int pick_id(hs_node_t *node, uint32_t wanted, const char *addr,
                   uint32_t *id, char *why, size_t why_len) {
  const view_t *v = &node->view;
  if (wanted == HS_ID_ANY) {
    /* A JOIN sent again (its answer was lost) gets the same id. */
    for (size_t i = 0; i < v->n; i++)
      if (v->members[i].state != VIEW_LEFT && !strcmp(v->members[i].addr, addr)) {
        *id = v->members[i].id;
        return 0;
      }
    for (uint32_t i = 0;; i++) {
      const view_member_t *m = view_find(v, i);
      if (!m || m->state == VIEW_LEFT) {
        *id = i;
        return 0;
      }
    }
  }
  if (wanted >= (1u << CUBE_MAX_DIM)) {
    snprintf(why, why_len, "node id %u is over the largest, %u", wanted,
             (1u << CUBE_MAX_DIM) - 1);
    return HS_EINVALID;
  }
  const view_member_t *m = view_find(v, wanted);
  if (m && view_is_alive(wanted, (void *)v) && strcmp(m->addr, addr)) {
    snprintf(why, why_len, "node %u is alive at %s", wanted, m->addr);
    return HS_EEXISTS;
  }
  *id = wanted; /* new, dead, left, or the same address back again */
  return 0;
}

void member_op_join(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r) {
  hs_node_t *node = nc->node;
  uint32_t wanted, replicas, id;
  const char *addr;
  size_t an;
  if (!wire_get_u32(r, "id", &wanted) || !wire_get_str8(r, "addr", &addr, &an) ||
      !wire_get_u32(r, "replicas", &replicas) || !wire_reader_done(r))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed join request: field \"%s\"", r->bad);
  char addrz[VIEW_ADDR_MAX + 1];
  struct sockaddr_storage ss;
  if (an == 0 || an > VIEW_ADDR_MAX) return node_reply_error(
      nc, f->op, f->id, HS_EINVALID, "join: address of %zu bytes", an);
  memcpy(addrz, addr, an);
  addrz[an] = 0;
  if (addr_parse(addrz, &ss))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "join: \"%s\" is not host:port", addrz);
  if (replicas != node->replicas)
    return node_reply_error(nc, f->op, f->id, HS_EDENIED,
                            "placement differs: the joining node keeps %u "
                            "copies per topic, this cluster %u",
                            replicas, node->replicas);
  if (node->quorum_lost)
    return node_reply_error(nc, f->op, f->id, HS_EUNAVAILABLE,
                            "node %u sees no majority of the cluster alive",
                            node->cfg.id);
  char why[160];
  int rc = pick_id(node, wanted, addrz, &id, why, sizeof why);
  if (rc) return node_reply_error(nc, f->op, f->id, rc, "join: %s", why);
  rc = cluster_admit(node, id, addrz);
  if (rc) return node_reply_error(nc, f->op, f->id, rc, "join: out of memory");
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_u32(&w, id);
  cluster_put_view(node, &w);
  wire_end(&w);
}

/* ---- catching up ---------------------------------------------------------- */

static void on_holding(link_t *link, const link_reply_t *reply, void *ud);

void member_catch_up_start(hs_node_t *node) {
  uint32_t ids[1024];
  size_t n = view_live(&node->view, ids, 1024);
  if (n > 1024) n = 1024;
  buf_t b = BUF_INIT;
  if (view_encode(&node->view, &b)) return;
  map_free(&node->catch_expect);
  node->catching_up = true;
  node->catch_started_ms = uv_now(node->loop);
  node->catch_pending = 0;
  node->catch_round++; /* answers to an earlier round are not counted */
  for (size_t i = 0; i < n; i++) {
    if (ids[i] == node->cfg.id) continue;
    link_t *link = route_link(node, ids[i]);
    if (link && link_send(link, WIRE_HOLDING, 0, b.data, b.len, NULL, 0,
                                0, on_holding,
                                (void *)(uintptr_t)node->catch_round) == 0)
      node->catch_pending++;
  }
  buf_free(&b);
  LOG(&node->log, HS_LOG_INFO, "cluster", "catching_up",
      LF_UINT("asked", node->catch_pending), LF_UINT("epoch", node->view.epoch));
  member_tick(node);
}

/* A line "name next" of a HOLDING answer: the asker should hold `name`,
 * up to `next` at least (the highest any member said). Kept as next + 1
 * in the map's value. */
static void expect(hs_node_t *node, const char *line, size_t n) {
  const char *sp = memchr(line, ' ', n);
  if (!sp) return;
  size_t nn = (size_t)(sp - line);
  char digits[24];
  size_t dn = n - nn - 1 < sizeof digits - 1 ? n - nn - 1 : sizeof digits - 1;
  memcpy(digits, sp + 1, dn);
  digits[dn] = 0;
  uintptr_t next = (uintptr_t)strtoull(digits, NULL, 10) + 1;
  uintptr_t had = (uintptr_t)map_get(&node->catch_expect, line, nn);
  if (next > had) map_put(&node->catch_expect, line, nn, (void *)next);
}

uint64_t member_expected_next(const hs_node_t *node, const char *name,
                              size_t n) {
  uintptr_t v = (uintptr_t)map_get(&node->catch_expect, name, n);
  return v ? (uint64_t)(v - 1) : 0;
}

static void on_holding(link_t *link, const link_reply_t *reply, void *ud) {
  hs_node_t *node = link_data(link);
  if (!node || !node->catching_up ||
      (uintptr_t)ud != (uintptr_t)node->catch_round)
    return;
  if (node->catch_pending) node->catch_pending--;
  const char *names;
  size_t len;
  wire_reader_t r;
  if (reply->status == 0) {
    wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
    for (int part = 0; part < 3 && wire_get_bytes32(&r, "names", &names, &len);
         part++) {
      for (const char *p = names, *end = names + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n && part == 0) expect(node, p, n);
        if (n && part == 1) store_publisher_create(&node->store, p, n);
        if (n && part == 2) store_subscriber_create(&node->store, p, n);
        p += n + 1;
      }
    }
  }
  member_tick(node);
}

/* The asker should hold t and may have lost it (it restarted empty, maybe
 * before anyone saw it die): the home refills it as a replica; a copy
 * hands it back when the asker is its home. */
static void send_back(hs_node_t *node, store_topic_t *t, uint32_t asker,
                      bool asker_is_home) {
  repl_topic_t *rt = repl_of(t);
  if (!rt) return;
  if (rt->home) {
    replica_t *rep = replica_find(rt, asker);
    if (!rep || rep->state == REPLICA_SYNCING) return;
    rep->state = REPLICA_SYNCING;
    rep->fresh = true;
    takeover_sync(node, t, asker);
  } else if (asker_is_home && !rt->handing_over) {
    takeover_sync(node, t, asker);
  }
}

/* bytes32: the identities of a kind held here whose copies include the
 * asker, one per line: it takes them in with the answer, so a lookup at
 * it finds them as soon as it has caught up. */
static void put_identities(hs_node_t *node, wire_writer_t *w, map_t *m,
                           uint8_t kind, uint32_t asker) {
  buf_t names = BUF_INIT;
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(m, &i, &k, &kn, &v);) {
    uint32_t ids[HS_REPL_MAX + 1];
    size_t n = cluster_copies(node, place_identity(kind, k, kn), ids,
                              HS_REPL_MAX + 1);
    if (place_contains(ids, n, asker)) {
      buf_append(&names, k, kn);
      buf_append(&names, "\n", 1);
    }
  }
  wire_put_bytes32(w, names.data ? names.data : "", names.len);
  buf_free(&names);
}

/* HOLDING: body = the asker's view. Answers the names of the topics held
 * here whose copies include the asker. */
void member_op_holding(node_conn_t *nc, const wire_frame_t *f,
                       wire_reader_t *r) {
  hs_node_t *node = nc->node;
  view_t theirs;
  if (nc->role != WIRE_ROLE_PEER)
    return node_reply_error(nc, f->op, f->id, HS_EPROTOCOL,
                            "HOLDING is sent between peers only");
  if (view_decode(r, &theirs) || !wire_reader_done(r)) {
    view_free(&theirs);
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed holding request: field \"%s\"",
                            r->bad ? r->bad : "view");
  }
  cluster_merge(node, &theirs, nc->peer_id);
  view_free(&theirs);
  buf_t *names = &node->scratch;
  buf_clear(names);
  const char *k;
  size_t kn;
  void *v;
  uint32_t asker = nc->peer_id;
  for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);) {
    uint32_t ids[HS_REPL_MAX + 1];
    size_t n = cluster_copies(node, cube_hash(k, kn), ids, HS_REPL_MAX + 1);
    for (size_t j = 0; j < n; j++) {
      if (ids[j] != asker) continue;
      char next[24];
      int nl = snprintf(next, sizeof next, " %llu\n",
                        (unsigned long long)((store_topic_t *)v)->next);
      buf_append(names, k, kn);
      buf_append(names, next, (size_t)nl);
      send_back(node, v, asker, j == 0);
      break;
    }
  }
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_bytes32(&w, names->data ? names->data : "", names->len);
  put_identities(node, &w, &node->store.publishers, PLACE_PUBLISHER, asker);
  put_identities(node, &w, &node->store.subscribers, PLACE_SUBSCRIBER, asker);
  wire_end(&w);
}

/* How many of the topics members named are not here (or still filling). */
static size_t still_missing(hs_node_t *node) {
  size_t missing = 0;
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->catch_expect, &i, &k, &kn, &v);) {
    uint32_t ids[HS_REPL_MAX + 1];
    size_t n = cluster_copies(node, cube_hash(k, kn), ids, HS_REPL_MAX + 1);
    bool ours = place_contains(ids, n, node->cfg.id);
    store_topic_t *t = store_topic_find(&node->store, k, kn);
    uint64_t want = (uint64_t)((uintptr_t)v - 1);
    if (ours && (!t || t->next < want)) missing++;
  }
  return missing;
}

static void check_leave(hs_node_t *node);

void member_tick(hs_node_t *node) {
  if (node->leaving) check_leave(node);
  if (!node->catching_up) return;
  uint64_t took = uv_now(node->loop) - node->catch_started_ms;
  size_t missing = node->catch_pending ? 1 : still_missing(node);
  bool late = took > (uint64_t)MEMBER_PATIENCE * node->cfg.dead_ms;
  if (missing && !late) return;
  node->catching_up = false;
  if (missing)
    LOG(&node->log, HS_LOG_WARN, "cluster", "catch_up_incomplete",
        LF_UINT("missing", still_missing(node)),
        LF_UINT("unanswered", node->catch_pending), LF_UINT("ms", took));
  else
    LOG(&node->log, HS_LOG_INFO, "cluster", "caught_up",
        LF_UINT("topics", node->catch_expect.count), LF_UINT("ms", took),
        LF_UINT("epoch", node->view.epoch));
  map_free(&node->catch_expect);
}

/* ---- leaving -------------------------------------------------------------- */

static size_t handing_over(hs_node_t *node) {
  size_t n = 0;
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);) {
    repl_topic_t *rt = repl_of(v);
    if (rt && (rt->handing_over || rt->home)) n++;
  }
  return n;
}

/* Requests still unanswered on the links to live members: the view saying
 * LEFT, the hand-overs' records. Stopping would drop them. */
static size_t unanswered(hs_node_t *node) {
  size_t n = 0;
  for (size_t i = 0; i < node->view.n; i++) {
    uint32_t id = node->view.members[i].id;
    if (id == node->cfg.id || !view_is_alive(id, &node->view)) continue;
    link_t *link = map_get(&node->links, &id, 4);
    if (link) n += link_pending(link);
  }
  return n;
}

static void check_leave(hs_node_t *node) {
  size_t left = handing_over(node) + unanswered(node);
  uint64_t took = uv_now(node->loop) - node->leave_started_ms;
  if (left && took <= (uint64_t)MEMBER_PATIENCE * node->cfg.dead_ms) return;
  if (left)
    LOG(&node->log, HS_LOG_WARN, "cluster", "leave_incomplete",
        LF_UINT("waiting_for", left), LF_UINT("ms", took));
  else
    LOG(&node->log, HS_LOG_INFO, "cluster", "left", LF_UINT("ms", took),
        LF_UINT("epoch", node->view.epoch));
  relay_t *r = node->leave_relay;
  node->leave_relay = NULL;
  node_conn_t *keep = r ? r->nc : NULL;
  if (keep) {
    if (left)
      node_reply_error(keep, WIRE_LEAVE, r->id, HS_EUNAVAILABLE,
                       "node %u left with %zu hand-overs or view updates "
                       "unanswered",
                       node->cfg.id, left);
    else {
      wire_writer_t w;
      wire_begin(&w, &keep->conn.out, WIRE_LEAVE, WIRE_F_REPLY, r->id);
      wire_end(&w);
    }
  }
  if (r) route_relay_give(node, r);
  node->leaving = false;
  node_halt(node, keep, 0);
}

void member_op_leave(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r) {
  hs_node_t *node = nc->node;
  uint32_t id;
  if (!wire_get_u32(r, "node", &id) || !wire_reader_done(r))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed leave request: field \"%s\"", r->bad);
  if (id != node->cfg.id)
    return node_reply_error(nc, f->op, f->id, HS_ENO_NODE,
                            "node %u does not exist", id);
  if (node->leaving)
    return node_reply_error(nc, f->op, f->id, HS_EEXISTS,
                            "node %u is already leaving", id);
  relay_t *rl = route_relay_take(node);
  if (!rl)
    return node_reply_error(nc, f->op, f->id, HS_ENOMEM, "out of memory");
  rl->node = node;
  rl->id = f->id;
  rl->op = f->op;
  route_relay_attach(rl, nc);
  node->leave_relay = rl;
  node->leaving = true;
  node->leave_started_ms = uv_now(node->loop);
  LOG(&node->log, HS_LOG_WARN, "cluster", "leaving", LF_STR("by", nc->peer),
      LF_UINT("topics", node->store.topics.count));
  cluster_set_state(node, node->cfg.id, VIEW_LEFT);
  /* Answered by check_leave on a later heartbeat tick: by then the view
   * saying LEFT has gone out on the links, which stopping closes. */
  node->suspended = true;
}

/* ---- quorum --------------------------------------------------------------- */

void member_quorum_check(hs_node_t *node) {
  size_t members = 0, live = 0;
  for (size_t i = 0; i < node->view.n; i++) {
    const view_member_t *m = &node->view.members[i];
    if (m->state == VIEW_LEFT) continue;
    members++;
    live += m->state == VIEW_ALIVE || m->state == VIEW_SUSPECT;
  }
  bool lost = 2 * live <= members && members > 1;
  if (lost == node->quorum_lost) return;
  node->quorum_lost = lost;
  LOG(&node->log, lost ? HS_LOG_WARN : HS_LOG_INFO, "cluster",
      lost ? "quorum_lost" : "quorum_regained", LF_UINT("live", live),
      LF_UINT("members", members), LF_UINT("epoch", node->view.epoch));
  if (lost) repl_fence(node, "this node sees no majority of the cluster alive");
}

void member_stats_json(hs_node_t *node, buf_t *out) {
  char tmp[96];
  int n = snprintf(tmp, sizeof tmp,
                   ",\"catching_up\":%d,\"quorum\":%s", node->catching_up,
                   node->quorum_lost ? "false" : "true");
  buf_append(out, tmp, (size_t)n);
}

void member_free(hs_node_t *node) {
  member_stop_joining(node);
  map_free(&node->catch_expect);
}
