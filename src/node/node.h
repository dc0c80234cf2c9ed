/* node — the server: listener, connections, HELLO, stop/restart. The
 * request handlers are in ops.c. */
#ifndef HS_NODE_H
#define HS_NODE_H

#include <stdbool.h>
#include <uv.h>

#include "net/conn.h"
#include "net/link.h"
#include "hypersub.h"
#include "core/log.h"
#include "core/stats.h"
#include "store/store.h"
#include "cube/place.h"
#include "cube/view.h"

typedef struct node_conn node_conn_t;
typedef struct pull_waiter pull_waiter_t;
typedef struct relay relay_t;

/* A request forwarded to another node, waiting for its reply (route.c). */
struct relay {
  hs_node_t *node;
  node_conn_t *nc;          /* where the reply goes; NULL once orphaned */
  relay_t *prev, *next;     /* nc->relays, or the node's free list */
  uint32_t id;              /* the request id on nc */
  uint32_t next_hop;
  uint8_t op;
  uint8_t hops;
  char *frame;              /* a lookup's saved request, else NULL */
  size_t frame_len;
  uint64_t offset;          /* a publish waiting for its replicas */
  relay_t *gather;          /* a part of this LIST_TOPICS */
  uint32_t target;          /* a part: the member asked */
  buf_t names;              /* a LIST_TOPICS: the names gathered */
  uint32_t remaining;       /* a LIST_TOPICS: parts still to come */
  int failed;               /* a LIST_TOPICS: a part's error, or 0 */
  uint32_t failed_node;
  bool claim;               /* a CLAIM sent for a pull served here */
  uint32_t max;             /* a CLAIM: the pull's max */
  uint16_t key_len;         /* a forwarded PULL: its str8 subscriber and */
  /* Last: route_relay_take zeroes everything before it, not these bytes. */
  char key[2 + 2 * HS_NAME_MAX]; /* str8 topic, to rewind the cursor */
  relay_t *queue_next;      /* the topic's queue of such publishes */
};

/* Most replicas a topic can have besides its home. */
#define HS_REPL_MAX 31


struct node_conn {
  conn_t conn;
  hs_node_t *node;
  node_conn_t *prev, *next; /* the node's open connections */
  pull_waiter_t *waiters;   /* long polls parked for this connection */
  relay_t *relays;          /* its requests forwarded to other nodes */
  bool hello_done;
  uint8_t role;
  uint32_t peer_id;         /* role peer: who */
  uint8_t hops;             /* hops of the request being handled */
  char peer[64]; /* "host:port" for logs */
};

/* A PULL with wait > 0 and nothing to deliver: parked on its topic until a
 * message arrives, the wait runs out, the topic goes or the conn closes. */
struct pull_waiter {
  uv_timer_t timer;
  hs_node_t *node;
  node_conn_t *nc;
  store_topic_t *topic;
  pull_waiter_t *topic_prev, *topic_next; /* topic->waiters */
  pull_waiter_t *conn_prev, *conn_next;   /* nc->waiters */
  uint32_t req_id;
  uint32_t max;
  uint64_t started_ns;
  uint8_t sid_len;
  char sid[HS_NAME_MAX + 1];
  /* A CLAIM parked at the home: answered with a range, not messages. */
  bool claim;
  uint32_t server;          /* the copy that will serve the range */
  uint64_t server_first, server_next; /* what it held when it asked */
};

struct hs_node {
  uv_loop_t *loop;
  hs_node_config_t cfg; /* strings below are the node's own copies */
  char *host, *cluster, *log_file, *join;
  size_t max_frame;
  int port;
  hs_node_state_t state;
  hs_node_state_cb state_cb;
  void *state_ud;

  uv_tcp_t listener;
  bool listening;
  uv_timer_t restart_timer;
  uv_timer_t expire_timer; /* age retention */
  flusher_t flusher;
  node_conn_t *conns;
  size_t n_conns;
  size_t n_waiting;

