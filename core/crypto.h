/*
 * crypto.h - the crypto suite of mqe2e over OpenSSL 3 EVP.
 *
 * Ed25519, X25519, SHA-256, HKDF-SHA256, AES-256-GCM, HMAC-SHA256, X.509
 * chain/CRL checks.  Nothing else in the tree calls OpenSSL's crypto directly
 * (the KMS CA code that *issues* certificates lives in kmsd/ca.c and may use
 * OpenSSL's X509 builders; verification always goes through here).
 *
 * All functions return MQE2E_OK or a negative mqe2e_err.  Secrets handed in
 * are copied into contexts; contexts wipe them in _free().  _free(NULL) is a
 * no-op everywhere.  Functions without a context are thread-safe; a context
 * (mqe2e_aead, mqe2e_mac, mqe2e_trust) must not be used by two threads at
 * once - give each thread its own or guard it with a lock.
 */
#ifndef MQE2E_CRYPTO_H
#define MQE2E_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "mqe2e_err.h"

#define MQE2E_X25519_LEN 32
#define MQE2E_ED25519_PUB_LEN 32
#define MQE2E_ED25519_SIG_LEN 64
#define MQE2E_SHA256_LEN 32
#define MQE2E_KEY_LEN 32        /* every symmetric key: AES-256, HMAC key */
#define MQE2E_GCM_NONCE_LEN 12
#define MQE2E_GCM_TAG_LEN 16
#define MQE2E_MAC_TAG_LEN 16     /* HMAC-SHA256 truncated to 16 bytes */
#define MQE2E_CERT_DER_MAX 65535 /* largest DER certificate we parse */
#define MQE2E_SERIAL_HEX_MAX 65  /* serial hex buffer: 32 bytes of serial + NUL */
#define MQE2E_CERT_ID_MAX 255    /* longest identity (CN) kept: MQE2E_ID_MAX of wire.h */

typedef struct evp_pkey_st EVP_PKEY;   /* from <openssl/types.h> */
typedef struct x509_st X509;

/* ---- wiping and comparison ------------------------------------------------ */
void mqe2e_wipe(void *p, size_t n);                       /* OPENSSL_cleanse */
int mqe2e_ct_equal(const void *a, const void *b, size_t n); /* 1 if equal, constant time */
int mqe2e_random(void *out, size_t n) MQE2E_WUR;         /* RAND_bytes */

/* ---- hashing / KDF -------------------------------------------------------- */
int mqe2e_sha256(const uint8_t *msg, size_t len, uint8_t out[MQE2E_SHA256_LEN]) MQE2E_WUR;
/* HKDF-SHA256 (RFC 5869) extract+expand.  salt may be NULL/0. */
int mqe2e_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
    const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len) MQE2E_WUR;

/* ---- X25519 (RFC 7748) ---------------------------------------------------- */
int mqe2e_x25519_keygen(uint8_t priv[MQE2E_X25519_LEN], uint8_t pub[MQE2E_X25519_LEN]) MQE2E_WUR;
/* Fails with MQE2E_ERR_CRYPTO on an all-zero shared secret (small-order peer key). */
int mqe2e_x25519(const uint8_t priv[MQE2E_X25519_LEN], const uint8_t peer_pub[MQE2E_X25519_LEN],
    uint8_t shared[MQE2E_X25519_LEN]) MQE2E_WUR;
/* As mqe2e_x25519, for a key pair whose public half the caller holds (from
 * mqe2e_x25519_keygen): the pair is imported whole, so OpenSSL does not
 * compute the public key from priv again - one scalar multiplication, not
 * two.  The shared secret depends on priv alone. */
int mqe2e_x25519_pair(const uint8_t priv[MQE2E_X25519_LEN], const uint8_t pub[MQE2E_X25519_LEN],
    const uint8_t peer_pub[MQE2E_X25519_LEN], uint8_t shared[MQE2E_X25519_LEN]) MQE2E_WUR;
/* Public key for a given private key (for known-answer tests). */
int mqe2e_x25519_public(const uint8_t priv[MQE2E_X25519_LEN], uint8_t pub[MQE2E_X25519_LEN]) MQE2E_WUR;
/* A responder's one-use key pair: a fresh private key (never leaving
 * OpenSSL), its public key into pub and the shared secret with peer_pub into
 * shared (an all-zero result fails as in mqe2e_x25519).  Two scalar
 * multiplications, where keygen + mqe2e_x25519 take three. */
