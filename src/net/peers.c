/* peers — links by peer id, over a map. */
#include "net/peers.h"

#include <stdlib.h>
#include <string.h>

#include "hypersub.h"

link_t *peers_find(const peers_t *p, uint32_t peer) {
  return map_get(&p->links, &peer, 4);
}

/* Each link's data: which peer it leads to. The link frees it with its
 * memory, so a callback run after the link was dropped still sees the
 * peer; it is cleared when the node closes. */
typedef struct peer_ref {
  uint32_t id;
} peer_ref_t;

bool peers_id(const link_t *link, uint32_t *id) {
  const peer_ref_t *ref = link_data(link);
  if (ref) *id = ref->id;
  return ref != NULL;
}

/* Frees a link as the node closes: its failing callbacks see no peer. */
static void close_link(link_t *link) {
  peer_ref_t *ref = link_data(link);
  link_set_data(link, NULL, NULL);
  link_free(link);
  free(ref);
}

link_t *peers_link(peers_t *p, uint32_t peer) {
  link_t *link = peers_find(p, peer);
  if (link) return link;
  const view_member_t *m = view_find(p->view, peer);
  if (!m) return NULL;
  buf_t view = BUF_INIT;
  if (view_encode(p->view, &view)) return NULL;
  const char *addrs[1] = {m->addr};
  for (size_t i = 0; i < p->n_dial; i++)
    if (p->dial[i].id == peer) addrs[0] = p->dial[i].addr;
  link_config_t cfg = {
      .addrs = addrs,
      .n_addrs = 1,
      .timeout_ms = p->timeout_ms,
      .max_output = p->max_output,
      .hello = {.role = WIRE_ROLE_PEER,
                .cluster = msg_str(p->cluster, strlen(p->cluster)),
                .key = p->key,
                .node = p->self,
                .incarnation = p->incarnation,
                .replicas = p->replicas,
                .view = msg_str(view.data, view.len),
                .expect = peer},
      .flusher = p->flusher,
      .refused_cb = p->refused_cb,
      .refused_ud = p->refused_ud,
      .tls = p->tls,
  };
  peer_ref_t *ref = malloc(sizeof *ref);
  int rc = ref ? link_new(p->loop, &cfg, &link) : HS_ENOMEM;
  buf_free(&view);
  if (rc) {
    free(ref);
    return NULL;
  }
  ref->id = peer;
  link_set_data(link, ref, free);
  if (map_put(&p->links, &peer, 4, link)) {
    close_link(link);
    return NULL;
  }
  LOG(p->log, HS_LOG_INFO, "cluster", "link_opened", LF_UINT("peer", peer),
      LF_STR("addr", addrs[0]));
  return link;
}

void peers_drop(peers_t *p, uint32_t peer) {
  link_t *link = map_del(&p->links, &peer, 4);
  if (!link) return;
  /* Its requests fail now (CLOSED), through their callbacks, which still
   * see the peer: relayed clients hear of it and retry elsewhere. */
  link_free(link);
}

void peers_close(peers_t *p) {
  void *v;
  for (size_t i = 0; map_next(&p->links, &i, NULL, NULL, &v);) close_link(v);
  map_free(&p->links);
}

size_t peers_unanswered(const peers_t *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->view->n; i++) {
    const view_member_t *m = &p->view->members[i];
    if (m->id == p->self || !view_serves(m->state)) continue;
    link_t *link = peers_find(p, m->id);
    if (link) n += link_pending(link);
  }
  return n;
}

/* A link to prune: its member no longer serves (or is gone from the view)
 * and nothing waits on it. */
static bool prunable(const peers_t *p, uint32_t *out) {
  void *v;
  const char *key;
  for (size_t i = 0; map_next(&p->links, &i, &key, NULL, &v);) {
    uint32_t id;
    memcpy(&id, key, sizeof id);
    const view_member_t *m = view_find(p->view, id);
    if (link_pending(v)) continue;
    bool idle = p->idle_ms && uv_now(p->loop) - link_used(v) >= p->idle_ms &&
                !(p->keep && p->keep(p->keep_ud, id));
    if (!m || !view_serves(m->state) || idle) {
      *out = id;
      return true;
    }
  }
  return false;
}

void peers_prune(peers_t *p) {
  uint32_t id;
  while (prunable(p, &id)) peers_drop(p, id);
}

size_t peers_ids(const peers_t *p, uint32_t *out, size_t cap) {
  size_t n = 0;
  const char *key;
  for (size_t i = 0; map_next(&p->links, &i, &key, NULL, NULL);) {
    if (n < cap) memcpy(&out[n], key, sizeof out[n]);
    n++;
  }
  return n;
}
