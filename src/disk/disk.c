/* disk — the part: the directory opened and checked, batches started at
 * the end of a loop turn and run on a worker, what they did told to the
 * topics and the waiters, retries, closing. */
#include "disk/disk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk/disk_int.h"
#include "hypersub.h"

#define RETRY_MS 1000

static void start_batch(disk_t *d);
static void release(disk_t *d);
static void disk_kick(disk_t *d);

/* ---- waiters ------------------------------------------------------------ */

void disk_wait(disk_t *d, disk_wait_t *w) {
  w->prev = w->next = NULL;
  if (batch_empty(&d->gathering) && !d->busy) {
    w->done(w, d->meta_failed ? HS_ESTORAGE : 0);
    return;
  }
  w->batch = batch_empty(&d->gathering) ? d->started : d->started + 1;
  w->prev = d->tail;
  if (d->tail) d->tail->next = w;
  else d->head = w;
  d->tail = w;
}

void disk_wait_cancel(disk_t *d, disk_wait_t *w) {
  if (!w->prev && d->head != w) return; /* told already */
  if (w->prev) w->prev->next = w->next;
  else d->head = w->next;
  if (w->next) w->next->prev = w->prev;
  else d->tail = w->prev;
  w->prev = w->next = NULL;
}

/* Tells the waiters the batches up to d->done covered. */
static void wake(disk_t *d, int status) {
  while (d->head && d->head->batch <= d->done) {
    disk_wait_t *w = d->head;
    disk_wait_cancel(d, w);
    w->done(w, status);
  }
}

/* ---- batches ------------------------------------------------------------ */

static void run_batch(uv_work_t *req) {
  disk_t *d = req->data;
  batch_run(&d->running);
}

/* What a batch did to one topic: its synced offset, or its failure. */
static void settle_topic(disk_t *d, disk_mark_t *m, const char *why) {
  store_topic_t *t = m->t;
  disk_topic_t *dt = t ? disk_of(t) : NULL;
  if (!dt) return;
  if (why) {
    if (!dt->failed && d->hooks.storage) d->hooks.storage(d->hooks.ud, t, why);
    dt->failed = true;
    return;
  }
  if (dt->failed && d->hooks.storage) d->hooks.storage(d->hooks.ud, t, NULL);
  dt->failed = false;
  uint64_t synced = m->next < t->next ? m->next : t->next;
  if (synced > t->synced) {
    t->synced = synced;
    if (d->hooks.synced) d->hooks.synced(d->hooks.ud, t);
  }
}

/* The first failure of each owner in the batch, logged (rate-limited). */
static const char *failure_of(disk_t *d, void *owner, char *why, size_t len) {
  for (size_t i = 0; i < d->running.n; i++) {
    disk_op_t *op = &d->running.ops[i];
    if (op->owner != owner || !op->err || op->err == ECANCELED) continue;
    snprintf(why, len, "%s: %s", op->path, strerror(op->err));
    uint32_t suppressed = 0;
    if (log_limit_allow(&d->error_limit, log_now_ms(), &suppressed))
      LOG(d->log, HS_LOG_ERROR, "disk", "write_failed", LF_STR("path", op->path),
          LF_STR("error", strerror(op->err)), LF_UINT("suppressed", suppressed));
    return why;
  }
  return NULL;
}

/* A closing disk's last batch came back: what was gathered since goes
 * down on this thread, then the disk lets go. */
static void finish_closing(disk_t *d) {
  batch_free(&d->running);
  batch_prepend(&d->retry, &d->gathering, false);
  batch_run(&d->gathering);
  batch_free(&d->gathering);
  release(d);
}

static void batch_done(uv_work_t *req, int status) {
  disk_t *d = req->data;
  (void)status;
  d->busy = false;
  if (d->closing) return finish_closing(d);
  d->done = d->started;
  char why[4200];
  for (size_t i = 0; i < d->n_run_marks; i++) {
    disk_mark_t *m = &d->run_marks[i];
    void *owner = m->t ? disk_of(m->t) : NULL;
    settle_topic(d, m, owner ? failure_of(d, owner, why, sizeof why) : NULL);
  }
  d->meta_failed = failure_of(d, d, why, sizeof why) != NULL;
  /* What failed goes again, after what was failing before it. */
  batch_t failed;
  batch_init(&failed);
  batch_keep_failed(&d->running, &failed);
  batch_prepend(&d->retry, &failed, false);
  d->retry = failed;
  free(d->run_marks);
  d->run_marks = NULL;
  d->n_run_marks = 0;
  wake(d, d->meta_failed ? HS_ESTORAGE : 0);
  if (d->closing) return;
  if (!batch_empty(&d->retry)) uv_timer_again(&d->timer);
  if (!batch_empty(&d->gathering)) start_batch(d);
}

