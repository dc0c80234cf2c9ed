/* test_wire — the frame codec: every op's body round-trips through the
 * writer and the reader, every strict prefix of a frame says "need more",
 * header errors, the reader's sticky failures, name checks, random input,
 * error replies and the writer dropping a failed frame.
 *
 * Input under test is copied into a malloc'd buffer of exactly its size, so
 * an overread is an ASan report under `make asan`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "hypersub.h"
#include "unit.h"
#include "proto/wire.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_FRAME ((size_t)64 << 20)

/* ---- a frame as data: header plus a list of typed fields ---------------- */

typedef enum { U8 = 1, U16, U32, U64, STR8, STR16, BYTES32 } ftype_t;

typedef struct field {
  ftype_t type;
  const char *name;
  uint64_t u;    /* U8..U64 */
  const char *s; /* STR8..BYTES32: s[0..n) */
  size_t n;
} field_t;

#define MAX_FIELDS 16
typedef struct frame_spec {
  const char *label;
  uint8_t op;
  uint16_t flags;
  uint32_t id;
  field_t f[MAX_FIELDS];
} frame_spec_t;

/* Payloads the table points at; filled by fill_payloads(). */
static char name255[255];
static char msg65535[65535];
static char big[3 << 20]; /* a large bytes32: 3 MiB */
static const char nul_bytes[] = {0, 1, 0, (char)0xff, (char)0x80, 0};

static void fill_payloads(void) {
  for (size_t i = 0; i < sizeof name255; i++)
    name255[i] = (char)('A' + i % 26);
  for (size_t i = 0; i < sizeof msg65535; i++) msg65535[i] = (char)('a' + i % 26);
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 131 + (i >> 9));
}

#define FU8(nm, v) {U8, nm, (v), NULL, 0}
#define FU16(nm, v) {U16, nm, (v), NULL, 0}
#define FU32(nm, v) {U32, nm, (v), NULL, 0}
#define FU64(nm, v) {U64, nm, (v), NULL, 0}
#define FS8(nm, str) {STR8, nm, 0, str, sizeof(str) - 1}
#define FS16(nm, str) {STR16, nm, 0, str, sizeof(str) - 1}
#define FB32(nm, str) {BYTES32, nm, 0, str, sizeof(str) - 1}
#define FVAR(t, nm, p, len) {t, nm, 0, p, len}

