/*
 * keystore.h - the master key (DIR/master.key, 32 random bytes, 0600,
 * never in the database) and the sealing of group keys under it.
 *
 * A sealed group key is gcm_nonce(12) || ciphertext(32) || tag(16) with
 * AAD = "mqe2e-v1 gk" || u16 len || group name || u32 epoch || u8 kind, so a
 * key row moved to another group, epoch or kind does not open.
 */
#ifndef KMS_KEYSTORE_H
#define KMS_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>
#include "crypto.h"

#define KMS_SEALED_LEN (MQE2E_GCM_NONCE_LEN + MQE2E_KEY_LEN + MQE2E_GCM_TAG_LEN)

struct kms_keystore;

/* Load path (exactly 32 bytes), or create it when missing and create = 1. */
int kms_keystore_open(const char *path, int create, struct kms_keystore **out,
    char *err, size_t errlen) MQE2E_WUR;
/* Wipes the key. */
void kms_keystore_free(struct kms_keystore *ks);

/* Generate a fresh random group key and seal it: out gets the sealed
 * bytes.  The plaintext never leaves this function. */
int kms_keystore_new_key(struct kms_keystore *ks, const char *group, uint32_t epoch,
    uint8_t kind, uint8_t out[KMS_SEALED_LEN]) MQE2E_WUR;
/* Open a sealed key; MQE2E_ERR_BAD_TAG if it was tampered with or belongs
 * elsewhere.  Wipe key after use. */
int kms_keystore_open_key(struct kms_keystore *ks, const char *group, uint32_t epoch,
    uint8_t kind, const uint8_t *in, size_t in_len, uint8_t key[MQE2E_KEY_LEN]) MQE2E_WUR;

/*
 * The key-check value of a database: a random value sealed under the master
 * key with its own AAD (it can never pass for a group key).  It opens only
 * under the master key that made it, so a wrong master.key is found at
 * start before anything is sealed under it.  verify: MQE2E_ERR_BAD_TAG for
 * another key, MQE2E_ERR_BAD_FORMAT for a value of the wrong size.
 */
int kms_keystore_make_check(struct kms_keystore *ks, uint8_t out[KMS_SEALED_LEN]) MQE2E_WUR;
int kms_keystore_verify_check(struct kms_keystore *ks, const uint8_t *in,
    size_t in_len) MQE2E_WUR;

#endif
