/* bench/loadgen/hs.c — hypersub's load generator, on the C client
 * (include/hypersub.h) and libuv, so the node and not a scripting layer is
 * what gets measured. One process = one run on one topic:
 *
 *   hs-loadgen MODE --addr HOST:PORT[,HOST:PORT...] --topic T [flags]
 *
 * MODE sync      one publish outstanding; latency of each
 *      pipe      --inflight publishes outstanding (default 256)
 *      pull      fill the topic, then pull it in batches of --batch (100)
 *      fetch     the same, read by offset (FETCH: no subscriber, no cursor)
 *      longpoll  a long-polled pull armed, one publish, until it arrives;
 *                latency publish -> pulled (two connections)
 * flags: --n ops measured, --warmup ops first (not counted), --size bytes,
 *        --ack none|home|all, --duration-ms run by time instead of --n,
 *        --series FILE (sync, longpoll: "t_us latency_us" per op; pipe with
 *        --bucket-ms: "t_us acks errors gap_us gap_end_us" per bucket, gap =
 *        the longest time without an ack that ended in it),
 *        --errors FILE ("t_us CODE" per failed request),
 *        --barrier 1 (after the warm-up print READY, wait for a line on stdin),
 *        --drop 1 (delete the topic at the end, as the peers' generators
 *        delete their stream or key: the next run reuses its memory).
 * SIGUSR1 ends a --duration-ms run early (the driver stops it when its
 * events are over). sync, pipe and longpoll print STARTED after the warm-up.
 * The first address is the one connected to; the rest are where the client
 * reconnects when that node dies. Prints RESULT {json} (see common.h). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common.h"
#include "hypersub.h"

static uv_loop_t *loop;
static const char *topic, *pub = "bench-p", *sub = "bench-s";
static hs_ack_t ack = HS_ACK_ALL;
static FILE *errors_f; /* --errors */
static int stopped;    /* SIGUSR1 seen */

static void note_error(int status) {
  if (errors_f) fprintf(errors_f, "%.0f %s\n", now_us(), hs_err_name(status));
}

static void on_stop(uv_signal_t *h, int sig) {
  (void)sig;
  stopped = 1;
  uv_close((uv_handle_t *)h, NULL);
}

typedef struct {
  int done, status;
  char msg[160];
} call_t;

static void on_call(hs_client_t *c, const hs_reply_t *r, void *ud) {
  (void)c;
  call_t *k = ud;
  k->done = 1;
  k->status = r->status;
  if (r->status)
    snprintf(k->msg, sizeof k->msg, "%.*s", (int)r->message_len,
             r->message ? r->message : "");
}

/* Runs the loop until the call is answered; 0 or its status. */
static int wait_call(call_t *k) {
  while (!k->done) uv_run(loop, UV_RUN_ONCE);
  return k->status;
}

static hs_client_t *connect_to(char **addrs, size_t n, long timeout_ms) {
  hs_client_config_t cfg;
  hs_client_config_init(&cfg);
  cfg.addrs = (const char *const *)addrs;
  cfg.n_addrs = n;
  cfg.timeout_ms = (uint32_t)timeout_ms;
  hs_client_t *c;
  call_t k = {0};
  if (hs_client_new(loop, &cfg, on_call, &k, &c)) die("bad address");
  if (wait_call(&k)) die("connect: %s", k.msg);
  return c;
}

/* Registrations may exist from another run (EXISTS is fine). */
static void setup(hs_client_t *c, int with_sub) {
  call_t k1 = {0}, k2 = {0}, k3 = {0};
  hs_client_create_publisher(c, pub, on_call, &k1);
  if (wait_call(&k1) && k1.status != HS_EEXISTS) die("publisher: %s", k1.msg);
  hs_client_create_topic(c, pub, topic, on_call, &k2);
  if (wait_call(&k2) && k2.status != HS_EEXISTS) die("topic: %s", k2.msg);
  if (!with_sub) return;
  hs_client_create_subscriber(c, sub, on_call, &k3);
  if (wait_call(&k3) && k3.status != HS_EEXISTS) die("subscriber: %s", k3.msg);
}

static void barrier(int on) {
  if (!on) return;
  char line[16];
  printf("READY\n");
  fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) die("barrier: stdin closed");
}

/* ---- pipelined publishes -------------------------------------------------- */