  view_t view;       /* the members: this node and its peers */
  uv_timer_t heartbeat_timer; /* health.c: pings and failure detection */
  struct health_peer *watch;  /* health.c: what it knows of each peer */
  size_t n_watch, cap_watch;
  uint64_t health_started_ms;
  /* membership.c */
  bool joining;      /* waiting for the JOIN answer: serves nothing yet */
  bool leaving;      /* LEFT in its own view: handing its topics over */
  bool catching_up;  /* asking members which topics it should hold */
  bool rejoined;     /* came back from the dead: catch up after the merge */
  bool quorum_lost;  /* sees no majority of the members alive */
  char self_addr[VIEW_ADDR_MAX + 1]; /* "host:port" it listens on */
  link_t *join_client;
  uint64_t catch_started_ms, leave_started_ms;
  size_t catch_pending;  /* HOLDING answers still to come */
  uint32_t catch_round;  /* which catching up they answer */
  map_t catch_expect;    /* topic names members said we should hold */
  relay_t *leave_relay;  /* the LEAVE request, answered once handed over */
  map_t links;       /* peer id (4 bytes) -> link_t*, made on demand */
  uv_check_t repl_check; /* sends the turn's appends to replicas, batched */
  void *repl_dirty;      /* topics with appends not sent yet (repl.c) */
  relay_t *spare_relays;
  bool looked_up; /* the request being run had its identities looked up */
  bool suspended; /* the request being run waits for a lookup */
  uint32_t (*next_hop_cb)(hs_node_t *, uint32_t target, void *ud);
  void *next_hop_ud;
  hs_read_replica_cb read_replica_cb; /* read.c: which copy serves a pull */
  void *read_replica_ud;
  map_t reads_sent; /* read.c: member id (4 bytes) -> uint64_t* pulls sent */
  uint32_t replicas; /* copies per topic; HS_REPLICAS_NEIGHBOURS: D + 1 */

  store_t store;
  log_t log;
  stats_t stats;
  log_limit_t garbage_limit;
  log_limit_t retry_limit; /* client_retried lines */
  log_limit_t read_limit;  /* read policy answers ignored */
  buf_t scratch; /* stats JSON */
  char error[400]; /* hs_node_last_error */

  int open_handles; /* freed when this reaches 0 after hs_node_free */
  bool freeing;
};

/* ops.c: handles one request frame from a connection. */
void ops_dispatch(node_conn_t *nc, const wire_frame_t *f);
/* ops.c: runs a request here or sends it on toward its key's home;
 * looked_up: the identities it names were already looked up. */
void ops_run(node_conn_t *nc, const wire_frame_t *f, uint8_t hops,
             bool looked_up);

/* route.c */
link_t *route_link(hs_node_t *node, uint32_t peer);
void route_close_links(hs_node_t *node);
/* Closes the link to a peer that died; what waited on it fails. */
void route_drop_link(hs_node_t *node, uint32_t peer);
uint32_t route_next_hop(hs_node_t *node, uint32_t target, uint32_t came_from);
void route_forward(node_conn_t *nc, const wire_frame_t *f, uint8_t hops,
                   uint32_t target);
/* Asks the identity's home whether it exists, then runs f again. */
int route_lookup(node_conn_t *nc, const wire_frame_t *f, uint8_t kind,
                 const char *id, size_t n);
void route_lookup_done(hs_node_t *node, relay_t *r, const link_reply_t *reply);
uint32_t route_identity_home(const hs_node_t *node, uint8_t kind,
                             const char *id, size_t n);
void route_orphan_relays(node_conn_t *nc);
relay_t *route_relay_take(hs_node_t *node);
void route_relay_attach(relay_t *r, node_conn_t *nc);
void route_relay_give(hs_node_t *node, relay_t *r);

/* list.c: LIST_TOPICS gathers HOMED answers from every live member. */
void list_op_list_topics(node_conn_t *nc, const wire_frame_t *f,
                         wire_reader_t *r);
void list_op_homed(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);
void list_part_done(hs_node_t *node, relay_t *part, const link_reply_t *reply);
/* route.c: sends a request made here toward `target`; its reply goes to
 * list_part_done. */
int route_send_part(hs_node_t *node, relay_t *part, uint8_t op,
                    const char *body, size_t len, uint32_t target);
/* route.c: sends a request made here for relay r toward `target` (flags:
 * WIRE_F_RETRY or 0). 0, or an error with a message in msg. */
int route_send(hs_node_t *node, relay_t *r, uint8_t op, uint16_t flags,
               const char *body, size_t len, uint32_t target, char *msg,
               size_t msg_len);
/* route.c: asks the topic's home (key: str8 subscriber, str8 topic) to
 * move the cursor back to `from` if it is at `expect`: the messages in
 * between found nobody to take them. */
