/*
 * policy.h - the signed policy snapshot the KMS hands to broker extensions
 * (POST /v1/policy, /v1/policy/watch; see docs/API.md).
 *
 *   sig = Ed25519(CA key, "mqe2e-v1 policy" || request nonce || policy bytes)
 *
 * The request nonce is the 16-byte nonce of the broker's KEY_REQUEST, so a
 * snapshot cannot be replayed to a broker that did not ask for it.  On the
 * wire (JSON) both the policy bytes and the signature travel in base64
 * (standard alphabet, padded).
 */
#ifndef MQE2E_POLICY_H
#define MQE2E_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"
#include "crypto.h"

#define MQE2E_POLICY_LABEL "mqe2e-v1 policy"
#define MQE2E_POLICY_MAX (4u * 1024u * 1024u)    /* policy bytes cap */

/* Sign policy[0..len) for the request nonce (16 bytes). */
int mqe2e_policy_sign(EVP_PKEY *ca_key, const uint8_t nonce[16], const uint8_t *policy,
    size_t len, uint8_t sig[MQE2E_ED25519_SIG_LEN]) MQE2E_WUR;
/* MQE2E_OK or MQE2E_ERR_BAD_SIGNATURE. */
int mqe2e_policy_verify(EVP_PKEY *ca_pub, const uint8_t nonce[16], const uint8_t *policy,
    size_t len, const uint8_t sig[MQE2E_ED25519_SIG_LEN]) MQE2E_WUR;

/*
 * Broker side in one call: decode the base64 "policy" and "sig" strings of
 * a KMS answer and verify them for nonce.  On success *policy is the
 * malloc'd policy JSON (NUL-terminated, not counted in *len; free() it).
 * MQE2E_ERR_BAD_FORMAT for bad base64 or a signature of the wrong length,
 * MQE2E_ERR_TOO_LONG above MQE2E_POLICY_MAX, MQE2E_ERR_BAD_SIGNATURE.
 */
int mqe2e_policy_open(EVP_PKEY *ca_pub, const uint8_t nonce[16], const char *policy_b64,
    const char *sig_b64, uint8_t **policy, size_t *len) MQE2E_WUR;

/* Base64 (standard, padded).  _encode: malloc'd NUL-terminated string.
 * _decode: malloc'd bytes (plus a NUL not counted), at most max bytes;
 * MQE2E_ERR_BAD_FORMAT on any non-base64 input. */
int mqe2e_base64_encode(const uint8_t *in, size_t len, char **out) MQE2E_WUR;
int mqe2e_base64_decode(const char *in, size_t max, uint8_t **out, size_t *len) MQE2E_WUR;

#endif
