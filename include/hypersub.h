/* hypersub — a peer-to-peer publish/subscribe system on a hypercube.
 *
 * The one public C header: error codes, logging, the node and the client.
 * Everything runs on a libuv loop the caller owns; no function blocks.
 * Strings that name things (publisher, subscriber and topic ids) are
 * NUL-terminated, 1..255 bytes of printable ASCII (0x21..0x7e) other than
 * '"' and '\\'. Payloads are any bytes with an explicit length.
 */
#ifndef HYPERSUB_H
#define HYPERSUB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#ifndef HS_API
#define HS_API __attribute__((visibility("default")))
#endif

#define HS_VERSION "0.1.0"
#define HS_WIRE_VERSION 2
#define HS_NAME_MAX 255

/* ---- errors: 0 is success, failures are negative HS_E* ------------------
 * The numbers travel on the wire: never renumber, only append. */
#define HS_ERRORS(X)                                                        \
  X(INVALID, 1, "invalid argument")                                         \
  X(EXISTS, 2, "already exists")                                            \
  X(NO_PUBLISHER, 3, "no such publisher")                                   \
  X(NO_SUBSCRIBER, 4, "no such subscriber")                                 \
  X(NO_TOPIC, 5, "no such topic")                                           \
  X(NOT_OWNER, 6, "only the topic's creator may do this")                   \
  X(NOT_SUBSCRIBED, 7, "not subscribed")                                    \
  X(TOO_LARGE, 8, "too large")                                              \
  X(NO_NODE, 9, "no such node")                                             \
  X(UNAVAILABLE, 10, "unavailable")                                         \
  X(TIMEOUT, 11, "timed out")                                               \
  X(DENIED, 12, "denied")                                                   \
  X(CLOSED, 13, "connection closed")                                        \
  X(PROTOCOL, 14, "protocol error")                                         \
  X(NOMEM, 15, "out of memory")                                             \
  X(IO, 16, "i/o error")                                                    \
  X(LIMIT, 17, "a limit was reached")                                      \
  X(STORAGE, 18, "the data directory could not be written")

typedef enum {
  HS_OK = 0,
#define HS_ERR_ENUM(name, num, msg) HS_E##name = -(num),
  HS_ERRORS(HS_ERR_ENUM)
#undef HS_ERR_ENUM
} hs_err_t;

/* "NO_TOPIC" for HS_ENO_TOPIC; "UNKNOWN" for anything else. */
const char *hs_err_name(int err);
/* A short description of the code, e.g. "no such topic". */
const char *hs_err_message(int err);

/* ---- names and placement --------------------------------------------------
 * The rules every node applies, for tools and scripts that reason about a
 * cluster (the Lua cluster driver, `hypersub.placement`). */

/* Ids and topic names: 1..HS_NAME_MAX bytes of 0x21..0x7e other than '"'
 * and '\\'. 0 or HS_EINVALID. */
int hs_name_check(const char *s, size_t n);

/* The largest node id: ids are 0 .. 2^20 - 1. */
#define HS_ID_MAX ((1u << 20) - 1)

/* The stable 64-bit placement hash of a key (never changes between
 * builds: nodes must agree). */
uint64_t hs_hash(const void *key, size_t n);

/* Orders ids[0..n) (distinct, each <= HS_ID_MAX) in place by preference
 * for `key`, home first, in the cube of the largest id's dimension. */
void hs_placement(const void *key, size_t key_len, uint32_t *ids, size_t n);

/* ---- logging -------------------------------------------------------------
 * Every event is structured: component, event name and typed fields.
 * Text:  2026-11-24T14:00:00.123Z INFO node=0 store: topic_created topic="news"
 * JSON:  {"time":"...","level":"info","node":0,"component":"store",
 *         "event":"topic_created","topic":"news"} */
typedef enum {
  HS_LOG_DEBUG = 0,
  HS_LOG_INFO,
  HS_LOG_WARN,
  HS_LOG_ERROR,
  HS_LOG_OFF
} hs_log_level_t;

