/* tls — TLS over OpenSSL with memory BIOs, so a conn keeps doing its own
 * I/O on libuv: ciphertext read from the socket goes in, plaintext comes
 * out for the frame parser; plaintext frames go in, ciphertext comes out
 * for the socket. A context holds the certificate, key and the CA that
 * vouches for the other side; a tls_conn is one stream's session. */
#ifndef HS_TLS_H
#define HS_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

typedef struct tls_ctx tls_ctx_t;
typedef struct tls_conn tls_conn_t;

typedef struct tls_config {
  const char *cert, *key; /* PEM files: this side's certificate and key
                             (a client may have none) */
  const char *ca;         /* PEM file: the CA the other side's certificate
                             must chain to (NULL: the system's) */
  bool server;            /* accepts connections (else opens them) */
  bool request_cert;      /* a server asks the other side for one */
} tls_config_t;

/* 0, or HS_EINVALID / HS_EIO with what is wrong (a file, a key that is not
 * the certificate's). */
int tls_ctx_new(const tls_config_t *cfg, tls_ctx_t **out, char *why,
                size_t why_len);
void tls_ctx_free(tls_ctx_t *ctx);

/* A session. host: what the server's certificate must name (an IP address
 * or a DNS name), for the side that connects; NULL on a server. NULL when
 * out of memory. */
tls_conn_t *tls_conn_new(tls_ctx_t *ctx, const char *host);
void tls_conn_free(tls_conn_t *t);

/* Ciphertext from the socket: the plaintext it yields is appended to
 * plain. 0, or HS_EPROTOCOL with why (a failed handshake, a bad record);
 * HS_ENOMEM. */
int tls_read(tls_conn_t *t, const char *cipher, size_t n, buf_t *plain,
             char *why, size_t why_len);
/* Encrypts what it can of plain (consumed from its front: nothing until
 * the handshake is through) and appends every byte due to the socket
 * (handshake records too) to cipher. 0, HS_EPROTOCOL or HS_ENOMEM. */
int tls_write(tls_conn_t *t, buf_t *plain, buf_t *cipher);
/* Whether records wait to go to the socket (a handshake step). */
bool tls_has_output(const tls_conn_t *t);
bool tls_handshake_done(const tls_conn_t *t);
/* The other side presented a certificate and it chains to the CA. */
bool tls_peer_verified(const tls_conn_t *t);
/* Nothing came that could be TLS: the first byte was not a handshake
 * record (a plaintext client at a TLS port). */
bool tls_plaintext_seen(const tls_conn_t *t);

#endif
