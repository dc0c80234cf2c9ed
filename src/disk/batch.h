/* batch — the file operations of one group commit: built on the loop,
 * run in order on a worker thread (plain system calls), then looked at on
 * the loop again. Writes to one file in a batch are one write and, when
 * asked, one fdatasync: that is the group commit. An operation that fails
 * cancels the later ones of the same owner (a topic, or the journal), so
 * a file never gets a hole; the failed and cancelled ones can be run again
 * in the next batch. */
#ifndef HS_DISK_BATCH_H
#define HS_DISK_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/map.h"

typedef enum {
  OP_WRITE,    /* append data (creating the file), then fdatasync if sync */
  OP_TRUNCATE, /* cut the file to len bytes (fdatasync if sync) */
  OP_UNLINK,   /* remove the file (gone already is fine) */
  OP_MKDIR,    /* make the directory (there already is fine) */
  OP_RMTREE,   /* remove the directory and the files in it */
  OP_REPLACE,  /* write data to path.tmp, fdatasync, rename over path */
  OP_SYNC_DIR, /* fsync the directory: names made or removed in it stay */
  OP_FSYNC     /* fdatasync the file (gone already is fine) */
} disk_op_kind_t;

typedef struct disk_op {
  disk_op_kind_t kind;
  char *path;
  buf_t data;
  uint64_t len;
  void *owner; /* who the operation is for: errors are told per owner */
  bool sync;
  int err;     /* after running: 0, an errno, or ECANCELED */
} disk_op_t;

typedef struct batch {
  disk_op_t *ops;
  size_t n, cap;
  map_t last_write; /* path -> index + 1 of its last op, when a write */
  size_t bytes;     /* of data to write */
} batch_t;

void batch_init(batch_t *b);
void batch_free(batch_t *b);
bool batch_empty(const batch_t *b);
/* Appends bytes to path's write in this batch (a new one when the last
 * operation on path is not a write). 0 or HS_ENOMEM. */
int batch_write(batch_t *b, void *owner, const char *path, const void *p,
                size_t n, bool sync);
/* The buffer of path's write in this batch, to append to in place (the
 * caller counts what it adds in b->bytes); NULL out of memory. */
buf_t *batch_write_buf(batch_t *b, void *owner, const char *path, bool sync);
/* Forgets every operation of an owner that is gone. */
void batch_drop_owner(batch_t *b, void *owner);
/* Any other operation, after what the batch holds for the same path. */
int batch_add(batch_t *b, void *owner, disk_op_kind_t kind, const char *path,
              uint64_t len, bool sync);
/* REPLACE with data (taken: the batch frees it). */
int batch_replace(batch_t *b, void *owner, const char *path, buf_t *data);
/* Runs every operation in order (on a worker thread). */
void batch_run(batch_t *b);
/* Moves the operations of `from` that failed or were cancelled to the end
 * of `to` (in order), to run again; the rest of `from` is freed. */
int batch_keep_failed(batch_t *from, batch_t *to);
/* Every operation of `from` in front of `to`'s (from is emptied). */
int batch_prepend(batch_t *from, batch_t *to, bool failed_only);

#endif
