/* monitor — the node's HTTP port (config.http): /metrics, /livez,
 * /readyz, /view, /topics, /where?topic=T[&from=ID] and the live picture of
 * the cube (/, the page of page.c). While someone reads /view, it asks
 * every live member for its facts once a second (STATS on the peer links),
 * so the picture shows what each node homes, replicates and lags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cube/cube.h"
#include "net/http.h"
#include "node/node.h"

/* Members are asked while /view was read within this, every GATHER_MS. */
#define WATCHED_MS 10000
#define GATHER_MS 1000
#define LINKS_MAX 64
#define HTTP_MAX_HEADER (8 * 1024)
#define HTTP_MAX_OUTPUT (4 * 1024 * 1024)

/* What another member last said of itself. */
typedef struct member_facts {
  uint64_t at_ms; /* uv_now() when it answered */
  facts_t f;
  bool catching_up, ready;
  uint32_t links[LINKS_MAX];
  size_t n_links;
} member_facts_t;

struct monitor {
  hs_node_t *node;
  char *host;
  int port;
  http_server_t *http;
  uv_timer_t timer; /* asks the members while watched */
  uint64_t watched_ms;
  map_t facts; /* member id (4 bytes) -> member_facts_t* */
  int open;    /* the timer and the server, until closed */
};

/* The page (page.c). */
extern const char monitor_page[];
extern const size_t monitor_page_len;

/* ---- what the members say ---------------------------------------------------- */

/* The first pat in text[0..len), or NULL. */
static const char *search(const char *text, size_t len, const char *pat,
                          size_t n) {
  for (size_t i = 0; n <= len && i <= len - n; i++)
    if (text[i] == pat[0] && !memcmp(text + i, pat, n)) return text + i;
  return NULL;
}

/* A number in a STATS answer: the value of "key": (a top-level key the node
 * writes once). false when absent. */
static bool find_u64(const char *text, size_t len, const char *key,
                     uint64_t *out) {
  char pat[64];
  int n = snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *at = search(text, len, pat, (size_t)n);
  if (!at) return false;
  const char *p = at + n, *end = text + len;
  if (p < end && (*p == 't' || *p == 'f')) {
    *out = *p == 't';
    return true;
  }
  uint64_t v = 0;
  bool any = false;
  while (p < end && *p >= '0' && *p <= '9' && v < UINT64_MAX / 10) {
    v = v * 10 + (uint64_t)(*p++ - '0');
    any = true;
  }
  *out = v;
  return any;
}

/* "links":[1,2,3] of a STATS answer. */
static size_t find_links(const char *text, size_t len, uint32_t *out) {
  const char *at = search(text, len, "\"links\":[", 9);
  if (!at) return 0;
  const char *p = at + 9, *end = text + len;
  size_t n = 0;
  while (p < end && *p != ']' && n < LINKS_MAX) {
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9' && v <= HS_ID_MAX)
      v = v * 10 + (uint64_t)(*p++ - '0');
    out[n++] = (uint32_t)v;
    while (p < end && (*p < '0' || *p > '9') && *p != ']') p++;
  }
  return n;
}

static void on_facts(link_t *link, const link_reply_t *reply, void *ud) {
  uint32_t id;
  if (!peers_id(link, &id)) return; /* the node is closing */
  struct monitor *m = ud;
  wire_reader_t r;
  msg_text_t text;
  if (reply->status || !reply->frame) return;
  wire_reader_init(&r, reply->frame->body, reply->frame->body_len);
  if (!msg_text_get(&r, &text)) return;
  member_facts_t *mf = map_get(&m->facts, &id, 4);
  if (!mf) {
    mf = calloc(1, sizeof *mf);
    if (!mf || map_put(&m->facts, &id, 4, mf)) {
      free(mf);
      return;
    }
  }
  const char *s = text.text.s;
  size_t n = text.text.n;
  uint64_t v = 0;
  mf->at_ms = uv_now(m->node->loop);
  find_u64(s, n, "topics_homed", &mf->f.topics_homed);
  find_u64(s, n, "topics_replicated", &mf->f.topics_replicated);
  find_u64(s, n, "under_replicated", &mf->f.under_replicated);
  find_u64(s, n, "replica_lag_records", &mf->f.lag_records);
  find_u64(s, n, "replica_lag_ms", &mf->f.lag_ms);
  mf->catching_up = find_u64(s, n, "catching_up", &v) && v;
  mf->ready = find_u64(s, n, "ready", &v) && v;
  mf->n_links = find_links(s, n, mf->links);
}

