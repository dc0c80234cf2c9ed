/* log — one line per event, built on the stack and written with one fwrite.
 * A line longer than the buffer is cut at a field boundary (or inside a
 * string, which is then closed) and marked truncated, so it stays one valid
 * text or JSON line. */
#include "core/log.h"

#include <inttypes.h>
#include <strings.h>
#include <time.h>

#define LOG_LINE_MAX 2048
#define LOG_TAIL 48 /* kept free for closing a cut line */

static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          "off"};
static const char *const level_text[] = {"DEBUG", "INFO ", "WARN ", "ERROR",
                                         "OFF  "};

HS_API const char *hs_log_level_name(hs_log_level_t level) {
  if ((unsigned)level > HS_LOG_OFF) return "unknown";
  return level_names[level];
}

HS_API int hs_log_level_parse(const char *name) {
  if (!name) return -1;
  for (int i = 0; i <= HS_LOG_OFF; i++)
    if (strcasecmp(name, level_names[i]) == 0) return i;
  return -1;
}

void log_init(log_t *lg, int64_t node) {
  memset(lg, 0, sizeof *lg);
  lg->level = HS_LOG_INFO;
  lg->format = HS_LOG_TEXT;
  lg->file = stderr;
  lg->owns_file = false;
  lg->node = node;
  lg->hook = NULL;
  lg->hook_ud = NULL;
  lg->hook_level = HS_LOG_OFF;
}

int log_open(log_t *lg, const char *path) {
  if (!path) return HS_EIO;
  FILE *f = fopen(path, "a");
  if (!f) return HS_EIO;
  setvbuf(f, NULL, _IOLBF, 0);
  log_close(lg);
  lg->file = f;
  lg->owns_file = true;
  return 0;
}

void log_close(log_t *lg) {
  if (lg->owns_file && lg->file) fclose(lg->file);
  lg->file = stderr;
  lg->owns_file = false;
}

/* ---- the line buffer ---------------------------------------------------- */
typedef struct line {
  char *p;
  size_t len;
  size_t lim; /* ordinary writes stop here; the tail is for closers */
  size_t cap;
  bool full;
} line_t;

/* All or nothing; once full, every later put fails too. */
static bool put(line_t *l, const char *s, size_t n) {
  if (l->full || n > l->lim - l->len) {
    l->full = true;
    return false;
  }
  memcpy(l->p + l->len, s, n);
  l->len += n;
  return true;
}

static bool puts_(line_t *l, const char *s) { return put(l, s, strlen(s)); }

/* Into the reserved tail: only for closing quotes, braces and the newline. */
static void force(line_t *l, const char *s) {
  size_t n = strlen(s);
  if (n > l->cap - l->len) n = l->cap - l->len;
  memcpy(l->p + l->len, s, n);
  l->len += n;
}

static bool put_i64(line_t *l, int64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
  return put(l, tmp, (size_t)n);
}

static bool put_u64(line_t *l, uint64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
  return put(l, tmp, (size_t)n);
}

/* Escapes s[0..n) one unit at a time; stops (full) at the first unit that
 * does not fit. */
static bool put_escaped(line_t *l, const char *s, size_t n, bool json) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[6];
    size_t k;
    switch (c) {
    case '"':
      k = 2, esc[0] = '\\', esc[1] = '"';
      break;
    case '\\':
      k = 2, esc[0] = '\\', esc[1] = '\\';
      break;
    case '\n':
      k = 2, esc[0] = '\\', esc[1] = 'n';
      break;
    case '\r':
      k = 2, esc[0] = '\\', esc[1] = 'r';
      break;
    case '\t':
      k = 2, esc[0] = '\\', esc[1] = 't';
      break;
    default:
      if (c >= 0x20 && c < 0x7f) {
        k = 1, esc[0] = (char)c;
      } else if (json) {
        k = 6, esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0',
        esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
      } else {
        k = 4, esc[0] = '\\', esc[1] = 'x', esc[2] = hex[c >> 4],
        esc[3] = hex[c & 15];
      }
    }
    if (!put(l, esc, k)) return false;
  }
  return true;
}

/* "s" escaped; a cut string still gets its closing quote. */
static bool put_quoted(line_t *l, const char *s, size_t n, bool json) {
  if (!put(l, "\"", 1)) return false;
  bool ok = put_escaped(l, s, n, json);
  force(l, "\"");
  return ok;
}

/* One field; returns false when the line is full. A field that did not
 * start to fit is removed whole. */
