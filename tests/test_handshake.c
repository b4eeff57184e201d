/*
 * test_handshake.c - the signed X25519 handshakes (core/handshake.c,
 * keyx.c, pair.c): round trips and every rejection the edges report.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/pem.h>

#include "handshake.h"
#include "testpki.h"

struct fix {
	EVP_PKEY *ca_key, *other_ca_key;
	X509 *ca, *other_ca;
	struct mqe2e_trust *trust;
	struct mqe2e_identity *alice, *bob, *broker, *stranger, *kms;
	struct mqe2e_nonce_cache *nc;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ca_key = tp_key(0xca);
	f->ca = tp_ca("mqe2e test CA", f->ca_key);
	f->other_ca_key = tp_key(0xcb);
	f->other_ca = tp_ca("mqe2e test CA", f->other_ca_key);
	f->trust = tp_trust(f->ca);
	f->alice = tp_identity("alice", "client", "a1", 0xa1, f->ca, f->ca_key);
	f->bob = tp_identity("bob", "client", "b1", 0xb1, f->ca, f->ca_key);
	f->broker = tp_identity("broker1", "broker", "c1", 0xc1, f->ca, f->ca_key);
	f->kms = tp_identity("kms1", "kms", "d1", 0xd1, f->ca, f->ca_key);
	f->stranger = tp_identity("alice", "client", "a1", 0xe1, f->other_ca, f->other_ca_key);
	assert_int_equal(mqe2e_nonce_cache_new(1024, MQE2E_SKEW_MS_DEFAULT, &f->nc), MQE2E_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	mqe2e_nonce_cache_free(f->nc);
	mqe2e_identity_free(f->alice);
	mqe2e_identity_free(f->bob);
	mqe2e_identity_free(f->broker);
	mqe2e_identity_free(f->kms);
	mqe2e_identity_free(f->stranger);
	mqe2e_trust_free(f->trust);
	mqe2e_cert_free(f->ca);
	mqe2e_cert_free(f->other_ca);
	mqe2e_pkey_free(f->ca_key);
	mqe2e_pkey_free(f->other_ca_key);
	free(f);
	return 0;
}

/* Run the server side on a hello from id, with a fresh nonce cache unless
 * nc is given; returns the server's result. */
static int
accept_hello(struct fix *f, const uint8_t *hello, size_t len, const char *mqtt_id,
    uint64_t now, struct mqe2e_nonce_cache *nc)
{
	struct mqe2e_nonce_cache *own = NULL;
	struct mqe2e_session_keys k;
	struct mqe2e_peer p;
	uint8_t *reply = NULL;
	size_t reply_len = 0;
	int r;

	if (nc == NULL) {
		assert_int_equal(mqe2e_nonce_cache_new(16, MQE2E_SKEW_MS_DEFAULT, &own), MQE2E_OK);
		nc = own;
	}
	r = mqe2e_hs_server_accept(f->broker, f->trust, nc, NULL, hello, len, mqtt_id, now, &reply,
	    &reply_len, &k, &p);
	if (r != MQE2E_OK)
		assert_null(reply);
	free(reply);
	mqe2e_nonce_cache_free(own);
	return r;
}

