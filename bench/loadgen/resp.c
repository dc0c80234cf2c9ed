/* bench/loadgen/resp.c — Redis Streams load generator: a minimal RESP
 * client over a blocking socket. One process = one run on one stream key:
 *
 *   resp-loadgen MODE --addr HOST:PORT --key K [flags]
 *
 * MODE ready     SET + WAIT --replicas until every replica acknowledges
 *                (bounded: --timeout ms), then exit 0
 *      sync      XADD one at a time; with --wait 1 each is followed by
 *                WAIT <replicas> 0 (acknowledged by every replica)
 *      pipe      --wait 1: batches of --inflight XADD, then one WAIT per
 *                batch; --wait 0: --inflight XADD outstanding
 *      pull      fill the stream, then XREAD COUNT --batch from the last id
 *      longpoll  XREAD BLOCK armed on one connection, XADD (+WAIT) on
 *                another; latency publish -> read
 * Same flags and RESULT line as hs-loadgen (see common.h). The key is
 * deleted at the end. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sock.h"

/* ---- RESP replies, parsed in place into a flat pre-order list ---------- */

typedef struct {
  char type;   /* + - : $ * */
  int depth;
  long long n; /* integer value, bulk length or array count (-1: null) */
  const char *s;
} node_t;

static node_t *nodes;
static size_t n_nodes, cap_nodes;

static void add_node(node_t v) {
  if (n_nodes == cap_nodes) {
    cap_nodes = cap_nodes ? cap_nodes * 2 : 1024;
    if (!(nodes = realloc(nodes, cap_nodes * sizeof *nodes))) die("out of memory");
  }
  nodes[n_nodes++] = v;
}

/* One value at p; 1 and *next set when complete, 0 when more is needed. */
static int parse(const char *p, const char *end, int depth, const char **next) {
  const char *eol = memchr(p, '\r', (size_t)(end - p));
  if (!eol || eol + 1 >= end) return 0;
  node_t v = {.type = *p, .depth = depth, .s = p + 1};
  v.n = strtoll(p + 1, NULL, 10);
  p = eol + 2;
  if (v.type == '$' && v.n >= 0) {
    if (end - p < v.n + 2) return 0;
    v.s = p;
    p += v.n + 2;
  }
  add_node(v);
  if (v.type == '*')
    for (long long i = 0; i < v.n; i++)
      if (!parse(p, end, depth + 1, &p)) return 0;
  *next = p;
  return 1;
}

/* One whole reply if it is in (its first node), else NULL. */
static node_t *try_reply(sock_t *s) {
  const char *next;
  n_nodes = 0;
  if (s->in_len == s->in_pos ||
      !parse(s->in + s->in_pos, s->in + s->in_len, 0, &next))
    return NULL;
  s->in_pos = (size_t)(next - s->in);
  if (nodes[0].type == '-')
    die("redis: %.*s", (int)strcspn(nodes[0].s, "\r"), nodes[0].s);
  return &nodes[0];
}

/* Blocks until one whole reply is in. */
static node_t *reply(sock_t *s) {
  node_t *r;
  while (!(r = try_reply(s))) sock_fill(s);
  return r;
}

/* Appends one command (binary-safe arguments). */
static void command(sock_t *s, int argc, const char **argv, const size_t *lens) {
  sock_printf(s, "*%d\r\n", argc);
  for (int i = 0; i < argc; i++) {
    size_t len = lens && lens[i] ? lens[i] : strlen(argv[i]);
    sock_printf(s, "$%zu\r\n", len);
    sock_put(s, argv[i], len);
    sock_put(s, "\r\n", 2);
  }
}

static const char *key;
static char replicas[16];

static void xadd(sock_t *s, const char *data, size_t size) {
  const char *argv[] = {"XADD", key, "*", "d", data};
  size_t lens[] = {0, 0, 0, 0, size};
  command(s, 5, argv, lens);
}

static void wait_all(sock_t *s) {
  const char *argv[] = {"WAIT", replicas, "0"};
  command(s, 3, argv, NULL);
}

static void xread_send(sock_t *s, const char *count, const char *block,
                       const char *last) {
  const char *bargv[] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", key, last};
  const char *argv[] = {"XREAD", "COUNT", count, "STREAMS", key, last};
  if (block) command(s, 8, bargv, NULL);
  else command(s, 6, argv, NULL);
}

/* The XREAD reply just parsed: moves `last` past its entries and, given
 * `lat`, records how long each stamped payload took to arrive. */
