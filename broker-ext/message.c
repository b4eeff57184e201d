/*
 * message.c - the broker's per-message work for the four schemes.
 *
 * Two steps per PUBLISH, both on the broker thread, each exactly once:
 *
 * 1. message__verify(), from the ACL write check (acl.c), sees the payload
 *    as the publisher sent it and decides whether it may pass:
 *      scheme 4  MAC frame under SK_CB c2b: check the frame's sender is the
 *                authenticated client, the channel replay window, the MAC;
 *                then the inner E2E envelope: scheme 4, group key named
 *                after this group, sender == the authenticated client.  The
 *                envelope is re-framed ONCE: MAC(GK_B) frame, sender = the
 *                broker's id, the group's own sequence number.
 *      scheme 3  the same with an AEAD frame: opened once, the envelope
 *                sealed once under GK_B.
 *      scheme 2  AEAD frame under SK_CB c2b around a BUNDLE of pairwise
 *                envelopes: opened once; every part must be an envelope of
 *                this sender.
 *      scheme 1  a plain BUNDLE of pairwise envelopes (no channel crypto).
 *    Anything that fails is dropped there (ACL denial), counted under its
 *    reason and logged once.  Nothing is ever written out before its tag
 *    verified; the channel replay window moves only after that.
 *
 * 2. message__handle(), the MOSQ_EVT_MESSAGE callback, swaps in the result:
 *    schemes 3/4 replace the payload (mosquitto_malloc'd; Mosquitto frees
 *    the old one); schemes 1/2 deliver each recipient its own part
 *    (scheme 2: sealed under that recipient's SK_CB b2c) with
 *    mosquitto_broker_publish(recipient, ...), and empty the original, which
 *    the read check (acl.c) then keeps from every subscriber.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "plugin.h"

/* Drop: count, log one line, return err. */
static int drop(enum bx_stat st, int err, const struct bx_session *s, const char *topic,
    const char *why)
{
	stats__inc(st);
	plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': %s (%s)",
	    s->id, topic, why, stats__name(st));
	return err;
}

static int malformed(const struct bx_session *s, const char *topic, int err)
{
	return drop(BX_MSG_MALFORMED, err, s, topic, mqe2e_strerror(err));
}

/* Checks of a decoded channel frame before its tag: from this client, under
 * the session key, not replayed. */
static int check_frame_header(const struct bx_session *s, const struct mqe2e_frame *f,
    uint8_t want_type, const char *topic)
{
	if (f->type != want_type)
		return drop(BX_MSG_WRONG_SCHEME, MQE2E_ERR_BAD_TYPE, s, topic,
		    "channel frame type does not fit the group's scheme");
	if (f->key_kind != MQE2E_KEY_SESSION)
		return drop(BX_MSG_MALFORMED, MQE2E_ERR_BAD_FORMAT, s, topic,
		    "channel frame not under the session key");
	if (!mqe2e_view_eq_str(f->sender, s->id))
		return drop(BX_MSG_SENDER_MISMATCH, MQE2E_ERR_ID_MISMATCH, s, topic,
		    "channel frame names another sender");
	if (mqe2e_replay_check(&s->rx, f->seq) != MQE2E_OK)
		return drop(BX_MSG_REPLAY, MQE2E_ERR_REPLAY, s, topic,
		    "channel sequence number replayed or too old");
	return MQE2E_OK;
}

/* Checks of an authenticated E2E envelope: right scheme, right key, and the
 * sender is the authenticated client. */
static int check_envelope(const struct bx_session *s, const struct bx_group *g,
    const uint8_t *p, size_t len, const char *topic)
{
	struct mqe2e_envelope env;
	int r;

	if ((r = mqe2e_envelope_decode(p, len, &env)) != MQE2E_OK)
		return malformed(s, topic, r);
	if (!mqe2e_view_eq_str(env.sender, s->id))
		return drop(BX_MSG_SENDER_MISMATCH, MQE2E_ERR_ID_MISMATCH, s, topic,
		    "envelope names another sender");
	if (env.scheme != g->scheme)
		return drop(BX_MSG_WRONG_SCHEME, MQE2E_ERR_BAD_FORMAT, s, topic,
		    "envelope scheme differs from the group's");
	if (g->scheme >= MQE2E_SCHEME_3) {
		if (env.key_kind != MQE2E_KEY_GROUP || !mqe2e_view_eq_str(env.key_name, g->name))
			return drop(BX_MSG_WRONG_SCHEME, MQE2E_ERR_BAD_FORMAT, s, topic,
			    "envelope not under this group's key");
	} else if (env.key_kind != MQE2E_KEY_PAIR) {
		return drop(BX_MSG_WRONG_SCHEME, MQE2E_ERR_BAD_FORMAT, s, topic,
		    "envelope not under a pairwise key");
	}
	return MQE2E_OK;
}

