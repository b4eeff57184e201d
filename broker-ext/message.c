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
 *                after this group, an epoch the broker holds a live GK_B
 *                for, sender == the authenticated client.  The envelope is
 *                re-framed ONCE: MAC(GK_B) frame, sender = the broker's id,
 *                the broker's clock as sequence number.
 *      scheme 3  the same with an AEAD frame: opened once, the envelope
 *                sealed once under GK_B.
 *      scheme 2  AEAD frame under SK_CB c2b around a BUNDLE of pairwise
 *                envelopes: opened once; every part must be an envelope of
 *                this sender.
 *      scheme 1  a plain BUNDLE of pairwise envelopes (no channel crypto).
 *    Anything that fails is dropped there (ACL denial), counted under its
 *    reason and logged once.  Nothing is ever written out before its tag
 *    verified; the channel replay window and the group's frame sequence
 *    move only when the publish is accepted.  The decision, with the
 *    buffers it produced, is the session's verdict (verdict.c).
 *
 * 2. message__handle(), the MOSQ_EVT_MESSAGE callback, takes the verdict
 *    made for this very payload under the policy still in force, strips the
 *    MQTT 5 properties, and swaps in the result: schemes 3/4 replace the
 *    payload (mosquitto_malloc'd; Mosquitto frees the old one; a QoS 2 frame
 *    is recorded in staged.c for its PUBREL); schemes 1/2 deliver each
 *    recipient its own part (scheme 2: sealed under that recipient's SK_CB
 *    b2c) with mosquitto_broker_publish(recipient, ...), counting failures,
 *    and empty the original, which the read check (acl.c) then keeps from
 *    every subscriber.
 *
 * The GK_B epoch to frame under, and what to say when there is none (a
 * long KMS outage), are frame_key() and no_frame_key().
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static struct bx_gkey *frame_key(struct bx_group *g, uint64_t now);
static int no_frame_key(const struct bx_session *s, struct bx_group *g, const char *topic,
    uint64_t now);

/* Checks of an authenticated E2E envelope: right scheme, right key, a live
 * epoch of the group (schemes 3/4), and the sender is the authenticated
 * client. */
static int check_envelope(const struct bx_session *s, struct bx_group *g,
    const uint8_t *p, size_t len, const char *topic)
{
	struct mqe2e_envelope env;
	uint64_t now = mqe2e_now_ms();
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
		/* An epoch neither held (current, next, the newest in grace) nor
		 * in grace at the KMS (the policy's oldest..current: members
		 * fetch it by number, PROTOCOL.md 12.1) would send every
		 * subscriber to the KMS for keys that do not exist: the
		 * publisher cannot make the group poll the KMS. */
		if (policy__key(g, env.epoch, now) == NULL && env.epoch > g->epoch &&
		    env.epoch - g->epoch <= BX_EPOCH_LOOKAHEAD) {
			/* The KMS rotated faster than our policy follows (a burst
			 * of rekeys): the publisher's fresher keys name an epoch
			 * we have not seen yet.  Catch up now; subscribers fetch
			 * it as any newer epoch (at most once a second each). */
			kms_sync__kick(bx.sync);
		} else if (policy__key(g, env.epoch, now) == NULL &&
		    !(g->oldest != 0 && env.epoch >= g->oldest && env.epoch <= g->epoch)) {
			char why[160];

			/* Every key ended (a long KMS outage): say that, not this. */
			if (frame_key(g, now) == NULL)
				return no_frame_key(s, g, topic, now);
			snprintf(why, sizeof(why), "envelope names epoch %u, which the broker %s (the "
			    "group's current epoch is %u)", env.epoch, env.epoch > g->epoch + 1 ||
			    env.epoch == 0 ? "does not know" : "holds no live key for", g->epoch);
			return drop(BX_MSG_UNKNOWN_EPOCH, MQE2E_ERR_UNKNOWN_KEY, s, topic, why);
		}
	} else if (env.key_kind != MQE2E_KEY_PAIR) {
		return drop(BX_MSG_WRONG_SCHEME, MQE2E_ERR_BAD_FORMAT, s, topic,
		    "envelope not under a pairwise key");
	}
	return MQE2E_OK;
}

/* Every part of a bundle is an envelope of this sender, under the pair key
 * of this sender and the part's recipient for this group. */
