/* http — a small HTTP/1.1 server on a libuv stream, for a node's
 * monitoring port: requests parsed by http-parser, answered at once by the
 * one route callback its owner registered, keep-alive and pipelining, and
 * limits on what a client can make it hold (header bytes, a body, headers
 * slower than the timeout, an idle keep-alive, connections, unsent output).
 *
 * Only GET and HEAD are served (others get 405); a request that does not
 * parse gets 400, headers over the limit 431, a body 413, and the
 * connection closes after the answer. */
#ifndef HS_HTTP_H
#define HS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/log.h"

typedef struct http_server http_server_t;

typedef struct http_config {
  uint32_t timeout_ms;      /* a request's headers must come within it, and
                               an idle keep-alive connection closes after it */
  uint32_t max_connections; /* more are answered 503 and closed */
  size_t max_header;        /* bytes of request line and headers */
  size_t max_output;        /* unsent answer bytes before reading pauses */
  log_t *log;
} http_config_t;

/* A request, valid during the route callback. */
typedef struct http_request {
  const char *method; /* "GET" or "HEAD" */
  const char *path;   /* up to the '?' */
  size_t path_len;
  const char *query;  /* after the '?', or "" */
  size_t query_len;
} http_request_t;

/* What the route fills in: status (200 by default), content type, body, and
 * extra header lines ("Name: value\r\n"...), or NULL. */
typedef struct http_response {
  int status;
  const char *type;
  buf_t *body;
  const char *headers;
} http_response_t;

typedef void (*http_route_cb)(void *ud, const http_request_t *req,
                              http_response_t *res);

/* Counters, for the node's metrics. */
typedef struct http_stats {
  uint64_t requests, bad_requests, refused, timed_out;
  size_t connections;
} http_stats_t;

/* 0, HS_EINVALID or HS_ENOMEM. */
int http_server_new(uv_loop_t *loop, const http_config_t *cfg,
                    http_route_cb route, void *ud, http_server_t **out);
/* Binds and listens on host:port (port 0 picks one). 0, or HS_EINVALID /
 * HS_EIO with why in err. */
int http_server_listen(http_server_t *s, const char *host, int port,
                       char *err, size_t err_len);
/* The bound port, 0 when not listening. */
int http_server_port(const http_server_t *s);
const http_stats_t *http_server_stats(const http_server_t *s);
/* Closes the listener and every connection; freed(ud) runs once libuv has
 * let go of the last handle, and the server is freed then. */
void http_server_free(http_server_t *s, void (*freed)(void *ud), void *ud);

/* "q=a&b=c": the value of name, unescaped into out (NUL-terminated);
 * false when absent or longer than out. */
bool http_query_get(const http_request_t *req, const char *name, char *out,
                    size_t out_len);

#endif