static const frame_spec_t frames[] = {
    {"hello", WIRE_HELLO, 0, 1,
     {FU8("role", WIRE_ROLE_CLIENT), FS8("cluster", "hypersub"), FU32("node", 0)}},
    {"hello_peer", WIRE_HELLO, 0, 2,
     {FU8("role", WIRE_ROLE_PEER), FS8("cluster", "c"), FU32("node", UINT32_MAX)}},
    {"hello_reply", WIRE_HELLO, WIRE_F_REPLY, 1,
     {FU32("node", 7), FU32("max_frame", 1114112)}},
    {"hello_empty_cluster", WIRE_HELLO, 0, 3,
     {FU8("role", 1), FS8("cluster", ""), FU32("node", 0)}},
    {"create_publisher", WIRE_CREATE_PUBLISHER, 0, 10, {FS8("publisher", "p1")}},
    {"create_publisher_empty", WIRE_CREATE_PUBLISHER, 0, 11, {FS8("publisher", "")}},
    {"create_publisher_255", WIRE_CREATE_PUBLISHER, 0, 12,
     {FVAR(STR8, "publisher", name255, 255)}},
    {"create_subscriber", WIRE_CREATE_SUBSCRIBER, 0, 13, {FS8("subscriber", "s1")}},
    {"create_topic", WIRE_CREATE_TOPIC, 0, 14,
     {FS8("publisher", "p1"), FS8("topic", "news")}},
    {"delete_topic", WIRE_DELETE_TOPIC, 0, 15,
     {FS8("publisher", "p1"), FVAR(STR8, "topic", name255, 255)}},
    {"empty_reply", WIRE_CREATE_TOPIC, WIRE_F_REPLY, 14, {{0}}},
    {"publish", WIRE_PUBLISH, 0, 16,
     {FS8("publisher", "p1"), FS8("topic", "news"), FU8("ack", HS_ACK_ALL),
      FB32("data", "hello world")}},
    {"publish_empty_data", WIRE_PUBLISH, 0, 17,
     {FS8("publisher", "p1"), FS8("topic", "news"), FU8("ack", 0),
      FB32("data", "")}},
    {"publish_binary", WIRE_PUBLISH, 0, 18,
     {FS8("publisher", "p1"), FS8("topic", "t"), FU8("ack", 1),
      FVAR(BYTES32, "data", nul_bytes, sizeof nul_bytes)}},
    {"publish_large", WIRE_PUBLISH, 0, 19,
     {FS8("publisher", "p1"), FS8("topic", "big"), FU8("ack", 2),
      FVAR(BYTES32, "data", big, sizeof big)}},
    {"publish_reply_max", WIRE_PUBLISH, WIRE_F_REPLY, UINT32_MAX,
     {FU64("offset", UINT64_MAX)}},
    {"publish_reply_zero", WIRE_PUBLISH, WIRE_F_REPLY, 0, {FU64("offset", 0)}},
    {"subscribe", WIRE_SUBSCRIBE, 0, 20,
     {FS8("subscriber", "s1"), FS8("topic", "news"), FU8("from", HS_FROM_OFFSET),
      FU64("offset", UINT64_MAX)}},
    {"pull", WIRE_PULL, 0, 21,
     {FS8("subscriber", "s1"), FS8("topic", "news"), FU32("max", 1000),
      FU32("wait_ms", UINT32_MAX)}},
    {"pull_reply", WIRE_PULL, WIRE_F_REPLY, 21,
     {FU32("count", 3),
      FU64("offset0", 0), FU64("time0", 1700000000000ULL), FS8("pub0", "p1"),
      FB32("data0", "a"),
      FU64("offset1", 1), FU64("time1", UINT64_MAX), FS8("pub1", ""),
      FB32("data1", ""),
      FU64("offset2", UINT64_MAX), FU64("time2", 0),
      FVAR(STR8, "pub2", name255, 255), FVAR(BYTES32, "data2", nul_bytes, 6)}},
    {"pull_reply_empty", WIRE_PULL, WIRE_F_REPLY, 22, {FU32("count", 0)}},
    {"stop_node", WIRE_STOP_NODE, 0, 23,
     {FU32("node", 3), FU32("restart_after_ms", 250)}},
    {"stats", WIRE_STATS, 0, 24, {{0}}},
    {"stats_reply", WIRE_STATS, WIRE_F_REPLY, 24,
     {FB32("json", "{\"frames_in\":1}")}},
    {"error_reply", WIRE_PUBLISH, WIRE_F_REPLY | WIRE_F_ERROR, 25,
     {FU16("code", 5), FS16("message", "topic \"x\" does not exist")}},
    {"error_reply_empty_message", WIRE_PULL, WIRE_F_REPLY | WIRE_F_ERROR, 26,
     {FU16("code", UINT16_MAX), FS16("message", "")}},
    {"str16_max", 200, 0, 27, {FVAR(STR16, "message", msg65535, 65535)}},
    {"all_flags_unknown_op", 255, UINT16_MAX, 0, {FU8("x", 255), FU16("y", 0)}},
};

static size_t n_fields(const frame_spec_t *s) {
  size_t n = 0;
  while (n < MAX_FIELDS && s->f[n].type) n++;
  return n;
}

static size_t field_size(const field_t *f) {
  switch (f->type) {
    case U8: return 1;
    case U16: return 2;
    case U32: return 4;
    case U64: return 8;
    case STR8: return 1 + f->n;
    case STR16: return 2 + f->n;
    case BYTES32: return 4 + f->n;
  }
  return 0;
}

static size_t body_size(const frame_spec_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < n_fields(s); i++) n += field_size(&s->f[i]);
  return n;
}

static void put_field(wire_writer_t *w, const field_t *f) {
  switch (f->type) {
    case U8: wire_put_u8(w, (uint8_t)f->u); break;
    case U16: wire_put_u16(w, (uint16_t)f->u); break;
    case U32: wire_put_u32(w, (uint32_t)f->u); break;
    case U64: wire_put_u64(w, f->u); break;
    case STR8: wire_put_str8(w, f->s, f->n); break;
    case STR16: wire_put_str16(w, f->s, f->n); break;
    case BYTES32: wire_put_bytes32(w, f->s, f->n); break;
  }
}

/* Reads one field of f's type under f's name; on success says whether the
 * value read is f's. Returns -1 when the get failed. */
