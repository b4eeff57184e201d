/*
 * proto9_unit.c - the issue 9 protocol items in core/, without a network:
 *   9.10  the CONNECT hello names its broker (version 2): a sibling broker
 *         refuses it, a broker requiring the binding refuses an unbound one,
 *         a broker refuses hellos dated before its start, and the client
 *         refuses a CONNACK from another broker than the one it named;
 *   9.3   a subscriber checks the group of a pairing request before its
 *         nonce: refused requests leave no trace in the nonce cache;
 *   9.15  pairwise keys are named "PUB|SUB|GROUP": two pairings with the
 *         same generation for two groups are two keys, and an envelope of
 *         one group does not open as the other's;
 *   9.8/9.9  the envelope's retained flag is covered by its tag.
 * Each check shows the attack refused; docs/PROTOCOL.md 2.2, 2.4, 3, 8.
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

struct fix {
	EVP_PKEY *ca_key;
	X509 *ca;
	struct mqe2e_trust *trust;
	struct mqe2e_identity *alice, *bob, *broker1, *broker2;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ca_key = tp_key(0xca);
	f->ca = tp_ca("mqe2e test CA", f->ca_key);
	f->trust = tp_trust(f->ca);
	f->alice = tp_identity("alice", "client", "a1", 0xa1, f->ca, f->ca_key);
	f->bob = tp_identity("bob", "client", "b1", 0xb1, f->ca, f->ca_key);
	f->broker1 = tp_identity("broker1", "broker", "c1", 0xc1, f->ca, f->ca_key);
	f->broker2 = tp_identity("broker2", "broker", "c2", 0xc2, f->ca, f->ca_key);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	mqe2e_identity_free(f->alice);
	mqe2e_identity_free(f->bob);
	mqe2e_identity_free(f->broker1);
	mqe2e_identity_free(f->broker2);
	mqe2e_trust_free(f->trust);
	mqe2e_cert_free(f->ca);
	mqe2e_pkey_free(f->ca_key);
	free(f);
	return 0;
}

/* broker accepts hello at now with bind (fresh nonce cache unless nc). */
static int
accept(struct fix *f, const struct mqe2e_identity *broker, const struct mqe2e_hs_bind *bind,
    struct mqe2e_nonce_cache *nc, const uint8_t *hello, size_t len, uint64_t now,
    uint8_t **reply, size_t *reply_len)
{
	struct mqe2e_nonce_cache *own = NULL;
	struct mqe2e_session_keys k;
	uint8_t *none = NULL;
	size_t none_len;
	int r;

	if (nc == NULL) {
		assert_int_equal(mqe2e_nonce_cache_new(64, MQE2E_SKEW_MS_DEFAULT, &own), MQE2E_OK);
		nc = own;
	}
	r = mqe2e_hs_server_accept(broker, f->trust, nc, bind, hello, len, "alice", now,
	    reply != NULL ? reply : &none, reply_len != NULL ? reply_len : &none_len, &k, NULL);
	free(none);
	mqe2e_wipe(&k, sizeof(k));
	mqe2e_nonce_cache_free(own);
	return r;
}

static void
test_hello_names_broker(void **state)
{
	struct fix *f = *state;
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_hello h;
	struct mqe2e_hs_bind strict = { TP_NOW_MS - 1000, 1 }, lax = { 0, 0 };
	uint8_t *hello = NULL, *unbound = NULL;
	size_t hl, ul;

	assert_int_equal(mqe2e_hs_client_start(f->alice, "broker1", TP_NOW_MS, &hs, &hello, &hl),
	    MQE2E_OK);
	assert_int_equal(mqe2e_hello_decode(hello, hl, MQE2E_MSG_CONNECT_HELLO, &h), MQE2E_OK);
	assert_int_equal(hello[0], MQE2E_VERSION_CONNECT_HELLO);
	assert_true(mqe2e_view_eq_str(h.broker_id, "broker1"));
	/* the broker it names takes it; a sibling of the same CA does not,
	 * whatever its binding policy */
	assert_int_equal(accept(f, f->broker1, &strict, NULL, hello, hl, TP_NOW_MS, NULL, NULL),
	    MQE2E_OK);
	assert_int_equal(accept(f, f->broker2, &lax, NULL, hello, hl, TP_NOW_MS, NULL, NULL),
	    MQE2E_ERR_ID_MISMATCH);
	assert_int_equal(accept(f, f->broker2, NULL, NULL, hello, hl, TP_NOW_MS, NULL, NULL),
	    MQE2E_ERR_ID_MISMATCH);
	mqe2e_hs_client_free(hs);
	hs = NULL;

	/* a hello that names no broker: only where the binding is not required */
	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &hs, &unbound, &ul),
	    MQE2E_OK);
	assert_int_equal(accept(f, f->broker1, &strict, NULL, unbound, ul, TP_NOW_MS, NULL, NULL),
	    MQE2E_ERR_ID_MISMATCH);
	assert_int_equal(accept(f, f->broker1, &lax, NULL, unbound, ul, TP_NOW_MS, NULL, NULL),
	    MQE2E_OK);
	mqe2e_hs_client_free(hs);
	free(unbound);

	/* not an id: refused before anything is signed */
	assert_int_equal(mqe2e_hs_client_start(f->alice, "bro ker", TP_NOW_MS, &hs, &unbound,
	    &ul), MQE2E_ERR_INVALID_ARG);
	free(hello);
	/* the name is signed: a hello for broker2 renamed for broker1 fails */
	assert_int_equal(mqe2e_hs_client_start(f->alice, "broker2", TP_NOW_MS, &hs, &hello, &hl),
	    MQE2E_OK);
	assert_int_equal(hello[hl - 64 - 1], '2');
	hello[hl - 64 - 1] = '1';
	assert_int_equal(accept(f, f->broker1, &lax, NULL, hello, hl, TP_NOW_MS, NULL, NULL),
	    MQE2E_ERR_BAD_SIGNATURE);
	mqe2e_hs_client_free(hs);
	free(hello);
}

