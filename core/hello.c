/*
 * hello.c - codecs of the signed hellos (CONNECT_HELLO, KEY_REQUEST,
 * PAIR_REQUEST) and their replies (CONNACK_REPLY, KEY_RESPONSE,
 * PAIR_RESPONSE).  docs/PROTOCOL.md section 2.
 */
#include "config.h"

#include <string.h>

#include "wire.h"
#include "wire_int.h"

static int
rd_fixed(struct mqe2e_reader *r, size_t n, const uint8_t **p)
{
	struct mqe2e_view v;
	int rc;

	if ((rc = mqe2e_rd_view(r, n, &v)) != MQE2E_OK)
		return rc;
	*p = v.p;
	return MQE2E_OK;
}

/* vec16 id that must be a valid client id or group name */
static int
rd_id(struct mqe2e_reader *r, struct mqe2e_view *v)
{
	int rc;

	if ((rc = mqe2e_rd_vec16(r, 1, MQE2E_ID_MAX, v)) != MQE2E_OK)
		return rc;
	return mqe2e_id_valid(v->p, v->len) ? MQE2E_OK : MQE2E_ERR_BAD_FORMAT;
}

int
mqe2e_hello_decode(const uint8_t *in, size_t len, uint8_t expect_type, struct mqe2e_hello *h)
{
	struct mqe2e_reader r;
	struct mqe2e_view g;
	size_t start;
	uint32_t epoch;
	uint16_t i;
	int rc;

	memset(h, 0, sizeof(*h));
	if (expect_type != MQE2E_MSG_CONNECT_HELLO && expect_type != MQE2E_MSG_KEY_REQUEST &&
	    expect_type != MQE2E_MSG_PAIR_REQUEST)
		return MQE2E_ERR_INVALID_ARG;
	mqe2e_rd_init(&r, in, len);
	if ((rc = wire__read_head(&r, expect_type)) != MQE2E_OK ||
	    (rc = rd_id(&r, &h->client_id)) != MQE2E_OK ||
	    (rc = mqe2e_rd_vec16(&r, 1, MQE2E_CERT_MAX, &h->cert_der)) != MQE2E_OK ||
	    (rc = rd_fixed(&r, MQE2E_X25519_LEN, &h->eph_pub)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u64(&r, &h->ts_ms)) != MQE2E_OK ||
	    (rc = rd_fixed(&r, MQE2E_NONCE_LEN, &h->nonce)) != MQE2E_OK)
		goto out;
	h->type = expect_type;
	if (expect_type == MQE2E_MSG_CONNECT_HELLO) {
		/* the broker the hello is for: an id, or empty (any broker) */
		if ((rc = mqe2e_rd_vec16(&r, 0, MQE2E_ID_MAX, &h->broker_id)) != MQE2E_OK)
			goto out;
		if (h->broker_id.len > 0 && !mqe2e_id_valid(h->broker_id.p, h->broker_id.len)) {
			rc = MQE2E_ERR_BAD_FORMAT;
			goto out;
		}
	} else if (expect_type == MQE2E_MSG_KEY_REQUEST) {
		/* version 2: (group, epoch) pairs, then the paging cursor */
		if ((rc = mqe2e_rd_u16(&r, &h->ngroups)) != MQE2E_OK)
			goto out;
		if (h->ngroups > MQE2E_GROUPS_MAX) {
			rc = MQE2E_ERR_TOO_LONG;
			goto out;
		}
		start = r.off;
		for (i = 0; i < h->ngroups; i++)
			if ((rc = rd_id(&r, &g)) != MQE2E_OK ||
			    (rc = mqe2e_rd_u32(&r, &epoch)) != MQE2E_OK)
				goto out;
		h->groups.p = in + start;
		h->groups.len = r.off - start;
		if ((rc = mqe2e_rd_vec16(&r, 0, MQE2E_ID_MAX, &h->after)) != MQE2E_OK)
			goto out;
		if (h->after.len > 0 && !mqe2e_id_valid(h->after.p, h->after.len)) {
			rc = MQE2E_ERR_BAD_FORMAT;
			goto out;
		}
	} else if (expect_type == MQE2E_MSG_PAIR_REQUEST) {
		if ((rc = rd_id(&r, &h->peer_id)) != MQE2E_OK ||
		    (rc = rd_id(&r, &h->group)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u32(&r, &h->generation)) != MQE2E_OK)
			goto out;
	}
	h->signed_part = mqe2e_rd_consumed(&r);
	if ((rc = rd_fixed(&r, MQE2E_ED25519_SIG_LEN, &h->sig)) != MQE2E_OK ||
	    (rc = mqe2e_rd_end(&r)) != MQE2E_OK)
		goto out;
out:
	if (rc != MQE2E_OK)
		memset(h, 0, sizeof(*h));
	return rc;
}

