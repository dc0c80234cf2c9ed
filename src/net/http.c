/* http — the monitoring port's HTTP/1.1 server: connections, parsing with
 * http-parser, answers, limits and timeouts. */
#include "net/http.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "hypersub.h"

#define READ_CHUNK (64 * 1024)
#define URL_MAX 2048

typedef struct http_conn http_conn_t;

struct http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  bool listening;
  int port;
  http_config_t cfg;
  http_route_cb route;
  void *ud;
  http_conn_t *conns;
  buf_t body; /* the answer being made */
  http_stats_t stats;
  log_limit_t bad_limit;
  int open_handles; /* the listener and each connection */
  bool closing;
  void (*freed)(void *ud);
  void *freed_ud;
};

struct http_conn {
  uv_tcp_t tcp;
  uv_timer_t timer; /* headers due, or idle keep-alive */
  uv_write_t write_req;
  http_server_t *server;
  http_conn_t *prev, *next;
  http_parser parser;
  buf_t in;      /* read, not yet parsed */
  buf_t out;     /* answers not yet handed to a write */
  buf_t sending; /* owned by the write in flight */
  char url[URL_MAX];
  size_t url_len;
  size_t header_bytes;
  int refuse;    /* an answer that ends the connection (400, 413, 431) */
  bool reading, writing, closing, close_after_flush, in_request;
  int open_handles; /* tcp and timer */
  char peer[64];
};

static void conn_close(http_conn_t *c);
static void flush(http_conn_t *c);

/* ---- freeing -------------------------------------------------------------- */

static void server_release(http_server_t *s) {
  if (--s->open_handles > 0 || !s->closing) return;
  void (*freed)(void *) = s->freed;
  void *ud = s->freed_ud;
  buf_free(&s->body);
  free(s);
  if (freed) freed(ud);
}

static void conn_handle_closed(uv_handle_t *h) {
  http_conn_t *c = h->data;
  if (--c->open_handles > 0) return;
  http_server_t *s = c->server;
  buf_free(&c->in);
  buf_free(&c->out);
  buf_free(&c->sending);
  free(c);
  server_release(s);
}