void route_rewind(hs_node_t *node, const char *key, size_t key_len,
                  uint64_t from, uint64_t expect);
/* route.c: the same for the messages of a PULL reply body. */
void route_rewind_pull(hs_node_t *node, const char *key, size_t key_len,
                       const char *body, size_t len);

/* repl.c: the view changed: take over topics this node now homes, refill
 * replicas that joined a copy set, drop copies no longer ours. */
void repl_reconcile(hs_node_t *node, const view_t *old);
/* repl.c: a heartbeat tick: sync again replicas whose stream broke. */
void repl_retry(hs_node_t *node);
/* repl.c: this node may have been cut off (it lost quorum, or learnt it
 * was declared dead): publishes waiting for "all" fail, and each copy drops
 * its records past the committed offset, which no client was told are
 * safe and which the side that went on may have written differently. */
void repl_fence(hs_node_t *node, const char *why);
/* repl.c: offsets below this may be served to pullers: on the home, those
 * every replica holds; on a replica, what the home said was committed. */
uint64_t repl_readable(const store_topic_t *t);

/* repl.c: the home sends each change to the replicas. */
void repl_identity(hs_node_t *node, uint8_t kind, const char *id, size_t n);
int repl_topic_created(hs_node_t *node, store_topic_t *t);
void repl_topic_deleted(hs_node_t *node, store_topic_t *t);
/* Drops this node's copy of a topic (its waiters hear NO_TOPIC). */
void repl_drop_copy(hs_node_t *node, store_topic_t *t, bool deleted);
/* True when the append went to replicas (so "all" has something to wait
 * for). */
bool repl_append(hs_node_t *node, store_topic_t *t);
/* Parks a publish until every replica holds `offset`. */
void repl_wait(hs_node_t *node, store_topic_t *t, node_conn_t *nc,
               uint32_t id, uint64_t offset);
void repl_cursor(hs_node_t *node, store_topic_t *t, const char *sid,
                 size_t sn, uint64_t next);
/* Appends ,"replication":{"<peer>":{"lag":n,"in_flight":n},...} to a JSON
 * object being written: messages each replica has not acknowledged yet,
 * over the topics homed here, and requests in flight on its link. */
void repl_stats_json(hs_node_t *node, buf_t *out);
/* Sends each dirty topic's new records to its replicas, one frame per
 * replica and topic (the node's check handle, once per loop turn). */
void repl_flush(uv_check_t *check);
/* Drops every topic's replication state (the node is going away). */
void repl_free_all(hs_node_t *node);
void repl_op_replicate(node_conn_t *nc, const wire_frame_t *f,
                       wire_reader_t *r);
void repl_op_local(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);
void route_free_relays(hs_node_t *node);
/* ops.c: a message was appended to `t`: serve the long polls parked on it. */
void ops_wake_waiters(hs_node_t *node, store_topic_t *t);
/* ops.c: answers (code: "topic X <why>") and frees every waiter of a
 * topic going away: deleted (NO_TOPIC), or moved (UNAVAILABLE: retry). */
void ops_drop_topic_waiters(hs_node_t *node, store_topic_t *t, int code,
                            const char *why);
/* ops.c: frees a waiter without replying (its connection is closing). */
void ops_waiter_free(pull_waiter_t *w);

/* read.c: pulls served by any copy of their topic. */
/* The copy that serves a pull entering the cluster here: the policy's
 * choice, or this node when it holds a copy, else the nearest copy. */
uint32_t read_choose(hs_node_t *node, const wire_frame_t *pull);
/* Sends a pull to `server` as a READ. */
void read_forward(node_conn_t *nc, const wire_frame_t *pull, uint8_t hops,
                  uint32_t server);
void read_op_read(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);
/* The pull at a replica: claims a range at the home, then serves it. */
void read_from_copy(node_conn_t *nc, const wire_frame_t *f,
                    store_topic_t *t, const char *sid, size_t sn,
                    uint32_t max, uint64_t seen, uint32_t wait_ms);
/* A CLAIM's answer came back (route.c's relay callback). */
void read_claim_done(hs_node_t *node, relay_t *r, const link_reply_t *reply);
void read_free(hs_node_t *node);
/* ops.c: the home's side of a CLAIM. */
void ops_op_claim(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);
/* ops.c: writes a PULL reply body (u64 cursor, u32 count, messages) of the
 * messages from `from` (at most max, below end, within a frame); returns
 * how many. *next gets the offset after the last. */