typedef struct {
  double acks, errors, gap, gap_end;
} bucket_t;

typedef struct {
  hs_client_t *c;
  const char *data;
  size_t size, sent, done, target, inflight, failed;
  bucket_t *buckets; /* NULL: none kept (warm-up, or no --bucket-ms) */
  size_t n_buckets;
  double t0, bucket_us, last_ack;
} pipe_t;

/* Counts an answer into its time bucket; a gap is charged to the bucket
 * where it ends, so one that spans buckets is still seen whole. */
static void pipe_count(pipe_t *p, int status) {
  double t = now_us();
  size_t i = (size_t)((t - p->t0) / p->bucket_us);
  if (i >= p->n_buckets) i = p->n_buckets - 1;
  bucket_t *b = &p->buckets[i];
  if (status) { b->errors++; return; }
  b->acks++;
  if (t - p->last_ack > b->gap) b->gap = t - p->last_ack, b->gap_end = t;
  p->last_ack = t;
}

static void pipe_send(pipe_t *p);

static void on_piped(hs_client_t *c, const hs_reply_t *r, void *ud) {
  (void)c;
  pipe_t *p = ud;
  p->done++;
  if (r->status) p->failed++, note_error(r->status);
  if (p->buckets) pipe_count(p, r->status);
  if (p->sent < p->target) pipe_send(p);
}

static void pipe_send(pipe_t *p) {
  p->sent++;
  if (hs_client_publish(p->c, pub, topic, p->data, p->size, ack, on_piped, p))
    die("publish could not be sent");
}

/* Publishes `n` messages with `inflight` outstanding, until every ack. */
static void pipe_run(pipe_t *p, size_t n) {
  p->sent = p->done = 0;
  p->target = n;
  for (size_t i = 0; i < p->inflight && p->sent < n; i++) pipe_send(p);
  while (p->done < n) uv_run(loop, UV_RUN_ONCE);
}

/* Keeps `inflight` outstanding until `until` (µs) or SIGUSR1, then sends
 * no more and waits for the rest. */
static void pipe_timed(pipe_t *p, double until) {
  p->sent = p->done = 0;
  p->target = SIZE_MAX;
  for (size_t i = 0; i < p->inflight; i++) pipe_send(p);
  while (!stopped && now_us() < until) uv_run(loop, UV_RUN_ONCE);
  p->target = p->sent;
  while (p->done < p->sent) uv_run(loop, UV_RUN_ONCE);
}

static void buckets_write(const char *path, const pipe_t *p) {
  FILE *f = fopen(path, "w");
  if (!f) die("cannot write %s", path);
  size_t last = 0; /* up to the last bucket with an answer */
  for (size_t i = 0; i < p->n_buckets; i++)
    if (p->buckets[i].acks || p->buckets[i].errors) last = i + 1;
  for (size_t i = 0; i < last; i++) {
    const bucket_t *b = &p->buckets[i];
    fprintf(f, "%.0f %.0f %.0f %.0f %.0f\n", p->t0 + (double)i * p->bucket_us,
            b->acks, b->errors, b->gap, b->gap_end);
  }
  fclose(f);
}

/* ---- long-polled pulls ------------------------------------------------------ */

typedef struct {
  int done, status;
  size_t got;
  uint64_t next; /* the offset after the messages */
  double at;
  samples_t *lat, *times; /* NULL during the warm-up */
} poll_t;

static void on_polled(hs_client_t *c, const hs_reply_t *r, void *ud) {
  (void)c;
  poll_t *q = ud;
  q->done = 1;
  q->status = r->status;
  q->at = now_us();
  q->got = r->n_messages;
  q->next = r->offset;
  for (size_t i = 0; i < r->n_messages && q->lat; i++) {
    samples_push(q->lat, q->at - payload_stamp(r->messages[i].data, r->messages[i].len));
    samples_push(q->times, q->at);
  }
}

/* The warm-up is over: wait for the driver (--barrier), say STARTED, and
 * start the clocks of the measured phase. */
static void measure_start(int use_barrier, int say_started, double *t0,
                          double *cpu0) {
  barrier(use_barrier);
  if (say_started) {
    printf("STARTED\n");
    fflush(stdout);
  }
  *t0 = now_us();
  *cpu0 = cpu_s();
}

/* Whether the measured phase is over: stopped (SIGUSR1), its time is up
 * (--duration-ms) or its n operations are done. */