static void gather(uv_timer_t *t) {
  struct monitor *m = t->data;
  hs_node_t *node = m->node;
  if (uv_now(node->loop) - m->watched_ms > WATCHED_MS) {
    uv_timer_stop(t);
    return;
  }
  if (node->state != HS_NODE_RUNNING) return;
  const view_t *v = &node->cluster.view;
  for (size_t i = 0; i < v->n; i++) {
    const view_member_t *mem = &v->members[i];
    if (mem->id == node_self(node) || !view_serves(mem->state)) continue;
    link_t *link = peers_link(&node->peers, mem->id);
    wire_writer_t w;
    uint32_t rid;
    if (!link || link_begin(link, WIRE_STATS, 0, &w, &rid)) continue;
    link_end(link, &w, rid, GATHER_MS, on_facts, m);
  }
}

/* ---- the routes ----------------------------------------------------------------- */

static void text(http_response_t *res, int status, const char *s) {
  res->status = status;
  buf_append(res->body, s, strlen(s));
}

static void json_answer(http_response_t *res, json_t *j) {
  res->type = "application/json";
  res->headers = "Access-Control-Allow-Origin: *\r\n";
  if (json_end(j)) {
    buf_clear(res->body);
    text(res, 503, "out of memory\n");
  }
}

static void member_json(struct monitor *m, json_t *j, const view_member_t *mem) {
  hs_node_t *node = m->node;
  json_open(j, NULL);
  json_u64(j, "id", mem->id);
  json_str(j, "addr", mem->addr, strlen(mem->addr));
  const char *state = cluster_state_name(mem->state);
  json_str(j, "state", state, strlen(state));
  json_u64(j, "version", mem->version);
  const facts_t *f = NULL;
  facts_t own;
  bool catching_up = false, ready = false;
  const uint32_t *links = NULL;
  size_t n_links = 0;
  uint32_t own_links[LINKS_MAX];
  if (mem->id == node_self(node)) {
    facts_of(node, &own);
    f = &own;
    catching_up = node->member.catching_up;
    const char *why;
    ready = facts_ready(node, &why);
    n_links = peers_ids(&node->peers, own_links, LINKS_MAX);
    if (n_links > LINKS_MAX) n_links = LINKS_MAX;
    links = own_links;
  } else if (view_serves(mem->state)) {
    uint32_t id = mem->id;
    const member_facts_t *mf = map_get(&m->facts, &id, 4);
    if (mf) {
      f = &mf->f;
      catching_up = mf->catching_up;
      ready = mf->ready;
      links = mf->links;
      n_links = mf->n_links;
      json_u64(j, "facts_age_ms", uv_now(node->loop) - mf->at_ms);
    }
  }
  if (f) {
    json_u64(j, "topics_homed", f->topics_homed);
    json_u64(j, "topics_replicated", f->topics_replicated);
    json_u64(j, "under_replicated", f->under_replicated);
    json_u64(j, "lag_records", f->lag_records);
    json_u64(j, "lag_ms", f->lag_ms);
    json_bool(j, "catching_up", catching_up);
    json_bool(j, "ready", ready);
    json_open_list(j, "links");
    for (size_t i = 0; i < n_links; i++) json_u64(j, NULL, links[i]);
    json_close_list(j);
  }
  json_close(j);
}

/* The view, each member with what it last said of itself; reading it
 * keeps the members asked. */
static void route_view(struct monitor *m, http_response_t *res) {
  hs_node_t *node = m->node;
  m->watched_ms = uv_now(node->loop);
  if (!uv_is_active((uv_handle_t *)&m->timer))
    uv_timer_start(&m->timer, gather, 0, GATHER_MS);
  const view_t *v = &node->cluster.view;
  json_t j;
  json_init(&j, res->body);
  json_open(&j, NULL);
  json_u64(&j, "self", node_self(node));
  json_u64(&j, "epoch", v->epoch);
  json_u64(&j, "dim", view_dim(v));
  json_u64(&j, "replicas", cluster_copy_count(&node->cluster));
  json_str(&j, "cluster", node->cluster_name, strlen(node->cluster_name));
  json_str(&j, "version", HS_VERSION, strlen(HS_VERSION));
  const char *why;
  json_bool(&j, "ready", facts_ready(node, &why));
  json_open_list(&j, "members");
  for (size_t i = 0; i < v->n; i++) member_json(m, &j, &v->members[i]);
  json_close_list(&j);
  json_close(&j);
  json_answer(res, &j);
}

