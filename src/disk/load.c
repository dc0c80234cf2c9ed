/* load — a data directory read back into the store at start: meta.log
 * replayed (topics, identities, cursors, first offsets, terms), then each
 * topic's segments in offset order, every frame checked. What is damaged
 * is cut away and said: a torn tail (a write the crash interrupted), a
 * record whose checksum fails (its topic's log ends there, and the copies
 * hand the rest back), an empty or stray file. */
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

/* What meta.log says of one topic. */
typedef struct meta_topic {
  uint32_t dir;
  uint64_t first, max_term;
  char owner[256];
  size_t owner_len;
  map_t cursors; /* subscriber -> uint64_t[2]: next, prev */
} meta_topic_t;

typedef struct loading {
  disk_t *d;
  map_t topics;         /* name -> meta_topic_t* (live ones) */
  map_t dirs;           /* dir number (4 bytes) -> 1: live directories */
  char *why;
  size_t why_len;
} loading_t;

/* Reads a whole file; NULL with errno when it cannot. */
static unsigned char *slurp(const char *path, size_t *n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  unsigned char *p = NULL;
  if (fstat(fd, &st) == 0 && (p = malloc(st.st_size ? (size_t)st.st_size : 1))) {
    size_t got = 0;
    while (got < (size_t)st.st_size) {
      ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
      if (r <= 0) break;
      got += (size_t)r;
    }
    *n = got;
  }
  close(fd);
  return p;
}

/* Cuts a file to `len` bytes (what was before the damage). */
static void cut_file(disk_t *d, const char *path, size_t len, size_t was,
                     const char *event) {
  if (truncate(path, (off_t)len))
    LOG(d->log, HS_LOG_ERROR, "disk", "truncate_failed", LF_STR("path", path),
        LF_STR("error", strerror(errno)));
  LOG(d->log, HS_LOG_WARN, "disk", event, LF_STR("path", path),
      LF_UINT("at", len), LF_UINT("bytes_dropped", was - len));
}

/* ---- meta.log ------------------------------------------------------------ */

static bool get_str8(const unsigned char **p, const unsigned char *end,
                     const char **s, size_t *n) {
  if (*p >= end || (size_t)(end - *p) < 1u + **p) return false;
  *n = **p;
  *s = (const char *)*p + 1;
  *p += 1 + *n;
  return true;
}

static bool get_u64(const unsigned char **p, const unsigned char *end,
                    uint64_t *v) {
  if ((size_t)(end - *p) < 8) return false;
  memcpy(v, *p, 8);
  *p += 8;
  return true;
}

static void meta_topic_free(meta_topic_t *mt) {
  void *v;
  for (size_t i = 0; map_next(&mt->cursors, &i, NULL, NULL, &v);) free(v);
  map_free(&mt->cursors);
  free(mt);
}

static bool replay_topic(loading_t *l, const unsigned char *p,
                         const unsigned char *end) {
  uint32_t dir;
  const char *name, *owner;
  size_t nn, on;
  if (end - p < 12) return false;
  memcpy(&dir, p, 4);
  meta_topic_t *mt = calloc(1, sizeof *mt);
  if (!mt) return false;
  p += 4;
  mt->dir = dir;
  if (!get_u64(&p, end, &mt->first) || !get_str8(&p, end, &name, &nn) ||
      !get_str8(&p, end, &owner, &on)) {
    free(mt);
    return false;
  }
  memcpy(mt->owner, owner, on);
  mt->owner_len = on;
  meta_topic_t *old = map_del(&l->topics, name, nn);
  if (old) meta_topic_free(old);
  if (map_put(&l->topics, name, nn, mt)) {
    free(mt);
    return false;
  }
  if (dir >= l->d->next_dir) l->d->next_dir = dir + 1;
  return true;
}

