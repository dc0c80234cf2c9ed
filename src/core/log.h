/* log — structured events: one line each, text or JSON, to stderr or a
 * file, plus an optional hook that receives the event as a structure.
 * LOG() tests the level before it builds anything. */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hypersub.h"

typedef struct log {
  hs_log_level_t level;
  hs_log_format_t format;
  FILE *file; /* stderr unless log_open set a file */
  bool owns_file;
  int64_t node; /* printed as node=<id>; -1 prints nothing */
  hs_log_hook_cb hook;
  void *hook_ud;
  hs_log_level_t hook_level;
} log_t;

/* Starts at HS_LOG_INFO, text, stderr, no hook. */
void log_init(log_t *lg, int64_t node);
/* Appends to `path` instead of stderr. 0 or HS_EIO. */
int log_open(log_t *lg, const char *path);
void log_close(log_t *lg);

static inline bool log_enabled(const log_t *lg, hs_log_level_t level) {
  return level >= lg->level || (lg->hook && level >= lg->hook_level);
}

void log_emit(log_t *lg, hs_log_level_t level, const char *component,
              const char *event, const hs_log_field_t *fields, size_t n);

/* LOG(lg, HS_LOG_INFO, "store", "topic_created", LF_STR("topic", name)) */
#define LOG(lg, lvl, comp, ev, ...)                                         \
  do {                                                                      \
    if (log_enabled((lg), (lvl))) {                                         \
      const hs_log_field_t log_f_[] = {{0}, ##__VA_ARGS__};                 \
      log_emit((lg), (lvl), (comp), (ev), log_f_ + 1,                       \
               sizeof log_f_ / sizeof log_f_[0] - 1);                       \
    }                                                                       \
  } while (0)

#define LF_STRN(k, v, len) \
  ((hs_log_field_t){.key = (k), .type = HS_FIELD_STR, .s = (v), .n = (len)})
#define LF_STR(k, v) LF_STRN(k, v, strlen(v))
#define LF_INT(k, v) \
  ((hs_log_field_t){.key = (k), .type = HS_FIELD_INT, .i = (int64_t)(v)})
#define LF_UINT(k, v) \
  ((hs_log_field_t){.key = (k), .type = HS_FIELD_UINT, .u = (uint64_t)(v)})
/* A short prefix of untrusted bytes: they are escaped when printed. */
#define LF_PREFIX(k, v, len) LF_STRN(k, v, (len) < 32 ? (len) : 32)

/* For events a peer can trigger: at most `burst` per second; the first
 * event after a quiet spell reports how many were suppressed. */
typedef struct log_limit {
  uint64_t window_ms;
  uint32_t count;
  uint32_t suppressed;
  uint32_t burst;
} log_limit_t;

#define LOG_LIMIT_INIT(burst) {0, 0, 0, (burst)}

/* True when the event may be logged now; *suppressed gets the count of
 * events dropped since the last one that was logged. */
bool log_limit_allow(log_limit_t *l, uint64_t now_ms, uint32_t *suppressed);

/* Wall-clock milliseconds since the epoch. */
uint64_t log_now_ms(void);

#endif