static int get_field(wire_reader_t *r, const field_t *f) {
  uint8_t v8 = 0;
  uint16_t v16 = 0;
  uint32_t v32 = 0;
  uint64_t v64 = 0;
  const char *s = NULL;
  size_t n = 0;
  bool ok = false;
  switch (f->type) {
    case U8: ok = wire_get_u8(r, f->name, &v8); v64 = v8; break;
    case U16: ok = wire_get_u16(r, f->name, &v16); v64 = v16; break;
    case U32: ok = wire_get_u32(r, f->name, &v32); v64 = v32; break;
    case U64: ok = wire_get_u64(r, f->name, &v64); break;
    case STR8: ok = wire_get_str8(r, f->name, &s, &n); break;
    case STR16: ok = wire_get_str16(r, f->name, &s, &n); break;
    case BYTES32: ok = wire_get_bytes32(r, f->name, &s, &n); break;
  }
  if (!ok) return -1;
  if (f->type >= STR8)
    return n == f->n && (n == 0 || memcmp(s, f->s, n) == 0);
  return v64 == f->u;
}

/* Appends the frame to b; returns wire_end's result. */
static int build(buf_t *b, const frame_spec_t *s) {
  wire_writer_t w;
  wire_begin(&w, b, s->op, s->flags, s->id);
  for (size_t i = 0; i < n_fields(s); i++) put_field(&w, &s->f[i]);
  return wire_end(&w);
}

/* A malloc'd copy of exactly n bytes (at least 1 byte allocated, so that
 * n == 0 still has a pointer ASan watches). */
static char *exact_copy(const char *p, size_t n) {
  char *q = malloc(n ? n : 1);
  if (n) memcpy(q, p, n);
  return q;
}

/* ---- round trips -------------------------------------------------------- */

CASE(round_trip_every_frame) {
  fill_payloads();
  for (size_t k = 0; k < NELEM(frames); k++) {
    const frame_spec_t *s = &frames[k];
    buf_t b = BUF_INIT;
    CHECK(build(&b, s) == 0);
    size_t total = WIRE_HEADER + body_size(s);
    CHECK(b.len == total);
    char *p = exact_copy(b.data, b.len);
    wire_frame_t f;
    const char *why = NULL;
    long r = wire_frame_decode(p, b.len, MAX_FRAME, &f, &why);
    CHECK(r == (long)total);
    CHECK(why == NULL);
    CHECK(f.version == HS_WIRE_VERSION && f.op == s->op &&
          f.flags == s->flags && f.id == s->id);
    CHECK(f.body == p + WIRE_HEADER && f.body_len == total - WIRE_HEADER);
    wire_reader_t rd;
    wire_reader_init(&rd, f.body, f.body_len);
    for (size_t i = 0; i < n_fields(s); i++) {
      int got = get_field(&rd, &s->f[i]);
      if (got != 1) printf("# %s: field %s read %d\n", s->label, s->f[i].name, got);
      CHECK(got == 1);
    }
    CHECK(wire_reader_done(&rd) && rd.bad == NULL);
    /* The decoder needs exactly the frame: max_frame at its size is fine,
     * one byte less is too large. */
    CHECK(wire_frame_decode(p, b.len, total, &f, &why) == (long)total);
    CHECK(wire_frame_decode(p, b.len, total - 1, &f, &why) == HS_ETOO_LARGE);
    free(p);
    buf_free(&b);
  }
}

CASE(header_layout_is_little_endian) {
  buf_t b = BUF_INIT;
  wire_writer_t w;
  wire_begin(&w, &b, WIRE_STATS, WIRE_F_REPLY | WIRE_F_ERROR, 0x01020304);
  wire_put_u16(&w, 0x0a0b);
  wire_put_u32(&w, 0x11223344);
  wire_put_u64(&w, 0x5566778899aabbccULL);
  CHECK(wire_end(&w) == 0);
  static const unsigned char want[] = {
      22, 0, 0, 0,            /* length: 8 + 14 */
      HS_WIRE_VERSION, 10,    /* version, op */
      3, 0,                   /* flags */
      4, 3, 2, 1,             /* id */
      0x0b, 0x0a,             /* u16 */
      0x44, 0x33, 0x22, 0x11, /* u32 */
      0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77, 0x66, 0x55};
  CHECK(b.len == sizeof want && memcmp(b.data, want, sizeof want) == 0);
  buf_free(&b);
}

CASE(frames_back_to_back) {
  fill_payloads();
  buf_t b = BUF_INIT;
  size_t n = 0;
  for (size_t k = 0; k < NELEM(frames); k++)
    if (body_size(&frames[k]) < 4096) {
      CHECK(build(&b, &frames[k]) == 0);
      n++;
    }
  char *p = exact_copy(b.data, b.len);
  size_t pos = 0, seen = 0;
  for (size_t k = 0; k < NELEM(frames); k++) {
    if (body_size(&frames[k]) >= 4096) continue;
    wire_frame_t f;
    const char *why = NULL;
    long r = wire_frame_decode(p + pos, b.len - pos, MAX_FRAME, &f, &why);
    CHECK(r == (long)(WIRE_HEADER + body_size(&frames[k])));
    CHECK(r > 0 && f.op == frames[k].op && f.id == frames[k].id);
    if (r <= 0) break;
    pos += (size_t)r;
    seen++;
  }
  CHECK(seen == n && pos == b.len);
  free(p);
  buf_free(&b);
}

