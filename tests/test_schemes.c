/*
 * test_schemes.c - the four schemes end to end through the core API, as
 * docs/PROTOCOL.md section 5 describes them (publisher, broker, subscriber
 * in one process, real handshakes), and the attacks of section 9: sender
 * forgery by a group member, replay, reflection, topic redirection.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "handshake.h"
#include "testpki.h"

static const char topic[] = "plant/1/temp";
static const uint8_t msg[] = "21.5 C";

/* One connected client as both ends see it. */
struct conn {
	struct mqe2e_identity *id;
	struct mqe2e_mac *c2b_mac, *b2c_mac;
	struct mqe2e_aead *c2b_aead, *b2c_aead;
	uint64_t seq;
};

struct world {
	EVP_PKEY *ca_key;
	X509 *ca;
	struct mqe2e_trust *trust;
	struct mqe2e_identity *broker;
	struct mqe2e_nonce_cache *nc;
	struct conn alice, bob, carol;
	struct mqe2e_aead *gkp;          /* GK_P(plant1, 7) */
	struct mqe2e_mac *gkb_mac;       /* GK_B(plant1, 3) as MAC key */
	struct mqe2e_aead *gkb_aead;     /* GK_B(plant1, 3) as AEAD key */
	struct mqe2e_replay_table *broker_win, *bob_win;
	uint64_t broker_seq;
};

static void
connect_client(struct world *w, struct conn *c, const char *name, const char *serial,
    uint8_t seed)
{
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_session_keys ck, sk;
	uint8_t *hello = NULL, *reply = NULL;
	size_t hl, rl;

	c->id = tp_identity(name, "client", serial, seed, w->ca, w->ca_key);
	assert_int_equal(mqe2e_hs_client_start(c->id, NULL, TP_NOW_MS, &hs, &hello, &hl), MQE2E_OK);
	assert_int_equal(mqe2e_hs_server_accept(w->broker, w->trust, w->nc, NULL, hello, hl, name,
	    TP_NOW_MS, &reply, &rl, &sk, NULL), MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_finish(hs, w->trust, reply, rl, TP_NOW_MS, &ck, NULL),
	    MQE2E_OK);
	assert_memory_equal(&ck, &sk, sizeof(ck));
	assert_int_equal(mqe2e_mac_new(ck.c2b, 32, &c->c2b_mac), MQE2E_OK);
	assert_int_equal(mqe2e_mac_new(ck.b2c, 32, &c->b2c_mac), MQE2E_OK);
	assert_int_equal(mqe2e_aead_new(ck.c2b, &c->c2b_aead), MQE2E_OK);
	assert_int_equal(mqe2e_aead_new(ck.b2c, &c->b2c_aead), MQE2E_OK);
	mqe2e_wipe(&ck, sizeof(ck));
	mqe2e_wipe(&sk, sizeof(sk));
	c->seq = mqe2e_seq_start();
	mqe2e_hs_client_free(hs);
	free(hello);
	free(reply);
}

static void
conn_free(struct conn *c)
{
	mqe2e_identity_free(c->id);
	mqe2e_mac_free(c->c2b_mac);
	mqe2e_mac_free(c->b2c_mac);
	mqe2e_aead_free(c->c2b_aead);
	mqe2e_aead_free(c->b2c_aead);
}

static int
setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	uint8_t k[32];

	assert_non_null(w);
	w->ca_key = tp_key(0xca);
	w->ca = tp_ca("mqe2e test CA", w->ca_key);
	w->trust = tp_trust(w->ca);
	w->broker = tp_identity("broker1", "broker", "c1", 0xc1, w->ca, w->ca_key);
	assert_int_equal(mqe2e_nonce_cache_new(64, MQE2E_SKEW_MS_DEFAULT, &w->nc), MQE2E_OK);
	connect_client(w, &w->alice, "alice", "a1", 0xa1);
	connect_client(w, &w->bob, "bob", "b1", 0xb1);
	connect_client(w, &w->carol, "carol", "e1", 0xe1);
	memset(k, 0x44, 32);
	assert_int_equal(mqe2e_aead_new(k, &w->gkp), MQE2E_OK);
	memset(k, 0x45, 32);
	assert_int_equal(mqe2e_mac_new(k, 32, &w->gkb_mac), MQE2E_OK);
	assert_int_equal(mqe2e_aead_new(k, &w->gkb_aead), MQE2E_OK);
	assert_int_equal(mqe2e_replay_table_new(64, &w->broker_win), MQE2E_OK);
	assert_int_equal(mqe2e_replay_table_new(64, &w->bob_win), MQE2E_OK);
	w->broker_seq = mqe2e_seq_start();
	*state = w;
	return 0;
}

