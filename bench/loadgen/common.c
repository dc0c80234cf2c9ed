/* bench/loadgen/common.c — see common.h. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void samples_push(samples_t *s, double v) {
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1024;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    if (!s->v) die("out of memory");
  }
  s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double samples_q(samples_t *s, double q) {
  if (!s->n) return 0;
  qsort(s->v, s->n, sizeof *s->v, cmp_double);
  size_t rank = (size_t)(q * (double)s->n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > s->n) rank = s->n;
  return s->v[rank - 1];
}

double samples_mean(const samples_t *s) {
  double sum = 0;
  for (size_t i = 0; i < s->n; i++) sum += s->v[i];
  return s->n ? sum / (double)s->n : 0;
}

void samples_free(samples_t *s) {
  free(s->v);
  s->v = NULL;
  s->n = s->cap = 0;
}

const char *flag_str(int argc, char **argv, const char *name, const char *def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return def;
}

long flag_int(int argc, char **argv, const char *name, long def) {
  const char *v = flag_str(argc, argv, name, NULL);
  return v ? strtol(v, NULL, 10) : def;
}

void report(const char *what, size_t ops, double t0, double t1, double cpu,
            size_t payload, samples_t *lat) {
  double secs = (t1 - t0) / 1e6;
  double rate = secs > 0 ? (double)ops / secs : 0;
  double mean = samples_mean(lat);
  double p50 = samples_q(lat, 0.50), p99 = samples_q(lat, 0.99);
  double p999 = samples_q(lat, 0.999), max = samples_q(lat, 1.0);
  printf("RESULT {\"what\":\"%s\",\"ops\":%zu,\"secs\":%.6f,\"rate\":%.1f,"
         "\"mbps\":%.3f,\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"mean\":%.1f,"
         "\"max\":%.1f,\"cpu\":%.4f,\"t0\":%.0f,\"t1\":%.0f}\n",
         what, ops, secs, rate, rate * (double)payload / 1e6, p50, p99, p999,
         mean, max, secs > 0 ? cpu / secs : 0, t0, t1);
  fflush(stdout);
}

void series_write(const char *path, const samples_t *at, const samples_t *lat) {
  FILE *f = fopen(path, "w");
  if (!f) die("cannot write %s", path);
  for (size_t i = 0; i < at->n && i < lat->n; i++)
    fprintf(f, "%.0f %.1f\n", at->v[i], lat->v[i]);
  fclose(f);
}

void payload_fill(char *buf, size_t len, double stamp) {
  memset(buf, 'x', len);
  if (len >= sizeof stamp) memcpy(buf, &stamp, sizeof stamp);
}

double payload_stamp(const char *buf, size_t len) {
  double stamp = 0;
  if (len >= sizeof stamp) memcpy(&stamp, buf, sizeof stamp);
  return stamp;
}

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}
