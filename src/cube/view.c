/* view — the membership view and its merge rule (view.h says how). */
#include "cube/view.h"

#include "core/addr.h"

#include <stdlib.h>
#include <string.h>

#include "cube/cube.h"
#include "core/hash.h"
#include "hypersub.h"

#define VIEW_ID_MAX ((1u << CUBE_MAX_DIM) - 1)
/* The smallest encoded member: u32 id, u8 state, u64 version, str8 addr. */
#define VIEW_MEMBER_MIN (4 + 1 + 8 + 1)

static bool state_ok(int s) { return s >= VIEW_ALIVE && s <= VIEW_LEFT; }

/* Up to the cap, where an entry can only be alive: a member reported
 * suspect, dead or left at any version a view may hold can still refute
 * it one higher. */
static bool version_ok(uint64_t version, int state) {
  return version < VIEW_VERSION_MAX ||
         (version == VIEW_VERSION_MAX && state == VIEW_ALIVE);
}

void view_init(view_t *v) {
  v->members = NULL;
  v->n = v->cap = 0;
  v->epoch = 0;
}

void view_free(view_t *v) {
  free(v->members);
  view_init(v);
}

int view_copy(view_t *dst, const view_t *src) {
  view_init(dst);
  if (src->n == 0) return 0;
  dst->members = malloc(src->n * sizeof *dst->members);
  if (!dst->members) return HS_ENOMEM;
  memcpy(dst->members, src->members, src->n * sizeof *dst->members);
  dst->n = dst->cap = src->n;
  dst->epoch = src->epoch;
  return 0;
}

/* The index of id, or where it would be inserted; *found says which. */
static size_t search(const view_t *v, uint32_t id, bool *found) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint32_t m = v->members[mid].id;
    if (m == id) {
      *found = true;
      return mid;
    }
    if (m < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

const view_member_t *view_find(const view_t *v, uint32_t id) {
  bool found;
  size_t i = search(v, id, &found);
  return found ? &v->members[i] : NULL;
}

static int grow(view_t *v) {
  if (v->n < v->cap) return 0;
  size_t cap = v->cap ? v->cap * 2 : 8;
  if (cap > SIZE_MAX / sizeof *v->members) return HS_ENOMEM;
  view_member_t *m = realloc(v->members, cap * sizeof *m);
  if (!m) return HS_ENOMEM;
  v->members = m;
  v->cap = cap;
  return 0;
}

/* > 0 when the incoming entry beats the local one under the merge rule. */
static int entry_cmp(uint64_t version, view_state_t state, const char *addr,
                     const view_member_t *m) {
  if (version != m->version) return version > m->version ? 1 : -1;
  if (state != m->state) return state > m->state ? 1 : -1;
  return strcmp(addr, m->addr);
}

int view_upsert(view_t *v, uint32_t id, const char *addr, view_state_t state,
                uint64_t version) {
  if (!addr || id > VIEW_ID_MAX || !state_ok((int)state) ||
      !version_ok(version, (int)state))
    return HS_EINVALID;
  size_t len = strnlen(addr, VIEW_ADDR_MAX + 1);
  if (len == 0 || len > VIEW_ADDR_MAX || !addr_valid(addr, len))
    return HS_EINVALID;
  bool found;
  size_t i = search(v, id, &found);
  if (found) {
    view_member_t *m = &v->members[i];
    if (entry_cmp(version, state, addr, m) <= 0) return 0;
    v->epoch += version - m->version; /* mod 2^64, like the sum */
    m->version = version;
    m->state = state;
    memcpy(m->addr, addr, len + 1);
    return 1;
  }
  int rc = grow(v);
  if (rc) return rc;
  memmove(&v->members[i + 1], &v->members[i],
          (v->n - i) * sizeof *v->members);
  view_member_t *m = &v->members[i];
  m->id = id;
  memcpy(m->addr, addr, len + 1);
  m->state = state;
  m->version = version;
  v->n++;
  v->epoch += version;
  return 1;
}

int view_merge(view_t *dst, const view_t *src) {
  int changed = 0;
  for (size_t i = 0; i < src->n; i++) {
    const view_member_t *m = &src->members[i];
    int rc = view_upsert(dst, m->id, m->addr, m->state, m->version);
    if (rc < 0) return rc;
    changed += rc;
  }
  return changed;
}

int view_set_state(view_t *v, uint32_t id, view_state_t state) {
  if (!state_ok((int)state)) return HS_EINVALID;
  bool found;
  size_t i = search(v, id, &found);
  if (!found || v->members[i].version >= VIEW_VERSION_MAX ||
      !version_ok(v->members[i].version + 1, (int)state))
    return HS_EINVALID;
  v->members[i].version++;
  v->members[i].state = state;
  v->epoch++;
  return 1;
}

size_t view_live(const view_t *v, uint32_t *ids, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < v->n; i++) {
    if (!view_serves(v->members[i].state)) continue;
    if (k < cap) ids[k] = v->members[i].id;
    k++;
  }
  return k;
}

