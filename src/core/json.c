/* json — a streaming writer; a string is escaped as RFC 8259 asks (quote,
 * backslash and control characters), other bytes pass through. */
#include "core/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hypersub.h"

void json_init(json_t *j, buf_t *b) {
  memset(j, 0, sizeof *j);
  j->b = b;
  j->start = b->len;
  j->first[0] = true;
}

static void put(json_t *j, const char *s, size_t n) {
  if (!j->err && buf_append(j->b, s, n)) j->err = HS_ENOMEM;
}

static void put_escaped(json_t *j, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t run = 0; /* bytes copied as they are, written in one go */
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      run++;
      continue;
    }
    put(j, s + i - run, run);
    run = 0;
    char esc[6] = {'\\', (char)c};
    size_t k = 2;
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      k = 6;
    } else if (c == '\n') {
      esc[1] = 'n';
    } else if (c == '\t') {
      esc[1] = 't';
    } else if (c == '\r') {
      esc[1] = 'r';
    }
    put(j, esc, k);
  }
  put(j, s + n - run, run);
}

/* The comma and key before a value. */
static void lead(json_t *j, const char *key) {
  if (!j->first[j->depth]) put(j, ",", 1);
  j->first[j->depth] = false;
  if (!key) return;
  put(j, "\"", 1);
  put(j, key, strlen(key));
  put(j, "\":", 2);
}

static void push(json_t *j, const char *open) {
  put(j, open, 1);
  if (j->depth + 1 >= JSON_DEPTH_MAX) {
    j->err = HS_ENOMEM;
    return;
  }
  j->first[++j->depth] = true;
}

static void pop(json_t *j, const char *close) {
  put(j, close, 1);
  if (j->depth > 0) j->depth--;
}

void json_open(json_t *j, const char *key) {
  lead(j, key);
  push(j, "{");
}

void json_key_open(json_t *j, const char *s, size_t n) {
  if (!j->first[j->depth]) put(j, ",", 1);
  j->first[j->depth] = false;
  put(j, "\"", 1);
  put_escaped(j, s, n);
  put(j, "\":", 2);
  push(j, "{");
}

void json_close(json_t *j) { pop(j, "}"); }

void json_open_list(json_t *j, const char *key) {
  lead(j, key);
  push(j, "[");
}

void json_close_list(json_t *j) { pop(j, "]"); }

void json_u64(json_t *j, const char *key, uint64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
  lead(j, key);
  put(j, tmp, (size_t)n);
}

void json_i64(json_t *j, const char *key, int64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
  lead(j, key);
  put(j, tmp, (size_t)n);
}

void json_bool(json_t *j, const char *key, bool v) {
  lead(j, key);
  put(j, v ? "true" : "false", v ? 4 : 5);
}

void json_str(json_t *j, const char *key, const char *s, size_t n) {
  lead(j, key);
  put(j, "\"", 1);
  put_escaped(j, s, n);
  put(j, "\"", 1);
}

int json_end(json_t *j) {
  if (j->err) j->b->len = j->start;
  return j->err;
}
