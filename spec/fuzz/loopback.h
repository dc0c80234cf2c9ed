/* loopback — keeps a fuzzing run inside this process: connect() reaches
 * only the node under test (loopback.c). */
#ifndef HS_FUZZ_LOOPBACK_H
#define HS_FUZZ_LOOPBACK_H

/* The one address connect() may reach from now on: 127.0.0.1:port. */
void loopback_allow(int port);

#endif
