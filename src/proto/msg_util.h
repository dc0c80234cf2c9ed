/* msg_util — what the body codecs share: strings as msg_str_t, the rest of
 * a body, and checked lists. Internal to proto. */
#ifndef HS_MSG_UTIL_H
#define HS_MSG_UTIL_H

#include <string.h>

#include "proto/msg.h"

static inline bool msg_get_str8(wire_reader_t *r, const char *f, msg_str_t *s) {
  return wire_get_str8(r, f, &s->s, &s->n);
}
static inline bool msg_get_str16(wire_reader_t *r, const char *f, msg_str_t *s) {
  return wire_get_str16(r, f, &s->s, &s->n);
}
static inline bool msg_get_bytes32(wire_reader_t *r, const char *f,
                                   msg_str_t *s) {
  return wire_get_bytes32(r, f, &s->s, &s->n);
}

/* A name a peer sends (a topic, publisher or subscriber): the name rules
 * hold before anything stores or copies it. */
static inline bool msg_get_name(wire_reader_t *r, const char *f, msg_str_t *s) {
  if (!wire_get_str8(r, f, &s->s, &s->n)) return false;
  if (wire_name_check(s->s, s->n) == 0) return true;
  r->bad = f;
  return false;
}

/* Everything left in the body (a trailing view). */
static inline msg_str_t msg_rest(wire_reader_t *r) {
  msg_str_t s = {r->p, (size_t)(r->end - r->p)};
  r->p = r->end;
  return s;
}

bool msg_list_take(wire_reader_t *r, const char *field, uint32_t n,
                   size_t min_size, bool (*check)(wire_reader_t *),
                   msg_list_t *l);

#endif
