/* handshake — the node's side of HELLO and AUTH: which cluster, who is
 * there, and the proof it asks for (net/auth.h). A client of an open node
 * is served after HELLO; a user proves its password; a peer proves the
 * cluster key (an open cluster asks only who it is), must keep as many
 * copies per topic, and may not take an id that is alive at another
 * address. Until AUTH is through, nothing else is served. */
#include <string.h>

#include "core/addr.h"
#include "node/node.h"

/* Refuses the handshake: answered, then the connection closes. */
#define REFUSE(ctx, code, ...)              \
  do {                                      \
    op_error((ctx), (code), __VA_ARGS__);   \
    conn_shutdown(&(ctx)->nc->conn);        \
    return;                                 \
  } while (0)

static void reply_hello(op_ctx_t *ctx, uint8_t auth, const user_t *u) {
  hs_node_t *node = ctx->nc->node;
  msg_hello_reply_t r = {.node = node_self(node),
                         .max_frame = (uint32_t)node->max_frame,
                         .auth = auth};
  auth_nonce(ctx->nc->nonce);
  memcpy(r.nonce, ctx->nc->nonce, AUTH_NONCE);
  if (u) {
    memcpy(r.salt, u->verifier.salt, sizeof r.salt);
    r.ops = u->verifier.ops;
    r.mem_kib = u->verifier.mem_kib;
  }
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, WIRE_HELLO, WIRE_F_REPLY, ctx->f->id);
  msg_hello_reply_put(&w, &r);
  node_reply_end(ctx->nc, &w);
}

static void hello_client(op_ctx_t *ctx, const msg_hello_t *m) {
  hs_node_t *node = ctx->nc->node;
  node_conn_t *nc = ctx->nc;
  char why[160];
  nc->role = WIRE_ROLE_CLIENT;
  if (node_conn_admit(nc, WIRE_ROLE_CLIENT, why, sizeof why))
    REFUSE(ctx, HS_EUNAVAILABLE, "%s", why);
  if (!node->users.n) { /* an open node */
    node_conn_ready(nc);
    return reply_hello(ctx, MSG_AUTH_NONE, NULL);
  }
  if (!m->user.n)
    REFUSE(ctx, HS_EDENIED, "node %u serves users only: log in",
           node_self(node));
  nc->user = users_find(&node->users, m->user.s, m->user.n);
  if (!nc->user)
    REFUSE(ctx, HS_EDENIED, "user \"%.*s\" is unknown here",
           (int)(m->user.n > 64 ? 64 : m->user.n), m->user.s);
  memcpy(nc->their_nonce, m->nonce, AUTH_NONCE);
  nc->stage = NC_AUTH;
  reply_hello(ctx, MSG_AUTH_PASSWORD, nc->user);
}

static void hello_peer(op_ctx_t *ctx, const msg_hello_t *m) {
  hs_node_t *node = ctx->nc->node;
  node_conn_t *nc = ctx->nc;
  if (node->member.joining)
    REFUSE(ctx, HS_EUNAVAILABLE, "node is still joining the cluster");
  if (m->replicas != node->cluster.replicas)
    REFUSE(ctx, HS_EDENIED,
           "placement differs: node %u keeps %u copies per topic, node %u "
           "keeps %u",
           m->node, m->replicas, node_self(node), node->cluster.replicas);
  char why[160];
  if (node->tls_server && !tls_peer_verified(nc->conn.tls))
    REFUSE(ctx, HS_EDENIED,
           "node %u: a peer must present a certificate from the cluster's "
           "CA (mutual TLS)", node_self(node));
  if (node_conn_admit(nc, WIRE_ROLE_PEER, why, sizeof why))
    REFUSE(ctx, HS_EUNAVAILABLE, "%s", why);
  nc->role = WIRE_ROLE_PEER;
  nc->peer_id = m->node;
  nc->incarnation = m->incarnation;
  memcpy(nc->their_nonce, m->nonce, AUTH_NONCE);
  nc->stage = NC_AUTH;
  reply_hello(ctx, MSG_AUTH_KEY, NULL);
}

void op_hello(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  const msg_hello_t *m = &ctx->m.hello;
  if (ctx->nc->stage != NC_HELLO)
    return op_error(ctx, HS_EPROTOCOL,
                    "HELLO was already received on this connection");
  if (m->cluster.n != strlen(node->cluster_name) ||
      memcmp(m->cluster.s, node->cluster_name, m->cluster.n))
    REFUSE(ctx, HS_EDENIED, "cluster \"%.*s\" is not this node's cluster \"%s\"",
           (int)(m->cluster.n > 64 ? 64 : m->cluster.n), m->cluster.s,
           node->cluster_name);
  if (m->role == WIRE_ROLE_CLIENT) return hello_client(ctx, m);
  if (m->role == WIRE_ROLE_PEER) return hello_peer(ctx, m);
  REFUSE(ctx, HS_EDENIED, "role %u is not client (1) or peer (2)", m->role);
}

/* ---- AUTH -------------------------------------------------------------------- */

