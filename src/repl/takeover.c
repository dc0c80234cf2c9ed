/* takeover — what moves when the view changes: a replica that is now first
 * in a topic's preference list is promoted to home, replicas that joined a
 * copy set are refilled, a home that lost a topic hands it to the new one,
 * and copies no longer wanted are dropped (all of it through SYNC:
 * sync.c). Also the tick: broken streams synced again, commits told. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl/repl_topic.h"

/* ---- becoming home, or not -------------------------------------------------- */

/* Sets rt's replicas to ids[1..n), keeping the streams of those that stay
 * and syncing the others; `old` says which held a copy before. */
static void set_replicas(repl_t *r, repl_topic_t *rt, const uint32_t *ids,
                         size_t n, const uint32_t *old, size_t n_old) {
  replica_t keep[REPL_MAX];
  size_t k = 0;
  for (size_t i = 1; i < n && k < REPL_MAX; i++) {
    replica_t *had = replica_find(rt, ids[i]);
    if (had) {
      keep[k++] = *had;
      continue;
    }
    bool fresh = !place_contains(old, n_old, ids[i]);
    keep[k++] = (replica_t){.id = ids[i],
                            .state = REPLICA_SYNCING,
                            .fresh = fresh,
                            .filling = fresh};
  }
  memcpy(rt->r, keep, k * sizeof *keep);
  rt->n = k;
  /* A home whose former home's records are still on their way syncs its
   * replicas once they are in (sync_broken): a SYNC now would carry a
   * committed offset past its next, which a replica refuses. */
  bool filling = rt->filling_to > rt->topic->next;
  for (size_t i = 0; i < k; i++) {
    if (rt->r[i].state != REPLICA_SYNCING) continue;
    if (filling)
      rt->r[i].state = REPLICA_BROKEN;
    else
      sync_send(r, rt->topic, rt->r[i].id);
  }
}

static void promote(repl_t *r, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  rt->home = true;
  rt->handing_over = false;
  rt->settling = true;
  rt->n = 0; /* every replica is synced: we do not know their state */
  r->stats->promotions++;
  LOG(r->log, HS_LOG_WARN, "repl", "topic_promoted_here",
      LF_STR("topic", t->name), LF_UINT("epoch", r->cluster->view.epoch),
      LF_UINT("next", t->next), LF_UINT("committed", rt->committed));
}

static void demote(repl_t *r, repl_topic_t *rt, uint32_t new_home) {
  char why[96];
  snprintf(why, sizeof why, "the topic moved to node %u", new_home);
  repl_fail_waiting(rt, HS_EUNAVAILABLE, why);
  /* Long polls parked here own no cursor any more: answered now, they are
   * asked again at the new home instead of waiting out their wait. */
  if (r->hooks.dropped) {
    char moved[64];
    snprintf(moved, sizeof moved, "moved to node %u", new_home);
    r->hooks.dropped(r->hooks.ud, rt->topic, HS_EUNAVAILABLE, moved);
  }
  rt->home = false;
  rt->n = 0;
  rt->handing_over = true; /* the new home may lack what we hold */
  sync_send(r, rt->topic, new_home);
}

void takeover_topic(repl_t *r, store_topic_t *t, const view_t *old) {
  uint32_t ids[PLACE_COPIES_MAX], was[PLACE_COPIES_MAX];
  uint64_t h = place_topic(t->name, t->name_len);
  size_t n = cluster_copies(r->cluster, h, ids, PLACE_COPIES_MAX);
  size_t n_was =
      old ? place_copies(old, r->cluster->replicas, h, was, PLACE_COPIES_MAX)
          : 0;
  repl_topic_t *rt = repl_state(r, t);
  if (!rt || n == 0) return;
  uint32_t self = repl_self(r);
  if (ids[0] == self) {
    if (!rt->home) promote(r, rt);
    set_replicas(r, rt, ids, n, was, n_was);
    repl_advance(r, rt);
    sync_settle(r, rt); /* at once when there is no replica */
  } else if (rt->home) {
    demote(r, rt, ids[0]);
  } else if (!place_contains(ids, n, self) && !rt->handing_over) {
    LOG(r->log, HS_LOG_INFO, "repl", "topic_dropped_here",
        LF_STR("topic", t->name), LF_UINT("home", ids[0]),
        LF_UINT("epoch", r->cluster->view.epoch));
    repl_drop_copy(r, t, false);
  }
}

