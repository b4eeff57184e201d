/*
 * keystore.c - the master key and group-key sealing (see keystore.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "keystore.h"

#define AAD_LABEL "mqe2e-v1 gk"
#define AAD_MAX (sizeof(AAD_LABEL) - 1 + 2 + 255 + 4 + 1)
#define CHECK_AAD "mqe2e-v1 master key check"   /* never a group key's AAD */

struct kms_keystore {
	pthread_mutex_t lock;       /* the AEAD context is not thread-safe */
	struct mqe2e_aead *aead;
};

void
kms_keystore_free(struct kms_keystore *ks)
{
	if (ks == NULL)
		return;
	mqe2e_aead_free(ks->aead);
	pthread_mutex_destroy(&ks->lock);
	free(ks);
}

int
kms_keystore_open(const char *path, int create, struct kms_keystore **out,
    char *err, size_t errlen)
{
	struct kms_keystore *ks = NULL;
	uint8_t fresh[MQE2E_KEY_LEN];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (create && kms_file_exists(path) == 0) {
		if ((r = mqe2e_random(fresh, sizeof(fresh))) != MQE2E_OK) {
			snprintf(err, errlen, "%s: no randomness: %s", path, mqe2e_strerror(r));
			goto out;
		}
		r = kms_file_create(path, fresh, sizeof(fresh), 0600, err, errlen);
		mqe2e_wipe(fresh, sizeof(fresh));
		if (r != MQE2E_OK)
			goto out;
	}
	if ((r = kms_file_read(path, 4096, 1, &buf, &len, err, errlen)) != MQE2E_OK)
		goto out;
	if (len != MQE2E_KEY_LEN) {
		snprintf(err, errlen, "%s: the master key must be exactly %d bytes, found %zu: "
		    "restore it from a backup (without it the group keys cannot be read)",
		    path, MQE2E_KEY_LEN, len);
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	pthread_mutex_init(&ks->lock, NULL);
	if ((r = mqe2e_aead_new(buf, &ks->aead)) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot use the master key: %s", path, mqe2e_strerror(r));
		goto out;
	}
	*out = ks;
	ks = NULL;
 out:
	if (buf != NULL) {
		mqe2e_wipe(buf, len);
		free(buf);
	}
	kms_keystore_free(ks);
	return r;
}

static size_t
make_aad(uint8_t aad[AAD_MAX], const char *group, uint32_t epoch, uint8_t kind)
{
	size_t glen = strlen(group), n = 0;

	if (glen > 255)
		return 0;
	memcpy(aad, AAD_LABEL, sizeof(AAD_LABEL) - 1);
	n = sizeof(AAD_LABEL) - 1;
	aad[n++] = (uint8_t)(glen >> 8);
	aad[n++] = (uint8_t)glen;
	memcpy(aad + n, group, glen);
	n += glen;
	aad[n++] = (uint8_t)(epoch >> 24);
	aad[n++] = (uint8_t)(epoch >> 16);
	aad[n++] = (uint8_t)(epoch >> 8);
	aad[n++] = (uint8_t)epoch;
	aad[n++] = kind;
	return n;
}

/* Seal a fresh random key under aad into out. */
static int
seal_random(struct kms_keystore *ks, const uint8_t *aad, size_t aad_len,
    uint8_t out[KMS_SEALED_LEN])
{
	uint8_t key[MQE2E_KEY_LEN];
	int r;

	if ((r = mqe2e_random(key, sizeof(key))) != MQE2E_OK ||
	    (r = mqe2e_random(out, MQE2E_GCM_NONCE_LEN)) != MQE2E_OK)
		goto out;
	pthread_mutex_lock(&ks->lock);
	r = mqe2e_aead_seal(ks->aead, out, aad, aad_len, key, sizeof(key),
	    out + MQE2E_GCM_NONCE_LEN);
	pthread_mutex_unlock(&ks->lock);
 out:
	mqe2e_wipe(key, sizeof(key));
	return r;
}

/* Open sealed bytes under aad into key. */
static int
open_sealed(struct kms_keystore *ks, const uint8_t *aad, size_t aad_len, const uint8_t *in,
    size_t in_len, uint8_t key[MQE2E_KEY_LEN])
{
	int r;

	if (in == NULL || in_len != KMS_SEALED_LEN)
		return MQE2E_ERR_BAD_FORMAT;
	pthread_mutex_lock(&ks->lock);
	r = mqe2e_aead_open(ks->aead, in, aad, aad_len, in + MQE2E_GCM_NONCE_LEN,
	    in_len - MQE2E_GCM_NONCE_LEN, key);
	pthread_mutex_unlock(&ks->lock);
	return r;
}

int
kms_keystore_new_key(struct kms_keystore *ks, const char *group, uint32_t epoch,
    uint8_t kind, uint8_t out[KMS_SEALED_LEN])
{
	uint8_t aad[AAD_MAX];
	size_t aad_len;

	if ((aad_len = make_aad(aad, group, epoch, kind)) == 0)
		return MQE2E_ERR_INVALID_ARG;
	return seal_random(ks, aad, aad_len, out);
}

int
kms_keystore_open_key(struct kms_keystore *ks, const char *group, uint32_t epoch,
    uint8_t kind, const uint8_t *in, size_t in_len, uint8_t key[MQE2E_KEY_LEN])
{
	uint8_t aad[AAD_MAX];
	size_t aad_len;

	if ((aad_len = make_aad(aad, group, epoch, kind)) == 0)
		return MQE2E_ERR_INVALID_ARG;
	return open_sealed(ks, aad, aad_len, in, in_len, key);
}

int
kms_keystore_make_check(struct kms_keystore *ks, uint8_t out[KMS_SEALED_LEN])
{
	return seal_random(ks, (const uint8_t *)CHECK_AAD, sizeof(CHECK_AAD) - 1, out);
}

int
kms_keystore_verify_check(struct kms_keystore *ks, const uint8_t *in, size_t in_len)
{
	uint8_t key[MQE2E_KEY_LEN];
	int r;

	r = open_sealed(ks, (const uint8_t *)CHECK_AAD, sizeof(CHECK_AAD) - 1, in, in_len, key);
	mqe2e_wipe(key, sizeof(key));
	return r;
}