CASE(op_names) {
  static const struct {
    int op;
    const char *name;
  } t[] = {
      {WIRE_HELLO, "hello"},
      {WIRE_CREATE_PUBLISHER, "create_publisher"},
      {WIRE_CREATE_SUBSCRIBER, "create_subscriber"},
      {WIRE_CREATE_TOPIC, "create_topic"},
      {WIRE_DELETE_TOPIC, "delete_topic"},
      {WIRE_PUBLISH, "publish"},
      {WIRE_SUBSCRIBE, "subscribe"},
      {WIRE_PULL, "pull"},
      {WIRE_STOP_NODE, "stop_node"},
      {WIRE_STATS, "stats"},
      {0, NULL},
      {WIRE_OP_MAX, NULL},
      {200, NULL},
      {255, NULL},
      {-1, NULL},
  };
  for (size_t i = 0; i < NELEM(t); i++) {
    const char *got = wire_op_name(t[i].op);
    CHECK(t[i].name ? got && strcmp(got, t[i].name) == 0 : got == NULL);
  }
}

/* ---- prefixes ----------------------------------------------------------- */

/* Prefix lengths worth checking of a total-byte frame: all of them for
 * small frames; for large ones the first and last 300 and 64 between. */
static bool wanted_prefix(size_t n, size_t total) {
  if (total <= 4096 || n < 300 || total - n <= 300) return true;
  return n % (total / 64 + 1) == 0;
}

CASE(every_strict_prefix_needs_more) {
  fill_payloads();
  for (size_t k = 0; k < NELEM(frames); k++) {
    buf_t b = BUF_INIT;
    CHECK(build(&b, &frames[k]) == 0);
    for (size_t n = 0; n < b.len; n++) {
      if (!wanted_prefix(n, b.len)) continue;
      char *p = exact_copy(b.data, n);
      wire_frame_t f, before;
      memset(&f, 0xa5, sizeof f);
      before = f;
      const char *why = NULL;
      long r = wire_frame_decode(p, n, MAX_FRAME, &f, &why);
      if (r != 0)
        printf("# %s: prefix %zu of %zu gave %ld (%s)\n", frames[k].label, n,
               b.len, r, why ? why : "");
      CHECK(r == 0);
      CHECK(why == NULL);
      CHECK(memcmp(&f, &before, sizeof f) == 0); /* untouched */
      free(p);
    }
    buf_free(&b);
  }
}

/* Every strict prefix of a body fails in the field the cut falls in, and
 * every get after that fails too; never reads past the cut. */
CASE(every_strict_body_prefix_names_the_cut_field) {
  fill_payloads();
  for (size_t k = 0; k < NELEM(frames); k++) {
    const frame_spec_t *s = &frames[k];
    buf_t b = BUF_INIT;
    CHECK(build(&b, s) == 0);
    const char *body = b.data + WIRE_HEADER;
    size_t body_len = b.len - WIRE_HEADER, nf = n_fields(s);
    for (size_t cut = 0; cut < body_len; cut++) {
      if (!wanted_prefix(cut, body_len)) continue;
      /* The field whose bytes the cut splits. */
      size_t end = 0, want = nf;
      for (size_t i = 0; i < nf; i++) {
        end += field_size(&s->f[i]);
        if (end > cut) {
          want = i;
          break;
        }
      }
      CHECK(want < nf);
      if (want >= nf) break;
      char *p = exact_copy(body, cut);
      wire_reader_t r;
      wire_reader_init(&r, p, cut);
      for (size_t i = 0; i < nf; i++) {
        int got = get_field(&r, &s->f[i]);
        CHECK(i < want ? got == 1 : got == -1);
      }
      CHECK(r.bad && strcmp(r.bad, s->f[want].name) == 0);
      CHECK(r.p >= p && r.p <= p + cut);
      CHECK(!wire_reader_done(&r) && strcmp(r.bad, s->f[want].name) == 0);
      free(p);
    }
    buf_free(&b);
  }
}

/* ---- header errors ------------------------------------------------------ */