int mqe2e_x25519_ephemeral(const uint8_t peer_pub[MQE2E_X25519_LEN], uint8_t pub[MQE2E_X25519_LEN],
    uint8_t shared[MQE2E_X25519_LEN]) MQE2E_WUR;
/* A responder's X25519 key shared by the answers of a short window: a key
 * serves at most max_uses answers and max_ms milliseconds, then a fresh one
 * replaces it and the old private key is cleared (so recorded answers stay
 * unreadable once their window has passed: forward secrecy per window, not
 * per answer).  Saves one of the two scalar multiplications of
 * mqe2e_x25519_ephemeral per answer.  Thread-safe. */
struct mqe2e_x25519_share;
int mqe2e_x25519_share_new(uint32_t max_ms, uint32_t max_uses,
    struct mqe2e_x25519_share **out) MQE2E_WUR;
void mqe2e_x25519_share_free(struct mqe2e_x25519_share *s);
/* As mqe2e_x25519_ephemeral, with the window's key at now_ms. */
int mqe2e_x25519_share_dh(struct mqe2e_x25519_share *s, uint64_t now_ms,
    const uint8_t peer_pub[MQE2E_X25519_LEN], uint8_t pub[MQE2E_X25519_LEN],
    uint8_t shared[MQE2E_X25519_LEN]) MQE2E_WUR;

/* ---- Ed25519 (RFC 8032) --------------------------------------------------- */
/* priv must be an Ed25519 key (MQE2E_ERR_INVALID_ARG otherwise). */
int mqe2e_ed25519_sign(EVP_PKEY *priv, const uint8_t *msg, size_t len,
    uint8_t sig[MQE2E_ED25519_SIG_LEN]) MQE2E_WUR;
/* MQE2E_OK or MQE2E_ERR_BAD_SIGNATURE (INVALID_ARG if pub is not Ed25519). */
int mqe2e_ed25519_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len,
    const uint8_t sig[MQE2E_ED25519_SIG_LEN]) MQE2E_WUR;
/* New keys owned by the caller (free with mqe2e_pkey_free); *out NULL on failure. */
int mqe2e_ed25519_from_seed(const uint8_t seed[32], EVP_PKEY **out) MQE2E_WUR;
int mqe2e_ed25519_from_public(const uint8_t pub[32], EVP_PKEY **out) MQE2E_WUR;
int mqe2e_ed25519_raw_public(EVP_PKEY *key, uint8_t pub[32]) MQE2E_WUR;
/* A symmetric key of this private key's own: HKDF-SHA256 over its 32-byte
 * seed with info (a label naming the use; each use needs its own, non-empty)
 * and no salt.  MQE2E_ERR_INVALID_ARG for a key without its private half. */
int mqe2e_ed25519_derive_key(EVP_PKEY *priv, const uint8_t *info, size_t info_len,
    uint8_t out[MQE2E_KEY_LEN]) MQE2E_WUR;
/* Load an unencrypted PEM Ed25519 private key file (an encrypted one is
 * refused, never prompted for).  On failure errbuf (may
 * be NULL) gets a message naming the file; MQE2E_ERR_IO if it cannot be
 * opened, MQE2E_ERR_BAD_FORMAT if it is not an Ed25519 PEM private key. */
int mqe2e_key_load_pem(const char *path, EVP_PKEY **out, char *errbuf, size_t errlen) MQE2E_WUR;
void mqe2e_pkey_free(EVP_PKEY *key);

/* ---- AES-256-GCM, context set up once per key ----------------------------- */
/* The context is keyed once; each message only sets the nonce.  Never reuse a
 * nonce under one key.  Lengths above INT_MAX give MQE2E_ERR_TOO_LONG. */
struct mqe2e_aead;
int mqe2e_aead_new(const uint8_t key[MQE2E_KEY_LEN], struct mqe2e_aead **out) MQE2E_WUR;
void mqe2e_aead_free(struct mqe2e_aead *a);
/* out must hold pt_len + MQE2E_GCM_TAG_LEN bytes (ciphertext || tag) and may
 * equal pt (in-place).  On failure out is wiped. */
int mqe2e_aead_seal(struct mqe2e_aead *a, const uint8_t nonce[MQE2E_GCM_NONCE_LEN],
    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out) MQE2E_WUR;
/* in = ciphertext || tag; out must hold in_len - 16 bytes and may equal in
 * (in-place).  Decrypts into out, then checks the tag: on any failure
 * (MQE2E_ERR_BAD_TAG if the tag does not verify) the in_len - 16 bytes of out
 * are wiped, so no unauthenticated plaintext is ever left there.  in_len < 16
 * gives MQE2E_ERR_TRUNCATED. */