static bool put_field(line_t *l, const hs_log_field_t *f, bool json) {
  size_t mark = l->len;
  const char *key = f->key ? f->key : "";
  bool ok;
  if (json) {
    ok = put(l, ",", 1) && put_quoted(l, key, strlen(key), true) &&
         put(l, ":", 1);
  } else {
    ok = put(l, " ", 1) && put_escaped(l, key, strlen(key), false) &&
         put(l, "=", 1);
  }
  if (!ok) {
    l->len = mark;
    return false;
  }
  switch (f->type) {
  case HS_FIELD_STR:
    if (l->len + 1 > l->lim) break; /* not even the opening quote */
    return put_quoted(l, f->s ? f->s : "", f->s ? f->n : 0, json);
  case HS_FIELD_INT:
    if (put_i64(l, f->i)) return true;
    break;
  case HS_FIELD_UINT:
    if (put_u64(l, f->u)) return true;
    break;
  default:
    if (json ? put(l, "null", 4) : put(l, "?", 1)) return true;
    break;
  }
  l->len = mark;
  l->full = true;
  return false;
}

static void put_time(line_t *l, uint64_t ms) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  char tmp[40];
  int n;
  if (gmtime_r(&secs, &tm))
    n = snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
  else
    n = snprintf(tmp, sizeof tmp, "1970-01-01T00:00:00.000Z");
  put(l, tmp, (size_t)n);
}

static void format_text(line_t *l, const hs_log_event_t *ev) {
  put_time(l, ev->time_ms);
  put(l, " ", 1);
  puts_(l, level_text[ev->level]);
  if (ev->node >= 0) {
    puts_(l, " node=");
    put_i64(l, ev->node);
  }
  put(l, " ", 1);
  put_escaped(l, ev->component, strlen(ev->component), false);
  puts_(l, ": ");
  put_escaped(l, ev->event, strlen(ev->event), false);
  for (size_t i = 0; i < ev->n_fields && !l->full; i++)
    put_field(l, &ev->fields[i], false);
  if (l->full) force(l, " truncated=1");
  force(l, "\n");
}

static void format_json(line_t *l, const hs_log_event_t *ev) {
  puts_(l, "{\"time\":\"");
  put_time(l, ev->time_ms);
  puts_(l, "\",\"level\":\"");
  puts_(l, level_names[ev->level]);
  put(l, "\"", 1);
  if (ev->node >= 0) {
    puts_(l, ",\"node\":");
    put_i64(l, ev->node);
  }
  /* The header is short; if even it is cut, the line is closed as is. */
  if (!l->full) {
    hs_log_field_t comp = LF_STR("component", ev->component);
    hs_log_field_t name = LF_STR("event", ev->event);
    if (put_field(l, &comp, true)) put_field(l, &name, true);
  }
  for (size_t i = 0; i < ev->n_fields && !l->full; i++)
    put_field(l, &ev->fields[i], true);
  if (l->full) force(l, ",\"truncated\":true");
  force(l, "}\n");
}

void log_emit(log_t *lg, hs_log_level_t level, const char *component,
              const char *event, const hs_log_field_t *fields, size_t n) {
  if ((unsigned)level >= HS_LOG_OFF) return;
  bool to_line = level >= lg->level;
  bool to_hook = lg->hook && level >= lg->hook_level;
  if (!to_line && !to_hook) return;

  hs_log_event_t ev = {
      .time_ms = log_now_ms(),
      .level = level,
      .node = lg->node,
      .component = component ? component : "",
      .event = event ? event : "",
      .fields = n ? fields : NULL,
      .n_fields = fields ? n : 0,
  };

  if (to_line && lg->file) {
    char buf[LOG_LINE_MAX];
    line_t l = {buf, 0, sizeof buf - LOG_TAIL, sizeof buf, false};
    if (lg->format == HS_LOG_JSON)
      format_json(&l, &ev);
    else
      format_text(&l, &ev);
    fwrite(buf, 1, l.len, lg->file);
  }
  if (to_hook) lg->hook(&ev, lg->hook_ud);
}

bool log_limit_allow(log_limit_t *l, uint64_t now_ms, uint32_t *suppressed) {
  if (now_ms < l->window_ms || now_ms - l->window_ms >= 1000) {
    l->window_ms = now_ms;
    l->count = 0;
  }
  if (l->count < l->burst) {
    l->count++;
    if (suppressed) *suppressed = l->suppressed;
    l->suppressed = 0;
    return true;
  }
  if (l->suppressed < UINT32_MAX) l->suppressed++;
  return false;
}

uint64_t log_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