typedef enum { HS_LOG_TEXT = 0, HS_LOG_JSON } hs_log_format_t;

typedef enum { HS_FIELD_STR = 1, HS_FIELD_INT, HS_FIELD_UINT } hs_field_type_t;

typedef struct hs_log_field {
  const char *key;
  hs_field_type_t type;
  const char *s; /* HS_FIELD_STR: s[0..n) */
  size_t n;
  int64_t i;  /* HS_FIELD_INT */
  uint64_t u; /* HS_FIELD_UINT */
} hs_log_field_t;

typedef struct hs_log_event {
  uint64_t time_ms; /* wall clock, ms since the epoch */
  hs_log_level_t level;
  int64_t node; /* -1 when not a node's event (a client's) */
  const char *component;
  const char *event;
  const hs_log_field_t *fields;
  size_t n_fields;
} hs_log_event_t;

/* Called synchronously for each event at or above the hook's level. */
typedef void (*hs_log_hook_cb)(const hs_log_event_t *ev, void *ud);

const char *hs_log_level_name(hs_log_level_t level); /* "debug", ... */
/* Parses "debug" | "info" | "warn" | "error" | "off"; -1 when unknown. */
int hs_log_level_parse(const char *name);

/* ---- the node ------------------------------------------------------------ */
typedef struct hs_node hs_node_t;

/* Another member of the cluster. */
typedef struct hs_peer {
  uint32_t id;
  const char *addr; /* "host:port" */
} hs_peer_t;

/* replicas = HS_REPLICAS_NEIGHBOURS: the home and every cube neighbour hold
 * a copy (D + 1 copies), as in the seed. */
#define HS_REPLICAS_NEIGHBOURS 0

/* config.id with config.join: the lowest id no member has. */
#define HS_ID_ANY UINT32_MAX

/* A user of a node with users (clients then must log in): the password
 * verifier `hypersub passwd` prints (never the password itself), topic
 * patterns the user may publish and subscribe to, and whether it may run
 * the node (stop_node, leave). Patterns are NATS-style: tokens split by
 * '.', '*' matches one token, '>' the rest; an empty allow list allows
 * every topic; deny wins over allow. */
typedef struct hs_user {
  const char *name;
  const char *password; /* "argon2id-scram$..." */
  const char *const *publish_allow, *const *publish_deny;
  size_t n_publish_allow, n_publish_deny;
  const char *const *subscribe_allow, *const *subscribe_deny;
  size_t n_subscribe_allow, n_subscribe_deny;
  int admin;
} hs_user_t;

/* Writes the verifier of a password into out (cap bytes, 200 is enough):
 * a fresh salt, Argon2id with ops passes over mem_kib KiB (0, 0: the
 * defaults). 0 or HS_EINVALID / HS_ENOMEM. */
int hs_password_hash(const char *password, uint32_t ops, uint32_t mem_kib,
                     char *out, size_t cap);

/* How a node with a data directory syncs its files (README: Durability). */
typedef enum {
  HS_FSYNC_ALWAYS = 0, /* an answer waits until what it reports is synced */
  HS_FSYNC_INTERVAL,   /* synced every fsync_interval_ms */
  HS_FSYNC_NEVER       /* the system writes when it likes */
} hs_fsync_t;