static void
test_restart_window(void **state)
{
	struct fix *f = *state;
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_nonce_cache *before = NULL, *after = NULL;
	uint8_t *hello = NULL;
	size_t hl;
	/* the broker restarted 4 s after the hello was made */
	struct mqe2e_hs_bind first = { TP_NOW_MS - 60000, 1 }, restarted = { TP_NOW_MS + 4000, 1 };

	assert_int_equal(mqe2e_hs_client_start(f->alice, "broker1", TP_NOW_MS, &hs, &hello, &hl),
	    MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_new(64, MQE2E_SKEW_MS_DEFAULT, &before), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_new(64, MQE2E_SKEW_MS_DEFAULT, &after), MQE2E_OK);
	assert_int_equal(accept(f, f->broker1, &first, before, hello, hl, TP_NOW_MS, NULL, NULL),
	    MQE2E_OK);
	assert_int_equal(accept(f, f->broker1, &first, before, hello, hl, TP_NOW_MS + 1000, NULL,
	    NULL), MQE2E_ERR_NONCE_REUSE);
	/* the new process has an empty nonce cache: the date refuses it */
	assert_int_equal(accept(f, f->broker1, &restarted, after, hello, hl, TP_NOW_MS + 8000,
	    NULL, NULL), MQE2E_ERR_CLOCK_SKEW);
	mqe2e_hs_client_free(hs);
	mqe2e_nonce_cache_free(before);
	mqe2e_nonce_cache_free(after);
	free(hello);
}

static void
test_client_checks_broker(void **state)
{
	struct fix *f = *state;
	struct mqe2e_hs_client *hs1 = NULL, *hs2 = NULL, *any = NULL;
	struct mqe2e_session_keys k;
	struct mqe2e_peer peer;
	struct mqe2e_hs_bind lax = { 0, 0 };
	uint8_t *h1 = NULL, *h2 = NULL, *ha = NULL, *reply = NULL;
	size_t l1, l2, la, rl;

	/* broker1 answers a hello for broker1: the client takes it */
	assert_int_equal(mqe2e_hs_client_start(f->alice, "broker1", TP_NOW_MS, &hs1, &h1, &l1),
	    MQE2E_OK);
	assert_int_equal(accept(f, f->broker1, &lax, NULL, h1, l1, TP_NOW_MS, &reply, &rl),
	    MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_finish(hs1, f->trust, reply, rl, TP_NOW_MS, &k, &peer),
	    MQE2E_OK);
	assert_string_equal(peer.id, "broker1");
	/* a client that meant broker2 refuses broker1's certificate before it
	 * looks at anything else (a reply for another hello fails later, on its
	 * signature) */
	assert_int_equal(mqe2e_hs_client_start(f->alice, "broker2", TP_NOW_MS, &hs2, &h2, &l2),
	    MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_finish(hs2, f->trust, reply, rl, TP_NOW_MS, &k, NULL),
	    MQE2E_ERR_ID_MISMATCH);
	assert_int_equal(mqe2e_hs_client_start(f->alice, NULL, TP_NOW_MS, &any, &ha, &la),
	    MQE2E_OK);
	assert_int_equal(mqe2e_hs_client_finish(any, f->trust, reply, rl, TP_NOW_MS, &k, NULL),
	    MQE2E_ERR_BAD_SIGNATURE);
	mqe2e_hs_client_free(hs1);
	mqe2e_hs_client_free(hs2);
	mqe2e_hs_client_free(any);
	free(h1);
	free(h2);
	free(ha);
	free(reply);
	mqe2e_wipe(&k, sizeof(k));
}