int mqe2e_aead_open(struct mqe2e_aead *a, const uint8_t nonce[MQE2E_GCM_NONCE_LEN],
    const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out) MQE2E_WUR;

/* ---- HMAC-SHA256, context set up once per key ----------------------------- */
struct mqe2e_mac;
/* key_len >= 1; the key is set once and wiped in _free. */
int mqe2e_mac_new(const uint8_t *key, size_t key_len, struct mqe2e_mac **out) MQE2E_WUR;
void mqe2e_mac_free(struct mqe2e_mac *m);
/* Tag over the concatenation of n parts; tag_len 1..32 (truncation: the
 * first tag_len bytes of HMAC-SHA256).  Parts with len 0 may have p NULL. */
struct mqe2e_iov { const void *p; size_t len; };
int mqe2e_mac_compute(struct mqe2e_mac *m, const struct mqe2e_iov *parts, size_t n,
    uint8_t *tag, size_t tag_len) MQE2E_WUR;
/* Constant-time compare; MQE2E_OK or MQE2E_ERR_BAD_TAG.  tag_len must be
 * 16..32 (MQE2E_ERR_INVALID_ARG otherwise): shorter tags are not accepted. */
int mqe2e_mac_verify(struct mqe2e_mac *m, const struct mqe2e_iov *parts, size_t n,
    const uint8_t *tag, size_t tag_len) MQE2E_WUR;

/* ---- certificates and trust ----------------------------------------------- */
/* Entity kinds carried in the certificate subject OU. */
enum mqe2e_kind { MQE2E_KIND_CLIENT = 1, MQE2E_KIND_BROKER = 2, MQE2E_KIND_KMS = 3 };

/* Parse exactly one DER certificate (no trailing bytes, at most
 * MQE2E_CERT_DER_MAX bytes); MQE2E_ERR_BAD_CERT on garbage,
 * MQE2E_ERR_TOO_LONG over the cap.  Caller frees with mqe2e_cert_free. */
int mqe2e_cert_from_der(const uint8_t *der, size_t len, X509 **out) MQE2E_WUR;
/* The first certificate of a PEM file; on failure (MQE2E_ERR_IO,
 * MQE2E_ERR_BAD_CERT) errbuf (may be NULL) names the file. */
int mqe2e_cert_load_pem(const char *path, X509 **out, char *errbuf, size_t errlen) MQE2E_WUR;
/* DER encoding; *der is OPENSSL_malloc'd, free with mqe2e_free_openssl. */
int mqe2e_cert_to_der(X509 *cert, uint8_t **der, size_t *len) MQE2E_WUR;
void mqe2e_cert_free(X509 *cert);
void mqe2e_free_openssl(void *p);
/* Subject CN (the client id) into out (NUL-terminated); kind (may be NULL)
 * from the subject OU, which must be exactly one of "client", "broker",
 * "kms".  MQE2E_ERR_BAD_CERT if CN or OU is missing, repeated, empty or holds
 * control characters or the OU is unknown; MQE2E_ERR_TOO_LONG if the CN does
 * not fit out. */
int mqe2e_cert_identity(X509 *cert, char *out, size_t out_len, enum mqe2e_kind *kind) MQE2E_WUR;
/* Serial as lowercase hex, NUL-terminated: two digits per byte of the
 * big-endian magnitude without leading zero bytes (so always an even number
 * of digits: 10 -> "0a", 0x1234 -> "1234"), except zero -> "0".  Negative
 * serials and serials over 32 bytes give MQE2E_ERR_BAD_CERT; a too small
 * out (MQE2E_SERIAL_HEX_MAX always fits) gives MQE2E_ERR_TOO_LONG. */
int mqe2e_cert_serial_hex(X509 *cert, char *out, size_t out_len) MQE2E_WUR;
/* The certificate's Ed25519 public key (new reference; caller frees with
 * mqe2e_pkey_free).  MQE2E_ERR_BAD_CERT if it is not Ed25519. */
int mqe2e_cert_pubkey(X509 *cert, EVP_PKEY **out) MQE2E_WUR;

/* A trust anchor: one CA certificate, optionally a CRL, and a set of revoked
 * serials pushed by the KMS (policy snapshot).  Not thread-safe: guard it. */
