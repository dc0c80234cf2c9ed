/* bench/loadgen/fsync.c — what one fdatasync costs on this disk, the
 * floor under every durable acknowledgement. One process = one run in a
 * fresh file under --dir:
 *
 *   fsync-probe MODE --dir DIR [--n ops] [--warmup ops] [--size B] [--batch K]
 *
 * MODE record    append --size bytes (100), then fdatasync; --n times
 *      batch     append --batch (256) records of --size bytes in one
 *                write, then fdatasync: a group commit
 *      overwrite write --size bytes into a file already allocated and
 *                synced, then fdatasync: no size change to make durable
 * Latency is per fdatasync'd write. Same RESULT line as the load
 * generators (see common.h), with "mbps" the bytes made durable per
 * second; the file is removed at the end. */
#define _GNU_SOURCE /* O_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void write_all(int fd, const char *buf, size_t len, off_t at) {
  while (len > 0) {
    ssize_t w = at >= 0 ? pwrite(fd, buf, len, at) : write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("write: %s", strerror(errno));
    buf += w;
    len -= (size_t)w;
    if (at >= 0) at += w;
  }
}

static void sync_fd(int fd) {
  if (fdatasync(fd) != 0) die("fdatasync: %s", strerror(errno));
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: fsync-probe record|batch|overwrite --dir DIR [flags]");
  const char *mode = argv[1];
  const char *dir = flag_str(argc, argv, "--dir", NULL);
  if (!dir) die("--dir is required");
  size_t n = (size_t)flag_int(argc, argv, "--n", 1000);
  size_t warm = (size_t)flag_int(argc, argv, "--warmup", n / 10);
  size_t size = (size_t)flag_int(argc, argv, "--size", 100);
  size_t batch = (size_t)flag_int(argc, argv, "--batch", 256);
  int overwrite = !strcmp(mode, "overwrite");
  if (!strcmp(mode, "record") || overwrite) batch = 1;
  else if (strcmp(mode, "batch")) die("unknown mode %s", mode);
  if (n == 0 || size == 0 || batch == 0) die("--n, --size and --batch must be positive");

  char path[4096];
  snprintf(path, sizeof path, "%s/fsync-probe-%d", dir, (int)getpid());
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) die("open %s: %s", path, strerror(errno));
  size_t len = size * batch;
  char *buf = malloc(len);
  if (!buf) die("out of memory");
  memset(buf, 'x', len);

  size_t total = warm + n;
  if (overwrite) { /* the whole file allocated and durable first */
    char *zero = calloc(1, 1 << 20);
    if (!zero) die("out of memory");
    for (size_t done = 0; done < total * len; done += 1 << 20)
      write_all(fd, zero, 1 << 20, -1);
    free(zero);
    if (fsync(fd) != 0) die("fsync: %s", strerror(errno));
  }

  samples_t lat = {0};
  double t0 = 0, c0 = 0;
  for (size_t i = 0; i < total; i++) {
    if (i == warm) t0 = now_us(), c0 = cpu_s();
    double s = now_us();
    write_all(fd, buf, len, overwrite ? (off_t)(i * len) : -1);
    sync_fd(fd);
    if (i >= warm) samples_push(&lat, now_us() - s);
  }
  double t1 = now_us();
  report(mode, n, t0, t1, cpu_s() - c0, len, &lat);
  close(fd);
  unlink(path);
  samples_free(&lat);
  free(buf);
  return 0;
}
