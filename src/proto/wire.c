/* wire — frames: the header's codec, the in-place writer and the bounds-
 * checked reader (the bodies are msg.h's). */
#include "proto/wire.h"

#include "hypersub.h"

/* Fields are copied in host order and documented as little-endian. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hypersub's wire codec assumes a little-endian host"
#endif

const char *wire_op_name(int op) {
  switch (op) {
#define WIRE_OP_NAME(name, num, str) \
  case num:                          \
    return str;
    WIRE_OPS(WIRE_OP_NAME)
#undef WIRE_OP_NAME
  }
  return NULL;
}

long wire_frame_decode(const char *p, size_t n, size_t max_frame,
                       wire_frame_t *f, const char **why) {
  if (n < 4) return 0;
  uint32_t len;
  memcpy(&len, p, 4);
  if (len < WIRE_HEADER - 4) {
    *why = "frame length shorter than its header";
    return HS_EPROTOCOL;
  }
  if ((size_t)len + 4 > max_frame) {
    *why = "frame longer than the limit";
    return HS_ETOO_LARGE;
  }
  if (n >= 5 && (uint8_t)p[4] != HS_WIRE_VERSION) {
    *why = "unsupported wire version";
    return HS_EPROTOCOL;
  }
  if (n < (size_t)len + 4) return 0;
  f->version = (uint8_t)p[4];
  f->op = (uint8_t)p[5];
  memcpy(&f->flags, p + 6, 2);
  memcpy(&f->id, p + 8, 4);
  f->body = p + WIRE_HEADER;
  f->body_len = (size_t)len + 4 - WIRE_HEADER;
  return (long)len + 4;
}

void wire_begin(wire_writer_t *w, buf_t *b, uint8_t op, uint16_t flags,
                uint32_t id) {
  w->b = b;
  w->start = b->len;
  w->err = 0;
  w->op = op;
  w->id = id;
  char *h = buf_reserve(b, WIRE_HEADER);
  if (!h) {
    w->err = HS_ENOMEM;
    return;
  }
  uint32_t zero = 0;
  uint8_t version = HS_WIRE_VERSION;
  memcpy(h, &zero, 4);
  memcpy(h + 4, &version, 1);
  memcpy(h + 5, &op, 1);
  memcpy(h + 6, &flags, 2);
  memcpy(h + 8, &id, 4);
  buf_commit(b, WIRE_HEADER);
}

void wire_put(wire_writer_t *w, const void *p, size_t n) {
  if (w->err) return;
  char *dst = buf_reserve(w->b, n);
  if (!dst) {
    w->err = HS_ENOMEM;
    return;
  }
  if (n) memcpy(dst, p, n);
  buf_commit(w->b, n);
}

int wire_end(wire_writer_t *w) {
  size_t len = w->b->len - w->start - 4;
  if (w->err || len > UINT32_MAX) {
    w->b->len = w->start;
    return w->err ? w->err : HS_ETOO_LARGE;
  }
  uint32_t len32 = (uint32_t)len;
  memcpy(w->b->data + w->start, &len32, 4);
  return 0;
}

int wire_copy_frame(buf_t *b, const wire_frame_t *f, uint32_t id) {
  wire_writer_t w;
  wire_begin(&w, b, f->op, f->flags, id);
  wire_put(&w, f->body, f->body_len);
  return wire_end(&w);
}

int wire_put_error(buf_t *b, uint8_t op, uint32_t id, int code,
                   const char *msg, size_t msg_len) {
  wire_writer_t w;
  if (msg_len > UINT16_MAX) msg_len = UINT16_MAX;
  wire_begin(&w, b, op, WIRE_F_REPLY | WIRE_F_ERROR, id);
  wire_put_u16(&w, (uint16_t)-code);
  wire_put_str16(&w, msg, msg_len);
  return wire_end(&w);
}

static bool get_var(wire_reader_t *r, const char *field, size_t len_size,
                    const char **s, size_t *n) {
  uint8_t l8 = 0;
  uint16_t l16 = 0;
  uint32_t l32 = 0;
  size_t len;
  if (len_size == 1) {
    if (!wire_get_u8(r, field, &l8)) return false;
    len = l8;
  } else if (len_size == 2) {
    if (!wire_get_u16(r, field, &l16)) return false;
    len = l16;
  } else {
    if (!wire_get_u32(r, field, &l32)) return false;
    len = l32;
  }
  if ((size_t)(r->end - r->p) < len) {
    r->bad = field;
    return false;
  }
  *s = r->p;
  *n = len;
  r->p += len;
  return true;
}

bool wire_get_str8(wire_reader_t *r, const char *field, const char **s,
                   size_t *n) {
  return get_var(r, field, 1, s, n);
}

bool wire_get_str16(wire_reader_t *r, const char *field, const char **s,
                    size_t *n) {
  return get_var(r, field, 2, s, n);
}

bool wire_get_bytes32(wire_reader_t *r, const char *field, const char **s,
                      size_t *n) {
  return get_var(r, field, 4, s, n);
}

bool wire_reader_done(wire_reader_t *r) {
  if (r->bad) return false;
  if (r->p != r->end) {
    r->bad = "trailing bytes";
    return false;
  }
  return true;
}

int wire_name_check(const char *s, size_t n) {
  if (n == 0 || n > HS_NAME_MAX) return HS_EINVALID;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return HS_EINVALID;
  }
  return 0;
}

HS_API int hs_name_check(const char *s, size_t n) {
  return s ? wire_name_check(s, n) : HS_EINVALID;
}
