/* lag — how far each replica of a topic homed here is behind the home, in
 * records and in the age of the oldest record it lacks: what monitoring
 * reads. */
#include "repl/repl_topic.h"

size_t repl_lags(const store_topic_t *t, uint64_t now_ms, repl_lag_t *out,
                 size_t cap) {
  const repl_topic_t *rt = repl_of(t);
  if (!rt || !rt->home) return 0;
  size_t n = 0;
  for (size_t i = 0; i < rt->n && n < cap; i++) {
    const replica_t *rep = &rt->r[i];
    repl_lag_t *lag = &out[n++];
    *lag = (repl_lag_t){.replica = rep->id,
                        .streaming = rep->state == REPLICA_LIVE};
    if (rep->acked >= t->next) continue;
    lag->records = t->next - rep->acked;
    store_iter_t it;
    store_msg_t m;
    store_iter_init(&it, t, rep->acked);
    if (store_iter_next(&it, &m) && now_ms > m.time_ms)
      lag->ms = now_ms - m.time_ms;
  }
  return n;
}