/* One entry of meta.log applied to what is being rebuilt. */
static bool replay(loading_t *l, uint8_t type, const unsigned char *p,
                   size_t n) {
  const unsigned char *end = p + n;
  const char *name, *sid;
  size_t nn, sn;
  uint64_t v;
  store_t *s = l->d->store;
  if (type == META_TOPIC) return replay_topic(l, p, end);
  if (!get_str8(&p, end, &name, &nn)) return false;
  meta_topic_t *mt = map_get(&l->topics, name, nn);
  switch (type) {
    case META_GONE:
      if (mt) meta_topic_free(map_del(&l->topics, name, nn));
      return true;
    case META_FIRST:
      if (!get_u64(&p, end, &v)) return false;
      if (mt) mt->first = v;
      return true;
    case META_TERM:
      if (!get_u64(&p, end, &v)) return false;
      if (mt && v > mt->max_term) mt->max_term = v;
      return true;
    case META_PUBLISHER: return store_publisher_create(s, name, nn) != HS_ENOMEM;
    case META_SUBSCRIBER: return store_subscriber_create(s, name, nn) != HS_ENOMEM;
    case META_CURSOR: {
      uint64_t prev;
      if (!get_str8(&p, end, &sid, &sn) || !get_u64(&p, end, &v) ||
          !get_u64(&p, end, &prev))
        return false;
      if (!mt) return true;
      uint64_t *cur = map_get(&mt->cursors, sid, sn);
      if (!cur && (!(cur = malloc(2 * sizeof *cur)) ||
                   map_put(&mt->cursors, sid, sn, cur))) {
        free(cur);
        return false;
      }
      cur[0] = v;
      cur[1] = prev;
      return true;
    }
  }
  return false;
}

static int load_meta(loading_t *l) {
  char path[4096];
  disk_path(l->d, path, sizeof path, "meta.log");
  size_t n = 0;
  unsigned char *buf = slurp(path, &n);
  if (!buf) return errno == ENOENT ? 0 : HS_EIO;
  size_t pos = 0, size, len;
  uint8_t type;
  const unsigned char *body;
  frame_status_t st;
  while ((st = frame_get(buf + pos, n - pos, &type, &body, &len, &size)) ==
         FRAME_OK) {
    if (!replay(l, type, body, len)) {
      st = FRAME_CORRUPT;
      break;
    }
    pos += size;
  }
  if (st != FRAME_END)
    cut_file(l->d, path, pos, n,
             st == FRAME_TORN ? "meta_torn_tail" : "meta_corrupt");
  l->d->snapshot_bytes = pos;
  free(buf);
  return 0;
}

/* ---- segments ------------------------------------------------------------- */

static int by_offset(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The first offsets of the topic's segments, sorted. */
static uint64_t *list_segments(const char *dir, size_t *count) {
  DIR *dd = opendir(dir);
  uint64_t *firsts = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while (dd && (e = readdir(dd))) {
    unsigned long long first;
    char tail;
    if (sscanf(e->d_name, "%20llu.se%c", &first, &tail) != 2 || tail != 'g' ||
        strlen(e->d_name) != 24)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      uint64_t *grown = realloc(firsts, cap * sizeof *grown);
      if (!grown) break;
      firsts = grown;
    }
    firsts[n++] = first;
  }
  if (dd) closedir(dd);
  if (n) qsort(firsts, n, sizeof *firsts, by_offset);
  *count = n;
  return firsts;
}

/* The offset past the last record that still reads well from byte `pos`
 * on (at least `end`), stepping over a damaged frame by the length it
 * claims: a flipped bit in a body leaves that right. Only counted, to say
 * which offsets were lost; nothing past damage is loaded. */
static uint64_t records_end(const unsigned char *buf, size_t n, size_t pos,
                            uint64_t end) {
  while (pos < n && n - pos >= FRAME_HEAD) {
    uint32_t len;
    memcpy(&len, buf + pos, 4);
    if (len == 0 || (uint64_t)len + 8 > n - pos) break;
    uint8_t type;
    const unsigned char *body;
    size_t body_len, size;
    uint64_t offset;
    if (frame_get(buf + pos, n - pos, &type, &body, &body_len, &size) ==
            FRAME_OK &&
        type == SEG_RECORD && body_len >= SEG_RECORD_HEAD) {
      memcpy(&offset, body, 8);
      if (offset < UINT64_MAX && offset >= end) end = offset + 1;
    }
    pos += (size_t)len + 8;
  }
  return end;
}

/* A segment past damage, about to go: how far the log reached in it. */
static void count_lost(disk_topic_t *dt, const char *path, uint64_t first) {
  size_t n = 0;
  unsigned char *buf = slurp(path, &n);
  if (buf && n && dt->lost_to < first + 1) dt->lost_to = first + 1;
  if (buf) dt->lost_to = records_end(buf, n, 0, dt->lost_to);
  free(buf);
}

