/* repl_topic — a topic's replication state, shared by repl.c (the home's
 * stream), sync.c (aligning copies), takeover.c (what moves when the view
 * does) and apply.c (the receiving side). Internal to repl. */
#ifndef HS_REPL_TOPIC_H
#define HS_REPL_TOPIC_H

#include "repl/repl.h"

/* Most replicas a topic can have besides its home. */
#define REPL_MAX (PLACE_COPIES_MAX - 1)

/* A replica's stream has at most this many frames, and past the first
 * REPL_WINDOW bytes, unacknowledged: a long refill then goes out a window
 * at a time, and whatever else shares the link (relayed requests, their
 * answers, other topics) waits behind at most that much, not the log. */
#define REPL_OUT_FRAMES 8
#define REPL_WINDOW ((size_t)1 << 20)

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
  /* New to the copy set (or back without its log) and still behind: not
   * counted toward "all" until it holds what the others hold (as long as
   * R-1 copies count without it), so a refill of a long log does not hold
   * publishes back. */
  bool filling;
  uint64_t acked; /* its next offset, as it acknowledged */
  uint64_t sent;  /* records below this went to it */
  uint32_t lives; /* times it went live (each after a SYNC: repl_live) */
  /* The stream's frames not acknowledged yet, oldest first (acks come in
   * order on the link): their sizes, how many, and their sum. */
  uint32_t out_size[REPL_OUT_FRAMES];
  uint8_t out_head, out_n;
  size_t out_bytes;
} replica_t;

/* Forgets the frames in flight (the stream starts again after a SYNC). */
static inline void replica_out_reset(replica_t *rep) {
  rep->out_head = rep->out_n = 0;
  rep->out_bytes = 0;
}

/* Every holder's state of a topic (t->repl). The home tracks its replicas
 * and the publishes waiting for "all"; a replica only knows what the home
 * said is committed. */
struct repl_topic {
  store_topic_t *topic;
  bool home;            /* this node serves the topic */
  bool handing_over;    /* it lost the topic: its records go to the new home */
  bool handover_failed; /* that SYNC failed: the next tick sends it again */
  uint64_t committed;   /* every copy holds the offsets below this */
  /* On a replica: the highest committed offset a home has told this copy
   * since this process made it. A copy restored from disk starts with its
   * whole log as `committed`; what it may hand out (repl_readable) is only
   * what a home said. */
  uint64_t heard;
  repl_topic_t *dirty_prev, *dirty_next; /* repl->dirty */
  bool dirty;           /* records or a commit to send this turn */
  bool commit_due;      /* replicas have not heard the latest committed */
  /* A topic handed here: the former home's records up to filling_to are
   * on their way; until they are in, requests get UNAVAILABLE. */
  uint64_t filling_to;
  uint32_t filling_from;
  uint64_t filling_heard; /* when they last came (uv_now) */
  /* Promoted: no new record until every replica answered its SYNC and
   * handed back what it holds past us (takeover_settle). */
  bool settling;
  size_t n;
  replica_t r[REPL_MAX];
  repl_waiter_t *head, *tail; /* publishes waiting for "all", oldest first */
};

static inline repl_topic_t *repl_of(const store_topic_t *t) { return t->repl; }

static inline replica_t *replica_find(repl_topic_t *rt, uint32_t id) {
  for (size_t i = 0; rt && i < rt->n; i++)
    if (rt->r[i].id == id) return &rt->r[i];
  return NULL;
}

static inline uint32_t repl_self(const repl_t *r) { return r->cluster->self; }

/* repl.c */
repl_topic_t *repl_state(repl_t *r, store_topic_t *t);
void repl_mark_dirty(repl_t *r, repl_topic_t *rt);
/* The copies of t under the current view, home first. */
size_t repl_copies(const repl_t *r, const store_topic_t *t, uint32_t *out);
/* Whether `peer` may change this node's copy of a topic: it is the home
 * in our view, or we are the home and it hands records back to us. */
bool repl_accepts(const repl_t *r, const char *name, size_t nn, uint32_t peer);
/* Whether `peer` is the topic's home in our view. */
bool repl_home_is(const repl_t *r, const char *name, size_t nn, uint32_t peer);
void repl_identity_to(repl_t *r, uint8_t kind, const char *id, size_t n,
                      uint32_t to);
/* Sends records [from, end) of t to one peer as APPEND frames. */
void repl_send_range(repl_t *r, store_topic_t *t, uint32_t to, uint64_t from,
                     uint64_t end);
void repl_send_cursors(repl_t *r, store_topic_t *t, uint32_t to);
void repl_send_commit(repl_t *r, repl_topic_t *rt);
/* Recomputes committed from the replicas' acks; answers the publishes it
 * covers and tells the node records are readable. */
void repl_advance(repl_t *r, repl_topic_t *rt);
/* Answers every publish waiting on rt with an error. */
void repl_fail_waiting(repl_topic_t *rt, int code, const char *why);
void repl_readable_now(repl_t *r, store_topic_t *t);
/* A replica heard from its home that offsets below `committed` are
 * committed: `committed` (never past what the copy holds) and `heard`
 * only grow. True when `heard` grew. */
bool repl_heard_commit(repl_topic_t *rt, uint64_t committed);

/* sync.c */
/* Sends SYNC for t to `to`: it answers with its next offset, and each side
 * then sends the other the records it lacks. */
void sync_send(repl_t *r, store_topic_t *t, uint32_t to);
/* Ends a promoted home's settling once every replica's stream is live and
 * the records they held past the home are in. */
void sync_settle(repl_t *r, repl_topic_t *rt);
/* Sends a SYNC to each replica whose stream is broken (or that waited for
 * the home's own fill to end). */
void sync_broken(repl_t *r, repl_topic_t *rt);
/* Records up to `next` are on their way from `from`: requests wait for
 * them (UNAVAILABLE) before this home serves or writes, until `from` dies
 * or sends none for r->stall_ms (the tick then cuts the hand-over). */
void sync_await(repl_t *r, repl_topic_t *rt, uint64_t next, uint32_t from);
/* Cursors past the records t holds are moved back to its next offset (a
 * hand-over was cut: what they point past will not come). */
void sync_cursors_within(repl_t *r, store_topic_t *t);

/* takeover.c */
/* What t's copy set under the current view asks of this node (promote,
 * set replicas, demote, drop); `old` the view before, or NULL. */
void takeover_topic(repl_t *r, store_topic_t *t, const view_t *old);

/* apply.c */
int apply_sync(repl_t *r, uint32_t from, msg_replicate_t *m, repl_answer_t *ans,
               char *why, size_t why_len);

#endif
