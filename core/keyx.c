/*
 * keyx.c - key delivery from the KMS: KEY_REQUEST (a signed hello) and
 * KEY_RESPONSE (signed by the CA key, KEY_BUNDLE sealed under k_resp).
 * docs/PROTOCOL.md section 2.3.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "wire_int.h"

struct mqe2e_keyreq {
	struct hs_hello hello;
};

void
mqe2e_keyreq_free(struct mqe2e_keyreq *st)
{
	mqe2e_free_secret(st, sizeof(*st));
}

static int
keyreq_build(const struct mqe2e_identity *id, const struct mqe2e_keyreq_want *want,
    size_t n, const char *after, uint64_t now_ms, const uint8_t *eph_in, const uint8_t *nonce_in,
    struct mqe2e_keyreq **stp, uint8_t **req, size_t *req_len)
{
	struct mqe2e_keyreq *st = NULL;
	struct mqe2e_writer w;
	size_t i;
	int r;

	*stp = NULL;
	*req = NULL;
	*req_len = 0;
	mqe2e_wr_init_grow(&w, 0, 65535 + (size_t)MQE2E_GROUPS_MAX * (2 + MQE2E_ID_MAX + 4) +
	    2 + MQE2E_ID_MAX);
	r = MQE2E_ERR_INVALID_ARG;
	if (id == NULL || id->key == NULL || id->cert_der == NULL ||
	    (want == NULL && n > 0) || n > MQE2E_GROUPS_MAX ||
	    (after != NULL && after[0] != '\0' && !mqe2e_id_valid_str(after)))
		goto out;
	for (i = 0; i < n; i++)
		if (!mqe2e_id_valid_str(want[i].group))
			goto out;
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if ((r = hs__hello_begin(&w, MQE2E_MSG_KEY_REQUEST, id, now_ms, eph_in, nonce_in,
	    &st->hello)) != MQE2E_OK)
		goto out;
	mqe2e_wr_u16(&w, (uint16_t)n);
	for (i = 0; i < n; i++) {
		mqe2e_wr_vec16(&w, want[i].group, strlen(want[i].group));
		mqe2e_wr_u32(&w, want[i].epoch);
	}
	mqe2e_wr_vec16(&w, after != NULL ? after : "", after != NULL ? strlen(after) : 0);
	if ((r = hs__hello_end(&w, id, HS_LABEL_KEYREQ, &st->hello, req, req_len)) != MQE2E_OK)
		goto out;
	*stp = st;
	st = NULL;
out:
	mqe2e_wr_free(&w);
	mqe2e_keyreq_free(st);
	return r;
}

/* The (group, 0) wants of a plain list of names (malloc'd; NULL for none). */
static int
wants_of(const char *const *groups, size_t ngroups, struct mqe2e_keyreq_want **out)
{
	size_t i;

	*out = NULL;
	if (ngroups == 0)
		return MQE2E_OK;
	if (groups == NULL || ngroups > MQE2E_GROUPS_MAX)
		return MQE2E_ERR_INVALID_ARG;
	if ((*out = calloc(ngroups, sizeof(**out))) == NULL)
		return MQE2E_ERR_NOMEM;
	for (i = 0; i < ngroups; i++)
		(*out)[i].group = groups[i];
	return MQE2E_OK;
}

int
mqe2e_keyreq_build(const struct mqe2e_identity *id, const char *const *groups,
    size_t ngroups, uint64_t now_ms, struct mqe2e_keyreq **st, uint8_t **req,
    size_t *req_len)
{
	struct mqe2e_keyreq_want *w = NULL;
	int r;

	*st = NULL;
	*req = NULL;
	*req_len = 0;
	if ((r = wants_of(groups, ngroups, &w)) == MQE2E_OK)
		r = keyreq_build(id, w, ngroups, NULL, now_ms, NULL, NULL, st, req, req_len);
	free(w);
	return r;
}

int
mqe2e_keyreq_build_want(const struct mqe2e_identity *id, const struct mqe2e_keyreq_want *want,
    size_t n, const char *after, uint64_t now_ms, struct mqe2e_keyreq **st, uint8_t **req,
    size_t *req_len)
{
	return keyreq_build(id, want, n, after, now_ms, NULL, NULL, st, req, req_len);
}

