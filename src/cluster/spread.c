/* spread — view changes along the cube's edges (spread.h says how). */
#include "cluster/spread.h"

#include <string.h>

#include "cube/cube.h"
#include "hypersub.h"

void spread_init(spread_t *s, cluster_t *cluster, const cluster_net_t *net,
                 stats_t *stats) {
  memset(s, 0, sizeof *s);
  s->cluster = cluster;
  s->net = net;
  s->stats = stats;
}

/* The answer says nothing: a change a member missed is repaired by the
 * digests. */
static void on_sent(void *ud, uint64_t tag, uint32_t from,
                    const cluster_reply_t *r) {
  (void)ud;
  (void)tag;
  (void)from;
  (void)r;
}

static void send_to(spread_t *s, uint32_t to, unsigned dim, uint8_t hops,
                    msg_str_t entries) {
  buf_t b = BUF_INIT;
  wire_writer_t w = {.b = &b};
  msg_spread_t m = {(uint8_t)dim, hops, entries};
  msg_spread_put(&w, &m);
  if (!w.err &&
      s->net->send(s->net->ud, to, WIRE_SPREAD, b.data, b.len, 0, on_sent, s,
                   0) == 0) {
    s->stats->view_messages_sent++;
    s->stats->heartbeat_bytes += WIRE_HEADER + b.len;
  }
  buf_free(&b);
}

/* The part of the tree below x, which x would get on dimension j: to x
 * when it is alive, else to the roots of the live parts below it. A
 * suspect gets the news too (it may be alive, and must hear it is
 * suspected) but sends nothing on (SPREAD_LEAF): it may not be alive. */
static void cover(spread_t *s, uint32_t x, unsigned j, unsigned dim,
                  uint8_t hops, msg_str_t entries) {
  const view_member_t *m = view_find(&s->cluster->view, x);
  if (m && m->state == VIEW_ALIVE) return send_to(s, x, j, hops, entries);
  if (m && m->state == VIEW_SUSPECT) send_to(s, x, SPREAD_LEAF, hops, entries);
  for (unsigned k = j + 1; k < dim; k++)
    cover(s, x ^ (1u << k), k, dim, hops, entries);
}

/* The tree spans every id a member holds, left ones too: a member that
 * leaves (the largest, say) still sends its news to the others. */
static unsigned tree_dim(const view_t *v) {
  return v->n ? cube_dim(v->members[v->n - 1].id) : 0;
}

/* Sends the entries on along the dimensions above `from_dim` (all of them
 * from the node that decided: from_dim -1). */
static void send_on(spread_t *s, int from_dim, uint8_t hops,
                    msg_str_t entries) {
  uint32_t self = s->cluster->self;
  unsigned dim = tree_dim(&s->cluster->view);
  for (unsigned k = (unsigned)(from_dim + 1); k < dim; k++)
    cover(s, self ^ (1u << k), k, dim, hops, entries);
}

/* The entries of the view that differ from `old`. 0 or HS_ENOMEM. */
static int changed_entries(const view_t *now, const view_t *old, view_t *out) {
  view_init(out);
  for (size_t i = 0; i < now->n; i++) {
    const view_member_t *m = &now->members[i];
    const view_member_t *was = view_find(old, m->id);
    if (was && was->version == m->version && was->state == m->state &&
        !strcmp(was->addr, m->addr))
      continue;
    if (view_upsert(out, m->id, m->addr, m->state, m->version) < 0) {
      view_free(out);
      return HS_ENOMEM;
    }
  }
  return 0;
}

void spread_listener(void *ud, const cluster_change_t *change) {
  spread_t *s = ud;
  s->changed_ms = cluster_net_now(s->net);
  if (!change->ours) return;
  view_t delta;
  buf_t b = BUF_INIT;
  if (changed_entries(&s->cluster->view, change->old, &delta)) return;
  if (delta.n && view_encode(&delta, &b) == 0)
    send_on(s, -1, 1, msg_str(b.data, b.len));
  buf_free(&b);
  view_free(&delta);
}

int spread_on_message(spread_t *s, uint32_t from, const msg_spread_t *m,
                      const char **why) {
  view_t theirs;
  wire_reader_t r;
  wire_reader_init(&r, m->view.s, m->view.n);
  if (view_decode(&r, &theirs) || !wire_reader_done(&r)) {
    view_free(&theirs); /* empty after a failed decode: harmless */
    *why = r.bad ? r.bad : "view";
    return HS_EINVALID;
  }
  s->stats->view_messages_received++;
  s->stats->heartbeat_bytes += WIRE_HEADER + 2 + m->view.n;
  s->last_hops = m->hops;
  cluster_merge(s->cluster, &theirs, from);
  view_free(&theirs);
  /* On along the tree whether or not it was news here: the members
   * below may not have it. */
  send_on(s, m->dim, m->hops < 255 ? (uint8_t)(m->hops + 1) : 255, m->view);
  return 0;
}
