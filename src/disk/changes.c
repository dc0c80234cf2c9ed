/* changes — the store's changes as file operations of the gathering batch
 * (disk.h says where everything goes). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk/disk_int.h"
#include "hypersub.h"
#include "store/chunk.h"

/* meta.log grows to this, or twice its last snapshot, before it is
 * rewritten whole. */
#define META_SNAPSHOT_MIN (4u << 20)

void disk_path(const disk_t *d, char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", d->dir, name);
}

void disk_topic_dir(const disk_t *d, const disk_topic_t *dt, char *out,
                    size_t cap) {
  snprintf(out, cap, "%s/t%u", d->dir, dt->id);
}

void disk_segment_path(const disk_t *d, const disk_topic_t *dt,
                       uint64_t first, char *out, size_t cap) {
  snprintf(out, cap, "%s/t%u/%020llu.seg", d->dir, dt->id,
           (unsigned long long)first);
}

static bool syncing(const disk_t *d) { return d->fsync == DISK_FSYNC_ALWAYS; }

/* fsync "interval": the timer syncs what was written since its last go. */
static void written(disk_t *d, const char *path) {
  if (d->fsync == DISK_FSYNC_INTERVAL &&
      !map_get(&d->unsynced, path, strlen(path)))
    map_put(&d->unsynced, path, strlen(path), (void *)1);
}

/* Something went wrong building the batch (memory): the change cannot be
 * kept, and the topic (or the journal) says so like a failed write. */
static void lost(disk_t *d, store_topic_t *t) {
  if (t && disk_of(t)) disk_of(t)->failed = true;
  if (!t) d->meta_failed = true;
  LOG(d->log, HS_LOG_ERROR, "disk", "journal_failed",
      LF_STR("topic", t ? t->name : "(meta)"),
      LF_STR("error", "out of memory gathering a change"));
}

void changes_touch(disk_t *d, store_topic_t *t) {
  disk_topic_t *dt = disk_of(t);
  if (!dt || dt->dirty) return;
  if (d->n_marks == d->cap_marks) {
    size_t cap = d->cap_marks ? d->cap_marks * 2 : 16;
    disk_mark_t *grown = realloc(d->marks, cap * sizeof *grown);
    if (!grown) return lost(d, t);
    d->marks = grown;
    d->cap_marks = cap;
  }
  dt->dirty = true;
  d->marks[d->n_marks++] = (disk_mark_t){t, 0};
  d->kick(d);
}

int changes_meta(disk_t *d, uint8_t type, const void *body, size_t n) {
  char path[4096];
  disk_path(d, path, sizeof path, "meta.log");
  buf_t *out = batch_write_buf(&d->gathering, d, path, syncing(d));
  written(d, path);
  size_t was = out ? out->len : 0;
  int rc = out ? frame_put(out, type, body, n, NULL, 0) : HS_ENOMEM;
  if (rc) return rc;
  d->meta_bytes += out->len - was;
  d->gathering.bytes += out->len - was;
  d->kick(d);
  return 0;
}

void changes_compact(disk_t *d) {
  uint64_t limit = 2 * d->snapshot_bytes;
  if (d->meta_bytes < META_SNAPSHOT_MIN || d->meta_bytes < limit) return;
  char path[4096];
  disk_path(d, path, sizeof path, "meta.log");
  buf_t snap = BUF_INIT;
  int rc = meta_snapshot(d, &snap);
  size_t size = snap.len;
  if (!rc) rc = batch_replace(&d->gathering, d, path, &snap);
  buf_free(&snap);
  if (rc) return; /* the journal goes on growing; tried again next batch */
  d->snapshot_bytes = size;
  d->meta_bytes = 0;
  LOG(d->log, HS_LOG_DEBUG, "disk", "meta_snapshot", LF_STR("path", path),
      LF_UINT("bytes", size));
}

/* ---- the store's hooks ------------------------------------------------ */

static void topic_created(void *ud, store_topic_t *t) {
  disk_t *d = ud;
  disk_topic_t *dt = calloc(1, sizeof *dt);
  if (!dt) return lost(d, NULL);
  dt->topic = t;
  dt->id = d->next_dir++;
  dt->segment = UINT64_MAX;
  t->disk = dt;
  char path[4096], named[4200];
  disk_topic_dir(d, dt, path, sizeof path);
  snprintf(named, sizeof named, "%s/topic", path);
  buf_t b = BUF_INIT, name = BUF_INIT;
  /* The directory names its topic too: meta.log is not its only record. */
  if (batch_add(&d->gathering, dt, OP_MKDIR, path, 0, false) ||
      meta_put_name(&name, META_TOPIC, t->name, t->name_len, NULL) ||
      meta_put_name(&name, META_TOPIC, t->owner, t->owner_len, NULL) ||
      batch_replace(&d->gathering, dt, named, &name) ||
      batch_add(&d->gathering, dt, OP_SYNC_DIR, d->dir, 0, false) ||
      meta_put_topic(&b, t, dt->id) || changes_meta(d, META_TOPIC, b.data, b.len))
    lost(d, t);
  buf_free(&b);
  buf_free(&name);
  changes_touch(d, t);
}