static size_t xread_take(char *last, samples_t *lat, samples_t *times) {
  double at = now_us();
  if (nodes[0].n < 0) return 0; /* BLOCK ran out */
  size_t got = 0, fields = 0;
  for (size_t i = 0; i < n_nodes; i++) {
    if (nodes[i].type != '$') continue;
    if (nodes[i].depth == 4) { /* an entry's id */
      got++;
      snprintf(last, 64, "%.*s", (int)nodes[i].n, nodes[i].s);
      fields = 0;
    } else if (nodes[i].depth == 5 && fields++ % 2 == 1 && lat) {
      samples_push(lat, at - payload_stamp(nodes[i].s, (size_t)nodes[i].n));
      samples_push(times, at);
    }
  }
  return got;
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: resp-loadgen ready|sync|pipe|pull|longpoll --addr A --key K ...");
  const char *mode = argv[1];
  const char *addr = flag_str(argc, argv, "--addr", "127.0.0.1:6379");
  key = flag_str(argc, argv, "--key", "bench");
  snprintf(replicas, sizeof replicas, "%ld", flag_int(argc, argv, "--replicas", 2));
  int with_wait = (int)flag_int(argc, argv, "--wait", 1);
  size_t n = (size_t)flag_int(argc, argv, "--n", 10000);
  size_t warm = (size_t)flag_int(argc, argv, "--warmup", n / 10);
  size_t size = (size_t)flag_int(argc, argv, "--size", 100);
  size_t inflight = (size_t)flag_int(argc, argv, "--inflight", 256);
  const char *batch = flag_str(argc, argv, "--batch", "100");
  if (size < 8) size = 8;

  sock_t s;
  sock_dial(&s, addr, 0);
  if (!strcmp(mode, "ready")) {
    double deadline = now_us() + (double)flag_int(argc, argv, "--timeout", 20000) * 1e3;
    while (now_us() < deadline) {
      const char *set[] = {"SET", "bench:ready", "1"};
      const char *w[] = {"WAIT", replicas, "100"};
      command(&s, 3, set, NULL);
      command(&s, 3, w, NULL);
      reply(&s);
      if (reply(&s)->n >= atoll(replicas)) return 0;
    }
    die("replicas not connected in time");
  }

  char *data = malloc(size);
  payload_fill(data, size, 0);
  samples_t lat = {0}, times = {0};
  size_t ops = 0;
  double t0 = 0, t1, cpu0 = 0;

  if (!strcmp(mode, "sync")) {
    for (size_t i = 0; i < warm + n; i++) {
      if (i == warm) { t0 = now_us(); cpu0 = cpu_s(); }
      double t = now_us();
      xadd(&s, data, size);
      if (with_wait) wait_all(&s);
      reply(&s);
      if (with_wait && reply(&s)->n < atoll(replicas)) die("WAIT: too few replicas");
      if (i >= warm) { samples_push(&lat, now_us() - t); ops++; }
    }
  } else if (!strcmp(mode, "pipe")) {
    for (int phase = 0; phase < 2; phase++) {
      size_t target = phase ? n : warm, sent = 0, done = 0;
      if (phase) { t0 = now_us(); cpu0 = cpu_s(); }
      if (with_wait) { /* a batch, then WAIT for the batch */
        while (sent < target) {
          size_t b = target - sent < inflight ? target - sent : inflight;
          for (size_t i = 0; i < b; i++) xadd(&s, data, size);
          wait_all(&s);
          for (size_t i = 0; i < b; i++) reply(&s);
          if (reply(&s)->n < atoll(replicas)) die("WAIT: too few replicas");
          sent += b;
        }
      } else { /* a window of `inflight` outstanding */
        for (; sent < target && sent < inflight; sent++) xadd(&s, data, size);
        while (done < target) {
          reply(&s);
          done++;
          if (sent < target) { xadd(&s, data, size); sent++; }
        }
      }
    }
    ops = n;
  } else if (!strcmp(mode, "pull")) {
    for (size_t i = 0; i < warm + n; i++) {
      xadd(&s, data, size);
      if (i % inflight == inflight - 1) for (size_t j = 0; j < inflight; j++) reply(&s);
    }
    for (size_t j = 0; j < (warm + n) % inflight; j++) reply(&s);
    char last[64] = "0";
    size_t got = 0;
    while (got < warm + n) {
      if (got >= warm && t0 == 0) { t0 = now_us(); cpu0 = cpu_s(); }
      double t = now_us();
      xread_send(&s, batch, NULL, last);
      reply(&s);
      size_t k = xread_take(last, NULL, NULL);
      if (!k) die("XREAD returned nothing");
      if (t0 > 0) { samples_push(&lat, now_us() - t); ops += k; }
      got += k;
    }
  } else if (!strcmp(mode, "longpoll")) {
    sock_t r;
    sock_dial(&r, addr, 0);
    char last[64] = "0";
    for (size_t i = 0; i < warm + n; i++) {
      if (i == warm) { t0 = now_us(); cpu0 = cpu_s(); }
      xread_send(&r, batch, "2000", last);
      sock_flush(&r);
      payload_fill(data, size, now_us());
      xadd(&s, data, size);
      if (with_wait) wait_all(&s);
      sock_flush(&s);
      /* Both connections at once, so the read is timed when it arrives. */
      int pub_left = 1 + with_wait, got = 0;
      while (pub_left > 0 || !got) {
        struct pollfd fds[2] = {{.fd = r.fd, .events = got ? 0 : POLLIN},
                                {.fd = s.fd, .events = pub_left ? POLLIN : 0}};
        if (poll(fds, 2, -1) < 0) die("poll failed");
        if (fds[0].revents) {
          sock_fill_now(&r);
          if (try_reply(&r)) {
            got = (int)xread_take(last, i >= warm ? &lat : NULL, &times);
            if (!got) { xread_send(&r, batch, "2000", last); sock_flush(&r); }
            if (i >= warm) ops += (size_t)got;
          }
        }
        if (fds[1].revents) {
          sock_fill_now(&s);
          while (pub_left > 0 && try_reply(&s)) pub_left--;
        }
      }
    }
    sock_close(&r);
  } else {
    die("unknown mode %s", mode);
  }
  t1 = now_us();
  double cpu = cpu_s() - cpu0;
  report(mode, ops, t0, t1, cpu, size, &lat);
  const char *del[] = {"DEL", key};
  command(&s, 2, del, NULL);
  reply(&s);
  sock_close(&s);
  free(data);
  return 0;
}