static void start_batch(disk_t *d) {
  if (d->busy || batch_empty(&d->gathering)) return;
  changes_compact(d);
  d->running = d->gathering;
  batch_init(&d->gathering);
  d->run_marks = d->marks;
  d->n_run_marks = d->n_marks;
  for (size_t i = 0; i < d->n_marks; i++) {
    disk_mark_t *m = &d->marks[i];
    if (!m->t) continue;
    m->next = m->t->next;
    disk_of(m->t)->dirty = false;
  }
  d->marks = NULL;
  d->n_marks = d->cap_marks = 0;
  d->busy = true;
  d->started++;
  d->work.data = d;
  uv_queue_work(d->loop, &d->work, run_batch, batch_done);
}

static void on_prepare(uv_prepare_t *p) {
  disk_t *d = p->data;
  uv_prepare_stop(p);
  start_batch(d);
}

static void disk_kick(disk_t *d) {
  if (!d->closing) uv_prepare_start(&d->prepare, on_prepare);
}

/* Failed operations go again; with fsync "interval", every file written
 * since the last tick is synced. */
static void on_timer(uv_timer_t *t) {
  disk_t *d = t->data;
  const char *path;
  size_t n;
  void *v;
  for (size_t i = 0; map_next(&d->unsynced, &i, &path, &n, &v);) {
    char copy[4096];
    snprintf(copy, sizeof copy, "%.*s", (int)n, path);
    batch_add(&d->gathering, d, OP_FSYNC, copy, 0, true);
  }
  if (d->unsynced.count) disk_kick(d);
  map_free(&d->unsynced);
  if (!batch_empty(&d->retry)) {
    /* the topics they are for settle (and recover) with that batch */
    for (size_t i = 0; i < d->retry.n; i++) {
      void *owner = d->retry.ops[i].owner;
      if (owner != d) changes_touch(d, ((disk_topic_t *)owner)->topic);
    }
    batch_prepend(&d->retry, &d->gathering, false); /* in front: order kept */
    disk_kick(d);
  }
}

/* ---- the directory ------------------------------------------------------- */

/* Checks hypersub.id against the cluster and node, or writes it. */
static int check_id(disk_t *d, uint32_t node, uint32_t *node_out, char *why,
                    size_t len) {
  char path[4096], text[600], cluster[300];
  disk_path(d, path, sizeof path, "hypersub.id");
  FILE *f = fopen(path, "r");
  unsigned long had = UINT32_MAX;
  if (f) {
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    if (sscanf(text, "hypersub data 1\ncluster %299s\nnode %lu", cluster,
               &had) < 1) {
      snprintf(why, len, "%s is not a hypersub data directory's id file", path);
      return HS_EINVALID;
    }
    if (strcmp(cluster, d->cluster)) {
      snprintf(why, len, "data directory %s belongs to cluster \"%s\", not \"%s\"",
               d->dir, cluster, d->cluster);
      return HS_EINVALID;
    }
    if (had != UINT32_MAX && node != UINT32_MAX && had != node) {
      snprintf(why, len, "data directory %s belongs to node %lu, not %u",
               d->dir, had, node);
      return HS_EINVALID;
    }
  }
  *node_out = (uint32_t)had;
  if (f && (had != UINT32_MAX || node == UINT32_MAX)) return 0;
  return disk_set_node(d, node, why, len);
}

int disk_set_node(disk_t *d, uint32_t node, char *why, size_t len) {
  char path[4096], tmp[4200], text[600];
  disk_path(d, path, sizeof path, "hypersub.id");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int n = node == UINT32_MAX
              ? snprintf(text, sizeof text, "hypersub data 1\ncluster %s\n",
                         d->cluster)
              : snprintf(text, sizeof text, "hypersub data 1\ncluster %s\nnode %u\n",
                         d->cluster, node);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && write(fd, text, (size_t)n) == n && fsync(fd) == 0;
  if (fd >= 0) close(fd);
  if (!ok || rename(tmp, path)) {
    snprintf(why, len, "cannot write %s: %s", path, strerror(errno));
    return HS_EIO;
  }
  d->node = node;
  return 0;
}