/* mqe2e_pair_group_cb: only "g12" */
static int
only_g12(void *arg, const char *publisher, const char *group)
{
	int *calls = arg;

	(void)publisher;
	(*calls)++;
	return strcmp(group, "g12") == 0 ? MQE2E_OK : MQE2E_ERR_DENIED;
}

static void
test_pair_group_before_nonce(void **state)
{
	struct fix *f = *state;
	struct mqe2e_nonce_cache *nc = NULL;
	struct mqe2e_pair *st = NULL;
	struct mqe2e_pair_info info;
	uint8_t *req = NULL, *resp = NULL, k[MQE2E_KEY_LEN];
	size_t rl, sl, i;
	int calls = 0;

	/* a cache of 16: 100 refused requests must not fill it */
	assert_int_equal(mqe2e_nonce_cache_new(16, MQE2E_SKEW_MS_DEFAULT, &nc), MQE2E_OK);
	for (i = 0; i < 100; i++) {
		assert_int_equal(mqe2e_pair_request_build(f->alice, "bob", "g4", (uint32_t)i + 1,
		    TP_NOW_MS, &st, &req, &rl), MQE2E_OK);
		memset(&info, 0, sizeof(info));
		assert_int_equal(mqe2e_pair_respond(f->bob, f->trust, nc, only_g12, &calls, req, rl,
		    TP_NOW_MS, &resp, &sl, &info, k), MQE2E_ERR_DENIED);
		assert_null(resp);
		/* who asked, for what: verified, for the report */
		assert_string_equal(info.peer.id, "alice");
		assert_string_equal(info.group, "g4");
		mqe2e_pair_free(st);
		free(req);
	}
	assert_int_equal(calls, 100);
	/* the subscriber still pairs for its group */
	assert_int_equal(mqe2e_pair_request_build(f->alice, "bob", "g12", 7, TP_NOW_MS, &st, &req,
	    &rl), MQE2E_OK);
	assert_int_equal(mqe2e_pair_respond(f->bob, f->trust, nc, only_g12, &calls, req, rl,
	    TP_NOW_MS, &resp, &sl, &info, k), MQE2E_OK);
	assert_string_equal(info.pair_id, "alice|bob|g12");
	mqe2e_wipe(k, sizeof(k));
	mqe2e_pair_free(st);
	free(req);
	free(resp);
	mqe2e_nonce_cache_free(nc);
}

/* Pair alice -> bob for group at generation gen; K_E2E into k. */
static void
pair(struct fix *f, const char *group, uint32_t gen, uint8_t k[MQE2E_KEY_LEN],
    char pair_id[MQE2E_KEYNAME_MAX + 1])
{
	struct mqe2e_pair *st = NULL;
	struct mqe2e_pair_info si, pi;
	uint8_t *req = NULL, *resp = NULL, ks[MQE2E_KEY_LEN];
	size_t rl, sl;

	assert_int_equal(mqe2e_pair_request_build(f->alice, "bob", group, gen, TP_NOW_MS, &st,
	    &req, &rl), MQE2E_OK);
	assert_int_equal(mqe2e_pair_respond(f->bob, f->trust, NULL, NULL, NULL, req, rl,
	    TP_NOW_MS, &resp, &sl, &si, ks), MQE2E_OK);
	assert_int_equal(mqe2e_pair_finish(st, f->trust, resp, sl, TP_NOW_MS, &pi, k), MQE2E_OK);
	assert_memory_equal(k, ks, MQE2E_KEY_LEN);
	assert_string_equal(si.pair_id, pi.pair_id);
	memcpy(pair_id, pi.pair_id, MQE2E_KEYNAME_MAX + 1);
	mqe2e_wipe(ks, sizeof(ks));
	mqe2e_pair_free(st);
	free(req);
	free(resp);
}