/* Every part of a bundle is an envelope of this sender, under the pair key
 * of this sender and the part's recipient for this group. */
static int check_bundle(const struct bx_session *s, const struct bx_group *g,
    const uint8_t *p, size_t len, const char *topic)
{
	struct mqe2e_bundle_entry *e = NULL;
	size_t n = 0, i;
	int r;

	if ((r = mqe2e_bundle_decode(p, len, &e, &n)) != MQE2E_OK)
		return malformed(s, topic, r);
	for (i = 0; i < n && r == MQE2E_OK; i++) {
		struct mqe2e_envelope env;
		char rid[MQE2E_ID_MAX + 1], pid[MQE2E_KEYNAME_MAX + 1];

		if ((r = check_envelope(s, g, e[i].part.p, e[i].part.len, topic)) != MQE2E_OK)
			break;
		/* The part for R must be under the pair key "sender|R|group". */
		if (mqe2e_envelope_decode(e[i].part.p, e[i].part.len, &env) != MQE2E_OK ||
		    mqe2e_view_to_str(e[i].recipient, rid, sizeof(rid)) != MQE2E_OK ||
		    mqe2e_pair_id(s->id, rid, g->name, pid, sizeof(pid)) != MQE2E_OK ||
		    !mqe2e_view_eq_str(env.key_name, pid))
			r = drop(BX_MSG_MALFORMED, MQE2E_ERR_BAD_FORMAT, s, topic,
			    "bundle part not under the key of its sender and recipient");
	}
	free(e);
	return r;
}

/* The GK_B the broker re-frames with: the group's current epoch. */
static int current_key(const struct bx_session *s, struct bx_group *g, const char *topic,
    struct bx_gkey **k)
{
	if ((*k = policy__key(g, g->epoch, mqe2e_now_ms())) == NULL)
		return drop(BX_MSG_NO_KEY, MQE2E_ERR_UNKNOWN_KEY, s, topic,
		    "no broker group key for the current epoch");
	return MQE2E_OK;
}

static int reframe(const struct bx_session *s, struct bx_group *g, const char *topic,
    const uint8_t *env, size_t env_len, void **out, uint32_t *out_len)
{
	struct mqe2e_frame_params fp;
	struct bx_gkey *k;
	size_t need, len = 0;
	uint8_t *buf = NULL;
	int r;

	*out = NULL;
	if ((r = current_key(s, g, topic, &k)) != MQE2E_OK)
		return r;
	memset(&fp, 0, sizeof(fp));
	fp.key_kind = MQE2E_KEY_GROUP;
	fp.key_name = g->name;
	fp.epoch = g->epoch;
	fp.sender = bx.self->id;
	/* the broker's clock: later than the CONNACK of every subscriber that
	 * was connected when this frame was made (PROTOCOL.md 8) */
	fp.seq = plugin__clock_us();
	need = g->scheme == MQE2E_SCHEME_4 ? mqe2e_frame_mac_size(&fp, env_len) :
	    mqe2e_frame_aead_size(&fp, env_len);
	if (need == 0 || need > MQE2E_PAYLOAD_MAX)
		return drop(BX_MSG_MALFORMED, MQE2E_ERR_TOO_LONG, s, topic, "re-framed message too long");
	if ((buf = mosquitto_malloc(need)) == NULL)
		return drop(BX_MSG_INTERNAL, MQE2E_ERR_NOMEM, s, topic, "out of memory");
	if (g->scheme == MQE2E_SCHEME_4)
		r = mqe2e_frame_mac_build(k->mac, &fp, topic, strlen(topic), env, env_len, buf, need, &len);
	else
		r = mqe2e_frame_aead_build(k->aead, &fp, topic, strlen(topic), env, env_len, buf, need, &len);
	if (r != MQE2E_OK) {
		mosquitto_free(buf);
		return drop(BX_MSG_INTERNAL, r, s, topic, "re-framing failed");
	}
	g->seq = fp.seq;
	*out = buf;
	*out_len = (uint32_t)len;
	return MQE2E_OK;
}

