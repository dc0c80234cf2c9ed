/* store — per-topic append-only logs with dense offsets from 0, subscriber
 * cursors, and the registry of publishers and subscribers.
 *
 * A topic's log is a list of large chunks; records are appended into the
 * last chunk, so appending costs no malloc except when a chunk fills.
 * Reading is by offset range through an iterator that points into the
 * chunks (no copy); it finds its chunk by binary search over an index of
 * the chunks and its record from a mark every CHUNK_MARK_EVERY records. Retention drops whole chunks from the front. Offsets are
 * never reused: after retention the first offset is > 0. The exceptions are
 * store_truncate and store_topic_reset, with which a replica realigns its
 * copy to the home's log.
 *
 * A record may carry a producer id and sequence number; each topic remembers
 * the last seq of each producer so a retried publish is not stored twice
 * (store_dedup). */
#ifndef HS_STORE_H
#define HS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/map.h"

/* The files: topics.c (maps, cursors, registries), records.c (appends,
 * retention, truncation), chunk.c (the chunks and reading), dedup.c. */

typedef struct store_chunk store_chunk_t;
typedef struct store_topic store_topic_t;

/* What a journal is told of each change, to keep a copy of the store on
 * disk (the node's disk part installs them; unset: memory only). A chunk
 * is the unit on disk too: one file each. Called after the change. */
typedef struct store_hooks {
  void *ud;
  void (*topic_created)(void *ud, store_topic_t *t);
  void (*topic_deleted)(void *ud, store_topic_t *t); /* before it goes */
  /* A record went into chunk c at `offset`; rec is its bytes in c. */
  void (*appended)(void *ud, store_topic_t *t, const store_chunk_t *c,
                   uint64_t offset, const unsigned char *rec, size_t len);
  void (*chunk_dropped)(void *ud, store_topic_t *t, uint64_t first);
  void (*chunk_cut)(void *ud, store_topic_t *t, const store_chunk_t *c);
  void (*first_moved)(void *ud, store_topic_t *t); /* t->first changed */
  void (*identity)(void *ud, bool publisher, const char *id, size_t n);
  void (*cursor)(void *ud, store_topic_t *t, const char *sid, size_t n,
                 uint64_t next, uint64_t prev);
  void (*term)(void *ud, store_topic_t *t); /* a term began at t->next */
} store_hooks_t;

/* A topic's terms: each home that wrote to it wrote in a term of its own,
 * higher than any before; the records from `start` on are that term's
 * (until the next one starts). */
typedef struct store_term {
  uint64_t term, start;
} store_term_t;

typedef struct store_limits {
  uint64_t retain_messages; /* per topic; 0 keeps all */
  uint64_t retain_bytes;    /* per topic payload bytes; 0 keeps all */
  uint64_t retain_ms;       /* per topic message age; 0 keeps all */
  size_t chunk_size;        /* bytes per chunk; default 1 MiB */
} store_limits_t;

typedef struct store {
  store_limits_t limits;
  store_hooks_t hooks; /* all NULL: memory only */
  map_t topics;      /* name -> store_topic_t* */
  map_t publishers;  /* id -> (void*)1 */
  map_t subscribers; /* id -> (void*)1 */
  uint64_t messages; /* retained, all topics */
  uint64_t bytes;    /* retained payload bytes, all topics */
  uint64_t cursors;  /* subscriptions, all topics */
} store_t;

/* A record as read: every pointer is into the chunk, valid until the next
 * store call that changes the topic. */
typedef struct store_msg {
  uint64_t offset;
  uint64_t time_ms;
  uint64_t producer, seq; /* 0, 0: none */
  const char *publisher;
  size_t publisher_len;
  const char *data;
  size_t len;
} store_msg_t;

/* The dedup table holds at most this many producers per topic; a new one
 * past it evicts the producer whose last record is oldest. */
#define STORE_PRODUCERS_MAX 4096

/* How many seqs below its highest a producer's entry remembers one by one:
 * a retry within them that was never stored is told apart without reading
 * the log (retries after a failover come back out of order, and each would
 * otherwise walk tens of thousands of records). */
#define STORE_RECENT_SEQS 1024

/* A producer's dedup entry: its highest seq in the topic and that record's
 * offset (which retention may since have dropped). */
typedef struct store_producer {
  uint64_t seq, offset; /* its highest seq, and where that is */
  uint64_t tail;        /* its latest record (retries come out of order) */
  /* A ring: bit s % STORE_RECENT_SEQS says whether seq s was appended,
   * for the seqs above seq - STORE_RECENT_SEQS and from known_from on
   * (UINT64_MAX: for none, after a truncation rewrote the entry). */
  uint64_t known_from;
  uint64_t recent[STORE_RECENT_SEQS / 64];
} store_producer_t;

struct store_topic {
  char *name; /* NUL-terminated copy */
  size_t name_len;
  char *owner; /* creating publisher, NUL-terminated copy */
  size_t owner_len;
  uint64_t first; /* offset of the oldest retained record */
  uint64_t next;  /* offset the next append gets */
  uint64_t bytes; /* retained payload bytes */
  store_chunk_t *head, *tail;
  /* The same chunks, oldest first, as a ring of `index_cap` slots from
   * `index_at`: a read finds its chunk by binary search. */
  store_chunk_t **index;
  size_t index_cap, index_at, index_n;
  map_t cursors;  /* subscriber id -> store_cursor_t* */
  map_t producers; /* producer (8 bytes, host order) -> store_producer_t* */
  void *waiters;  /* the node's long-poll waiters; the store never reads it */
  void *repl;     /* the node's replication state; the store never reads it */
  void *disk;     /* the journal's state of it; the store never reads it */
  /* Offsets below this are on disk (a journal says so); next when the
   * store lives in memory only. */
  uint64_t synced;
  store_term_t *terms; /* oldest first; the last is the current term */
  size_t n_terms;
  uint64_t max_term;   /* the highest term it ever had (cut ones too) */
};

