/*
 * pair.c - the pairwise E2E handshake of schemes 1/2: PAIR_REQUEST from the
 * publisher, PAIR_RESPONSE from the subscriber, both signed end to end and
 * relayed by the broker; yields K_E2E(P,S).  docs/PROTOCOL.md section 2.5.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "wire_int.h"

struct mqe2e_pair {
	const struct mqe2e_identity *id;
	struct hs_hello hello;
	char peer[MQE2E_ID_MAX + 1];
	char group[MQE2E_ID_MAX + 1];
	uint32_t generation;
};

void
mqe2e_pair_free(struct mqe2e_pair *st)
{
	mqe2e_free_secret(st, sizeof(*st));
}

static int
pair_request(const struct mqe2e_identity *id, const char *peer_id, const char *group,
    uint32_t generation, uint64_t now_ms, const uint8_t *eph_in, const uint8_t *nonce_in,
    struct mqe2e_pair **stp, uint8_t **req, size_t *req_len)
{
	struct mqe2e_pair *st = NULL;
	struct mqe2e_writer w;
	int r;

	*stp = NULL;
	*req = NULL;
	*req_len = 0;
	mqe2e_wr_init_grow(&w, 0, 65535);
	if (id == NULL || id->key == NULL || id->cert_der == NULL ||
	    !mqe2e_id_valid_str(peer_id) || !mqe2e_id_valid_str(group)) {
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	st->id = id;
	memcpy(st->peer, peer_id, strlen(peer_id) + 1);
	memcpy(st->group, group, strlen(group) + 1);
	st->generation = generation;
	if ((r = hs__hello_begin(&w, MQE2E_MSG_PAIR_REQUEST, id, now_ms, eph_in, nonce_in,
	    &st->hello)) != MQE2E_OK)
		goto out;
	mqe2e_wr_vec16(&w, peer_id, strlen(peer_id));
	mqe2e_wr_vec16(&w, group, strlen(group));
	mqe2e_wr_u32(&w, generation);
	if ((r = hs__hello_end(&w, id, HS_LABEL_PAIRREQ, &st->hello, req, req_len)) != MQE2E_OK)
		goto out;
	*stp = st;
	st = NULL;
out:
	mqe2e_wr_free(&w);
	mqe2e_pair_free(st);
	return r;
}

int
mqe2e_pair_request_build(const struct mqe2e_identity *id, const char *peer_id,
    const char *group, uint32_t generation, uint64_t now_ms, struct mqe2e_pair **st,
    uint8_t **req, size_t *req_len)
{
	return pair_request(id, peer_id, group, generation, now_ms, NULL, NULL, st, req,
	    req_len);
}

int
mqe2e_pair_request_build_ex(const struct mqe2e_identity *id, const char *peer_id,
    const char *group, uint32_t generation, uint64_t now_ms,
    const uint8_t eph_priv[MQE2E_X25519_LEN], const uint8_t nonce[MQE2E_NONCE_LEN],
    struct mqe2e_pair **st, uint8_t **req, size_t *req_len)
{
	if (eph_priv == NULL || nonce == NULL) {
		*st = NULL;
		*req = NULL;
		*req_len = 0;
		return MQE2E_ERR_INVALID_ARG;
	}
	return pair_request(id, peer_id, group, generation, now_ms, eph_priv, nonce, st, req,
	    req_len);
}

static int
pair_respond(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, mqe2e_pair_group_cb group_ok, void *arg,
    const uint8_t *req, size_t req_len, uint64_t now_ms,
    const uint8_t *eph_in, const uint8_t *nonce_in, uint8_t **resp, size_t *resp_len,
    struct mqe2e_pair_info *info, uint8_t k_e2e[MQE2E_KEY_LEN])
{
	struct mqe2e_hello h;
	struct mqe2e_pair_info in;
	struct mqe2e_writer w;
	EVP_PKEY *pub = NULL;
	uint8_t eph_pub[MQE2E_X25519_LEN], shared[MQE2E_X25519_LEN];
	uint8_t nonce[MQE2E_NONCE_LEN], rh[MQE2E_SHA256_LEN], th[MQE2E_SHA256_LEN];
	uint8_t k[MQE2E_KEY_LEN];
	uint32_t skew = nc == NULL ? MQE2E_SKEW_MS_DEFAULT : mqe2e_nonce_cache_skew(nc);
	int r;

	*resp = NULL;
	*resp_len = 0;
	memset(&in, 0, sizeof(in));
	memset(shared, 0, sizeof(shared));
	memset(k, 0, sizeof(k));
	mqe2e_wr_init_grow(&w, 0, 65535);
	if (self == NULL || self->key == NULL || k_e2e == NULL) {
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = mqe2e_hello_decode(req, req_len, MQE2E_MSG_PAIR_REQUEST, &h)) != MQE2E_OK ||
	    (r = mqe2e_check_skew(h.ts_ms, now_ms, skew)) != MQE2E_OK ||
	    (r = hs__check_cert(trust, h.cert_der, now_ms, HS_KIND_BIT(MQE2E_KIND_CLIENT),
	    h.client_id, &pub, &in.peer)) != MQE2E_OK)
		goto out;
	if (!mqe2e_view_eq_str(h.peer_id, self->id)) {
		r = MQE2E_ERR_ID_MISMATCH;
		goto out;
	}
	if ((r = hs__verify(pub, HS_LABEL_PAIRREQ, NULL, h.signed_part, h.sig)) != MQE2E_OK ||
	    (r = mqe2e_view_to_str(h.group, in.group, sizeof(in.group))) != MQE2E_OK)
		goto out;
	/* The group before the nonce: a request for a group this subscriber
	 * does not pair on must not take a place in its nonce cache. */
	if (group_ok != NULL && (r = group_ok(arg, in.peer.id, in.group)) != MQE2E_OK) {
		if (info != NULL)
			*info = in;     /* verified: lets the caller say who and what */
		goto out;
	}
	if (nc != NULL && (r = mqe2e_nonce_cache_add(nc, h.nonce, h.ts_ms, now_ms)) != MQE2E_OK)
		goto out;
	in.peer.ts_ms = h.ts_ms;
	in.generation = h.generation;
	if ((r = mqe2e_pair_id(in.peer.id, self->id, in.group, in.pair_id,
	    sizeof(in.pair_id))) != MQE2E_OK)
		goto out;

	if ((r = hs__eph_dh(eph_in, h.eph_pub, eph_pub, shared)) != MQE2E_OK ||
	    (r = hs__nonce(nonce_in, nonce)) != MQE2E_OK ||
	    (r = mqe2e_sha256(req, req_len, rh)) != MQE2E_OK)
		goto out;
	hs__write_hello_head(&w, MQE2E_MSG_PAIR_RESPONSE, self, eph_pub, now_ms, nonce);
	mqe2e_wr_vec16(&w, h.client_id.p, h.client_id.len);
	mqe2e_wr_vec16(&w, h.group.p, h.group.len);
	mqe2e_wr_u32(&w, h.generation);
	mqe2e_wr_bytes(&w, rh, sizeof(rh));
	if ((r = hs__th_written(&w, rh, th)) != MQE2E_OK ||
	    (r = mqe2e_kdf(th, shared, KDF_LABEL_E2E, k)) != MQE2E_OK ||
	    (r = hs__sign_append(&w, self->key, HS_LABEL_PAIRRESP, rh)) != MQE2E_OK ||
	    (r = mqe2e_wr_steal(&w, resp, resp_len)) != MQE2E_OK)
		goto out;
	memcpy(k_e2e, k, sizeof(k));
	if (info != NULL)
		*info = in;
