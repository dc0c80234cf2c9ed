/* bench/loadgen/sock.h — a blocking TCP connection with an input buffer a
 * parser reads in place and an output buffer flushed in one write: enough
 * for the peers' text protocols, with TCP_NODELAY so a lone request is not
 * held back. */
#ifndef LOADGEN_SOCK_H
#define LOADGEN_SOCK_H

#include <stddef.h>

typedef struct {
  int fd;
  char *in;
  size_t in_pos, in_len, in_cap; /* unread bytes: in[in_pos .. in_len) */
  char *out;
  size_t out_len, out_cap;
} sock_t;

/* Connects to "host:port"; dies on failure unless `soft`, then returns -1. */
int sock_dial(sock_t *s, const char *addr, int soft);
void sock_close(sock_t *s);
/* Flushes the output, then blocks until more input arrived. */
void sock_fill(sock_t *s);
/* Reads what is there without blocking (after poll said readable). */
void sock_fill_now(sock_t *s);
void sock_put(sock_t *s, const void *data, size_t len);
void sock_printf(sock_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sock_flush(sock_t *s);
/* Drops consumed input so the buffer does not grow without end. */
void sock_compact(sock_t *s);

#endif