static void
test_connect_ok(void **state)
{
	struct fix *f = *state;
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_session_keys ck, sk;
	struct mqe2e_peer bp, cp;
	uint8_t *hello = NULL, *reply = NULL;
	size_t hello_len, reply_len;

	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs, &hello, &hello_len),
	    MQE2E_OK);
	assert_int_equal(mqe2e_hs_server_accept(f->broker, f->trust, f->nc, NULL, hello, hello_len,
	    "alice", TP_NOW_MS + 5, &reply, &reply_len, &sk, &cp), MQE2E_OK);
	assert_string_equal(cp.id, "alice");
	assert_int_equal(cp.kind, MQE2E_KIND_CLIENT);
	assert_string_equal(cp.serial, "a1");
	assert_true(reply_len < 65535);
	assert_int_equal(mqe2e_hs_client_finish(hs, f->trust, reply, reply_len, TP_NOW_MS + 9,
	    &ck, &bp), MQE2E_OK);
	assert_string_equal(bp.id, "broker1");
	assert_int_equal(bp.kind, MQE2E_KIND_BROKER);
	assert_memory_equal(ck.c2b, sk.c2b, MQE2E_KEY_LEN);
	assert_memory_equal(ck.b2c, sk.b2c, MQE2E_KEY_LEN);
	assert_memory_not_equal(ck.c2b, ck.b2c, MQE2E_KEY_LEN);
	/* the ephemeral key is spent: a second finish fails */
	assert_int_equal(mqe2e_hs_client_finish(hs, f->trust, reply, reply_len,
	    TP_NOW_MS + 9, &ck, &bp), MQE2E_ERR_INVALID_ARG);
	mqe2e_hs_client_free(hs);
	mqe2e_hs_client_free(NULL);
	free(hello);
	free(reply);
}

static void
test_connect_server_rejects(void **state)
{
	struct fix *f = *state;
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_nonce_cache *nc = NULL;
	uint8_t *hello = NULL;
	size_t len, i;
	const char *revoked[] = { "b1" };
	char saved[sizeof(f->alice->id)];

	/* good hello, then the server's checks one by one */
	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs, &hello, &len), MQE2E_OK);
	assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS, NULL), MQE2E_OK);
	/* MQTT client id differs from the certificate */
	assert_int_equal(accept_hello(f, hello, len, "bob", TP_NOW_MS, NULL), MQE2E_ERR_ID_MISMATCH);
	/* stale and future timestamps */
	assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS + 120001, NULL),
	    MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS - 120001, NULL),
	    MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS + 120000, NULL), MQE2E_OK);
	/* replayed hello */
	assert_int_equal(mqe2e_nonce_cache_new(16, MQE2E_SKEW_MS_DEFAULT, &nc), MQE2E_OK);
	assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS, nc), MQE2E_OK);
	assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS + 1000, nc),
	    MQE2E_ERR_NONCE_REUSE);
	mqe2e_nonce_cache_free(nc);
	/* bad signature: flip each signature bit in turn (sample) */
	for (i = len - 64; i < len; i += 7) {
		hello[i] ^= 0x10;
		assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS, NULL),
		    MQE2E_ERR_BAD_SIGNATURE);
		hello[i] ^= 0x10;
	}
	/* a signed field altered: the timestamp's last byte */
	hello[len - 64 - 16 - 1] ^= 1;
	assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS, NULL),
	    MQE2E_ERR_BAD_SIGNATURE);
	hello[len - 64 - 16 - 1] ^= 1;
	/* every truncation is a clean format error */
	for (i = 0; i < len; i++)
		assert_true(accept_hello(f, hello, i, "alice", TP_NOW_MS, NULL) < 0);
	mqe2e_hs_client_free(hs);
	free(hello);

	/* wrong CA */
	assert_int_equal(mqe2e_hs_client_start(f->stranger, NULL, TP_NOW_MS, &hs, &hello, &len),
	    MQE2E_OK);
	assert_int_equal(accept_hello(f, hello, len, "alice", TP_NOW_MS, NULL),
	    MQE2E_ERR_UNKNOWN_CA);
	mqe2e_hs_client_free(hs);
	free(hello);

	/* wrong kind: a broker certificate connecting as a client */
	assert_int_equal(mqe2e_hs_client_start(f->broker, NULL, TP_NOW_MS, &hs, &hello, &len), MQE2E_OK);
	assert_int_equal(accept_hello(f, hello, len, "broker1", TP_NOW_MS, NULL),
	    MQE2E_ERR_BAD_CERT);
	mqe2e_hs_client_free(hs);
	free(hello);

	/* claimed id in the hello differs from the certificate CN */
	memcpy(saved, f->alice->id, sizeof(saved));
	memcpy(f->alice->id, "mallory", 8);
	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs, &hello, &len), MQE2E_OK);
	memcpy(f->alice->id, saved, sizeof(saved));
	assert_int_equal(accept_hello(f, hello, len, "mallory", TP_NOW_MS, NULL),
	    MQE2E_ERR_ID_MISMATCH);
	mqe2e_hs_client_free(hs);
	free(hello);

	/* revoked serial */
	assert_int_equal(mqe2e_trust_set_revoked(f->trust, revoked, 1), MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_start(f->bob, NULL, TP_NOW_MS, &hs, &hello, &len), MQE2E_OK);
	assert_int_equal(accept_hello(f, hello, len, "bob", TP_NOW_MS, NULL), MQE2E_ERR_REVOKED);
	assert_int_equal(mqe2e_trust_set_revoked(f->trust, NULL, 0), MQE2E_OK);
	assert_int_equal(accept_hello(f, hello, len, "bob", TP_NOW_MS, NULL), MQE2E_OK);
	mqe2e_hs_client_free(hs);
	free(hello);
}

