/* bench/loadgen/rtt.c — what one loopback round trip costs on this
 * machine, the floor under every sequential request:
 *
 *   rtt-probe MODE [--n trips] [--warmup trips] [--size B]
 *
 * The process forks an echo server and sends it --size bytes (100) over a
 * loopback TCP connection (TCP_NODELAY both ways), --n times in sequence,
 * each after the echo of the last came back. The echo always sleeps in
 * read(); MODE says how the sender waits for the echo:
 *
 * MODE block  sleeps in read(), as a plain client does
 *      spin   polls with non-blocking reads, as a client with
 *             hypersub.connect's `spin` does while its spin lasts
 *
 * Latency is per round trip. Same RESULT line as the load generators (see
 * common.h); the echo process ends with the connection. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

static void nodelay(int fd) {
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    die("TCP_NODELAY: %s", strerror(errno));
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) die("write: %s", strerror(errno));
    buf += w;
    len -= (size_t)w;
  }
}

/* Reads exactly len bytes; spinning, it never sleeps in the kernel. */
static void read_all(int fd, char *buf, size_t len, int spin) {
  while (len > 0) {
    ssize_t r = recv(fd, buf, len, spin ? MSG_DONTWAIT : 0);
    if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
      continue;
    if (r <= 0) die("read: %s", r ? strerror(errno) : "connection closed");
    buf += r;
    len -= (size_t)r;
  }
}

static void echo(int listener) {
  int fd = accept(listener, NULL, NULL);
  if (fd < 0) _exit(1);
  nodelay(fd);
  char buf[65536];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) _exit(0);
    write_all(fd, buf, (size_t)r);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: rtt-probe block|spin [--n trips] [--warmup trips] [--size B]");
  int spin = !strcmp(argv[1], "spin");
  if (!spin && strcmp(argv[1], "block")) die("unknown mode %s", argv[1]);
  size_t n = (size_t)flag_int(argc, argv, "--n", 10000);
  size_t warm = (size_t)flag_int(argc, argv, "--warmup", n / 10);
  size_t size = (size_t)flag_int(argc, argv, "--size", 100);
  if (n == 0 || size == 0 || size > 65536) die("--n must be positive, --size 1..65536");

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in at = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t at_len = sizeof at;
  if (listener < 0 || bind(listener, (struct sockaddr *)&at, sizeof at) ||
      listen(listener, 1) ||
      getsockname(listener, (struct sockaddr *)&at, &at_len))
    die("listen: %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) die("fork: %s", strerror(errno));
  if (child == 0) echo(listener);
  close(listener);

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&at, sizeof at))
    die("connect: %s", strerror(errno));
  nodelay(fd);
  char *buf = calloc(1, size);
  if (!buf) die("out of memory");
  for (size_t i = 0; i < warm; i++) {
    write_all(fd, buf, size);
    read_all(fd, buf, size, spin);
  }
  samples_t lat = {0};
  double cpu0 = cpu_s(), t0 = now_us();
  for (size_t i = 0; i < n; i++) {
    double s = now_us();
    write_all(fd, buf, size);
    read_all(fd, buf, size, spin);
    samples_push(&lat, now_us() - s);
  }
  double t1 = now_us();
  report("rtt", n, t0, t1, cpu_s() - cpu0, size, &lat);
  close(fd);
  waitpid(child, NULL, 0);
  samples_free(&lat);
  free(buf);
  return 0;
}