static void conn_close(http_conn_t *c) {
  if (c->closing) return;
  c->closing = true;
  http_server_t *s = c->server;
  if (c->prev)
    c->prev->next = c->next;
  else if (s->conns == c)
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->stats.connections--;
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

/* ---- answers -------------------------------------------------------------- */

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

/* Appends an answer to the connection's output. */
static void answer(http_conn_t *c, const http_response_t *res, bool head,
                   bool keep_alive) {
  char line[512];
  int n = snprintf(line, sizeof line,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                   "Content-Length: %zu\r\nCache-Control: no-store\r\n"
                   "X-Content-Type-Options: nosniff\r\n%s%s\r\n",
                   res->status, reason(res->status),
                   res->type ? res->type : "text/plain; charset=utf-8",
                   res->body->len, res->headers ? res->headers : "",
                   keep_alive ? "" : "Connection: close\r\n");
  if (n < 0 || (size_t)n >= sizeof line) n = 0;
  buf_append(&c->out, line, (size_t)n);
  if (!head) buf_append(&c->out, res->body->data, res->body->len);
  if (!keep_alive) c->close_after_flush = true;
}

/* A short plain answer of the server's own (errors). */
static void answer_text(http_conn_t *c, int status, const char *text,
                        bool keep_alive) {
  http_server_t *s = c->server;
  buf_clear(&s->body);
  buf_append(&s->body, text, strlen(text));
  http_response_t res = {.status = status, .body = &s->body};
  answer(c, &res, false, keep_alive);
}

/* A request the server will not take: answered, then the connection
 * closes. */
static void refuse(http_conn_t *c, int status, const char *why) {
  http_server_t *s = c->server;
  uint32_t suppressed = 0;
  s->stats.bad_requests++;
  if (s->cfg.log &&
      log_limit_allow(&s->bad_limit, log_now_ms(), &suppressed))
    LOG(s->cfg.log, HS_LOG_WARN, "http", "bad_request",
        LF_STR("peer", c->peer), LF_INT("status", status),
        LF_STR("error", why), LF_UINT("suppressed", suppressed));
  char text[160];
  snprintf(text, sizeof text, "%d %s: %s\n", status, reason(status), why);
  answer_text(c, status, text, false);
}

/* ---- the parser's callbacks ------------------------------------------------ */

static int on_message_begin(http_parser *p) {
  http_conn_t *c = p->data;
  c->url_len = 0;
  c->header_bytes = 0;
  c->in_request = true;
  return 0;
}

static int count_header(http_conn_t *c, size_t n) {
  c->header_bytes += n;
  if (c->header_bytes > c->server->cfg.max_header) {
    c->refuse = 431;
    return -1;
  }
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  http_conn_t *c = p->data;
  if (c->url_len + n > URL_MAX - 1) {
    c->refuse = 414;
    return -1;
  }
  memcpy(c->url + c->url_len, at, n);
  c->url_len += n;
  return count_header(c, n);
}

static int on_header_data(http_parser *p, const char *at, size_t n) {
  (void)at;
  return count_header(p->data, n);
}

static int on_headers_complete(http_parser *p) {
  http_conn_t *c = p->data;
  if (p->http_major != 1) {
    c->refuse = 400; /* HTTP/1.0 and 1.1 only */
    return -1;
  }
  if (p->content_length > 0 && p->content_length != UINT64_MAX) {
    c->refuse = 413; /* nothing here takes a body */
    return -1;
  }
  return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
  (void)at;
  (void)n;
  http_conn_t *c = p->data;
  c->refuse = 413; /* a chunked body */
  return -1;
}

static int on_message_complete(http_parser *p) {
  http_conn_t *c = p->data;
  http_server_t *s = c->server;
  c->in_request = false;
  s->stats.requests++;
  c->url[c->url_len] = 0;
  bool keep_alive = http_should_keep_alive(p) != 0;
  bool head = p->method == HTTP_HEAD;
  if (p->method != HTTP_GET && !head) {
    buf_clear(&s->body);
    const char *text = "only GET and HEAD are served\n";
    buf_append(&s->body, text, strlen(text));
    http_response_t res = {.status = 405, .body = &s->body,
                           .headers = "Allow: GET, HEAD\r\n"};
    answer(c, &res, false, keep_alive);
  } else {
    const char *q = memchr(c->url, '?', c->url_len);
    http_request_t req = {
        .method = head ? "HEAD" : "GET",
        .path = c->url,
        .path_len = q ? (size_t)(q - c->url) : c->url_len,
        .query = q ? q + 1 : "",
        .query_len = q ? c->url_len - (size_t)(q + 1 - c->url) : 0,
    };
    buf_clear(&s->body);
    http_response_t res = {.status = 200, .body = &s->body};
    if (c->url[0] != '/') {
      res.status = 400;
      const char *text = "the target must be a path\n";
      buf_append(&s->body, text, strlen(text));
    } else {
      s->route(s->ud, &req, &res);
    }
    answer(c, &res, head, keep_alive);
  }
  /* The next request on this connection has a fresh timeout. */
  uv_timer_again(&c->timer);
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_data,
    .on_header_value = on_header_data,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading and writing ----------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *out) {
  http_conn_t *c = h->data;
  (void)hint;
  char *p = buf_reserve(&c->in, READ_CHUNK);
  *out = p ? uv_buf_init(p, (unsigned)(c->in.cap - c->in.len))
           : uv_buf_init(NULL, 0);
}

static void pause_reading(http_conn_t *c) {
  if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = false;
}

/* Parses what was read; answers go to the output. */
static void parse(http_conn_t *c) {
  size_t done = http_parser_execute(&c->parser, &settings, c->in.data,
                                    c->in.len);
  enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
  if (c->refuse) {
    refuse(c, c->refuse, c->refuse == 431   ? "headers too large"
                         : c->refuse == 414 ? "target too long"
                         : c->refuse == 400 ? "HTTP/1.0 or HTTP/1.1 only"
                                            : "a body is not taken here");
    pause_reading(c);
  } else if (e != HPE_OK) {
    refuse(c, 400, http_errno_description(e));
    pause_reading(c);
  } else if (c->parser.upgrade) {
    refuse(c, 400, "no protocol upgrade here");
    pause_reading(c);
  }
  buf_consume(&c->in, done <= c->in.len ? done : c->in.len);
  if (c->close_after_flush) pause_reading(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
  http_conn_t *c = st->data;
  (void)b;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  if (nread == 0) return;
  buf_commit(&c->in, (size_t)nread);
  parse(c);
  flush(c);
}

static void after_write(uv_write_t *req, int status) {
  http_conn_t *c = req->data;
  c->writing = false;
  buf_clear(&c->sending);
  if (c->closing) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  flush(c);
}

/* Hands the output to a write; closes once an ending answer is out;
 * reading pauses while too much waits unsent. */
static void flush(http_conn_t *c) {
  if (c->closing || c->writing) return;
  if (c->out.len == 0) {
    if (c->close_after_flush) {
      conn_close(c);
      return;
    }
    if (!c->reading && !c->close_after_flush) {
      if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    }
    return;
  }
  buf_t t = c->sending;
  c->sending = c->out;
  c->out = t;
  uv_buf_t b = uv_buf_init(c->sending.data, (unsigned)c->sending.len);
  c->write_req.data = c;
  if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, after_write)) {
    conn_close(c);
    return;
  }
  c->writing = true;
  if (c->sending.len > c->server->cfg.max_output) pause_reading(c);
}