static int
teardown(void **state)
{
	struct world *w = *state;

	conn_free(&w->alice);
	conn_free(&w->bob);
	conn_free(&w->carol);
	mqe2e_aead_free(w->gkp);
	mqe2e_mac_free(w->gkb_mac);
	mqe2e_aead_free(w->gkb_aead);
	mqe2e_replay_table_free(w->broker_win);
	mqe2e_replay_table_free(w->bob_win);
	mqe2e_nonce_cache_free(w->nc);
	mqe2e_identity_free(w->broker);
	mqe2e_trust_free(w->trust);
	mqe2e_cert_free(w->ca);
	mqe2e_pkey_free(w->ca_key);
	free(w);
	return 0;
}

/* A group envelope from c under GK_P; the buffer is malloc'd. */
static uint8_t *
group_envelope(struct world *w, struct conn *c, const char *sender, size_t *len)
{
	struct mqe2e_envelope_params p = { MQE2E_SCHEME_4, MQE2E_KEY_GROUP, "plant1", 7, sender,
	    c->seq++, 0 };
	size_t n = mqe2e_envelope_size(&p, sizeof(msg));
	uint8_t *out = malloc(n);

	assert_non_null(out);
	assert_int_equal(mqe2e_envelope_seal(w->gkp, &p, topic, strlen(topic), msg, sizeof(msg),
	    out, n, len), MQE2E_OK);
	return out;
}

/* Scheme 4 publisher: MAC(SK_CB c2b) frame around body. */
static uint8_t *
pub_frame(struct conn *c, const uint8_t *body, size_t body_len, size_t *len)
{
	struct mqe2e_frame_params p = { MQE2E_KEY_SESSION, NULL, 0, c->id->id, c->seq++ };
	size_t n = mqe2e_frame_mac_size(&p, body_len);
	uint8_t *out = malloc(n);

	assert_non_null(out);
	assert_int_equal(mqe2e_frame_mac_build(c->c2b_mac, &p, topic, strlen(topic), body,
	    body_len, out, n, len), MQE2E_OK);
	return out;
}

/* Scheme 4 broker: what the plugin does for one publish from client c.
 * Returns the error, or MQE2E_OK with *out = the GK_B frame for everyone. */
static int
broker_scheme4(struct world *w, struct conn *c, const char *t, const uint8_t *in, size_t len,
    uint8_t **out, size_t *out_len)
{
	struct mqe2e_frame f;
	struct mqe2e_envelope env;
	struct mqe2e_frame_params p = { MQE2E_KEY_GROUP, "plant1", 3, "broker1", 0 };
	size_t n;
	int r;

	*out = NULL;
	if ((r = mqe2e_frame_decode(in, len, &f)) != MQE2E_OK)
		return r;
	if (f.type != MQE2E_MSG_FRAME_MAC || f.key_kind != MQE2E_KEY_SESSION)
		return MQE2E_ERR_BAD_TYPE;
	if (!mqe2e_view_eq_str(f.sender, c->id->id))
		return MQE2E_ERR_ID_MISMATCH;
	if ((r = mqe2e_replay_table_check(w->broker_win, f.sender.p, f.sender.len, f.key_kind,
	    NULL, 0, 0, f.seq)) != MQE2E_OK)
		return r;
	if ((r = mqe2e_frame_mac_verify(c->c2b_mac, &f, t, strlen(t))) != MQE2E_OK)
		return r;
	if ((r = mqe2e_envelope_decode(f.body.p, f.body.len, &env)) != MQE2E_OK)
		return r;
	if (!mqe2e_view_eq_str(env.sender, c->id->id))
		return MQE2E_ERR_ID_MISMATCH;
	if ((r = mqe2e_replay_table_accept(w->broker_win, f.sender.p, f.sender.len, f.key_kind,
	    NULL, 0, 0, f.seq)) != MQE2E_OK)
		return r;
	p.seq = w->broker_seq++;
	n = mqe2e_frame_mac_size(&p, f.body.len);
	if ((*out = malloc(n)) == NULL)
		return MQE2E_ERR_NOMEM;
	return mqe2e_frame_mac_build(w->gkb_mac, &p, t, strlen(t), f.body.p, f.body.len, *out, n,
	    out_len);
}