static int check_bundle(const struct bx_session *s, struct bx_group *g,
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

/* ---- the broker's group key ---------------------------------------------------------- */

/*
 * The GK_B epoch the broker frames under: the same rule as publishers
 * (PROTOCOL.md 12.1): the newest epoch held whose not_before has passed and
 * whose not_after has not, never older than the policy's current epoch.
 * Normally that is the current epoch; when the KMS cannot be reached across
 * a scheduled rotation it is the pre-issued next epoch, which every member
 * already holds, so an outage costs nothing until that epoch ends too.
 */
static struct bx_gkey *frame_key(struct bx_group *g, uint64_t now)
{
	struct bx_gkey *best = NULL;
	size_t i;

	for (i = 0; i < g->nkeys; i++) {
		struct bx_gkey *k = &g->keys[i];

		if (k->epoch < g->epoch || (k->epoch != g->epoch && k->not_before_ms > now) ||
		    (k->not_after_ms != 0 && now > k->not_after_ms))
			continue;
		if (best == NULL || k->epoch > best->epoch)
			best = k;
	}
	return best;
}

/*
 * No key to frame with.  Either the KMS gave none for the current epoch
 * (drop_no_key: a KMS or policy problem) or every key it gave has ended
 * because the KMS has not been reached for longer than the group's epochs
 * last (drop_key_stale).  Each message still counts; the log says what is
 * really wrong once a minute per group, not once per message.
 */
static int no_frame_key(const struct bx_session *s, struct bx_group *g, const char *topic,
    uint64_t now)
{
	uint64_t ended = 0, last_ok = kms_sync__last_ok(bx.sync);
	time_t t = time(NULL);
	size_t i;
	char when[32] = "never", ago[48] = "";

	for (i = 0; i < g->nkeys; i++)
		if (g->keys[i].epoch >= g->epoch && g->keys[i].not_after_ms > ended)
			ended = g->keys[i].not_after_ms;
	if (ended == 0 || ended >= now)
		return drop(BX_MSG_NO_KEY, MQE2E_ERR_UNKNOWN_KEY, s, topic,
		    "the KMS gave the broker no group key for the current epoch");
	stats__inc(BX_MSG_KEY_STALE);
	g->stale_drops++;
	if (g->stale_logged != 0 && t - g->stale_logged < 60)
		return MQE2E_ERR_EXPIRED_KEY;
	if (last_ok != 0) {
		time_t lt = (time_t)(last_ok / 1000);
		struct tm tm;

		gmtime_r(&lt, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(ago, sizeof(ago), ", %llu s ago", (unsigned long long)((now - last_ok) / 1000));
	}
	plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "group '%s': every broker key of "
	    "epoch %u and later ended %llu s ago (grace included) and the KMS %s has not answered "
	    "since %s%s: the broker refuses the group's publishes (PUBACK 0x87) until the KMS is "
	    "back; %llu refused so far (drop_key_stale).  A broker tolerates a KMS outage of "
	    "about rotate_s + grace_s after a due rotation: see mqe2e_plugin(8)", g->name,
	    g->epoch, (unsigned long long)((now - ended) / 1000), bx.cfg.kms_url, when, ago,
	    (unsigned long long)g->stale_drops);
	g->stale_logged = t;
	return MQE2E_ERR_EXPIRED_KEY;
}

/* Build the broker's frame of env (schemes 3/4) into v->out, with the next
 * group seq in v->group_seq; the group's seq itself moves only when the
 * publish is accepted (message__verify). */
static int reframe(const struct bx_session *s, struct bx_group *g, const char *topic,
    const uint8_t *env, size_t env_len, struct bx_verdict *v)
{
	struct mqe2e_frame_params fp;
	struct bx_gkey *k;
	uint64_t now = mqe2e_now_ms();
	size_t need, len = 0;
	uint8_t *buf = NULL;
	int r;

	if ((k = frame_key(g, now)) == NULL)
		return no_frame_key(s, g, topic, now);
	memset(&fp, 0, sizeof(fp));
	fp.key_kind = MQE2E_KEY_GROUP;
	fp.key_name = g->name;
	fp.epoch = k->epoch;
	fp.sender = bx.self->id;
	/* the broker's clock: later than the CONNACK of every subscriber that
	 * was connected when this frame was made (PROTOCOL.md 8) */
	fp.seq = clock__now_us();
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
	v->out = buf;
	v->out_len = (uint32_t)len;
	v->group_seq = fp.seq;
	return MQE2E_OK;
}

/* Accept the channel seq (after every check passed): the window moves. */
static int accept_seq(struct bx_session *s, uint64_t seq, const char *topic)
{
	if (mqe2e_replay_accept(&s->rx, seq) != MQE2E_OK)
		return drop(BX_MSG_REPLAY, MQE2E_ERR_REPLAY, s, topic, "channel sequence number replayed");
	return MQE2E_OK;
}

static int verify_scheme4(struct bx_session *s, struct bx_group *g, const char *topic,
    const uint8_t *p, size_t len, struct bx_verdict *v)
{
	struct mqe2e_frame f;
	int r;

	if ((r = mqe2e_frame_decode(p, len, &f)) != MQE2E_OK)
		return malformed(s, topic, r);
	if ((r = check_frame_header(s, &f, MQE2E_MSG_FRAME_MAC, topic)) != MQE2E_OK)
		return r;
	if (session__mac_c2b(s) == NULL)
		return drop(BX_MSG_INTERNAL, MQE2E_ERR_NOMEM, s, topic, "out of memory");
	if ((r = mqe2e_frame_mac_verify(s->mac_c2b, &f, topic, strlen(topic))) != MQE2E_OK)
		return drop(BX_MSG_BAD_MAC, r, s, topic, "channel MAC does not verify");
	if ((r = check_envelope(s, g, f.body.p, f.body.len, topic)) != MQE2E_OK ||
	    (r = reframe(s, g, topic, f.body.p, f.body.len, v)) != MQE2E_OK)
		return r;
	return accept_seq(s, f.seq, topic);
}

/* Schemes 2/3: open the AEAD frame into v->body. */
static int open_aead(struct bx_session *s, const char *topic, const uint8_t *p, size_t len,
    struct bx_verdict *v, uint64_t *seq)
{
	struct mqe2e_frame f;
	int r;

	if ((r = mqe2e_frame_decode(p, len, &f)) != MQE2E_OK)
		return malformed(s, topic, r);
	if ((r = check_frame_header(s, &f, MQE2E_MSG_FRAME_AEAD, topic)) != MQE2E_OK)
		return r;
	if (f.body.len < MQE2E_GCM_TAG_LEN + 1)
		return malformed(s, topic, MQE2E_ERR_TRUNCATED);
	v->body_len = f.body.len - MQE2E_GCM_TAG_LEN;
	if ((v->body = malloc(v->body_len)) == NULL)
		return drop(BX_MSG_INTERNAL, MQE2E_ERR_NOMEM, s, topic, "out of memory");
	if (session__aead_c2b(s) == NULL)
		return drop(BX_MSG_INTERNAL, MQE2E_ERR_NOMEM, s, topic, "out of memory");
	if ((r = mqe2e_frame_aead_open(s->aead_c2b, &f, topic, strlen(topic), v->body)) != MQE2E_OK)
		return drop(BX_MSG_BAD_MAC, r, s, topic, "channel AEAD tag does not verify");
	*seq = f.seq;
	return MQE2E_OK;
}

static int verify_scheme3(struct bx_session *s, struct bx_group *g, const char *topic,
    const uint8_t *p, size_t len, struct bx_verdict *v)
{
	uint64_t seq = 0;
	int r;

	if ((r = open_aead(s, topic, p, len, v, &seq)) != MQE2E_OK ||
	    (r = check_envelope(s, g, v->body, v->body_len, topic)) != MQE2E_OK ||
	    (r = reframe(s, g, topic, v->body, v->body_len, v)) != MQE2E_OK)
		return r;
	return accept_seq(s, seq, topic);
}

static int verify_scheme2(struct bx_session *s, struct bx_group *g, const char *topic,
    const uint8_t *p, size_t len, struct bx_verdict *v)
{
	uint64_t seq = 0;
	int r;

	if ((r = open_aead(s, topic, p, len, v, &seq)) != MQE2E_OK ||
	    (r = check_bundle(s, g, v->body, v->body_len, topic)) != MQE2E_OK)
		return r;
	return accept_seq(s, seq, topic);
}

int message__verify(struct bx_session *s, struct bx_group *g, size_t gi, const char *topic,
    const void *payload, uint32_t payloadlen)
{
	struct bx_verdict *v = &s->verdict;
	int r;

	verdict__clear(v);
	if (payload == NULL || payloadlen == 0)
		return malformed(s, topic, MQE2E_ERR_TRUNCATED);
	switch (g->scheme) {
	case MQE2E_SCHEME_4:
		r = verify_scheme4(s, g, topic, payload, payloadlen, v);
		break;
	case MQE2E_SCHEME_3:
		r = verify_scheme3(s, g, topic, payload, payloadlen, v);
		break;
	case MQE2E_SCHEME_2:
		r = verify_scheme2(s, g, topic, payload, payloadlen, v);
		break;
	case MQE2E_SCHEME_1:
		r = check_bundle(s, g, payload, payloadlen, topic);
		break;
	default:
		r = drop(BX_MSG_WRONG_SCHEME, MQE2E_ERR_BAD_FORMAT, s, topic, "unknown scheme");
		break;
	}
	if (r != MQE2E_OK) {
		verdict__clear(v);
		return r;
	}
	/* Accepted: only now does the group's frame seq move. */
	if (v->out != NULL)
		g->seq = v->group_seq;
	v->src = payload;
	v->src_len = payloadlen;
	v->policy_version = bx.policy->version;
	v->gi = gi;
	v->valid = true;
	return MQE2E_OK;
}

/* Schemes 1/2: deliver each recipient (an mqe2e client holding a sub grant
 * on the group, connected now) its own part.  Recipients not connected or
 * without a grant are skipped; a part that cannot be built or handed to
 * Mosquitto is counted (delivery_failed) and logged. */
static void route_bundle(const struct bx_group *g, size_t gi, const char *topic,
    const uint8_t *bundle, size_t len, int qos, const struct bx_session *from)
{
	struct mqe2e_bundle_entry *e = NULL;
	size_t n = 0, i;
	char rid[MQE2E_ID_MAX + 1];

	if (mqe2e_bundle_decode(bundle, len, &e, &n) != MQE2E_OK) {
		stats__inc(BX_DELIVERY_FAILED);   /* verified before: cannot happen */
		return;
	}
	for (i = 0; i < n; i++) {
		struct bx_session *rs;
		uint8_t *out = NULL;
		size_t need = 0, olen = 0;
		const char *why = NULL;
		int r;

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
			if (need == 0 || session__aead_b2c(rs) == NULL ||
			    (out = mosquitto_malloc(need)) == NULL) {
				why = "out of memory";
			} else if ((r = mqe2e_frame_aead_build(rs->aead_b2c, &fp, topic, strlen(topic),
			    e[i].part.p, e[i].part.len, out, need, &olen)) != MQE2E_OK) {
				why = mqe2e_strerror(r);
			} else {
				rs->tx_seq++;
			}
		} else {
			olen = e[i].part.len;
			if ((out = mosquitto_malloc(olen ? olen : 1)) == NULL)
				why = "out of memory";
			else
				memcpy(out, e[i].part.p, olen);
		}
		if (why == NULL && mosquitto_broker_publish(rid, topic, (int)olen, out, qos, false, NULL)
		    != MOSQ_ERR_SUCCESS)
			why = "mosquitto_broker_publish failed";
		if (why != NULL) {
			if (out != NULL)
				mosquitto_free(out);
			stats__inc(BX_DELIVERY_FAILED);
			plugin__logf(MOSQ_LOG_WARNING, BX_LOG_PREFIX "part of a publish from '%s' to '%s' "
			    "not delivered to '%s': %s (delivery_failed)", from->id, topic, rid, why);
		}
	}
	free(e);
}

