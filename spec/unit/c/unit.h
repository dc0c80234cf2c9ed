/* unit — the smallest test harness: each CASE prints "ok <name>" or
 * "not ok <name>: <file>:<line>: <expr>"; main returns non-zero on any
 * failure. spec/unit/c_spec.lua turns every line into a busted case. */
#ifndef HS_UNIT_H
#define HS_UNIT_H

#include <stdio.h>
#include <stdlib.h>

static int unit_failed_total;
static int unit_case_failed;

#define CHECK(expr)                                                       \
  do {                                                                    \
    if (!(expr) && !unit_case_failed) {                                   \
      unit_case_failed = 1;                                               \
      printf("not ok %s: %s:%d: %s\n", unit_case_name, __FILE__, __LINE__, \
             #expr);                                                      \
    }                                                                     \
  } while (0)

#define CASE(name)                                     \
  static void unit_case_##name(const char *unit_case_name)

#define RUN(name)                                      \
  do {                                                 \
    unit_case_failed = 0;                              \
    unit_case_##name(#name);                           \
    if (unit_case_failed)                              \
      unit_failed_total++;                             \
    else                                               \
      printf("ok %s\n", #name);                        \
    fflush(stdout);                                    \
  } while (0)

#define UNIT_EXIT() return unit_failed_total ? 1 : 0

#endif
