/* msg_util — lists in bodies: counted and checked on the way in, their
 * count filled in on the way out. */
#include "proto/msg_util.h"

void msg_count_begin(wire_writer_t *w, msg_count_t *c) {
  c->at = w->b->len;
  c->n = 0;
  wire_put_u32(w, 0);
}

void msg_list_end(wire_writer_t *w, const msg_count_t *c) {
  if (!w->err) memcpy(w->b->data + c->at, &c->n, 4);
}

/* Checks n entries with `check` (each must fit in what is left) and leaves
 * the list ready to walk. The count is bounded by the bytes left before
 * anything is sized by it. */
bool msg_list_take(wire_reader_t *r, const char *field, uint32_t n,
                   size_t min_size, bool (*check)(wire_reader_t *),
                   msg_list_t *l) {
  if ((size_t)n > (size_t)(r->end - r->p) / min_size) {
    if (!r->bad) r->bad = field;
    return false;
  }
  l->r = *r;
  l->left = n;
  for (uint32_t i = 0; i < n; i++)
    if (!check(r)) return false;
  l->r.end = r->p;
  return true;
}

