/* harness — an in-process node and, per input, one connection to it whose
 * input the fuzzer supplies. The node is member 0 of a two-member view
 * (member 1's address refuses connections) and listens on 127.0.0.1:0; it
 * serves up to 100 inputs, then a fresh one is made (harness.c). The
 * connection is accepted on a real socket, and its input goes through the
 * node's own framing (conn_feed) and dispatch, inside the loop. */
#ifndef HS_FUZZ_HARNESS_H
#define HS_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The view the node starts with (the seed generator places names by it). */
#define HARNESS_CLUSTER "hypersub"
#define HARNESS_REPLICAS 2
#define HARNESS_PEER_ID 1
#define HARNESS_PEER_ADDR "127.0.0.1:1"
/* The cluster key's contents: the node is a keyed cluster, and the peer
 * input starts after a member's proof of it. */
#define HARNESS_KEY "the fuzzed cluster's shared secret"

/* Runs one input: byte 0 says how the rest arrives (bits 0-6: bytes per
 * read, 0 for all at once; bit 7: the loop turns between reads), the rest
 * is the byte stream. peer: the connection first passes the handshake of
 * member 1 (HELLO as a peer, AUTH with its proof of the cluster key and its
 * view), so
 * the stream starts at a connection ready for peer-only ops; else it
 * starts where a client's does, before HELLO. */
void harness_run(const uint8_t *data, size_t n, bool peer);

#endif