struct mqe2e_trust;
/* The CA must hold an Ed25519 key and basicConstraints CA:TRUE
 * (MQE2E_ERR_BAD_CERT otherwise); it is the trust anchor even if it is not
 * self-signed.  errbuf (may be NULL) names the file on failure. */
int mqe2e_trust_new(const char *ca_pem_path, struct mqe2e_trust **out, char *errbuf, size_t errlen) MQE2E_WUR;
/* The same from a PEM held in memory (MQE2E_ERR_BAD_CERT if unusable). */
int mqe2e_trust_new_from_pem(const char *ca_pem, size_t len, struct mqe2e_trust **out) MQE2E_WUR;
void mqe2e_trust_free(struct mqe2e_trust *t);
/* Replace the CRL (PEM or DER; crl NULL/len 0 removes it).  Its issuer must
 * be the CA (MQE2E_ERR_UNKNOWN_CA) and its signature must verify with the CA
 * key (MQE2E_ERR_BAD_SIGNATURE); a CRL older (lastUpdate) than the one held
 * is refused (MQE2E_ERR_CONFLICT); unparsable is MQE2E_ERR_BAD_FORMAT.  On
 * failure the old CRL stays.  Its nextUpdate is not enforced: freshness is the
 * KMS push's business. */
int mqe2e_trust_set_crl(struct mqe2e_trust *t, const uint8_t *crl, size_t len) MQE2E_WUR;
/* Replace the set of revoked serials (hex strings; case and leading zeros
 * do not matter).  MQE2E_ERR_BAD_FORMAT on a non-hex string (old set kept). */
int mqe2e_trust_set_revoked(struct mqe2e_trust *t, const char *const *serials, size_t n) MQE2E_WUR;
/* Verify cert chains to the CA at time now, is within validity (and so is
 * the CA), is not in the CRL or the revoked set, holds an Ed25519 key, is
 * not itself a CA and, if it has keyUsage, allows digitalSignature.
 * Returns MQE2E_OK, or MQE2E_ERR_UNKNOWN_CA (not issued by our CA, bad
 * signature), _REVOKED, _CERT_EXPIRED (expired or not yet valid) or
 * _BAD_CERT (anything else).  Several verify calls may run at once; a
 * set_crl/set_revoked must not overlap them. */
int mqe2e_trust_verify(struct mqe2e_trust *t, X509 *cert, time_t now) MQE2E_WUR;
/* What the handshakes need of a verified certificate. */
struct mqe2e_cert_info {
	char id[MQE2E_CERT_ID_MAX + 1];         /* subject CN */
	enum mqe2e_kind kind;                   /* subject OU */
	char serial[MQE2E_SERIAL_HEX_MAX];      /* as mqe2e_cert_serial_hex */
	EVP_PKEY *pub;                          /* Ed25519 key: the caller's
	                                           reference, mqe2e_pkey_free */
};
/*
 * Parse and verify a DER certificate as mqe2e_cert_from_der +
 * mqe2e_trust_verify, then read its identity (MQE2E_ERR_BAD_CERT if it has
 * none), serial and key into *out.  Verified certificates are remembered by
 * SHA-256 of their DER (a cache of the trust, growing to a fixed size): the
 * same bytes within their validity (and the CA's) are not parsed or verified
 * again, and revocation is checked at every call, hit or miss, against the
 * CRL and revoked serials held then (MQE2E_ERR_REVOKED), so a set_crl or
 * set_revoked takes effect at once and costs the other entries nothing.
 * Failures are not remembered.  Thread-safe against itself (the cache has
 * its own lock); like mqe2e_trust_verify it must not overlap a
 * set_crl/set_revoked.
 */
int mqe2e_trust_verify_der(struct mqe2e_trust *t, const uint8_t *der, size_t len, time_t now,
    struct mqe2e_cert_info *out) MQE2E_WUR;
/* Lookups of mqe2e_trust_verify_der answered from the cache, and not. */
void mqe2e_trust_cache_stats(struct mqe2e_trust *t, uint64_t *hits, uint64_t *misses);
/* The CA's public key, for verifying KMS responses (borrowed reference). */
EVP_PKEY *mqe2e_trust_ca_key(struct mqe2e_trust *t);
/* SHA-256 of the CA certificate's DER: what a trust anchors on, so that two
 * trusts with equal fingerprints (and no CRL or revoked list) are the same. */
int mqe2e_trust_ca_fingerprint(const struct mqe2e_trust *t,
    uint8_t out[MQE2E_SHA256_LEN]) MQE2E_WUR;

#endif
