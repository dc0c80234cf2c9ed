/* harness — the node under fuzzing (made afresh every NODE_INPUTS inputs,
 * or when an input stopped it), a real connection to it per input, the
 * input fed through the connection's framing, the loop turned. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "loopback.h"
#include "net/auth.h"
#include "node/node.h"

/* Inputs one node serves before the next is made: state carried between
 * inputs (topics, identities, views) is reached, memory stays bounded,
 * and making a node (a fresh listener, its first tick) does not dominate. A
 * single input run alone always meets a fresh node. */
#define NODE_INPUTS 100
/* Loop turns after the input: flushes, failed links, timers due at once. */
#define TURNS 4
/* How long the node may take to close a connection we reset. */
#define CLOSE_MS 2000

static uv_loop_t loop;
static hs_node_t *node;
static int node_inputs;
/* The key the node makes of its cluster key file: the peer's handshake
 * proves it as a member's would. */
static uint8_t key[AUTH_KEY];

typedef struct run {
  uv_tcp_t client; /* our end; never read: what the node sends piles up */
  uv_connect_t connect;
  int connected; /* 0 while connecting, then 1 or a libuv error */
  char name[64];   /* our end's address, as the node names its peer */
  node_conn_t *nc; /* the node's end */
} run_t;

static void die(const char *what) {
  fprintf(stderr, "fuzz harness: %s\n", what);
  abort();
}

/* Member 0 of a keyed cluster, with member 1, whose address refuses
 * connections. The key file lives while the node is made (it reads it
 * then) and is gone before any input runs. */
static void start_node(void) {
  char key_path[] = "/tmp/hypersub-fuzz-key-XXXXXX", why[256];
  int fd = mkstemp(key_path);
  if (fd < 0 || write(fd, HARNESS_KEY, strlen(HARNESS_KEY)) < 0 || close(fd))
    die("cannot write the cluster key");
  if (auth_key_load(key_path, key, why, sizeof why)) die(why);
  static const hs_peer_t peers[] = {{HARNESS_PEER_ID, HARNESS_PEER_ADDR}};
  hs_node_config_t cfg;
  hs_node_config_init(&cfg);
  cfg.cluster = HARNESS_CLUSTER;
  cfg.replicas = HARNESS_REPLICAS;
  cfg.peers = peers;
  cfg.n_peers = 1;
  cfg.cluster_key = key_path;
  /* Small limits, so an input of 64 KiB can reach them. */
  cfg.max_payload = 64 * 1024;
  cfg.max_output = 1024 * 1024;
  cfg.log_file = "/dev/null"; /* formatted, not kept */
  int rc = hs_node_new(&loop, &cfg, &node);
  unlink(key_path);
  if (rc) die("hs_node_new failed");
  if (hs_node_start(node)) die(hs_node_last_error(node));
  loopback_allow(hs_node_port(node));
  node_inputs = 0;
}

/* Frees the node and runs the loop until libuv has let go of every handle
 * (the node's memory goes with its last one). */
static void free_node(void) {
  hs_node_free(node);
  node = NULL;
  uv_run(&loop, UV_RUN_DEFAULT);
}

static void on_connect(uv_connect_t *req, int status) {
  run_t *r = req->data;
  r->connected = status ? status : 1;
}

/* The node's end of our connection, once accepted (the node may hold
 * connections of its own links too: the fuzzer's views can name it). */
static node_conn_t *accepted(const run_t *r) {
  for (node_conn_t *c = node->conns; c; c = c->next)
    if (strcmp(c->peer, r->name) == 0) return c;
  return NULL;
}

/* False when the node stopped before it accepted (a leave an earlier
 * input asked for ends on a tick). */
static bool connect_node(run_t *r) {
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", hs_node_port(node), &sa);
  uv_tcp_init(&loop, &r->client);
  r->connect.data = r;
  if (uv_tcp_connect(&r->connect, &r->client, (struct sockaddr *)&sa,
                     on_connect))
    die("uv_tcp_connect failed");
  while (!r->connected) uv_run(&loop, UV_RUN_ONCE);
  if (r->connected < 0) return false;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&r->client, (struct sockaddr *)&ss, &len);
  addr_name(&ss, r->name, sizeof r->name);
  while (!(r->nc = accepted(r)) && node->state == HS_NODE_RUNNING)
    uv_run(&loop, UV_RUN_ONCE);
  return r->nc != NULL;
}

/* Whether the node still serves our connection (a closing one is unlinked
 * at once and freed a turn later). */
static bool conn_open(const run_t *r) {
  for (const node_conn_t *c = node->conns; c; c = c->next)
    if (c == r->nc) return !c->conn.closing;
  return false;
}

/* Input arrives inside the loop, after its poll, as a read would: the
 * loop's time and the handles closed before are as they would be then. */
typedef struct feeder {
  uv_check_t check;
  run_t *r;
  const uint8_t *p;
  size_t n, at, chunk;
  bool turn; /* a chunk per loop turn, else all in one */
} feeder_t;