CASE(header_errors) {
  static const struct {
    const char *label;
    uint32_t len;
    int version; /* -1: the bytes stop before the version */
    size_t n;    /* bytes given (header bytes then zeros) */
    size_t max_frame;
    long want;
    const char *why; /* a word the reason must hold, or NULL */
  } t[] = {
      {"length 0", 0, HS_WIRE_VERSION, 12, 1024, HS_EPROTOCOL, "shorter"},
      {"length 0, 4 bytes", 0, -1, 4, 1024, HS_EPROTOCOL, "shorter"},
      {"length 7", 7, HS_WIRE_VERSION, 12, 1024, HS_EPROTOCOL, "shorter"},
      {"length 7 bad version", 7, 9, 12, 1024, HS_EPROTOCOL, "shorter"},
      {"length 8 empty body", 8, HS_WIRE_VERSION, 12, 1024, 12, NULL},
      {"length 8, 11 bytes", 8, HS_WIRE_VERSION, 11, 1024, 0, NULL},
      {"3 bytes", 0, -1, 3, 1024, 0, NULL},
      {"at the limit", 1020, HS_WIRE_VERSION, 1024, 1024, 1024, NULL},
      {"at the limit, need more", 1020, HS_WIRE_VERSION, 100, 1024, 0, NULL},
      {"one over the limit", 1021, HS_WIRE_VERSION, 12, 1024, HS_ETOO_LARGE, "limit"},
      {"over the limit, 4 bytes", 1021, -1, 4, 1024, HS_ETOO_LARGE, "limit"},
      {"10 MB", 10000000, HS_WIRE_VERSION, 12, 1 << 20, HS_ETOO_LARGE, "limit"},
      {"u32 max", UINT32_MAX, HS_WIRE_VERSION, 12, 1 << 20, HS_ETOO_LARGE, "limit"},
      {"u32 max, no limit", UINT32_MAX, HS_WIRE_VERSION, 12, SIZE_MAX, 0, NULL},
      {"version 0", 8, 0, 12, 1024, HS_EPROTOCOL, "version"},
      {"version 1 (before auth)", 8, 1, 12, 1024, HS_EPROTOCOL, "version"},
      {"version 255", 8, 255, 12, 1024, HS_EPROTOCOL, "version"},
      {"bad version, 5 bytes", 100, 3, 5, 1024, HS_EPROTOCOL, "version"},
      {"bad version beats need more", 1000, 0, 6, 1024, HS_EPROTOCOL, "version"},
      {"oversize beats bad version", 5000, 7, 12, 1024, HS_ETOO_LARGE, "limit"},
  };
  for (size_t i = 0; i < NELEM(t); i++) {
    char *p = calloc(1, t[i].n);
    char hdr[5];
    memcpy(hdr, &t[i].len, 4);
    hdr[4] = (char)(t[i].version < 0 ? 0 : t[i].version);
    memcpy(p, hdr, t[i].n < 5 ? t[i].n : (t[i].version < 0 ? 4 : 5));
    wire_frame_t f;
    const char *why = NULL;
    long r = wire_frame_decode(p, t[i].n, t[i].max_frame, &f, &why);
    if (r != t[i].want)
      printf("# %s: got %ld want %ld\n", t[i].label, r, t[i].want);
    CHECK(r == t[i].want);
    if (t[i].why)
      CHECK(why && strstr(why, t[i].why));
    else
      CHECK(why == NULL);
    if (r > 0) CHECK(f.body == p + WIRE_HEADER && f.body_len == (size_t)r - 12);
    free(p);
  }
}

/* ---- the reader ---------------------------------------------------------- */

CASE(reader_truncated_fields) {
  static const struct {
    const char *label;
    const char *bytes;
    size_t n;
    ftype_t type;
  } t[] = {
      {"str8 empty input", "", 0, STR8},
      {"str8 length past the end", "\x05" "abc", 4, STR8},
      {"str8 255 with 254", NULL, 255, STR8}, /* bytes built below */
      {"str16 empty input", "", 0, STR16},
      {"str16 half a length", "\x01", 1, STR16},
      {"str16 length past the end", "\x00\x01" "0123456789", 12, STR16},
      {"bytes32 empty input", "", 0, BYTES32},
      {"bytes32 3-byte length", "\x01\x00\x00", 3, BYTES32},
      {"bytes32 length past the end", "\x05\x00\x00\x00" "abcd", 8, BYTES32},
      {"bytes32 length u32 max", "\xff\xff\xff\xff" "abcd", 8, BYTES32},
      {"u64 with 7 bytes", "1234567", 7, U64},
      {"u64 empty", "", 0, U64},
      {"u32 with 3 bytes", "123", 3, U32},
      {"u16 with 1 byte", "1", 1, U16},
      {"u8 empty", "", 0, U8},
  };
  char s255[255];
  s255[0] = (char)255;
  memset(s255 + 1, 'a', sizeof s255 - 1);
  for (size_t i = 0; i < NELEM(t); i++) {
    const char *src = t[i].bytes ? t[i].bytes : s255;
    char *p = exact_copy(src, t[i].n);
    wire_reader_t r;
    wire_reader_init(&r, p, t[i].n);
    field_t f = {t[i].type, "the_field", 0, NULL, 0};
    CHECK(get_field(&r, &f) == -1);
    CHECK(r.bad && strcmp(r.bad, "the_field") == 0);
    CHECK(r.p >= p && r.p <= p + t[i].n);
    /* Later gets keep failing, even ones that would fit, and the first
     * failure stays the one named. */
    uint8_t v8;
    const char *s;
    size_t n;
    wire_reader_t again = r;
    again.p = p; /* bytes are left: a u8 would fit */
    CHECK(!wire_get_u8(&again, "later", &v8));
    CHECK(!wire_get_str8(&r, "later", &s, &n));
    CHECK(!wire_get_bytes32(&r, "later", &s, &n));
    CHECK(strcmp(r.bad, "the_field") == 0 && strcmp(again.bad, "the_field") == 0);
    CHECK(!wire_reader_done(&r) && strcmp(r.bad, "the_field") == 0);
    free(p);
  }
}

