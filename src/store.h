/* store — per-topic append-only logs with dense offsets from 0, subscriber
 * cursors, and the registry of publishers and subscribers.
 *
 * A topic's log is a list of large chunks; records are appended into the
 * last chunk, so appending costs no malloc except when a chunk fills.
 * Reading is by offset range through an iterator that points into the
 * chunks (no copy). Retention drops whole chunks from the front. Offsets are
 * never reused: after retention the first offset is > 0. */
#ifndef HS_STORE_H
#define HS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"

typedef struct store_chunk store_chunk_t;
typedef struct store_topic store_topic_t;

typedef struct store_limits {
  uint64_t retain_messages; /* per topic; 0 keeps all */
  uint64_t retain_bytes;    /* per topic payload bytes; 0 keeps all */
  uint64_t retain_ms;       /* per topic message age; 0 keeps all */
  size_t chunk_size;        /* bytes per chunk; default 1 MiB */
} store_limits_t;

typedef struct store {
  store_limits_t limits;
  map_t topics;      /* name -> store_topic_t* */
  map_t publishers;  /* id -> (void*)1 */
  map_t subscribers; /* id -> (void*)1 */
  uint64_t messages; /* retained, all topics */
  uint64_t bytes;    /* retained payload bytes, all topics */
} store_t;

/* A record as read: every pointer is into the chunk, valid until the next
 * store call that changes the topic. */
typedef struct store_msg {
  uint64_t offset;
  uint64_t time_ms;
  const char *publisher;
  size_t publisher_len;
  const char *data;
  size_t len;
} store_msg_t;

struct store_topic {
  char *name; /* NUL-terminated copy */
  size_t name_len;
  char *owner; /* creating publisher, NUL-terminated copy */
  size_t owner_len;
  uint64_t first; /* offset of the oldest retained record */
  uint64_t next;  /* offset the next append gets */
  uint64_t bytes; /* retained payload bytes */
  store_chunk_t *head, *tail;
  map_t cursors;  /* subscriber id -> store_cursor_t* */
  void *waiters;  /* the node's long-poll waiters; the store never reads it */
  void *repl;     /* the node's replication state; the store never reads it */
};

typedef struct store_cursor {
  uint64_t next; /* the next offset this subscriber will pull */
} store_cursor_t;

void store_init(store_t *s, const store_limits_t *limits); /* NULL: defaults */
void store_free(store_t *s);

/* Registrations. 0, HS_EEXISTS or HS_ENOMEM. */
int store_publisher_create(store_t *s, const char *id, size_t n);
bool store_publisher_exists(const store_t *s, const char *id, size_t n);
int store_subscriber_create(store_t *s, const char *id, size_t n);
bool store_subscriber_exists(const store_t *s, const char *id, size_t n);

/* 0, HS_EEXISTS or HS_ENOMEM; *out gets the topic when given. */
int store_topic_create(store_t *s, const char *name, size_t n,
                       const char *owner, size_t owner_len,
                       store_topic_t **out);
store_topic_t *store_topic_find(const store_t *s, const char *name, size_t n);
/* Frees the topic, its records and its cursors. The caller must have dealt
 * with t->waiters first. */
void store_topic_delete(store_t *s, store_topic_t *t);

/* Appends one record at t->next; *offset gets it. The payload and the
 * publisher id are copied once, into the log. Applies retention, which
 * drops whole chunks and never the newest one, so it is approximate by up
 * to one chunk. 0, HS_ENOMEM, or HS_ETOO_LARGE when len > UINT32_MAX or
 * publisher_len > 255 (the record header's field widths). */
int store_append(store_t *s, store_topic_t *t, uint64_t time_ms,
                 const char *publisher, size_t publisher_len,
                 const void *data, size_t len, uint64_t *offset);

/* Reading from an offset on: an offset below t->first starts at t->first. */
typedef struct store_iter {
  const store_topic_t *t;
  const store_chunk_t *chunk;
  size_t pos;      /* byte position in chunk */
  uint64_t offset; /* offset of the record at pos */
} store_iter_t;

void store_iter_init(store_iter_t *it, const store_topic_t *t, uint64_t from);
/* Fills *m with the next record; false at the end of the log. */
bool store_iter_next(store_iter_t *it, store_msg_t *m);

/* Cursors. store_subscribe creates the cursor at `next` (clamped to
 * [first, next]) or, when one exists, keeps it and returns 0 too.
 * 0 or HS_ENOMEM. */
int store_subscribe(store_topic_t *t, const char *sid, size_t n,
                    uint64_t next);
/* NULL when the subscriber is not subscribed to t. */
store_cursor_t *store_cursor(const store_topic_t *t, const char *sid,
                             size_t n);

/* Applies age retention to every topic (the node calls it on a timer):
 * drops front chunks whose newest record is older than now - retain_ms,
 * never a topic's last chunk. */
void store_expire(store_t *s, uint64_t now_ms);

#endif
