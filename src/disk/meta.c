/* meta — the journal's entries (disk_int.h lists them) and the snapshot
 * that replaces meta.log as it grows: every topic, identity and cursor as
 * they stand. */
#include <string.h>

#include "disk/disk_int.h"
#include "hypersub.h"

static int put(buf_t *b, const void *p, size_t n) { return buf_append(b, p, n); }

static int put_str8(buf_t *b, const char *s, size_t n) {
  uint8_t len = (uint8_t)(n > 255 ? 255 : n);
  return put(b, &len, 1) || put(b, s, len) ? HS_ENOMEM : 0;
}

int meta_put_topic(buf_t *b, const store_topic_t *t, uint32_t dir) {
  return put(b, &dir, 4) || put(b, &t->first, 8) ||
                 put_str8(b, t->name, t->name_len) ||
                 put_str8(b, t->owner, t->owner_len)
             ? HS_ENOMEM
             : 0;
}

int meta_put_name(buf_t *b, uint8_t type, const char *name, size_t n,
                  const uint64_t *value) {
  (void)type;
  return put_str8(b, name, n) || (value && put(b, value, 8)) ? HS_ENOMEM : 0;
}

int meta_put_cursor(buf_t *b, const store_topic_t *t, const char *sid,
                    size_t n, uint64_t next, uint64_t prev) {
  return put_str8(b, t->name, t->name_len) || put_str8(b, sid, n) ||
                 put(b, &next, 8) || put(b, &prev, 8)
             ? HS_ENOMEM
             : 0;
}

/* One entry of the snapshot, framed. */
static int entry(buf_t *out, uint8_t type, buf_t *body) {
  int rc = frame_put(out, type, body->data, body->len, NULL, 0);
  buf_clear(body);
  return rc;
}

static int snapshot_topic(const store_topic_t *t, buf_t *out, buf_t *b) {
  const disk_topic_t *dt = disk_of(t);
  if (!dt) return 0;
  int rc = meta_put_topic(b, t, dt->id) || entry(out, META_TOPIC, b);
  if (!rc && dt->max_term)
    rc = meta_put_name(b, META_TERM, t->name, t->name_len, &dt->max_term) ||
         entry(out, META_TERM, b);
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; !rc && map_next(&t->cursors, &i, &k, &kn, &v);) {
    const store_cursor_t *cur = v;
    rc = meta_put_cursor(b, t, k, kn, cur->next, cur->prev) ||
         entry(out, META_CURSOR, b);
  }
  return rc ? HS_ENOMEM : 0;
}

static int snapshot_names(const map_t *m, uint8_t type, buf_t *out, buf_t *b) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(m, &i, &k, &kn, &v);)
    if (meta_put_name(b, type, k, kn, NULL) || entry(out, type, b))
      return HS_ENOMEM;
  return 0;
}

int meta_snapshot(const disk_t *d, buf_t *out) {
  const store_t *s = d->store;
  buf_t b = BUF_INIT;
  int rc = snapshot_names(&s->publishers, META_PUBLISHER, out, &b) ||
           snapshot_names(&s->subscribers, META_SUBSCRIBER, out, &b);
  void *v;
  for (size_t i = 0; !rc && map_next(&s->topics, &i, NULL, NULL, &v);)
    rc = snapshot_topic(v, out, &b);
  buf_free(&b);
  return rc ? HS_ENOMEM : 0;
}
