/* req — a request this node is waiting on another node for: a request
 * forwarded along the cube, an identity lookup, a part of a listing, a
 * claim for a pull served from a copy, a publish waiting for its
 * replicas, a leave waiting for its hand-overs.
 *
 * Each carries its own `done` callback (the next node answered, or the
 * link failed) and, attached to the connection whose client waits, is
 * orphaned when that connection closes (`orphaned` says what that means
 * for it). Requests come from a pool, so forwarding allocates nothing. */
#ifndef HS_REQ_H
#define HS_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "disk/disk.h"
#include "hypersub.h"
#include "net/link.h"
#include "repl/repl.h"

typedef struct req req_t;
struct node_conn;

/* A subscriber and topic as the wire has them (str8, str8): who pulls
 * what, to give messages back or release parked pulls. */
typedef struct req_key {
  uint16_t len;
  char bytes[2 + 2 * HS_NAME_MAX];
} req_key_t;

struct req {
  struct hs_node *node;
  struct node_conn *nc; /* where the answer goes; NULL once orphaned */
  req_t **head;         /* the list it is attached to, or NULL */
  req_t *prev, *next;   /* that list, or the pool's free list */
  uint32_t id;          /* the request id on nc */
  uint8_t op;           /* the op its answer is given as */
  uint8_t hops;
  uint32_t next_hop;    /* where it went */
  uint32_t sent_id;     /* its request id on the link to next_hop */
  /* The next node's answer, or the link's failure (reply->frame NULL). */
  void (*done)(req_t *r, const link_reply_t *reply);
  /* Its connection closed (NULL: nothing to do but wait for done). */
  void (*orphaned)(req_t *r);
  union {
    req_key_t pull; /* a forwarded PULL or READ */
    struct {        /* an identity lookup: the request to run again */
      char *body;
      size_t len;
    } lookup;
    struct { /* a LIST_TOPICS gathering its parts */
      buf_t names;
      uint32_t remaining;
      int failed;
      uint32_t failed_node;
    } gather;
    struct { /* one member's part of a listing */
      req_t *gather;
      uint32_t target;
    } part;
    struct { /* a CLAIM for a pull this copy serves */
      req_key_t key;
      uint32_t max;
    } claim;
    repl_waiter_t publish; /* a publish waiting for its replicas */
    struct {               /* an answer waiting for the disk, the copies */
      disk_wait_t wait;
      repl_cursor_wait_t copies;
      int pending;         /* of the two */
      int status;          /* the first failure */
      buf_t frame;         /* the answer, as it will go out */
      uint64_t need;       /* the topic's synced offset it reports */
      uint8_t name_len;    /* 0: only the journal (no topic) */
      char name[HS_NAME_MAX];
    } held;
  } u;
};

typedef struct req_pool {
  req_t *free;
  size_t live; /* taken and not given back */
} req_pool_t;

/* A zeroed request (but for its payload), or NULL when out of memory. */
req_t *req_take(req_pool_t *p, struct hs_node *node);
/* Detaches it and puts it back. Its payload must be released first. */
void req_give(req_pool_t *p, req_t *r);
/* Its answer goes to nc, whose requests are the list at head. */
void req_attach(req_t *r, struct node_conn *nc, req_t **head);
void req_detach(req_t *r);
/* The connection of the list at head closed: every request on it loses
 * its connection and hears of it. */
void req_orphan_all(req_t **head);
/* Frees the pool's spare requests. */
void req_pool_free(req_pool_t *p);

/* The key of a subscriber and topic. */
void req_key_set(req_key_t *k, const char *sid, size_t sn, const char *topic,
                 size_t tn);
/* Its parts, pointing into the key. */
void req_key_parts(const req_key_t *k, const char **sid, size_t *sn,
                   const char **topic, size_t *tn);

#endif
