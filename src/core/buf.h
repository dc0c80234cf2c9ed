/* buf — one growable byte buffer with reserve/commit, used for socket input,
 * batched output and encoding. */
#ifndef HS_BUF_H
#define HS_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct buf {
  char *data;
  size_t len; /* bytes in use: data[0..len) */
  size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

/* Makes room for n more bytes; returns data + len, or NULL when out of
 * memory (the buffer is unchanged then). */
char *buf_reserve(buf_t *b, size_t n);
/* Marks n reserved bytes as used. */
static inline void buf_commit(buf_t *b, size_t n) { b->len += n; }
int buf_append(buf_t *b, const void *p, size_t n); /* 0 or HS_ENOMEM */
/* Drops the first n bytes, keeping the rest at the front. */
void buf_consume(buf_t *b, size_t n);
static inline void buf_clear(buf_t *b) { b->len = 0; }
/* Frees the memory when the buffer holds more than `keep` bytes of capacity
 * (so one huge frame does not pin its memory forever). */
void buf_shrink(buf_t *b, size_t keep);
void buf_free(buf_t *b);

#endif
