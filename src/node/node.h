/* node — the server: the composition of the parts below it (store,
 * cluster, health, peers, repl) and what only the node does: connections,
 * dispatch, the op handlers grouped by concern, requests waiting on other
 * nodes, long polls, joining, leaving, catching up. Internal to node/. */
#ifndef HS_NODE_H
#define HS_NODE_H

#include <stdbool.h>
#include <uv.h>

#include "cluster/cluster.h"
#include "cluster/health.h"
#include "cluster/spread.h"
#include "core/log.h"
#include "core/stats.h"
#include "hypersub.h"
#include "net/conn.h"
#include "net/peers.h"
#include "node/req.h"
#include "node/users.h"
#include "proto/msg.h"
#include "repl/repl.h"
#include "store/store.h"

typedef struct node_conn node_conn_t;
typedef struct pull_waiter pull_waiter_t;

/* A connection a client or a peer opened to this node. */
/* Where a connection's handshake stands (handshake.c). */
enum { NC_HELLO = 0, NC_AUTH, NC_READY };

struct node_conn {
  conn_t conn;
  hs_node_t *node;
  node_conn_t *prev, *next; /* the node's open connections */
  pull_waiter_t *waiters;   /* long polls parked for this connection */
  size_t n_waiters;
  req_t *reqs;              /* its requests waiting on other nodes */
  uint8_t stage;            /* NC_HELLO, NC_AUTH, NC_READY */
  uint8_t role;             /* WIRE_ROLE_CLIENT or WIRE_ROLE_PEER */
  bool joiner;              /* a peer asking to join: JOIN is all it may send */
  uint32_t peer_id;         /* a peer: who */
  uint64_t incarnation;     /* a peer: which run of it */
  const user_t *user;       /* the user logged in; NULL on an open node */
  uint64_t accepted_ms;     /* uv_now: the handshake's deadline counts from it */
  node_conn_t *hs_prev, *hs_next; /* while in its handshake: oldest first */
  uint8_t budget;           /* the role budget it counts in (0: none yet) */
  uint8_t nonce[AUTH_NONCE], their_nonce[AUTH_NONCE];
  char peer[64];            /* "host:port" for logs */
};

/* The request being run: decoded, with what its handler needs to know.
 * Per request, never on the node. */
typedef struct op_ctx {
  node_conn_t *nc;
  const wire_frame_t *f; /* the request, without a routed prefix */
  msg_t m;               /* its decoded body */
  uint8_t hops;          /* nodes that forwarded it so far */
  bool looked_up;        /* its identities were looked up already */
  bool suspended;        /* it waits (a lookup, a leave): answered later */
  uint8_t lookup_kind;   /* set: look this identity up at its home, then */
  msg_str_t lookup_id;   /* run the request again */
} op_ctx_t;

/* How long catching up and leaving may take, in dead times: past that the
 * node goes on and says what is missing. */
#define MEMBER_PATIENCE 10

/* The request being run, as another op with the body in b (READ as the
 * PULL it carries, a PULL sent on as a READ): sub runs in ctx's place. */
static inline void op_ctx_reframe(const op_ctx_t *ctx, uint8_t op,
                                  const buf_t *b, wire_frame_t *f,
                                  op_ctx_t *sub) {
  *f = *ctx->f;
  f->op = op;
  f->body = b->data;
  f->body_len = b->len;
  *sub = *ctx;
  sub->f = f;
}

/* Joining, leaving, catching up (join.c, leave.c, catchup.c). */
typedef struct member {
  bool joining;     /* waiting for the JOIN answer: serves nothing yet */
  bool catching_up; /* asking members which topics it should hold */
  link_t *join_link;
  void (*joined)(hs_node_t *node, bool ok); /* told the JOIN's outcome */
  uint64_t catch_started_ms, leave_started_ms;
  size_t catch_pending; /* HOLDING answers still to come */
  uint32_t catch_round; /* which catching up they answer */
  map_t catch_expect;   /* topic -> next + 1 members said it reaches */
  map_t catch_retry;    /* member id (4 bytes) -> 1: could not answer yet,
                           asked again at the next tick */
  req_t *leave_req;     /* the LEAVE request, answered once handed over */
  size_t leave_left;    /* what it left without (hand-overs, updates) */
} member_t;

