/* repl (internal) — what repl.c (the stream from home to replicas) and
 * takeover.c (what changes when the view does) share. */
#ifndef HS_REPL_H
#define HS_REPL_H

#include "node/node.h"

/* Where a replica's stream stands, as its home sees it. */
typedef enum {
  REPLICA_SYNCING = 1, /* a SYNC is out: appends wait for its answer */
  REPLICA_LIVE,        /* appends flow as they are made */
  REPLICA_BROKEN       /* its stream failed: synced again on the next tick */
} replica_state_t;

typedef struct replica {
  uint32_t id;
  replica_state_t state;
  bool fresh;     /* joined the copy set after the topic was made: a refill */
  uint64_t acked; /* its next offset, as it acknowledged */
  uint64_t sent;  /* records below this went to it */
} replica_t;

/* Every holder's state of a topic (t->repl). The home tracks its
 * replicas and the publishes waiting for "all"; a replica only knows what
 * the home said is committed. */
typedef struct repl_topic repl_topic_t;
struct repl_topic {
  store_topic_t *topic;
  bool home;          /* this node serves the topic */
  bool handing_over;  /* it lost the topic: its records go to the new home */
  bool handover_failed; /* that SYNC failed: the next tick sends it again */
  uint64_t committed; /* every copy holds the offsets below this */
  repl_topic_t *dirty_prev, *dirty_next; /* node->repl_dirty */
  bool dirty;         /* records or a commit to send this turn */
  bool commit_due;    /* replicas have not heard the latest committed */
  /* A topic handed here: the former home's records up to filling_to are
   * on their way; until they are in, requests get UNAVAILABLE. */
  uint64_t filling_to;
  uint32_t filling_from;
  /* Promoted: no new record until every replica answered its SYNC and
   * handed back what it holds past us (takeover_settle). */
  bool settling;
  size_t n;
  replica_t r[HS_REPL_MAX];
  relay_t *head, *tail; /* publishes waiting for "all", oldest first */
};

static inline repl_topic_t *repl_of(const store_topic_t *t) { return t->repl; }

static inline replica_t *replica_find(repl_topic_t *rt, uint32_t id) {
  for (size_t i = 0; rt && i < rt->n; i++)
    if (rt->r[i].id == id) return &rt->r[i];
  return NULL;
}

/* repl.c */
/* Sends one identity to one peer. */
void repl_identity_to(hs_node_t *node, uint8_t kind, const char *id,
                      size_t n, uint32_t to);
/* Whether `peer` may change this node's copy of a topic: it is the home in
 * our view, or we are the home and it hands records back to us. */
bool repl_accepts(hs_node_t *node, const char *name, size_t nn, uint32_t peer);
/* Tells the live replicas the committed offset (for replica reads). */
void repl_send_commit(hs_node_t *node, repl_topic_t *rt);
repl_topic_t *repl_state(hs_node_t *node, store_topic_t *t);
void repl_mark_dirty(hs_node_t *node, repl_topic_t *rt);
void repl_send_range(hs_node_t *node, store_topic_t *t, uint32_t to,
                     uint64_t from, uint64_t end);
void repl_send_cursors(hs_node_t *node, store_topic_t *t, uint32_t to);
/* Recomputes committed from the replicas' acks; answers the publishes it
 * covers and wakes the long polls it makes readable. */
void repl_advance(hs_node_t *node, repl_topic_t *rt);
/* Answers every publish waiting on rt with an error. */
void repl_fail_waiting(hs_node_t *node, repl_topic_t *rt, int code,
                       const char *why);
/* The nodes holding copies of t, home first (at most HS_REPL_MAX + 1). */
size_t repl_copies(const hs_node_t *node, const store_topic_t *t,
                   uint32_t *out);

/* takeover.c */
/* Sends SYNC for t to `to`: it answers with its next offset, and each side
 * then sends the other the records it lacks. */
void takeover_sync(hs_node_t *node, store_topic_t *t, uint32_t to);
/* Ends a promoted home's settling once every replica's stream is live and
 * the records they held past the home are in. */
void takeover_settle(hs_node_t *node, repl_topic_t *rt);
/* The replica side of SYNC. */
void takeover_op_sync(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r, const char *name, size_t nn);

#endif
