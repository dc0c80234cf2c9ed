/* bench/loadgen/common.h — what the three load generators share: a
 * monotonic clock, latency samples, their own CPU time, flags, and the one
 * result line the Lua driver reads ("RESULT {json}"). */
#ifndef LOADGEN_COMMON_H
#define LOADGEN_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in µs: the same clock as luv's uv.hrtime(), so the driver
 * can place a generator's samples against the moment it killed a node. */
double now_us(void);
/* User + system CPU seconds this process has used. */
double cpu_s(void);

typedef struct {
  double *v;
  size_t n, cap;
} samples_t;

void samples_push(samples_t *s, double v);
/* The q-quantile (0..1) by nearest rank; sorts the samples. */
double samples_q(samples_t *s, double q);
double samples_mean(const samples_t *s);
void samples_free(samples_t *s);

/* "--name value" from argv, or `def`. */
const char *flag_str(int argc, char **argv, const char *name, const char *def);
long flag_int(int argc, char **argv, const char *name, long def);

/* One measured run: ops in [t0, t1] µs, latencies (may be empty), CPU
 * seconds used meanwhile, bytes of payload per op. Prints
 * RESULT {"ops":..,"secs":..,"rate":..,"mbps":..,"p50":..,"p99":..,
 * "p999":..,"mean":..,"max":..,"cpu":share,"t0":..,"t1":..} and flushes. */
void report(const char *what, size_t ops, double t0, double t1, double cpu,
            size_t payload, samples_t *lat);

/* Writes "t_us latency_us\n" pairs (µs, monotonic) for a time series. */
void series_write(const char *path, const samples_t *at, const samples_t *lat);

/* A payload of `len` bytes whose first 8 hold `stamp` (µs, monotonic), so a
 * reader can tell how long it took to arrive. */
void payload_fill(char *buf, size_t len, double stamp);
double payload_stamp(const char *buf, size_t len);

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