/* Identities held here go to the members of their copy sets that may lack
 * them (creating one that exists is a no-op). */
static void reconcile_identities(repl_t *r, map_t *m, uint8_t kind) {
  const char *k;
  size_t kn;
  void *v;
  uint32_t self = repl_self(r);
  for (size_t i = 0; map_next(m, &i, &k, &kn, &v);) {
    uint32_t ids[PLACE_COPIES_MAX];
    size_t n = cluster_copies(r->cluster, place_identity(kind, k, kn), ids,
                              PLACE_COPIES_MAX);
    if (place_contains(ids, n, self) && ids[0] != self)
      repl_identity_to(r, kind, k, kn, ids[0]); /* the home may be new */
    else if (n && ids[0] == self)
      repl_identity(r, kind, k, kn);
  }
}

void repl_view_listener(void *ud, const cluster_change_t *change) {
  repl_t *r = ud;
  if (!change->placement_moved) return;
  /* Dropping copies changes the topics map: act on a list of them. */
  size_t n = r->store->topics.count, k = 0;
  store_topic_t **all = n ? malloc(n * sizeof *all) : NULL;
  if (n && !all) return;
  void *v;
  for (size_t i = 0; map_next(&r->store->topics, &i, NULL, NULL, &v);)
    all[k++] = v;
  for (size_t i = 0; i < k; i++) takeover_topic(r, all[i], change->old);
  free(all);
  reconcile_identities(r, &r->store->publishers, PLACE_PUBLISHER);
  reconcile_identities(r, &r->store->subscribers, PLACE_SUBSCRIBER);
}

void repl_restored(repl_t *r) {
  size_t n = r->store->topics.count, k = 0;
  store_topic_t **all = n ? malloc(n * sizeof *all) : NULL;
  if (n && !all) return;
  void *v;
  for (size_t i = 0; map_next(&r->store->topics, &i, NULL, NULL, &v);)
    all[k++] = v;
  for (size_t i = 0; i < k; i++)
    if (!repl_of(all[i])) takeover_topic(r, all[i], NULL);
  free(all);
}

/* ---- the tick, and catching up ------------------------------------------------- */

/* A home's topic on a tick: a hand-over cut short, broken streams, a
 * stream that waited for room, a commit to tell. */
static void tick_home(repl_t *r, repl_topic_t *rt) {
  store_topic_t *t = rt->topic;
  bool died = rt->filling_to && !cluster_alive(r->cluster, rt->filling_from);
  if (died || (rt->filling_to &&
               uv_now(r->loop) - rt->filling_heard >= r->stall_ms)) {
    /* Its former home died while handing it over, or sent nothing for a
     * peer timeout (its link broke, or it said it held records it did not
     * send): serve what came. No cursor it sent points past that. */
    LOG(r->log, HS_LOG_WARN, "repl", "handover_cut", LF_STR("topic", t->name),
        LF_UINT("from", rt->filling_from), LF_UINT("next", t->next),
        LF_UINT("expected", rt->filling_to),
        LF_STR("why", died ? "its sender died" : "nothing came"));
    rt->filling_to = 0;
    sync_cursors_within(r, t);
    sync_settle(r, rt);
  }
  for (size_t j = 0; j < rt->n; j++) {
    replica_t *rep = &rt->r[j];
    /* A stream that waited for room on a link another topic filled. */
    if (rep->state == REPLICA_LIVE && rep->sent < t->next)
      repl_mark_dirty(r, rt);
  }
  if (rt->filling_to <= t->next) sync_broken(r, rt);
  if (rt->commit_due) {
    rt->commit_due = false;
    repl_send_commit(r, rt);
  }
}

void repl_tick(repl_t *r) {
  void *v;
  for (size_t i = 0; map_next(&r->store->topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    repl_topic_t *rt = repl_of(t);
    if (!rt) continue;
    if (rt->home) {
      tick_home(r, rt);
    } else if (rt->handover_failed) {
      uint32_t home;
      if (cluster_copies(r->cluster, place_topic(t->name, t->name_len), &home,
                         1)) {
        rt->handover_failed = false;
        sync_send(r, t, home);
      }
    }
  }
}

size_t repl_holding(const repl_t *r) {
  size_t n = 0;
  void *v;
  for (size_t i = 0; map_next(&r->store->topics, &i, NULL, NULL, &v);) {
    repl_topic_t *rt = repl_of(v);
    if (rt && (rt->handing_over || rt->home)) n++;
  }
  return n;
}
