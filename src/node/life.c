/* life — a running node's state: stopping like a crash (STOP_NODE, a
 * leave's end, a failed join), coming back after a delay, and the tick
 * that runs while it is part of a cluster (its callback is the node's). */
#include "node/node.h"

void node_set_state(hs_node_t *node, hs_node_state_t state) {
  node->state = state;
  if (node->state_cb) node->state_cb(node, state, node->state_ud);
}

void node_start_ticking(hs_node_t *node) {
  health_start(&node->health);
  /* The first at once: peers hear of us early. */
  uv_timer_start(&node->tick_timer, node->tick, 0, node->cfg.heartbeat_ms);
}

static void on_restart(uv_timer_t *t) {
  hs_node_t *node = t->data;
  /* Stopped from outside the loop (hs_node_stop in a script), the timer
   * can come before libuv has let go of the old listener: wait for it. */
  if (node->unlistening) {
    uv_timer_start(t, on_restart, 1, 0);
    return;
  }
  if (node_listen(node)) {
    LOG(&node->log, HS_LOG_ERROR, "node", "restart_failed",
        LF_INT("port", node->port));
    node_set_state(node, HS_NODE_STOPPED);
    return;
  }
  LOG(&node->log, HS_LOG_INFO, "node", "node_restarted",
      LF_UINT("id", node_self(node)), LF_INT("port", node->port),
      LF_UINT("topics", node->store.topics.count));
  if (node->cluster.view.n > 1) node_start_ticking(node);
  node_set_state(node, HS_NODE_RUNNING);
}

void node_halt(hs_node_t *node, node_conn_t *keep, uint32_t restart_after_ms) {
  if (node->state != HS_NODE_RUNNING) return;
  node_stop_serving(node, keep);
  peers_close(&node->peers); /* a crash loses its links too */
  uv_timer_stop(&node->tick_timer);
  LOG(&node->log, HS_LOG_WARN, "node", "node_stopped",
      LF_UINT("id", node_self(node)),
      LF_UINT("restart_after_ms", restart_after_ms));
  if (restart_after_ms) {
    uv_timer_start(&node->restart_timer, on_restart, restart_after_ms, 0);
    node_set_state(node, HS_NODE_RESTARTING);
  } else {
    node_set_state(node, HS_NODE_STOPPED);
  }
}