/* Scheme 4 subscriber: verify the GK_B frame, then open the envelope. */
static int
sub_scheme4(struct world *w, const uint8_t *in, size_t len, uint8_t *pt)
{
	struct mqe2e_frame f;
	struct mqe2e_envelope env;
	int r;

	if ((r = mqe2e_frame_decode(in, len, &f)) != MQE2E_OK)
		return r;
	if (!mqe2e_view_eq_str(f.sender, "broker1") || f.type != MQE2E_MSG_FRAME_MAC)
		return MQE2E_ERR_ID_MISMATCH;
	if ((r = mqe2e_replay_table_check(w->bob_win, f.sender.p, f.sender.len, f.key_kind,
	    f.key_name.p, f.key_name.len, f.epoch, f.seq)) != MQE2E_OK ||
	    (r = mqe2e_frame_mac_verify(w->gkb_mac, &f, topic, strlen(topic))) != MQE2E_OK ||
	    (r = mqe2e_envelope_decode(f.body.p, f.body.len, &env)) != MQE2E_OK ||
	    (r = mqe2e_replay_table_check(w->bob_win, env.sender.p, env.sender.len,
	    env.key_kind, env.key_name.p, env.key_name.len, env.epoch, env.seq)) != MQE2E_OK ||
	    (r = mqe2e_envelope_open(w->gkp, &env, topic, strlen(topic), pt)) != MQE2E_OK)
		return r;
	if ((r = mqe2e_replay_table_accept(w->bob_win, f.sender.p, f.sender.len, f.key_kind,
	    f.key_name.p, f.key_name.len, f.epoch, f.seq)) != MQE2E_OK)
		return r;
	return mqe2e_replay_table_accept(w->bob_win, env.sender.p, env.sender.len, env.key_kind,
	    env.key_name.p, env.key_name.len, env.epoch, env.seq);
}

