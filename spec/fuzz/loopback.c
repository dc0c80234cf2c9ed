/* loopback — connect() for the fuzzer's process: it reaches only the node
 * under test. Views from the fuzzer may name any address, and the node
 * connects to the members it learns; every address but the node's own is
 * refused at once, so a run sends nothing off this process. Defined here,
 * it takes the place of libc's for libuv as well. */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "loopback.h"

static in_port_t allowed; /* network order; 0: none */

void loopback_allow(int port) { allowed = htons((uint16_t)port); }

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
  const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
  if (sa && len >= sizeof *in && sa->sa_family == AF_INET && allowed &&
      in->sin_port == allowed && in->sin_addr.s_addr == htonl(INADDR_LOOPBACK))
    return (int)syscall(SYS_connect, fd, sa, len);
  errno = ECONNREFUSED;
  return -1;
}
