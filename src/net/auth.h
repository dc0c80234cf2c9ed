/* auth — proving who is at each end of a connection, with libsodium's
 * HMAC-SHA-256, SHA-256, Argon2id and random numbers (no crypto of our
 * own).
 *
 * Peers share a cluster key. After HELLO each side sends fresh 16-byte
 * nonces; the initiator proves it holds the key with
 *   HMAC(key, "hypersub peer v1" | role | cluster | initiator id |
 *        responder id | incarnation | initiator nonce | responder nonce)
 * (role "initiator"), the responder answers with the same over role
 * "responder". Both nonces are fresh per connection, so a recorded
 * handshake replayed later fails; the ids are bound in, so a proof for one
 * node id is no proof for another.
 *
 * Users prove a password without sending it (SCRAM's construction over
 * Argon2id): the node stores, per user, a salt, Argon2id's limits,
 * StoredKey = SHA-256(ClientKey) and ServerKey, where
 *   SaltedPassword = Argon2id(password, salt), ClientKey =
 *   HMAC(SaltedPassword, "Client Key"), ServerKey = HMAC(SaltedPassword,
 *   "Server Key").
 * The client sends ClientKey XOR HMAC(StoredKey, AuthMessage); the node
 * recovers ClientKey and checks its hash against StoredKey, then proves it
 * holds ServerKey with HMAC(ServerKey, AuthMessage). AuthMessage binds the
 * cluster, the user and both nonces. A node's stored verifier does not let
 * anyone log in. */
#ifndef HS_AUTH_H
#define HS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE 16
#define AUTH_MAC 32
#define AUTH_KEY 32
#define AUTH_SALT 16

/* libsodium's own setup; 0, or -1 when it cannot run (no entropy). */
int auth_init(void);
void auth_nonce(uint8_t out[AUTH_NONCE]);

/* The cluster key from a file: SHA-256 of its contents (whitespace at the
 * end left out), so any secret text will do. 0, or HS_EIO / HS_EINVALID
 * (empty) with why. */
int auth_key_load(const char *path, uint8_t key[AUTH_KEY], char *why,
                  size_t why_len);

typedef struct auth_peer {
  const char *cluster;
  size_t cluster_len;
  uint32_t initiator, responder; /* ids (HS_ID_ANY for a joiner) */
  uint64_t incarnation;          /* the initiator's */
  const uint8_t *initiator_nonce, *responder_nonce;
} auth_peer_t;

void auth_peer_proof(const uint8_t key[AUTH_KEY], const auth_peer_t *p,
                     bool initiator, uint8_t out[AUTH_MAC]);
/* Constant-time comparison of a received proof with the expected one. */
bool auth_peer_check(const uint8_t key[AUTH_KEY], const auth_peer_t *p,
                     bool initiator, const uint8_t *proof, size_t len);

/* What a node keeps of a user's password. */
typedef struct auth_verifier {
  uint8_t salt[AUTH_SALT];
  uint32_t ops;     /* Argon2id's passes */
  uint32_t mem_kib; /* and memory, KiB */
  uint8_t stored_key[AUTH_MAC];
  uint8_t server_key[AUTH_MAC];
} auth_verifier_t;

/* The Argon2id limits `hypersub passwd` uses unless told: a login costs
 * the client about 20 ms. */
#define AUTH_OPS_DEFAULT 2
#define AUTH_MEM_KIB_DEFAULT (16 * 1024)

/* A verifier for a password (with a fresh salt). 0 or HS_EINVALID (limits
 * out of range) / HS_ENOMEM. */
int auth_verifier_make(const char *password, size_t n, uint32_t ops,
                       uint32_t mem_kib, auth_verifier_t *out);
/* "argon2id-scram$<ops>$<mem_kib>$<salt>$<stored_key>$<server_key>", the
 * three byte strings in hex. Returns the length written (without the NUL),
 * or 0 when out is too small. */
size_t auth_verifier_format(const auth_verifier_t *v, char *out, size_t cap);
int auth_verifier_parse(const char *s, auth_verifier_t *out);

/* The client's side: the salted password from what the node said (the
 * costly step, done once per login), then the proof and the signature the
 * node must answer with. */
int auth_salted(const char *password, size_t n, const uint8_t salt[AUTH_SALT],
                uint32_t ops, uint32_t mem_kib, uint8_t out[AUTH_MAC]);
/* AuthMessage: cluster | user | client nonce | node nonce (each
 * length-prefixed). `out` needs AUTH_MESSAGE_MAX bytes; returns its
 * length. */
#define AUTH_MESSAGE_MAX (16 + 2 * 256 + 2 * AUTH_NONCE + 8)
size_t auth_message(const char *cluster, size_t cn, const char *user,
                    size_t un, const uint8_t *client_nonce,
                    const uint8_t *node_nonce, uint8_t *out);
void auth_client_proof(const uint8_t salted[AUTH_MAC], const uint8_t *msg,
                       size_t len, uint8_t proof[AUTH_MAC],
                       uint8_t server_sig[AUTH_MAC]);
/* The node's side: true when the proof shows the password; *server_sig
 * then gets what the node answers with. */
bool auth_server_check(const auth_verifier_t *v, const uint8_t *msg,
                       size_t len, const uint8_t *proof, size_t proof_len,
                       uint8_t server_sig[AUTH_MAC]);

#endif
