/* chunk — what the store's files share: a topic's log as a list of large
 * chunks of records, and the dedup table's entries. Internal to store.
 *
 * A record in a chunk is, unaligned (read and written with memcpy):
 *   u64 time_ms | u64 producer | u64 seq | u32 payload length |
 *   u8 publisher length | publisher bytes | payload bytes
 * (producer and seq are 0 when the publish carried none).
 * Chunks form a list head <-> tail; appends go into the tail and only a full
 * tail costs a malloc. Retention frees whole chunks from the front and never
 * the tail, so limits are approximate by up to one chunk and a topic with
 * records always keeps at least its newest one. A chunk is never empty:
 * truncation frees a chunk it empties, so a topic may have no chunks while
 * first == next > 0. The back links serve truncation and dedup lookups,
 * which work from the newest end. */
#ifndef HS_CHUNK_H
#define HS_CHUNK_H

#include "store/store.h"

#define STORE_CHUNK_DEFAULT ((size_t)1 << 20)
#define STORE_REC_HEAD (8 + 8 + 8 + 4 + 1)
/* Every this many records a chunk notes where the record begins, so a
 * read starting at an offset steps over fewer than this many headers. */
#define CHUNK_MARK_EVERY 32

struct store_chunk {
  store_chunk_t *next, *prev;
  uint64_t first;    /* offset of the first record */
  uint64_t count;    /* records in the chunk */
  uint64_t bytes;    /* payload bytes of those records */
  uint64_t max_time; /* newest time_ms, for age retention */
  size_t size;       /* capacity of data */
  size_t used;       /* bytes of data written */
  size_t *marks;     /* marks[i]: where record i * CHUNK_MARK_EVERY begins
                        (in the same allocation, after data) */
  size_t marks_cap;
  unsigned char data[];
};

/* A chunk with room for `need` bytes whose first record will be `first`;
 * not linked yet. NULL when out of memory. */
store_chunk_t *chunk_new(const store_t *s, size_t need, uint64_t first);
/* Room in the topic's index for one more chunk; false when out of memory
 * (nothing changed). */
bool chunk_index_reserve(store_topic_t *t);
/* Links c after the tail, and indexes it (room reserved). */
void chunk_link(store_topic_t *t, store_chunk_t *c);
/* Notes where the record about to be appended begins, when it is one of
 * every CHUNK_MARK_EVERY (call before count and used move past it). */
void chunk_mark(store_chunk_t *c);
/* Takes a chunk's records out of every count and frees it. */
void chunk_free(store_t *s, store_topic_t *t, store_chunk_t *c);
/* Unlinks and frees the head chunk; first moves past its records. */
void chunk_drop_head(store_t *s, store_topic_t *t);
/* Unlinks and frees the tail chunk; the caller sets next. */
void chunk_drop_tail(store_t *s, store_topic_t *t);
/* Reads the record at pos (into m when given); returns its total size. */
size_t chunk_read(const store_chunk_t *c, size_t pos, store_msg_t *m);

/* dedup.c: the producer's entry, made when missing (NULL out of memory). */
store_producer_t *dedup_entry(store_topic_t *t, uint64_t producer);
/* Notes that the producer's `seq` was appended at `offset`. */
void dedup_note(store_producer_t *e, uint64_t seq, uint64_t offset);
void dedup_free(store_topic_t *t);
/* After a truncation to `next`: entries past it take their producer's last
 * remaining record, or go. */
void dedup_cut(store_topic_t *t, uint64_t next);

#endif
