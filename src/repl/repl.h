/* repl — primary-backup replication of topics from their home to the next
 * nodes of their preference list, and what moves when the view changes.
 *
 * The home applies a change, then sends it to each replica on the peer
 * link as a REPLICATE request; links keep order, and the flusher batches
 * frames into one write per turn. A replica applies appends only at its
 * exact next offset, with the home's time, producer and sequence number,
 * so its log is byte-identical to the home's, and answers with its next
 * offset: acks are cumulative. Offsets below the lowest ack are committed:
 * only those are served to pullers, and a publish with ack "all" is
 * answered once its offset is committed, so no message a client has seen
 * can vanish in a failover.
 *
 * The node is told through hooks when records become readable (pulls
 * parked on the topic may go) and when a copy goes away (they must be
 * answered). A publish waiting for "all" is a repl_waiter_t the node
 * embeds in its request; its `done` runs once, with 0 or an error. */
#ifndef HS_REPL_H
#define HS_REPL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "core/json.h"
#include "net/peers.h"
#include "proto/msg.h"
#include "store/store.h"

typedef struct repl_topic repl_topic_t;

typedef struct repl_hooks {
  /* Records of t became readable (appended, committed, rewound), or a
   * replica acknowledged more of them (what it may serve grew). */
  void (*readable)(void *ud, store_topic_t *t);
  /* t's pulls must be answered now: code NO_TOPIC (deleted) or
   * UNAVAILABLE (moved, or records lost), with why (after "topic X "). */
  void (*dropped)(void *ud, store_topic_t *t, int code, const char *why);
  /* New records of t went on the live replicas' links (a cursor sent now
   * reaches each of them behind those records). NULL: nobody asks. */
  void (*streamed)(void *ud, store_topic_t *t);
  void *ud;
} repl_hooks_t;

typedef struct repl_waiter repl_waiter_t;
struct repl_waiter {
  repl_waiter_t *next; /* the topic's queue, oldest first */
  uint64_t offset;     /* answered once every replica holds it */
  /* status 0: committed; else why it never will be here. */
  void (*done)(repl_waiter_t *w, int status, const char *why);
};

typedef struct repl {
  uv_loop_t *loop;
  uv_check_t check;    /* sends the turn's appends, batched */
  repl_topic_t *dirty; /* topics with records or a commit to send */
  store_t *store;
  peers_t *peers;
  cluster_t *cluster;
  log_t *log;
  stats_t *stats;
  size_t frame_budget; /* bytes of records in one frame */
  uint32_t stall_ms;   /* a hand-over that brings nothing this long is cut */
  repl_hooks_t hooks;
} repl_t;

/* The check handle is the caller's to close (repl_check_handle). */
void repl_init(repl_t *r, uv_loop_t *loop, store_t *store, peers_t *peers,
               cluster_t *cluster, size_t max_frame, uint32_t stall_ms,
               log_t *log, stats_t *stats);
uv_handle_t *repl_check_handle(repl_t *r);
/* Drops every topic's replication state (waiters get CLOSED). */
void repl_free_all(repl_t *r);

/* ---- the home --------------------------------------------------------------- */

/* An identity made here at its home: to its replicas. */
void repl_identity(repl_t *r, uint8_t kind, const char *id, size_t n);
/* A topic made here: its replicas get it (SYNC). 0 or HS_ENOMEM. */
int repl_topic_created(repl_t *r, store_topic_t *t);
/* A topic deleted here: its waiters fail, its replicas drop it. */
void repl_topic_deleted(repl_t *r, store_topic_t *t);
/* True when the append went to replicas (so "all" has something to wait
 * for); false when this copy is the only one (it is committed). */
bool repl_append(repl_t *r, store_topic_t *t);
/* The home streams t to replicas (else only its own copy counts). */
bool repl_replicated(const store_topic_t *t);
/* A home's replicas when every one of them is live (none syncing): a
 * stamp of each (at most cap), which changes when it is replaced or synced
 * again (a SYNC carries the home's cursors), and, in *sent, the offset
 * below which records went to all of them. 0 when t is not replicated from
 * here or one is not live. */
size_t repl_live(const store_topic_t *t, uint64_t *stamps, size_t cap,
                 uint64_t *sent);
/* Parks w until every replica holds w->offset. */
void repl_wait(repl_t *r, store_topic_t *t, repl_waiter_t *w);
/* t->synced moved up (the disk wrote its records): what waited on the
 * home's own copy may go on. */
