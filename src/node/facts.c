/* facts — what a node says of itself for monitoring (and in STATS, so a
 * node showing the cube can ask the others): the topics it homes and
 * replicates, how far its replicas lag, topics short of copies, its
 * links, and whether it is ready. */
#include "node/node.h"

/* Most replicas a topic has besides its home. */
#define LAGS_MAX 32

/* Copies a topic should have now: the copy count, at most the members
 * that have not left (a dead one still counts: its copy is missing). */
static uint64_t copies_wanted(const hs_node_t *node) {
  const view_t *v = &node->cluster.view;
  uint64_t members = 0;
  for (size_t i = 0; i < v->n; i++)
    members += v->members[i].state != VIEW_LEFT;
  uint64_t want = cluster_copy_count(&node->cluster);
  return want < members ? want : members;
}

void facts_of(hs_node_t *node, facts_t *f) {
  *f = (facts_t){0};
  uint64_t now = log_now_ms(), want = copies_wanted(node);
  repl_lag_t lags[LAGS_MAX];
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    if (!repl_is_home(t)) {
      f->topics_replicated++;
      continue;
    }
    f->topics_homed++;
    size_t n = repl_lags(t, now, lags, LAGS_MAX);
    bool short_of_copies = n + 1 < want;
    for (size_t k = 0; k < n; k++) {
      if (lags[k].records > f->lag_records) f->lag_records = lags[k].records;
      if (lags[k].ms > f->lag_ms) f->lag_ms = lags[k].ms;
      short_of_copies = short_of_copies || !lags[k].streaming;
    }
    f->under_replicated += short_of_copies;
  }
}

void facts_json(hs_node_t *node, json_t *j) {
  facts_t f;
  facts_of(node, &f);
  json_u64(j, "topics_homed", f.topics_homed);
  json_u64(j, "topics_replicated", f.topics_replicated);
  json_u64(j, "under_replicated", f.under_replicated);
  json_u64(j, "replica_lag_records", f.lag_records);
  json_u64(j, "replica_lag_ms", f.lag_ms);
  uint32_t ids[256];
  size_t n = peers_ids(&node->peers, ids, 256);
  json_open_list(j, "links");
  for (size_t i = 0; i < n && i < 256; i++) json_u64(j, NULL, ids[i]);
  json_close_list(j);
  const char *why;
  json_bool(j, "ready", facts_ready(node, &why));
}

bool facts_ready(const hs_node_t *node, const char **why) {
  *why = node->state == HS_NODE_JOINING ? "joining the cluster"
         : node->state != HS_NODE_RUNNING ? "not running"
         : node->cluster.leaving          ? "leaving the cluster"
         : node->member.catching_up       ? "catching up"
         : node->cluster.quorum_lost      ? "no quorum: the majority is out of reach"
                                          : NULL;
  return *why == NULL;
}