static void
test_connect_expired_cert(void **state)
{
	struct fix *f = *state;
	struct mqe2e_identity *old = NULL;
	struct mqe2e_hs_client *hs = NULL;
	EVP_PKEY *k = tp_key(0x0e);
	X509 *c = tp_leaf("olduser", "client", "0e", k, f->ca, f->ca_key,
	    TP_NOW_S - 86400 * 10, TP_NOW_S - 86400);
	uint8_t *hello = NULL;
	size_t len;

	assert_int_equal(mqe2e_identity_new(c, k, &old), MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_start(old, NULL, TP_NOW_MS, &hs, &hello, &len), MQE2E_OK);
	assert_int_equal(accept_hello(f, hello, len, "olduser", TP_NOW_MS, NULL),
	    MQE2E_ERR_CERT_EXPIRED);
	mqe2e_hs_client_free(hs);
	mqe2e_identity_free(old);
	free(hello);
}

/* A client state and the broker's reply to its hello. */
static void
fresh(struct fix *f, struct mqe2e_nonce_cache *nc, uint64_t now, struct mqe2e_hs_client **hs,
    uint8_t **hello, size_t *hl, uint8_t **reply, size_t *rl)
{
	struct mqe2e_session_keys sk;

	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, now, hs, hello, hl), MQE2E_OK);
	assert_int_equal(mqe2e_hs_server_accept(f->broker, f->trust, nc, NULL, *hello, *hl, "alice",
	    now, reply, rl, &sk, NULL), MQE2E_OK);
}

static void
test_connect_client_rejects(void **state)
{
	struct fix *f = *state;
	struct mqe2e_hs_client *hs = NULL, *hs2 = NULL;
	struct mqe2e_session_keys ck, sk;
	struct mqe2e_nonce_cache *nc = NULL;
	uint8_t *hello = NULL, *hello2 = NULL, *reply = NULL, *fake = NULL;
	size_t hl, hl2, rl, fl, i;

	assert_int_equal(mqe2e_nonce_cache_new(16, MQE2E_SKEW_MS_DEFAULT, &nc), MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs, &hello, &hl), MQE2E_OK);
	assert_int_equal(mqe2e_hs_server_accept(f->broker, f->trust, nc, NULL, hello, hl, "alice",
	    TP_NOW_MS, &reply, &rl, &sk, NULL), MQE2E_OK);

	/* tampered confirmation: BAD_TAG; tampered signed byte: BAD_SIGNATURE */
