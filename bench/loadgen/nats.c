/* bench/loadgen/nats.c — NATS JetStream load generator: a minimal NATS
 * text-protocol client (CONNECT, SUB, PUB with a reply inbox, MSG/HMSG,
 * PING/PONG) over blocking sockets. One process = one run on a fresh
 * stream, created with --replicas copies and --storage memory|file through
 * the JetStream API; the run then talks to the stream's leader (JetStream's
 * best case) or, with --via follower, to a server that is not (a client's
 * usual case: it connects wherever it was sent), and the stream is deleted
 * at the end.
 *
 *   nats-loadgen MODE --servers n1=HOST:PORT,n2=...,n3=... --stream S
 *                [--via leader|follower] [flags]
 *
 * MODE ready     create and delete a probe stream, retrying until the
 *                cluster has a meta leader (bounded: --timeout ms)
 *      sync      one publish outstanding, each acknowledged by JetStream
 *      pipe      --inflight acknowledged publishes outstanding
 *      pull      fill the stream, then a pull consumer fetches batches of
 *                --batch (no_wait) until it has them all
 *      longpoll  a pull request (batch 1, expires 2 s) armed, one publish,
 *                until it arrives; latency publish -> pulled
 * Same flags and RESULT line as hs-loadgen (see common.h). */
#define _GNU_SOURCE /* memmem */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "sock.h"

typedef struct {
  const char *subj, *data;
  size_t subj_len, len;
  int status; /* HMSG: the status in its header (404, 408, 503); else 0 */
} msg_t;

static char inbox[48]; /* _INBOX.<random>; replies come to inbox.<kind> */

/* One MSG or HMSG from the buffer, answering PINGs on the way;
 * 1 when one was taken, 0 when more input is needed. */
static int try_msg(sock_t *s, msg_t *m) {
  for (;;) {
    char *p = s->in + s->in_pos, *end = s->in + s->in_len;
    char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    if (!eol) return 0;
    size_t line_len = (size_t)(eol - p) + 2;
    if (!strncmp(p, "PING", 4)) {
      sock_put(s, "PONG\r\n", 6);
    } else if (!strncmp(p, "-ERR", 4)) {
      die("nats: %.*s", (int)(eol - p), p);
    } else if (!strncmp(p, "MSG ", 4) || !strncmp(p, "HMSG ", 5)) {
      int h = p[0] == 'H';
      char subj[256], a[256], b[64], c[64], d[64];
      *eol = 0;
      int k = sscanf(p + (h ? 5 : 4), "%255s %255s %255s %63s %63s", subj, a, b, c, d);
      *eol = '\r';
      /* MSG subj sid [reply] size; HMSG subj sid [reply] hdr total */
      long hdr = 0, total;
      if (!h) total = atol(k == 4 ? c : b);
      else if (k == 5) hdr = atol(c), total = atol(d);
      else hdr = atol(b), total = atol(c);
      if ((size_t)(end - eol - 2) < (size_t)total + 2) return 0;
      char *body = eol + 2;
      m->subj = p + (h ? 5 : 4);
      m->subj_len = strlen(subj);
      m->status = h && hdr >= 12 ? atoi(body + 9) : 0; /* "NATS/1.0 404" */
      m->data = body + hdr;
      m->len = (size_t)(total - hdr);
      s->in_pos += line_len + (size_t)total + 2;
      return 1;
    }
    s->in_pos += line_len; /* INFO, PONG, +OK */
  }
}

static void next_msg(sock_t *s, msg_t *m) {
  while (!try_msg(s, m)) sock_fill(s);
}

static int is_reply(const msg_t *m, const char *kind) {
  size_t n = strlen(inbox);
  return m->subj_len > n && !memcmp(m->subj, inbox, n) &&
         !strncmp(m->subj + n + 1, kind, m->subj_len - n - 1);
}

/* A message a pull request delivered: it keeps its stream subject (only
 * the statuses that end a request come on the inbox). */
static int is_delivery(const msg_t *m) {
  size_t n = strlen(inbox);
  return !m->status && !(m->subj_len > n && !memcmp(m->subj, inbox, n));
}

static void pub(sock_t *s, const char *subj, const char *reply, const void *data, size_t len) {
  sock_printf(s, "PUB %s %s.%s %zu\r\n", subj, inbox, reply, len);
  sock_put(s, data, len);
  sock_put(s, "\r\n", 2);
}

static void nats_connect(sock_t *s, const char *addr) {
  sock_dial(s, addr, 0);
  sock_printf(s, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                 "\"no_responders\":true,\"protocol\":1,\"name\":\"bench\"}\r\n");
  sock_printf(s, "SUB %s.* 1\r\nPING\r\n", inbox);
  for (;;) { /* until our PING's PONG: CONNECT and SUB are in */
    sock_fill(s);
    char *pong = memmem(s->in, s->in_len, "PONG\r\n", 6);
    if (pong) { s->in_pos = (size_t)(pong - s->in) + 6; return; }
  }
}

