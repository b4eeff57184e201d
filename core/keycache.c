/*
 * keycache.c - the sealed key cache file format (keycache.h,
 * docs/PROTOCOL.md section 13).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"
#include "keycache.h"

#define MAGIC_LEN 8

/* K_cache of identity id (wipe it after use). */
static int
cache_key(const struct mqe2e_identity *id, uint8_t key[MQE2E_KEY_LEN])
{
	uint8_t info[sizeof(MQE2E_KEYCACHE_LABEL) + MQE2E_ID_MAX];
	size_t label = sizeof(MQE2E_KEYCACHE_LABEL), idlen = strlen(id->id);

	if (idlen == 0 || idlen > MQE2E_ID_MAX)
		return MQE2E_ERR_INVALID_ARG;
	/* the label with its NUL as the separator, then the id */
	memcpy(info, MQE2E_KEYCACHE_LABEL, label);
	memcpy(info + label, id->id, idlen);
	return mqe2e_ed25519_derive_key(id->key, info, label + idlen, key);
}

int
mqe2e_keycache_seal(const struct mqe2e_identity *id, const struct mqe2e_keybundle *kb,
    uint64_t now_ms, uint8_t **out, size_t *len)
{
	struct mqe2e_writer w;
	struct mqe2e_aead *aead = NULL;
	uint8_t key[MQE2E_KEY_LEN], nonce[MQE2E_GCM_NONCE_LEN], *pt = NULL, *ct;
	size_t pt_len = 0, aad_len;
	int r;

	*out = NULL;
	*len = 0;
	if (id == NULL || kb == NULL)
		return MQE2E_ERR_INVALID_ARG;
	mqe2e_wr_init_grow(&w, 512, MQE2E_KEYCACHE_MAX);
	if ((r = mqe2e_keybundle_encode(kb, &pt, &pt_len)) != MQE2E_OK ||
	    (r = cache_key(id, key)) != MQE2E_OK ||
	    (r = mqe2e_aead_new(key, &aead)) != MQE2E_OK ||
	    (r = mqe2e_random(nonce, sizeof(nonce))) != MQE2E_OK)
		goto out;
	mqe2e_wr_bytes(&w, MQE2E_KEYCACHE_MAGIC, MAGIC_LEN);
	mqe2e_wr_u8(&w, MQE2E_KEYCACHE_VERSION);
	mqe2e_wr_vec16(&w, id->id, strlen(id->id));
	mqe2e_wr_vec16(&w, id->serial, strlen(id->serial));
	mqe2e_wr_u64(&w, now_ms);
	mqe2e_wr_bytes(&w, nonce, sizeof(nonce));
	if ((r = mqe2e_wr_error(&w)) != MQE2E_OK)
		goto out;
	aad_len = w.len;
	mqe2e_wr_u32(&w, (uint32_t)(pt_len + MQE2E_GCM_TAG_LEN));
	if ((ct = mqe2e_wr_reserve(&w, pt_len + MQE2E_GCM_TAG_LEN)) == NULL) {
		r = mqe2e_wr_error(&w);
		goto out;
	}
	/* w.p may have moved while reserving: take the header from it now */
	if ((r = mqe2e_aead_seal(aead, nonce, w.p, aad_len, pt, pt_len, ct)) != MQE2E_OK)
		goto out;
	r = mqe2e_wr_steal(&w, out, len);
out:
	mqe2e_wr_free(&w);          /* header and ciphertext only: nothing secret */
	mqe2e_wipe(key, sizeof(key));
	mqe2e_aead_free(aead);
	mqe2e_free_secret(pt, pt_len);
	return r;
}

int
mqe2e_keycache_open(const struct mqe2e_identity *id, const uint8_t *in, size_t len,
    struct mqe2e_keybundle *kb, struct mqe2e_keycache_info *info)
{
	struct mqe2e_reader rd;
	struct mqe2e_keycache_info hdr;
	struct mqe2e_view v, sealed;
	struct mqe2e_aead *aead = NULL;
	uint8_t key[MQE2E_KEY_LEN], nonce[MQE2E_GCM_NONCE_LEN], magic[MAGIC_LEN], ver;
	uint8_t *pt = NULL;
	size_t aad_len, pt_len = 0;
	int r;

	if (kb != NULL)
		memset(kb, 0, sizeof(*kb));
	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (id == NULL || kb == NULL || (in == NULL && len > 0))
		return MQE2E_ERR_INVALID_ARG;
	if (len > MQE2E_KEYCACHE_MAX)
		return MQE2E_ERR_TOO_LONG;
	memset(&hdr, 0, sizeof(hdr));
	mqe2e_wipe(key, sizeof(key));
	mqe2e_rd_init(&rd, in, len);
	if ((r = mqe2e_rd_copy(&rd, magic, sizeof(magic))) != MQE2E_OK)
		goto out;
	if (memcmp(magic, MQE2E_KEYCACHE_MAGIC, MAGIC_LEN) != 0) {
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	if ((r = mqe2e_rd_u8(&rd, &ver)) != MQE2E_OK)
		goto out;
	if (ver != MQE2E_KEYCACHE_VERSION) {
		r = MQE2E_ERR_BAD_VERSION;
		goto out;
	}
	if ((r = mqe2e_rd_vec16(&rd, 1, MQE2E_ID_MAX, &v)) != MQE2E_OK ||
	    (r = mqe2e_view_to_str(v, hdr.id, sizeof(hdr.id))) != MQE2E_OK ||
	    (r = mqe2e_rd_vec16(&rd, 1, MQE2E_SERIAL_MAX - 1, &v)) != MQE2E_OK ||
	    (r = mqe2e_view_to_str(v, hdr.serial, sizeof(hdr.serial))) != MQE2E_OK ||
	    (r = mqe2e_rd_u64(&rd, &hdr.written_ms)) != MQE2E_OK ||
	    (r = mqe2e_rd_copy(&rd, nonce, sizeof(nonce))) != MQE2E_OK)
		goto out;
	if (!mqe2e_id_valid_str(hdr.id)) {
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	if (info != NULL)
		*info = hdr;
	aad_len = mqe2e_rd_consumed(&rd).len;
	if ((r = mqe2e_rd_vec32(&rd, MQE2E_GCM_TAG_LEN, MQE2E_KEYBUNDLE_MAX + MQE2E_GCM_TAG_LEN,
	    &sealed)) != MQE2E_OK || (r = mqe2e_rd_end(&rd)) != MQE2E_OK)
		goto out;
	/* someone else's file (or this client's, for an older certificate):
	 * say so rather than "does not verify" */
	if (strcmp(hdr.id, id->id) != 0 || strcmp(hdr.serial, id->serial) != 0) {
		r = MQE2E_ERR_ID_MISMATCH;
		goto out;
	}
	pt_len = sealed.len - MQE2E_GCM_TAG_LEN;
	if ((pt = malloc(pt_len > 0 ? pt_len : 1)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if ((r = cache_key(id, key)) != MQE2E_OK ||
	    (r = mqe2e_aead_new(key, &aead)) != MQE2E_OK ||
	    (r = mqe2e_aead_open(aead, nonce, in, aad_len, sealed.p, sealed.len, pt)) != MQE2E_OK)
		goto out;
	r = mqe2e_keybundle_decode(pt, pt_len, kb);
out:
	mqe2e_wipe(key, sizeof(key));
	mqe2e_aead_free(aead);
	mqe2e_free_secret(pt, pt_len);
	return r;
}
