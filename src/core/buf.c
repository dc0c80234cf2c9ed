/* buf — the growable buffer: doubling growth, front consumption. */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#include "hypersub.h"

char *buf_reserve(buf_t *b, size_t n) {
  if (n > SIZE_MAX - b->len) return NULL;
  size_t need = b->len + n;
  if (need > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) return NULL;
    b->data = p;
    b->cap = cap;
  }
  return b->data + b->len;
}

int buf_append(buf_t *b, const void *p, size_t n) {
  if (n == 0) return 0; /* nothing to add, even to a buffer never grown */
  char *dst = buf_reserve(b, n);
  if (!dst) return HS_ENOMEM;
  if (n) memcpy(dst, p, n);
  b->len += n;
  return 0;
}

void buf_consume(buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
    return;
  }
  memmove(b->data, b->data + n, b->len - n);
  b->len -= n;
}

void buf_shrink(buf_t *b, size_t keep) {
  if (b->len == 0 && b->cap > keep) buf_free(b);
}

void buf_free(buf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
