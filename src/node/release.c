/* release — the end of a node: every handle it owns counts down here when
 * libuv lets go of it, and the last one frees the parts and the node. */
#include <stdlib.h>

#include "node/node.h"

static void free_values(map_t *m) {
  void *v;
  for (size_t i = 0; map_next(m, &i, NULL, NULL, &v);) free(v);
  map_free(m);
}

void node_release(hs_node_t *node) {
  if (--node->open_handles > 0 || !node->freeing) return;
  /* A leave still unanswered (freed, or stopped, while leaving): its
   * connection is gone and nobody will answer it now. */
  if (node->member.leave_req) req_give(&node->reqs, node->member.leave_req);
  repl_free_all(&node->repl);
  health_free(&node->health);
  store_free(&node->store);
  cluster_free(&node->cluster);
  free_values(&node->reads.sent);
  map_free(&node->member.catch_expect); /* its values are numbers */
  map_free(&node->member.catch_retry);
  req_pool_free(&node->reqs);
  users_free(&node->users);
  tls_ctx_free(node->tls_server);
  tls_ctx_free(node->tls_client);
  buf_free(&node->scratch);
  log_close(&node->log);
  free(node->host);
  free(node->cluster_name);
  free(node->log_file);
  free(node->join);
  for (size_t i = 0; i < node->n_dial; i++) free((char *)node->dial[i].addr);
  free(node->dial);
  free(node);
}
