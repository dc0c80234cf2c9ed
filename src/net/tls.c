/* tls — OpenSSL sessions over memory BIOs (tls.h says how they are used). */
#include "net/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersub.h"

/* Ciphertext is read out of OpenSSL in pieces of this size. */
#define TLS_CHUNK (64 * 1024)
/* A TLS record starts with its type: 22 is a handshake. */
#define TLS_HANDSHAKE_RECORD 22

struct tls_ctx {
  SSL_CTX *ssl;
};

struct tls_conn {
  SSL *ssl;
  BIO *in, *out; /* the socket's side: we write into in, read out of out */
  bool first_byte_seen, plaintext;
};

/* The newest error OpenSSL queued, as text. */
static void ssl_why(char *why, size_t len, const char *what) {
  unsigned long e = ERR_peek_last_error();
  char text[200] = "unknown error";
  if (e) ERR_error_string_n(e, text, sizeof text);
  snprintf(why, len, "%s: %s", what, text);
  ERR_clear_error();
}

static int load(SSL_CTX *ssl, const tls_config_t *cfg, char *why,
                size_t len) {
  if (cfg->cert && SSL_CTX_use_certificate_chain_file(ssl, cfg->cert) != 1) {
    ssl_why(why, len, cfg->cert);
    return HS_EIO;
  }
  if (cfg->key &&
      SSL_CTX_use_PrivateKey_file(ssl, cfg->key, SSL_FILETYPE_PEM) != 1) {
    ssl_why(why, len, cfg->key);
    return HS_EIO;
  }
  if (cfg->cert && cfg->key && SSL_CTX_check_private_key(ssl) != 1) {
    snprintf(why, len, "%s is not the key of %s", cfg->key, cfg->cert);
    ERR_clear_error();
    return HS_EINVALID;
  }
  int ok = cfg->ca ? SSL_CTX_load_verify_locations(ssl, cfg->ca, NULL)
                   : SSL_CTX_set_default_verify_paths(ssl);
  if (ok != 1) {
    ssl_why(why, len, cfg->ca ? cfg->ca : "the system's CA certificates");
    return HS_EIO;
  }
  return 0;
}

int tls_ctx_new(const tls_config_t *cfg, tls_ctx_t **out, char *why,
                size_t why_len) {
  *out = NULL;
  if (cfg->server && (!cfg->cert || !cfg->key)) {
    snprintf(why, why_len, "a TLS server needs a certificate and its key");
    return HS_EINVALID;
  }
  if (!cfg->cert != !cfg->key) {
    snprintf(why, why_len, "a TLS certificate and its key go together");
    return HS_EINVALID;
  }
  tls_ctx_t *ctx = calloc(1, sizeof *ctx);
  if (!ctx) return HS_ENOMEM;
  ctx->ssl = SSL_CTX_new(cfg->server ? TLS_server_method() : TLS_client_method());
  if (!ctx->ssl) {
    free(ctx);
    return HS_ENOMEM;
  }
  SSL_CTX_set_min_proto_version(ctx->ssl, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  /* A client always checks the server; a server asks for a certificate
   * when told to and checks any it gets (the node decides later whether
   * the connection needed one: peers do, clients may not). */
  if (!cfg->server)
    SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, NULL);
  else if (cfg->request_cert)
    SSL_CTX_set_verify(ctx->ssl, SSL_VERIFY_PEER, NULL);
  int rc = load(ctx->ssl, cfg, why, why_len);
  if (rc) {
    tls_ctx_free(ctx);
    return rc;
  }
  *out = ctx;
  return 0;
}

void tls_ctx_free(tls_ctx_t *ctx) {
  if (!ctx) return;
  SSL_CTX_free(ctx->ssl);
  free(ctx);
}

/* The name or address the server's certificate must carry. */
static bool expect_host(SSL *ssl, const char *host) {
  X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
  unsigned char ip[16];
  bool is_ip = inet_pton(AF_INET, host, ip) == 1 ||
               inet_pton(AF_INET6, host, ip) == 1;
  if (is_ip) return X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1;
  SSL_set_tlsext_host_name(ssl, host);
  return X509_VERIFY_PARAM_set1_host(param, host, 0) == 1;
}

