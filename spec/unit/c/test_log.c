/* log: text and JSON lines, escaping, level filtering, the hook, level
 * names and the rate limiter. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "unit.h"

/* A log writing to a fresh file under /tmp. */
typedef struct fixture {
  log_t lg;
  char path[64];
} fixture_t;

static int fixture_open(fixture_t *fx, int64_t node, hs_log_format_t fmt) {
  strcpy(fx->path, "/tmp/hs_test_log_XXXXXX");
  int fd = mkstemp(fx->path);
  if (fd < 0) return -1;
  close(fd);
  log_init(&fx->lg, node);
  fx->lg.format = fmt;
  return log_open(&fx->lg, fx->path);
}

/* Everything written so far (the file stays open); caller frees. */
static char *fixture_read(fixture_t *fx) {
  fflush(fx->lg.file);
  FILE *f = fopen(fx->path, "rb");
  if (!f) return NULL;
  char *s = calloc(1, 65536);
  size_t n = fread(s, 1, 65535, f);
  s[n] = 0;
  fclose(f);
  return s;
}

static void fixture_close(fixture_t *fx) {
  log_close(&fx->lg);
  unlink(fx->path);
}

static int count_char(const char *s, char c) {
  int n = 0;
  for (; *s; s++) n += *s == c;
  return n;
}

/* "2026-11-24T14:00:00.123Z" */
static int iso_shape(const char *s) {
  const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";
  for (size_t i = 0; pat[i]; i++) {
    if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
      return 0;
  }
  return 1;
}

CASE(text_line_shape) {
  fixture_t fx;
  CHECK(fixture_open(&fx, 0, HS_LOG_TEXT) == 0);
  CHECK(fx.lg.file != stderr && fx.lg.owns_file);
  LOG(&fx.lg, HS_LOG_INFO, "store", "topic_created", LF_STR("topic", "news"),
      LF_UINT("offset", 5), LF_INT("delta", -3));
  char *s = fixture_read(&fx);
  CHECK(s != NULL);
  CHECK(iso_shape(s));
  CHECK(strcmp(s + 24,
               " INFO  node=0 store: topic_created topic=\"news\" offset=5 "
               "delta=-3\n") == 0);
  CHECK(count_char(s, '\n') == 1);
  free(s);
  fixture_close(&fx);
  CHECK(fx.lg.file == stderr && !fx.lg.owns_file);
}

CASE(text_no_node_and_no_fields) {
  fixture_t fx;
  CHECK(fixture_open(&fx, -1, HS_LOG_TEXT) == 0);
  LOG(&fx.lg, HS_LOG_ERROR, "client", "gone");
  LOG(&fx.lg, HS_LOG_WARN, "client", "slow", LF_UINT("ms", 12));
  char *s = fixture_read(&fx);
  CHECK(iso_shape(s));
  CHECK(strncmp(s + 24, " ERROR client: gone\n", 20) == 0);
  char *second = strchr(s, '\n') + 1;
  CHECK(iso_shape(second));
  CHECK(strcmp(second + 24, " WARN  client: slow ms=12\n") == 0);
  CHECK(strstr(s, "node=") == NULL);
  free(s);
  fixture_close(&fx);
}

CASE(text_escaping) {
  fixture_t fx;
  CHECK(fixture_open(&fx, 3, HS_LOG_TEXT) == 0);
  const char raw[] = "a\"b\\c\nd\re\tf\x01g\x7f\xff";
  LOG(&fx.lg, HS_LOG_WARN, "conn", "bad_frame",
      LF_STRN("prefix", raw, sizeof raw - 1));
  char *s = fixture_read(&fx);
  CHECK(strstr(s, " prefix=\"a\\\"b\\\\c\\nd\\re\\tf\\x01g\\x7f\\xff\"\n") !=
        NULL);
  CHECK(count_char(s, '\n') == 1);
  free(s);
  fixture_close(&fx);
}

CASE(level_filtering) {
  fixture_t fx;
  CHECK(fixture_open(&fx, 0, HS_LOG_TEXT) == 0);
  CHECK(!log_enabled(&fx.lg, HS_LOG_DEBUG));
  CHECK(log_enabled(&fx.lg, HS_LOG_INFO));
  LOG(&fx.lg, HS_LOG_DEBUG, "x", "dropped");
  log_emit(&fx.lg, HS_LOG_DEBUG, "x", "dropped_direct", NULL, 0);
  LOG(&fx.lg, HS_LOG_INFO, "x", "kept");
  fx.lg.level = HS_LOG_OFF;
  LOG(&fx.lg, HS_LOG_ERROR, "x", "off");
  fx.lg.level = HS_LOG_DEBUG;
  LOG(&fx.lg, HS_LOG_DEBUG, "x", "debug_now");
  char *s = fixture_read(&fx);
  CHECK(strstr(s, "dropped") == NULL);
  CHECK(strstr(s, "x: kept\n") != NULL);
  CHECK(strstr(s, "off") == NULL);
  CHECK(strstr(s, " DEBUG node=0 x: debug_now\n") != NULL);
  CHECK(count_char(s, '\n') == 2);
  free(s);
  fixture_close(&fx);
}