out:
	mqe2e_wr_free(&w);
	mqe2e_pkey_free(pub);
	mqe2e_wipe(shared, sizeof(shared));
	mqe2e_wipe(k, sizeof(k));
	return r;
}

int
mqe2e_pair_respond(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, mqe2e_pair_group_cb group_ok, void *arg,
    const uint8_t *req, size_t req_len, uint64_t now_ms,
    uint8_t **resp, size_t *resp_len, struct mqe2e_pair_info *info,
    uint8_t k_e2e[MQE2E_KEY_LEN])
{
	return pair_respond(self, trust, nc, group_ok, arg, req, req_len, now_ms, NULL, NULL,
	    resp, resp_len, info, k_e2e);
}

int
mqe2e_pair_respond_ex(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, mqe2e_pair_group_cb group_ok, void *arg,
    const uint8_t *req, size_t req_len, uint64_t now_ms,
    const uint8_t eph_priv[MQE2E_X25519_LEN], const uint8_t nonce[MQE2E_NONCE_LEN],
    uint8_t **resp, size_t *resp_len, struct mqe2e_pair_info *info,
    uint8_t k_e2e[MQE2E_KEY_LEN])
{
	if (eph_priv == NULL || nonce == NULL) {
		*resp = NULL;
		*resp_len = 0;
		return MQE2E_ERR_INVALID_ARG;
	}
	return pair_respond(self, trust, nc, group_ok, arg, req, req_len, now_ms, eph_priv, nonce,
	    resp, resp_len, info, k_e2e);
}