static void on_check(uv_check_t *h) {
  feeder_t *f = h->data;
  do {
    size_t k = f->n - f->at < f->chunk ? f->n - f->at : f->chunk;
    if (!conn_open(f->r) ||
        conn_feed(&f->r->nc->conn, (const char *)f->p + f->at, k))
      f->at = f->n;
    else
      f->at += k;
  } while (f->at < f->n && !f->turn);
  if (f->at >= f->n) uv_check_stop(h);
}

static void feed(run_t *r, const uint8_t *p, size_t n, size_t chunk,
                 bool turn) {
  feeder_t f = {.r = r, .p = p, .n = n, .chunk = chunk ? chunk : n,
                .turn = turn};
  if (!n) return;
  uv_check_init(&loop, &f.check);
  f.check.data = &f;
  uv_check_start(&f.check, on_check);
  while (uv_is_active((uv_handle_t *)&f.check)) uv_run(&loop, UV_RUN_NOWAIT);
  uv_close((uv_handle_t *)&f.check, NULL);
  uv_run(&loop, UV_RUN_NOWAIT); /* lets go of the check handle */
}

/* Member 1, as a member would: HELLO as a peer with a fresh nonce, then
 * AUTH with the proof of the cluster key over both nonces (the node's read
 * from its end of the connection, as the HELLO answer carries it) and the
 * view the node holds (which names member 1 at its address). False when
 * the node refused it: earlier inputs can make it (a view naming member 1
 * elsewhere, or dead). */
static bool handshake(run_t *r) {
  buf_t b = BUF_INIT, view = BUF_INIT;
  wire_writer_t w;
  msg_hello_t hello = {.role = WIRE_ROLE_PEER,
                       .cluster = msg_str(HARNESS_CLUSTER,
                                          strlen(HARNESS_CLUSTER)),
                       .node = HARNESS_PEER_ID,
                       .incarnation = 1,
                       .replicas = HARNESS_REPLICAS};
  auth_nonce(hello.nonce);
  wire_begin(&w, &b, WIRE_HELLO, 0, 1);
  msg_hello_put(&w, &hello);
  if (wire_end(&w)) die("out of memory");
  feed(r, (const uint8_t *)b.data, b.len, 0, false);
  if (!conn_open(r)) {
    buf_free(&b);
    return false;
  }
  auth_peer_t who = {HARNESS_CLUSTER, strlen(HARNESS_CLUSTER),
                     HARNESS_PEER_ID, 0, 1, hello.nonce, r->nc->nonce};
  uint8_t proof[AUTH_MAC];
  auth_peer_proof(key, &who, true, proof);
  if (view_encode(&node->cluster.view, &view)) die("out of memory");
  msg_auth_t auth = {msg_str((const char *)proof, sizeof proof),
                     msg_str(view.data, view.len)};
  buf_clear(&b);
  wire_begin(&w, &b, WIRE_AUTH, 0, 2);
  msg_auth_put(&w, &auth);
  if (wire_end(&w)) die("out of memory");
  feed(r, (const uint8_t *)b.data, b.len, 0, false);
  buf_free(&b);
  buf_free(&view);
  return conn_open(r) && r->nc->stage == NC_READY &&
         r->nc->role == WIRE_ROLE_PEER;
}

static void on_deadline(uv_timer_t *t) { *(bool *)t->data = true; }

/* Resets our end (no TIME_WAIT left behind: thousands of connections a
 * second would use up the ports) and waits until the node has closed and
 * freed its end. */
static void hang_up(run_t *r) {
  if (uv_tcp_close_reset(&r->client, NULL))
    uv_close((uv_handle_t *)&r->client, NULL);
  bool late = false;
  uv_timer_t deadline;
  uv_timer_init(&loop, &deadline);
  deadline.data = &late;
  uv_timer_start(&deadline, on_deadline, CLOSE_MS, 0);
  while (conn_open(r) && !late) uv_run(&loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(&loop, UV_RUN_NOWAIT); /* close callbacks: its memory is freed */
  if (late) die("the node kept a connection open after its peer reset it");
}

/* A connection the node serves, past the handshake for a peer. A node
 * that earlier inputs stopped, or turned against member 1, is made
 * afresh. */
static void open_conn(run_t *r, bool peer) {
  for (int tries = 0;; tries++) {
    if (node && (node_inputs >= NODE_INPUTS || node->state != HS_NODE_RUNNING))
      free_node();
    if (!node) start_node();
    *r = (run_t){0};
    if (connect_node(r) && (!peer || handshake(r))) return;
    if (tries) die("a fresh node refused the connection");
    hang_up(r);
    free_node();
  }
}

void harness_run(const uint8_t *data, size_t n, bool peer) {
  static bool ready;
  if (!ready) {
    signal(SIGPIPE, SIG_IGN); /* a write to a closed socket is an error */
    if (uv_loop_init(&loop)) die("uv_loop_init failed");
    ready = true;
  }
  if (n == 0) return;
  run_t r;
  open_conn(&r, peer);
  node_inputs++;
  feed(&r, data + 1, n - 1, data[0] & 0x7f, data[0] & 0x80);
  for (int i = 0; i < TURNS; i++) uv_run(&loop, UV_RUN_NOWAIT);
  hang_up(&r);
}
