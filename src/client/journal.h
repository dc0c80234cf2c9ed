/* journal — copies of the request bodies a client may have to send again
 * (its node died, or a node on the way did): appended as requests are
 * made, released as they complete, compacted when mostly dead. */
#ifndef HS_JOURNAL_H
#define HS_JOURNAL_H

#include <stddef.h>

#include "core/buf.h"

/* Where one request's body is in the journal; len 0: not journalled. */
typedef struct journal_ref {
  size_t pos, len;
} journal_ref_t;

typedef struct journal {
  buf_t buf;
  size_t live; /* bytes still referenced */
} journal_t;

/* Copies body[0..n) in; ref says where. 0 or HS_ENOMEM (ref->len 0). */
int journal_add(journal_t *j, const char *body, size_t n, journal_ref_t *ref);
static inline const char *journal_at(const journal_t *j,
                                     const journal_ref_t *ref) {
  return j->buf.data + ref->pos;
}
/* The request is done with its copy; `none_left` when no request holds
 * one any more (the buffer is reused from the start). */
void journal_release(journal_t *j, const journal_ref_t *ref, int none_left);
/* Moves the live copies to a fresh buffer when they are under half of a
 * buffer over 1 MiB. `next` walks every ref (NULL at the end, after which
 * it starts over); it is walked twice, in the same order. */
void journal_compact(journal_t *j, journal_ref_t *(*next)(void *ctx),
                     void *ctx);
void journal_free(journal_t *j);

#endif