CASE(reader_points_into_the_frame) {
  static const char body[] = "\x03" "abc" "\x02\x00" "de" "\x01\x00\x00\x00" "f";
  char *p = exact_copy(body, sizeof body - 1);
  wire_reader_t r;
  wire_reader_init(&r, p, sizeof body - 1);
  const char *s;
  size_t n;
  CHECK(wire_get_str8(&r, "a", &s, &n) && s == p + 1 && n == 3);
  CHECK(wire_get_str16(&r, "b", &s, &n) && s == p + 6 && n == 2);
  CHECK(wire_get_bytes32(&r, "c", &s, &n) && s == p + 12 && n == 1);
  CHECK(r.p == r.end && wire_reader_done(&r));
  free(p);
}

CASE(reader_done) {
  char *p = exact_copy("\x01\x02\x03", 3);
  wire_reader_t r;
  uint8_t v;
  uint16_t v16;

  /* Nothing to read: done at once. */
  wire_reader_init(&r, p, 0);
  CHECK(wire_reader_done(&r) && r.bad == NULL);

  /* No body at all (a reply made locally): done, a field fails cleanly
   * (under UBSan, NULL + 0 used to be the error). */
  wire_reader_init(&r, NULL, 0);
  CHECK(wire_reader_done(&r) && r.bad == NULL);
  CHECK(!wire_get_u8(&r, "a", &v) && strcmp(r.bad, "a") == 0);

  /* Bytes left after the last field. */
  wire_reader_init(&r, p, 3);
  CHECK(wire_get_u8(&r, "a", &v) && v == 1);
  CHECK(!wire_reader_done(&r));
  CHECK(r.bad && strcmp(r.bad, "trailing bytes") == 0);
  CHECK(!wire_get_u8(&r, "b", &v)); /* sticky */

  /* Every byte read. */
  wire_reader_init(&r, p, 3);
  CHECK(wire_get_u8(&r, "a", &v) && wire_get_u16(&r, "b", &v16));
  CHECK(v16 == 0x0302 && wire_reader_done(&r) && r.bad == NULL);

  /* A failure is not turned into "trailing bytes". */
  wire_reader_init(&r, p, 3);
  uint64_t v64;
  CHECK(!wire_get_u64(&r, "big", &v64));
  CHECK(!wire_reader_done(&r) && strcmp(r.bad, "big") == 0);
  free(p);
}

/* ---- names -------------------------------------------------------------- */

CASE(name_check) {
  char n255[256], n256[257];
  memset(n255, 'a', 255);
  n255[255] = 0;
  memset(n256, 'b', 256);
  n256[256] = 0;
  static const char printable[] =
      "!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`"
      "abcdefghijklmnopqrstuvwxyz{|}~";
  const struct {
    const char *s;
    size_t n;
    int want;
  } t[] = {
      {"", 0, HS_EINVALID},
      {n255, 255, 0},
      {n256, 256, HS_EINVALID},
      {"a", 1, 0},
      {"a b", 3, HS_EINVALID},
      {" ", 1, HS_EINVALID},
      {"a\"b", 3, HS_EINVALID},
      {"a\\b", 3, HS_EINVALID},
      {"a\x7f", 2, HS_EINVALID},
      {"a\0b", 3, HS_EINVALID},
      {"\x80", 1, HS_EINVALID},
      {"a\xff", 2, HS_EINVALID},
      {"a\tb", 3, HS_EINVALID},
      {"a\nb", 3, HS_EINVALID},
      {"\x1f", 1, HS_EINVALID},
      {"a.b-c_d:e/f@g", 13, 0},
      {"!", 1, 0},
      {"~", 1, 0},
      {printable, sizeof printable - 1, 0},
  };
  for (size_t i = 0; i < NELEM(t); i++) {
    char *p = exact_copy(t[i].s, t[i].n);
    int got = wire_name_check(p, t[i].n);
    if (got != t[i].want) printf("# name case %zu: got %d\n", i, got);
    CHECK(got == t[i].want);
    free(p);
  }
  /* Every single byte: valid exactly when 0x21..0x7e other than " and \. */
  for (int c = 0; c < 256; c++) {
    char ch = (char)c;
    bool valid = c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
    CHECK(wire_name_check(&ch, 1) == (valid ? 0 : HS_EINVALID));
  }
}

