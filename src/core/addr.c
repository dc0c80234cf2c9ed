/* addr — host:port parsing and formatting over inet_pton/inet_ntop. */
#include "core/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersub.h"

int addr_parse(const char *addr, struct sockaddr_storage *out) {
  char host[256];
  const char *colon = strrchr(addr, ':');
  if (!colon || colon == addr) return HS_EINVALID;
  size_t hn = (size_t)(colon - addr);
  if (addr[0] == '[') { /* [::1]:7000 */
    if (hn < 2 || addr[hn - 1] != ']') return HS_EINVALID;
    addr++;
    hn -= 2;
  }
  if (hn >= sizeof host) return HS_EINVALID;
  memcpy(host, addr, hn);
  host[hn] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || port < 0 || port > 65535) return HS_EINVALID;
  if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return 0;
  }
  return HS_EINVALID;
}

bool addr_valid(const char *s, size_t n) {
  char copy[ADDR_MAX + 1];
  struct sockaddr_storage ss;
  if (n == 0 || n > ADDR_MAX || memchr(s, '\0', n)) return false;
  memcpy(copy, s, n);
  copy[n] = 0;
  return addr_parse(copy, &ss) == 0;
}

int addr_host(const char *addr, char *out, size_t cap) {
  const char *colon = strrchr(addr, ':');
  if (!colon || colon == addr) return HS_EINVALID;
  const char *host = addr;
  size_t n = (size_t)(colon - addr);
  if (addr[0] == '[') {
    if (n < 2 || addr[n - 1] != ']') return HS_EINVALID;
    host++;
    n -= 2;
  }
  if (n >= cap) return HS_EINVALID;
  memcpy(out, host, n);
  out[n] = 0;
  return 0;
}

int addr_format(char *out, size_t cap, const char *host, int port) {
  int n = snprintf(out, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
                   port);
  return n < 0 || (size_t)n >= cap ? HS_EINVALID : 0;
}

void addr_name(const struct sockaddr_storage *ss, char *out, size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
    port = ntohs(v4->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    port = ntohs(v6->sin6_port);
  }
  if (addr_format(out, cap, host, port)) snprintf(out, cap, "?:0");
}
