/* journal — one growable buffer of request bodies, compacted in place of
 * per-request allocations. */
#include "client/journal.h"

#include <string.h>

#include "hypersub.h"

#define COMPACT_OVER (1u << 20)

int journal_add(journal_t *j, const char *body, size_t n, journal_ref_t *ref) {
  ref->pos = j->buf.len;
  ref->len = 0;
  if (buf_append(&j->buf, body, n)) return HS_ENOMEM;
  ref->len = n;
  j->live += n;
  return 0;
}

void journal_release(journal_t *j, const journal_ref_t *ref, int none_left) {
  j->live = ref->len < j->live ? j->live - ref->len : 0;
  if (none_left) {
    buf_clear(&j->buf);
    j->live = 0;
  }
}

void journal_compact(journal_t *j, journal_ref_t *(*next)(void *ctx),
                     void *ctx) {
  if (j->buf.len < COMPACT_OVER || j->live > j->buf.len / 2) return;
  buf_t fresh = BUF_INIT;
  journal_ref_t *ref;
  int failed = 0;
  /* Copy first, move the refs only once every copy is made. */
  while ((ref = next(ctx)))
    if (!failed && ref->len &&
        buf_append(&fresh, j->buf.data + ref->pos, ref->len))
      failed = 1; /* walk on to the end: the walk then starts over */
  if (failed) {
    buf_free(&fresh);
    return;
  }
  size_t at = 0;
  while ((ref = next(ctx))) {
    if (!ref->len) continue;
    ref->pos = at;
    at += ref->len;
  }
  buf_free(&j->buf);
  j->buf = fresh;
}

void journal_free(journal_t *j) {
  buf_free(&j->buf);
  j->live = 0;
}
