/* wire — the frame codec. Every frame:
 *
 *   u32 length   bytes after this field (8 + body), little-endian
 *   u8  version  HS_WIRE_VERSION
 *   u8  op       WIRE_* below
 *   u16 flags    WIRE_F_REPLY, WIRE_F_ERROR
 *   u32 id       request id; a reply carries its request's id
 *   ... body     op-specific fields, in order:
 *                u8/u16/u32/u64 little-endian; str8 = u8 length + bytes;
 *                str16 = u16 length + bytes; bytes32 = u32 length + bytes
 *
 * An error reply (WIRE_F_REPLY|WIRE_F_ERROR) has the body u16 code (the
 * positive HS_E* number), str16 message. The decoder checks every length
 * against what is left before it is used. The body of each op has its one
 * encoder and decoder in msg.h. A request with the ROUTED flag (between
 * peers only) carries u8 hops before its body; one with the RETRY flag is
 * a client's second (or later) try. */
#ifndef HS_WIRE_H
#define HS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"

#define WIRE_HEADER 12
#define WIRE_F_REPLY 0x1
#define WIRE_F_ERROR 0x2
#define WIRE_F_ROUTED 0x4 /* from a peer: the body starts with u8 hops */
#define WIRE_F_RETRY 0x8  /* a client sends this request again */

#define WIRE_OPS(X)                 \
  X(HELLO, 1, "hello")              \
  X(CREATE_PUBLISHER, 2, "create_publisher") \
  X(CREATE_SUBSCRIBER, 3, "create_subscriber") \
  X(CREATE_TOPIC, 4, "create_topic") \
  X(DELETE_TOPIC, 5, "delete_topic") \
  X(PUBLISH, 6, "publish")          \
  X(SUBSCRIBE, 7, "subscribe")      \
  X(PULL, 8, "pull")                \
  X(STOP_NODE, 9, "stop_node")      \
  X(STATS, 10, "stats")            \
  X(WHERE, 11, "where")            \
  X(VIEW, 12, "view")              \
  X(LOOKUP, 13, "lookup")          \
  X(REPLICATE, 14, "replicate")    \
  X(LOCAL, 15, "local")            \
  X(LIST_TOPICS, 16, "list_topics") \
  X(HOMED, 17, "homed")            \
  X(REWIND, 18, "rewind")          \
  X(UNPARK, 19, "unpark")          \
  X(PING, 20, "ping")              \
  X(GOSSIP, 21, "gossip")          \
  X(READ, 22, "read")              \
  X(CLAIM, 23, "claim")            \
  X(JOIN, 24, "join")              \
  X(LEAVE, 25, "leave")            \
  X(HOLDING, 26, "holding")        \
  X(AUTH, 27, "auth")              \
  X(SPREAD, 28, "spread")          \
  X(PROBE, 29, "probe")            \
  X(FETCH, 30, "fetch")            \
  X(RELEASE, 31, "release")

enum {
#define WIRE_OP_ENUM(name, num, str) WIRE_##name = num,
  WIRE_OPS(WIRE_OP_ENUM)
#undef WIRE_OP_ENUM
  WIRE_OP_MAX
};

/* "publish" for WIRE_PUBLISH, NULL for an unknown op. */
const char *wire_op_name(int op);

enum { WIRE_ROLE_CLIENT = 1, WIRE_ROLE_PEER = 2 };


typedef struct wire_frame {
  uint8_t version;
  uint8_t op;
  uint16_t flags;
  uint32_t id;
  const char *body;
  size_t body_len;
} wire_frame_t;

/* Decodes the frame at the front of p[0..n).
 * Returns the frame's total size (> 0) and fills *f; 0 when more bytes are
 * needed; HS_EPROTOCOL (bad length or version) or HS_ETOO_LARGE (over
 * max_frame) with *why saying what was wrong. f->body points into p. */
long wire_frame_decode(const char *p, size_t n, size_t max_frame,
                       wire_frame_t *f, const char **why);