/* ---- random input --------------------------------------------------------- */

static uint32_t rnd(void) {
  return ((uint32_t)rand() << 16) ^ (uint32_t)rand();
}

CASE(random_frames_never_crash) {
  srand(20240601);
  size_t decoded = 0, errors = 0, fields_read = 0;
  for (int it = 0; it < 100000; it++) {
    size_t n = rnd() % 8 == 0 ? rnd() % 2048 : rnd() % 64;
    char *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) p[i] = (char)rnd();
    /* Half the time a plausible header, so bodies get read. */
    if (n >= 5 && rnd() % 2) {
      uint32_t len = rnd() % 4 ? (uint32_t)(n - 4) - rnd() % 3
                               : (uint32_t)(rnd() % (n + 8));
      memcpy(p, &len, 4);
      if (rnd() % 8) p[4] = HS_WIRE_VERSION;
    }
    size_t max_frame = rnd() % 4 ? MAX_FRAME : rnd() % 128;
    wire_frame_t f;
    const char *why = NULL;
    long r = wire_frame_decode(p, n, max_frame, &f, &why);
    CHECK(r == 0 || r == HS_EPROTOCOL || r == HS_ETOO_LARGE || r > 0);
    if (r < 0) {
      errors++;
      CHECK(why != NULL);
    }
    if (r > 0) {
      decoded++;
      CHECK((size_t)r <= n && (size_t)r >= WIRE_HEADER);
      CHECK((size_t)r <= max_frame);
      CHECK(f.body == p + WIRE_HEADER && f.body_len == (size_t)r - WIRE_HEADER);
      wire_reader_t rd;
      wire_reader_init(&rd, f.body, f.body_len);
      int steps = (int)(rnd() % 12);
      bool failed = false;
      for (int k = 0; k < steps; k++) {
        uint8_t v8;
        uint16_t v16;
        uint32_t v32;
        uint64_t v64;
        const char *s = NULL;
        size_t sn = 0;
        bool ok = false;
        switch (rnd() % 7) {
          case 0: ok = wire_get_u8(&rd, "u8", &v8); break;
          case 1: ok = wire_get_u16(&rd, "u16", &v16); break;
          case 2: ok = wire_get_u32(&rd, "u32", &v32); break;
          case 3: ok = wire_get_u64(&rd, "u64", &v64); break;
          case 4: ok = wire_get_str8(&rd, "str8", &s, &sn); break;
          case 5: ok = wire_get_str16(&rd, "str16", &s, &sn); break;
          case 6: ok = wire_get_bytes32(&rd, "bytes32", &s, &sn); break;
        }
        CHECK(!(ok && failed)); /* never succeeds after a failure */
        if (ok && s) {
          CHECK(s >= f.body && s + sn <= f.body + f.body_len);
          /* Touch every byte so ASan sees a bad range. */
          volatile char sink = 0;
          for (size_t q = 0; q < sn; q++) sink ^= s[q];
          (void)sink;
        }
        if (ok) fields_read++;
        if (!ok) {
          failed = true;
          CHECK(rd.bad != NULL);
        }
        CHECK(rd.p >= f.body && rd.p <= rd.end);
      }
      bool done = wire_reader_done(&rd);
      CHECK(done == (!failed && rd.p == rd.end));
      CHECK(done || rd.bad != NULL);
    }
    free(p);
  }
  printf("# random: %zu decoded, %zu errors, %zu fields read\n", decoded,
         errors, fields_read);
  /* The generator must reach the interesting paths. */
  CHECK(decoded > 10000 && errors > 10000 && fields_read > 10000);
}

/* ---- error replies and failed frames -------------------------------------- */