static void reply_auth(op_ctx_t *ctx, const uint8_t *proof, const buf_t *view) {
  msg_auth_t r = {msg_str((const char *)proof, proof ? AUTH_MAC : 0),
                  msg_str(view ? view->data : NULL, view ? view->len : 0)};
  wire_writer_t w;
  wire_begin(&w, &ctx->nc->conn.out, WIRE_AUTH, WIRE_F_REPLY, ctx->f->id);
  msg_auth_put(&w, &r);
  node_reply_end(ctx->nc, &w);
}

static void auth_user(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  node_conn_t *nc = ctx->nc;
  const user_t *u = nc->user;
  uint8_t msg[AUTH_MESSAGE_MAX], sig[AUTH_MAC];
  size_t len = auth_message(node->cluster_name, strlen(node->cluster_name),
                            u->name, u->name_len, nc->their_nonce, nc->nonce,
                            msg);
  const msg_str_t *proof = &ctx->m.auth.proof;
  if (!auth_server_check(&u->verifier, msg, len, (const uint8_t *)proof->s,
                         proof->n, sig)) {
    LOG(&node->log, HS_LOG_WARN, "auth", "login_failed",
        LF_STR("user", u->name), LF_STR("peer", nc->peer));
    REFUSE(ctx, HS_EDENIED, "user \"%s\": wrong password", u->name);
  }
  node_conn_ready(nc);
  reply_auth(ctx, sig, NULL);
}

/* The peer's proof of the cluster key (an open node takes none). */
static bool peer_proved(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  node_conn_t *nc = ctx->nc;
  const msg_str_t *proof = &ctx->m.auth.proof;
  if (!node->has_key) return proof->n == 0;
  auth_peer_t p = {node->cluster_name, strlen(node->cluster_name),
                   nc->peer_id,        node_self(node),
                   nc->incarnation,    nc->their_nonce,
                   nc->nonce};
  return auth_peer_check(node->key, &p, true, (const uint8_t *)proof->s,
                         proof->n);
}

/* A member's view: decoded, every address host:port, naming itself, and
 * not taking an id alive elsewhere. False when it has answered. */
static bool take_view(op_ctx_t *ctx, view_t *theirs) {
  hs_node_t *node = ctx->nc->node;
  uint32_t id = ctx->nc->peer_id;
  wire_reader_t r;
  wire_reader_init(&r, ctx->m.auth.view.s, ctx->m.auth.view.n);
  if (view_decode(&r, theirs) || !wire_reader_done(&r)) {
    view_free(theirs);
    op_error(ctx, HS_EINVALID, "malformed peer view: field \"%s\"",
             r.bad ? r.bad : "view");
    return false;
  }
  const view_member_t *self = view_find(theirs, id);
  const view_member_t *known = view_find(&node->cluster.view, id);
  if (!self)
    op_error(ctx, HS_EINVALID, "node %u is not in its own view", id);
  else if (known && view_serves(known->state) && strcmp(known->addr, self->addr))
    op_error(ctx, HS_EEXISTS, "node %u is alive at %s", id, known->addr);
  else
    return true;
  view_free(theirs);
  return false;
}

static void auth_peer(op_ctx_t *ctx) {
  hs_node_t *node = ctx->nc->node;
  node_conn_t *nc = ctx->nc;
  if (!peer_proved(ctx)) {
    LOG(&node->log, HS_LOG_WARN, "auth", "peer_refused",
        LF_UINT("node", nc->peer_id), LF_STR("peer", nc->peer),
        LF_STR("why", "no proof of the cluster key"));
    REFUSE(ctx, HS_EDENIED, "node %u did not prove the cluster key",
           nc->peer_id);
  }
  /* A node asking to join has no view yet and holds no place: JOIN is
   * all it may send. A member always sends its view. */
  nc->joiner = ctx->m.auth.view.n == 0;
  if (!nc->joiner && nc->peer_id == HS_ID_ANY)
    REFUSE(ctx, HS_EINVALID, "a member must name its id");
  view_t theirs;
  if (!nc->joiner) {
    if (!take_view(ctx, &theirs)) return conn_shutdown(&nc->conn);
    cluster_merge(&node->cluster, &theirs, nc->peer_id);
    view_free(&theirs);
    health_heard(&node->health, nc->peer_id);
  }
  uint8_t proof[AUTH_MAC];
  if (node->has_key) {
    auth_peer_t p = {node->cluster_name, strlen(node->cluster_name),
                     nc->peer_id,        node_self(node),
                     nc->incarnation,    nc->their_nonce,
                     nc->nonce};
    auth_peer_proof(node->key, &p, false, proof);
  }
  buf_t view = BUF_INIT;
  if (view_encode(&node->cluster.view, &view)) return op_out_of_memory(ctx);
  node_conn_ready(nc);
  reply_auth(ctx, node->has_key ? proof : NULL, &view);
  buf_free(&view);
}

void op_auth(op_ctx_t *ctx) {
  if (ctx->nc->stage != NC_AUTH)
    REFUSE(ctx, HS_EPROTOCOL, "AUTH comes once, after HELLO");
  if (ctx->nc->role == WIRE_ROLE_PEER) return auth_peer(ctx);
  auth_user(ctx);
}
