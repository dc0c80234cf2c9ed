/* batch — a group commit's file operations (batch.h says how they run). */
#include "disk/batch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypersub.h"

void batch_init(batch_t *b) { memset(b, 0, sizeof *b); }

static void op_free(disk_op_t *op) {
  free(op->path);
  buf_free(&op->data);
}

void batch_free(batch_t *b) {
  for (size_t i = 0; i < b->n; i++) op_free(&b->ops[i]);
  free(b->ops);
  map_free(&b->last_write);
  batch_init(b);
}

bool batch_empty(const batch_t *b) { return b->n == 0; }

static disk_op_t *push(batch_t *b, void *owner, disk_op_kind_t kind,
                       const char *path) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16;
    disk_op_t *grown = realloc(b->ops, cap * sizeof *grown);
    if (!grown) return NULL;
    b->ops = grown;
    b->cap = cap;
  }
  char *copy = strdup(path);
  if (!copy) return NULL;
  disk_op_t *op = &b->ops[b->n];
  *op = (disk_op_t){.kind = kind, .path = copy, .owner = owner,
                    .data = BUF_INIT};
  /* Only a write takes more bytes later; anything else ends it. */
  if (kind == OP_WRITE ? map_put(&b->last_write, path, strlen(path),
                                 (void *)(uintptr_t)(b->n + 1))
                       : (map_del(&b->last_write, path, strlen(path)), 0)) {
    free(copy);
    return NULL;
  }
  b->n++;
  return op;
}

buf_t *batch_write_buf(batch_t *b, void *owner, const char *path,
                       bool sync) {
  uintptr_t at = (uintptr_t)map_get(&b->last_write, path, strlen(path));
  disk_op_t *op = at ? &b->ops[at - 1] : push(b, owner, OP_WRITE, path);
  if (!op) return NULL;
  op->sync = op->sync || sync;
  return &op->data;
}

int batch_write(batch_t *b, void *owner, const char *path, const void *p,
                size_t n, bool sync) {
  buf_t *data = batch_write_buf(b, owner, path, sync);
  if (!data || buf_append(data, p, n)) return HS_ENOMEM;
  b->bytes += n;
  return 0;
}

void batch_drop_owner(batch_t *b, void *owner) {
  size_t k = 0;
  map_free(&b->last_write); /* rebuilt below: indexes move */
  for (size_t i = 0; i < b->n; i++) {
    disk_op_t *op = &b->ops[i];
    if (op->owner == owner) {
      op_free(op);
      continue;
    }
    b->ops[k] = *op;
    if (op->kind == OP_WRITE)
      map_put(&b->last_write, op->path, strlen(op->path),
              (void *)(uintptr_t)(k + 1));
    else
      map_del(&b->last_write, op->path, strlen(op->path));
    k++;
  }
  b->n = k;
}

int batch_add(batch_t *b, void *owner, disk_op_kind_t kind, const char *path,
              uint64_t len, bool sync) {
  disk_op_t *op = push(b, owner, kind, path);
  if (!op) return HS_ENOMEM;
  op->len = len;
  op->sync = sync;
  return 0;
}

int batch_replace(batch_t *b, void *owner, const char *path, buf_t *data) {
  disk_op_t *op = push(b, owner, OP_REPLACE, path);
  if (!op) {
    buf_free(data);
    return HS_ENOMEM;
  }
  op->data = *data;
  *data = (buf_t)BUF_INIT;
  op->sync = true;
  return 0;
}

/* ---- running (on a worker thread: system calls only) ------------------- */

static int write_all(int fd, const char *p, size_t n, size_t *done) {
  *done = 0;
  while (*done < n) {
    ssize_t w = write(fd, p + *done, n - *done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    *done += (size_t)w;
  }
  return 0;
}

/* What a failed write got down is taken off it: run again, it goes on
 * from there (the file never holds a part twice). */
static int do_write(disk_op_t *op) {
  int fd = open(op->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  size_t done;
  int err = write_all(fd, op->data.data, op->data.len, &done);
  if (err) buf_consume(&op->data, done);
  if (!err && op->sync && fdatasync(fd)) err = errno;
  if (close(fd) && !err) err = errno;
  return err;
}

static int do_truncate(const disk_op_t *op) {
  int fd = open(op->path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : errno;
  int err = ftruncate(fd, (off_t)op->len) ? errno : 0;
  if (!err && op->sync && fdatasync(fd)) err = errno;
  close(fd);
  return err;
}

static int do_sync(const char *path, bool dir) {
  int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_WRONLY) | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : errno;
  int err = (dir ? fsync(fd) : fdatasync(fd)) ? errno : 0;
  close(fd);
  return err;
}

static int do_rmtree(const char *path) {
  DIR *d = opendir(path);
  if (!d) return errno == ENOENT ? 0 : errno;
  struct dirent *e;
  char file[4096];
  int err = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(file, sizeof file, "%s/%s", path, e->d_name);
    if (unlink(file) && errno != ENOENT) err = errno;
  }
  closedir(d);
  if (!err && rmdir(path) && errno != ENOENT) err = errno;
  return err;
}

static int do_replace(const disk_op_t *op) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", op->path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  size_t done;
  int err = write_all(fd, op->data.data, op->data.len, &done);
  if (!err && fdatasync(fd)) err = errno;
  if (close(fd) && !err) err = errno;
  if (!err && rename(tmp, op->path)) err = errno;
  return err;
}

static int run_one(disk_op_t *op) {
  switch (op->kind) {
    case OP_WRITE: return do_write(op);
    case OP_TRUNCATE: return do_truncate(op);
    case OP_UNLINK: return unlink(op->path) && errno != ENOENT ? errno : 0;
    case OP_MKDIR: return mkdir(op->path, 0755) && errno != EEXIST ? errno : 0;
    case OP_RMTREE: return do_rmtree(op->path);
    case OP_REPLACE: return do_replace(op);
    case OP_SYNC_DIR: return do_sync(op->path, true);
    case OP_FSYNC: return do_sync(op->path, false);
  }
  return EINVAL;
}

void batch_run(batch_t *b) {
  size_t first_failed = b->n; /* failures are rare: look back only then */
  for (size_t i = 0; i < b->n; i++) {
    disk_op_t *op = &b->ops[i];
    bool cancelled = false;
    for (size_t k = first_failed; k < i && !cancelled; k++)
      cancelled = b->ops[k].err && b->ops[k].owner == op->owner;
    op->err = cancelled ? ECANCELED : run_one(op);
    if (op->err && first_failed == b->n) first_failed = i;
  }
}

int batch_keep_failed(batch_t *from, batch_t *to) {
  return batch_prepend(from, to, true);
}

int batch_prepend(batch_t *from, batch_t *to, bool failed_only) {
  batch_t merged;
  batch_init(&merged);
  int rc = 0;
  for (int pass = 0; pass < 2; pass++) {
    batch_t *src = pass == 0 ? from : to;
    for (size_t i = 0; i < src->n; i++) {
      disk_op_t *op = &src->ops[i];
      if (pass == 0 && failed_only && !op->err) continue;
      disk_op_t *copy = push(&merged, op->owner, op->kind, op->path);
      if (!copy) {
        rc = HS_ENOMEM;
        continue;
      }
      copy->data = op->data;
      op->data = (buf_t)BUF_INIT;
      copy->len = op->len;
      copy->sync = op->sync;
      merged.bytes += copy->data.len;
    }
  }
  batch_free(from);
  batch_free(to);
  *to = merged;
  return rc;
}
