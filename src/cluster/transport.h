/* transport — how membership reaches the other members, whatever carries
 * it: the node's peer links, or the in-process transport of simnet.h on a
 * clock of its own. Health and spread send encoded bodies through it and
 * hear each answer once, by the tag they gave. */
#ifndef HS_TRANSPORT_H
#define HS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request's outcome. */
typedef struct cluster_reply {
  int status;       /* 0, or an HS_E* (an error answer, a timeout, a drop) */
  bool gone;        /* the member's port refused connections twice in a row:
                       its process is gone */
  bool closing;     /* this node is closing: release, act on nothing */
  const char *body; /* the answer's body when status is 0 */
  size_t len;
} cluster_reply_t;

typedef void (*cluster_reply_fn)(void *ud, uint64_t tag, uint32_t from,
                                 const cluster_reply_t *r);

typedef struct cluster_net {
  /* Sends op with `body` to member `to`; cb hears the answer (or the
   * failure) later, never inside this call. timeout_ms 0: the carrier's
   * own. 0, or an error (cb will not be called). */
  int (*send)(void *ud, uint32_t to, uint8_t op, const char *body, size_t len,
              uint32_t timeout_ms, cluster_reply_fn cb, void *cb_ud,
              uint64_t tag);
  /* Milliseconds on a clock that only moves forward. */
  uint64_t (*now)(void *ud);
  void *ud;
} cluster_net_t;

static inline uint64_t cluster_net_now(const cluster_net_t *n) {
  return n->now(n->ud);
}

#endif
