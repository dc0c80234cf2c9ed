/* conn — a framed TCP stream: reads into the input buffer's tail, parses
 * frames in place, batches writes through the flusher. */
#include "net/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "hypersub.h"

/* Reads land in the tail of the input buffer; ask for at least this much. */
#define READ_CHUNK (64 * 1024)
/* Input and sending buffers bigger than this are freed when they empty, so
 * one large frame does not pin its memory. */
#define KEEP_BUFFER (4 * 1024 * 1024)

static conn_t *conn_of(uv_handle_t *h) { return (conn_t *)h->data; }

/* ---- the flusher ------------------------------------------------------- */

static void dirty_unlink(conn_t *c) {
  if (!c->dirty) return;
  if (c->dirty_prev)
    c->dirty_prev->dirty_next = c->dirty_next;
  else
    c->flusher->dirty = c->dirty_next;
  if (c->dirty_next) c->dirty_next->dirty_prev = c->dirty_prev;
  c->dirty_prev = c->dirty_next = NULL;
  c->dirty = false;
}

static void flush_dirty(uv_prepare_t *p) {
  flusher_t *f = p->data;
  while (f->dirty) {
    conn_t *c = f->dirty;
    dirty_unlink(c);
    conn_flush(c);
  }
  uv_prepare_stop(p);
}

void flusher_init(flusher_t *f, uv_loop_t *loop) {
  uv_prepare_init(loop, &f->prepare);
  f->prepare.data = f;
  f->dirty = NULL;
  /* Pending output alone should not keep the loop alive: the streams do. */
  uv_unref((uv_handle_t *)&f->prepare);
}

void flusher_close(flusher_t *f, uv_close_cb cb) {
  f->dirty = NULL;
  uv_close((uv_handle_t *)&f->prepare, cb);
}

/* ---- writing ----------------------------------------------------------- */

static void after_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  conn_close(req->data, 0);
}

static void maybe_shutdown(conn_t *c) {
  if (!c->shutdown_after_flush || c->writing || c->out.len || c->closing)
    return;
  c->shutdown_after_flush = false;
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, after_shutdown))
    conn_close(c, 0);
}

static void after_write(uv_write_t *req, int status) {
  conn_t *c = req->data;
  c->writing = false;
  c->bytes_out += c->sending.len;
  buf_clear(&c->sending);
  buf_shrink(&c->sending, KEEP_BUFFER);
  if (c->closing) return;
  if (status < 0) {
    conn_close(c, HS_EIO);
    return;
  }
  if (c->out.len)
    conn_flush(c);
  else
    maybe_shutdown(c);
}

/* TLS: what is due to the socket is the ciphertext of `out` (and any
 * handshake records), in `sending`. False when the session failed. */
static bool seal(conn_t *c) {
  if (tls_write(c->tls, &c->out, &c->sending) == 0) return true;
  conn_close(c, HS_EPROTOCOL);
  return false;
}

void conn_flush(conn_t *c) {
  if (c->closing || c->writing || !c->connected) return;
  if (c->tls ? !c->out.len && !tls_has_output(c->tls) : !c->out.len) {
    maybe_shutdown(c);
    return;
  }
  if (c->tls) {
    if (!seal(c)) return;
    if (!c->sending.len) return; /* plaintext waits for the handshake */
  } else {
    /* Swap: the write owns `sending` until it completes; new frames keep
     * going into `out`. */
    buf_t t = c->sending;
    c->sending = c->out;
    c->out = t;
  }
  uv_buf_t b = uv_buf_init(c->sending.data, (unsigned)c->sending.len);
  c->write_req.data = c;
  int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, after_write);
  if (rc < 0) {
    conn_close(c, HS_EIO);
    return;
  }
  c->writing = true;
}

int conn_dirty(conn_t *c) {
  if (c->closing) return HS_ECLOSED;
  if (conn_buffered(c) > c->max_output) {
    conn_close(c, HS_ETOO_LARGE);
    return HS_ETOO_LARGE;
  }
  if (c->dirty) return 0;
  flusher_t *f = c->flusher;
  c->dirty = true;
  c->dirty_prev = NULL;
  c->dirty_next = f->dirty;
  if (f->dirty) f->dirty->dirty_prev = c;
  f->dirty = c;
  uv_prepare_start(&f->prepare, flush_dirty);
  return 0;
}

/* The same for TLS: the last answer's ciphertext, what the kernel takes
 * of it now (the stream ends after it anyway). */
static void try_write_sealed(conn_t *c) {
  buf_t sealed = BUF_INIT;
  if (tls_write(c->tls, &c->out, &sealed) == 0 && sealed.len) {
    uv_buf_t b = uv_buf_init(sealed.data, (unsigned)sealed.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n > 0) c->bytes_out += (uint64_t)n;
  }
  buf_free(&sealed);
}

void conn_shutdown(conn_t *c) {
  if (c->closing) return;
  c->shutdown_after_flush = true;
  /* A write whose callback has not run yet still holds `sending`, though
   * libuv has handed all of it to the kernel unless some is queued (then
   * uv_try_write refuses): what follows it goes now, so a last answer
   * (STOP_NODE's) is out even if the owner closes before the next turn. */
  if (c->writing && c->out.len && c->connected) {
    if (c->tls) {
      try_write_sealed(c);
      return;
    }
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n > 0) {
      c->bytes_out += (uint64_t)n;
      buf_consume(&c->out, (size_t)n);
    }
  }
  conn_flush(c);
}

