/* peers — the node's links to other members, one per peer id, made on
 * first use from the member's address in the view; each says HELLO as a
 * peer with this node's view. Dropping a peer's link fails what waits on
 * it. A reply callback asks peers_id which peer answered; false means the
 * node is closing and the callback should do nothing but free. */
#ifndef HS_PEERS_H
#define HS_PEERS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/log.h"
#include "core/map.h"
#include "cube/view.h"
#include "hypersub.h"
#include "net/link.h"

typedef struct peers {
  uv_loop_t *loop;
  const uint8_t *key;   /* the cluster key peers prove, or NULL (open) */
  uint64_t incarnation; /* this run of the node */
  tls_ctx_t *tls;       /* links over TLS with this, or NULL */
  link_refused_cb refused_cb; /* a peer refused our handshake */
  void *refused_ud;
  map_t links;          /* peer id (4 bytes) -> link_t* */
  const view_t *view;   /* the node's view: addresses and the HELLO's view */
  flusher_t *flusher;   /* the node's, shared by every link */
  const char *cluster;
  uint32_t self;        /* updated when a joining node learns its id */
  uint32_t replicas;
  uint32_t timeout_ms;
  size_t max_output;
  /* A link nothing waits on, unused this long (0: never), closes unless
   * keep says the node needs it (a cube neighbour, a watched peer). */
  uint32_t idle_ms;
  const hs_peer_t *dial; /* members reached at another address */
  size_t n_dial;
  bool (*keep)(void *ud, uint32_t peer);
  void *keep_ud;
  log_t *log;
} peers_t;

/* The link to `peer`, made if need be; NULL when the peer is not in the
 * view or out of memory. */
link_t *peers_link(peers_t *p, uint32_t peer);
/* The link if one is open, else NULL (makes none). */
link_t *peers_find(const peers_t *p, uint32_t peer);
/* Closes the link to a peer that died; what waited on it fails (CLOSED). */
void peers_drop(peers_t *p, uint32_t peer);
/* Closes the links to members that no longer serve (one that left: its
 * last answers came) once nothing waits on them, and the idle ones the
 * node does not keep. */
void peers_prune(peers_t *p);
/* Closes every link; their failing callbacks find no data. */
void peers_close(peers_t *p);
/* The peer a link of these leads to; false once the node is closing. */
bool peers_id(const link_t *link, uint32_t *id);
/* Fills up to cap ids of the peers this node has a link to; returns how
 * many links there are. */
size_t peers_ids(const peers_t *p, uint32_t *out, size_t cap);
/* Requests unanswered on the links to the serving members. */
size_t peers_unanswered(const peers_t *p);

#endif