static void topic_deleted(void *ud, store_topic_t *t) {
  disk_t *d = ud;
  disk_topic_t *dt = disk_of(t);
  if (!dt) return;
  for (size_t i = 0; i < d->n_marks; i++)
    if (d->marks[i].t == t) d->marks[i].t = NULL;
  for (size_t i = 0; i < d->n_run_marks; i++)
    if (d->run_marks[i].t == t) d->run_marks[i].t = NULL;
  char path[4096];
  disk_topic_dir(d, dt, path, sizeof path);
  buf_t b = BUF_INIT;
  if (meta_put_name(&b, META_GONE, t->name, t->name_len, NULL) ||
      changes_meta(d, META_GONE, b.data, b.len) ||
      batch_add(&d->gathering, d, OP_RMTREE, path, 0, false))
    lost(d, NULL);
  buf_free(&b);
  batch_drop_owner(&d->retry, dt); /* its files are gone */
  free(dt);
  t->disk = NULL;
}

static void appended(void *ud, store_topic_t *t, const store_chunk_t *c,
                     uint64_t offset, const unsigned char *rec, size_t len) {
  disk_t *d = ud;
  disk_topic_t *dt = disk_of(t);
  if (!dt) return;
  char path[4096];
  disk_segment_path(d, dt, c->first, path, sizeof path);
  unsigned char head[SEG_RECORD_HEAD];
  uint64_t term = store_term(t);
  memcpy(head, &offset, 8);
  memcpy(head + 8, &term, 8);
  /* Framed straight into the batch: the payload is copied once more. */
  buf_t *out = batch_write_buf(&d->gathering, dt, path, syncing(d));
  written(d, path);
  int rc = out ? frame_put(out, SEG_RECORD, head, sizeof head, rec, len)
               : HS_ENOMEM;
  if (!rc) d->gathering.bytes += SEG_SIZE(len);
  if (!rc && dt->segment != c->first) { /* a new file: its name must stay */
    char dir[4096];
    dt->segment = c->first;
    disk_topic_dir(d, dt, dir, sizeof dir);
    if (syncing(d)) rc = batch_add(&d->gathering, dt, OP_SYNC_DIR, dir, 0, false);
  }
  if (rc) lost(d, t);
  changes_touch(d, t);
}

static void chunk_dropped(void *ud, store_topic_t *t, uint64_t first) {
  disk_t *d = ud;
  disk_topic_t *dt = disk_of(t);
  if (!dt) return;
  char path[4096];
  disk_segment_path(d, dt, first, path, sizeof path);
  if (dt->segment == first) dt->segment = UINT64_MAX;
  if (batch_add(&d->gathering, dt, OP_UNLINK, path, 0, false)) lost(d, t);
  changes_touch(d, t);
}

static void chunk_cut(void *ud, store_topic_t *t, const store_chunk_t *c) {
  disk_t *d = ud;
  disk_topic_t *dt = disk_of(t);
  if (!dt) return;
  char path[4096];
  disk_segment_path(d, dt, c->first, path, sizeof path);
  uint64_t len = c->used + c->count * (FRAME_HEAD + SEG_RECORD_HEAD);
  if (batch_add(&d->gathering, dt, OP_TRUNCATE, path, len, syncing(d)))
    lost(d, t);
  changes_touch(d, t);
}

static void first_moved(void *ud, store_topic_t *t) {
  disk_t *d = ud;
  buf_t b = BUF_INIT;
  if (meta_put_name(&b, META_FIRST, t->name, t->name_len, &t->first) ||
      changes_meta(d, META_FIRST, b.data, b.len))
    lost(d, NULL);
  buf_free(&b);
  changes_touch(d, t);
}

static void term_began(void *ud, store_topic_t *t) {
  disk_t *d = ud;
  disk_topic_t *dt = disk_of(t);
  uint64_t term = t->max_term;
  if (!dt || term <= dt->max_term) return;
  dt->max_term = term;
  buf_t b = BUF_INIT;
  if (meta_put_name(&b, META_TERM, t->name, t->name_len, &term) ||
      changes_meta(d, META_TERM, b.data, b.len))
    lost(d, NULL);
  buf_free(&b);
  changes_touch(d, t);
}

static void identity(void *ud, bool publisher, const char *id, size_t n) {
  disk_t *d = ud;
  uint8_t type = publisher ? META_PUBLISHER : META_SUBSCRIBER;
  buf_t b = BUF_INIT;
  if (meta_put_name(&b, type, id, n, NULL) || changes_meta(d, type, b.data, b.len))
    lost(d, NULL);
  buf_free(&b);
}

static void cursor(void *ud, store_topic_t *t, const char *sid, size_t n,
                   uint64_t next, uint64_t prev) {
  disk_t *d = ud;
  buf_t b = BUF_INIT;
  if (meta_put_cursor(&b, t, sid, n, next, prev) ||
      changes_meta(d, META_CURSOR, b.data, b.len))
    lost(d, NULL);
  buf_free(&b);
}

void changes_install(disk_t *d) {
  d->store->hooks = (store_hooks_t){.ud = d,
                                    .topic_created = topic_created,
                                    .topic_deleted = topic_deleted,
                                    .appended = appended,
                                    .chunk_dropped = chunk_dropped,
                                    .chunk_cut = chunk_cut,
                                    .first_moved = first_moved,
                                    .identity = identity,
                                    .cursor = cursor,
                                    .term = term_began};
}
