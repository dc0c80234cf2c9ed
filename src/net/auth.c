/* auth — the handshake's proofs over libsodium (auth.h says the scheme). */
#include "net/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypersub.h"

#define KEY_FILE_MAX (64 * 1024)
#define KEY_FILE_MIN 16 /* bytes, once trailing blanks are trimmed */

int auth_init(void) { return sodium_init() < 0 ? -1 : 0; }

void auth_nonce(uint8_t out[AUTH_NONCE]) { randombytes_buf(out, AUTH_NONCE); }

int auth_key_load(const char *path, uint8_t key[AUTH_KEY], char *why,
                  size_t why_len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(why, why_len, "cannot read cluster key file %s", path);
    return HS_EIO;
  }
  char *buf = malloc(KEY_FILE_MAX);
  size_t n = buf ? fread(buf, 1, KEY_FILE_MAX, f) : 0;
  fclose(f);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
    n--;
  int rc = 0;
  if (!buf) {
    snprintf(why, why_len, "out of memory reading %s", path);
    rc = HS_ENOMEM;
  } else if (n < KEY_FILE_MIN) {
    snprintf(why, why_len,
             "cluster key file %s holds %zu bytes: at least %d are needed "
             "(make one with: head -c 32 /dev/urandom | base64 > %s)",
             path, n, KEY_FILE_MIN, path);
    rc = HS_EINVALID;
  } else {
    crypto_hash_sha256(key, (const unsigned char *)buf, n);
  }
  if (buf) sodium_memzero(buf, KEY_FILE_MAX);
  free(buf);
  return rc;
}

/* ---- peers ---------------------------------------------------------------- */

static void peer_mac(const uint8_t key[AUTH_KEY], const auth_peer_t *p,
                     bool initiator, uint8_t out[AUTH_MAC]) {
  crypto_auth_hmacsha256_state st;
  const char *label = "hypersub peer v1";
  const char *role = initiator ? "initiator" : "responder";
  uint8_t ids[4 + 4 + 8];
  memcpy(ids, &p->initiator, 4);
  memcpy(ids + 4, &p->responder, 4);
  memcpy(ids + 8, &p->incarnation, 8);
  uint8_t cn = (uint8_t)(p->cluster_len > 255 ? 255 : p->cluster_len);
  crypto_auth_hmacsha256_init(&st, key, AUTH_KEY);
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, strlen(label) + 1);
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)role, strlen(role) + 1);
  crypto_auth_hmacsha256_update(&st, &cn, 1);
  crypto_auth_hmacsha256_update(&st, (const uint8_t *)p->cluster, cn);
  crypto_auth_hmacsha256_update(&st, ids, sizeof ids);
  crypto_auth_hmacsha256_update(&st, p->initiator_nonce, AUTH_NONCE);
  crypto_auth_hmacsha256_update(&st, p->responder_nonce, AUTH_NONCE);
  crypto_auth_hmacsha256_final(&st, out);
}

void auth_peer_proof(const uint8_t key[AUTH_KEY], const auth_peer_t *p,
                     bool initiator, uint8_t out[AUTH_MAC]) {
  peer_mac(key, p, initiator, out);
}

bool auth_peer_check(const uint8_t key[AUTH_KEY], const auth_peer_t *p,
                     bool initiator, const uint8_t *proof, size_t len) {
  uint8_t want[AUTH_MAC];
  if (len != AUTH_MAC) return false;
  peer_mac(key, p, initiator, want);
  return sodium_memcmp(want, proof, AUTH_MAC) == 0;
}

/* ---- users ------------------------------------------------------------------ */

static bool limits_ok(uint32_t ops, uint32_t mem_kib) {
  return ops >= crypto_pwhash_argon2id_OPSLIMIT_MIN && ops <= 16 &&
         (size_t)mem_kib * 1024 >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
         mem_kib <= 1024 * 1024;
}

int auth_salted(const char *password, size_t n, const uint8_t salt[AUTH_SALT],
                uint32_t ops, uint32_t mem_kib, uint8_t out[AUTH_MAC]) {
  if (!limits_ok(ops, mem_kib)) return HS_EINVALID;
  if (crypto_pwhash(out, AUTH_MAC, password, n, salt, ops,
                    (size_t)mem_kib * 1024, crypto_pwhash_ALG_ARGON2ID13))
    return HS_ENOMEM;
  return 0;
}

static void hmac_str(const uint8_t key[AUTH_MAC], const char *s,
                     uint8_t out[AUTH_MAC]) {
  crypto_auth_hmacsha256(out, (const uint8_t *)s, strlen(s), key);
}

int auth_verifier_make(const char *password, size_t n, uint32_t ops,
                       uint32_t mem_kib, auth_verifier_t *out) {
  uint8_t salted[AUTH_MAC], client_key[AUTH_MAC];
  randombytes_buf(out->salt, AUTH_SALT);
  out->ops = ops;
  out->mem_kib = mem_kib;
  int rc = auth_salted(password, n, out->salt, ops, mem_kib, salted);
  if (rc) return rc;
  hmac_str(salted, "Client Key", client_key);
  crypto_hash_sha256(out->stored_key, client_key, AUTH_MAC);
  hmac_str(salted, "Server Key", out->server_key);
  sodium_memzero(salted, sizeof salted);
  sodium_memzero(client_key, sizeof client_key);
  return 0;
}