uint32_t ops_put_messages(hs_node_t *node, wire_writer_t *w,
                          store_topic_t *t, uint64_t from, uint64_t end,
                          uint32_t max, uint64_t *next);

/* membership.c: joining, leaving, catching up, quorum. */
int member_join_start(hs_node_t *node);
void member_stop_joining(hs_node_t *node);
void member_op_join(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);
void member_op_leave(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);
void member_op_holding(node_conn_t *nc, const wire_frame_t *f,
                       wire_reader_t *r);
/* While catching up: the offset members said a topic reaches (0: none). */
uint64_t member_expected_next(const hs_node_t *node, const char *name,
                              size_t n);
/* Asks every live member which topics this node should hold. */
void member_catch_up_start(hs_node_t *node);
/* A heartbeat tick (and any news): is catching up or leaving done? */
void member_tick(hs_node_t *node);
/* The view changed: does this node still see a majority alive? */
void member_quorum_check(hs_node_t *node);
/* Appends ,"catching_up":0|1,"quorum":true|false. */
void member_stats_json(hs_node_t *node, buf_t *out);
void member_free(hs_node_t *node);
/* node.c: the JOIN answer came (ok: id and view are set): serve, or stop. */
void node_joined(hs_node_t *node, bool ok);
/* cluster.c: a JOIN admitted `id` at `addr`: into the view, acted on,
 * spread. 0 or HS_ENOMEM. */
int cluster_admit(hs_node_t *node, uint32_t id, const char *addr);

/* cluster.c: sets up the view from the configuration (this node and its
 * peers, all alive). 0 or HS_EINVALID / HS_ENOMEM. */
int cluster_init(hs_node_t *node, const hs_node_config_t *cfg);
/* cluster.c: the node listens: its own entry gets the bound address. */
void cluster_listening(hs_node_t *node);
/* cluster.c: the nodes holding copies of a key's hash, home first; returns
 * how many (at most cap). */
size_t cluster_copies(const hs_node_t *node, uint64_t h, uint32_t *out,
                      size_t cap);
/* cluster.c: the peer part of a HELLO: check placement, merge the view.
 * Replies itself on failure and returns false. */
bool cluster_hello_peer(node_conn_t *nc, const wire_frame_t *f,
                        wire_reader_t *r, uint32_t peer_id);
/* cluster.c: appends this node's view to a HELLO reply being written. */
void cluster_put_view(hs_node_t *node, wire_writer_t *w);
/* cluster.c: WHERE and VIEW. */
void cluster_op_where(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);
void cluster_op_view(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);

/* health.c: failure detection. Each node pings its cube neighbours (the
 * nearest members when it has fewer than two) and whoever pings it; a
 * peer silent for suspect_ms is suspected, for dead_ms declared dead. */
void health_start(hs_node_t *node);
void health_stop(hs_node_t *node);
void health_free(hs_node_t *node);
/* A peer spoke to us (a HELLO): it is up. */
void health_heard(hs_node_t *node, uint32_t id);
/* Appends ,"watching":n,"unheard":n: peers watched, and those of them not
 * heard from since this node started. */
void health_stats_json(hs_node_t *node, buf_t *out);
void health_op_ping(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r);
void health_op_gossip(node_conn_t *nc, const wire_frame_t *f,
                      wire_reader_t *r);
/* Sends this node's view to every live member (a change made here). */
void health_spread(hs_node_t *node);

/* cluster.c: merges a view learnt from `from`; when that changes ours,
 * refutes our own death if need be and acts on the change. Returns the
 * number of members that changed. */
int cluster_merge(hs_node_t *node, const view_t *theirs, uint32_t from);
/* cluster.c: a decision made here about a member (suspect, dead, alive):
 * applies it, acts on it and spreads it. */
void cluster_set_state(hs_node_t *node, uint32_t id, view_state_t state);

/* Replies: frames appended to the connection's output. */
void node_reply_error(node_conn_t *nc, uint8_t op, uint32_t id, int code,
                      const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void node_send(node_conn_t *nc);

/* Stops serving: closes the listener and every connection but `keep`,
 * which is flushed and shut down (it carries the STOP_NODE answer). */
void node_halt(hs_node_t *node, node_conn_t *keep, uint32_t restart_after_ms);

#endif
