/*
 * notice.c - REKEY_NOTICE: encode, decode, and the framing under SK_CB.b2c
 * (see notice.h and docs/PROTOCOL.md section 12).
 */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "notice.h"
#include "wire_int.h"

#define NOTICE_FIXED (1 + 1 + 2 + 4 + 8 + 8)   /* every field but the group */

int
mqe2e_rekey_topic(const char *group, char *out, size_t out_len)
{
	size_t plen = sizeof(MQE2E_REKEY_TOPIC_PREFIX) - 1, glen;

	if (group == NULL || out == NULL || !mqe2e_id_valid_str(group))
		return MQE2E_ERR_INVALID_ARG;
	glen = strlen(group);
	if (out_len < plen + glen + 1)
		return MQE2E_ERR_TOO_LONG;
	memcpy(out, MQE2E_REKEY_TOPIC_PREFIX, plen);
	memcpy(out + plen, group, glen + 1);
	return MQE2E_OK;
}

const char *
mqe2e_rekey_topic_group(const char *topic)
{
	size_t plen = sizeof(MQE2E_REKEY_TOPIC_PREFIX) - 1;

	if (topic == NULL || strncmp(topic, MQE2E_REKEY_TOPIC_PREFIX, plen) != 0)
		return NULL;
	topic += plen;
	return mqe2e_id_valid_str(topic) ? topic : NULL;
}

size_t
mqe2e_rekey_notice_body_size(const char *group)
{
	if (group == NULL || !mqe2e_id_valid_str(group))
		return 0;
	return NOTICE_FIXED + strlen(group);
}

int
mqe2e_rekey_notice_encode(const struct mqe2e_rekey_notice *n, uint8_t *out, size_t cap,
    size_t *len)
{
	struct mqe2e_writer w;
	size_t need;
	int r;

	*len = 0;
	if (n == NULL || out == NULL || (need = mqe2e_rekey_notice_body_size(n->group)) == 0)
		return MQE2E_ERR_INVALID_ARG;
	if (cap < need)
		return MQE2E_ERR_TOO_LONG;
	mqe2e_wr_init_fixed(&w, out, cap);
	mqe2e_wr_u8(&w, MQE2E_VERSION);
	mqe2e_wr_u8(&w, MQE2E_MSG_REKEY_NOTICE);
	mqe2e_wr_vec16(&w, n->group, strlen(n->group));
	mqe2e_wr_u32(&w, n->epoch);
	mqe2e_wr_u64(&w, n->policy_version);
	mqe2e_wr_u64(&w, n->ts_ms);
	if ((r = mqe2e_wr_error(&w)) != MQE2E_OK)
		return r;
	*len = w.len;
	return MQE2E_OK;
}

int
mqe2e_rekey_notice_decode(const uint8_t *in, size_t len, struct mqe2e_rekey_notice *n)
{
	struct mqe2e_reader r;
	struct mqe2e_view group;
	int rc;

	memset(n, 0, sizeof(*n));
	mqe2e_rd_init(&r, in, len);
	if ((rc = wire__read_head(&r, MQE2E_MSG_REKEY_NOTICE)) != MQE2E_OK ||
	    (rc = mqe2e_rd_vec16(&r, 1, MQE2E_ID_MAX, &group)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u32(&r, &n->epoch)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u64(&r, &n->policy_version)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u64(&r, &n->ts_ms)) != MQE2E_OK ||
	    (rc = mqe2e_rd_end(&r)) != MQE2E_OK)
		goto out;
	if (!mqe2e_id_valid(group.p, group.len)) {
		rc = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	memcpy(n->group, group.p, group.len);
	n->group[group.len] = '\0';
	rc = MQE2E_OK;
out:
	if (rc != MQE2E_OK)
		memset(n, 0, sizeof(*n));
	return rc;
}

/* The frame parameters of a notice from broker_id. */
static void
notice_frame_params(struct mqe2e_frame_params *fp, const char *broker_id, uint64_t seq)
{
	memset(fp, 0, sizeof(*fp));
	fp->key_kind = MQE2E_KEY_SESSION;
	fp->key_name = "";
	fp->epoch = 0;
	fp->sender = broker_id;
	fp->seq = seq;
}

size_t
mqe2e_rekey_notice_size(const struct mqe2e_rekey_notice *n, const char *broker_id)
{
	struct mqe2e_frame_params fp;
	size_t body;

	if (n == NULL || broker_id == NULL || !mqe2e_id_valid_str(broker_id) ||
	    (body = mqe2e_rekey_notice_body_size(n->group)) == 0)
		return 0;
	notice_frame_params(&fp, broker_id, 0);
	return mqe2e_frame_mac_size(&fp, body);
}

int
mqe2e_rekey_notice_seal(struct mqe2e_mac *b2c, const char *broker_id, uint64_t seq,
    const struct mqe2e_rekey_notice *n, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct mqe2e_frame_params fp;
	uint8_t body[NOTICE_FIXED + MQE2E_ID_MAX];
	char topic[MQE2E_REKEY_TOPIC_MAX];
	size_t body_len = 0;
	int r;

	*out_len = 0;
	if (b2c == NULL || broker_id == NULL || !mqe2e_id_valid_str(broker_id))
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mqe2e_rekey_topic(n->group, topic, sizeof(topic))) != MQE2E_OK ||
	    (r = mqe2e_rekey_notice_encode(n, body, sizeof(body), &body_len)) != MQE2E_OK)
		return r;
	notice_frame_params(&fp, broker_id, seq);
	return mqe2e_frame_mac_build(b2c, &fp, topic, strlen(topic), body, body_len, out,
	    out_cap, out_len);
}

int
mqe2e_rekey_notice_open(struct mqe2e_mac *b2c, const char *broker_id, const char *topic,
    const uint8_t *in, size_t len, uint64_t now_ms, uint32_t skew_ms,
    struct mqe2e_rekey_notice *n, uint64_t *seq)
{
	struct mqe2e_frame f;
	const char *tgroup;
	uint64_t d;
	int r;

	memset(n, 0, sizeof(*n));
	if (b2c == NULL || broker_id == NULL || topic == NULL || (in == NULL && len > 0))
		return MQE2E_ERR_INVALID_ARG;
	if ((tgroup = mqe2e_rekey_topic_group(topic)) == NULL)
		return MQE2E_ERR_BAD_FORMAT;
	if ((r = mqe2e_frame_decode(in, len, &f)) != MQE2E_OK)
		return r;
	if (f.type != MQE2E_MSG_FRAME_MAC)
		return MQE2E_ERR_BAD_TYPE;
	if (f.key_kind != MQE2E_KEY_SESSION || f.key_name.len != 0 || f.epoch != 0 ||
	    !mqe2e_view_eq_str(f.sender, broker_id))
		return MQE2E_ERR_BAD_FORMAT;
	if ((r = mqe2e_frame_mac_verify(b2c, &f, topic, strlen(topic))) != MQE2E_OK)
		return r;
	if ((r = mqe2e_rekey_notice_decode(f.body.p, f.body.len, n)) != MQE2E_OK)
		return r;
	if (strcmp(n->group, tgroup) != 0) {
		memset(n, 0, sizeof(*n));
		return MQE2E_ERR_BAD_FORMAT;
	}
	d = n->ts_ms > now_ms ? n->ts_ms - now_ms : now_ms - n->ts_ms;
	if (d > skew_ms) {
		memset(n, 0, sizeof(*n));
		return MQE2E_ERR_CLOCK_SKEW;
	}
	if (seq != NULL)
		*seq = f.seq;
	return MQE2E_OK;
}