size_t auth_verifier_format(const auth_verifier_t *v, char *out, size_t cap) {
  char salt[2 * AUTH_SALT + 1], stored[2 * AUTH_MAC + 1], server[2 * AUTH_MAC + 1];
  sodium_bin2hex(salt, sizeof salt, v->salt, AUTH_SALT);
  sodium_bin2hex(stored, sizeof stored, v->stored_key, AUTH_MAC);
  sodium_bin2hex(server, sizeof server, v->server_key, AUTH_MAC);
  int n = snprintf(out, cap, "argon2id-scram$%u$%u$%s$%s$%s", v->ops,
                   v->mem_kib, salt, stored, server);
  return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* Reads `len` bytes of hex up to the next '$' (or the end) at *p. */
static bool hex_field(const char **p, uint8_t *out, size_t len) {
  const char *end = strchr(*p, '$');
  size_t n = end ? (size_t)(end - *p) : strlen(*p), got = 0;
  if (n != 2 * len ||
      sodium_hex2bin(out, len, *p, n, NULL, &got, NULL) != 0 || got != len)
    return false;
  *p += n + (end ? 1 : 0);
  return true;
}

int auth_verifier_parse(const char *s, auth_verifier_t *out) {
  const char *prefix = "argon2id-scram$";
  if (strncmp(s, prefix, strlen(prefix))) return HS_EINVALID;
  const char *p = s + strlen(prefix);
  char *end;
  unsigned long ops = strtoul(p, &end, 10);
  if (*end != '$') return HS_EINVALID;
  unsigned long mem = strtoul(end + 1, &end, 10);
  if (*end != '$' || ops > UINT32_MAX || mem > UINT32_MAX ||
      !limits_ok((uint32_t)ops, (uint32_t)mem))
    return HS_EINVALID;
  p = end + 1;
  out->ops = (uint32_t)ops;
  out->mem_kib = (uint32_t)mem;
  if (!hex_field(&p, out->salt, AUTH_SALT) ||
      !hex_field(&p, out->stored_key, AUTH_MAC) ||
      !hex_field(&p, out->server_key, AUTH_MAC) || *p)
    return HS_EINVALID;
  return 0;
}

size_t auth_message(const char *cluster, size_t cn, const char *user,
                    size_t un, const uint8_t *client_nonce,
                    const uint8_t *node_nonce, uint8_t *out) {
  size_t k = 0;
  const char *label = "hypersub scram v1";
  memcpy(out, label, strlen(label) + 1);
  k += strlen(label) + 1;
  cn = cn > 255 ? 255 : cn;
  un = un > 255 ? 255 : un;
  out[k++] = (uint8_t)cn;
  memcpy(out + k, cluster, cn);
  k += cn;
  out[k++] = (uint8_t)un;
  memcpy(out + k, user, un);
  k += un;
  memcpy(out + k, client_nonce, AUTH_NONCE);
  k += AUTH_NONCE;
  memcpy(out + k, node_nonce, AUTH_NONCE);
  return k + AUTH_NONCE;
}

void auth_client_proof(const uint8_t salted[AUTH_MAC], const uint8_t *msg,
                       size_t len, uint8_t proof[AUTH_MAC],
                       uint8_t server_sig[AUTH_MAC]) {
  uint8_t client_key[AUTH_MAC], stored[AUTH_MAC], sig[AUTH_MAC],
      server_key[AUTH_MAC];
  hmac_str(salted, "Client Key", client_key);
  crypto_hash_sha256(stored, client_key, AUTH_MAC);
  crypto_auth_hmacsha256(sig, msg, len, stored);
  for (size_t i = 0; i < AUTH_MAC; i++) proof[i] = client_key[i] ^ sig[i];
  hmac_str(salted, "Server Key", server_key);
  crypto_auth_hmacsha256(server_sig, msg, len, server_key);
  sodium_memzero(client_key, sizeof client_key);
}

bool auth_server_check(const auth_verifier_t *v, const uint8_t *msg,
                       size_t len, const uint8_t *proof, size_t proof_len,
                       uint8_t server_sig[AUTH_MAC]) {
  uint8_t sig[AUTH_MAC], client_key[AUTH_MAC], stored[AUTH_MAC];
  if (proof_len != AUTH_MAC) return false;
  crypto_auth_hmacsha256(sig, msg, len, v->stored_key);
  for (size_t i = 0; i < AUTH_MAC; i++) client_key[i] = proof[i] ^ sig[i];
  crypto_hash_sha256(stored, client_key, AUTH_MAC);
  bool ok = sodium_memcmp(stored, v->stored_key, AUTH_MAC) == 0;
  crypto_auth_hmacsha256(server_sig, msg, len, v->server_key);
  return ok;
}

HS_API int hs_password_hash(const char *password, uint32_t ops,
                            uint32_t mem_kib, char *out, size_t cap) {
  auth_verifier_t v;
  if (!password || auth_init()) return HS_EINVALID;
  int rc = auth_verifier_make(password, strlen(password),
                              ops ? ops : AUTH_OPS_DEFAULT,
                              mem_kib ? mem_kib : AUTH_MEM_KIB_DEFAULT, &v);
  if (rc) return rc;
  return auth_verifier_format(&v, out, cap) ? 0 : HS_EINVALID;
}
