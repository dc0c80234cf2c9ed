/* users — the users table and topic permissions (users.h says the rules). */
#include "node/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/wire.h"

/* A pattern is tokens of name characters, '*', or a final '>'. */
static bool pattern_ok(const char *p) {
  size_t n = strlen(p);
  if (n == 0 || n > HS_NAME_MAX || wire_name_check(p, n)) return false;
  for (const char *t = p; t;) {
    const char *dot = strchr(t, '.');
    size_t len = dot ? (size_t)(dot - t) : strlen(t);
    if (len == 0) return false;
    if (memchr(t, '>', len) && (len != 1 || dot)) return false;
    if (memchr(t, '*', len) && len != 1) return false;
    t = dot ? dot + 1 : NULL;
  }
  return true;
}

bool pattern_match(const char *pattern, const char *topic, size_t n) {
  const char *p = pattern, *t = topic, *end = topic + n;
  for (;;) {
    const char *pd = strchr(p, '.');
    size_t pl = pd ? (size_t)(pd - p) : strlen(p);
    if (t > end) return false;
    const char *td = memchr(t, '.', (size_t)(end - t));
    size_t tl = td ? (size_t)(td - t) : (size_t)(end - t);
    if (pl == 1 && *p == '>') return tl > 0;
    if (pl == 1 && *p == '*' ? tl == 0 : pl != tl || memcmp(p, t, pl))
      return false;
    if (!pd || !td) return !pd && !td;
    p = pd + 1;
    t = td + 1;
  }
}

static bool any(const patterns_t *ps, const char *topic, size_t n) {
  for (size_t i = 0; i < ps->n; i++)
    if (pattern_match(ps->list[i], topic, n)) return true;
  return false;
}

static bool allowed(const patterns_t *allow, const patterns_t *deny,
                    const char *topic, size_t n) {
  return (allow->n == 0 || any(allow, topic, n)) && !any(deny, topic, n);
}

bool user_may_publish(const user_t *u, const char *topic, size_t n) {
  return allowed(&u->publish_allow, &u->publish_deny, topic, n);
}

bool user_may_subscribe(const user_t *u, const char *topic, size_t n) {
  return allowed(&u->subscribe_allow, &u->subscribe_deny, topic, n);
}

const user_t *users_find(const users_t *u, const char *name, size_t n) {
  for (size_t i = 0; i < u->n; i++)
    if (u->list[i].name_len == n && !memcmp(u->list[i].name, name, n))
      return &u->list[i];
  return NULL;
}

static void patterns_free(patterns_t *ps) {
  for (size_t i = 0; i < ps->n; i++) free(ps->list[i]);
  free(ps->list);
  ps->list = NULL;
  ps->n = 0;
}

static int patterns_copy(patterns_t *ps, const char *const *src, size_t n,
                         const char *user, char *why, size_t why_len) {
  if (n && !(ps->list = calloc(n, sizeof *ps->list))) return HS_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (!src[i] || !pattern_ok(src[i])) {
      snprintf(why, why_len, "user \"%s\": \"%s\" is not a topic pattern",
               user, src[i] ? src[i] : "(null)");
      return HS_EINVALID;
    }
    if (!(ps->list[i] = strdup(src[i]))) return HS_ENOMEM;
    ps->n++;
  }
  return 0;
}

static int user_copy(user_t *u, const hs_user_t *c, char *why, size_t why_len) {
  if (!c->name || wire_name_check(c->name, strlen(c->name))) {
    snprintf(why, why_len, "a user's name must follow the name rules");
    return HS_EINVALID;
  }
  if (!c->password || auth_verifier_parse(c->password, &u->verifier)) {
    snprintf(why, why_len,
             "user \"%s\": the password must be what `hypersub passwd` "
             "prints",
             c->name);
    return HS_EINVALID;
  }
  if (!(u->name = strdup(c->name))) return HS_ENOMEM;
  u->name_len = strlen(c->name);
  u->admin = c->admin != 0;
  int rc;
  if ((rc = patterns_copy(&u->publish_allow, c->publish_allow,
                          c->n_publish_allow, c->name, why, why_len)) ||
      (rc = patterns_copy(&u->publish_deny, c->publish_deny, c->n_publish_deny,
                          c->name, why, why_len)) ||
      (rc = patterns_copy(&u->subscribe_allow, c->subscribe_allow,
                          c->n_subscribe_allow, c->name, why, why_len)))
    return rc;
  return patterns_copy(&u->subscribe_deny, c->subscribe_deny,
                       c->n_subscribe_deny, c->name, why, why_len);
}

int users_init(users_t *u, const hs_user_t *cfg, size_t n, char *why,
               size_t why_len) {
  memset(u, 0, sizeof *u);
  if (!n) return 0;
  if (!(u->list = calloc(n, sizeof *u->list))) return HS_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (cfg[i].name && users_find(u, cfg[i].name, strlen(cfg[i].name))) {
      snprintf(why, why_len, "user \"%s\" is configured twice", cfg[i].name);
      return HS_EINVALID;
    }
    u->n++;
    int rc = user_copy(&u->list[i], &cfg[i], why, why_len);
    if (rc) return rc;
  }
  return 0;
}

void users_free(users_t *u) {
  for (size_t i = 0; i < u->n; i++) {
    user_t *x = &u->list[i];
    free(x->name);
    patterns_free(&x->publish_allow);
    patterns_free(&x->publish_deny);
    patterns_free(&x->subscribe_allow);
    patterns_free(&x->subscribe_deny);
  }
  free(u->list);
  memset(u, 0, sizeof *u);
}