unsigned view_dim(const view_t *v) {
  for (size_t i = v->n; i-- > 0;)
    if (v->members[i].state != VIEW_LEFT) return cube_dim(v->members[i].id);
  return 0;
}

size_t view_prefs(const view_t *v, uint64_t h, uint32_t *out, size_t cap) {
  unsigned dim = view_dim(v);
  size_t live = view_live(v, out, cap);
  if (live <= cap) {
    cube_prefs(h, dim, out, live);
    return live;
  }
  /* More live members than room: select the cap best, in order, without
   * allocating (each pass takes the smallest key above the last one). */
  uint32_t hd = cube_cut(h, dim);
  uint64_t last = 0;
  for (size_t k = 0; k < cap; k++) {
    uint64_t best = UINT64_MAX;
    uint32_t best_id = 0;
    for (size_t i = 0; i < v->n; i++) {
      const view_member_t *m = &v->members[i];
      if (!view_serves(m->state)) continue;
      uint64_t key = cube_pref_key(m->id, hd);
      if ((k == 0 || key > last) && key < best) {
        best = key;
        best_id = m->id;
      }
    }
    out[k] = best_id;
    last = best;
  }
  return cap;
}

bool view_is_alive(uint32_t id, void *ud) {
  const view_member_t *m = view_find(ud, id);
  return m && view_serves(m->state);
}

uint64_t view_digest(const view_t *v) {
  uint64_t d = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    uint64_t parts[3] = {m->id, m->state, m->version};
    d = (d ^ hash_fnv1a(HASH_FNV_INIT, parts, sizeof parts)) * 0x100000001b3ull;
    d = (d ^ hash_fnv1a(HASH_FNV_INIT, m->addr, strlen(m->addr))) *
        0x100000001b3ull;
  }
  return d;
}

int view_encode(const view_t *v, buf_t *out) {
  /* n <= 2^CUBE_MAX_DIM (ids are unique and in range): it fits a u32, and
   * the worst-case size below cannot overflow. */
  size_t need = 8 + 4 + v->n * (VIEW_MEMBER_MIN + VIEW_ADDR_MAX);
  char *p = buf_reserve(out, need), *start = p;
  if (!p) return HS_ENOMEM;
  uint32_t count = (uint32_t)v->n;
  memcpy(p, &v->epoch, 8), p += 8;
  memcpy(p, &count, 4), p += 4;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *m = &v->members[i];
    uint8_t state = (uint8_t)m->state;
    uint8_t len = (uint8_t)strlen(m->addr);
    memcpy(p, &m->id, 4), p += 4;
    memcpy(p, &state, 1), p += 1;
    memcpy(p, &m->version, 8), p += 8;
    memcpy(p, &len, 1), p += 1;
    memcpy(p, m->addr, len), p += len;
  }
  buf_commit(out, (size_t)(p - start));
  return 0;
}

static int decode_fail(wire_reader_t *r, view_t *out, const char *field) {
  if (!r->bad) r->bad = field;
  view_free(out);
  return HS_EPROTOCOL;
}

int view_decode(wire_reader_t *r, view_t *out) {
  view_init(out);
  uint64_t epoch;
  uint32_t count;
  if (!wire_get_u64(r, "view.epoch", &epoch) ||
      !wire_get_u32(r, "view.count", &count))
    return decode_fail(r, out, "view");
  /* Check the count against the bytes left before it sizes anything. */
  if ((size_t)count > (size_t)(r->end - r->p) / VIEW_MEMBER_MIN)
    return decode_fail(r, out, "view.count");
  if (count) {
    out->members = malloc((size_t)count * sizeof *out->members);
    if (!out->members) return HS_ENOMEM;
    out->cap = count;
  }
  uint64_t sum = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t id;
    uint8_t state;
    uint64_t version;
    const char *addr;
    size_t len;
    if (!wire_get_u32(r, "view.id", &id) ||
        !wire_get_u8(r, "view.state", &state) ||
        !wire_get_u64(r, "view.version", &version) ||
        !wire_get_str8(r, "view.addr", &addr, &len))
      return decode_fail(r, out, "view");
    if (id > VIEW_ID_MAX) return decode_fail(r, out, "view.id");
    if (i > 0 && id <= out->members[i - 1].id)
      return decode_fail(r, out, "view.id");
    if (!state_ok(state)) return decode_fail(r, out, "view.state");
    if (!version_ok(version, state)) return decode_fail(r, out, "view.version");
    if (!addr_valid(addr, len)) return decode_fail(r, out, "view.addr");
    view_member_t *m = &out->members[i];
    m->id = id;
    m->state = (view_state_t)state;
    m->version = version;
    memcpy(m->addr, addr, len);
    m->addr[len] = '\0';
    out->n++;
    sum += version;
  }
  if (sum != epoch) return decode_fail(r, out, "view.epoch");
  out->epoch = epoch;
  return 0;
}
