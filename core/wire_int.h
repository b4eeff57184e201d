/*
 * wire_int.h - helpers shared by the files of the wire module only
 * (wire.c, bundle.c, hello.c, handshake.c, keyx.c, pair.c, notice.c).  Not API.
 */
#ifndef MQE2E_WIRE_INT_H
#define MQE2E_WIRE_INT_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "crypto.h"

/* 1 if a key name fits its key kind (group id, "PUB|SUB", empty). */
int wire__keyname_fits(uint8_t kind, const uint8_t *p, size_t len);
/* Read version and type; BAD_VERSION / BAD_TYPE / TRUNCATED. */
int wire__read_head(struct mqe2e_reader *r, uint8_t expect_type);
/* The same for a message of type a or b (same version); *type says which. */
int wire__read_head_either(struct mqe2e_reader *r, uint8_t a, uint8_t b, uint8_t *type);


/* ---- handshake helpers (handshake.c) --------------------------------------- */
struct mqe2e_identity;
struct mqe2e_peer;
struct mqe2e_trust;

/* Signature contexts, one per message type (docs/PROTOCOL.md 2.4). */
#define HS_LABEL_CONNECT "mqe2e-v1 sig connect hello"
#define HS_LABEL_CONNACK "mqe2e-v1 sig connack reply"
#define HS_LABEL_KEYREQ "mqe2e-v1 sig key request"
#define HS_LABEL_KEYRESP "mqe2e-v1 sig key response"
#define HS_LABEL_PAIRREQ "mqe2e-v1 sig pair request"
#define HS_LABEL_PAIRRESP "mqe2e-v1 sig pair response"
/* Key derivation labels. */
#define KDF_LABEL_C2B "mqe2e-v1 c2b"
#define KDF_LABEL_B2C "mqe2e-v1 b2c"
#define KDF_LABEL_CONFIRM "mqe2e-v1 confirm"
#define KDF_LABEL_KMS "mqe2e-v1 kms resp"
#define KDF_LABEL_E2E "mqe2e-v1 k_e2e"

#define HS_KIND_BIT(k) (1u << (k))

/* ver, type, vec16 id, vec16 cert, eph_pub, ts, nonce */
void hs__write_hello_head(struct mqe2e_writer *w, uint8_t type,
    const struct mqe2e_identity *id, const uint8_t eph_pub[32], uint64_t ts_ms,
    const uint8_t nonce[16]);
/* Append Ed25519(key, label || [req_hash] || w bytes so far). */
int hs__sign_append(struct mqe2e_writer *w, EVP_PKEY *key, const char *label,
    const uint8_t *req_hash);
/* Verify sig over label || [req_hash] || signed. */
int hs__verify(EVP_PKEY *pub, const char *label, const uint8_t *req_hash,
    struct mqe2e_view signed_part, const uint8_t *sig);
/* Parse and check a peer certificate: chain/revocation/validity, kind in
 * kinds (bitmask of HS_KIND_BIT), CN == claimed (if claimed.p != NULL).
 * On success *pub is the certificate key (caller frees) and peer is set. */
int hs__check_cert(struct mqe2e_trust *trust, struct mqe2e_view der, uint64_t now_ms,
    unsigned kinds, struct mqe2e_view claimed, EVP_PKEY **pub, struct mqe2e_peer *peer);
/* th = SHA256(a || b) */
int hs__th(const uint8_t a[32], struct mqe2e_view b, uint8_t th[32]);
/* An answer's transcript hash: th = SHA256(req_hash || the bytes w holds so
 * far), or w's error. */
int hs__th_written(struct mqe2e_writer *w, const uint8_t req_hash[32], uint8_t th[32]);
/* ephemeral: generate if eph_in NULL, else copy; pub from priv */
int hs__eph(const uint8_t *eph_in, uint8_t priv[32], uint8_t pub[32]);
/* A responder's ephemeral key: its public key and the shared secret with
 * peer_pub; eph_in (tests, known answers) is the private key, NULL for a
 * fresh one. */
int hs__eph_dh(const uint8_t *eph_in, const uint8_t peer_pub[32], uint8_t pub[32],
    uint8_t shared[32]);
/* nonce: random if in NULL, else copy */
int hs__nonce(const uint8_t *in, uint8_t out[16]);

/* The initiator's side of a signed hello that asks for a signed answer
 * (CONNECT hello, KEY_REQUEST, PAIR_REQUEST): its ephemeral key pair and
 * the hash of the hello, which the answer's signature and transcript cover. */
struct hs_hello {
	uint8_t eph[MQE2E_X25519_LEN];
	uint8_t eph_pub[MQE2E_X25519_LEN];  /* its public half (in the hello) */
	uint8_t hash[MQE2E_SHA256_LEN];
};
/* Start a hello of type in w: the ephemeral (eph_in, tests and known
 * answers, or fresh) into h, a nonce (nonce_in or random), the common head. */
int hs__hello_begin(struct mqe2e_writer *w, uint8_t type, const struct mqe2e_identity *id,
    uint64_t now_ms, const uint8_t *eph_in, const uint8_t *nonce_in, struct hs_hello *h);
/* End it: sign w with id's key under label, keep the hash in h and hand the
 * bytes over in *out (malloc'd, the caller's). */
int hs__hello_end(struct mqe2e_writer *w, const struct mqe2e_identity *id, const char *label,
    struct hs_hello *h, uint8_t **out, size_t *out_len);
/* The answer's secrets: shared = X25519(h's ephemeral, peer_eph) and the
 * transcript hash th = SHA256(h->hash || signed_part). */
int hs__hello_answer(const struct hs_hello *h, const uint8_t peer_eph[32],
    struct mqe2e_view signed_part, uint8_t shared[32], uint8_t th[32]);

#endif
