/* link — one connection to one of a list of addresses, carrying requests
 * whose replies are matched by id. It connects (trying each address in
 * turn), says HELLO, queues what is sent before the handshake, and fails
 * what gets no answer in time. It never retries: its owner decides (the
 * public client resends, the node routes elsewhere). The node's peer links
 * and the public client are both links.
 *
 * Callbacks never run inside a call that sends: a request that cannot be
 * sent is refused by the call's return value, and connecting starts on
 * the next loop turn, so a connect that fails at once reports later too. */
#ifndef HS_LINK_H
#define HS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/conn.h"
#include "net/hello.h"
#include "proto/msg.h"

typedef struct link link_t;

/* A request's outcome. */
typedef struct link_reply {
  int status;          /* 0, an error reply's HS_E*, or a local failure */
  const char *message; /* status != 0: what was wrong */
  size_t message_len;
  const wire_frame_t *frame; /* the reply as it came; NULL when made here */
} link_reply_t;

typedef void (*link_reply_cb)(link_t *l, const link_reply_t *r, void *ud);

/* Told once: the first handshake's answer (status 0, hello set), or why no
 * address could be reached (hello NULL). */
typedef void (*link_connect_cb)(link_t *l, int status, const char *message,
                                const msg_hello_reply_t *hello, void *ud);

/* Told each time a node refuses the handshake (a wrong key, a taken id). */
typedef void (*link_refused_cb)(link_t *l, int code, const char *message,
                                void *ud);

typedef struct link_config {
  const char *const *addrs; /* "host:port", copied */
  size_t n_addrs;
  uint32_t timeout_ms;  /* connecting, and a request's default */
  size_t max_output;    /* unsent bytes before requests are refused; also
                           the largest reply frame it takes */
  hello_config_t hello; /* who this end is (copied) */
  flusher_t *flusher;   /* shared with other streams, or NULL: its own */
  link_connect_cb connect_cb;
  void *connect_ud;
  link_refused_cb refused_cb;
  void *refused_ud;
  tls_ctx_t *tls;       /* connect over TLS with this (not owned); NULL:
                           plain TCP */
  /* The connection keeps the loop running only while something is asked
   * of it (a client's: a script that leaves it open idle still ends). */
  bool weak;
} link_config_t;

/* 0, HS_EINVALID (no address, or one that is not host:port) or HS_ENOMEM.
 * Starts connecting on the next loop turn. */
int link_new(uv_loop_t *loop, const link_config_t *cfg, link_t **out);

/* Builds a request in place: write the body with msg_*_put, then
 * link_end. link_begin fails with HS_ECLOSED after link_free, or
 * HS_ETOO_LARGE when max_output bytes wait unsent. */
int link_begin(link_t *l, uint8_t op, uint16_t flags, wire_writer_t *w,
               uint32_t *id);
/* timeout_ms 0: the link's own. 0, or an error (the frame is dropped and
 * cb will not be called). */
int link_end(link_t *l, wire_writer_t *w, uint32_t id, uint32_t timeout_ms,
             link_reply_cb cb, void *ud);
/* A request whose body is already encoded (a relayed request): the body
 * is `head` then `body`. *id (when id is not NULL) gets its request id on
 * the link. */
int link_send(link_t *l, uint8_t op, uint16_t flags, const char *head,
              size_t head_len, const char *body, size_t body_len,
              uint32_t timeout_ms, link_reply_cb cb, void *ud, uint32_t *id);

uint32_t link_timeout(const link_t *l);
/* Requests sent and not answered yet. */
size_t link_pending(const link_t *l);
/* When it was last used (a request sent or an answer read), uv_now ms. */
uint64_t link_used(const link_t *l);
/* Bytes waiting to be handed to the socket. */
size_t link_buffered(const link_t *l);
/* Connects in a row that found no listener (ECONNREFUSED); 0 once one
 * succeeds: a peer whose process died leaves its port closed. */
uint32_t link_refused(const link_t *l);
/* The node that answered the last handshake. */
uint32_t link_node(const link_t *l);
/* Replaces the addresses tried on the next connect. 0, HS_EINVALID or
 * HS_ENOMEM (the old list kept). */
int link_set_addrs(link_t *l, const char *const *addrs, size_t n);
/* The owner's data for the link's callbacks; free_data (may be NULL) runs
 * when the link's memory goes, after the last callback. */
void link_set_data(link_t *l, void *data, void (*free_data)(void *));
void *link_data(const link_t *l);

/* Fails every request in flight with CLOSED (their callbacks run before
 * this returns), closes the connection, and frees the link once libuv
 * has let go. */
void link_free(link_t *l);

#endif