/* Like next_msg, but gives up after `ms`: 0 then. */
static int next_msg_within(sock_t *s, msg_t *m, int ms) {
  while (!try_msg(s, m)) {
    sock_flush(s);
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0) return 0;
    sock_fill_now(s);
  }
  return 1;
}

/* A JetStream API request; the reply's JSON (NUL-terminated, malloc'd)
 * or NULL when no server answered within a second (the API is not up yet:
 * while the cluster forms, a request can be dropped without an answer). */
static char *api(sock_t *s, const char *subj, const char *json) {
  pub(s, subj, "api", json, strlen(json));
  msg_t m;
  do {
    if (!next_msg_within(s, &m, 1000)) return NULL;
  } while (!is_reply(&m, "api"));
  if (m.status) return NULL;
  char *out = strndup(m.data, m.len);
  return out;
}

static void pause_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Creates the stream, retrying while the cluster elects its leaders
 * (there is no event to wait for; polled every 50 ms up to `timeout_ms`).
 * Returns the stream leader's server name in `leader`. */
static void stream_create(sock_t *s, const char *name, const char *storage,
                          long replicas, long timeout_ms, char *leader) {
  char subj[160], json[512];
  snprintf(subj, sizeof subj, "$JS.API.STREAM.CREATE.%s", name);
  snprintf(json, sizeof json,
           "{\"name\":\"%s\",\"subjects\":[\"%s.>\"],\"storage\":\"%s\","
           "\"num_replicas\":%ld,\"retention\":\"limits\",\"discard\":\"old\"}",
           name, name, storage, replicas);
  double deadline = now_us() + (double)timeout_ms * 1e3;
  char *r = NULL;
  leader[0] = 0;
  while (now_us() < deadline) {
    free(r);
    r = api(s, subj, json);
    const char *l = r ? strstr(r, "\"leader\":\"") : NULL;
    if (l) {
      sscanf(l + 10, "%63[^\"]", leader);
      free(r);
      return;
    }
    /* 503: no meta leader yet; 10005 "no suitable peers for placement":
     * the servers have not all caught up with each other yet (a cluster
     * just started). Both pass. */
    if (r && strstr(r, "\"error\"") && !strstr(r, "\"code\":503") &&
        !strstr(r, "\"err_code\":10005") && !strstr(r, "already in use"))
      die("stream create: %s", r);
    if (r && strstr(r, "already in use")) /* created by an earlier try */
      snprintf(subj, sizeof subj, "$JS.API.STREAM.INFO.%s", name), json[0] = 0;
    pause_ms(50);
  }
  die("stream %s has no leader after %ld ms: %s", name, timeout_ms, r ? r : "no responders");
}

static void stream_delete(sock_t *s, const char *name) {
  char subj[160];
  snprintf(subj, sizeof subj, "$JS.API.STREAM.DELETE.%s", name);
  free(api(s, subj, ""));
}

/* A durable pull consumer without acks (JetStream's cheapest reads). */
static void consumer_create(sock_t *s, const char *stream, long timeout_ms) {
  char subj[200], json[512];
  snprintf(subj, sizeof subj, "$JS.API.CONSUMER.DURABLE.CREATE.%s.c", stream);
  snprintf(json, sizeof json,
           "{\"stream_name\":\"%s\",\"config\":{\"durable_name\":\"c\","
           "\"ack_policy\":\"none\",\"deliver_policy\":\"all\",\"max_waiting\":512}}",
           stream);
  double deadline = now_us() + (double)timeout_ms * 1e3;
  while (now_us() < deadline) {
    char *r = api(s, subj, json);
    int ok = r && !strstr(r, "\"error\"");
    free(r);
    if (ok) return;
    pause_ms(50);
  }
  die("consumer on %s not created in %ld ms", stream, timeout_ms);
}

/* Returns once a publish to `subj` through this connection reaches the
 * stream and its answer comes back (bounded: `timeout_ms`). A server learns
 * of a new stream's subjects, and the stream's leader of this connection's
 * inbox, over the cluster's routes a moment later: until then a publish
 * through a follower finds no responders. The probe expects a last sequence
 * the stream cannot have, so the stream refuses it and stores nothing. */
