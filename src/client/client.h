/* client (internal) — what the node uses of the client: peer links, which
 * are clients that say role "peer" at HELLO and carry raw frames. */
#ifndef HS_CLIENT_H
#define HS_CLIENT_H

#include "hypersub.h"
#include "proto/wire.h"

typedef struct client_peer_config {
  const char *addr;        /* the peer's "host:port" */
  const char *cluster;     /* our cluster name */
  uint32_t self_id;        /* who we are */
  const char *hello_extra; /* bytes appended to the HELLO body */
  size_t hello_extra_len;
  uint32_t timeout_ms;
  size_t max_output;
} client_peer_config_t;

/* A link to a peer node; connects at once and again on the next request
 * after a drop. */
int client_new_peer(uv_loop_t *loop, const client_peer_config_t *cfg,
                    hs_client_t **out);

/* Sends a request frame of `op` with `flags` whose body is prefix + body
 * (two parts, so a relayed frame is not assembled first). The reply's
 * `raw` is the whole reply frame. */
int client_send_raw(hs_client_t *c, uint8_t op, uint16_t flags,
                    const char *prefix, size_t prefix_len, const char *body,
                    size_t body_len, uint32_t extra_ms, hs_reply_cb cb,
                    void *ud);

/* How many connects in a row found no listener (ECONNREFUSED); 0 once
 * one succeeds. A peer's process that died leaves its port closed. */
uint32_t client_conn_refused(const hs_client_t *c);

/* Bytes queued on the link and not yet handed to the socket. */
size_t client_buffered(const hs_client_t *c);

/* Builds a request frame in place in the link's output: begin, write the
 * body with wire_put_*, end. */
int client_frame_begin(hs_client_t *c, uint8_t op, wire_writer_t *w,
                       uint32_t *id);
int client_frame_end(hs_client_t *c, wire_writer_t *w, uint8_t op,
                     uint32_t id, hs_reply_cb cb, void *ud);

#endif
