/* hello — the opening side of the handshake (hello.h says what each step
 * proves). */
#include "net/hello.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "hypersub.h"

int hello_init(hello_t *h, const hello_config_t *cfg) {
  memset(h, 0, sizeof *h);
  if (!cfg->cluster.n || cfg->cluster.n > HS_NAME_MAX ||
      cfg->user.n > HS_NAME_MAX || auth_init())
    return HS_EINVALID;
  h->role = cfg->role;
  memcpy(h->cluster, cfg->cluster.s, cfg->cluster.n);
  h->cluster_len = cfg->cluster.n;
  if (cfg->user.n) memcpy(h->user, cfg->user.s, cfg->user.n);
  h->user_len = cfg->user.n;
  if (cfg->key) {
    memcpy(h->key, cfg->key, AUTH_KEY);
    h->has_key = true;
  }
  h->node = cfg->node;
  h->incarnation = cfg->incarnation;
  h->replicas = cfg->replicas;
  h->expect = cfg->expect;
  if ((cfg->password.n &&
       buf_append(&h->password, cfg->password.s, cfg->password.n)) ||
      hello_set_view(h, cfg->view)) {
    hello_free(h);
    return HS_ENOMEM;
  }
  return 0;
}

void hello_free(hello_t *h) {
  if (h->password.data) sodium_memzero(h->password.data, h->password.cap);
  buf_free(&h->password);
  buf_free(&h->view);
  sodium_memzero(h->key, sizeof h->key);
  sodium_memzero(h->salted, sizeof h->salted);
}

int hello_set_view(hello_t *h, msg_str_t view) {
  buf_clear(&h->view);
  return view.n ? buf_append(&h->view, view.s, view.n) : 0;
}

void hello_put(hello_t *h, wire_writer_t *w) {
  msg_hello_t m = {.role = h->role,
                   .cluster = msg_str(h->cluster, h->cluster_len),
                   .user = msg_str(h->user, h->user_len),
                   .node = h->node,
                   .incarnation = h->incarnation,
                   .replicas = h->replicas};
  auth_nonce(h->nonce);
  memcpy(m.nonce, h->nonce, AUTH_NONCE);
  h->check_proof = false;
  msg_hello_put(w, &m);
}

static auth_peer_t peer_ctx(const hello_t *h) {
  return (auth_peer_t){h->cluster, h->cluster_len, h->node, h->answered_by,
                       h->incarnation, h->nonce, h->node_nonce};
}

/* A peer proves the cluster key (or, without one, says only who it is). */
static void answer_key(hello_t *h, wire_writer_t *w) {
  uint8_t proof[AUTH_MAC];
  auth_peer_t p = peer_ctx(h);
  msg_auth_t m = {msg_str(NULL, 0), msg_str(h->view.data, h->view.len)};
  if (h->has_key) {
    auth_peer_proof(h->key, &p, true, proof);
    auth_peer_proof(h->key, &p, false, h->expected);
    m.proof = msg_str((const char *)proof, AUTH_MAC);
    h->check_proof = true;
  }
  msg_auth_put(w, &m);
}

/* A user proves a password; the salted password is kept per salt. */
static int answer_password(hello_t *h, const msg_hello_reply_t *r,
                           wire_writer_t *w, char *why, size_t why_len) {
  if (!h->user_len || !h->password.len) {
    snprintf(why, why_len, "the node asks for a user and password");
    return HS_EDENIED;
  }
  bool cached = h->salted_valid && !memcmp(h->salt, r->salt, sizeof h->salt) &&
                h->ops == r->ops && h->mem_kib == r->mem_kib;
  if (!cached && auth_salted(h->password.data, h->password.len, r->salt,
                             r->ops, r->mem_kib, h->salted)) {
    snprintf(why, why_len, "the node's password limits are out of range");
    return HS_EPROTOCOL;
  }
  memcpy(h->salt, r->salt, sizeof h->salt);
  h->ops = r->ops;
  h->mem_kib = r->mem_kib;
  h->salted_valid = true;
  uint8_t msg[AUTH_MESSAGE_MAX], proof[AUTH_MAC];
  size_t len = auth_message(h->cluster, h->cluster_len, h->user, h->user_len,
                            h->nonce, h->node_nonce, msg);
  auth_client_proof(h->salted, msg, len, proof, h->expected);
  h->check_proof = true;
  msg_auth_t m = {msg_str((const char *)proof, AUTH_MAC), msg_str(NULL, 0)};
  msg_auth_put(w, &m);
  return 0;
}

int hello_answer(hello_t *h, const msg_hello_reply_t *r, wire_writer_t *w,
                 bool *auth, char *why, size_t why_len) {
  h->answered_by = r->node;
  memcpy(h->node_nonce, r->nonce, AUTH_NONCE);
  *auth = r->auth != MSG_AUTH_NONE;
  if (h->expect != UINT32_MAX && r->node != h->expect) {
    snprintf(why, why_len, "node %u answered where node %u was expected",
             r->node, h->expect);
    return HS_EPROTOCOL;
  }
  if (h->role == WIRE_ROLE_PEER && r->auth != MSG_AUTH_KEY) {
    snprintf(why, why_len, "the node did not ask a peer for the cluster key");
    return HS_EPROTOCOL;
  }
  if (r->auth == MSG_AUTH_NONE) return 0;
  if (r->auth == MSG_AUTH_KEY && h->role == WIRE_ROLE_PEER) {
    answer_key(h, w);
    return 0;
  }
  if (r->auth == MSG_AUTH_PASSWORD && h->role == WIRE_ROLE_CLIENT)
    return answer_password(h, r, w, why, why_len);
  snprintf(why, why_len, "the node asked for proof %u, which a %s cannot give",
           r->auth, h->role == WIRE_ROLE_PEER ? "peer" : "client");
  return HS_EPROTOCOL;
}

int hello_verify(hello_t *h, const msg_auth_t *reply, char *why,
                 size_t why_len) {
  if (!h->check_proof) return 0;
  if (reply->proof.n != AUTH_MAC ||
      sodium_memcmp(reply->proof.s, h->expected, AUTH_MAC) != 0) {
    snprintf(why, why_len, "node %u could not prove %s", h->answered_by,
             h->role == WIRE_ROLE_PEER ? "it holds the cluster key"
                                       : "it knows this user");
    return HS_EDENIED;
  }
  return 0;
}