int
mqe2e_pair_finish(struct mqe2e_pair *st, struct mqe2e_trust *trust,
    const uint8_t *resp, size_t resp_len, uint64_t now_ms,
    struct mqe2e_pair_info *info, uint8_t k_e2e[MQE2E_KEY_LEN])
{
	struct mqe2e_reply rp;
	struct mqe2e_pair_info out;
	EVP_PKEY *pub = NULL;
	uint8_t shared[MQE2E_X25519_LEN], th[MQE2E_SHA256_LEN], k[MQE2E_KEY_LEN];
	int r;

	memset(&out, 0, sizeof(out));
	memset(shared, 0, sizeof(shared));
	memset(k, 0, sizeof(k));
	if (st == NULL || k_e2e == NULL) {
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = mqe2e_reply_decode(resp, resp_len, MQE2E_MSG_PAIR_RESPONSE, &rp)) != MQE2E_OK ||
	    (r = mqe2e_check_skew(rp.ts_ms, now_ms, MQE2E_SKEW_MS_DEFAULT)) != MQE2E_OK)
		goto out;
	/* it must come from the subscriber we asked, about our request */
	if (!mqe2e_view_eq_str(rp.client_id, st->peer) ||
	    !mqe2e_view_eq_str(rp.peer_id, st->id->id)) {
		r = MQE2E_ERR_ID_MISMATCH;
		goto out;
	}
	if (!mqe2e_view_eq_str(rp.group, st->group) || rp.generation != st->generation ||
	    !mqe2e_ct_equal(rp.req_hash, st->hello.hash, MQE2E_SHA256_LEN)) {
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	if ((r = hs__check_cert(trust, rp.cert_der, now_ms, HS_KIND_BIT(MQE2E_KIND_CLIENT),
	    rp.client_id, &pub, &out.peer)) != MQE2E_OK ||
	    (r = hs__verify(pub, HS_LABEL_PAIRRESP, st->hello.hash, rp.signed_part, rp.sig)) !=
	    MQE2E_OK)
		goto out;
	if ((r = hs__hello_answer(&st->hello, rp.eph_pub, rp.signed_part, shared, th)) !=
	    MQE2E_OK ||
	    (r = mqe2e_kdf(th, shared, KDF_LABEL_E2E, k)) != MQE2E_OK)
		goto out;
	out.peer.ts_ms = rp.ts_ms;
	out.generation = st->generation;
	memcpy(out.group, st->group, sizeof(out.group));
	if ((r = mqe2e_pair_id(st->id->id, st->peer, st->group, out.pair_id,
	    sizeof(out.pair_id))) != MQE2E_OK)
		goto out;
	memcpy(k_e2e, k, sizeof(k));
	if (info != NULL)
		*info = out;
out:
	mqe2e_pkey_free(pub);
	mqe2e_wipe(shared, sizeof(shared));
	mqe2e_wipe(k, sizeof(k));
	return r;
}