int
mqe2e_keyreq_build_ex(const struct mqe2e_identity *id, const char *const *groups,
    size_t ngroups, uint64_t now_ms, const uint8_t eph_priv[MQE2E_X25519_LEN],
    const uint8_t nonce[MQE2E_NONCE_LEN], struct mqe2e_keyreq **st, uint8_t **req,
    size_t *req_len)
{
	struct mqe2e_keyreq_want *w = NULL;
	int r;

	*st = NULL;
	*req = NULL;
	*req_len = 0;
	if (eph_priv == NULL || nonce == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = wants_of(groups, ngroups, &w)) == MQE2E_OK)
		r = keyreq_build(id, w, ngroups, NULL, now_ms, eph_priv, nonce, st, req, req_len);
	free(w);
	return r;
}

void
mqe2e_keyreq_info_free(struct mqe2e_keyreq_info *info)
{
	size_t i;

	if (info == NULL)
		return;
	for (i = 0; i < info->ngroups && info->groups != NULL; i++)
		free(info->groups[i]);
	free(info->groups);
	free(info->epochs);
	mqe2e_wipe(info, sizeof(*info));
	free(info);
}

int
mqe2e_keyreq_verify(struct mqe2e_trust *trust, struct mqe2e_nonce_cache *nc,
    const uint8_t *req, size_t req_len, uint64_t now_ms, struct mqe2e_keyreq_info **out)
{
	struct mqe2e_keyreq_info *info = NULL;
	struct mqe2e_hello h;
	struct mqe2e_view g;
	EVP_PKEY *pub = NULL;
	size_t off = 0, i;
	int r;

	*out = NULL;
	if (nc == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mqe2e_hello_decode(req, req_len, MQE2E_MSG_KEY_REQUEST, &h)) != MQE2E_OK ||
	    (r = mqe2e_nonce_cache_check_time(nc, h.ts_ms, now_ms)) != MQE2E_OK)
		goto out;
	if ((info = calloc(1, sizeof(*info))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if ((r = hs__check_cert(trust, h.cert_der, now_ms,
	    HS_KIND_BIT(MQE2E_KIND_CLIENT) | HS_KIND_BIT(MQE2E_KIND_BROKER), h.client_id, &pub,
	    &info->requester)) != MQE2E_OK ||
	    (r = hs__verify(pub, HS_LABEL_KEYREQ, NULL, h.signed_part, h.sig)) != MQE2E_OK)
		goto out;
	/* The nonce is the caller's to record, once it has authorised the
	 * requester (see handshake.h). */
	info->requester.ts_ms = h.ts_ms;
	memcpy(info->nonce, h.nonce, MQE2E_NONCE_LEN);
	if ((r = mqe2e_view_to_str(h.after, info->after, sizeof(info->after))) != MQE2E_OK)
		goto out;
	if (h.ngroups > 0) {
		if ((info->groups = calloc(h.ngroups, sizeof(*info->groups))) == NULL ||
		    (info->epochs = calloc(h.ngroups, sizeof(*info->epochs))) == NULL) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
		for (i = 0; i < h.ngroups; i++) {
			if ((r = mqe2e_hello_next_group(&h, &off, &g, &info->epochs[i])) != MQE2E_OK)
				goto out;
			if ((info->groups[i] = malloc(g.len + 1)) == NULL) {
				r = MQE2E_ERR_NOMEM;
				goto out;
			}
			info->ngroups = i + 1;
			if ((r = mqe2e_view_to_str(g, info->groups[i], g.len + 1)) != MQE2E_OK)
				goto out;
		}
	}
	memcpy(info->peer_eph, h.eph_pub, MQE2E_X25519_LEN);
	if ((r = mqe2e_sha256(req, req_len, info->req_hash)) != MQE2E_OK)
		goto out;
	*out = info;
	info = NULL;
out:
	mqe2e_pkey_free(pub);
	mqe2e_keyreq_info_free(info);
	return r;
}

static int
keyresp_build(EVP_PKEY *ca_key, struct mqe2e_x25519_share *share,
    const struct mqe2e_keyreq_info *info,
    const struct mqe2e_keybundle *kb, uint64_t now_ms, const uint8_t *eph_in,
    const uint8_t *nonce_in, const uint8_t *gcm_in, uint8_t **resp, size_t *resp_len)
{
	struct mqe2e_writer w;
	struct mqe2e_aead *aead = NULL;
	uint8_t eph_pub[MQE2E_X25519_LEN], shared[MQE2E_X25519_LEN];
	uint8_t nonce[MQE2E_NONCE_LEN], gcm[MQE2E_GCM_NONCE_LEN], th[MQE2E_SHA256_LEN];
	uint8_t k[MQE2E_KEY_LEN], *pt = NULL, *ct;
	uint8_t rnd[MQE2E_NONCE_LEN + MQE2E_GCM_NONCE_LEN];
	size_t pt_len = 0;
	int r;

	*resp = NULL;
	*resp_len = 0;
	memset(shared, 0, sizeof(shared));
	memset(k, 0, sizeof(k));
	mqe2e_wr_init_grow(&w, 256, 1024 + MQE2E_KEYBUNDLE_MAX + MQE2E_GCM_TAG_LEN);
	if (ca_key == NULL || info == NULL) {
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	/* both nonces from one call to the DRBG */
	if (nonce_in == NULL && gcm_in == NULL) {
		if ((r = mqe2e_random(rnd, sizeof(rnd))) != MQE2E_OK)
			goto out;
		nonce_in = rnd;
		gcm_in = rnd + MQE2E_NONCE_LEN;
	}
	if ((r = mqe2e_keybundle_encode(kb, &pt, &pt_len)) != MQE2E_OK ||
	    (r = share != NULL ?
	    mqe2e_x25519_share_dh(share, now_ms, info->peer_eph, eph_pub, shared) :
	    hs__eph_dh(eph_in, info->peer_eph, eph_pub, shared)) != MQE2E_OK ||
	    (r = hs__nonce(nonce_in, nonce)) != MQE2E_OK)
		goto out;
	if (gcm_in != NULL)
		memcpy(gcm, gcm_in, sizeof(gcm));
	else if ((r = mqe2e_random(gcm, sizeof(gcm))) != MQE2E_OK)
		goto out;
	mqe2e_wr_u8(&w, MQE2E_VERSION);
	mqe2e_wr_u8(&w, MQE2E_MSG_KEY_RESPONSE);
	mqe2e_wr_bytes(&w, eph_pub, sizeof(eph_pub));
	mqe2e_wr_u64(&w, now_ms);
	mqe2e_wr_bytes(&w, nonce, sizeof(nonce));
	if ((r = hs__th_written(&w, info->req_hash, th)) != MQE2E_OK ||
	    (r = mqe2e_kdf(th, shared, KDF_LABEL_KMS, k)) != MQE2E_OK ||
	    (r = mqe2e_aead_new(k, &aead)) != MQE2E_OK ||
	    (r = hs__sign_append(&w, ca_key, HS_LABEL_KEYRESP, info->req_hash)) != MQE2E_OK)
		goto out;
	mqe2e_wr_bytes(&w, gcm, sizeof(gcm));
	mqe2e_wr_u32(&w, (uint32_t)(pt_len + MQE2E_GCM_TAG_LEN));
	/* reserve first: the AAD is every byte before the sealed bytes, and a
	 * growing buffer only stops moving once the last byte is reserved */
	ct = mqe2e_wr_reserve(&w, pt_len + MQE2E_GCM_TAG_LEN);
	if ((r = mqe2e_wr_error(&w)) != MQE2E_OK)
		goto out;
	if ((r = mqe2e_aead_seal(aead, gcm, w.p, (size_t)(ct - w.p), pt, pt_len, ct)) !=
	    MQE2E_OK ||
	    (r = mqe2e_wr_steal(&w, resp, resp_len)) != MQE2E_OK)
		goto out;
out:
	mqe2e_wr_free(&w);
	mqe2e_aead_free(aead);
	mqe2e_free_secret(pt, pt_len);
	mqe2e_wipe(shared, sizeof(shared));
	mqe2e_wipe(k, sizeof(k));
	return r;
}

int
mqe2e_keyresp_build(EVP_PKEY *ca_key, const struct mqe2e_keyreq_info *info,
    const struct mqe2e_keybundle *kb, uint64_t now_ms,
    uint8_t **resp, size_t *resp_len)
{
	return keyresp_build(ca_key, NULL, info, kb, now_ms, NULL, NULL, NULL, resp, resp_len);
}

int
mqe2e_keyresp_build_shared(EVP_PKEY *ca_key, struct mqe2e_x25519_share *share,
    const struct mqe2e_keyreq_info *info, const struct mqe2e_keybundle *kb, uint64_t now_ms,
    uint8_t **resp, size_t *resp_len)
{
	if (share == NULL) {
		*resp = NULL;
		*resp_len = 0;
		return MQE2E_ERR_INVALID_ARG;
	}
	return keyresp_build(ca_key, share, info, kb, now_ms, NULL, NULL, NULL, resp, resp_len);
}

int
mqe2e_keyresp_build_ex(EVP_PKEY *ca_key, const struct mqe2e_keyreq_info *info,
    const struct mqe2e_keybundle *kb, uint64_t now_ms,
    const uint8_t eph_priv[MQE2E_X25519_LEN], const uint8_t nonce[MQE2E_NONCE_LEN],
    const uint8_t gcm_nonce[MQE2E_GCM_NONCE_LEN], uint8_t **resp, size_t *resp_len)
{
	if (eph_priv == NULL || nonce == NULL || gcm_nonce == NULL) {
		*resp = NULL;
		*resp_len = 0;
		return MQE2E_ERR_INVALID_ARG;
	}
	return keyresp_build(ca_key, NULL, info, kb, now_ms, eph_priv, nonce, gcm_nonce, resp,
	    resp_len);
}

int
mqe2e_keyresp_open(struct mqe2e_keyreq *st, struct mqe2e_trust *trust,
    const uint8_t *resp, size_t resp_len, uint64_t now_ms,
    struct mqe2e_keybundle *kb)
{
	struct mqe2e_reply rp;
	struct mqe2e_aead *aead = NULL;
	uint8_t shared[MQE2E_X25519_LEN], th[MQE2E_SHA256_LEN], k[MQE2E_KEY_LEN];
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	int r;

	if (kb != NULL)
		memset(kb, 0, sizeof(*kb));
	memset(shared, 0, sizeof(shared));
	memset(k, 0, sizeof(k));
	if (st == NULL || trust == NULL || kb == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mqe2e_reply_decode(resp, resp_len, MQE2E_MSG_KEY_RESPONSE, &rp)) != MQE2E_OK ||
	    (r = mqe2e_check_skew(rp.ts_ms, now_ms, MQE2E_SKEW_MS_DEFAULT)) != MQE2E_OK ||
	    (r = hs__verify(mqe2e_trust_ca_key(trust), HS_LABEL_KEYRESP, st->hello.hash,
	    rp.signed_part, rp.sig)) != MQE2E_OK)
		goto out;
	if ((r = hs__hello_answer(&st->hello, rp.eph_pub, rp.signed_part, shared, th)) !=
	    MQE2E_OK ||
	    (r = mqe2e_kdf(th, shared, KDF_LABEL_KMS, k)) != MQE2E_OK ||
	    (r = mqe2e_aead_new(k, &aead)) != MQE2E_OK)
		goto out;
	pt_len = rp.sealed.len - MQE2E_GCM_TAG_LEN;
	if ((pt = malloc(pt_len + 1)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if ((r = mqe2e_aead_open(aead, rp.gcm_nonce, rp.aad.p, rp.aad.len, rp.sealed.p,
	    rp.sealed.len, pt)) != MQE2E_OK ||
	    (r = mqe2e_keybundle_decode(pt, pt_len, kb)) != MQE2E_OK)
		goto out;
out:
	mqe2e_aead_free(aead);
	mqe2e_free_secret(pt, pt_len);
	mqe2e_wipe(shared, sizeof(shared));
	mqe2e_wipe(k, sizeof(k));
	return r;
}