#define FINISH_FAILS(expect) do { \
	mqe2e_hs_client_free(hs); \
	free(hello); \
	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs, &hello, &hl), MQE2E_OK); \
	assert_int_equal(mqe2e_hs_client_finish(hs, f->trust, reply, rl, TP_NOW_MS, &ck, NULL), \
	    (expect)); \
	} while (0)
	/* a reply to another hello (fresh client state) */
	FINISH_FAILS(MQE2E_ERR_BAD_SIGNATURE);

	/* tampered confirmation: BAD_TAG */
	mqe2e_hs_client_free(hs);
	free(hello);
	free(reply);
	fresh(f, nc, TP_NOW_MS + 1, &hs, &hello, &hl, &reply, &rl);
	reply[rl - 1] ^= 1;
	assert_int_equal(mqe2e_hs_client_finish(hs, f->trust, reply, rl, TP_NOW_MS, &ck, NULL),
	    MQE2E_ERR_BAD_TAG);
	mqe2e_hs_client_free(hs);
	free(hello);
	free(reply);
	/* tampered signed byte (the last nonce byte): BAD_SIGNATURE */
	fresh(f, nc, TP_NOW_MS + 2, &hs, &hello, &hl, &reply, &rl);
	reply[rl - 32 - 64 - 1] ^= 1;
	assert_int_equal(mqe2e_hs_client_finish(hs, f->trust, reply, rl, TP_NOW_MS, &ck, NULL),
	    MQE2E_ERR_BAD_SIGNATURE);
	reply[rl - 32 - 64 - 1] ^= 1;
	/* every truncation fails cleanly (each call spends a client state) */
	for (i = 0; i < rl; i++) {
		assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs2, &hello2, &hl2),
		    MQE2E_OK);
		assert_true(mqe2e_hs_client_finish(hs2, f->trust, reply, i, TP_NOW_MS, &ck,
		    NULL) < 0);
		mqe2e_hs_client_free(hs2);
		free(hello2);
	}

	/* stale reply */
	mqe2e_hs_client_free(hs);
	free(hello);
	free(reply);
	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs, &hello, &hl), MQE2E_OK);
	assert_int_equal(mqe2e_hs_server_accept(f->broker, f->trust, nc, NULL, hello, hl, "alice",
	    TP_NOW_MS, &reply, &rl, &sk, NULL), MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_finish(hs, f->trust, reply, rl, TP_NOW_MS + 200000, &ck,
	    NULL), MQE2E_ERR_CLOCK_SKEW);
	mqe2e_hs_client_free(hs);
	free(hello);
	free(reply);

	/* a client certificate posing as the broker */
	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs, &hello, &hl), MQE2E_OK);
	assert_int_equal(mqe2e_hs_server_accept(f->bob, f->trust, nc, NULL, hello, hl, "alice",
	    TP_NOW_MS, &fake, &fl, &sk, NULL), MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_finish(hs, f->trust, fake, fl, TP_NOW_MS, &ck, NULL),
	    MQE2E_ERR_BAD_CERT);
	mqe2e_hs_client_free(hs);
	free(hello);
	free(fake);
	mqe2e_nonce_cache_free(nc);
#undef FINISH_FAILS
}

