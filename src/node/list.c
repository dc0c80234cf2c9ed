/* list — LIST_TOPICS: the cluster's topics, gathered from every live
 * member. Each member answers HOMED with the topics it is home of, so each
 * topic is named once; the node the client asked joins the parts, sorts
 * them and answers. A part that fails fails the whole answer: a partial
 * list would look complete. */
#include <stdlib.h>
#include <string.h>

#include "cube/cube.h"
#include "node/node.h"

/* Appends the names of topics homed here that start with prefix, one per
 * line. */
static void homed_names(hs_node_t *node, const char *prefix, size_t pn,
                        buf_t *out) {
  const char *k;
  size_t kn;
  void *v;
  for (size_t i = 0; map_next(&node->store.topics, &i, &k, &kn, &v);) {
    store_topic_t *t = v;
    if (t->name_len < pn || memcmp(t->name, prefix, pn)) continue;
    uint32_t home;
    if (cluster_copies(node, cube_hash(t->name, t->name_len), &home, 1) &&
        home != node->cfg.id)
      continue; /* a replica's copy: its home names it */
    buf_append(out, t->name, t->name_len);
    buf_append(out, "\n", 1);
  }
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the lines of b in place. */
static int sort_lines(buf_t *b) {
  size_t n = 0;
  for (size_t i = 0; i < b->len; i++) n += b->data[i] == '\n';
  if (n < 2) return 0;
  char **lines = malloc(n * sizeof *lines);
  char *copy = malloc(b->len);
  if (!lines || !copy) {
    free(lines);
    free(copy);
    return HS_ENOMEM;
  }
  memcpy(copy, b->data, b->len);
  size_t k = 0;
  for (char *p = copy; k < n; k++) {
    lines[k] = p;
    p = memchr(p, '\n', (size_t)(copy + b->len - p));
    *p++ = 0;
  }
  qsort(lines, n, sizeof *lines, by_name);
  buf_clear(b);
  for (k = 0; k < n; k++) {
    buf_append(b, lines[k], strlen(lines[k]));
    buf_append(b, "\n", 1);
  }
  free(lines);
  free(copy);
  return 0;
}

static void finish(hs_node_t *node, relay_t *g) {
  node_conn_t *nc = g->nc;
  if (nc) {
    if (g->failed) {
      node_reply_error(nc, WIRE_LIST_TOPICS, g->id, g->failed,
                       "node %u did not answer the listing",
                       g->failed_node);
    } else if (sort_lines(&g->names)) {
      node_reply_error(nc, WIRE_LIST_TOPICS, g->id, HS_ENOMEM,
                       "out of memory");
    } else {
      wire_writer_t w;
      wire_begin(&w, &nc->conn.out, WIRE_LIST_TOPICS, WIRE_F_REPLY, g->id);
      wire_put_bytes32(&w, g->names.data, g->names.len);
      wire_end(&w);
    }
    node->stats.frames_out++;
    node_send(nc);
  }
  route_relay_give(node, g);
}

void list_part_done(hs_node_t *node, relay_t *part, const link_reply_t *reply) {
  relay_t *g = part->gather;
  wire_reader_t r;
  const char *names;
  size_t len;
  if (reply->status || !reply->frame) {
    g->failed = reply->status ? reply->status : HS_EUNAVAILABLE;
    g->failed_node = part->target;
  } else {
    wire_reader_init(&r, reply->frame->body,
                     reply->frame->body_len);
    if (wire_get_bytes32(&r, "names", &names, &len))
      buf_append(&g->names, names, len);
  }
  if (--g->remaining == 0) finish(node, g);
}

void list_op_list_topics(node_conn_t *nc, const wire_frame_t *f,
                         wire_reader_t *r) {
  hs_node_t *node = nc->node;
  const char *prefix;
  size_t pn;
  if (!wire_get_str8(r, "prefix", &prefix, &pn) || !wire_reader_done(r))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed list_topics request: field \"%s\"",
                            r->bad);
  relay_t *g = route_relay_take(node);
  if (!g)
    return node_reply_error(nc, f->op, f->id, HS_ENOMEM, "out of memory");
  g->node = node;
  g->id = f->id;
  g->op = f->op;
  route_relay_attach(g, nc);
  homed_names(node, prefix, pn, &g->names);
  g->remaining = 1; /* held until every part is sent */
  uint32_t ids[1024];
  size_t n = view_live(&node->view, ids, 1024);
  char body[4 + 1 + HS_NAME_MAX];
  body[4] = (char)pn;
  memcpy(body + 5, prefix, pn);
  for (size_t i = 0; i < n && i < 1024; i++) {
    if (ids[i] == node->cfg.id) continue;
    relay_t *part = route_relay_take(node);
    if (!part) {
      g->failed = HS_ENOMEM;
      break;
    }
    part->node = node;
    part->gather = g;
    part->op = (uint8_t)WIRE_HOMED;
    part->target = ids[i];
    memcpy(body, &ids[i], 4);
    g->remaining++;
    if (route_send_part(node, part, WIRE_HOMED, body, 5 + pn, ids[i])) {
      g->remaining--;
      g->failed = HS_EUNAVAILABLE;
      g->failed_node = ids[i];
      route_relay_give(node, part);
    }
  }
  if (--g->remaining == 0) finish(node, g);
}

void list_op_homed(node_conn_t *nc, const wire_frame_t *f, wire_reader_t *r) {
  hs_node_t *node = nc->node;
  uint32_t id;
  const char *prefix;
  size_t pn;
  if (!wire_get_u32(r, "node", &id) ||
      !wire_get_str8(r, "prefix", &prefix, &pn) || !wire_reader_done(r))
    return node_reply_error(nc, f->op, f->id, HS_EINVALID,
                            "malformed homed request: field \"%s\"", r->bad);
  buf_t names = BUF_INIT;
  homed_names(node, prefix, pn, &names);
  wire_writer_t w;
  wire_begin(&w, &nc->conn.out, f->op, WIRE_F_REPLY, f->id);
  wire_put_bytes32(&w, names.data, names.len);
  wire_end(&w);
  buf_free(&names);
}