CASE(json_line) {
  fixture_t fx;
  CHECK(fixture_open(&fx, 0, HS_LOG_JSON) == 0);
  const char raw[] = "q\"b\\\n\x01\x7f\xc3\xa9";
  LOG(&fx.lg, HS_LOG_INFO, "store", "topic_created", LF_STR("topic", "news"),
      LF_UINT("offset", 5), LF_INT("delta", -7),
      LF_STRN("raw", raw, sizeof raw - 1));
  char *s = fixture_read(&fx);
  CHECK(strncmp(s, "{\"time\":\"", 9) == 0);
  CHECK(iso_shape(s + 9));
  CHECK(strcmp(s + 9 + 24,
               "\",\"level\":\"info\",\"node\":0,\"component\":\"store\","
               "\"event\":\"topic_created\",\"topic\":\"news\",\"offset\":5,"
               "\"delta\":-7,\"raw\":\"q\\\"b\\\\\\n\\u0001\\u007f\\u00c3"
               "\\u00a9\"}\n") == 0);
  for (const char *p = s; *p; p++) CHECK((unsigned char)*p < 0x80);
  free(s);
  fixture_close(&fx);
}

CASE(json_no_node) {
  fixture_t fx;
  CHECK(fixture_open(&fx, -1, HS_LOG_JSON) == 0);
  LOG(&fx.lg, HS_LOG_ERROR, "client", "gone");
  char *s = fixture_read(&fx);
  CHECK(strcmp(s + 9 + 24,
               "\",\"level\":\"error\",\"component\":\"client\","
               "\"event\":\"gone\"}\n") == 0);
  free(s);
  fixture_close(&fx);
}

CASE(long_line_truncated) {
  fixture_t fx;
  CHECK(fixture_open(&fx, 0, HS_LOG_JSON) == 0);
  char *big = malloc(5000);
  memset(big, '"', 5000);
  LOG(&fx.lg, HS_LOG_INFO, "c", "big", LF_STRN("v", big, 5000),
      LF_UINT("after", 1));
  fx.lg.format = HS_LOG_TEXT;
  memset(big, 'x', 5000);
  LOG(&fx.lg, HS_LOG_INFO, "c", "big", LF_UINT("before", 1),
      LF_STRN("v", big, 5000));
  char *s = fixture_read(&fx);
  char *nl = strchr(s, '\n');
  CHECK(nl && nl - s < 2048);
  CHECK(strncmp(nl - 21, "\\\"\",\"truncated\":true}", 21) == 0);
  CHECK(strstr(s, "after") == NULL);
  char *line2 = nl + 1;
  char *nl2 = strchr(line2, '\n');
  CHECK(nl2 && nl2 - line2 < 2048 && nl2[1] == 0);
  CHECK(strstr(line2, " before=1 v=\"xxx") != NULL);
  CHECK(strncmp(nl2 - 14, "x\" truncated=1", 14) == 0);
  free(s);
  free(big);
  fixture_close(&fx);
}

typedef struct seen {
  int calls;
  hs_log_event_t ev;
  int ok_fields;
} seen_t;

static void hook(const hs_log_event_t *ev, void *ud) {
  seen_t *sn = ud;
  sn->calls++;
  sn->ev = *ev;
  sn->ok_fields =
      ev->n_fields == 3 && strcmp(ev->fields[0].key, "topic") == 0 &&
      ev->fields[0].type == HS_FIELD_STR && ev->fields[0].n == 4 &&
      memcmp(ev->fields[0].s, "news", 4) == 0 &&
      strcmp(ev->fields[1].key, "offset") == 0 &&
      ev->fields[1].type == HS_FIELD_UINT && ev->fields[1].u == 5 &&
      strcmp(ev->fields[2].key, "delta") == 0 &&
      ev->fields[2].type == HS_FIELD_INT && ev->fields[2].i == -2;
}