int
mqe2e_hello_next_group(const struct mqe2e_hello *h, size_t *off, struct mqe2e_view *group,
    uint32_t *epoch)
{
	struct mqe2e_reader r;
	int rc;

	if (h->type != MQE2E_MSG_KEY_REQUEST || *off > h->groups.len)
		return MQE2E_ERR_INVALID_ARG;
	if (*off == h->groups.len)
		return MQE2E_ERR_NOT_FOUND;
	mqe2e_rd_init(&r, h->groups.p, h->groups.len);
	r.off = *off;
	if ((rc = rd_id(&r, group)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u32(&r, epoch)) != MQE2E_OK)
		return rc;
	*off = r.off;
	return MQE2E_OK;
}

int
mqe2e_reply_decode(const uint8_t *in, size_t len, uint8_t expect_type, struct mqe2e_reply *rp)
{
	struct mqe2e_reader r;
	int rc;

	memset(rp, 0, sizeof(*rp));
	if (expect_type != MQE2E_MSG_CONNACK_REPLY && expect_type != MQE2E_MSG_KEY_RESPONSE &&
	    expect_type != MQE2E_MSG_PAIR_RESPONSE)
		return MQE2E_ERR_INVALID_ARG;
	mqe2e_rd_init(&r, in, len);
	if ((rc = wire__read_head(&r, expect_type)) != MQE2E_OK)
		goto out;
	rp->type = expect_type;
	if (expect_type == MQE2E_MSG_PAIR_RESPONSE &&
	    (rc = rd_id(&r, &rp->client_id)) != MQE2E_OK)
		goto out;
	if (expect_type != MQE2E_MSG_KEY_RESPONSE &&
	    (rc = mqe2e_rd_vec16(&r, 1, MQE2E_CERT_MAX, &rp->cert_der)) != MQE2E_OK)
		goto out;
	if ((rc = rd_fixed(&r, MQE2E_X25519_LEN, &rp->eph_pub)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u64(&r, &rp->ts_ms)) != MQE2E_OK ||
	    (rc = rd_fixed(&r, MQE2E_NONCE_LEN, &rp->nonce)) != MQE2E_OK)
		goto out;
	if (expect_type == MQE2E_MSG_PAIR_RESPONSE &&
	    ((rc = rd_id(&r, &rp->peer_id)) != MQE2E_OK ||
	    (rc = rd_id(&r, &rp->group)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u32(&r, &rp->generation)) != MQE2E_OK ||
	    (rc = rd_fixed(&r, MQE2E_SHA256_LEN, &rp->req_hash)) != MQE2E_OK))
		goto out;
	rp->signed_part = mqe2e_rd_consumed(&r);
	if ((rc = rd_fixed(&r, MQE2E_ED25519_SIG_LEN, &rp->sig)) != MQE2E_OK)
		goto out;
	if (expect_type == MQE2E_MSG_CONNACK_REPLY &&
	    (rc = rd_fixed(&r, MQE2E_SHA256_LEN, &rp->confirm)) != MQE2E_OK)
		goto out;
	if (expect_type == MQE2E_MSG_KEY_RESPONSE) {
		if ((rc = rd_fixed(&r, MQE2E_GCM_NONCE_LEN, &rp->gcm_nonce)) != MQE2E_OK)
			goto out;
		/* the AAD covers everything before the sealed bytes, length included */
		if ((rc = mqe2e_rd_vec32(&r, MQE2E_GCM_TAG_LEN, MQE2E_KEYBUNDLE_MAX +
		    MQE2E_GCM_TAG_LEN, &rp->sealed)) != MQE2E_OK)
			goto out;
		rp->aad.p = in;
		rp->aad.len = (size_t)(rp->sealed.p - in);
	}
	rc = mqe2e_rd_end(&r);
out:
	if (rc != MQE2E_OK)
		memset(rp, 0, sizeof(*rp));
	return rc;
}