/* Appends a segment's records to t; false when the log must end here
 * (damage, a gap): the later segments go then. */
static bool load_segment(disk_t *d, store_topic_t *t, const char *path,
                         uint64_t first, bool last) {
  size_t n = 0, pos = 0, size, len;
  unsigned char *buf = slurp(path, &n);
  if (!buf) return false;
  if (t->next != first) {
    if (t->next != t->first || first < t->next) {
      free(buf);
      LOG(d->log, HS_LOG_ERROR, "disk", "segment_gap", LF_STR("path", path),
          LF_UINT("expected", t->next));
      disk_of(t)->lost_from = t->next;
      count_lost(disk_of(t), path, first);
      return false;
    }
    store_topic_reset(d->store, t, first); /* the log starts later */
  }
  store_seal(t);
  uint8_t type;
  const unsigned char *body;
  frame_status_t st;
  while ((st = frame_get(buf + pos, n - pos, &type, &body, &len, &size)) ==
         FRAME_OK) {
    uint64_t offset, term;
    if (type != SEG_RECORD || len < SEG_RECORD_HEAD) break;
    memcpy(&offset, body, 8);
    memcpy(&term, body + 8, 8);
    if (offset != t->next || store_term_begin(d->store, t, term) ||
        store_append_raw(d->store, t, body + SEG_RECORD_HEAD,
                         len - SEG_RECORD_HEAD))
      break;
    pos += size;
  }
  if (st == FRAME_END) {
    free(buf);
    return true;
  }
  bool torn = st == FRAME_TORN && last;
  disk_topic_t *dt = disk_of(t);
  if (!torn) {
    dt->lost_from = t->next;
    dt->lost_to = records_end(buf, n, pos, t->next + 1);
  }
  free(buf);
  cut_file(d, path, pos, n, torn ? "torn_tail" : "corrupt_record");
  return torn;
}

static void load_segments(disk_t *d, store_topic_t *t, const meta_topic_t *mt) {
  char dir[4096], path[4200];
  disk_topic_dir(d, disk_of(t), dir, sizeof dir);
  size_t count = 0;
  uint64_t *firsts = list_segments(dir, &count);
  store_topic_reset(d->store, t, mt->first);
  bool going = true;
  for (size_t i = 0; i < count; i++) {
    snprintf(path, sizeof path, "%s/%020llu.seg", dir,
             (unsigned long long)firsts[i]);
    struct stat st;
    bool below = i + 1 < count && firsts[i + 1] <= mt->first;
    if (!going || below || (stat(path, &st) == 0 && st.st_size == 0)) {
      if (!going && !below) count_lost(disk_of(t), path, firsts[i]);
      unlink(path); /* after damage, retention's leftover, or empty */
      continue;
    }
    going = load_segment(d, t, path, firsts[i], i + 1 == count);
    /* sealed: live appends start a chunk, and a file, of their own */
  }
  free(firsts);
  disk_topic_t *dt = disk_of(t);
  if (dt->lost_to > dt->lost_from)
    LOG(d->log, HS_LOG_ERROR, "disk", "records_damaged",
        LF_STR("topic", t->name), LF_UINT("from", dt->lost_from),
        LF_UINT("to", dt->lost_to), LF_STR("detail",
        "the log ends at from; the topic's copies are asked for the rest"));
}

/* ---- topics --------------------------------------------------------------- */

static int restore_topic(loading_t *l, const char *name, size_t nn,
                         meta_topic_t *mt) {
  disk_t *d = l->d;
  store_topic_t *t;
  if (store_topic_create(d->store, name, nn, mt->owner, mt->owner_len, &t))
    return HS_ENOMEM;
  disk_topic_t *dt = calloc(1, sizeof *dt);
  if (!dt) return HS_ENOMEM;
  dt->topic = t;
  dt->id = mt->dir;
  dt->segment = UINT64_MAX;
  dt->max_term = mt->max_term;
  t->disk = dt;
  uint32_t key = mt->dir;
  map_put(&l->dirs, &key, 4, (void *)1);
  load_segments(d, t, mt);
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&mt->cursors, &i, &k, &kn, &v);) {
    const uint64_t *cur = v;
    if (store_subscribe(d->store, t, k, kn, cur[0]) == HS_ENOMEM)
      return HS_ENOMEM;
    uint64_t next = store_cursor(t, k, kn)->next; /* clamped to the log */
    store_cursor_restore(d->store, t, k, kn, next, cur[1] < next ? cur[1] : next);
  }
  if (mt->max_term > t->max_term) t->max_term = mt->max_term;
  t->synced = t->next;
  return 0;
}