static void
test_scheme4_and_attacks(void **state)
{
	struct world *w = *state;
	uint8_t *env, *fr, *out = NULL, *out2 = NULL, pt[sizeof(msg)];
	size_t el, fl, ol, ol2;

	/* the honest path */
	env = group_envelope(w, &w->alice, "alice", &el);
	fr = pub_frame(&w->alice, env, el, &fl);
	assert_int_equal(broker_scheme4(w, &w->alice, topic, fr, fl, &out, &ol), MQE2E_OK);
	assert_int_equal(sub_scheme4(w, out, ol, pt), MQE2E_OK);
	assert_memory_equal(pt, msg, sizeof(msg));
	/* the subscriber rejects the same delivery twice */
	assert_int_equal(sub_scheme4(w, out, ol, pt), MQE2E_ERR_REPLAY);
	free(out);
	/* the broker rejects the publisher's frame replayed */
	assert_int_equal(broker_scheme4(w, &w->alice, topic, fr, fl, &out, &ol), MQE2E_ERR_REPLAY);
	free(out);
	/* ... and the same frame moved to another topic */
	assert_int_equal(broker_scheme4(w, &w->alice, "plant/2/temp", fr, fl, &out, &ol),
	    MQE2E_ERR_REPLAY);
	free(fr);
	fr = pub_frame(&w->alice, env, el, &fl);
	assert_int_equal(broker_scheme4(w, &w->alice, "plant/2/temp", fr, fl, &out, &ol),
	    MQE2E_ERR_BAD_TAG);
	free(out);
	/* the same envelope re-sent in a fresh frame passes the broker but not
	 * the subscriber's envelope window */
	assert_int_equal(broker_scheme4(w, &w->alice, topic, fr, fl, &out, &ol), MQE2E_OK);
	assert_int_equal(sub_scheme4(w, out, ol, pt), MQE2E_ERR_REPLAY);
	free(out);
	free(fr);
	free(env);

	/* bob holds GK_P and poses as alice: his frame is his own (the broker
	 * authenticated bob), the envelope names alice -> refused */
	env = group_envelope(w, &w->bob, "alice", &el);
	fr = pub_frame(&w->bob, env, el, &fl);
	assert_int_equal(broker_scheme4(w, &w->bob, topic, fr, fl, &out, &ol),
	    MQE2E_ERR_ID_MISMATCH);
	free(out);
	free(fr);
	/* ... or frames it as alice without alice's SK_CB -> BAD_TAG */
	{
		struct mqe2e_frame_params p = { MQE2E_KEY_SESSION, NULL, 0, "alice",
		    w->alice.seq + 1000 };
		uint8_t buf[512];

		assert_int_equal(mqe2e_frame_mac_build(w->bob.c2b_mac, &p, topic, strlen(topic),
		    env, el, buf, sizeof(buf), &fl), MQE2E_OK);
		assert_int_equal(broker_scheme4(w, &w->alice, topic, buf, fl, &out, &ol),
		    MQE2E_ERR_BAD_TAG);
		free(out);
	}
	free(env);

	/* reflection: a broker->alice frame (b2c) sent back as alice's (c2b) */
	{
		struct mqe2e_frame_params p = { MQE2E_KEY_SESSION, NULL, 0, "alice",
		    w->alice.seq + 2000 };
		uint8_t buf[512];

		env = group_envelope(w, &w->alice, "alice", &el);
		assert_int_equal(mqe2e_frame_mac_build(w->alice.b2c_mac, &p, topic, strlen(topic),
		    env, el, buf, sizeof(buf), &fl), MQE2E_OK);
		assert_int_equal(broker_scheme4(w, &w->alice, topic, buf, fl, &out, &ol),
		    MQE2E_ERR_BAD_TAG);
		free(out);
		free(env);
	}

	/* two deliveries in a row, then out of order */
	env = group_envelope(w, &w->alice, "alice", &el);
	fr = pub_frame(&w->alice, env, el, &fl);
	assert_int_equal(broker_scheme4(w, &w->alice, topic, fr, fl, &out, &ol), MQE2E_OK);
	free(env);
	free(fr);
	env = group_envelope(w, &w->alice, "alice", &el);
	fr = pub_frame(&w->alice, env, el, &fl);
	assert_int_equal(broker_scheme4(w, &w->alice, topic, fr, fl, &out2, &ol2), MQE2E_OK);
	assert_int_equal(sub_scheme4(w, out2, ol2, pt), MQE2E_OK);
	assert_int_equal(sub_scheme4(w, out, ol, pt), MQE2E_OK);
	free(out);
	free(out2);
	free(env);
	free(fr);
}