static void
test_keyx(void **state)
{
	struct fix *f = *state;
	struct mqe2e_keyreq *st = NULL, *st2 = NULL;
	struct mqe2e_keyreq_info *info = NULL, *info2 = NULL;
	struct mqe2e_key_entry in[2];
	struct mqe2e_group_info gi = { "plant1", 4, MQE2E_RIGHT_SUB, "plant/#" };
	struct mqe2e_keybundle kb = { &gi, 1, in, 2, 0 }, empty = { NULL, 0, NULL, 0, 0 }, out;
	const char *groups[] = { "plant1", "line2" };
	uint8_t *req = NULL, *req2 = NULL, *resp = NULL;
	size_t rl, rl2, sl, i;
	EVP_PKEY *wrong = tp_key(0x77);

	memset(in, 0, sizeof(in));
	memcpy(in[0].group, "plant1", 7);
	in[0].scheme = 4;
	in[0].kind = MQE2E_GK_P;
	in[0].epoch = 7;
	in[0].not_before_ms = TP_NOW_MS;
	in[0].not_after_ms = TP_NOW_MS + 3600000;
	memset(in[0].key, 0x42, 32);
	in[1] = in[0];
	in[1].kind = MQE2E_GK_B;
	memset(in[1].key, 0x43, 32);

	assert_int_equal(mqe2e_keyreq_build(f->alice, groups, 2, TP_NOW_MS, &st, &req, &rl),
	    MQE2E_OK);
	assert_int_equal(mqe2e_keyreq_verify(f->trust, f->nc, req, rl, TP_NOW_MS, &info), MQE2E_OK);
	assert_string_equal(info->requester.id, "alice");
	assert_int_equal(info->requester.kind, MQE2E_KIND_CLIENT);
	assert_int_equal(info->ngroups, 2);
	assert_string_equal(info->groups[0], "plant1");
	assert_string_equal(info->groups[1], "line2");
	/* verifying records nothing: the KMS records the nonce under the
	 * requester once authorised, and then refuses the replay */
	assert_int_equal(mqe2e_keyreq_verify(f->trust, f->nc, req, rl, TP_NOW_MS, &info2),
	    MQE2E_OK);
	assert_memory_equal(info2->nonce, info->nonce, MQE2E_NONCE_LEN);
	mqe2e_keyreq_info_free(info2);
	info2 = NULL;
	assert_int_equal(mqe2e_nonce_cache_add_owned(f->nc, (const uint8_t *)"alice", 5,
	    info->nonce, info->requester.ts_ms, TP_NOW_MS), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_add_owned(f->nc, (const uint8_t *)"alice", 5,
	    info->nonce, info->requester.ts_ms, TP_NOW_MS), MQE2E_ERR_NONCE_REUSE);

	assert_int_equal(mqe2e_keyresp_build(f->ca_key, info, &kb, TP_NOW_MS, &resp, &sl),
	    MQE2E_OK);
	assert_int_equal(mqe2e_keyresp_open(st, f->trust, resp, sl, TP_NOW_MS, &out), MQE2E_OK);
	assert_int_equal(out.nkeys, 2);
	assert_memory_equal(&out.keys[0], &in[0], sizeof(in[0]));
	assert_memory_equal(&out.keys[1], &in[1], sizeof(in[1]));
	assert_int_equal(out.ngroups, 1);
	assert_memory_equal(&out.groups[0], &gi, sizeof(gi));
	mqe2e_keybundle_free(&out);
	/* tampering anywhere: signature or tag */
	for (i = 0; i < sl; i++) {
		resp[i] ^= 0x01;
		assert_true(mqe2e_keyresp_open(st, f->trust, resp, sl, TP_NOW_MS, &out) < 0);
		assert_null(out.keys);
		assert_null(out.groups);
		resp[i] ^= 0x01;
	}
	resp[sl - 1] ^= 1;
	assert_int_equal(mqe2e_keyresp_open(st, f->trust, resp, sl, TP_NOW_MS, &out),
	    MQE2E_ERR_BAD_TAG);
	resp[sl - 1] ^= 1;
	/* the response to another request does not open */
	assert_int_equal(mqe2e_keyreq_build(f->alice, NULL, 0, TP_NOW_MS, &st2, &req2, &rl2),
	    MQE2E_OK);
	assert_int_equal(mqe2e_keyresp_open(st2, f->trust, resp, sl, TP_NOW_MS, &out),
	    MQE2E_ERR_BAD_SIGNATURE);
	free(resp);
	/* signed by a key that is not the CA's */
	assert_int_equal(mqe2e_keyresp_build(wrong, info, &kb, TP_NOW_MS, &resp, &sl), MQE2E_OK);
	assert_int_equal(mqe2e_keyresp_open(st, f->trust, resp, sl, TP_NOW_MS, &out),
	    MQE2E_ERR_BAD_SIGNATURE);
	free(resp);
	/* empty bundle, all-grants request */
	mqe2e_keyreq_info_free(info);
	assert_int_equal(mqe2e_keyreq_verify(f->trust, f->nc, req2, rl2, TP_NOW_MS, &info),
	    MQE2E_OK);
	assert_int_equal(info->ngroups, 0);
	assert_int_equal(mqe2e_keyresp_build(f->ca_key, info, &empty, TP_NOW_MS, &resp, &sl),
	    MQE2E_OK);
	assert_int_equal(mqe2e_keyresp_open(st2, f->trust, resp, sl, TP_NOW_MS, &out), MQE2E_OK);
	assert_int_equal(out.nkeys + out.ngroups, 0);
	mqe2e_keybundle_free(&out);
	free(resp);
	free(req);
	free(req2);
	mqe2e_keyreq_info_free(info);
	mqe2e_keyreq_info_free(NULL);
	mqe2e_keyreq_free(st);
	mqe2e_keyreq_free(st2);
	mqe2e_pkey_free(wrong);

	/* the broker may ask; the KMS identity may not */
	assert_int_equal(mqe2e_keyreq_build(f->broker, NULL, 0, TP_NOW_MS, &st, &req, &rl), MQE2E_OK);
	assert_int_equal(mqe2e_keyreq_verify(f->trust, f->nc, req, rl, TP_NOW_MS, &info), MQE2E_OK);
	assert_int_equal(info->requester.kind, MQE2E_KIND_BROKER);
	mqe2e_keyreq_info_free(info);
	mqe2e_keyreq_free(st);
	free(req);
	assert_int_equal(mqe2e_keyreq_build(f->kms, NULL, 0, TP_NOW_MS, &st, &req, &rl), MQE2E_OK);
	assert_int_equal(mqe2e_keyreq_verify(f->trust, f->nc, req, rl, TP_NOW_MS, &info),
	    MQE2E_ERR_BAD_CERT);
	for (i = 0; i < rl; i++)
		assert_true(mqe2e_keyreq_verify(f->trust, f->nc, req, i, TP_NOW_MS, &info) < 0);
	mqe2e_keyreq_free(st);
	free(req);
}

