/*
 * broker9_verdict.c - unit test of the broker's publish hand-off (issue 9,
 * "while there"): message__verify() in the ACL write check leaves one owned
 * verdict per session, message__handle() in MOSQ_EVT_MESSAGE takes it.
 *
 *   - two sessions interleave: verify A, verify B, handle B, handle A; each
 *     gets its own frame (its own envelope, its own group seq);
 *   - one session verifies twice before the first message callback: the
 *     first message is refused, never given the second one's frame;
 *   - a refused publish (bad MAC, replay, unknown epoch) never moves the
 *     group's frame seq; an accepted one moves it by exactly one;
 *   - a policy change between the two callbacks refuses the message;
 *   - MQTT 5 properties are stripped; a QoS 2 frame is recorded as staged;
 *   - scheme 1: each connected recipient gets its part, and a part that
 *     Mosquitto does not take is counted (delivery_failed), not lost silently.
 *
 * The plugin's message, verdict, session, policy, staged and stats sources
 * are compiled in; the broker-only symbols are stubbed below.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>

#include "plugin.h"

/* ---- broker-only symbols and plugin.c's ------------------------------------------ */
struct bx_state bx;
static int published;
static int publish_fails;                    /* mosquitto_broker_publish refuses */

void mosquitto_log_printf(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

void *mosquitto_malloc(size_t n)
{
	return malloc(n);
}

void mosquitto_free(void *p)
{
	free(p);
}

int mosquitto_broker_publish(const char *clientid, const char *topic, int payloadlen,
    void *payload, int qos, bool retain, mosquitto_property *properties)
{
	(void)clientid;
	(void)topic;
	(void)payloadlen;
	(void)qos;
	(void)retain;
	(void)properties;
	if (publish_fails)
		return MOSQ_ERR_NOMEM;   /* the caller keeps the payload */
	free(payload);
	published++;
	return MOSQ_ERR_SUCCESS;
}

void plugin__logf(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

void plugin__log(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

struct bx_group *plugin__group_of(const char *topic, size_t *gi)
{
	return bx.policy == NULL ? NULL : policy__match(bx.policy, topic, gi);
}

uint64_t kms_sync__last_ok(struct bx_kms_sync *ks)
{
	(void)ks;
	return 0;
}

void kms_sync__kick(struct bx_kms_sync *ks)
{
	(void)ks;
}

/* ---- fixtures ----------------------------------------------------------------------- */
static const char policy_json[] =
    "{\"version\":1,\"issued\":\"2026-11-25T08:00:00Z\","
    "\"groups\":[{\"name\":\"temps\",\"filter\":\"plant/+/temp\",\"scheme\":4,\"epoch\":3},"
    "{\"name\":\"chat\",\"filter\":\"chat/#\",\"scheme\":1,\"epoch\":1}],"
    "\"grants\":{\"alice\":{\"pub\":[\"temps\",\"chat\"],\"sub\":[]},"
    "\"bob\":{\"pub\":[\"temps\"],\"sub\":[\"chat\"]},"
    "\"carol\":{\"pub\":[],\"sub\":[\"chat\"]}},"
    "\"revoked_serials\":[],\"revoked_clients\":[]}";
static const char topic[] = "plant/1/temp";
static char client_a, client_b;              /* their addresses are the client pointers */
static struct mqe2e_aead *gkp;               /* the publishers' GK_P (never opened here) */

static struct bx_session *session(struct mosquitto *client, const char *id, uint8_t kbyte)
{
	struct bx_session *s = NULL;
	uint8_t k[MQE2E_KEY_LEN];

	assert_int_equal(session__add(client, &s), MQE2E_OK);
	snprintf(s->id, sizeof(s->id), "%s", id);
	session__index_id(s);
	memset(k, kbyte, sizeof(k));
	assert_int_equal(mqe2e_mac_new(k, sizeof(k), &s->mac_c2b), MQE2E_OK);
	return s;
}

/* A scheme 4 publish of s: envelope (sender, epoch) in a MAC frame, channel
 * seq chan; tamper flips a MAC byte. */
static uint8_t *publish(struct bx_session *s, const char *sender, uint32_t epoch, uint64_t chan,
    int tamper, uint32_t *len)
{
	struct mqe2e_envelope_params ep;
	struct mqe2e_frame_params fp;
	uint8_t env[512], *frame;
	size_t elen = 0, cap, flen = 0;

	memset(&ep, 0, sizeof(ep));
	ep.scheme = MQE2E_SCHEME_4;
	ep.key_kind = MQE2E_KEY_GROUP;
	ep.key_name = "temps";
	ep.epoch = epoch;
	ep.sender = sender;
	ep.seq = chan;
	assert_int_equal(mqe2e_envelope_seal(gkp, &ep, topic, strlen(topic), (const uint8_t *)sender,
	    strlen(sender), env, sizeof(env), &elen), MQE2E_OK);
	memset(&fp, 0, sizeof(fp));
	fp.key_kind = MQE2E_KEY_SESSION;
	fp.key_name = "";
	fp.sender = s->id;
	fp.seq = chan;
	cap = mqe2e_frame_mac_size(&fp, elen);
	assert_non_null(frame = malloc(cap));
	assert_int_equal(mqe2e_frame_mac_build(s->mac_c2b, &fp, topic, strlen(topic), env, elen, frame,
	    cap, &flen), MQE2E_OK);
	if (tamper)
		frame[flen - 1] ^= 0x80;
	*len = (uint32_t)flen;
	return frame;
}

/* The ACL write check's part. */
static int verify(struct bx_session *s, const uint8_t *p, uint32_t len)
{
	size_t gi = 0;
	struct bx_group *g = plugin__group_of(topic, &gi);

	assert_non_null(g);
	return message__verify(s, g, gi, topic, p, len);
}

/* The message callback's part: returns its result; *out the frame given to
 * Mosquitto (NULL if refused). */
static int handle(struct mosquitto *client, uint8_t *p, uint32_t len, int qos,
    mosquitto_property *props, void **out, uint32_t *out_len, mosquitto_property **props_out)
{
	struct mosquitto_evt_message ed;
	int r;

	memset(&ed, 0, sizeof(ed));
	ed.client = client;
	ed.topic = (char *)topic;
	ed.payload = p;
	ed.payloadlen = len;
	ed.qos = (uint8_t)qos;
	ed.properties = props;
	r = message__handle(MOSQ_EVT_MESSAGE, &ed, NULL);
	*out = r == MOSQ_ERR_SUCCESS ? ed.payload : NULL;
	*out_len = ed.payloadlen;
	if (props_out != NULL)
		*props_out = ed.properties;
	return r;
}

/* The broker frame out: from the broker, group seq, and the envelope of sender. */
static void check_frame(const void *out, uint32_t len, uint64_t seq, const char *sender)
{
	struct mqe2e_frame f;
	struct mqe2e_envelope env;

	assert_non_null(out);
	assert_int_equal(mqe2e_frame_decode(out, len, &f), MQE2E_OK);
	assert_int_equal(f.key_kind, MQE2E_KEY_GROUP);
	assert_true(mqe2e_view_eq_str(f.key_name, "temps"));
	assert_true(mqe2e_view_eq_str(f.sender, "broker1"));
	assert_int_equal(f.epoch, 3);
	assert_true(f.seq == seq);
	assert_int_equal(mqe2e_frame_mac_verify(bx.policy->groups[0].keys[0].mac, &f, topic,
	    strlen(topic)), MQE2E_OK);
	assert_int_equal(mqe2e_envelope_decode(f.body.p, f.body.len, &env), MQE2E_OK);
	assert_true(mqe2e_view_eq_str(env.sender, sender));
}

static int setup(void **state)
{
	struct mqe2e_key_entry k;
	uint8_t key[MQE2E_KEY_LEN];

	(void)state;
	memset(&bx, 0, sizeof(bx));
	assert_non_null(bx.self = calloc(1, sizeof(*bx.self)));
	snprintf(bx.self->id, sizeof(bx.self->id), "%s", "broker1");
	memset(&k, 0, sizeof(k));
	snprintf(k.group, sizeof(k.group), "%s", "temps");
	k.kind = MQE2E_GK_B;
	k.epoch = 3;
	memset(k.key, 0x5b, sizeof(k.key));
	assert_int_equal(policy__from_json((const uint8_t *)policy_json, strlen(policy_json), &k, 1,
	    &bx.policy), MQE2E_OK);
	bx.policy->groups[0].seq = 1000;
	memset(key, 0x77, sizeof(key));
	assert_int_equal(mqe2e_aead_new(key, &gkp), MQE2E_OK);
	assert_int_equal(session__init(), MQE2E_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	session__cleanup();
	staged__cleanup();
	policy__free(bx.policy);
	free(bx.self);
	mqe2e_aead_free(gkp);
	memset(&bx, 0, sizeof(bx));
	return 0;
}

/* ---- tests -------------------------------------------------------------------------- */
static void test_two_sessions_interleaved(void **state)
{
	struct bx_session *a = session((struct mosquitto *)&client_a, "alice", 0xa1);
	struct bx_session *b = session((struct mosquitto *)&client_b, "bob", 0xb2);
	uint32_t la, lb, lo;
	uint8_t *pa = publish(a, "alice", 3, 1, 0, &la), *pb = publish(b, "bob", 3, 1, 0, &lb);
	uint64_t sa, sb;
	void *out;

	(void)state;
	/* frame seqs are the broker's clock (PROTOCOL.md 8): increasing, and
	 * the group's moves to each accepted one */
	assert_int_equal(verify(a, pa, la), MQE2E_OK);
	sa = a->verdict.group_seq;
	assert_int_equal(verify(b, pb, lb), MQE2E_OK);
	sb = b->verdict.group_seq;
	assert_true(sa > 1000 && sb > sa);
	assert_true(bx.policy->groups[0].seq == sb);
	/* the message callbacks in the other order */
	assert_int_equal(handle((struct mosquitto *)&client_b, pb, lb, 1, NULL, &out, &lo, NULL),
	    MOSQ_ERR_SUCCESS);
	check_frame(out, lo, sb, "bob");
	free(out);
	assert_int_equal(handle((struct mosquitto *)&client_a, pa, la, 1, NULL, &out, &lo, NULL),
	    MOSQ_ERR_SUCCESS);
	check_frame(out, lo, sa, "alice");
	free(out);
	/* a verdict is taken once */
	assert_int_equal(handle((struct mosquitto *)&client_a, pa, la, 1, NULL, &out, &lo, NULL),
	    MOSQ_ERR_ACL_DENIED);
	free(pa);
	free(pb);
}

static void test_one_session_twice(void **state)
{
	struct bx_session *a = session((struct mosquitto *)&client_a, "alice", 0xa1);
	uint32_t l1, l2, lo;
	uint8_t *p1 = publish(a, "alice", 3, 1, 0, &l1), *p2 = publish(a, "alice", 3, 2, 0, &l2);
	uint64_t internal = stats__get(BX_MSG_INTERNAL), s2;
	void *out;

	(void)state;
	assert_int_equal(verify(a, p1, l1), MQE2E_OK);
	assert_int_equal(verify(a, p2, l2), MQE2E_OK);
	s2 = a->verdict.group_seq;
	/* the first message must not be given the second one's frame */
	assert_int_equal(handle((struct mosquitto *)&client_a, p1, l1, 1, NULL, &out, &lo, NULL),
	    MOSQ_ERR_ACL_DENIED);
	assert_null(out);
	assert_true(stats__get(BX_MSG_INTERNAL) == internal + 1);
	assert_int_equal(handle((struct mosquitto *)&client_a, p2, l2, 1, NULL, &out, &lo, NULL),
	    MOSQ_ERR_SUCCESS);
	check_frame(out, lo, s2, "alice");
	free(out);
	free(p1);
	free(p2);
}

static void test_refused_keeps_seq(void **state)
{
	struct bx_session *a = session((struct mosquitto *)&client_a, "alice", 0xa1);
	uint32_t l1, l2, l3, l4, lo;
	uint8_t *bad = publish(a, "alice", 3, 1, 1, &l1);
	uint8_t *good = publish(a, "alice", 3, 2, 0, &l2);
	uint8_t *epoch = publish(a, "alice", 4242, 3, 0, &l3);
	uint8_t *other = publish(a, "bob", 3, 4, 0, &l4);
	uint64_t accepted;
	void *out;

	(void)state;
	assert_int_not_equal(verify(a, bad, l1), MQE2E_OK);
	assert_true(bx.policy->groups[0].seq == 1000);
	assert_int_equal(verify(a, good, l2), MQE2E_OK);
	accepted = bx.policy->groups[0].seq;
	assert_true(accepted > 1000 && accepted == a->verdict.group_seq);
	assert_int_equal(handle((struct mosquitto *)&client_a, good, l2, 1, NULL, &out, &lo, NULL),
	    MOSQ_ERR_SUCCESS);
	free(out);
	assert_int_equal(verify(a, good, l2), MQE2E_ERR_REPLAY);        /* replayed */
	assert_int_equal(verify(a, epoch, l3), MQE2E_ERR_UNKNOWN_KEY);  /* epoch 4242 */
	assert_true(stats__get(BX_MSG_UNKNOWN_EPOCH) == 1);
	assert_int_equal(verify(a, other, l4), MQE2E_ERR_ID_MISMATCH);  /* names bob */
	assert_true(bx.policy->groups[0].seq == accepted);
	/* nothing of a refused publish is left for the message callback */
	assert_false(a->verdict.valid);
	assert_null(a->verdict.out);
	free(bad);
	free(good);
	free(epoch);
	free(other);
}

static void test_policy_changed_between(void **state)
{
	struct bx_session *a = session((struct mosquitto *)&client_a, "alice", 0xa1);
	uint32_t l, lo;
	uint8_t *p = publish(a, "alice", 3, 1, 0, &l);
	void *out;

	(void)state;
	assert_int_equal(verify(a, p, l), MQE2E_OK);
	bx.policy->version++;
	assert_int_equal(handle((struct mosquitto *)&client_a, p, l, 1, NULL, &out, &lo, NULL),
	    MOSQ_ERR_ACL_DENIED);
	free(p);
}

static void test_properties_and_staged(void **state)
{
	struct bx_session *a = session((struct mosquitto *)&client_a, "alice", 0xa1);
	mosquitto_property *props = NULL, *after = (mosquitto_property *)1;
	uint32_t l, lo;
	uint8_t *p = publish(a, "alice", 3, 1, 0, &l);
	void *out;

	(void)state;
	assert_int_equal(mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
	    "forged-by", "mallory"), MOSQ_ERR_SUCCESS);
	assert_int_equal(mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE,
	    "text/forged"), MOSQ_ERR_SUCCESS);
	assert_int_equal(verify(a, p, l), MQE2E_OK);
	assert_int_equal(handle((struct mosquitto *)&client_a, p, l, 2, props, &out, &lo, &after),
	    MOSQ_ERR_SUCCESS);
	assert_null(after);
	assert_true(stats__get(BX_PROPS_STRIPPED) == 1);
	/* QoS 2: recorded, refused once alice loses her grant */
	assert_int_equal(staged__count(), 1);
	{
		struct mqe2e_frame f;

		assert_int_equal(mqe2e_frame_decode(out, lo, &f), MQE2E_OK);
		assert_int_equal(staged__check(f.key_name.p, f.key_name.len, f.seq, 0), 0);
		bx.policy->grants[0].rights[0] = 0;   /* "alice" sorts first */
		assert_int_equal(staged__check(f.key_name.p, f.key_name.len, f.seq, 0), -1);
		bx.policy->grants[0].rights[0] = BX_RIGHT_PUB;
		assert_int_equal(staged__check(f.key_name.p, f.key_name.len, f.seq, 0), -1);
	}
	free(out);
	free(p);
}

/* A scheme 1 BUNDLE from alice with one pairwise envelope per recipient. */
static uint8_t *bundle(const char *const *to, size_t n, uint32_t *len)
{
	struct mqe2e_bundle_part parts[4];
	uint8_t env[4][512], *out;
	char pid[MQE2E_KEYNAME_MAX + 1];
	size_t i, elen, cap, blen = 0;

	for (i = 0; i < n; i++) {
		struct mqe2e_envelope_params ep;

		memset(&ep, 0, sizeof(ep));
		ep.scheme = MQE2E_SCHEME_1;
		ep.key_kind = MQE2E_KEY_PAIR;
		assert_int_equal(mqe2e_pair_id("alice", to[i], "chat", pid, sizeof(pid)), MQE2E_OK);
		ep.key_name = pid;
		ep.epoch = 1;
		ep.sender = "alice";
		ep.seq = 1;
		elen = 0;
		assert_int_equal(mqe2e_envelope_seal(gkp, &ep, "chat/room", 9, (const uint8_t *)"hi", 2,
		    env[i], sizeof(env[i]), &elen), MQE2E_OK);
		parts[i].recipient = to[i];
		parts[i].part = env[i];
		parts[i].len = elen;
	}
	cap = mqe2e_bundle_size(parts, n);
	assert_non_null(out = malloc(cap));
	assert_int_equal(mqe2e_bundle_build(parts, n, out, cap, &blen), MQE2E_OK);
	*len = (uint32_t)blen;
	return out;
}

static void test_bundle_delivery_failed(void **state)
{
	static char client_c;
	static const char *const to[] = { "bob", "carol" };
	struct bx_session *a = session((struct mosquitto *)&client_a, "alice", 0xa1);
	struct mosquitto_evt_message ed;
	struct bx_group *g;
	size_t gi = 0;
	uint32_t len;
	uint8_t *p = bundle(to, 2, &len);
	uint64_t failed = stats__get(BX_DELIVERY_FAILED);

	(void)state;
	(void)session((struct mosquitto *)&client_b, "bob", 0xb2);
	(void)session((struct mosquitto *)&client_c, "carol", 0xc3);
	g = plugin__group_of("chat/room", &gi);
	if (g == NULL)
		fail_msg("no group for chat/room");
	else
		assert_int_equal(g->scheme, MQE2E_SCHEME_1);
	/* both parts delivered */
	published = 0;
	assert_int_equal(message__verify(a, g, gi, "chat/room", p, len), MQE2E_OK);
	memset(&ed, 0, sizeof(ed));
	ed.client = (struct mosquitto *)&client_a;
	ed.topic = (char *)"chat/room";
	ed.payload = p;
	ed.payloadlen = len;
	ed.qos = 1;
	assert_int_equal(message__handle(MOSQ_EVT_MESSAGE, &ed, NULL), MOSQ_ERR_SUCCESS);
	assert_int_equal(published, 2);
	assert_null(ed.payload);                 /* the original goes to no one */
	assert_true(stats__get(BX_DELIVERY_FAILED) == failed);
	/* Mosquitto refuses both parts: counted, not silent */
	publish_fails = 1;
	assert_int_equal(message__verify(a, g, gi, "chat/room", p, len), MQE2E_OK);
	ed.payload = p;
	ed.payloadlen = len;
	assert_int_equal(message__handle(MOSQ_EVT_MESSAGE, &ed, NULL), MOSQ_ERR_SUCCESS);
	publish_fails = 0;
	assert_true(stats__get(BX_DELIVERY_FAILED) == failed + 2);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_sessions_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_session_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_keeps_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_changed_between, setup, teardown),
		cmocka_unit_test_setup_teardown(test_properties_and_staged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bundle_delivery_failed, setup, teardown),
	};

	(void)published;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