CASE(put_error_round_trip) {
  fill_payloads();
  static char long_msg[70000];
  memset(long_msg, 'm', sizeof long_msg);
  const struct {
    uint8_t op;
    uint32_t id;
    int code;
    const char *msg;
    size_t len, want_len;
  } t[] = {
      {WIRE_PUBLISH, 7, HS_ENO_TOPIC, "topic \"x\" does not exist", 25, 25},
      {WIRE_HELLO, 0, HS_EDENIED, "", 0, 0},
      {0, UINT32_MAX, HS_EPROTOCOL, "bad frame: x", 12, 12},
      {200, 1, HS_EINVALID, "unknown op 200", 14, 14},
      {WIRE_PULL, 3, HS_EIO, msg65535, 65535, 65535},
      {WIRE_PULL, 4, HS_ETOO_LARGE, long_msg, sizeof long_msg, 65535},
  };
  for (size_t i = 0; i < NELEM(t); i++) {
    buf_t b = BUF_INIT;
    CHECK(buf_append(&b, "junk", 4) == 0); /* frames append after content */
    CHECK(wire_put_error(&b, t[i].op, t[i].id, t[i].code, t[i].msg,
                         t[i].len) == 0);
    char *p = exact_copy(b.data + 4, b.len - 4);
    wire_frame_t f;
    const char *why = NULL;
    long r = wire_frame_decode(p, b.len - 4, MAX_FRAME, &f, &why);
    CHECK(r == (long)(b.len - 4));
    CHECK(f.op == t[i].op && f.id == t[i].id &&
          f.flags == (WIRE_F_REPLY | WIRE_F_ERROR));
    wire_reader_t rd;
    wire_reader_init(&rd, f.body, f.body_len);
    uint16_t code = 0;
    const char *m;
    size_t mn;
    CHECK(wire_get_u16(&rd, "code", &code) && code == -t[i].code);
    CHECK(wire_get_str16(&rd, "message", &m, &mn) && mn == t[i].want_len);
    CHECK(mn == 0 || memcmp(m, t[i].msg, mn) == 0);
    CHECK(wire_reader_done(&rd));
    CHECK(memcmp(b.data, "junk", 4) == 0);
    free(p);
    buf_free(&b);
  }
}

CASE(end_with_error_drops_the_partial_frame) {
  buf_t b = BUF_INIT;
  /* A finished frame before: it must survive. */
  CHECK(build(&b, &frames[0]) == 0);
  size_t start = b.len;
  char *before = exact_copy(b.data, b.len);

  wire_writer_t w;
  wire_begin(&w, &b, WIRE_PUBLISH, 0, 9);
  wire_put_str8(&w, "p1", 2);
  CHECK(w.err == 0 && b.len > start);
  /* A put that cannot be sized fails the writer without touching memory. */
  wire_put(&w, "x", SIZE_MAX);
  CHECK(w.err == HS_ENOMEM);
  wire_put_u64(&w, 1); /* ignored once failed */
  CHECK(wire_end(&w) == HS_ENOMEM);
  CHECK(b.len == start && memcmp(b.data, before, start) == 0);

  /* Setting err by hand does the same. */
  wire_begin(&w, &b, WIRE_STATS, 0, 10);
  wire_put_bytes32(&w, "abc", 3);
  w.err = HS_ENOMEM;
  CHECK(wire_end(&w) == HS_ENOMEM && b.len == start);

  /* The next frame goes where the dropped one was, and decodes. */
  wire_begin(&w, &b, WIRE_STATS, 0, 11);
  CHECK(wire_end(&w) == 0 && b.len == start + WIRE_HEADER);
  wire_frame_t f;
  const char *why = NULL;
  CHECK(wire_frame_decode(b.data, b.len, MAX_FRAME, &f, &why) ==
        (long)start);
  CHECK(wire_frame_decode(b.data + start, b.len - start, MAX_FRAME, &f,
                          &why) == WIRE_HEADER);
  CHECK(f.op == WIRE_STATS && f.id == 11 && f.body_len == 0);
  free(before);
  buf_free(&b);
}

int main(void) {
  RUN(round_trip_every_frame);
  RUN(header_layout_is_little_endian);
  RUN(frames_back_to_back);
  RUN(op_names);
  RUN(every_strict_prefix_needs_more);
  RUN(every_strict_body_prefix_names_the_cut_field);
  RUN(header_errors);
  RUN(reader_truncated_fields);
  RUN(reader_points_into_the_frame);
  RUN(reader_done);
  RUN(name_check);
  RUN(random_frames_never_crash);
  RUN(put_error_round_trip);
  RUN(end_with_error_drops_the_partial_frame);
  UNIT_EXIT();
}
