/* users — who may use a node with users: each user's password verifier,
 * the topics it may publish and subscribe to, whether it may run the node. */
#ifndef HS_USERS_H
#define HS_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "hypersub.h"
#include "net/auth.h"

typedef struct patterns {
  char **list;
  size_t n;
} patterns_t;

typedef struct user {
  char *name;
  size_t name_len;
  auth_verifier_t verifier;
  patterns_t publish_allow, publish_deny, subscribe_allow, subscribe_deny;
  bool admin;
} user_t;

typedef struct users {
  user_t *list;
  size_t n;
} users_t;

/* Copies the configured users; a bad verifier, a name outside the name
 * rules, a user twice or a bad pattern is HS_EINVALID with why. */
int users_init(users_t *u, const hs_user_t *cfg, size_t n, char *why,
               size_t why_len);
void users_free(users_t *u);
const user_t *users_find(const users_t *u, const char *name, size_t n);

/* NATS-style: '.'-separated tokens, '*' one token, '>' one or more at the
 * end. */
bool pattern_match(const char *pattern, const char *topic, size_t n);
/* Allowed by the allow list (empty: all) and not denied. */
bool user_may_publish(const user_t *u, const char *topic, size_t n);
bool user_may_subscribe(const user_t *u, const char *topic, size_t n);

#endif