typedef struct hs_node_config {
  uint32_t id;                /* node id; 0 by default */
  const char *join;           /* a member's "host:port": join its cluster
                                 (peers are learnt from it); NULL: none */
  const char *host;           /* listen address, default "127.0.0.1" */
  int port;                   /* 0 picks a free port */
  const char *cluster;        /* cluster name checked at HELLO, "hypersub" */
  size_t max_payload;         /* largest message, default 1 MiB */
  size_t max_output;          /* buffered output per connection, 64 MiB */
  uint32_t max_connections;   /* clients connected at once; 10000 */
  uint32_t max_pull;          /* largest pull batch, default 1000 */
  uint64_t retain_messages;   /* per topic; 0 keeps all */
  uint64_t retain_bytes;      /* per topic; 0 keeps all */
  uint64_t retain_ms;         /* per topic; 0 keeps all */
  uint32_t replicas;          /* copies of each topic, home included; 3 */
  const hs_peer_t *peers;     /* the other members (copied); none: alone */
  size_t n_peers;
  const hs_peer_t *dial;      /* reach these members at these addresses
                                 instead of the view's (a NAT, a tunnel, a
                                 proxy in between; copied) */
  size_t n_dial;
  uint32_t peer_timeout_ms;   /* forwarded and replicated requests; 5000 */
  uint32_t hop_limit;         /* forwarding hops; 0 means 2 * D + 2 */
  uint32_t heartbeat_ms;      /* pings to watched peers; 100 */
  uint32_t suspect_ms;        /* silence before a peer is suspected; 500 */
  uint32_t dead_ms;           /* silence before it is declared dead; 1000 */
  uint32_t link_idle_ms;      /* a link to a member that is neither a cube
                                 neighbour nor watched closes after this
                                 long unused; 10000, 0: never */
  /* Trust (see the README's Security section): */
  const char *cluster_key;    /* a file whose contents the members share:
                                 peers must prove they hold it; NULL: open */
  const hs_user_t *users;     /* clients must log in as one of them (copied);
                                 none: open to any client */
  size_t n_users;
  const char *data_dir;       /* keep topics on disk here; NULL: memory */
  hs_fsync_t fsync;           /* default HS_FSYNC_ALWAYS */
  uint32_t fsync_interval_ms; /* HS_FSYNC_INTERVAL; default 100 */
  const char *tls_cert;       /* PEM files: with a certificate and key the */
  const char *tls_key;        /* node speaks only TLS, to clients and peers; */
  const char *tls_ca;         /* peers must present a certificate from this
                                 CA (mutual TLS), and so must the nodes it
                                 links to; required with tls_cert */
  /* Limits on what a stranger can make the node hold (README's
   * configuration table): */
  uint32_t handshake_ms;          /* to finish HELLO/AUTH, else closed; 5000 */
  uint32_t max_handshakes;        /* connections mid-handshake; a new one
                                     past this closes the oldest; 256 */
  uint32_t max_peer_connections;  /* peers' connections; 1024 */
  uint32_t max_parked;            /* long polls parked on the node; 10000 */
  uint32_t max_parked_per_connection; /* and on one connection; 64 */
  uint32_t max_wait_ms;           /* a pull's wait is cut to this; 300000 */
  uint64_t max_topics;            /* topics (homed or copied); 100000 */
  uint64_t max_identities;        /* publishers + subscribers; 1000000 */
  uint64_t max_subscriptions;     /* cursors over all topics; 1000000 */
  hs_log_level_t log_level;   /* default HS_LOG_INFO */
  hs_log_format_t log_format; /* default HS_LOG_TEXT */
  const char *log_file;       /* NULL logs to stderr */
  /* operations */
  const char *http;              /* "host:port" of the monitoring HTTP port
                                    (metrics, health, the page); NULL: none */
  uint32_t http_timeout_ms;      /* an HTTP request's headers must come
                                    within it; idle ones close after it;
                                    10000 */
  uint32_t http_max_connections; /* HTTP connections at once; 64 */
} hs_node_config_t;

/* Fills in the defaults above. */
void hs_node_config_init(hs_node_config_t *cfg);
/* Checks a configuration as hs_node_new would (limits, peers, the cluster
 * key file, users): 0, or an error code with what is wrong in why. */
int hs_node_check_config(const hs_node_config_t *cfg, char *why,
                         size_t why_len);

/* Creates a node on `loop`; nothing is bound until hs_node_start. The config
 * strings are copied. */
