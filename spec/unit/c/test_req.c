/* test_req — the bookkeeping of requests waiting on other nodes
 * (node/req.c): the pool reuses what was given back, a request attaches to
 * its connection's list and detaches from it, a closed connection orphans
 * every request on its list (each told once), keys round-trip. */
#include <string.h>

#include "node/req.h"
#include "unit.h"

static int orphaned_calls;
static void on_orphaned(req_t *r) {
  (void)r;
  orphaned_calls++;
}

/* Stand-ins for two connections: only their address is used. */
static char conn_a, conn_b;

CASE(pool_reuses_given_requests) {
  req_pool_t p = {0};
  req_t *a = req_take(&p, NULL);
  req_t *b = req_take(&p, NULL);
  CHECK(a && b && a != b && p.live == 2);
  a->id = 7;
  req_give(&p, a);
  CHECK(p.live == 1);
  req_t *c = req_take(&p, NULL);
  CHECK(c == a);          /* the spare came back */
  CHECK(c->id == 0);      /* zeroed */
  CHECK(c->done == NULL && c->nc == NULL && c->head == NULL);
  req_give(&p, b);
  req_give(&p, c);
  CHECK(p.live == 0);
  req_pool_free(&p);
  CHECK(p.free == NULL);
}

CASE(attach_and_detach_keep_each_list_whole) {
  req_pool_t p = {0};
  req_t *list_a = NULL, *list_b = NULL;
  req_t *r[4];
  for (int i = 0; i < 4; i++) {
    r[i] = req_take(&p, NULL);
    req_attach(r[i], (struct node_conn *)(i < 3 ? (void *)&conn_a : (void *)&conn_b),
               i < 3 ? &list_a : &list_b);
  }
  CHECK(list_a == r[2] && list_b == r[3]);
  CHECK(r[1]->nc == (struct node_conn *)(void *)&conn_a);
  req_detach(r[1]); /* from the middle */
  CHECK(r[1]->nc == NULL && r[1]->head == NULL);
  CHECK(list_a == r[2] && r[2]->next == r[0] && r[0]->prev == r[2]);
  req_detach(r[2]); /* the head */
  CHECK(list_a == r[0] && r[0]->prev == NULL);
  req_detach(r[2]); /* twice is harmless */
  req_give(&p, r[0]); /* giving detaches */
  CHECK(list_a == NULL);
  CHECK(list_b == r[3]);
  for (int i = 1; i < 4; i++) req_give(&p, r[i]);
  CHECK(list_b == NULL && p.live == 0);
  req_pool_free(&p);
}

CASE(a_closed_connection_orphans_its_requests_once) {
  req_pool_t p = {0};
  req_t *list = NULL;
  req_t *r[3];
  orphaned_calls = 0;
  for (int i = 0; i < 3; i++) {
    r[i] = req_take(&p, NULL);
    r[i]->orphaned = i == 1 ? NULL : on_orphaned; /* one with nothing to do */
    req_attach(r[i], (struct node_conn *)(void *)&conn_a, &list);
  }
  req_orphan_all(&list);
  CHECK(list == NULL);
  CHECK(orphaned_calls == 2);
  for (int i = 0; i < 3; i++) {
    CHECK(r[i]->nc == NULL && r[i]->head == NULL);
    req_give(&p, r[i]); /* answers that come later find no connection */
  }
  req_orphan_all(&list); /* an empty list */
  CHECK(orphaned_calls == 2 && p.live == 0);
  req_pool_free(&p);
}

CASE(keys_round_trip_at_full_length) {
  char sid[HS_NAME_MAX], topic[HS_NAME_MAX];
  memset(sid, 's', sizeof sid);
  memset(topic, 't', sizeof topic);
  req_key_t k;
  req_key_set(&k, sid, sizeof sid, topic, sizeof topic);
  const char *s, *t;
  size_t sn, tn;
  req_key_parts(&k, &s, &sn, &t, &tn);
  CHECK(sn == HS_NAME_MAX && tn == HS_NAME_MAX);
  CHECK(!memcmp(s, sid, sn) && !memcmp(t, topic, tn));
  CHECK(k.len == 2 + 2 * HS_NAME_MAX);
}

int main(void) {
  RUN(pool_reuses_given_requests);
  RUN(attach_and_detach_keep_each_list_whole);
  RUN(a_closed_connection_orphans_its_requests_once);
  RUN(keys_round_trip_at_full_length);
  UNIT_EXIT();
}
