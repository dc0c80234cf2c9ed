/* operate — what running a node in production asks of it: a graceful
 * leave without a client (a SIGTERM), and logging for its host (a policy
 * that failed or was loaded). */
#include "node/node.h"

HS_API int hs_node_leave(hs_node_t *node) {
  if (node->state != HS_NODE_RUNNING || node->cluster.leaving)
    return HS_EINVALID;
  if (node->cluster.view.n <= 1) { /* nobody to hand anything to */
    LOG(&node->log, HS_LOG_INFO, "cluster", "left", LF_UINT("ms", 0),
        LF_UINT("epoch", node->cluster.view.epoch));
    node_halt(node, NULL, 0);
    return 0;
  }
  leave_start(node, NULL, "this process");
  return 0;
}

HS_API void hs_node_log(hs_node_t *node, hs_log_level_t level,
                        const char *component, const char *event,
                        const hs_log_field_t *fields, size_t n) {
  if (log_enabled(&node->log, level))
    log_emit(&node->log, level, component, event, fields, n);
}