static void
test_pair_scoped_to_group(void **state)
{
	struct fix *f = *state;
	uint8_t k1[MQE2E_KEY_LEN], k2[MQE2E_KEY_LEN], env[256], pt[16];
	char id1[MQE2E_KEYNAME_MAX + 1], id2[MQE2E_KEYNAME_MAX + 1];
	struct mqe2e_envelope_params p = { MQE2E_SCHEME_1, MQE2E_KEY_PAIR, NULL, 5, "alice", 1, 0 };
	struct mqe2e_envelope e;
	struct mqe2e_aead *a1 = NULL, *a2 = NULL;
	size_t el;

	/* the same generation for two groups: two keys with two names */
	pair(f, "g1", 5, k1, id1);
	pair(f, "g2", 5, k2, id2);
	assert_string_equal(id1, "alice|bob|g1");
	assert_string_equal(id2, "alice|bob|g2");
	assert_memory_not_equal(k1, k2, MQE2E_KEY_LEN);
	assert_int_equal(mqe2e_aead_new(k1, &a1), MQE2E_OK);
	assert_int_equal(mqe2e_aead_new(k2, &a2), MQE2E_OK);
	p.key_name = id1;
	assert_int_equal(mqe2e_envelope_seal(a1, &p, "t/1", 3, (const uint8_t *)"g1 msg", 6, env,
	    sizeof(env), &el), MQE2E_OK);
	assert_int_equal(mqe2e_envelope_decode(env, el, &e), MQE2E_OK);
	/* the receiver finds the key by the envelope's name: g1's */
	assert_true(mqe2e_view_eq_str(e.key_name, "alice|bob|g1"));
	assert_int_equal(mqe2e_envelope_open(a1, &e, "t/1", 3, pt), MQE2E_OK);
	assert_memory_equal(pt, "g1 msg", 6);
	/* re-labelled as g2's it opens under neither key: the name is in the AAD */
	memcpy(env + 4 + 2 + strlen("alice|bob|"), "g2", 2);
	assert_int_equal(mqe2e_envelope_decode(env, el, &e), MQE2E_OK);
	assert_true(mqe2e_view_eq_str(e.key_name, "alice|bob|g2"));
	assert_int_equal(mqe2e_envelope_open(a2, &e, "t/1", 3, pt), MQE2E_ERR_BAD_TAG);
	assert_int_equal(mqe2e_envelope_open(a1, &e, "t/1", 3, pt), MQE2E_ERR_BAD_TAG);
	/* an old two-part pair id is not a pair id any more */
	p.key_name = "alice|bob";
	assert_int_equal(mqe2e_envelope_size(&p, 6), 0);
	mqe2e_aead_free(a1);
	mqe2e_aead_free(a2);
	mqe2e_wipe(k1, sizeof(k1));
	mqe2e_wipe(k2, sizeof(k2));
}

static void
test_retained_flag_authenticated(void **state)
{
	struct mqe2e_envelope_params p = { MQE2E_SCHEME_4, MQE2E_KEY_GROUP, "g", 1, "alice", 9,
	    0 };
	struct mqe2e_envelope e;
	struct mqe2e_aead *a = NULL;
	uint8_t key[MQE2E_KEY_LEN], env[128], pt[8];
	size_t el, flag_at;

	(void)state;
	memset(key, 0x5a, sizeof(key));
	assert_int_equal(mqe2e_aead_new(key, &a), MQE2E_OK);
	assert_int_equal(mqe2e_envelope_seal(a, &p, "t", 1, (const uint8_t *)"live", 4, env,
	    sizeof(env), &el), MQE2E_OK);
	assert_int_equal(mqe2e_envelope_decode(env, el, &e), MQE2E_OK);
	assert_int_equal(e.flags, 0);
	/* a live message passed off as a retained one: the tag says no */
	flag_at = (size_t)(e.nonce - env) - 1;
	env[flag_at] = MQE2E_ENV_RETAINED;
	assert_int_equal(mqe2e_envelope_decode(env, el, &e), MQE2E_OK);
	assert_int_equal(e.flags, MQE2E_ENV_RETAINED);
	assert_int_equal(mqe2e_envelope_open(a, &e, "t", 1, pt), MQE2E_ERR_BAD_TAG);
	/* an unknown flag does not even decode */
	env[flag_at] = 0x80;
	assert_int_equal(mqe2e_envelope_decode(env, el, &e), MQE2E_ERR_BAD_FORMAT);
	/* nor does a version 1 envelope */
	env[flag_at] = 0;
	env[0] = 1;
	assert_int_equal(mqe2e_envelope_decode(env, el, &e), MQE2E_ERR_BAD_VERSION);
	mqe2e_aead_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_names_broker),
		cmocka_unit_test(test_restart_window),
		cmocka_unit_test(test_client_checks_broker),
		cmocka_unit_test(test_pair_group_before_nonce),
		cmocka_unit_test(test_pair_scoped_to_group),
		cmocka_unit_test(test_retained_flag_authenticated),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
