/* hello — the side of the handshake that opens a connection: what it says
 * in HELLO (with a fresh nonce), what it proves when the node asks (the
 * cluster key for a peer, a password for a user: auth.h), and the check of
 * the node's own proof, so a client or a peer learns it reached a real
 * node of the cluster before it sends anything else. */
#ifndef HS_HELLO_H
#define HS_HELLO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "net/auth.h"
#include "proto/msg.h"

/* Who this end is (the link's configuration). */
typedef struct hello_config {
  uint8_t role; /* WIRE_ROLE_CLIENT or WIRE_ROLE_PEER */
  msg_str_t cluster;
  msg_str_t user, password;   /* clients; user empty: none */
  const uint8_t *key;         /* peers: the cluster key, or NULL (open) */
  uint32_t node;              /* peers: this node's id (HS_ID_ANY: joining) */
  uint64_t incarnation;       /* peers */
  uint32_t replicas;          /* peers */
  msg_str_t view;             /* peers: this node's view, sent in AUTH */
  uint32_t expect;            /* the node it should reach, or UINT32_MAX */
} hello_config_t;

typedef struct hello {
  uint8_t role;
  char cluster[256];
  size_t cluster_len;
  char user[256];
  size_t user_len;
  buf_t password;
  bool has_key;
  uint8_t key[AUTH_KEY];
  uint32_t node, replicas, expect;
  uint64_t incarnation;
  buf_t view;
  /* This handshake: */
  uint8_t nonce[AUTH_NONCE], node_nonce[AUTH_NONCE];
  uint32_t answered_by;     /* the node in the HELLO reply */
  uint8_t expected[AUTH_MAC]; /* the proof the node must answer with */
  bool check_proof;
  /* The costly salted password, kept for the next login to this salt. */
  bool salted_valid;
  uint8_t salt[16], salted[AUTH_MAC];
  uint32_t ops, mem_kib;
} hello_t;

/* Copies what it needs of cfg. 0, HS_EINVALID or HS_ENOMEM. */
int hello_init(hello_t *h, const hello_config_t *cfg);
void hello_free(hello_t *h);
/* Replaces the view a peer sends (it changes as the cluster does). */
int hello_set_view(hello_t *h, msg_str_t view);

/* The HELLO body of a new attempt (a fresh nonce). */
void hello_put(hello_t *h, wire_writer_t *w);
/* The node's answer to HELLO: 0 and *auth false when the connection is
 * ready; 0 and *auth true with the AUTH body written to w; or an error
 * code with why (the connection is refused). */
int hello_answer(hello_t *h, const msg_hello_reply_t *r, wire_writer_t *w,
                 bool *auth, char *why, size_t why_len);
/* The node's answer to AUTH: 0 when it proved itself, else an error code
 * with why. */
int hello_verify(hello_t *h, const msg_auth_t *reply, char *why,
                 size_t why_len);

#endif