static int verify_scheme4(struct bx_session *s, struct bx_group *g, const char *topic,
    const uint8_t *p, size_t len)
{
	struct mqe2e_frame f;
	int r;

	if ((r = mqe2e_frame_decode(p, len, &f)) != MQE2E_OK)
		return malformed(s, topic, r);
	if ((r = check_frame_header(s, &f, MQE2E_MSG_FRAME_MAC, topic)) != MQE2E_OK)
		return r;
	if ((r = mqe2e_frame_mac_verify(s->mac_c2b, &f, topic, strlen(topic))) != MQE2E_OK)
		return drop(BX_MSG_BAD_MAC, r, s, topic, "channel MAC does not verify");
	if ((r = check_envelope(s, g, f.body.p, f.body.len, topic)) != MQE2E_OK ||
	    (r = reframe(s, g, topic, f.body.p, f.body.len, &s->pend_out, &s->pend_out_len)) != MQE2E_OK)
		return r;
	if (mqe2e_replay_accept(&s->rx, f.seq) != MQE2E_OK)
		return drop(BX_MSG_REPLAY, MQE2E_ERR_REPLAY, s, topic, "channel sequence number replayed");
	return MQE2E_OK;
}

/* Schemes 2/3: open the AEAD frame into s->pend_body. */
static int open_aead(struct bx_session *s, const char *topic, const uint8_t *p, size_t len,
    uint64_t *seq)
{
	struct mqe2e_frame f;
	int r;

	if ((r = mqe2e_frame_decode(p, len, &f)) != MQE2E_OK)
		return malformed(s, topic, r);
	if ((r = check_frame_header(s, &f, MQE2E_MSG_FRAME_AEAD, topic)) != MQE2E_OK)
		return r;
	if (f.body.len < MQE2E_GCM_TAG_LEN + 1)
		return malformed(s, topic, MQE2E_ERR_TRUNCATED);
	s->pend_body_len = f.body.len - MQE2E_GCM_TAG_LEN;
	if ((s->pend_body = malloc(s->pend_body_len)) == NULL)
		return drop(BX_MSG_INTERNAL, MQE2E_ERR_NOMEM, s, topic, "out of memory");
	if ((r = mqe2e_frame_aead_open(s->aead_c2b, &f, topic, strlen(topic), s->pend_body)) != MQE2E_OK)
		return drop(BX_MSG_BAD_MAC, r, s, topic, "channel AEAD tag does not verify");
	*seq = f.seq;
	return MQE2E_OK;
}

static int verify_scheme3(struct bx_session *s, struct bx_group *g, const char *topic,
    const uint8_t *p, size_t len)
{
	uint64_t seq = 0;
	int r;

	if ((r = open_aead(s, topic, p, len, &seq)) != MQE2E_OK ||
	    (r = check_envelope(s, g, s->pend_body, s->pend_body_len, topic)) != MQE2E_OK ||
	    (r = reframe(s, g, topic, s->pend_body, s->pend_body_len, &s->pend_out,
		&s->pend_out_len)) != MQE2E_OK)
		return r;
	if (mqe2e_replay_accept(&s->rx, seq) != MQE2E_OK)
		return drop(BX_MSG_REPLAY, MQE2E_ERR_REPLAY, s, topic, "channel sequence number replayed");
	return MQE2E_OK;
}

static int verify_scheme2(struct bx_session *s, struct bx_group *g, const char *topic,
    const uint8_t *p, size_t len)
{
	uint64_t seq = 0;
	int r;

	if ((r = open_aead(s, topic, p, len, &seq)) != MQE2E_OK ||
	    (r = check_bundle(s, g, s->pend_body, s->pend_body_len, topic)) != MQE2E_OK)
		return r;
	if (mqe2e_replay_accept(&s->rx, seq) != MQE2E_OK)
		return drop(BX_MSG_REPLAY, MQE2E_ERR_REPLAY, s, topic, "channel sequence number replayed");
	return MQE2E_OK;
}

int message__verify(struct bx_session *s, struct bx_group *g, size_t gi, const char *topic,
    const void *payload, uint32_t payloadlen)
{
	int r;

	session__clear_pending(s);
	if (payload == NULL || payloadlen == 0)
		return malformed(s, topic, MQE2E_ERR_TRUNCATED);
	switch (g->scheme) {
	case MQE2E_SCHEME_4:
		r = verify_scheme4(s, g, topic, payload, payloadlen);
		break;
	case MQE2E_SCHEME_3:
		r = verify_scheme3(s, g, topic, payload, payloadlen);
		break;
	case MQE2E_SCHEME_2:
		r = verify_scheme2(s, g, topic, payload, payloadlen);
		break;
	case MQE2E_SCHEME_1:
		r = check_bundle(s, g, payload, payloadlen, topic);
		break;
	default:
		r = drop(BX_MSG_WRONG_SCHEME, MQE2E_ERR_BAD_FORMAT, s, topic, "unknown scheme");
		break;
	}
	if (r != MQE2E_OK) {
		session__clear_pending(s);
		return r;
	}
	s->pend_src = payload;
	s->pend_src_len = payloadlen;
	s->pend_group = gi;
	s->pend_valid = true;
	return MQE2E_OK;
}