/* One requester's fetch answered with the KMS's windowed X25519 key: the
 * answer opens, and its key (bytes 2..33 of a KEY_RESPONSE) is the window's. */
static void
shared_fetch(struct fix *f, struct mqe2e_x25519_share *sh, uint64_t now, uint8_t eph[32])
{
	struct mqe2e_keyreq *st = NULL;
	struct mqe2e_keyreq_info *info = NULL;
	struct mqe2e_group_info gi;
	struct mqe2e_key_entry in;
	struct mqe2e_keybundle kb, out;
	uint8_t *req = NULL, *resp = NULL;
	size_t rl = 0, sl = 0;

	memset(&gi, 0, sizeof(gi));
	memset(&in, 0, sizeof(in));
	snprintf(gi.name, sizeof(gi.name), "plant1");
	snprintf(gi.filter, sizeof(gi.filter), "plant1/#");
	gi.scheme = 3;
	gi.rights = MQE2E_RIGHT_SUB;
	snprintf(in.group, sizeof(in.group), "plant1");
	in.scheme = 3;
	in.kind = MQE2E_GK_B;
	in.epoch = 1;
	in.not_before_ms = now;
	in.not_after_ms = now + 3600000;
	memset(in.key, 0x42, sizeof(in.key));
	kb = (struct mqe2e_keybundle){ &gi, 1, &in, 1, 0 };
	assert_int_equal(mqe2e_keyreq_build(f->alice, NULL, 0, now, &st, &req, &rl), MQE2E_OK);
	assert_int_equal(mqe2e_keyreq_verify(f->trust, f->nc, req, rl, now, &info), MQE2E_OK);
	assert_int_equal(mqe2e_keyresp_build_shared(f->ca_key, sh, info, &kb, now, &resp, &sl),
	    MQE2E_OK);
	assert_true(sl > 34);
	memcpy(eph, resp + 2, 32);
	assert_int_equal(mqe2e_keyresp_open(st, f->trust, resp, sl, now, &out), MQE2E_OK);
	assert_int_equal(out.nkeys, 1);
	assert_memory_equal(out.keys[0].key, in.key, sizeof(in.key));
	mqe2e_keybundle_free(&out);
	mqe2e_keyreq_info_free(info);
	mqe2e_keyreq_free(st);
	free(req);
	free(resp);
}

