/* test_leave_free — a node freed, or stopped and then freed, while it is
 * leaving gives back everything it took, the unanswered LEAVE included
 * (found by the fuzzer: the request was lost). A node alone never finishes
 * a leave (it has nobody to hand its topics to), so the leave is still
 * waiting when the node goes. Memory in use is compared by mallinfo2
 * before and after a second run (the first one warms up what libraries
 * keep for good), with glibc's per-thread cache off. One in-process node
 * and a client on 127.0.0.1. */
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "hypersub.h"
#include "unit.h"

static void ignore(hs_client_t *c, const hs_reply_t *reply, void *ud) {
  (void)c;
  (void)reply;
  (void)ud;
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* Whether the node has marked itself LEFT in its view. */
static bool leaving(const hs_node_t *node) {
  hs_member_t m[4];
  size_t n = hs_node_members(node, m, 4);
  return n >= 1 && strcmp(m[0].state, "left") == 0;
}

/* Starts a node, asks it to leave, waits until it does, optionally stops
 * it, frees everything. True when the node was seen leaving. */
static bool leave_then_free(bool stop_first) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  hs_node_config_t cfg;
  hs_node_config_init(&cfg);
  cfg.log_level = HS_LOG_OFF;
  hs_node_t *node;
  bool ok = hs_node_new(&loop, &cfg, &node) == 0 && hs_node_start(node) == 0;
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", hs_node_port(node));
  const char *addrs[] = {addr};
  hs_client_config_t ccfg;
  hs_client_config_init(&ccfg);
  ccfg.addrs = addrs;
  ccfg.n_addrs = 1;
  hs_client_t *c = NULL;
  ok = ok && hs_client_new(&loop, &ccfg, ignore, NULL, &c) == 0 &&
       hs_client_leave(c, 0, ignore, NULL) == 0;
  uv_timer_t tick; /* wakes the loop while we wait */
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 5, 5);
  for (int i = 0; ok && i < 400 && !leaving(node); i++)
    uv_run(&loop, UV_RUN_ONCE);
  ok = ok && leaving(node);
  if (stop_first) hs_node_stop(node, 0);
  uv_close((uv_handle_t *)&tick, NULL);
  if (c) hs_client_free(c);
  hs_node_free(node);
  uv_run(&loop, UV_RUN_DEFAULT);
  return uv_loop_close(&loop) == 0 && ok;
}

static size_t in_use(void) { return mallinfo2().uordblks; }

CASE(a_node_freed_while_leaving_keeps_nothing) {
  CHECK(leave_then_free(false));
  size_t before = in_use();
  CHECK(leave_then_free(false));
  CHECK(in_use() == before);
}

CASE(a_node_stopped_while_leaving_keeps_nothing_once_freed) {
  CHECK(leave_then_free(true));
  size_t before = in_use();
  CHECK(leave_then_free(true));
  CHECK(in_use() == before);
}

int main(int argc, char **argv) {
  (void)argc;
  /* glibc's per-thread cache keeps freed blocks, which count as in use:
   * measure without it (the tunable is read at start, hence the exec). */
  const char *off = "glibc.malloc.tcache_count=0";
  const char *tunables = getenv("GLIBC_TUNABLES");
  if (!tunables || !strstr(tunables, off)) {
    char v[1024];
    snprintf(v, sizeof v, "%s%s%s", tunables ? tunables : "",
             tunables ? ":" : "", off);
    setenv("GLIBC_TUNABLES", v, 1);
    execv("/proc/self/exe", argv);
  }
  RUN(a_node_freed_while_leaving_keeps_nothing);
  RUN(a_node_stopped_while_leaving_keeps_nothing_once_freed);
  UNIT_EXIT();
}