/* ---- reading ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *out) {
  conn_t *c = conn_of(h);
  (void)hint;
  buf_t *in = c->tls ? &c->cipher_in : &c->in;
  char *p = buf_reserve(in, READ_CHUNK);
  if (!p) {
    *out = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
    return;
  }
  *out = uv_buf_init(p, (unsigned)(in->cap - in->len));
}

/* TLS: decrypts what came into the input; answers the handshake. False
 * when the session failed (the connection is closing). */
static bool unseal(conn_t *c, size_t n) {
  char why[200];
  buf_commit(&c->cipher_in, n);
  int rc = tls_read(c->tls, c->cipher_in.data, c->cipher_in.len, &c->in, why,
                    sizeof why);
  buf_clear(&c->cipher_in);
  buf_shrink(&c->cipher_in, KEEP_BUFFER);
  if (rc) {
    if (tls_plaintext_seen(c->tls)) { /* tell a plaintext client in kind */
      buf_t msg = BUF_INIT;
      wire_put_error(&msg, 0, 0, HS_EPROTOCOL, why, strlen(why));
      uv_buf_t b = uv_buf_init(msg.data, (unsigned)msg.len);
      uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
      buf_free(&msg);
    }
    c->hooks->on_garbage(c, why, "", 0);
    conn_close(c, HS_EPROTOCOL);
    return false;
  }
  /* Handshake records to answer, or frames that waited for it. */
  if (tls_has_output(c->tls) || (c->out.len && tls_handshake_done(c->tls)))
    conn_dirty(c);
  return true;
}

/* Parses every whole frame in the input; keeps a partial one at the front. */
static void parse_input(conn_t *c) {
  size_t pos = 0;
  while (!c->closing && pos < c->in.len) {
    const char *p = c->in.data + pos;
    size_t n = c->in.len - pos;
    if (c->skip) {
      size_t k = n < c->skip ? n : c->skip;
      c->skip -= k;
      pos += k;
      continue;
    }
    wire_frame_t f;
    const char *why = NULL;
    long r = wire_frame_decode(p, n, c->max_frame, &f, &why);
    if (r == 0) break;
    if (r == HS_ETOO_LARGE) {
      if (n < WIRE_HEADER) break; /* need the op and id to answer */
      uint32_t len, id;
      memcpy(&len, p, 4);
      memcpy(&id, p + 8, 4);
      c->skip = (size_t)len + 4;
      c->hooks->on_oversize(c, (uint8_t)p[5], id, c->skip);
      if (c->shutdown_after_flush) { /* the owner hung up: read no more */
        c->reading = false;
        uv_read_stop((uv_stream_t *)&c->tcp);
        break;
      }
      continue;
    }
    if (r < 0) {
      c->hooks->on_garbage(c, why, p, n);
      conn_shutdown(c);
      c->reading = false;
      uv_read_stop((uv_stream_t *)&c->tcp);
      break;
    }
    c->hooks->on_frame(c, &f);
    pos += (size_t)r;
  }
  if (c->closing) return;
  buf_consume(&c->in, pos);
  buf_shrink(&c->in, KEEP_BUFFER);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  conn_t *c = conn_of((uv_handle_t *)s);
  (void)b;
  if (nread > 0) {
    c->bytes_in += (size_t)nread;
    if (c->tls && !unseal(c, (size_t)nread)) return;
    if (!c->tls) buf_commit(&c->in, (size_t)nread);
    parse_input(c);
  } else if (nread == UV_EOF) {
    conn_close(c, 0);
  } else if (nread < 0) {
    conn_close(c, nread == UV_ENOBUFS ? HS_ENOMEM : HS_EIO);
  }
}

int conn_feed(conn_t *c, const char *p, size_t n) {
  if (c->closing || !c->reading) return HS_ECLOSED;
  if (buf_append(&c->in, p, n)) return HS_ENOMEM;
  c->bytes_in += n;
  parse_input(c);
  return 0;
}

/* ---- life cycle -------------------------------------------------------- */

int conn_init(conn_t *c, uv_loop_t *loop, flusher_t *flusher,
              const conn_hooks_t *hooks, void *owner, size_t max_frame,
              size_t max_output) {
  memset(c, 0, sizeof *c);
  c->flusher = flusher;
  c->hooks = hooks;
  c->owner = owner;
  c->max_frame = max_frame;
  c->max_output = max_output;
  int rc = uv_tcp_init(loop, &c->tcp);
  if (rc) return rc;
  c->tcp.data = c;
  return 0;
}

int conn_start(conn_t *c) {
  c->connected = true;
  uv_tcp_nodelay(&c->tcp, 1);
  int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (rc) return rc;
  c->reading = true;
  if (c->out.len || c->tls) conn_dirty(c); /* a TLS client says hello */
  return 0;
}

static void on_closed(uv_handle_t *h) {
  conn_t *c = conn_of(h);
  buf_free(&c->in);
  buf_free(&c->out);
  buf_free(&c->sending);
  buf_free(&c->cipher_in);
  tls_conn_free(c->tls);
  c->tls = NULL;
  c->hooks->on_free(c);
}

void conn_close(conn_t *c, int reason) {
  if (c->closing) return;
  c->closing = true;
  dirty_unlink(c);
  c->hooks->on_close(c, reason);
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void conn_peer_name(const conn_t *c, char *out, size_t n) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
  addr_name(&ss, out, n);
}