/* The KMS's KEY_RESPONSE key serves a window of max_uses answers and
 * max_ms, then a fresh key replaces it (also when the clock goes back). */
static void
test_keyx_shared_window(void **state)
{
	struct fix *f = *state;
	struct mqe2e_x25519_share *sh = NULL;
	uint8_t a[32], b[32], c[32], d[32], e[32], zero[32], pub[32], shared[32];
	uint8_t *resp = (uint8_t *)"";
	size_t len = 1;
	uint64_t t = TP_NOW_MS;

	assert_int_equal(mqe2e_x25519_share_new(1000, 3, NULL), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_x25519_share_new(1000, 0, &sh), MQE2E_ERR_INVALID_ARG);
	assert_null(sh);
	assert_int_equal(mqe2e_x25519_share_new(1000, 3, &sh), MQE2E_OK);
	shared_fetch(f, sh, t, a);
	shared_fetch(f, sh, t + 10, b);
	assert_memory_equal(a, b, 32);                  /* one window */
	shared_fetch(f, sh, t + 20, c);
	assert_memory_equal(a, c, 32);
	shared_fetch(f, sh, t + 30, d);                 /* 4th answer: a new key */
	assert_memory_not_equal(a, d, 32);
	shared_fetch(f, sh, t + 1030, e);               /* its 1 s are over */
	assert_memory_not_equal(d, e, 32);
	shared_fetch(f, sh, t + 1030 - 5000, a);        /* the clock went back */
	assert_memory_not_equal(e, a, 32);
	/* a small-order requester key still fails, with nothing derived */
	memset(zero, 0, sizeof(zero));
	memset(shared, 0xee, sizeof(shared));
	assert_int_equal(mqe2e_x25519_share_dh(sh, t, zero, pub, shared), MQE2E_ERR_CRYPTO);
	assert_memory_equal(shared, zero, 32);
	mqe2e_x25519_share_free(sh);
	assert_int_equal(mqe2e_keyresp_build_shared(f->ca_key, NULL, NULL, NULL, t, &resp,
	    &len), MQE2E_ERR_INVALID_ARG);
	assert_null(resp);
}

static void
test_pair(void **state)
{
	struct fix *f = *state;
	struct mqe2e_pair *st = NULL;
	struct mqe2e_pair_info pi, si;
	uint8_t *req = NULL, *resp = NULL, *resp2 = NULL, kp[32], ks[32];
	size_t rl, sl, sl2, i;

	assert_int_equal(mqe2e_pair_request_build(f->alice, "bob", "plant1", 3, TP_NOW_MS, &st,
	    &req, &rl), MQE2E_OK);
	/* only the addressed subscriber answers */
	assert_int_equal(mqe2e_pair_respond(f->broker, f->trust, NULL, NULL, NULL, req, rl, TP_NOW_MS, &resp2,
	    &sl2, &si, ks), MQE2E_ERR_ID_MISMATCH);
	assert_int_equal(mqe2e_pair_respond(f->bob, f->trust, f->nc, NULL, NULL, req, rl, TP_NOW_MS, &resp, &sl,
	    &si, ks), MQE2E_OK);
	assert_string_equal(si.peer.id, "alice");
	assert_string_equal(si.group, "plant1");
	assert_int_equal(si.generation, 3);
	assert_string_equal(si.pair_id, "alice|bob|plant1");
	assert_int_equal(mqe2e_pair_respond(f->bob, f->trust, f->nc, NULL, NULL, req, rl, TP_NOW_MS, &resp2,
	    &sl2, &si, ks), MQE2E_ERR_NONCE_REUSE);
	for (i = 0; i < sl; i++) {
		resp[i] ^= 0x80;
		assert_true(mqe2e_pair_finish(st, f->trust, resp, sl, TP_NOW_MS, &pi, kp) < 0);
		resp[i] ^= 0x80;
	}
	assert_int_equal(mqe2e_pair_finish(st, f->trust, resp, sl, TP_NOW_MS, &pi, kp), MQE2E_OK);
	assert_memory_equal(kp, ks, 32);
	assert_string_equal(pi.peer.id, "bob");
	assert_string_equal(pi.pair_id, "alice|bob|plant1");
	for (i = 0; i < rl; i++)
		assert_true(mqe2e_pair_respond(f->bob, f->trust, NULL, NULL, NULL, req, i, TP_NOW_MS, &resp2,
		    &sl2, &si, ks) < 0);
	mqe2e_pair_free(st);
	mqe2e_pair_free(NULL);
	free(req);
	free(resp);
}