/* Which copy serves pulls entering here (read.c). */
typedef struct reads {
  hs_read_replica_cb cb;
  void *ud;
  map_t sent; /* member id (4 bytes) -> uint64_t* pulls sent to it */
  log_limit_t ignored_limit;
} reads_t;

struct hs_node {
  uv_loop_t *loop;
  hs_node_config_t cfg; /* its strings are the node's own copies: */
  char *host, *cluster_name, *log_file, *join;
  hs_peer_t *dial; /* members reached at another address, addrs owned */
  size_t n_dial;
  size_t max_frame;
  int port;
  hs_node_state_t state;
  hs_node_state_cb state_cb;
  void *state_ud;

  uv_tcp_t listener;
  bool listening;
  bool unlistening; /* the listener's close is under way: not reusable yet */
  uv_timer_t restart_timer;
  uv_timer_t expire_timer; /* age retention */
  uv_timer_t tick_timer;   /* every heartbeat_ms: each part's tick */
  flusher_t flusher;       /* one per loop turn, shared with the links */
  node_conn_t *conns;
  size_t n_conns;
  /* Connections in their handshake (oldest first, one deadline each) and
   * each role's budget (server.c). */
  node_conn_t *hs_head, *hs_tail;
  size_t n_handshaking, n_clients, n_peers;
  uv_timer_t handshake_timer;
  log_limit_t refused_limit;
  size_t n_waiting; /* long polls parked */

  store_t store;
  disk_t *disk; /* the data directory; NULL: memory only */
  cluster_t cluster;
  health_t health;
  spread_t spread;
  cluster_net_t net; /* membership's transport: the peer links (carrier.c) */
  peers_t peers;
  repl_t repl;
  req_pool_t reqs;
  member_t member;
  reads_t reads;
  hs_next_hop_cb next_hop_cb;
  void *next_hop_ud;
  /* Installed by api.c: the node's tick, and what a frame goes to. */
  uv_timer_cb tick;
  void (*on_frame)(node_conn_t *nc, const wire_frame_t *f);

  /* Trust: the cluster key peers prove, the users clients log in as, and
   * this run's incarnation (peers tell a restart from an impostor). */
  bool has_key;
  uint8_t key[AUTH_KEY];
  users_t users;
  uint64_t incarnation;
  tls_ctx_t *tls_server, *tls_client; /* with tls_cert: accepting, linking */
  uint64_t id_taken_since, id_taken_last; /* uv_now: peers said our id is
                                             alive elsewhere */

  log_t log;
  stats_t stats;
  log_limit_t garbage_limit; /* bad frames */
  log_limit_t retry_limit;   /* client_retried lines */
  buf_t scratch;             /* stats JSON */
  char error[400];           /* hs_node_last_error */

  int open_handles; /* freed when this reaches 0 after hs_node_free */
  bool freeing;
  /* operations */
  struct monitor *monitor; /* the HTTP port (monitor.c), or NULL */
};

static inline uint32_t node_self(const hs_node_t *node) {
  return node->cluster.self;
}

/* Bytes a reply's variable part may take: it must fit the frame limit
 * with room for its header and fixed fields. */
static inline size_t node_reply_budget(const hs_node_t *node) {
  return node->max_frame - 1024;
}

/* While catching up: the offset members said a topic reaches (0: none). */
static inline uint64_t catchup_expected(const hs_node_t *node,
                                        const char *name, size_t n) {
  uintptr_t v = (uintptr_t)map_get(&node->member.catch_expect, name, n);
  return v ? (uint64_t)(v - 1) : 0;
}

/* ---- reply.c --------------------------------------------------------------------- */