/* A topic directory meta.log does not know (its entries were lost): its
 * own name file brings it back; without one it is a deleted topic's. */
static void stray_dir(loading_t *l, const char *entry) {
  disk_t *d = l->d;
  unsigned dir;
  char extra;
  if (sscanf(entry, "t%u%c", &dir, &extra) != 1) return;
  uint32_t key = dir;
  if (map_get(&l->dirs, &key, 4)) return;
  char path[4096], named[4200];
  snprintf(path, sizeof path, "%s/%s", d->dir, entry);
  snprintf(named, sizeof named, "%s/topic", path);
  size_t n = 0;
  unsigned char *buf = slurp(named, &n);
  const unsigned char *p = buf, *end = buf ? buf + n : NULL;
  const char *name, *owner;
  size_t nn, on;
  meta_topic_t *mt = buf ? calloc(1, sizeof *mt) : NULL;
  if (mt && get_str8(&p, end, &name, &nn) && get_str8(&p, end, &owner, &on) &&
      !store_topic_find(d->store, name, nn)) {
    mt->dir = dir;
    memcpy(mt->owner, owner, on);
    mt->owner_len = on;
    LOG(d->log, HS_LOG_WARN, "disk", "topic_without_meta",
        LF_STRN("topic", name, nn), LF_STR("path", path));
    restore_topic(l, name, nn, mt);
    if (dir >= d->next_dir) d->next_dir = dir + 1;
  } else {
    batch_add(&d->gathering, d, OP_RMTREE, path, 0, false);
  }
  if (mt) meta_topic_free(mt);
  free(buf);
}

static void stray_dirs(loading_t *l) {
  DIR *dd = opendir(l->d->dir);
  struct dirent *e;
  while (dd && (e = readdir(dd)))
    if (e->d_name[0] == 't') stray_dir(l, e->d_name);
  if (dd) closedir(dd);
}

int load_directory(disk_t *d, char *why, size_t why_len) {
  loading_t l = {.d = d, .why = why, .why_len = why_len};
  uint64_t t0 = log_now_ms();
  d->next_dir = 1;
  int rc = load_meta(&l);
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; !rc && map_next(&l.topics, &i, &k, &kn, &v);)
    rc = restore_topic(&l, k, kn, v);
  if (!rc) stray_dirs(&l);
  for (size_t i = 0; map_next(&l.topics, &i, NULL, NULL, &v);)
    meta_topic_free(v);
  map_free(&l.topics);
  map_free(&l.dirs);
  if (rc)
    snprintf(why, why_len, "cannot load data directory %s: %s", d->dir,
             rc == HS_ENOMEM ? "out of memory" : strerror(errno));
  LOG(d->log, HS_LOG_INFO, "disk", "loaded", LF_STR("dir", d->dir),
      LF_UINT("topics", d->store->topics.count),
      LF_UINT("messages", d->store->messages), LF_UINT("bytes", d->store->bytes),
      LF_UINT("ms", log_now_ms() - t0));
  return rc;
}

void disk_settle_damage(disk_t *d) {
  void *v;
  for (size_t i = 0; map_next(&d->store->topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    disk_topic_t *dt = disk_of(t);
    if (!dt || dt->lost_to <= dt->lost_from) continue;
    if (t->next >= dt->lost_to)
      LOG(d->log, HS_LOG_WARN, "disk", "records_refetched",
          LF_STR("topic", t->name), LF_UINT("from", dt->lost_from),
          LF_UINT("to", dt->lost_to));
    else
      LOG(d->log, HS_LOG_ERROR, "disk", "data_lost", LF_STR("topic", t->name),
          LF_UINT("from", t->next), LF_UINT("to", dt->lost_to),
          LF_STR("detail", "damaged on disk and held by no live copy"));
    dt->lost_from = dt->lost_to = 0;
  }
}