int hs_node_new(uv_loop_t *loop, const hs_node_config_t *cfg, hs_node_t **out);
/* The same, saying in why what went wrong (a data directory that is not
 * this node's, a key file that cannot be read, ...). */
int hs_node_create(uv_loop_t *loop, const hs_node_config_t *cfg,
                   hs_node_t **out, char *why, size_t why_len);
/* Binds, listens and logs node_started. */
int hs_node_start(hs_node_t *node);
/* What the last failing call was about, e.g. "could not listen on
 * 127.0.0.1:7000: address already in use"; "" when nothing failed. */
const char *hs_node_last_error(const hs_node_t *node);
/* The bound port (useful after port 0), or 0 when not listening. */
int hs_node_port(const hs_node_t *node);
uint32_t hs_node_id(const hs_node_t *node);

typedef enum {
  HS_NODE_RUNNING = 1,
  HS_NODE_STOPPED,   /* stopped and not coming back */
  HS_NODE_RESTARTING, /* stopped; a timer will restart it */
  HS_NODE_JOINING     /* listening, asking the cluster for its place */
} hs_node_state_t;
hs_node_state_t hs_node_state(const hs_node_t *node);

/* Told when the node stops (STOP_NODE or hs_node_stop) or restarts. */
typedef void (*hs_node_state_cb)(hs_node_t *node, hs_node_state_t state,
                                 void *ud);
void hs_node_on_state(hs_node_t *node, hs_node_state_cb cb, void *ud);

/* Stops serving like a crash: listener and connections closed at once; the
 * state in memory is kept. With restart_after_ms > 0 it listens again on the
 * same port after that delay. */
int hs_node_stop(hs_node_t *node, uint32_t restart_after_ms);

/* A routing policy: the neighbour to forward toward `target`, or
 * UINT32_MAX for the default (fix the lowest differing bit, detour when
 * needed). An answer that is not a live neighbour is ignored. */
typedef uint32_t (*hs_next_hop_cb)(hs_node_t *node, uint32_t target, void *ud);
void hs_node_set_next_hop(hs_node_t *node, hs_next_hop_cb cb, void *ud);

/* Read policy: which copy of a topic serves a pull that enters the cluster
 * at this node. candidates: the live copies, home first; hops[i]: cube hops
 * from this node to candidates[i]; reads[i]: pulls this node has sent to
 * it so far. Return one of the candidates, or UINT32_MAX for the default
 * (this node when it holds a copy, else the nearest copy, ties split by
 * subscriber). Whatever copy serves, the home moves the cursor, so a
 * subscriber sees the home's sequence: no gap, no repeat. */
typedef uint32_t (*hs_read_replica_cb)(hs_node_t *node, const char *topic,
                                       size_t topic_len,
                                       const uint32_t *candidates,
                                       const uint32_t *hops,
                                       const uint64_t *reads, size_t n,
                                       void *ud);
void hs_node_set_read_replica(hs_node_t *node, hs_read_replica_cb cb,
                              void *ud);

/* The membership view, for policies and tools. */
typedef struct hs_member {
  uint32_t id;
  const char *addr;  /* valid until the view changes */
  const char *state; /* "alive", "suspect", "dead" or "left" */
} hs_member_t;
/* Fills up to cap members (ascending ids); returns how many there are. */
size_t hs_node_members(const hs_node_t *node, hs_member_t *out, size_t cap);
uint64_t hs_node_epoch(const hs_node_t *node);
unsigned hs_node_dim(const hs_node_t *node);

/* Receives log events as structures (in addition to the log line). */
void hs_node_set_log_hook(hs_node_t *node, hs_log_hook_cb cb, void *ud,
                          hs_log_level_t level);

/* Stats as a JSON object: counters, per-op latency percentiles. The returned
 * string is valid until the next call on this node. */
const char *hs_node_stats_json(hs_node_t *node, size_t *len);

