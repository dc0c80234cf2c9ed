/* json — the one JSON writer: objects, arrays, numbers and escaped strings
 * appended to a buffer, commas placed by the writer, errors sticky. */
#ifndef HS_JSON_H
#define HS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define JSON_DEPTH_MAX 16

typedef struct json {
  buf_t *b;
  size_t start; /* where the document began: dropped on error */
  int err;      /* sticky: 0 or HS_ENOMEM (also for nesting too deep) */
  int depth;
  bool first[JSON_DEPTH_MAX]; /* per level: nothing written yet */
} json_t;

/* Starts a document at the end of b. */
void json_init(json_t *j, buf_t *b);
/* Every value takes a key inside an object and NULL inside an array or at
 * the top. Keys are written as given (callers pass literals); strings are
 * escaped. */
void json_open(json_t *j, const char *key);      /* { */
void json_close(json_t *j);                      /* } */
void json_open_list(json_t *j, const char *key); /* [ */
void json_close_list(json_t *j);                 /* ] */
void json_u64(json_t *j, const char *key, uint64_t v);
void json_i64(json_t *j, const char *key, int64_t v);
void json_bool(json_t *j, const char *key, bool v);
void json_str(json_t *j, const char *key, const char *s, size_t n);
/* A string key that is data (a topic, an id): escaped like a value. */
void json_key_open(json_t *j, const char *s, size_t n);
/* Ends the document: 0, or HS_ENOMEM with the buffer as before json_init. */
int json_end(json_t *j);

#endif