/* An error reply to request id of op; counted by code. */
void node_reply_error(node_conn_t *nc, uint8_t op, uint32_t id, int code,
                      const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* An empty success reply. */
void node_reply_ok(node_conn_t *nc, uint8_t op, uint32_t id);
/* Ends an answer begun with wire_begin on nc's output; when it cannot be
 * written whole, an error answer (NOMEM) takes its place. */
void node_reply_end(node_conn_t *nc, wire_writer_t *w);
/* Queues the connection's output for this turn's flush. */
void node_send(node_conn_t *nc);
/* The same, answering the request being run. */
void op_error(op_ctx_t *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void op_ok(op_ctx_t *ctx);
void op_out_of_memory(op_ctx_t *ctx);

/* ---- durable.c: answers that wait for the disk ----------------------------------- */

/* The node keeps a data directory: answers wait for its writes (and, with
 * fsync "always", for their fdatasync). */
bool node_durable(const hs_node_t *node);
/* The answer written to ctx's connection since `mark` waits until what the
 * node changed so far is written to its files (synced with fsync
 * "always"), and, with t, until t is kept up to `need`; then it goes (or
 * STORAGE does). Nothing without node_durable. */
void op_hold(op_ctx_t *ctx, size_t mark, const store_topic_t *t,
             uint64_t need);
/* The same for an answer given outside its request (a long poll's). */
void node_hold(node_conn_t *nc, uint8_t op, uint32_t id, size_t mark,
               const store_topic_t *t, uint64_t need);
/* A pull's answer that moved a subscriber's cursor: it leaves once every
 * live copy of t has the cursor (and, durable, the journal has it). */
void node_hold_cursor(node_conn_t *nc, uint8_t op, uint32_t id, size_t mark,
                      store_topic_t *t, const char *sid, size_t sn);
/* A pull's answer held before it is written: the subscriber's cursor
 * (next, prev) goes to t's live copies now (*asked of them), and the
 * answer adopted later leaves once they all have it (ahead.c). NULL when
 * out of memory. */
req_t *node_hold_ahead(hs_node_t *node, store_topic_t *t, const char *sid,
                       size_t sn, uint64_t next, uint64_t prev, size_t *asked);
/* Takes the answer written on nc since mark into r, as node_hold_cursor
 * would, the cursor already on its way. */
void node_hold_adopt(node_conn_t *nc, req_t *r, uint8_t op, uint32_t id,
                     size_t mark);
/* r will have no answer: freed once its copies have answered. */
void node_hold_drop(req_t *r);

/* ---- server.c: the listener and connections ----------------------------------------- */

int node_listen(hs_node_t *node);
/* Closes the listener and every connection but `keep`, which is flushed
 * and shut down (it carries the answer). */
void node_stop_serving(hs_node_t *node, node_conn_t *keep);
/* Closes the listener and the connections (hs_node_free). */
void node_close_conns(hs_node_t *node);
/* The handshake told the connection's role: it counts in that role's
 * budget. 0, or HS_EUNAVAILABLE with why when the budget is full. */
int node_conn_admit(node_conn_t *nc, uint8_t role, char *why, size_t len);
/* The handshake is through: the deadline no longer applies. */
void node_conn_ready(node_conn_t *nc);
/* The members this node holds a connection with, either way: its links
 * and the peers' connections to it. */
size_t node_peer_links(hs_node_t *node);

/* ---- dispatch.c -------------------------------------------------------------- */

/* One frame from a connection. */
void node_dispatch(node_conn_t *nc, const wire_frame_t *f);
/* Runs a request here or sends it on toward its key's home; looked_up: the
 * identities it names were looked up already. */
void node_run(node_conn_t *nc, const wire_frame_t *f, uint8_t hops,
              bool looked_up);

/* ---- checks.c: what a request must meet --------------------------------------- */
/* Reports an invalid name and returns false. */
bool op_name_ok(op_ctx_t *ctx, const char *what, msg_str_t s);
/* A client's request that would make the node hold one more of `what`
 * (have of them now): LIMIT naming the option at `limit`. */
bool op_under_limit(op_ctx_t *ctx, uint64_t have, uint64_t limit,
                    const char *what, const char *option);
/* Whether this node may serve the topic it homes now; false when it has
 * answered UNAVAILABLE (t may be NULL: a topic it lacks). */
bool op_may_serve(op_ctx_t *ctx, const store_topic_t *t);
/* The same question, without answering: whether op_may_serve would pass. */
bool node_serves_now(const hs_node_t *node, const store_topic_t *t);
/* The topic, or NULL when it has answered (UNAVAILABLE or NO_TOPIC). */
store_topic_t *op_find_topic(op_ctx_t *ctx, msg_str_t name);
/* Whether a publisher or subscriber exists. False: answered, or (it is
 * not here and its home is another node) ctx->lookup says what the
 * dispatch must ask that home before running the request again. */
bool op_identity_ok(op_ctx_t *ctx, uint8_t kind, msg_str_t id);

/* ---- route.c: along the cube ---------------------------------------------------- */

/* The node a request must run on: the home of its topic or identity, the
 * node it names, or this one. */
uint32_t route_target(const hs_node_t *node, uint8_t op, const msg_t *m);
uint32_t route_next_hop(hs_node_t *node, uint32_t target, uint32_t came_from);
/* Sends the request on toward target, its answer relayed back. */
void route_forward(op_ctx_t *ctx, uint32_t target);
/* Sends a request made here for r toward target (body encoded already).
 * 0, or an error with a message in msg. */
int route_send(hs_node_t *node, req_t *r, uint8_t op, uint16_t flags,
               const char *body, size_t len, uint32_t target, char *msg,
               size_t msg_len);
/* Asks the topic's home to move a cursor back to `from` if it is at
 * `expect`: the messages in between found nobody to take them. */
void route_rewind(hs_node_t *node, const req_key_t *key, uint64_t from,
                  uint64_t expect);
/* The same for the messages of a PULL answer. */
void route_rewind_pull(hs_node_t *node, const req_key_t *key,
                       const char *body, size_t len);
/* Asks the topic's home to answer, empty, the long polls parked there for
 * key's subscriber by peers (UNPARK): their client left. */
void route_unpark(hs_node_t *node, const req_key_t *key);
/* Asks the next node to answer r, a long-poll FETCH passed on to it, now
 * (RELEASE with r's id on that link): its client left. */
void route_release(req_t *r);

/* ---- messages.c: writing PULL answers ------------------------------------------- */

/* How many messages of t from `from`, below end, a PULL answer carries: at
 * most max, and no more than fit a frame (the first always goes). The
 * home counts a CLAIM's range this way, and the copy then fills the same
 * frame. *next gets the offset after the last. */
uint32_t messages_span(hs_node_t *node, store_topic_t *t, uint64_t from,
                       uint64_t end, uint32_t max, uint64_t *next);
/* Writes a PULL answer body of those messages (the cursor after them,
 * the count, the messages); returns how many. */
uint32_t messages_put(hs_node_t *node, wire_writer_t *w, store_topic_t *t,
                      uint64_t from, uint64_t end, uint32_t max,
                      uint64_t *next);
/* The whole answer frame (op `op`, request id) with those messages, into
 * nc's output; returns how many. */
uint32_t messages_reply(node_conn_t *nc, uint8_t op, uint32_t id,
                        store_topic_t *t, uint64_t from, uint64_t end,
                        uint32_t max, uint64_t *next);

/* ---- waiters.c: long polls ------------------------------------------------------- */

/* A PULL (or CLAIM) with a wait and nothing to deliver: parked on its
 * topic until records arrive, the wait runs out, the topic goes or the
 * connection closes. `ready` says whether it can be answered now; `answer`
 * writes its answer. */
struct pull_waiter {
  uv_timer_t timer;
  hs_node_t *node;
  node_conn_t *nc;
  store_topic_t *topic;
  pull_waiter_t *topic_prev, *topic_next; /* topic->waiters */
  pull_waiter_t *conn_prev, *conn_next;   /* nc->waiters */
  uint32_t req_id;
  uint8_t op;
  uint32_t max;
  uint8_t sid_len;
  char sid[HS_NAME_MAX + 1];
  /* cur is the subscriber's cursor; NULL for a FETCH, which has none. */
  bool (*ready)(const pull_waiter_t *w, const store_cursor_t *cur);
  void (*answer)(pull_waiter_t *w, store_cursor_t *cur);
  /* A FETCH: no subscriber (sid is empty); it reads from `from`. */
  bool fetch;
  uint64_t from;
  /* A CLAIM: the copy that will serve, and what it held when it asked. */
  uint32_t server;
  uint64_t server_first, server_next;
  /* A PULL whose cursor went ahead of its answer (ahead.c): the copies
   * were told it moves from ahead_from to ahead_to; `ahead` holds the
   * answer until they all acknowledged. */
  req_t *ahead;
  uint64_t ahead_from, ahead_to;
  uint8_t ahead_n;
  uint64_t ahead_stamps[PLACE_COPIES_MAX]; /* the copies told (repl_live) */
};

pull_waiter_t *waiters_park(op_ctx_t *ctx, store_topic_t *t, msg_str_t sid,
                            uint32_t max, uint32_t wait_ms);
/* repl's hooks: records readable, topic going away. */
void waiters_wake(void *node, store_topic_t *t);
void waiters_drop(void *node, store_topic_t *t, int code, const char *why);
/* Frees a waiter without answering (its connection is closing). */
void waiters_free(pull_waiter_t *w);
/* Answers the parked pulls of a subscriber whose client left (UNPARK). */
void waiters_unpark(hs_node_t *node, store_topic_t *t, msg_str_t sid);
/* Answers w now, empty, and frees it; false when sending closed its
 * connection (other waiters may have gone with it). */
bool waiters_release(pull_waiter_t *w);

/* ---- ahead.c: a long poll's cursor sent with its records ---------------------------- */

/* repl's hook: t's new records are on the live replicas' links. */
void ahead_streamed(void *node, store_topic_t *t);
/* Whether w, whose cursor is cur, waits for its records to commit. */
bool ahead_ready(const pull_waiter_t *w, const store_cursor_t *cur);
/* Answers w with the records its cursor went ahead over, held until the
 * copies acknowledged it; false (nothing written) when the cursor or the
 * copies moved since: then it is answered as any pull. */
bool ahead_answer(pull_waiter_t *w, store_cursor_t *cur);
/* w goes without that answer: the copies are told its cursor again. */
void ahead_cancel(pull_waiter_t *w);

/* ---- op_pull.c / claim.c ---------------------------------------------------------- */

/* The client says where it is; a cursor behind or (retried) ahead is
 * moved to it, so nothing is delivered twice or skipped. */
void pull_align(hs_node_t *node, store_topic_t *t, msg_str_t sid,
                store_cursor_t *cur, uint64_t seen, bool retry);
/* What a CLAIM from `server` may be granted: committed offsets its copy
 * holds. */
uint64_t claim_end(const store_topic_t *t, uint32_t server,
                   uint64_t server_next);

/* ---- read.c: pulls served by any copy ------------------------------------------------ */

/* The copy that serves a pull entering the cluster here. */
uint32_t read_choose(hs_node_t *node, const msg_pull_t *pull);
/* Sends a pull to `server` as a READ. */
void read_forward(op_ctx_t *ctx, const msg_pull_t *pull, uint32_t server);
/* The pull at a copy that is not the home: claims a range at the home,
 * then serves it from this copy. */
void read_from_copy(op_ctx_t *ctx, store_topic_t *t, const msg_pull_t *pull,
                    uint32_t max);

/* ---- the handlers ------------------------------------------------------------------ */

void op_hello(op_ctx_t *ctx);           /* handshake.c */
void op_auth(op_ctx_t *ctx);
void op_where(op_ctx_t *ctx);           /* op_cluster.c */
void op_view(op_ctx_t *ctx);
void op_ping(op_ctx_t *ctx);
void op_gossip(op_ctx_t *ctx);
void op_spread(op_ctx_t *ctx);
void op_probe(op_ctx_t *ctx);
void op_create_identity(op_ctx_t *ctx); /* op_names.c */
void op_lookup(op_ctx_t *ctx);
void op_create_topic(op_ctx_t *ctx);
void op_delete_topic(op_ctx_t *ctx);
void op_publish(op_ctx_t *ctx);         /* op_publish.c */
void op_subscribe(op_ctx_t *ctx);       /* op_pull.c */
void op_pull(op_ctx_t *ctx);
void op_read(op_ctx_t *ctx);
void op_rewind(op_ctx_t *ctx);
void op_unpark(op_ctx_t *ctx);
void op_claim(op_ctx_t *ctx);           /* claim.c */
void op_fetch(op_ctx_t *ctx);           /* op_fetch.c */
void op_release(op_ctx_t *ctx);
/* This node's copy of the topic when it serves a FETCH (`hops`: nodes that
 * passed it on so far), else NULL. */
store_topic_t *fetch_served_here(hs_node_t *node, const msg_fetch_t *m,
                                 uint8_t hops);
void op_stop_node(op_ctx_t *ctx);       /* op_control.c */
void op_stats(op_ctx_t *ctx);
void op_local(op_ctx_t *ctx);
void op_replicate(op_ctx_t *ctx);
void op_list_topics(op_ctx_t *ctx);     /* list.c */
void op_homed(op_ctx_t *ctx);
void op_join(op_ctx_t *ctx);            /* join.c */
void op_leave(op_ctx_t *ctx);           /* leave.c */
void op_holding(op_ctx_t *ctx);         /* catchup.c */

/* ---- join.c, leave.c, catchup.c ----------------------------------------------------- */

/* Asks the cluster for this node's place; `joined` hears the answer (ok:
 * its id and view are set). */
int join_start(hs_node_t *node, void (*joined)(hs_node_t *node, bool ok));
void join_stop(hs_node_t *node);
/* Marks this node LEFT and starts handing its topics over; r (or NULL)
 * is the LEAVE to answer once done, by says who asked. */
void leave_start(hs_node_t *node, req_t *r, const char *by);
/* While leaving, a long poll (a PULL, READ or CLAIM with a wait) is
 * answered UNAVAILABLE here: true when ctx was. */
bool leave_refuses(op_ctx_t *ctx);
/* A tick: true when a leave is done (or waited too long). */
bool leave_tick(hs_node_t *node);
/* Answers the LEAVE; returns the connection that carries the answer. */
node_conn_t *leave_finish(hs_node_t *node);
/* Asks the members that hold copies this node should have. */
void catchup_start(hs_node_t *node);
/* A tick (and any news): is catching up done? */
void catchup_tick(hs_node_t *node);

/* ---- operations: monitor.c, facts.c, metrics.c ------------------------------------------ */

/* The HTTP port of config.http: made with the node (its address copied),
 * listening from hs_node_start, closed by hs_node_free (it holds one of
 * the node's open handles until then). 0, HS_ENOMEM, or HS_EIO / HS_EINVALID
 * from listening (node->error says why). */
int monitor_new(hs_node_t *node, const hs_node_config_t *cfg);
int monitor_start(hs_node_t *node);
void monitor_free(hs_node_t *node);

/* What this node says of itself for monitoring, also in STATS: topics it
 * homes and replicates, its replicas' lag, topics short of copies, links. */
typedef struct facts {
  uint64_t topics_homed, topics_replicated, under_replicated;
  uint64_t lag_records, lag_ms; /* the most behind replica of any topic */
} facts_t;
void facts_of(hs_node_t *node, facts_t *f);
void facts_json(hs_node_t *node, json_t *j);
/* Whether the node serves as a member should: running, caught up, quorum
 * held, not joining or leaving; why not in *why. */
bool facts_ready(const hs_node_t *node, const char **why);
/* /metrics: the Prometheus text exposition of the node. */
void metrics_write(hs_node_t *node, buf_t *out);

/* ---- carrier.c ------------------------------------------------------------------ */

/* node->net: membership's requests on the peer links. */
void carrier_init(hs_node_t *node);

/* ---- life.c, release.c ------------------------------------------------------------------ */

void node_set_state(hs_node_t *node, hs_node_state_t state);
/* Failure detection starts, and with it the tick. */
void node_start_ticking(hs_node_t *node);
/* Stops serving like a crash (a restart timer may bring it back);
 * `keep` carries the answer that asked for it. */
void node_halt(hs_node_t *node, node_conn_t *keep, uint32_t restart_after_ms);
/* Every handle the node owns ends here; the last one frees the node. */
void node_release(hs_node_t *node);

#endif
