/* bench/loadgen/sock.c — see sock.h. */
#include "sock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int sock_dial(sock_t *s, const char *addr, int soft) {
  memset(s, 0, sizeof *s);
  char host[64];
  int port;
  if (sscanf(addr, "%63[^:]:%d", host, &port) != 2) die("bad address %s", addr);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("bad host %s", host);
  s->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (s->fd < 0) die("socket");
  if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(s->fd);
    s->fd = -1;
    if (soft) return -1;
    die("cannot connect to %s", addr);
  }
  int one = 1;
  setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  s->in_cap = s->out_cap = 1 << 16;
  s->in = malloc(s->in_cap);
  s->out = malloc(s->out_cap);
  if (!s->in || !s->out) die("out of memory");
  return 0;
}

void sock_close(sock_t *s) {
  if (s->fd >= 0) close(s->fd);
  free(s->in);
  free(s->out);
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

void sock_compact(sock_t *s) {
  if (s->in_pos == 0) return;
  memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
  s->in_len -= s->in_pos;
  s->in_pos = 0;
}

static void read_some(sock_t *s, int flags) {
  sock_compact(s);
  if (s->in_cap - s->in_len < 4096) {
    s->in_cap *= 2;
    if (!(s->in = realloc(s->in, s->in_cap))) die("out of memory");
  }
  ssize_t n = recv(s->fd, s->in + s->in_len, s->in_cap - s->in_len, flags);
  if (n == 0) die("connection closed by the server");
  if (n < 0) {
    if (flags) return; /* nothing there after all */
    die("read failed");
  }
  s->in_len += (size_t)n;
}

void sock_fill(sock_t *s) {
  sock_flush(s);
  read_some(s, 0);
}

void sock_fill_now(sock_t *s) { read_some(s, MSG_DONTWAIT); }

void sock_put(sock_t *s, const void *data, size_t len) {
  if (s->out_cap - s->out_len < len) {
    while (s->out_cap - s->out_len < len) s->out_cap *= 2;
    if (!(s->out = realloc(s->out, s->out_cap))) die("out of memory");
  }
  memcpy(s->out + s->out_len, data, len);
  s->out_len += len;
}

void sock_printf(sock_t *s, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) die("line too long");
  sock_put(s, tmp, (size_t)n);
}

void sock_flush(sock_t *s) {
  size_t off = 0;
  while (off < s->out_len) {
    ssize_t n = write(s->fd, s->out + off, s->out_len - off);
    if (n <= 0) die("write failed");
    off += (size_t)n;
  }
  s->out_len = 0;
}