/* A directory with files in it but no hypersub.id is someone else's. */
static int foreign(const char *dir, char *why, size_t len) {
  char id[4096];
  snprintf(id, sizeof id, "%s/hypersub.id", dir);
  if (access(id, F_OK) == 0) return 0;
  DIR *dd = opendir(dir);
  struct dirent *e;
  bool empty = true;
  while (dd && (e = readdir(dd)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) empty = false;
  if (dd) closedir(dd);
  if (empty) return 0;
  snprintf(why, len, "data directory %s holds files and no hypersub.id: not "
                     "a hypersub data directory", dir);
  return HS_EINVALID;
}

/* The directory exists (made if need be) and can be written. */
static int make_dir(const char *dir, char *why, size_t len) {
  if (mkdir(dir, 0755) && errno != EEXIST) {
    snprintf(why, len, "cannot make data directory %s: %s", dir, strerror(errno));
    return HS_EIO;
  }
  if (foreign(dir, why, len)) return HS_EINVALID;
  if (access(dir, W_OK | X_OK)) {
    snprintf(why, len, "data directory %s cannot be written: %s", dir,
             strerror(errno));
    return HS_EIO;
  }
  return 0;
}

/* A handle closed, or the last batch came back: the last one frees. */
static void release(disk_t *d) {
  if (--d->open_handles) return;
  batch_free(&d->gathering);
  batch_free(&d->retry);
  map_free(&d->unsynced);
  free(d->run_marks);
  free(d->marks);
  free(d->dir);
  free(d->cluster);
  void (*closed)(void *) = d->closed;
  void *ud = d->closed_ud;
  free(d);
  if (closed) closed(ud);
}

static void handle_closed(uv_handle_t *h) { release(h->data); }

int disk_open(uv_loop_t *loop, const disk_config_t *cfg, store_t *store,
              const disk_hooks_t *hooks, disk_t **out, uint32_t *node_out,
              char *why, size_t why_len) {
  *out = NULL;
  disk_t *d = calloc(1, sizeof *d);
  if (!d) return HS_ENOMEM;
  d->loop = loop;
  d->store = store;
  d->hooks = *hooks;
  d->log = cfg->log;
  d->fsync = cfg->fsync;
  d->interval_ms = cfg->interval_ms;
  d->dir = strdup(cfg->dir);
  d->cluster = strdup(cfg->cluster);
  d->error_limit = (log_limit_t)LOG_LIMIT_INIT(10);
  d->kick = disk_kick;
  int rc = !d->dir || !d->cluster ? HS_ENOMEM : make_dir(d->dir, why, why_len);
  if (!rc) rc = check_id(d, cfg->node, node_out, why, why_len);
  if (!rc) rc = load_directory(d, why, why_len);
  if (rc) {
    free(d->dir);
    free(d->cluster);
    free(d);
    return rc;
  }
  uv_prepare_init(loop, &d->prepare);
  uv_timer_init(loop, &d->timer);
  d->prepare.data = d->timer.data = d;
  uv_unref((uv_handle_t *)&d->prepare);
  uv_unref((uv_handle_t *)&d->timer);
  d->open_handles = 2;
  uint64_t every = d->fsync == DISK_FSYNC_INTERVAL && d->interval_ms < RETRY_MS
                       ? d->interval_ms
                       : RETRY_MS;
  uv_timer_start(&d->timer, on_timer, every, every);
  changes_install(d);
  *out = d;
  return 0;
}

void disk_close(disk_t *d, void (*closed)(void *ud), void *ud) {
  if (!d) {
    if (closed) closed(ud);
    return;
  }
  d->closing = true;
  d->closed = closed;
  d->closed_ud = ud;
  memset(&d->store->hooks, 0, sizeof d->store->hooks);
  /* What is gathered goes down now, on this thread: a stopping node
   * keeps what it said it would. A batch on the worker finishes first. */
  if (d->busy) {
    d->open_handles++; /* released when it comes back */
  } else {
    batch_prepend(&d->retry, &d->gathering, false);
    batch_run(&d->gathering);
    batch_free(&d->gathering);
  }
  while (d->head) {
    disk_wait_t *w = d->head;
    disk_wait_cancel(d, w);
    w->done(w, HS_ECLOSED);
  }
  uv_close((uv_handle_t *)&d->prepare, handle_closed);
  uv_close((uv_handle_t *)&d->timer, handle_closed);
}

bool disk_topic_ok(const store_topic_t *t) {
  return !disk_of(t) || !disk_of(t)->failed;
}

const char *disk_dir(const disk_t *d) { return d->dir; }
disk_fsync_t disk_fsync_mode(const disk_t *d) { return d->fsync; }
