/* test_auth — the handshake's proofs (net/auth.c) and users' rights
 * (node/users.c): a peer proof checks only with the same key, roles, ids,
 * incarnation and nonces; a login proves the password and the node's
 * answer proves the verifier; a verifier survives its text form; topic
 * patterns match as NATS's do, and deny wins. */
#include <string.h>

#include "net/auth.h"
#include "node/users.h"
#include "unit.h"

static auth_peer_t peer(uint8_t *n1, uint8_t *n2) {
  return (auth_peer_t){"hypersub", 8, 3, 5, 77, n1, n2};
}

CASE(peer_proof_binds_everything) {
  uint8_t key[AUTH_KEY], other[AUTH_KEY], n1[AUTH_NONCE], n2[AUTH_NONCE];
  uint8_t proof[AUTH_MAC];
  memset(key, 1, sizeof key);
  memset(other, 2, sizeof other);
  auth_nonce(n1);
  auth_nonce(n2);
  auth_peer_t p = peer(n1, n2);
  auth_peer_proof(key, &p, true, proof);
  CHECK(auth_peer_check(key, &p, true, proof, AUTH_MAC));
  CHECK(!auth_peer_check(key, &p, false, proof, AUTH_MAC)); /* the role */
  CHECK(!auth_peer_check(other, &p, true, proof, AUTH_MAC));
  CHECK(!auth_peer_check(key, &p, true, proof, AUTH_MAC - 1));
  auth_peer_t q = p;
  q.initiator = 4;
  CHECK(!auth_peer_check(key, &q, true, proof, AUTH_MAC));
  q = p;
  q.incarnation = 78;
  CHECK(!auth_peer_check(key, &q, true, proof, AUTH_MAC));
  q = p;
  q.cluster = "hypersuc";
  CHECK(!auth_peer_check(key, &q, true, proof, AUTH_MAC));
  uint8_t fresh[AUTH_NONCE];
  auth_nonce(fresh);
  q = p;
  q.responder_nonce = fresh; /* a replay meets a new nonce */
  CHECK(!auth_peer_check(key, &q, true, proof, AUTH_MAC));
}

CASE(login_proves_the_password_both_ways) {
  auth_verifier_t v, back;
  CHECK(auth_verifier_make("pw", 2, 1, 8, &v) == 0);
  char text[256];
  CHECK(auth_verifier_format(&v, text, sizeof text) > 0);
  CHECK(strncmp(text, "argon2id-scram$1$8$", 19) == 0);
  CHECK(auth_verifier_parse(text, &back) == 0);
  CHECK(memcmp(&v, &back, sizeof v) == 0);
  CHECK(auth_verifier_parse("argon2id-scram$1$8$00", &back) != 0);
  CHECK(auth_verifier_format(&v, text, 20) == 0);

  uint8_t cn[AUTH_NONCE], nn[AUTH_NONCE], msg[AUTH_MESSAGE_MAX];
  auth_nonce(cn);
  auth_nonce(nn);
  size_t len = auth_message("hypersub", 8, "bob", 3, cn, nn, msg);
  uint8_t salted[AUTH_MAC], proof[AUTH_MAC], want_sig[AUTH_MAC],
      sig[AUTH_MAC];
  CHECK(auth_salted("pw", 2, v.salt, v.ops, v.mem_kib, salted) == 0);
  auth_client_proof(salted, msg, len, proof, want_sig);
  CHECK(auth_server_check(&v, msg, len, proof, AUTH_MAC, sig));
  CHECK(memcmp(sig, want_sig, AUTH_MAC) == 0);
  /* a wrong password, another nonce, a short proof */
  uint8_t bad[AUTH_MAC];
  CHECK(auth_salted("pW", 2, v.salt, v.ops, v.mem_kib, salted) == 0);
  auth_client_proof(salted, msg, len, bad, want_sig);
  CHECK(!auth_server_check(&v, msg, len, bad, AUTH_MAC, sig));
  auth_nonce(nn);
  len = auth_message("hypersub", 8, "bob", 3, cn, nn, msg);
  CHECK(!auth_server_check(&v, msg, len, proof, AUTH_MAC, sig));
  CHECK(!auth_server_check(&v, msg, len, proof, 16, sig));
  /* limits a node may not make a client spend */
  CHECK(auth_salted("pw", 2, v.salt, 1000, 8, salted) != 0);
  CHECK(auth_salted("pw", 2, v.salt, 1, 1u << 31, salted) != 0);
}

CASE(patterns_match_tokens) {
  CHECK(pattern_match("a.b", "a.b", 3));
  CHECK(!pattern_match("a.b", "a.bc", 4));
  CHECK(!pattern_match("a.b", "a", 1));
  CHECK(!pattern_match("a", "a.b", 3));
  CHECK(pattern_match("a.*", "a.b", 3));
  CHECK(!pattern_match("a.*", "a.b.c", 5));
  CHECK(pattern_match("*.b", "x.b", 3));
  CHECK(pattern_match("a.>", "a.b", 3));
  CHECK(pattern_match("a.>", "a.b.c", 5));
  CHECK(!pattern_match("a.>", "a", 1));
  CHECK(pattern_match(">", "anything.at.all", 15));
  CHECK(!pattern_match("a.*", "a.", 2)); /* an empty token is no token */
}

CASE(deny_wins_and_empty_allow_allows_all) {
  const char *allow[] = {"orders.>"}, *deny[] = {"orders.secret"};
  const char *sub_deny[] = {"audit.>"};
  hs_user_t cfg = {.name = "bob",
                   .publish_allow = allow,
                   .n_publish_allow = 1,
                   .publish_deny = deny,
                   .n_publish_deny = 1,
                   .subscribe_deny = sub_deny,
                   .n_subscribe_deny = 1};
  char verifier[256], why[200];
  CHECK(hs_password_hash("pw", 1, 8, verifier, sizeof verifier) == 0);
  cfg.password = verifier;
  users_t users;
  CHECK(users_init(&users, &cfg, 1, why, sizeof why) == 0);
  const user_t *u = users_find(&users, "bob", 3);
  CHECK(u && !u->admin);
  CHECK(u && user_may_publish(u, "orders.eu", 9));
  CHECK(u && !user_may_publish(u, "orders.secret", 13));
  CHECK(u && !user_may_publish(u, "news", 4));
  CHECK(u && user_may_subscribe(u, "news", 4));
  CHECK(u && !user_may_subscribe(u, "audit.log", 9));
  CHECK(!users_find(&users, "bo", 2));
  users_free(&users);

  hs_user_t twice[2] = {cfg, cfg};
  CHECK(users_init(&users, twice, 2, why, sizeof why) == HS_EINVALID);
  CHECK(strstr(why, "twice") != NULL);
  users_free(&users);
  cfg.password = "plain";
  CHECK(users_init(&users, &cfg, 1, why, sizeof why) == HS_EINVALID);
  CHECK(strstr(why, "hypersub passwd") != NULL);
  users_free(&users);
}

int main(void) {
  if (auth_init()) return 1;
  RUN(peer_proof_binds_everything);
  RUN(login_proves_the_password_both_ways);
  RUN(patterns_match_tokens);
  RUN(deny_wins_and_empty_allow_allows_all);
  UNIT_EXIT();
}