static void await_routes(sock_t *s, const char *subj, long timeout_ms) {
  static const char hdr[] = "NATS/1.0\r\nNats-Expected-Last-Sequence: 999999999999\r\n\r\n";
  double deadline = now_us() + (double)timeout_ms * 1e3;
  while (now_us() < deadline) {
    sock_printf(s, "HPUB %s %s.probe %zu %zu\r\n", subj, inbox, sizeof hdr - 1, sizeof hdr - 1);
    sock_put(s, hdr, sizeof hdr - 1);
    sock_put(s, "\r\n", 2);
    msg_t m;
    int got;
    while ((got = next_msg_within(s, &m, 1000)) && !is_reply(&m, "probe")) continue;
    if (got && !m.status) return; /* the stream's refusal: routes are in */
    pause_ms(20);
  }
  die("publishes to %s find no stream after %ld ms", subj, timeout_ms);
}

/* Takes acks until `want` came; returns how many were errors. */
static size_t take_acks(sock_t *s, size_t want) {
  size_t bad = 0;
  msg_t m;
  while (want > 0) {
    next_msg(s, &m);
    if (!is_reply(&m, "ack")) continue;
    want--;
    if (m.status || memmem(m.data, m.len, "\"error\"", 7)) bad++;
  }
  return bad;
}

/* The address the measured phase talks to: the leader's, or with `via`
 * "follower" the first one that is not the leader's. */