/* The topics this node holds, with the lag of each replica of those it
 * homes. */
static void route_topics(struct monitor *m, http_response_t *res) {
  hs_node_t *node = m->node;
  uint64_t now = log_now_ms();
  json_t j;
  json_init(&j, res->body);
  json_open(&j, NULL);
  json_u64(&j, "node", node_self(node));
  json_open_list(&j, "topics");
  void *v;
  repl_lag_t lags[32];
  for (size_t i = 0; map_next(&node->store.topics, &i, NULL, NULL, &v);) {
    store_topic_t *t = v;
    json_open(&j, NULL);
    json_str(&j, "name", t->name, t->name_len);
    json_str(&j, "role", repl_is_home(t) ? "home" : "replica",
             repl_is_home(t) ? 4 : 7);
    json_u64(&j, "first", t->first);
    json_u64(&j, "next", t->next);
    json_u64(&j, "bytes", t->bytes);
    json_u64(&j, "cursors", t->cursors.count);
    size_t n = repl_lags(t, now, lags, 32);
    if (repl_is_home(t)) {
      json_open_list(&j, "replicas");
      for (size_t k = 0; k < n; k++) {
        json_open(&j, NULL);
        json_u64(&j, "id", lags[k].replica);
        json_u64(&j, "lag_records", lags[k].records);
        json_u64(&j, "lag_ms", lags[k].ms);
        json_bool(&j, "streaming", lags[k].streaming);
        json_close(&j);
      }
      json_close_list(&j);
    }
    json_close(&j);
  }
  json_close_list(&j);
  json_close(&j);
  json_answer(res, &j);
}

/* Where a topic lives in this view, and the path a request entering at
 * node `from` takes to its home (the default routing). */
static void route_where(struct monitor *m, const http_request_t *req,
                        http_response_t *res) {
  hs_node_t *node = m->node;
  char topic[HS_NAME_MAX + 1], from_s[16];
  if (!http_query_get(req, "topic", topic, sizeof topic) ||
      hs_name_check(topic, strlen(topic)))
    return text(res, 400, "topic=NAME is needed, a valid name\n");
  const view_t *v = &node->cluster.view;
  uint32_t ids[PLACE_COPIES_MAX];
  size_t n = cluster_copies(&node->cluster, place_topic(topic, strlen(topic)),
                            ids, PLACE_COPIES_MAX);
  json_t j;
  json_init(&j, res->body);
  json_open(&j, NULL);
  json_str(&j, "topic", topic, strlen(topic));
  json_u64(&j, "epoch", v->epoch);
  if (n) json_u64(&j, "home", ids[0]);
  json_open_list(&j, "replicas");
  for (size_t i = 1; i < n; i++) json_u64(&j, NULL, ids[i]);
  json_close_list(&j);
  if (n && http_query_get(req, "from", from_s, sizeof from_s)) {
    char *end;
    unsigned long from = strtoul(from_s, &end, 10);
    if (*end || !view_find(v, (uint32_t)from)) {
      buf_clear(res->body);
      return text(res, 400, "from=ID must be a member\n");
    }
    json_open_list(&j, "path");
    uint32_t at = (uint32_t)from, came = UINT32_MAX;
    unsigned dim = view_dim(v), limit = 2 * dim + 2;
    json_u64(&j, NULL, at);
    for (unsigned hop = 0; at != ids[0] && hop < limit; hop++) {
      uint32_t next = cube_next_hop(at, ids[0], dim, came, view_is_alive,
                                    (void *)v);
      if (next == UINT32_MAX) break;
      came = at;
      at = next;
      json_u64(&j, NULL, at);
    }
    json_close_list(&j);
  }
  json_close(&j);
  json_answer(res, &j);
}

static bool is(const http_request_t *req, const char *path) {
  return req->path_len == strlen(path) && !memcmp(req->path, path, req->path_len);
}

