/* test_stop_restart — a node stopped with a restart from outside the loop
 * (hs_node_stop at a script's top level) comes back listening on its port,
 * however late the loop runs next (found by the fuzzer: the restart timer
 * came before libuv had let go of the old listener, which was set up again
 * while closing and libuv aborted). One in-process node and a client on
 * 127.0.0.1. */
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <uv.h>

#include "hypersub.h"
#include "unit.h"

static int connected = -1; /* the client's connect status */

static void on_connect(hs_client_t *c, const hs_reply_t *reply, void *ud) {
  (void)c;
  (void)ud;
  connected = reply->status;
}

static void on_tick(uv_timer_t *t) { (void)t; }

CASE(a_restart_after_a_stop_from_outside_the_loop_listens_again) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  hs_node_config_t cfg;
  hs_node_config_init(&cfg);
  cfg.log_level = HS_LOG_OFF;
  hs_node_t *node;
  CHECK(hs_node_new(&loop, &cfg, &node) == 0 && hs_node_start(node) == 0);
  int port = hs_node_port(node);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(hs_node_stop(node, 1) == 0);
  CHECK(hs_node_state(node) == HS_NODE_RESTARTING);
  usleep(5000); /* the restart is due before the loop runs again */
  uv_timer_t tick; /* wakes the loop while we wait */
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  for (int i = 0; i < 400 && hs_node_state(node) != HS_NODE_RUNNING; i++)
    uv_run(&loop, UV_RUN_ONCE);
  CHECK(hs_node_state(node) == HS_NODE_RUNNING);
  CHECK(hs_node_port(node) == port);
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  const char *addrs[] = {addr};
  hs_client_config_t ccfg;
  hs_client_config_init(&ccfg);
  ccfg.addrs = addrs;
  ccfg.n_addrs = 1;
  hs_client_t *c = NULL;
  CHECK(hs_client_new(&loop, &ccfg, on_connect, NULL, &c) == 0);
  for (int i = 0; c && i < 400 && connected < 0; i++) uv_run(&loop, UV_RUN_ONCE);
  CHECK(connected == 0);
  uv_close((uv_handle_t *)&tick, NULL);
  if (c) hs_client_free(c);
  hs_node_free(node);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

int main(void) {
  RUN(a_restart_after_a_stop_from_outside_the_loop_listens_again);
  UNIT_EXIT();
}