static const char *measured_addr(char **names, char **addrs, size_t n, const char *leader,
                                 const char *via) {
  int follower = !strcmp(via, "follower");
  if (!follower && strcmp(via, "leader")) die("--via takes leader or follower, not %s", via);
  for (size_t i = 0; i < n; i++) {
    int is_leader = !strcmp(names[i], leader);
    if (is_leader != follower) return addrs[i];
  }
  if (follower) die("no server among --servers besides the leader %s", leader);
  die("leader %s is not among --servers", leader);
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: nats-loadgen MODE --servers n1=A,n2=B,... --stream S ...");
  const char *mode = argv[1];
  char *servers = strdup(flag_str(argc, argv, "--servers", "n1=127.0.0.1:4222"));
  char *names[16], *addrs[16];
  size_t n_servers = 0;
  for (char *t = strtok(servers, ","); t && n_servers < 16; t = strtok(NULL, ",")) {
    char *eq = strchr(t, '=');
    if (!eq) die("bad --servers entry %s", t);
    *eq = 0;
    names[n_servers] = t;
    addrs[n_servers++] = eq + 1;
  }
  const char *stream = flag_str(argc, argv, "--stream", "BENCH");
  const char *storage = flag_str(argc, argv, "--storage", "memory");
  const char *via = flag_str(argc, argv, "--via", "leader");
  long replicas = flag_int(argc, argv, "--replicas", 3);
  long timeout = flag_int(argc, argv, "--timeout", 30000);
  size_t n = (size_t)flag_int(argc, argv, "--n", 10000);
  size_t warm = (size_t)flag_int(argc, argv, "--warmup", n / 10);
  size_t size = (size_t)flag_int(argc, argv, "--size", 100);
  size_t inflight = (size_t)flag_int(argc, argv, "--inflight", 256);
  long batch = flag_int(argc, argv, "--batch", 100);
  if (size < 8) size = 8;
  snprintf(inbox, sizeof inbox, "_INBOX.%d_%.0f", (int)getpid(), now_us());

  /* Set up through the first server; then move to the stream's leader
   * (or to a follower). */
  sock_t s, r;
  char leader[64];
  nats_connect(&s, addrs[0]);
  if (!strcmp(mode, "ready")) {
    stream_create(&s, stream, storage, replicas, timeout, leader);
    stream_delete(&s, stream);
    return 0;
  }
  stream_create(&s, stream, storage, replicas, timeout, leader);
  int pulls = !strcmp(mode, "pull") || !strcmp(mode, "longpoll");
  if (pulls) consumer_create(&s, stream, timeout);
  const char *addr = measured_addr(names, addrs, n_servers, leader, via);
  sock_close(&s);
  nats_connect(&s, addr);

  char subj[160], next_subj[200];
  snprintf(subj, sizeof subj, "%s.x", stream);
  await_routes(&s, subj, timeout);
  snprintf(next_subj, sizeof next_subj, "$JS.API.CONSUMER.MSG.NEXT.%s.c", stream);
  char *data = malloc(size);
  payload_fill(data, size, 0);
  samples_t lat = {0}, times = {0};
  size_t ops = 0, bad = 0;
  double t0 = 0, t1, cpu0 = 0;

  if (!strcmp(mode, "sync")) {
    for (size_t i = 0; i < warm + n; i++) {
      if (i == warm) { t0 = now_us(); cpu0 = cpu_s(); }
      double t = now_us();
      pub(&s, subj, "ack", data, size);
      bad += take_acks(&s, 1);
      if (i >= warm) { samples_push(&lat, now_us() - t); ops++; }
    }
  } else if (!strcmp(mode, "pipe")) {
    for (int phase = 0; phase < 2; phase++) {
      size_t target = phase ? n : warm, sent = 0, done = 0;
      if (phase) { t0 = now_us(); cpu0 = cpu_s(); bad = 0; }
      for (; sent < target && sent < inflight; sent++) pub(&s, subj, "ack", data, size);
      while (done < target) {
        bad += take_acks(&s, 1);
        done++;
        if (sent < target) { pub(&s, subj, "ack", data, size); sent++; }
      }
    }
    ops = n - bad;
  } else if (!strcmp(mode, "pull")) {
    size_t total = warm + n, sent = 0, done = 0;
    for (; sent < total && sent < inflight; sent++) pub(&s, subj, "ack", data, size);
    while (done < total) {
      bad += take_acks(&s, 1);
      done++;
      if (sent < total) { pub(&s, subj, "ack", data, size); sent++; }
    }
    if (bad) die("fill: %zu publishes failed", bad);
    char req[64];
    int req_len = snprintf(req, sizeof req, "{\"batch\":%ld,\"no_wait\":true}", batch);
    size_t got = 0;
    while (got < total) {
      if (got >= warm && t0 == 0) { t0 = now_us(); cpu0 = cpu_s(); }
      double t = now_us();
      pub(&s, next_subj, "pull", req, (size_t)req_len);
      long k = 0;
      msg_t m;
      for (;;) { /* the batch's messages, ended by a status or by the count */
        next_msg(&s, &m);
        if (m.status && is_reply(&m, "pull")) break;
        if (is_delivery(&m) && ++k == batch) break;
      }
      if (t0 > 0 && k > 0) { samples_push(&lat, now_us() - t); ops += (size_t)k; }
      got += (size_t)k;
    }
  } else if (!strcmp(mode, "longpoll")) {
    nats_connect(&r, addr);
    await_routes(&r, subj, timeout);
    const char *req = "{\"batch\":1,\"expires\":2000000000}";
    size_t rearmed = 0;
    for (size_t i = 0; i < warm + n; i++) {
      if (i == warm) { t0 = now_us(); cpu0 = cpu_s(); }
      pub(&r, next_subj, "lp", req, strlen(req));
      sock_flush(&r);
      payload_fill(data, size, now_us());
      pub(&s, subj, "ack", data, size);
      sock_flush(&s);
      /* Both connections at once, so the message is timed when it arrives. */
      int acked = 0, got = 0;
      while (!acked || !got) {
        struct pollfd fds[2] = {{.fd = r.fd, .events = got ? 0 : POLLIN},
                                {.fd = s.fd, .events = acked ? 0 : POLLIN}};
        int ready = poll(fds, 2, 3000);
        if (ready < 0) die("poll failed");
        if (ready == 0 && !got) {
          /* Nothing for longer than the pull's expiry: the server dropped
           * the request without a status (seen once in 2.9.10); ask again. */
          pub(&r, next_subj, "lp", req, strlen(req));
          sock_flush(&r);
          rearmed++;
          continue;
        }
        msg_t m;
        if (fds[0].revents) {
          sock_fill_now(&r);
          while (!got && try_msg(&r, &m)) {
            if (m.status && is_reply(&m, "lp")) { /* expired: ask again */
              pub(&r, next_subj, "lp", req, strlen(req));
              sock_flush(&r);
              continue;
            }
            if (!is_delivery(&m)) continue;
            got = 1;
            double at = now_us();
            if (i >= warm) {
              samples_push(&lat, at - payload_stamp(m.data, m.len));
              samples_push(&times, at);
              ops++;
            }
          }
          sock_flush(&r); /* PONGs */
        }
        if (fds[1].revents) {
          sock_fill_now(&s);
          while (!acked && try_msg(&s, &m)) {
            if (!is_reply(&m, "ack")) continue;
            acked = 1;
            if (m.status || memmem(m.data, m.len, "\"error\"", 7)) bad++;
          }
          sock_flush(&s);
        }
      }
    }
    if (rearmed) fprintf(stderr, "nats-loadgen: %zu pull requests asked again\n", rearmed);
    sock_close(&r);
  } else {
    die("unknown mode %s", mode);
  }
  t1 = now_us();
  double cpu = cpu_s() - cpu0;
  report(mode, ops, t0, t1, cpu, size, &lat);
  if (bad) fprintf(stderr, "nats-loadgen: %zu publishes not acknowledged\n", bad);
  stream_delete(&s, stream);
  sock_close(&s);
  free(data);
  free(servers);
  samples_free(&lat);
  samples_free(&times);
  return 0;
}