static void
test_identity_load_errors(void **state)
{
	struct mqe2e_identity *id = (void *)1;
	char err[256];

	(void)state;
	assert_int_not_equal(mqe2e_identity_load("/nonexistent/cert.pem", "/nonexistent/key.pem",
	    &id, err, sizeof(err)), MQE2E_OK);
	assert_null(id);
	assert_non_null(strstr(err, "/nonexistent/cert.pem"));
	mqe2e_identity_free(NULL);
}

static void
test_identity_key_mismatch(void **state)
{
	struct fix *f = *state;
	struct mqe2e_identity *id = NULL;
	EVP_PKEY *k = tp_key(0x31), *other = tp_key(0x32);
	X509 *c = tp_leaf("carol", "client", "31", k, f->ca, f->ca_key, TP_NOW_S - 10,
	    TP_NOW_S + 10);

	assert_int_equal(mqe2e_identity_new(c, other, &id), MQE2E_ERR_BAD_CERT);
	assert_null(id);
	mqe2e_cert_free(c);
	mqe2e_pkey_free(k);
	mqe2e_pkey_free(other);
}

/* Write a certificate (cert != NULL) or a private key as a PEM file. */
static void
write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (cert != NULL)
		assert_int_equal(PEM_write_X509(f, cert), 1);
	else
		assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
}

static void
test_identity_load_ok(void **state)
{
	struct fix *f = *state;
	struct mqe2e_identity *id = NULL;
	char dir[] = "/tmp/mqe2e-test-id.XXXXXX", cert[64], key[64], other[64], err[512];
	EVP_PKEY *k = tp_key(0x41), *wrong = tp_key(0x42);
	X509 *c = tp_leaf("dave", "client", "41", k, f->ca, f->ca_key, TP_NOW_S - 10,
	    TP_NOW_S + 10);

	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(other, sizeof(other), "%s/other.pem", dir);
	write_pem(cert, c, NULL);
	write_pem(key, NULL, k);
	write_pem(other, NULL, wrong);
	assert_int_equal(mqe2e_identity_load(cert, key, &id, err, sizeof(err)), MQE2E_OK);
	assert_string_equal(id->id, "dave");
	assert_int_equal(id->kind, MQE2E_KIND_CLIENT);
	assert_string_equal(id->serial, "41");
	assert_true(id->cert_der_len > 100);
	mqe2e_identity_free(id);
	id = NULL;
	/* a key that does not belong to the certificate */
	assert_int_equal(mqe2e_identity_load(cert, other, &id, err, sizeof(err)),
	    MQE2E_ERR_BAD_CERT);
	assert_null(id);
	assert_non_null(strstr(err, "other.pem"));
	unlink(cert);
	unlink(key);
	unlink(other);
	rmdir(dir);
	mqe2e_cert_free(c);
	mqe2e_pkey_free(k);
	mqe2e_pkey_free(wrong);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_server_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_expired_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_client_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyx_shared_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair, setup, teardown),
		cmocka_unit_test(test_identity_load_errors),
		cmocka_unit_test_setup_teardown(test_identity_load_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_key_mismatch, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