/* ---- timeouts and accepting ------------------------------------------------- */

static void on_timeout(uv_timer_t *t) {
  http_conn_t *c = t->data;
  if (c->in_request || c->in.len) c->server->stats.timed_out++;
  conn_close(c);
}

static void on_connection(uv_stream_t *listener, int status) {
  http_server_t *s = listener->data;
  if (status < 0) return;
  http_conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->server = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c->timer.data = c;
  c->open_handles = 2;
  s->open_handles++;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->stats.connections++;
  if (uv_accept(listener, (uv_stream_t *)&c->tcp)) {
    conn_close(c);
    return;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
  addr_name(&ss, c->peer, sizeof c->peer);
  if (s->stats.connections > s->cfg.max_connections) {
    s->stats.refused++;
    answer_text(c, 503, "too many connections\n", false);
    flush(c);
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_timer_start(&c->timer, on_timeout, s->cfg.timeout_ms, s->cfg.timeout_ms);
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
    conn_close(c);
    return;
  }
  c->reading = true;
}

/* ---- the server --------------------------------------------------------------- */

int http_server_new(uv_loop_t *loop, const http_config_t *cfg,
                    http_route_cb route, void *ud, http_server_t **out) {
  if (!cfg->timeout_ms || !cfg->max_connections || !cfg->max_header ||
      !cfg->max_output || !route)
    return HS_EINVALID;
  http_server_t *s = calloc(1, sizeof *s);
  if (!s) return HS_ENOMEM;
  s->loop = loop;
  s->cfg = *cfg;
  s->route = route;
  s->ud = ud;
  s->bad_limit = (log_limit_t)LOG_LIMIT_INIT(10);
  *out = s;
  return 0;
}

static void listener_closed(uv_handle_t *h) { server_release(h->data); }

int http_server_listen(http_server_t *s, const char *host, int port,
                       char *err, size_t err_len) {
  struct sockaddr_storage ss;
  char addr[300];
  if (addr_format(addr, sizeof addr, host, port) || addr_parse(addr, &ss)) {
    snprintf(err, err_len, "\"%s\" is not an IP address", host);
    return HS_EINVALID;
  }
  uv_tcp_init(s->loop, &s->listener);
  s->listener.data = s;
  s->open_handles++;
  s->listening = true;
  int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
  if (rc) {
    snprintf(err, err_len, "could not listen on %s: %s", addr, uv_strerror(rc));
    s->listening = false;
    uv_close((uv_handle_t *)&s->listener, listener_closed);
    return HS_EIO;
  }
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
  s->port = ntohs(bound.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *)&bound)->sin6_port
                      : ((struct sockaddr_in *)&bound)->sin_port);
  return 0;
}

int http_server_port(const http_server_t *s) {
  return s->listening ? s->port : 0;
}

const http_stats_t *http_server_stats(const http_server_t *s) {
  return &s->stats;
}

void http_server_free(http_server_t *s, void (*freed)(void *ud), void *ud) {
  s->closing = true;
  s->freed = freed;
  s->freed_ud = ud;
  if (s->listening) {
    s->listening = false;
    uv_close((uv_handle_t *)&s->listener, listener_closed);
  }
  while (s->conns) conn_close(s->conns);
  s->open_handles++; /* this call's own, so nothing frees before we return */
  server_release(s);
}

/* ---- queries ------------------------------------------------------------------ */

static int hex(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

bool http_query_get(const http_request_t *req, const char *name, char *out,
                    size_t out_len) {
  size_t nlen = strlen(name);
  const char *p = req->query, *end = req->query + req->query_len;
  while (p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    if (!amp) amp = end;
    if ((size_t)(amp - p) > nlen && !memcmp(p, name, nlen) && p[nlen] == '=') {
      size_t k = 0;
      for (const char *v = p + nlen + 1; v < amp; v++) {
        char ch = *v;
        if (ch == '+') {
          ch = ' ';
        } else if (ch == '%' && amp - v > 2 && hex(v[1]) >= 0 && hex(v[2]) >= 0) {
          ch = (char)(hex(v[1]) * 16 + hex(v[2]));
          v += 2;
        }
        if (k + 1 >= out_len) return false;
        out[k++] = ch;
      }
      out[k] = 0;
      return true;
    }
    p = amp + 1;
  }
  return false;
}