void repl_synced(repl_t *r, store_topic_t *t);
/* The topics the store holds at start (loaded from disk) take their
 * roles under the view: a home settles with its replicas, a copy no
 * longer wanted goes. */
void repl_restored(repl_t *r);
/* A waiter for a cursor's replicas: done once every live replica asked
 * answered (or failed). */
typedef struct repl_cursor_wait repl_cursor_wait_t;
struct repl_cursor_wait {
  struct repl *repl;
  size_t pending;
  void (*done)(repl_cursor_wait_t *w);
};

/* Tells t's live replicas a subscriber's cursor (next, and prev: where the
 * pull that moved it began). With w, w->done is called once they all
 * answered, unless none was asked (returns 0). */
size_t repl_cursor(repl_t *r, store_topic_t *t, const char *sid, size_t sn,
                   uint64_t next, uint64_t prev, repl_cursor_wait_t *w);
/* Offsets below this may be served to pullers: on the home, what every
 * replica holds; on a replica, what a home told it was committed since
 * this process made the copy (not what it restored from disk). */
uint64_t repl_readable(const store_topic_t *t);
/* What the copy `server` has acknowledged of t (0 when unknown). */
uint64_t repl_acked(const store_topic_t *t, uint32_t server);
/* Whether this home streams t to `server` (one of its replicas), whose
 * acknowledgements then move on. */
bool repl_streams_to(const store_topic_t *t, uint32_t server);
/* Drops this node's copy of a topic (its pulls hear NO_TOPIC or
 * UNAVAILABLE) and the topic from the store. */
void repl_drop_copy(repl_t *r, store_topic_t *t, bool deleted);

/* Whether this node may serve t as its home now (see repl_serving). */
typedef enum {
  REPL_SERVE_OK = 0,
  REPL_SERVE_SETTLING, /* promoted: hearing from its replicas first */
  REPL_SERVE_FILLING   /* handed here: the former home's records coming */
} repl_serve_t;
repl_serve_t repl_serving(const store_topic_t *t, uint32_t *from);
/* t is held here as a copy the home does not hand over (a replica that
 * may serve reads), or is the home. */
bool repl_is_copy(const store_topic_t *t);
bool repl_is_home(const store_topic_t *t);

/* ---- what the view moves ------------------------------------------------------ */

/* The listener the node registers: take over topics this node now homes,
 * refill replicas that joined a copy set, hand over or drop copies no
 * longer ours. */
void repl_view_listener(void *ud, const cluster_change_t *change);
/* This node may have been cut off: publishes waiting for "all" fail, and
 * each copy drops its records past the committed offset, which no client
 * was told are safe and which the side that went on may have written
 * differently. */
void repl_fence(repl_t *r, const char *why);
/* A tick: sync again replicas whose stream broke, send commits due. */
void repl_tick(repl_t *r);
/* A member that should hold t asked (catching up): the home refills it;
 * a copy hands t back when the asker is its home. */
void repl_send_back(repl_t *r, store_topic_t *t, uint32_t asker,
                    bool asker_is_home);
/* Topics still homed here or being handed over (a leave waits for 0). */
size_t repl_holding(const repl_t *r);

/* ---- the receiving side --------------------------------------------------------- */

/* What a REPLICATE is answered with (msg_ack_t's fields). */
typedef struct repl_answer {
  uint64_t next; /* the topic's next offset here */
  uint64_t part; /* a SYNC's: where this copy's newer log begins, or
                    UINT64_MAX */
} repl_answer_t;

/* Applies a REPLICATE from peer `from` (already decoded). Returns 0 and
 * the answer, or an error code with why. A SYNC may send records back to
 * `from` after it. */
int repl_apply(repl_t *r, uint32_t from, msg_replicate_t *m,
               repl_answer_t *ans, char *why, size_t why_len);

/* "replication": {"<peer>": {"lag": n, "in_flight": n}, ...}: messages
 * each replica has not acknowledged, over the topics homed here. */
void repl_stats(const repl_t *r, json_t *j);

/* ---- monitoring (lag.c) ------------------------------------------------------------ */

/* One replica of a topic homed here, as the home sees it. */
typedef struct repl_lag {
  uint32_t replica;
  uint64_t records; /* the home holds, the replica has not acknowledged */
  uint64_t ms;      /* age of the oldest of them (0: none) */
  bool streaming;   /* its stream is live (not syncing, not broken) */
} repl_lag_t;

/* Fills up to cap replicas of t, when t is homed here; returns how many. */
size_t repl_lags(const store_topic_t *t, uint64_t now_ms, repl_lag_t *out,
                 size_t cap);

#endif