CASE(hook_receives_event) {
  fixture_t fx;
  seen_t sn = {0};
  CHECK(fixture_open(&fx, 7, HS_LOG_TEXT) == 0);
  fx.lg.hook = hook;
  fx.lg.hook_ud = &sn;
  fx.lg.hook_level = HS_LOG_DEBUG;
  CHECK(log_enabled(&fx.lg, HS_LOG_DEBUG));
  uint64_t before = log_now_ms();
  LOG(&fx.lg, HS_LOG_DEBUG, "store", "topic_created", LF_STR("topic", "news"),
      LF_UINT("offset", 5), LF_INT("delta", -2));
  uint64_t after = log_now_ms();
  CHECK(sn.calls == 1);
  CHECK(sn.ok_fields);
  CHECK(sn.ev.level == HS_LOG_DEBUG);
  CHECK(sn.ev.node == 7);
  CHECK(strcmp(sn.ev.component, "store") == 0);
  CHECK(strcmp(sn.ev.event, "topic_created") == 0);
  CHECK(sn.ev.time_ms >= before && sn.ev.time_ms <= after);
  char *s = fixture_read(&fx);
  CHECK(s[0] == 0); /* the line was filtered out at INFO */
  free(s);

  fx.lg.hook_level = HS_LOG_WARN;
  LOG(&fx.lg, HS_LOG_INFO, "store", "x");
  CHECK(sn.calls == 1); /* below the hook's level */
  s = fixture_read(&fx);
  CHECK(strstr(s, "store: x\n") != NULL);
  free(s);
  LOG(&fx.lg, HS_LOG_ERROR, "store", "y");
  CHECK(sn.calls == 2 && sn.ev.n_fields == 0 && sn.ev.level == HS_LOG_ERROR);
  fixture_close(&fx);
}

CASE(level_names) {
  const char *names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = HS_LOG_DEBUG; i <= HS_LOG_OFF; i++) {
    CHECK(strcmp(hs_log_level_name((hs_log_level_t)i), names[i]) == 0);
    CHECK(hs_log_level_parse(names[i]) == i);
    CHECK(hs_log_level_parse(hs_log_level_name((hs_log_level_t)i)) == i);
  }
  CHECK(hs_log_level_parse("INFO") == HS_LOG_INFO);
  CHECK(hs_log_level_parse("verbose") == -1);
  CHECK(hs_log_level_parse("") == -1);
  CHECK(hs_log_level_parse(NULL) == -1);
}

CASE(open_fails) {
  log_t lg;
  log_init(&lg, 0);
  CHECK(lg.level == HS_LOG_INFO && lg.format == HS_LOG_TEXT);
  CHECK(lg.file == stderr && !lg.owns_file && lg.hook == NULL);
  CHECK(log_open(&lg, "/nonexistent_dir_hs/x.log") == HS_EIO);
  CHECK(lg.file == stderr && !lg.owns_file);
  log_close(&lg);
  CHECK(lg.file == stderr);
}

CASE(limit_burst_and_suppressed) {
  log_limit_t l = LOG_LIMIT_INIT(3);
  uint32_t sup = 99;
  uint64_t t = 1000000;
  CHECK(log_limit_allow(&l, t, &sup) && sup == 0);
  CHECK(log_limit_allow(&l, t + 10, &sup) && sup == 0);
  CHECK(log_limit_allow(&l, t + 20, &sup) && sup == 0);
  for (int i = 0; i < 5; i++) CHECK(!log_limit_allow(&l, t + 500, &sup));
  CHECK(!log_limit_allow(&l, t + 999, &sup));
  /* a new window: the first allowed event reports 6 suppressed */
  CHECK(log_limit_allow(&l, t + 1000, &sup) && sup == 6);
  CHECK(log_limit_allow(&l, t + 1001, &sup) && sup == 0);
  CHECK(log_limit_allow(&l, t + 1002, &sup) && sup == 0);
  CHECK(!log_limit_allow(&l, t + 1003, &sup));
  /* after a quiet spell */
  CHECK(log_limit_allow(&l, t + 60000, &sup) && sup == 1);
  CHECK(log_limit_allow(&l, t + 60001, &sup) && sup == 0);
  /* burst 0 allows nothing */
  log_limit_t none = LOG_LIMIT_INIT(0);
  CHECK(!log_limit_allow(&none, t, &sup));
  CHECK(!log_limit_allow(&none, t + 5000, &sup));
}

CASE(now_ms_is_wall_clock) {
  uint64_t now = log_now_ms();
  CHECK(now > 1600000000000ull);  /* after 2020 */
  CHECK(now < 4102444800000ull);  /* before 2100 */
}

int main(void) {
  RUN(text_line_shape);
  RUN(text_no_node_and_no_fields);
  RUN(text_escaping);
  RUN(level_filtering);
  RUN(json_line);
  RUN(json_no_node);
  RUN(long_line_truncated);
  RUN(hook_receives_event);
  RUN(level_names);
  RUN(open_fails);
  RUN(limit_burst_and_suppressed);
  RUN(now_ms_is_wall_clock);
  UNIT_EXIT();
}