static int measured_enough(double t0, double duration, size_t ops, size_t n) {
  return stopped || (duration > 0 ? now_us() - t0 >= duration : ops >= n);
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: hs-loadgen sync|pipe|pull|fetch|longpoll --addr A --topic T ...");
  const char *mode = argv[1];
  char *addr_list = strdup(flag_str(argc, argv, "--addr", "127.0.0.1:7000"));
  char *addrs[128];
  size_t n_addrs = 0;
  for (char *s = strtok(addr_list, ","); s && n_addrs < 128; s = strtok(NULL, ","))
    addrs[n_addrs++] = s;
  topic = flag_str(argc, argv, "--topic", "bench");
  pub = flag_str(argc, argv, "--pub", pub);
  sub = flag_str(argc, argv, "--sub", sub);
  const char *ack_name = flag_str(argc, argv, "--ack", "all");
  ack = !strcmp(ack_name, "none") ? HS_ACK_NONE
        : !strcmp(ack_name, "home") ? HS_ACK_HOME : HS_ACK_ALL;
  size_t n = (size_t)flag_int(argc, argv, "--n", 10000);
  size_t warm = (size_t)flag_int(argc, argv, "--warmup", n / 10);
  size_t size = (size_t)flag_int(argc, argv, "--size", 100);
  size_t batch = (size_t)flag_int(argc, argv, "--batch", 100);
  double duration = (double)flag_int(argc, argv, "--duration-ms", 0) * 1e3;
  const char *series = flag_str(argc, argv, "--series", NULL);
  int use_barrier = (int)flag_int(argc, argv, "--barrier", 0);
  int drop = (int)flag_int(argc, argv, "--drop", 0);
  long timeout = flag_int(argc, argv, "--timeout", 10000);
  double bucket_us = (double)flag_int(argc, argv, "--bucket-ms", 0) * 1e3;
  const char *errors_path = flag_str(argc, argv, "--errors", NULL);
  if (size < 8) size = 8; /* room for the time stamp */
  if (errors_path && !(errors_f = fopen(errors_path, "w")))
    die("cannot write %s", errors_path);

  loop = uv_default_loop();
  uv_signal_t stop_sig;
  uv_signal_init(loop, &stop_sig);
  uv_signal_start_oneshot(&stop_sig, on_stop, SIGUSR1);
  uv_unref((uv_handle_t *)&stop_sig); /* it keeps no loop run alive */
  hs_client_t *c = connect_to(addrs, n_addrs, timeout);
  char *data = malloc(size);
  payload_fill(data, size, 0);
  samples_t lat = {0}, times = {0};
  size_t failed = 0, ops = 0;
  double t0 = 0, t1 = 0, cpu0 = 0;

  if (!strcmp(mode, "sync")) {
    setup(c, 0);
    for (size_t i = 0;; i++) {
      if (i == warm) measure_start(use_barrier, 1, &t0, &cpu0);
      if (i >= warm && measured_enough(t0, duration, ops, n)) break;
      call_t k = {0};
      double t = now_us();
      if (hs_client_publish(c, pub, topic, data, size, ack, on_call, &k))
        die("publish could not be sent");
      int rc = wait_call(&k);
      double done = now_us();
      if (i < warm) continue;
      if (rc) { failed++; note_error(rc); continue; }
      ops++;
      samples_push(&lat, done - t);
      samples_push(&times, done);
    }
    t1 = now_us();
  } else if (!strcmp(mode, "pipe")) {
    setup(c, 0);
    pipe_t p = {.c = c, .data = data, .size = size,
                .inflight = (size_t)flag_int(argc, argv, "--inflight", 256)};
    pipe_run(&p, warm);
    p.failed = 0;
    measure_start(use_barrier, 1, &t0, &cpu0);
    if (duration > 0 && bucket_us > 0) {
      p.t0 = p.last_ack = t0;
      p.bucket_us = bucket_us;
      p.n_buckets = (size_t)(duration / bucket_us) + 2;
      if (!(p.buckets = calloc(p.n_buckets, sizeof *p.buckets))) die("out of memory");
    }
    if (duration > 0) pipe_timed(&p, t0 + duration);
    else pipe_run(&p, n);
    t1 = now_us();
    failed = p.failed;
    ops = p.done - p.failed;
    if (series && p.buckets) buckets_write(series, &p);
    series = NULL; /* written, or not kept in this mode */
    free(p.buckets);
  } else if (!strcmp(mode, "pull") || !strcmp(mode, "fetch")) {
    int by_offset = !strcmp(mode, "fetch");
    setup(c, !by_offset);
    call_t k = {0};
    if (!by_offset) {
      hs_client_subscribe(c, sub, topic, HS_FROM_EARLIEST, 0, on_call, &k);
      if (wait_call(&k)) die("subscribe: %s", k.msg);
    }
    pipe_t p = {.c = c, .data = data, .size = size, .inflight = 256};
    pipe_run(&p, warm + n);
    if (p.failed) die("fill: %zu publishes failed", p.failed);
    size_t got = 0;
    uint64_t next = 0;
    while (got < warm + n) {
      if (got >= warm && t0 == 0) measure_start(use_barrier, 0, &t0, &cpu0);
      poll_t q = {0};
      double t = now_us();
      if (by_offset ? hs_client_fetch(c, topic, next, (uint32_t)batch, 0, on_polled, &q)
                    : hs_client_pull(c, sub, topic, (uint32_t)batch, 0, on_polled, &q))
        die("%s could not be sent", mode);
      while (!q.done) uv_run(loop, UV_RUN_ONCE);
      if (q.status || q.got == 0) die("%s: status %d, %zu messages", mode, q.status, q.got);
      if (t0 > 0) samples_push(&lat, q.at - t);
      got += q.got;
      next = q.next;
      if (t0 > 0) ops += q.got;
    }
    t1 = now_us();
  } else if (!strcmp(mode, "longpoll")) {
    setup(c, 1);
    hs_client_t *sc = connect_to(addrs, n_addrs, timeout);
    call_t k = {0};
    hs_client_subscribe(sc, sub, topic, HS_FROM_EARLIEST, 0, on_call, &k);
    if (wait_call(&k)) die("subscribe: %s", k.msg);
    for (size_t i = 0;; i++) {
      if (i == warm) measure_start(use_barrier, 1, &t0, &cpu0);
      if (i >= warm && measured_enough(t0, duration, ops, n)) break;
      poll_t q = {.lat = i >= warm ? &lat : NULL, .times = &times};
      call_t pk = {0};
      if (hs_client_pull(sc, sub, topic, (uint32_t)batch, 2000, on_polled, &q))
        die("pull could not be sent");
      payload_fill(data, size, now_us());
      if (hs_client_publish(c, pub, topic, data, size, ack, on_call, &pk))
        die("publish could not be sent");
      if (wait_call(&pk)) note_error(pk.status);
      while (!q.done) uv_run(loop, UV_RUN_ONCE);
      /* A poll that came back empty (its wait ran out during a failover)
       * is armed again until the message arrives; not after a failed
       * publish, whose message may never come. */
      while (q.got == 0 && !pk.status) {
        if (q.status) note_error(q.status);
        q.done = 0;
        if (hs_client_pull(sc, sub, topic, (uint32_t)batch, 2000, on_polled, &q))
          die("pull could not be sent");
        while (!q.done) uv_run(loop, UV_RUN_ONCE);
      }
      if (q.got == 0 && q.status) note_error(q.status);
      if (pk.status) failed++;
      if (i >= warm) ops += q.got;
    }
    t1 = now_us();
    hs_client_free(sc);
  } else {
    die("unknown mode %s", mode);
  }

  double cpu = cpu_s() - cpu0;
  if (series) series_write(series, &times, &lat);
  report(mode, ops, t0, t1, cpu, size, &lat);
  if (failed) fprintf(stderr, "hs-loadgen: %zu requests failed\n", failed);
  if (errors_f) fclose(errors_f);
  if (drop) {
    call_t k = {0};
    hs_client_delete_topic(c, pub, topic, on_call, &k);
    if (wait_call(&k)) fprintf(stderr, "hs-loadgen: delete %s: %s\n", topic, k.msg);
  }
  if (!uv_is_closing((uv_handle_t *)&stop_sig)) uv_close((uv_handle_t *)&stop_sig, NULL);
  hs_client_free(c);
  uv_run(loop, UV_RUN_DEFAULT); /* let the client's handles close */
  free(data);
  free(addr_list);
  samples_free(&lat);
  samples_free(&times);
  return failed && !duration ? 1 : 0;
}
