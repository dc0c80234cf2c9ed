/* test_repl — what a copy may hand out (repl/repl.c repl_readable): on the
 * home, what every copy holds; on a replica, only what a home has told it
 * was committed. A replica's state made from its own log (a restart from
 * disk) starts with that whole log as `committed`, which must not count. */
#include <string.h>

#include "repl/repl_topic.h"
#include "store/store.h"
#include "unit.h"

#define S(x) x, sizeof(x) - 1

CASE(a_restored_replica_hands_out_only_what_it_heard) {
  store_t s;
  store_init(&s, NULL);
  store_topic_t *t;
  CHECK(store_topic_create(&s, S("t"), S("p"), &t) == 0);
  for (int i = 0; i < 6; i++)
    CHECK(store_append(&s, t, 1, S("p"), S("m"), NULL) == 0);
  repl_topic_t *rt = repl_state(NULL, t); /* as a restore makes it */
  CHECK(rt && !rt->home && rt->committed == 6);
  CHECK(repl_readable(t) == 0);
  CHECK(repl_heard_commit(rt, 4));
  CHECK(repl_readable(t) == 4);
  CHECK(!repl_heard_commit(rt, 3)); /* only grows */
  CHECK(repl_readable(t) == 4 && rt->heard == 4);
  CHECK(repl_heard_commit(rt, 9)); /* past what it holds: what it holds */
  CHECK(repl_readable(t) == 6 && rt->committed == 6 && rt->heard == 9);
  rt->home = true; /* a home goes by its own commit */
  rt->n = 1;
  rt->committed = 5;
  CHECK(repl_readable(t) == 5);
  t->repl = NULL;
  free(rt);
  store_free(&s);
}

int main(void) {
  RUN(a_restored_replica_hands_out_only_what_it_heard);
  UNIT_EXIT();
}
