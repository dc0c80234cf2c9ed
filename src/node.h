/* node — the server: listener, connections, HELLO, stop/restart. The
 * request handlers are in ops.c. */
#ifndef HS_NODE_H
#define HS_NODE_H

#include <stdbool.h>
#include <uv.h>

#include "conn.h"
#include "hypersub.h"
#include "log.h"
#include "stats.h"
#include "store.h"

typedef struct node_conn node_conn_t;
typedef struct pull_waiter pull_waiter_t;

struct node_conn {
  conn_t conn;
  hs_node_t *node;
  node_conn_t *prev, *next; /* the node's open connections */
  pull_waiter_t *waiters;   /* long polls parked for this connection */
  bool hello_done;
  uint8_t role;
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
};

struct hs_node {
  uv_loop_t *loop;
  hs_node_config_t cfg; /* strings below are the node's own copies */
  char *host, *cluster, *log_file;
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

  store_t store;
  log_t log;
  stats_t stats;
  log_limit_t garbage_limit;
  buf_t scratch; /* stats JSON */
  char error[400]; /* hs_node_last_error */

  int open_handles; /* freed when this reaches 0 after hs_node_free */
  bool freeing;
};

/* ops.c: handles one request frame from a client connection. */
void ops_dispatch(node_conn_t *nc, const wire_frame_t *f);
/* ops.c: a message was appended to `t`: serve the long polls parked on it. */
void ops_wake_waiters(hs_node_t *node, store_topic_t *t);
/* ops.c: replies NO_TOPIC to, and frees, every waiter of a topic going away. */
void ops_drop_topic_waiters(hs_node_t *node, store_topic_t *t);
/* ops.c: frees a waiter without replying (its connection is closing). */
void ops_waiter_free(pull_waiter_t *w);

/* Replies: frames appended to the connection's output. */
void node_reply_error(node_conn_t *nc, uint8_t op, uint32_t id, int code,
                      const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void node_send(node_conn_t *nc);

/* Stops serving: closes the listener and every connection but `keep`,
 * which is flushed and shut down (it carries the STOP_NODE answer). */
void node_halt(hs_node_t *node, node_conn_t *keep, uint32_t restart_after_ms);

#endif
