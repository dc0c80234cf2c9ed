/* addr — "host:port" strings: parsing into a socket address, and the one
 * way to write them ("[host]:port" for IPv6). */
#ifndef HS_ADDR_H
#define HS_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Longest "host:port" a member may have, without the NUL. */
#define ADDR_MAX 63

/* "127.0.0.1:7000", "[::1]:7000" or "localhost:7000" into a socket
 * address. 0 or HS_EINVALID. */
int addr_parse(const char *addr, struct sockaddr_storage *out);
/* The same for n bytes that need not end in a NUL: valid, at most
 * ADDR_MAX bytes, and no NUL inside. */
bool addr_valid(const char *s, size_t n);
/* The host of "host:port" ("[v6]:port" without its brackets) into out.
 * 0, or HS_EINVALID when it is not host:port or does not fit. */
int addr_host(const char *addr, char *out, size_t cap);
/* Writes "host:port" (IPv6 hosts in brackets) into out. 0, or HS_EINVALID
 * when it does not fit in cap. */
int addr_format(char *out, size_t cap, const char *host, int port);
/* A socket address as "host:port" (for logs); "?:0" when unknown. */
void addr_name(const struct sockaddr_storage *ss, char *out, size_t cap);

#endif
