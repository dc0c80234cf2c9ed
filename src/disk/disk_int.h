/* disk_int — what the disk's files share: the part's state, a topic's
 * state on disk, the meta journal's entries. Internal to disk/. */
#ifndef HS_DISK_INT_H
#define HS_DISK_INT_H

#include "disk/disk.h"
#include "disk/frame.h"

/* Frames of a topic's segment. */
enum { SEG_RECORD = 1 }; /* u64 offset | u64 term | the store's record */
#define SEG_RECORD_HEAD 16
/* What a record of `len` store bytes takes in a segment. */
#define SEG_SIZE(len) (FRAME_HEAD + SEG_RECORD_HEAD + (len))

/* Frames of meta.log. */
enum {
  META_TOPIC = 1,  /* u32 dir | u64 first | str8 name | str8 owner */
  META_GONE,       /* str8 name */
  META_FIRST,      /* str8 name | u64 first */
  META_TERM,       /* str8 name | u64 term (the highest it saw) */
  META_PUBLISHER,  /* str8 id */
  META_SUBSCRIBER, /* str8 id */
  META_CURSOR      /* str8 topic | str8 subscriber | u64 next | u64 prev */
};

/* A topic's state on disk (t->disk). */
typedef struct disk_topic {
  store_topic_t *topic; /* whose state this is */
  uint32_t id;          /* its directory: t<id> */
  uint64_t segment;     /* first offset of the segment appends go to;
                           UINT64_MAX: none open yet */
  uint64_t max_term;    /* the highest term it has seen */
  bool dirty;           /* in the batch being gathered */
  bool failed;          /* its last batch could not be written */
  uint64_t lost_from, lost_to; /* a damaged range refetched from copies */
} disk_topic_t;

/* A topic of a batch that was started, and its next at the start. */
typedef struct disk_mark {
  store_topic_t *t; /* NULL once deleted */
  uint64_t next;
} disk_mark_t;

struct disk {
  uv_loop_t *loop;
  store_t *store;
  disk_hooks_t hooks;
  log_t *log;
  char *dir;
  char *cluster;
  disk_fsync_t fsync;
  uint32_t interval_ms;
  uint32_t node;
  uint32_t next_dir; /* the next topic directory number */

  batch_t gathering;  /* this turn's operations */
  batch_t running;    /* the batch on the worker */
  batch_t retry;      /* failed operations, run again on the timer */
  disk_mark_t *marks; /* the dirty topics of the gathering batch */
  size_t n_marks, cap_marks;
  disk_mark_t *run_marks; /* of the running one */
  size_t n_run_marks;
  bool busy;               /* a batch is on the worker */
  uint64_t started, done;  /* batches started, and finished */
  disk_wait_t *head, *tail; /* waiters, oldest first */
  bool meta_failed;

  map_t unsynced;         /* fsync "interval": paths written since a sync */
  uint64_t meta_bytes;    /* written to meta.log since its last snapshot */
  uint64_t snapshot_bytes;

  /* disk.c's: a batch starts at the end of this loop turn (what changes.c
   * calls when it gathered something). */
  void (*kick)(disk_t *d);
  uv_work_t work;
  uv_prepare_t prepare;
  uv_timer_t timer; /* retries; the interval's syncs */
  int open_handles;
  bool closing;
  void (*closed)(void *ud);
  void *closed_ud;
  log_limit_t error_limit;
};

static inline disk_topic_t *disk_of(const store_topic_t *t) { return t->disk; }

/* changes.c: the store's hooks, turning changes into operations. */
void changes_install(disk_t *d);
/* Adds a meta entry to the gathering batch (the snapshot when it grew). */
int changes_meta(disk_t *d, uint8_t type, const void *body, size_t n);
/* Rewrites meta.log whole when it grew enough (at the end of a batch's
 * gathering: the store is in step with it then). */
void changes_compact(disk_t *d);
/* Marks t as changed in the gathering batch. */
void changes_touch(disk_t *d, store_topic_t *t);
/* The path of something in the directory; of a topic's segment. */
void disk_path(const disk_t *d, char *out, size_t cap, const char *name);
void disk_segment_path(const disk_t *d, const disk_topic_t *dt,
                       uint64_t first, char *out, size_t cap);
void disk_topic_dir(const disk_t *d, const disk_topic_t *dt, char *out,
                    size_t cap);

/* meta.c: entries written and read. */
int meta_put_topic(buf_t *b, const store_topic_t *t, uint32_t dir);
int meta_put_name(buf_t *b, uint8_t type, const char *name, size_t n,
                  const uint64_t *value);
int meta_put_cursor(buf_t *b, const store_topic_t *t, const char *sid,
                    size_t n, uint64_t next, uint64_t prev);
/* The whole state as a fresh meta.log. */
int meta_snapshot(const disk_t *d, buf_t *out);

/* load.c: the directory into the store. */
int load_directory(disk_t *d, char *why, size_t why_len);

#endif