static void route(void *ud, const http_request_t *req, http_response_t *res) {
  struct monitor *m = ud;
  hs_node_t *node = m->node;
  if (is(req, "/") || is(req, "/index.html")) {
    res->type = "text/html; charset=utf-8";
    buf_append(res->body, monitor_page, monitor_page_len);
  } else if (is(req, "/metrics")) {
    res->type = "text/plain; version=0.0.4; charset=utf-8";
    metrics_write(node, res->body);
  } else if (is(req, "/livez")) {
    text(res, 200, "ok\n");
  } else if (is(req, "/readyz")) {
    const char *why;
    if (facts_ready(node, &why)) return text(res, 200, "ready\n");
    text(res, 503, "not ready: ");
    buf_append(res->body, why, strlen(why));
    buf_append(res->body, "\n", 1);
  } else if (is(req, "/view")) {
    route_view(m, res);
  } else if (is(req, "/topics")) {
    route_topics(m, res);
  } else if (is(req, "/where")) {
    route_where(m, req, res);
  } else {
    text(res, 404, "not found; try /, /metrics, /livez, /readyz, /view, "
                   "/topics or /where?topic=NAME\n");
  }
}

/* ---- life ------------------------------------------------------------------------ */

/* "host:port" or "[v6]:port" into host (cap bytes) and port. */
static int split_addr(const char *addr, char *host, size_t cap, int *port) {
  const char *colon = strrchr(addr, ':');
  if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
      strlen(colon + 1) > 5)
    return HS_EINVALID;
  const char *start = addr, *end = colon;
  if (*addr == '[') {
    start = addr + 1;
    if (end <= start || end[-1] != ']') return HS_EINVALID;
    end--;
  }
  size_t n = (size_t)(end - start);
  if (!n || n >= cap) return HS_EINVALID;
  memcpy(host, start, n);
  host[n] = 0;
  *port = atoi(colon + 1);
  return *port <= 65535 ? 0 : HS_EINVALID;
}

int monitor_new(hs_node_t *node, const hs_node_config_t *cfg) {
  if (!cfg->http) return 0;
  struct monitor *m = calloc(1, sizeof *m);
  char *host = m ? malloc(strlen(cfg->http) + 1) : NULL;
  int port = 0;
  if (!host) {
    free(m);
    return HS_ENOMEM;
  }
  if (split_addr(cfg->http, host, strlen(cfg->http) + 1, &port)) {
    free(host);
    free(m);
    return HS_EINVALID;
  }
  m->node = node;
  m->host = host;
  m->port = port;
  node->monitor = m;
  return 0;
}

int monitor_start(hs_node_t *node) {
  struct monitor *m = node->monitor;
  if (!m) return 0;
  http_config_t hc = {.timeout_ms = node->cfg.http_timeout_ms,
                      .max_connections = node->cfg.http_max_connections,
                      .max_header = HTTP_MAX_HEADER,
                      .max_output = HTTP_MAX_OUTPUT,
                      .log = &node->log};
  int rc = http_server_new(node->loop, &hc, route, m, &m->http);
  if (rc) return rc;
  rc = http_server_listen(m->http, m->host, m->port, node->error,
                          sizeof node->error);
  if (rc) {
    LOG(&node->log, HS_LOG_ERROR, "http", "listen_failed",
        LF_STR("error", node->error));
    http_server_free(m->http, NULL, NULL);
    m->http = NULL;
    return rc;
  }
  uv_timer_init(node->loop, &m->timer);
  m->timer.data = m;
  m->open = 2;
  node->open_handles++; /* released when the monitor is gone */
  LOG(&node->log, HS_LOG_INFO, "http", "http_listening",
      LF_STR("host", m->host), LF_INT("port", http_server_port(m->http)));
  return 0;
}

static void monitor_release(struct monitor *m) {
  if (--m->open > 0) return;
  hs_node_t *node = m->node;
  void *v;
  for (size_t i = 0; map_next(&m->facts, &i, NULL, NULL, &v);) free(v);
  map_free(&m->facts);
  free(m->host);
  free(m);
  node_release(node);
}

static void server_freed(void *ud) { monitor_release(ud); }
static void timer_closed(uv_handle_t *h) { monitor_release(h->data); }

void monitor_free(hs_node_t *node) {
  struct monitor *m = node->monitor;
  if (!m) return;
  node->monitor = NULL;
  if (!m->http) { /* never listened */
    free(m->host);
    free(m);
    return;
  }
  http_server_free(m->http, server_freed, m);
  uv_close((uv_handle_t *)&m->timer, timer_closed);
}

HS_API int hs_node_http_port(const hs_node_t *node) {
  return node->monitor && node->monitor->http
             ? http_server_port(node->monitor->http)
             : 0;
}