/* Schemes 1/2: deliver each recipient (an mqe2e client holding a sub grant
 * on the group, connected now) its own part.  Returns parts delivered. */
static size_t route_bundle(const struct bx_group *g, size_t gi, const char *topic,
    const uint8_t *bundle, size_t len, int qos)
{
	struct mqe2e_bundle_entry *e = NULL;
	size_t n = 0, i, sent = 0;
	char rid[MQE2E_ID_MAX + 1];

	if (mqe2e_bundle_decode(bundle, len, &e, &n) != MQE2E_OK)
		return 0;   /* verified before: cannot happen */
	for (i = 0; i < n; i++) {
		struct bx_session *rs;
		uint8_t *out = NULL;
		size_t need = 0, olen = 0;

		if (mqe2e_view_to_str(e[i].recipient, rid, sizeof(rid)) != MQE2E_OK ||
		    (rs = session__find_id(rid)) == NULL || rs->plain ||
		    !(policy__rights(bx.policy, rid, gi) & BX_RIGHT_SUB))
			continue;
		if (g->scheme == MQE2E_SCHEME_2) {
			struct mqe2e_frame_params fp;

			memset(&fp, 0, sizeof(fp));
			fp.key_kind = MQE2E_KEY_SESSION;
			fp.key_name = "";
			fp.sender = bx.self->id;
			fp.seq = rs->tx_seq + 1;
			need = mqe2e_frame_aead_size(&fp, e[i].part.len);
			if (need == 0 || (out = mosquitto_malloc(need)) == NULL)
				continue;
			if (mqe2e_frame_aead_build(rs->aead_b2c, &fp, topic, strlen(topic), e[i].part.p,
			    e[i].part.len, out, need, &olen) != MQE2E_OK) {
				mosquitto_free(out);
				continue;
			}
			rs->tx_seq++;
		} else {
			olen = e[i].part.len;
			if ((out = mosquitto_malloc(olen ? olen : 1)) == NULL)
				continue;
			memcpy(out, e[i].part.p, olen);
		}
		if (mosquitto_broker_publish(rid, topic, (int)olen, out, qos, false, NULL) != MOSQ_ERR_SUCCESS) {
			mosquitto_free(out);
			continue;
		}
		sent++;
	}
	free(e);
	return sent;
}

int message__handle(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ed = event_data;
	struct bx_session *s;
	struct bx_group *g;
	size_t gi;

	(void)event;
	(void)userdata;
	if ((s = session__find(ed->client)) == NULL || s->plain)
		return MOSQ_ERR_SUCCESS;   /* nothing reaches here unchecked: see acl.c */
	if (plugin__group_of(ed->topic, &gi) == NULL) {
		/* Not a group publish (a pairing message): pass as is. */
		return MOSQ_ERR_SUCCESS;
	}
	if (!s->pend_valid || s->pend_src != ed->payload || s->pend_src_len != ed->payloadlen ||
	    s->pend_group != gi || bx.policy == NULL || s->pend_group >= bx.policy->ngroups) {
		/* Should not happen: the ACL write check runs right before. */
		stats__inc(BX_MSG_INTERNAL);
		plugin__logf(MOSQ_LOG_ERR, BX_LOG_PREFIX "publish from '%s' to '%s' was not the one "
		    "verified: dropped", s->id, ed->topic);
		session__clear_pending(s);
		return MOSQ_ERR_ACL_DENIED;
	}
	g = &bx.policy->groups[s->pend_group];
	switch (g->scheme) {
	case MQE2E_SCHEME_4:
	case MQE2E_SCHEME_3:
		ed->payload = s->pend_out;
		ed->payloadlen = s->pend_out_len;
		s->pend_out = NULL;
		s->pend_out_len = 0;
		stats__inc(g->scheme == MQE2E_SCHEME_4 ? BX_MSG_RELAYED_4 : BX_MSG_RELAYED_3);
		break;
	case MQE2E_SCHEME_2:
		route_bundle(g, s->pend_group, ed->topic, s->pend_body, s->pend_body_len, ed->qos);
		ed->payload = NULL;
		ed->payloadlen = 0;
		ed->retain = false;
		stats__inc(BX_MSG_RELAYED_2);
		break;
	default:
		route_bundle(g, s->pend_group, ed->topic, ed->payload, ed->payloadlen, ed->qos);
		ed->payload = NULL;
		ed->payloadlen = 0;
		ed->retain = false;
		stats__inc(BX_MSG_RELAYED_1);
		break;
	}
	session__clear_pending(s);
	return MOSQ_ERR_SUCCESS;
}