tls_conn_t *tls_conn_new(tls_ctx_t *ctx, const char *host) {
  tls_conn_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ssl = SSL_new(ctx->ssl);
  t->in = BIO_new(BIO_s_mem());
  t->out = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->in || !t->out || (host && !expect_host(t->ssl, host))) {
    SSL_free(t->ssl); /* the BIOs are not its yet */
    BIO_free(t->in);
    BIO_free(t->out);
    free(t);
    return NULL;
  }
  SSL_set_bio(t->ssl, t->in, t->out); /* the session owns them now */
  if (host)
    SSL_set_connect_state(t->ssl);
  else
    SSL_set_accept_state(t->ssl);
  return t;
}

void tls_conn_free(tls_conn_t *t) {
  if (!t) return;
  SSL_free(t->ssl); /* and its BIOs */
  free(t);
}

/* Moves what OpenSSL wants sent into cipher. */
static int drain(tls_conn_t *t, buf_t *cipher) {
  size_t pending;
  while ((pending = BIO_ctrl_pending(t->out)) > 0) {
    size_t n = pending < TLS_CHUNK ? pending : TLS_CHUNK;
    char *dst = buf_reserve(cipher, n);
    if (!dst) return HS_ENOMEM;
    int got = BIO_read(t->out, dst, (int)n);
    if (got <= 0) break;
    buf_commit(cipher, (size_t)got);
  }
  return 0;
}

/* An SSL call's result: 0 when it only needs more bytes, else why. */
static int failed(tls_conn_t *t, int ret, char *why, size_t len) {
  int e = SSL_get_error(t->ssl, ret);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  if (e == SSL_ERROR_ZERO_RETURN) {
    snprintf(why, len, "the other side closed the TLS session");
    return HS_EPROTOCOL;
  }
  long v = SSL_get_verify_result(t->ssl);
  if (v != X509_V_OK)
    snprintf(why, len, "TLS: certificate not accepted: %s",
             X509_verify_cert_error_string(v));
  else
    ssl_why(why, len, "TLS");
  ERR_clear_error();
  return HS_EPROTOCOL;
}

int tls_read(tls_conn_t *t, const char *cipher, size_t n, buf_t *plain,
             char *why, size_t why_len) {
  if (n && !t->first_byte_seen) {
    t->first_byte_seen = true;
    t->plaintext = SSL_is_server(t->ssl) &&
                   (unsigned char)cipher[0] != TLS_HANDSHAKE_RECORD;
    if (t->plaintext) {
      snprintf(why, why_len, "this port speaks TLS, and this was not TLS");
      return HS_EPROTOCOL;
    }
  }
  if (n && BIO_write(t->in, cipher, (int)n) != (int)n) return HS_ENOMEM;
  for (;;) {
    char *dst = buf_reserve(plain, TLS_CHUNK);
    if (!dst) return HS_ENOMEM;
    int got = SSL_read(t->ssl, dst, TLS_CHUNK);
    if (got > 0) {
      buf_commit(plain, (size_t)got);
      continue;
    }
    return failed(t, got, why, why_len);
  }
}

int tls_write(tls_conn_t *t, buf_t *plain, buf_t *cipher) {
  char why[160];
  if (!SSL_is_init_finished(t->ssl)) {
    int r = SSL_do_handshake(t->ssl);
    if (r != 1 && failed(t, r, why, sizeof why)) {
      drain(t, cipher); /* an alert may be due */
      return HS_EPROTOCOL;
    }
  }
  size_t done = 0;
  while (SSL_is_init_finished(t->ssl) && done < plain->len) {
    size_t left = plain->len - done;
    int n = SSL_write(t->ssl, plain->data + done,
                      (int)(left < INT32_MAX ? left : INT32_MAX));
    if (n <= 0) {
      if (failed(t, n, why, sizeof why)) return HS_EPROTOCOL;
      break;
    }
    done += (size_t)n;
    int rc = drain(t, cipher); /* keep OpenSSL's buffer small */
    if (rc) return rc;
  }
  buf_consume(plain, done);
  return drain(t, cipher);
}

bool tls_has_output(const tls_conn_t *t) {
  return BIO_ctrl_pending(t->out) > 0;
}

bool tls_handshake_done(const tls_conn_t *t) {
  return SSL_is_init_finished(t->ssl);
}

bool tls_peer_verified(const tls_conn_t *t) {
  X509 *cert = SSL_get1_peer_certificate(t->ssl);
  bool ok = cert && SSL_get_verify_result(t->ssl) == X509_V_OK;
  X509_free(cert);
  return ok;
}

bool tls_plaintext_seen(const tls_conn_t *t) { return t->plaintext; }