static void
test_scheme3(void **state)
{
	struct world *w = *state;
	struct mqe2e_frame_params pp = { MQE2E_KEY_SESSION, NULL, 0, "alice", 0 };
	struct mqe2e_frame_params bp = { MQE2E_KEY_GROUP, "plant1", 3, "broker1", 0 };
	struct mqe2e_frame f;
	struct mqe2e_envelope env;
	uint8_t *e, fr[512], fr2[512], inner[512], pt[sizeof(msg)];
	size_t el, fl, fl2;

	e = group_envelope(w, &w->alice, "alice", &el);
	pp.seq = w->alice.seq++;
	assert_int_equal(mqe2e_frame_aead_build(w->alice.c2b_aead, &pp, topic, strlen(topic), e,
	    el, fr, sizeof(fr), &fl), MQE2E_OK);
	/* broker: open once, check the sender, seal once under GK_B */
	assert_int_equal(mqe2e_frame_decode(fr, fl, &f), MQE2E_OK);
	assert_true(mqe2e_view_eq_str(f.sender, "alice"));
	assert_int_equal(mqe2e_frame_aead_open(w->alice.c2b_aead, &f, topic, strlen(topic), inner),
	    MQE2E_OK);
	assert_int_equal(mqe2e_envelope_decode(inner, f.body.len - 16, &env), MQE2E_OK);
	assert_true(mqe2e_view_eq_str(env.sender, "alice"));
	/* the broker cannot open the envelope: it has no GK_P; GK_B does not fit */
	assert_int_equal(mqe2e_envelope_open(w->gkb_aead, &env, topic, strlen(topic), pt),
	    MQE2E_ERR_BAD_TAG);
	bp.seq = w->broker_seq++;
	assert_int_equal(mqe2e_frame_aead_build(w->gkb_aead, &bp, topic, strlen(topic), inner,
	    f.body.len - 16, fr2, sizeof(fr2), &fl2), MQE2E_OK);
	/* subscriber */
	assert_int_equal(mqe2e_frame_decode(fr2, fl2, &f), MQE2E_OK);
	assert_int_equal(mqe2e_frame_aead_open(w->gkb_aead, &f, topic, strlen(topic), inner),
	    MQE2E_OK);
	assert_int_equal(mqe2e_envelope_decode(inner, f.body.len - 16, &env), MQE2E_OK);
	assert_int_equal(mqe2e_envelope_open(w->gkp, &env, topic, strlen(topic), pt), MQE2E_OK);
	assert_memory_equal(pt, msg, sizeof(msg));
	free(e);
}

/* K_E2E(alice, sub) by a real pair handshake; returns an AEAD context. */
static struct mqe2e_aead *
pair_key(struct world *w, struct conn *sub, struct mqe2e_aead **sub_side)
{
	struct mqe2e_pair *st = NULL;
	struct mqe2e_pair_info pi, si;
	uint8_t *req = NULL, *resp = NULL, kp[32], ks[32];
	size_t rl, sl;
	struct mqe2e_aead *a = NULL;

	assert_int_equal(mqe2e_pair_request_build(w->alice.id, sub->id->id, "plant1", 1,
	    TP_NOW_MS, &st, &req, &rl), MQE2E_OK);
	assert_int_equal(mqe2e_pair_respond(sub->id, w->trust, NULL, NULL, NULL, req, rl, TP_NOW_MS, &resp,
	    &sl, &si, ks), MQE2E_OK);
	assert_int_equal(mqe2e_pair_finish(st, w->trust, resp, sl, TP_NOW_MS, &pi, kp), MQE2E_OK);
	assert_memory_equal(kp, ks, 32);
	assert_string_equal(pi.pair_id, si.pair_id);
	assert_int_equal(mqe2e_aead_new(kp, &a), MQE2E_OK);
	assert_int_equal(mqe2e_aead_new(ks, sub_side), MQE2E_OK);
	mqe2e_wipe(kp, 32);
	mqe2e_wipe(ks, 32);
	mqe2e_pair_free(st);
	free(req);
	free(resp);
	return a;
}