/* ---- writing: a frame is built in place at the end of a buffer --------- */
typedef struct wire_writer {
  buf_t *b;
  size_t start; /* where this frame's length field is */
  int err;      /* sticky: 0 or HS_ENOMEM */
  uint8_t op;   /* the frame's op */
  uint32_t id;  /* and id */
} wire_writer_t;

void wire_begin(wire_writer_t *w, buf_t *b, uint8_t op, uint16_t flags,
                uint32_t id);
void wire_put(wire_writer_t *w, const void *p, size_t n);
static inline void wire_put_u8(wire_writer_t *w, uint8_t v) { wire_put(w, &v, 1); }
static inline void wire_put_u16(wire_writer_t *w, uint16_t v) { wire_put(w, &v, 2); }
static inline void wire_put_u32(wire_writer_t *w, uint32_t v) { wire_put(w, &v, 4); }
static inline void wire_put_u64(wire_writer_t *w, uint64_t v) { wire_put(w, &v, 8); }
/* Callers check n <= 255 (names) and n <= 65535 (messages) first. */
static inline void wire_put_str8(wire_writer_t *w, const char *s, size_t n) {
  wire_put_u8(w, (uint8_t)n);
  wire_put(w, s, n);
}
static inline void wire_put_str16(wire_writer_t *w, const char *s, size_t n) {
  wire_put_u16(w, (uint16_t)n);
  wire_put(w, s, n);
}
static inline void wire_put_bytes32(wire_writer_t *w, const char *s, size_t n) {
  wire_put_u32(w, (uint32_t)n);
  wire_put(w, s, n);
}
/* The body written so far (after the header). */
static inline const char *wire_body(const wire_writer_t *w, size_t *len) {
  *len = w->b->len - w->start - WIRE_HEADER;
  return w->b->data + w->start + WIRE_HEADER;
}
/* Patches the length; on error drops the partial frame. 0 or HS_ENOMEM. */
int wire_end(wire_writer_t *w);

/* Appends frame f as it is, under request id `id` (a relayed reply). */
int wire_copy_frame(buf_t *b, const wire_frame_t *f, uint32_t id);

/* An error reply to request `id` of `op`. */
int wire_put_error(buf_t *b, uint8_t op, uint32_t id, int code,
                   const char *msg, size_t msg_len);

/* ---- reading a body: each get checks the bytes left; the first failure
 * records the field's name and every later get fails too. ---------------- */
typedef struct wire_reader {
  const char *p, *end;
  const char *bad; /* the field that did not fit, or NULL */
} wire_reader_t;

/* p may be NULL when n is 0 (a reply made locally has no body). */
static inline void wire_reader_init(wire_reader_t *r, const char *p, size_t n) {
  r->p = p;
  r->end = n ? p + n : p; /* NULL + 0 is undefined */
  r->bad = NULL;
}

static inline bool wire_get(wire_reader_t *r, const char *field, void *out,
                            size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    if (!r->bad) r->bad = field;
    return false;
  }
  memcpy(out, r->p, n);
  r->p += n;
  return true;
}
static inline bool wire_get_u8(wire_reader_t *r, const char *f, uint8_t *v) { return wire_get(r, f, v, 1); }
static inline bool wire_get_u16(wire_reader_t *r, const char *f, uint16_t *v) { return wire_get(r, f, v, 2); }
static inline bool wire_get_u32(wire_reader_t *r, const char *f, uint32_t *v) { return wire_get(r, f, v, 4); }
static inline bool wire_get_u64(wire_reader_t *r, const char *f, uint64_t *v) { return wire_get(r, f, v, 8); }

/* Variable-length fields point into the frame: no copy. */
bool wire_get_str8(wire_reader_t *r, const char *field, const char **s,
                   size_t *n);
bool wire_get_str16(wire_reader_t *r, const char *field, const char **s,
                    size_t *n);
bool wire_get_bytes32(wire_reader_t *r, const char *field, const char **s,
                      size_t *n);
/* True when every byte was read and nothing failed; else sets bad. */
bool wire_reader_done(wire_reader_t *r);

/* Ids and topic names: 1..255 bytes of 0x21..0x7e other than '"' and '\\'.
 * Returns 0 or HS_EINVALID. */
int wire_name_check(const char *s, size_t n);

#endif
