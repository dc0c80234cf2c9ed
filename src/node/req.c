/* req — the pool of requests waiting on other nodes, and their lists. */
#include "node/req.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

req_t *req_take(req_pool_t *p, struct hs_node *node) {
  req_t *r = p->free;
  if (r)
    p->free = r->next;
  else if (!(r = malloc(sizeof *r)))
    return NULL;
  /* The payload is filled by whoever uses it; the key alone is 512 bytes. */
  memset(r, 0, offsetof(req_t, u));
  r->node = node;
  p->live++;
  return r;
}

void req_attach(req_t *r, struct node_conn *nc, req_t **head) {
  r->nc = nc;
  r->head = head;
  r->prev = NULL;
  r->next = *head;
  if (*head) (*head)->prev = r;
  *head = r;
}

void req_detach(req_t *r) {
  if (!r->head) return;
  if (r->prev)
    r->prev->next = r->next;
  else
    *r->head = r->next;
  if (r->next) r->next->prev = r->prev;
  r->head = NULL;
  r->prev = r->next = NULL;
  r->nc = NULL;
}

void req_give(req_pool_t *p, req_t *r) {
  req_detach(r);
  r->next = p->free;
  p->free = r;
  p->live--;
}

void req_orphan_all(req_t **head) {
  while (*head) {
    req_t *r = *head;
    req_detach(r);
    if (r->orphaned) r->orphaned(r);
  }
}

void req_pool_free(req_pool_t *p) {
  while (p->free) {
    req_t *r = p->free;
    p->free = r->next;
    free(r);
  }
}

void req_key_set(req_key_t *k, const char *sid, size_t sn, const char *topic,
                 size_t tn) {
  char *b = k->bytes;
  *b++ = (char)sn;
  memcpy(b, sid, sn);
  b += sn;
  *b++ = (char)tn;
  memcpy(b, topic, tn);
  k->len = (uint16_t)(2 + sn + tn);
}

void req_key_parts(const req_key_t *k, const char **sid, size_t *sn,
                   const char **topic, size_t *tn) {
  *sn = (uint8_t)k->bytes[0];
  *sid = k->bytes + 1;
  *tn = (uint8_t)k->bytes[1 + *sn];
  *topic = k->bytes + 2 + *sn;
}