static void
pairwise(struct world *w, int scheme)
{
	struct mqe2e_aead *kb_pub, *kb_sub, *kc_pub, *kc_sub;
	struct mqe2e_envelope_params p = { 0, MQE2E_KEY_PAIR, NULL, 1, "alice", 0, 0 };
	struct mqe2e_bundle_part parts[2];
	struct mqe2e_frame_params pp = { MQE2E_KEY_SESSION, NULL, 0, "alice", 0 };
	struct mqe2e_frame_params bp = { MQE2E_KEY_SESSION, NULL, 0, "broker1", 0 };
	struct mqe2e_frame f;
	struct mqe2e_envelope env;
	struct mqe2e_view part;
	struct conn *subs[2] = { &w->bob, &w->carol };
	uint8_t eb[256], ec[256], bundle[1024], fr[1024], inner[1024], out[1024], pt[64];
	uint8_t sub_inner[1024];
	const uint8_t *wire;
	size_t ebl, ecl, bl, fl, wl, ol, i;

	p.scheme = (uint8_t)scheme;
	kb_pub = pair_key(w, &w->bob, &kb_sub);
	kc_pub = pair_key(w, &w->carol, &kc_sub);
	/* publisher: one envelope per subscriber, one bundle */
	p.key_name = "alice|bob|plant1";
	p.seq = w->alice.seq++;
	assert_int_equal(mqe2e_envelope_seal(kb_pub, &p, topic, strlen(topic), msg, sizeof(msg),
	    eb, sizeof(eb), &ebl), MQE2E_OK);
	p.key_name = "alice|carol|plant1";
	assert_int_equal(mqe2e_envelope_seal(kc_pub, &p, topic, strlen(topic), msg, sizeof(msg),
	    ec, sizeof(ec), &ecl), MQE2E_OK);
	parts[0].recipient = "bob";
	parts[0].part = eb;
	parts[0].len = ebl;
	parts[1].recipient = "carol";
	parts[1].part = ec;
	parts[1].len = ecl;
	assert_int_equal(mqe2e_bundle_build(parts, 2, bundle, sizeof(bundle), &bl), MQE2E_OK);
	wire = bundle;
	wl = bl;
	if (scheme == 2) {
		pp.seq = w->alice.seq++;
		assert_int_equal(mqe2e_frame_aead_build(w->alice.c2b_aead, &pp, topic,
		    strlen(topic), bundle, bl, fr, sizeof(fr), &fl), MQE2E_OK);
		/* broker opens once */
		assert_int_equal(mqe2e_frame_decode(fr, fl, &f), MQE2E_OK);
		assert_int_equal(mqe2e_frame_aead_open(w->alice.c2b_aead, &f, topic,
		    strlen(topic), inner), MQE2E_OK);
		wire = inner;
		wl = f.body.len - 16;
	}
	for (i = 0; i < 2; i++) {
		struct mqe2e_aead *k = i == 0 ? kb_sub : kc_sub;
		const uint8_t *deliver;
		size_t dl;

		/* broker: only this subscriber's part, no E2E key */
		assert_int_equal(mqe2e_bundle_find(wire, wl, subs[i]->id->id, &part), MQE2E_OK);
		deliver = part.p;
		dl = part.len;
		if (scheme == 2) {
			bp.seq = w->broker_seq++;
			assert_int_equal(mqe2e_frame_aead_build(subs[i]->b2c_aead, &bp, topic,
			    strlen(topic), part.p, part.len, out, sizeof(out), &ol), MQE2E_OK);
			/* subscriber opens its channel */
			assert_int_equal(mqe2e_frame_decode(out, ol, &f), MQE2E_OK);
			assert_int_equal(mqe2e_frame_aead_open(subs[i]->b2c_aead, &f, topic,
			    strlen(topic), sub_inner), MQE2E_OK);
			deliver = sub_inner;
			dl = f.body.len - 16;
		}
		assert_int_equal(mqe2e_envelope_decode(deliver, dl, &env), MQE2E_OK);
		assert_int_equal(env.key_kind, MQE2E_KEY_PAIR);
		assert_int_equal(mqe2e_envelope_open(k, &env, topic, strlen(topic), pt), MQE2E_OK);
		assert_memory_equal(pt, msg, sizeof(msg));
		/* the other subscriber's key does not open it */
		assert_int_equal(mqe2e_envelope_open(i == 0 ? kc_sub : kb_sub, &env, topic,
		    strlen(topic), pt), MQE2E_ERR_BAD_TAG);
	}
	mqe2e_aead_free(kb_pub);
	mqe2e_aead_free(kb_sub);
	mqe2e_aead_free(kc_pub);
	mqe2e_aead_free(kc_sub);
}

static void
test_scheme2(void **state)
{
	pairwise(*state, 2);
}

static void
test_scheme1(void **state)
{
	pairwise(*state, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scheme4_and_attacks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scheme3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scheme2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scheme1, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