typedef struct store_cursor {
  uint64_t next; /* the next offset this subscriber will pull */
  uint64_t prev; /* where the last pull it answered began: a retry of that
                    pull may take those messages again (else next) */
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
/* Frees the topic, its records, cursors and dedup table. The caller must
 * have dealt with t->waiters first. */
void store_topic_delete(store_t *s, store_topic_t *t);

/* Appends one record at t->next; *offset gets it. The payload and the
 * publisher id are copied once, into the log. Applies retention, which
 * drops whole chunks and never the newest one, so it is approximate by up
 * to one chunk. 0, HS_ENOMEM, or HS_ETOO_LARGE when len > UINT32_MAX or
 * publisher_len > 255 (the record header's field widths). */
int store_append(store_t *s, store_topic_t *t, uint64_t time_ms,
                 const char *publisher, size_t publisher_len,
                 const void *data, size_t len, uint64_t *offset);

/* store_append with a producer id and sequence number stored in the record
 * (store_append is this with 0, 0). With producer != 0 the producer's dedup
 * entry becomes (seq, offset) when seq is above its last one, or when the
 * producer is new to the topic: that costs one malloc, and past
 * STORE_PRODUCERS_MAX evicts the entry with the oldest offset. The store
 * does not check for duplicates itself: call store_dedup first. */
int store_append_seq(store_t *s, store_topic_t *t, uint64_t time_ms,
                     const char *publisher, size_t publisher_len,
                     uint64_t producer, uint64_t seq, const void *data,
                     size_t len, uint64_t *offset);

/* Appends a record given in the store's own layout, as a journal kept it
 * (lengths checked). 0, HS_EINVALID (not a record) or HS_ENOMEM. */
int store_append_raw(store_t *s, store_topic_t *t, const unsigned char *rec,
                     size_t len);
/* The next append starts a new chunk: a journal's files are chunks. */
void store_seal(store_topic_t *t);

/* True when (producer, seq) is already in t: producer != 0 and either seq
 * is the last seq recorded for it, or a record with exactly that (producer,
 * seq) is still retained (retries of several publishes can arrive out of
 * order, so a lower seq may be new). When true and offset is given,
 * *offset gets that record's offset, or UINT64_MAX for the last seq whose
 * record retention dropped. An older seq is looked for backwards from the
 * last one's record; a retry of the last seq is found without a scan. A
 * seq whose record retention dropped, or of an evicted producer, is not
 * known: false (it would be stored again). */
bool store_dedup(const store_topic_t *t, uint64_t producer, uint64_t seq,
                 uint64_t *offset);

/* Removes every record at offset >= next; afterwards t->next == next and
 * t->first == min(t->first, next), so truncating to or below t->first
 * empties the log (no chunks) and moves both to next. A no-op when
 * next >= t->next. Counts stay exact, emptied chunks are freed, cursors
 * above next move down to it, and each producer whose last seq was removed
 * gets back its last remaining one, or is forgotten when none is left (a
 * removed seq is then no dup). Producers whose records retention dropped
 * before are kept. Iterators and store_msg_t pointers into t are invalid
 * afterwards. Needs no memory, so it returns 0; an int for the callers'
 * uniform error checks. */
int store_truncate(store_t *s, store_topic_t *t, uint64_t next);

/* Drops every record and the dedup table and sets t->first = t->next =
 * first, for a replica whose copy restarts at the home's first offset or a
 * copy that starts mid-log; appends continue at first. Every cursor moves
 * to first (there is nothing else to point at). Iterators and store_msg_t
 * pointers into t are invalid afterwards. */
void store_topic_reset(store_t *s, store_topic_t *t, uint64_t first);

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
int store_subscribe(store_t *s, store_topic_t *t, const char *sid, size_t n,
                    uint64_t next);
/* NULL when the subscriber is not subscribed to t. */
store_cursor_t *store_cursor(const store_topic_t *t, const char *sid,
                             size_t n);
/* Moves a subscriber's cursor (it must exist): the way every cursor
 * change goes, so a journal hears of it. store_cursor_set is any move (no
 * pull to retry); store_cursor_pulled a pull's answer (prev becomes where
 * it began); store_cursor_restore both as a copy or a journal had them. */
void store_cursor_set(store_t *s, store_topic_t *t, const char *sid, size_t n,
                      uint64_t next);
void store_cursor_pulled(store_t *s, store_topic_t *t, const char *sid,
                         size_t n, uint64_t next);
void store_cursor_restore(store_t *s, store_topic_t *t, const char *sid,
                          size_t n, uint64_t next, uint64_t prev);

/* The topic's current term (0 before any). */
static inline uint64_t store_term(const store_topic_t *t) {
  return t->n_terms ? t->terms[t->n_terms - 1].term : 0;
}
/* The term of the record at `offset` (0 when before every term). */
uint64_t store_term_at(const store_topic_t *t, uint64_t offset);
/* Starts `term` at t->next when it is above the current one. 0 or
 * HS_ENOMEM. */
int store_term_begin(store_t *s, store_topic_t *t, uint64_t term);
/* Where `term` ends in t: the start of the first later term, or t->next. */
uint64_t store_term_end(const store_topic_t *t, uint64_t term);

/* Applies age retention to every topic (the node calls it on a timer):
 * drops front chunks whose newest record is older than now - retain_ms,
 * never a topic's last chunk. */
void store_expire(store_t *s, uint64_t now_ms);

#endif