/* Closes every handle and frees the node once libuv has let go of them.
 * `node` must not be used afterwards. */
void hs_node_free(hs_node_t *node);

/* ---- operations -----------------------------------------------------------
 * What running a node in production asks of it (src/node/operate.c). */

/* Leaves the cluster gracefully, as LEAVE does: the node marks itself LEFT,
 * hands its topics to the next nodes of their preference lists and stops
 * (the state callback hears HS_NODE_STOPPED); a node alone stops at once.
 * 0, or HS_EINVALID when it is not running or leaves already. */
int hs_node_leave(hs_node_t *node);
/* Logs an event as one of the node's own: its level, format, file, hook. */
void hs_node_log(hs_node_t *node, hs_log_level_t level, const char *component,
                 const char *event, const hs_log_field_t *fields, size_t n);
/* The bound port of the monitoring HTTP port (config.http), 0 when none. */
int hs_node_http_port(const hs_node_t *node);

/* ---- the client ----------------------------------------------------------
 * One connection to one of `addrs` (tried in turn), many requests in flight
 * matched by request id. Every request completes exactly once through its
 * callback: with the answer, an error, TIMEOUT or CLOSED. */
typedef struct hs_client hs_client_t;

typedef struct hs_client_config {
  const char *const *addrs; /* "host:port" strings, copied */
  size_t n_addrs;
  uint32_t timeout_ms; /* per request (pull adds its wait); default 5000 */
  const char *cluster; /* the cluster's name, default "hypersub" */
  size_t max_output;   /* buffered, unsent requests; default 64 MiB */
  const char *user;    /* log in as this user (with password); NULL: none */
  const char *password;
  /* TLS: on when tls is set or tls_ca given. The node's certificate must
   * chain to tls_ca (NULL: the system's CAs) and name the address
   * connected to; tls_cert and tls_key: this client's own, if the node
   * asks for one. */
  int tls;
  const char *tls_ca, *tls_cert, *tls_key;
} hs_client_config_t;

void hs_client_config_init(hs_client_config_t *cfg);

typedef enum { HS_ACK_NONE = 0, HS_ACK_HOME = 1, HS_ACK_ALL = 2 } hs_ack_t;
typedef enum {
  HS_FROM_EARLIEST = 0,
  HS_FROM_LATEST = 1,
  HS_FROM_OFFSET = 2
} hs_from_t;

typedef struct hs_message {
  uint64_t offset;
  uint64_t time_ms; /* when the home stored it, ms since the epoch */
  const char *publisher;
  size_t publisher_len;
  const char *data;
  size_t len;
} hs_message_t;

/* Pointers in a reply are valid only during the callback. */
typedef struct hs_reply {
  int status; /* 0 or HS_E* */
  const char *message; /* status != 0: what was wrong, e.g. topic "x" ... */
  size_t message_len;
  uint64_t offset;                /* publish: the message's offset; pull,
                                     fetch: the offset after the messages */
  const hs_message_t *messages;   /* pull, fetch */
  size_t n_messages;
  const char *text;               /* stats: a JSON object */
  size_t text_len;
  uint32_t node_id;               /* connect: the node that answered */
  const uint32_t *nodes;          /* where: home first, then replicas */
  size_t n_nodes;
  uint64_t epoch;                 /* where: the view's epoch */
  const char *raw;                /* the whole reply frame, NULL when the */
  size_t raw_len;                 /* reply was made locally (timeout...) */
} hs_reply_t;

typedef void (*hs_reply_cb)(hs_client_t *c, const hs_reply_t *reply,
                            void *ud);

/* Creates the client and starts connecting; `cb` gets status 0 and the
 * node's id once the handshake is done, or the last address's error. An
 * idle client (connected, nothing in flight) does not keep the loop
 * running. Requests may be issued at once: they are sent after the
 * handshake. */
