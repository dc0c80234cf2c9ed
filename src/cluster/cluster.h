/* cluster — this node's membership: the view it holds, built from its
 * configuration and changed by what peers tell it and what it decides
 * itself, and the parts told of each change.
 *
 * A change fires the listeners in the order they were registered (the node
 * wires: drop the links to the dead, check quorum, move topics, spread
 * what was decided here). Two hooks tell the node what only it can act
 * on: this node may have been cut off (its uncommitted records must go),
 * and it came back from the dead (it must catch up). */
#ifndef HS_CLUSTER_H
#define HS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/json.h"
#include "core/log.h"
#include "core/stats.h"
#include "cube/place.h"
#include "cube/view.h"
#include "hypersub.h"

typedef struct cluster_change {
  const view_t *old;    /* the view before */
  uint32_t from;        /* who told us; this node for its own decisions */
  bool ours;            /* it holds a decision made here: spread it */
  bool placement_moved; /* a member started or stopped serving */
} cluster_change_t;

typedef void (*cluster_listener_fn)(void *ud, const cluster_change_t *change);

typedef struct cluster_hooks {
  /* This node may have been cut off: it lost quorum, or learnt it was
   * declared dead. */
  void (*fenced)(void *ud, const char *why);
  /* It was declared dead and came back: fetch what it should hold. */
  void (*rejoined)(void *ud);
  void *ud;
} cluster_hooks_t;

#define CLUSTER_LISTENERS_MAX 8

typedef struct cluster {
  uint32_t self;
  uint32_t replicas; /* copies per topic; HS_REPLICAS_NEIGHBOURS: D + 1 */
  view_t view;
  char self_addr[ADDR_MAX + 1]; /* "host:port" it listens on */
  bool leaving;      /* LEFT in its own view: it says nothing against it */
  bool quorum_lost;  /* it sees no majority of the members alive */
  uint64_t digest;   /* view_digest of the view, while digest_ok */
  bool digest_ok;
  struct {
    cluster_listener_fn fn;
    void *ud;
  } listeners[CLUSTER_LISTENERS_MAX];
  size_t n_listeners;
  cluster_hooks_t hooks;
  log_t *log;
  stats_t *stats;
} cluster_t;

/* This node (alive, version 1) and its configured peers; a joining node
 * starts empty and adopts the view its JOIN answer gives. 0, or
 * HS_EINVALID (a peer twice, a peer with our id, an address that is not
 * host:port, an id over HS_ID_MAX) / HS_ENOMEM. */
int cluster_init(cluster_t *c, const hs_node_config_t *cfg, const char *host,
                 log_t *log, stats_t *stats);
void cluster_free(cluster_t *c);
/* Our own entry gets the bound address, in place: no peer has seen it. */
void cluster_listening(cluster_t *c, const char *host, int port);
/* A joining node's place: its id and the view the coordinator sent (taken
 * over: `view` is empty afterwards). */
void cluster_adopt(cluster_t *c, uint32_t id, view_t *view);

/* Listeners run in registration order. 0 or HS_ENOMEM when full. */
int cluster_listen(cluster_t *c, cluster_listener_fn fn, void *ud);

/* Merges a view learnt from `from`; when ours changes, says we are alive
 * if it thinks otherwise, and tells the listeners. Returns the number of
 * members that changed. */
int cluster_merge(cluster_t *c, const view_t *theirs, uint32_t from);
/* A decision made here (suspect, dead, alive, left). */
void cluster_set_state(cluster_t *c, uint32_t id, view_state_t state);
/* A JOIN admitted `id` at `addr`. 0 or HS_EINVALID / HS_ENOMEM. */
int cluster_admit(cluster_t *c, uint32_t id, const char *addr);
/* This node leaves: LEFT in its own view, spread; it refutes nothing. */
void cluster_leave(cluster_t *c);

/* A listener (the node wires it after the link dropper): does this node
 * still see a majority of the members alive? Losing it fences. */
void cluster_quorum_listener(void *ud, const cluster_change_t *change);

/* Placement under the current view. */
size_t cluster_copies(const cluster_t *c, uint64_t h, uint32_t *out,
                      size_t cap);
/* The home of h, or this node when no member serves. */
uint32_t cluster_home(const cluster_t *c, uint64_t h);
bool cluster_alive(const cluster_t *c, uint32_t id);
/* Copies per topic under the current view (the D + 1 rule applied). */
uint32_t cluster_copy_count(const cluster_t *c);

/* view_digest of the view, kept until the view changes. */
uint64_t cluster_digest(cluster_t *c);

const char *cluster_state_name(view_state_t s);
/* {"self":..,"epoch":..,"dim":..,"replicas":..,"members":[...]} */
void cluster_view_json(const cluster_t *c, json_t *j);

#endif
