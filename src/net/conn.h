/* conn — one TCP stream carrying frames: incremental parsing of input in
 * place, output batched per loop turn, a cap on buffered output.
 *
 * Writing: append frames to conn->out (wire_begin/wire_end), then call
 * conn_dirty(). Once per loop turn, just before libuv polls, the flusher
 * sends every dirty connection's output with one write each. */
#ifndef HS_CONN_H
#define HS_CONN_H

#include <stdbool.h>
#include <uv.h>

#include "core/buf.h"
#include "net/tls.h"
#include "proto/wire.h"

typedef struct conn conn_t;

/* Collects dirty connections and flushes them in a prepare handle. */
typedef struct flusher {
  uv_prepare_t prepare;
  conn_t *dirty; /* doubly linked through conn->dirty_prev/next */
} flusher_t;

void flusher_init(flusher_t *f, uv_loop_t *loop);
/* Closes the prepare handle; `cb` runs once libuv has let go of it. */
void flusher_close(flusher_t *f, uv_close_cb cb);

typedef struct conn_hooks {
  /* A whole frame arrived; f->body points into the input buffer and is
   * valid during the call only. */
  void (*on_frame)(conn_t *c, const wire_frame_t *f);
  /* A frame over max_frame: its bytes will be skipped; reply or close. */
  void (*on_oversize)(conn_t *c, uint8_t op, uint32_t id, size_t len);
  /* Input that is not a frame; the connection closes after this. */
  void (*on_garbage)(conn_t *c, const char *why, const char *bytes,
                     size_t n);
  /* The connection is closing (reason: 0 for a clean end of stream, or
   * HS_E*). Called once, from conn_close. */
  void (*on_close)(conn_t *c, int reason);
  /* libuv has let go of the handle: the owner may free the memory. */
  void (*on_free)(conn_t *c);
} conn_hooks_t;

struct conn {
  uv_tcp_t tcp;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  buf_t in;
  buf_t out;     /* filled by the owner */
  buf_t sending; /* owned by the write in flight */
  size_t skip;   /* bytes of an oversize frame still to discard */
  size_t max_frame;
  size_t max_output;
  flusher_t *flusher;
  const conn_hooks_t *hooks;
  void *owner;
  conn_t *dirty_prev, *dirty_next;
  uint64_t bytes_in, bytes_out;
  tls_conn_t *tls; /* set before conn_start: the stream is TLS (freed with
                      the conn) */
  buf_t cipher_in; /* TLS: what the socket gave, before decryption */
  bool dirty, writing, reading, connected, closing, shutdown_after_flush;
};

/* Initialises the handle on `loop`; the owner then accepts into c->tcp or
 * connects it. 0 or a libuv error. */
int conn_init(conn_t *c, uv_loop_t *loop, flusher_t *flusher,
              const conn_hooks_t *hooks, void *owner, size_t max_frame,
              size_t max_output);
/* The stream is connected: start reading and send what is queued. */
int conn_start(conn_t *c);
/* Queues the output for this loop turn's flush. Returns HS_ETOO_LARGE and
 * closes the connection when buffered output passes max_output. */
int conn_dirty(conn_t *c);
/* Sends what is buffered now instead of at the end of the turn. */
void conn_flush(conn_t *c);
/* Flushes what is queued, then shuts the stream down and closes it. */
void conn_shutdown(conn_t *c);
/* Closes at once; pending output is dropped. Safe to call more than once
 * and from inside a hook. */
void conn_close(conn_t *c, int reason);
/* Takes n bytes as if read from the stream (the fuzzer drives the framing
 * this way, without a socket's pace); 0, or HS_ECLOSED once reading stopped. */
int conn_feed(conn_t *c, const char *p, size_t n);

/* Output not yet handed to the kernel: what a slow reader makes us hold. */
static inline size_t conn_buffered(const conn_t *c) {
  return c->out.len + c->tcp.write_queue_size;
}

/* The peer's "host:port" for logs. */
void conn_peer_name(const conn_t *c, char *out, size_t n);

#endif