/* Properties of a group publish come from the publisher, outside every
 * MAC: content type, response topic, correlation data, payload format
 * and user properties.  None reaches a subscriber (PROTOCOL.md 9). */
static void strip_properties(struct mosquitto_evt_message *ed)
{
	if (ed->properties == NULL)
		return;
	mosquitto_property_free_all(&ed->properties);
	ed->properties = NULL;
	stats__inc(BX_PROPS_STRIPPED);
}

int message__handle(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ed = event_data;
	struct bx_session *s;
	struct bx_verdict *v;
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
	v = &s->verdict;
	if (!verdict__matches(v, bx.policy, ed->payload, ed->payloadlen, gi)) {
		/* Should not happen: the ACL write check runs right before.  The
		 * verdict, if any, is another message's: left alone. */
		stats__inc(BX_MSG_INTERNAL);
		plugin__logf(MOSQ_LOG_ERR, BX_LOG_PREFIX "publish from '%s' to '%s' was not the one "
		    "verified (or the policy changed in between): dropped", s->id, ed->topic);
		return MOSQ_ERR_ACL_DENIED;   /* a clean refusal (0x87) in 2.0.11 */
	}
	g = &bx.policy->groups[v->gi];
	strip_properties(ed);
	switch (g->scheme) {
	case MQE2E_SCHEME_4:
	case MQE2E_SCHEME_3:
		ed->payload = v->out;
		ed->payloadlen = v->out_len;
		v->out = NULL;
		v->out_len = 0;
		if (ed->qos == 2)
			staged__add(g->name, v->group_seq, s->id);
		stats__inc(g->scheme == MQE2E_SCHEME_4 ? BX_MSG_RELAYED_4 : BX_MSG_RELAYED_3);
		break;
	case MQE2E_SCHEME_2:
		route_bundle(g, v->gi, ed->topic, v->body, v->body_len, ed->qos, s);
		ed->payload = NULL;
		ed->payloadlen = 0;
		ed->retain = false;
		stats__inc(BX_MSG_RELAYED_2);
		break;
	default:
		route_bundle(g, v->gi, ed->topic, ed->payload, ed->payloadlen, ed->qos, s);
		ed->payload = NULL;
		ed->payloadlen = 0;
		ed->retain = false;
		stats__inc(BX_MSG_RELAYED_1);
		break;
	}
	verdict__clear(v);
	return MOSQ_ERR_SUCCESS;
}
