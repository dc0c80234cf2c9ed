/* pending — requests in flight, found by their request id: an open
 * addressing table of fixed-size entries whose first field is the u32 id
 * (0 marks a free slot). Entries move when the table grows or one is
 * taken out, so callers copy what they keep. */
#ifndef HS_PENDING_H
#define HS_PENDING_H

#include <stddef.h>
#include <stdint.h>

typedef struct pending {
  char *slots;
  size_t size;  /* bytes per entry */
  size_t cap;   /* power of two, or 0 */
  size_t count; /* entries in use */
} pending_t;

void pending_init(pending_t *p, size_t entry_size);
void pending_free(pending_t *p);
/* The entry of `id`, or NULL. */
void *pending_find(const pending_t *p, uint32_t id);
/* A new zeroed entry for id (which must not be there, nor be 0), or NULL
 * when out of memory. */
void *pending_add(pending_t *p, uint32_t id);
/* Copies the entry out to `out` (entry_size bytes) and removes it. */
void pending_take(pending_t *p, void *entry, void *out);
/* Walks the entries: for (size_t i = 0; (e = pending_next(p, &i));).
 * The table must not change meanwhile. */
void *pending_next(const pending_t *p, size_t *i);
/* Moves every entry out into out[0..count) ordered by id (the order they
 * were made in, ids being handed out in turn) and empties the table.
 * `out` holds count * entry_size bytes. */
void pending_drain(pending_t *p, void *out);

#endif