int hs_client_new(uv_loop_t *loop, const hs_client_config_t *cfg,
                  hs_reply_cb cb, void *ud, hs_client_t **out);

int hs_client_create_publisher(hs_client_t *c, const char *pid,
                               hs_reply_cb cb, void *ud);
int hs_client_create_subscriber(hs_client_t *c, const char *sid,
                                hs_reply_cb cb, void *ud);
int hs_client_create_topic(hs_client_t *c, const char *pid, const char *topic,
                           hs_reply_cb cb, void *ud);
int hs_client_delete_topic(hs_client_t *c, const char *pid, const char *topic,
                           hs_reply_cb cb, void *ud);
int hs_client_publish(hs_client_t *c, const char *pid, const char *topic,
                      const void *data, size_t len, hs_ack_t ack,
                      hs_reply_cb cb, void *ud);
int hs_client_subscribe(hs_client_t *c, const char *sid, const char *topic,
                        hs_from_t from, uint64_t offset, hs_reply_cb cb,
                        void *ud);
/* max 0 means the node's default; wait_ms 0 answers at once. */
int hs_client_pull(hs_client_t *c, const char *sid, const char *topic,
                   uint32_t max, uint32_t wait_ms, hs_reply_cb cb, void *ud);
/* The topic's committed messages from `offset` on, with no subscriber and
 * no cursor: reply.messages, and reply.offset where to read on. Served by
 * the node it enters when that node holds a copy, else by the home. An
 * offset below the first retained one reads from that one. max 0 means
 * the node's default; wait_ms 0 answers at once. */
int hs_client_fetch(hs_client_t *c, const char *topic, uint64_t offset,
                    uint32_t max, uint32_t wait_ms, hs_reply_cb cb, void *ud);
int hs_client_stop_node(hs_client_t *c, uint32_t node_id,
                        uint32_t restart_after_ms, hs_reply_cb cb, void *ud);
/* The node hands its topics to the others and stops; answered once done. */
int hs_client_leave(hs_client_t *c, uint32_t node_id, hs_reply_cb cb,
                    void *ud);
int hs_client_stats(hs_client_t *c, hs_reply_cb cb, void *ud);
/* Where a topic lives: reply.nodes (home first) and reply.epoch. */
int hs_client_where(hs_client_t *c, const char *topic, hs_reply_cb cb,
                    void *ud);
/* The membership view as a JSON object (reply.text). */
int hs_client_view(hs_client_t *c, hs_reply_cb cb, void *ud);
/* Every topic of the cluster whose name starts with prefix ("" for all):
 * reply.text holds the names, one per line, sorted. */
int hs_client_list_topics(hs_client_t *c, const char *prefix, hs_reply_cb cb,
                          void *ud);
/* The topics the connected node itself holds, as home or replica, with
 * offsets and a digest of their records (reply.text, JSON). */
int hs_client_local(hs_client_t *c, hs_reply_cb cb, void *ud);

/* A pointer of the caller's, kept with the client. */
void hs_client_set_data(hs_client_t *c, void *data);
void *hs_client_data(const hs_client_t *c);

/* Requests issued and not yet answered. */
size_t hs_client_pending(const hs_client_t *c);
/* Replaces the addresses the client tries when it (re)connects, e.g. with
 * the cluster's members once its view is known. 0 or HS_EINVALID /
 * HS_ENOMEM (the old list is kept then). */
int hs_client_set_addrs(hs_client_t *c, const char *const *addrs, size_t n);
/* Requests this client sent again: after its connection dropped, or after
 * a node answered UNAVAILABLE or CLOSED (a node on the way died). Retries
 * stay within each request's timeout; publishes carry a producer id and a
 * sequence number, so the home stores a retried one only once. */
uint64_t hs_client_retries(const hs_client_t *c);

/* Fails every pending request with CLOSED (their callbacks run before this
 * returns), closes the connection and frees the client once libuv lets go. */
void hs_client_free(hs_client_t *c);

#endif
