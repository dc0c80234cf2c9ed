/* disk — the node's store kept on disk, so a node killed at any moment
 * comes back with what it acknowledged.
 *
 * Layout of the data directory:
 *   hypersub.id          which cluster and node the directory belongs to
 *   meta.log             the journal: topics made and deleted (with their
 *                        directory number and first offset), publishers,
 *                        subscribers, cursors, the highest term of each
 *                        topic; rewritten whole (a snapshot) as it grows
 *   t<N>/<first>.seg     topic N's log, one file per chunk of the store:
 *                        the records from offset <first> on
 * Every entry of both is a checksummed frame (frame.h); a record carries
 * its offset and the term of the home that wrote it.
 *
 * The store tells the disk of every change through its hooks; the disk
 * turns them into file operations gathered per loop turn and runs them on
 * a worker thread as one batch: one write and one fdatasync per file per
 * batch (group commit). When a batch is through, each topic's `synced`
 * offset moves up (the node's `synced` hook) and waiters whose changes it
 * covered are told. With fsync "interval" the files are synced on a timer
 * and `synced` moves when the bytes are written (a crash of the machine
 * loses up to an interval; of the process, nothing); with "never", when
 * the system writes them.
 *
 * disk_open loads the directory into the store first: a torn last record
 * is cut (logged with its bytes), a record that fails its checksum ends
 * the topic's log there (logged; the copies hand the rest back), an empty
 * file is removed. */
#ifndef HS_DISK_H
#define HS_DISK_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/log.h"
#include "disk/batch.h"
#include "store/store.h"

typedef enum {
  DISK_FSYNC_ALWAYS = 0,
  DISK_FSYNC_INTERVAL,
  DISK_FSYNC_NEVER
} disk_fsync_t;

/* Told once every change made before disk_wait was called is on disk
 * (status 0), or could not be written (HS_ESTORAGE). Embedded in the
 * waiter's own struct; disk_wait_cancel takes it back. */
typedef struct disk_wait disk_wait_t;
struct disk_wait {
  disk_wait_t *prev, *next;
  uint64_t batch;
  void (*done)(disk_wait_t *w, int status);
};

typedef struct disk_hooks {
  void *ud;
  /* t->synced moved up. */
  void (*synced)(void *ud, store_topic_t *t);
  /* t's file could not be written (why), or can be again (why NULL). */
  void (*storage)(void *ud, store_topic_t *t, const char *why);
} disk_hooks_t;

typedef struct disk_config {
  const char *dir;
  disk_fsync_t fsync;
  uint32_t interval_ms; /* fsync "interval" */
  const char *cluster;
  uint32_t node;        /* UINT32_MAX: not known yet (joining) */
  log_t *log;
} disk_config_t;

typedef struct disk disk_t;

/* Opens (making it if need be) and loads the directory into `store`
 * (empty), then keeps it. *node_out gets the node id the directory was
 * written by (UINT32_MAX when new). 0, or HS_EIO / HS_EINVALID /
 * HS_ENOMEM with why naming the path. */
int disk_open(uv_loop_t *loop, const disk_config_t *cfg, store_t *store,
              const disk_hooks_t *hooks, disk_t **out, uint32_t *node_out,
              char *why, size_t why_len);
/* The node learnt its id (after a join): the directory says so. */
int disk_set_node(disk_t *d, uint32_t node, char *why, size_t why_len);
/* Writes what is queued (on this thread), then closes; `closed` is called
 * once libuv let go of the handles (the store may be freed then). */
void disk_close(disk_t *d, void (*closed)(void *ud), void *ud);

/* Calls w->done once what was changed so far is on disk (at once, before
 * returning, when it is already). */
void disk_wait(disk_t *d, disk_wait_t *w);
void disk_wait_cancel(disk_t *d, disk_wait_t *w);
/* Once the node has caught up from the topic's copies: each log that was
 * cut at damage on start says records_refetched when the copies handed
 * the damaged offsets back, or data_lost with the offsets none had. */
void disk_settle_damage(disk_t *d);
/* Whether t's file can be written now. */
bool disk_topic_ok(const store_topic_t *t);
/* Where the directory is, and how it syncs: for logs and stats. */
const char *disk_dir(const disk_t *d);
disk_fsync_t disk_fsync_mode(const disk_t *d);

#endif
