/*
 * client12_unit.c - unit tests of issue 12's client pieces without a
 * network: the sealed key cache format (core/keycache.c) with every
 * truncation and every flipped byte refused, another device's or another
 * certificate's file refused; and the link state machine with its backoff
 * (client/link.c).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keycache.h"
#include "link.h"
#include "testpki.h"

/* ---- key cache --------------------------------------------------------------- */

static EVP_PKEY *ca_key;
static X509 *ca;

/* A bundle of two groups and three keys (keys filled with fill). */
static void
make_bundle(struct mqe2e_keybundle *kb, uint8_t fill)
{
	memset(kb, 0, sizeof(*kb));
	kb->groups = calloc(2, sizeof(*kb->groups));
	kb->keys = calloc(3, sizeof(*kb->keys));
	assert_non_null(kb->groups);
	assert_non_null(kb->keys);
	kb->ngroups = 2;
	kb->nkeys = 3;
	strcpy(kb->groups[0].name, "alpha");
	strcpy(kb->groups[0].filter, "a/#");
	kb->groups[0].scheme = MQE2E_SCHEME_4;
	kb->groups[0].rights = MQE2E_RIGHT_SUB;
	strcpy(kb->groups[1].name, "beta");
	strcpy(kb->groups[1].filter, "b/+/x");
	kb->groups[1].scheme = MQE2E_SCHEME_3;
	kb->groups[1].rights = MQE2E_RIGHT_PUB | MQE2E_RIGHT_SUB;
	for (size_t i = 0; i < 3; i++) {
		struct mqe2e_key_entry *e = &kb->keys[i];

		strcpy(e->group, i < 2 ? "alpha" : "beta");
		e->scheme = i < 2 ? MQE2E_SCHEME_4 : MQE2E_SCHEME_3;
		e->kind = i == 1 ? MQE2E_GK_B : MQE2E_GK_P;
		e->epoch = 7 + (uint32_t)i;
		e->not_before_ms = TP_NOW_MS + i * 1000u;
		e->not_after_ms = TP_NOW_MS + 100000u + i * 1000u;
		memset(e->key, fill + (int)i, sizeof(e->key));
	}
}

static struct mqe2e_identity *
ident(const char *cn, const char *serial, uint8_t seed)
{
	return tp_identity(cn, "client", serial, seed, ca, ca_key);
}

static void
keycache_roundtrip(void **state)
{
	struct mqe2e_identity *me = ident("dev1", "0a01", 0x41);
	struct mqe2e_keybundle kb, out;
	struct mqe2e_keycache_info info;
	uint8_t *file = NULL;
	size_t len = 0;

	(void)state;
	make_bundle(&kb, 0x5a);
	assert_int_equal(mqe2e_keycache_seal(me, &kb, TP_NOW_MS, &file, &len), MQE2E_OK);
	assert_true(len < MQE2E_KEYCACHE_MAX);
	assert_memory_equal(file, MQE2E_KEYCACHE_MAGIC, 8);
	/* no key and no filter in clear */
	for (size_t i = 0; i + MQE2E_KEY_LEN <= len; i++)
		for (size_t k = 0; k < kb.nkeys; k++)
			assert_memory_not_equal(file + i, kb.keys[k].key, MQE2E_KEY_LEN);
	assert_null(memmem(file, len, "b/+/x", 5));
	assert_int_equal(mqe2e_keycache_open(me, file, len, &out, &info), MQE2E_OK);
	assert_string_equal(info.id, "dev1");
	assert_string_equal(info.serial, "0a01");
	assert_true(info.written_ms == TP_NOW_MS);
	assert_int_equal(out.ngroups, 2);
	assert_int_equal(out.nkeys, 3);
	for (size_t k = 0; k < 3; k++) {
		assert_string_equal(out.keys[k].group, kb.keys[k].group);
		assert_int_equal(out.keys[k].epoch, kb.keys[k].epoch);
		assert_int_equal(out.keys[k].kind, kb.keys[k].kind);
		assert_int_equal(out.keys[k].scheme, kb.keys[k].scheme);
		assert_true(out.keys[k].not_before_ms == kb.keys[k].not_before_ms);
		assert_true(out.keys[k].not_after_ms == kb.keys[k].not_after_ms);
		assert_memory_equal(out.keys[k].key, kb.keys[k].key, MQE2E_KEY_LEN);
	}
	assert_string_equal(out.groups[1].filter, "b/+/x");
	mqe2e_keybundle_free(&out);
	/* two seals of the same keys differ (fresh nonce) and both open */
	{
		uint8_t *f2 = NULL;
		size_t l2 = 0;

		assert_int_equal(mqe2e_keycache_seal(me, &kb, TP_NOW_MS, &f2, &l2), MQE2E_OK);
		assert_int_equal(l2, len);
		assert_memory_not_equal(f2, file, len);
		assert_int_equal(mqe2e_keycache_open(me, f2, l2, &out, NULL), MQE2E_OK);
		mqe2e_keybundle_free(&out);
		mqe2e_free_secret(f2, l2);
	}
	mqe2e_free_secret(file, len);
	mqe2e_keybundle_free(&kb);
	mqe2e_identity_free(me);
}

/* Every prefix and every single flipped bit of a file is refused, and kb
 * stays empty. */
static void
keycache_every_byte(void **state)
{
	struct mqe2e_identity *me = ident("dev1", "0a01", 0x41);
	struct mqe2e_keybundle kb, out;
	uint8_t *file = NULL, *copy;
	size_t len = 0;
	int r;

	(void)state;
	make_bundle(&kb, 0x11);
	assert_int_equal(mqe2e_keycache_seal(me, &kb, TP_NOW_MS, &file, &len), MQE2E_OK);
	for (size_t n = 0; n < len; n++) {
		r = mqe2e_keycache_open(me, file, n, &out, NULL);
		assert_int_not_equal(r, MQE2E_OK);
		assert_int_equal(out.nkeys, 0);
		assert_null(out.keys);
	}
	copy = malloc(len + 1);
	assert_non_null(copy);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, file, len);
			copy[i] ^= (uint8_t)(1u << bit);
			r = mqe2e_keycache_open(me, copy, len, &out, NULL);
			assert_int_not_equal(r, MQE2E_OK);
			assert_int_equal(out.nkeys, 0);
		}
	}
	/* a byte more at the end */
	memcpy(copy, file, len);
	copy[len] = 0;
	assert_int_equal(mqe2e_keycache_open(me, copy, len + 1, &out, NULL), MQE2E_ERR_TRAILING);
	/* another version */
	memcpy(copy, file, len);
	copy[8] = MQE2E_KEYCACHE_VERSION + 1;
	assert_int_equal(mqe2e_keycache_open(me, copy, len, &out, NULL), MQE2E_ERR_BAD_VERSION);
	/* over the size cap */
	assert_int_equal(mqe2e_keycache_open(me, file, MQE2E_KEYCACHE_MAX + 1, &out, NULL),
	    MQE2E_ERR_TOO_LONG);
	free(copy);
	mqe2e_free_secret(file, len);
	mqe2e_keybundle_free(&kb);
	mqe2e_identity_free(me);
}

/* Another device's file, this device's name with another key, and this
 * device's key after its certificate was renewed (another serial). */
static void
keycache_foreign(void **state)
{
	struct mqe2e_identity *me = ident("dev1", "0a01", 0x41);
	struct mqe2e_identity *other = ident("dev2", "0a02", 0x42);
	struct mqe2e_identity *impostor = ident("dev1", "0a01", 0x43);  /* same name, other key */
	struct mqe2e_identity *renewed = ident("dev1", "0a09", 0x41);   /* same key, new cert */
	struct mqe2e_keybundle kb, out;
	struct mqe2e_keycache_info info;
	uint8_t *file = NULL;
	size_t len = 0;

	(void)state;
	make_bundle(&kb, 0x22);
	assert_int_equal(mqe2e_keycache_seal(me, &kb, TP_NOW_MS, &file, &len), MQE2E_OK);
	assert_int_equal(mqe2e_keycache_open(other, file, len, &out, &info), MQE2E_ERR_ID_MISMATCH);
	assert_string_equal(info.id, "dev1");   /* the refusal can say whose it is */
	assert_int_equal(mqe2e_keycache_open(impostor, file, len, &out, &info), MQE2E_ERR_BAD_TAG);
	assert_int_equal(out.nkeys, 0);
	assert_int_equal(mqe2e_keycache_open(renewed, file, len, &out, &info), MQE2E_ERR_ID_MISMATCH);
	assert_string_equal(info.serial, "0a01");
	assert_int_equal(mqe2e_keycache_open(me, file, len, &out, &info), MQE2E_OK);
	mqe2e_keybundle_free(&out);
	mqe2e_free_secret(file, len);
	mqe2e_keybundle_free(&kb);
	mqe2e_identity_free(me);
	mqe2e_identity_free(other);
	mqe2e_identity_free(impostor);
	mqe2e_identity_free(renewed);
}

/* The derivation: distinct per label and per key; a public key has none. */
static void
derive_key(void **state)
{
	EVP_PKEY *a = tp_key(0x41), *b = tp_key(0x42), *pub = NULL;
	uint8_t ka[32], ka2[32], kb_[32], kl[32], raw[32];

	(void)state;
	assert_int_equal(mqe2e_ed25519_derive_key(a, (const uint8_t *)"L1", 2, ka), MQE2E_OK);
	assert_int_equal(mqe2e_ed25519_derive_key(a, (const uint8_t *)"L1", 2, ka2), MQE2E_OK);
	assert_memory_equal(ka, ka2, 32);
	assert_int_equal(mqe2e_ed25519_derive_key(b, (const uint8_t *)"L1", 2, kb_), MQE2E_OK);
	assert_memory_not_equal(ka, kb_, 32);
	assert_int_equal(mqe2e_ed25519_derive_key(a, (const uint8_t *)"L2", 2, kl), MQE2E_OK);
	assert_memory_not_equal(ka, kl, 32);
	assert_int_equal(mqe2e_ed25519_derive_key(a, NULL, 0, kl), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_ed25519_raw_public(a, raw), MQE2E_OK);
	assert_int_equal(mqe2e_ed25519_from_public(raw, &pub), MQE2E_OK);
	assert_int_equal(mqe2e_ed25519_derive_key(pub, (const uint8_t *)"L1", 2, kl),
	    MQE2E_ERR_INVALID_ARG);
	mqe2e_pkey_free(pub);
	mqe2e_pkey_free(a);
	mqe2e_pkey_free(b);
}

/* ---- link state machine --------------------------------------------------------- */

static unsigned
ev(struct link *l, enum link_event_kind kind, uint64_t now, void *attempt, uint64_t x)
{
	struct link_event e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.now_ms = now;
	e.attempt = attempt;
	e.deadline_ms = x;
	e.gen = x;
	return link__handle(l, &e);
}

static void
link_lifecycle(void **state)
{
	struct link l;
	int a1, a2;
	uint64_t g;

	(void)state;
	link__init(&l, 500, 30000);
	assert_int_equal(l.state, LINK_DOWN);
	assert_true(link__due(&l, 0));
	assert_int_equal(ev(&l, LINK_EV_ATTEMPT, 100, &a1, 20100), 0);
	assert_int_equal(l.state, LINK_CONNECTING);
	assert_false(link__due(&l, 100));
	assert_false(link__expired(&l, 20099));
	assert_true(link__expired(&l, 20100));
	assert_true(link__wake(&l, 1, 60000) == 20100);
	/* a late answer to another attempt changes nothing */
	assert_int_equal(ev(&l, LINK_EV_UP, 200, &a2, 0), LINK_FX_IGNORED);
	assert_int_equal(l.state, LINK_CONNECTING);
	g = l.gen;
	assert_int_equal(ev(&l, LINK_EV_UP, 200, &a1, 0), LINK_FX_CAME_UP);
	assert_int_equal(l.state, LINK_UP);
	assert_true(l.gen == g + 1);
	assert_null(l.attempt);
	/* a repeated callback for the same attempt is ignored too */
	assert_int_equal(ev(&l, LINK_EV_FAILED, 210, &a1, 0), LINK_FX_IGNORED);
	assert_int_equal(l.state, LINK_UP);
	/* lost: down, a new generation, the next attempt 250..500 ms later */
	assert_int_equal(ev(&l, LINK_EV_LOST, 1000, NULL, 0), LINK_FX_WENT_DOWN);
	assert_int_equal(l.state, LINK_DOWN);
	assert_true(l.gen == g + 2);
	assert_true(l.retry.next_ms >= 1250 && l.retry.next_ms <= 1500);
	assert_false(link__due(&l, 1249));
	assert_true(link__due(&l, 1500));
	assert_true(link__wake(&l, 1, 60000) == l.retry.next_ms);
	assert_true(link__wake(&l, 0, 60000) == 60000);
	/* hurry: due now */
	assert_int_equal(ev(&l, LINK_EV_HURRY, 1001, NULL, 0), 0);
	assert_true(link__due(&l, 1001));
	/* a lost-link report while an attempt is under way is the old link's:
	 * the attempt stays */
	assert_int_equal(ev(&l, LINK_EV_ATTEMPT, 1100, &a2, 5000), 0);
	assert_int_equal(ev(&l, LINK_EV_LOST, 1200, NULL, 0), 0);
	assert_int_equal(l.state, LINK_CONNECTING);
	assert_ptr_equal(l.attempt, &a2);
	/* paho refused to start it */
	assert_int_equal(ev(&l, LINK_EV_ABORT, 1300, &a1, 0), LINK_FX_IGNORED);
	assert_int_equal(ev(&l, LINK_EV_ABORT, 1300, &a2, 0), 0);
	assert_int_equal(l.state, LINK_DOWN);
	assert_null(l.attempt);
	/* stale: only on the generation the sender saw, only when up */
	assert_int_equal(ev(&l, LINK_EV_ATTEMPT, 1400, &a1, 9000), 0);
	assert_int_equal(ev(&l, LINK_EV_UP, 1500, &a1, 0), LINK_FX_CAME_UP);
	g = l.gen;
	assert_int_equal(ev(&l, LINK_EV_STALE, 1600, NULL, g - 1), LINK_FX_IGNORED);
	assert_int_equal(l.state, LINK_UP);
	assert_int_equal(ev(&l, LINK_EV_STALE, 1600, NULL, g), LINK_FX_WENT_DOWN);
	assert_int_equal(l.state, LINK_DOWN);
	assert_true(l.gen == g + 1);
	/* closed: down, no retry scheduled */
	assert_int_equal(ev(&l, LINK_EV_ATTEMPT, 1700, &a1, 9000), 0);
	assert_int_equal(ev(&l, LINK_EV_UP, 1800, &a1, 0), LINK_FX_CAME_UP);
	g = l.gen;
	assert_int_equal(ev(&l, LINK_EV_CLOSED, 1900, NULL, 0), LINK_FX_WENT_DOWN);
	assert_true(l.gen == g + 1);
	assert_int_equal(ev(&l, LINK_EV_CLOSED, 1950, NULL, 0), 0);   /* not up: no news */
}

static void
link_backoff(void **state)
{
	struct link l;
	struct backoff b;
	int a;
	uint64_t now = 10000, lo, hi;
	int expect = 500;

	(void)state;
	/* failed attempts: waits drawn from 500, 1000, 2000 ... capped at 30000 */
	link__init(&l, 500, 30000);
	for (int i = 0; i < 12; i++) {
		assert_int_equal(ev(&l, LINK_EV_ATTEMPT, now, &a, now + 1000), 0);
		assert_int_equal(ev(&l, LINK_EV_FAILED, now, &a, 0), 0);
		lo = now + (uint64_t)expect / 2;
		hi = now + (uint64_t)expect;
		assert_true(l.retry.next_ms >= lo && l.retry.next_ms <= hi);
		expect = expect * 2 > 30000 ? 30000 : expect * 2;
		now = l.retry.next_ms;
	}
	assert_int_equal(l.retry.cur_ms, 30000);
	/* the link thread could not even start one: the same backoff */
	assert_int_equal(ev(&l, LINK_EV_START_FAILED, now, NULL, 0), 0);
	assert_true(l.retry.next_ms >= now + 15000 && l.retry.next_ms <= now + 30000);
	/* a success resets it */
	assert_int_equal(ev(&l, LINK_EV_ATTEMPT, now, &a, now + 1000), 0);
	assert_int_equal(ev(&l, LINK_EV_UP, now, &a, 0), LINK_FX_CAME_UP);
	assert_int_equal(l.retry.cur_ms, 500);
	assert_int_equal(ev(&l, LINK_EV_LOST, now, NULL, 0), LINK_FX_WENT_DOWN);
	assert_true(l.retry.next_ms >= now + 250 && l.retry.next_ms <= now + 500);
	/* so does a first connect */
	assert_int_equal(ev(&l, LINK_EV_RESET, now, NULL, 0), 0);
	assert_int_equal(l.retry.cur_ms, 500);

	/* the jitter spreads: 200 draws at the cap cover the upper half */
	backoff__init(&b, 1000, 1000);
	lo = UINT64_MAX;
	hi = 0;
	for (int i = 0; i < 200; i++) {
		uint64_t n = backoff__fail(&b, 0, backoff__rand());

		assert_true(n >= 500 && n <= 1000);
		lo = n < lo ? n : lo;
		hi = n > hi ? n : hi;
	}
	assert_true(hi - lo >= 250);
	assert_int_equal(b.failures, 200);
	/* no overflow near INT_MAX */
	backoff__init(&b, 1, 2147483647);
	for (int i = 0; i < 40; i++)
		(void)backoff__fail(&b, 0, 7);
	assert_int_equal(b.cur_ms, 2147483647);
	/* bad bounds are made sane */
	backoff__init(&b, 0, -5);
	assert_int_equal(b.min_ms, 1);
	assert_int_equal(b.max_ms, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keycache_roundtrip),
		cmocka_unit_test(keycache_every_byte),
		cmocka_unit_test(keycache_foreign),
		cmocka_unit_test(derive_key),
		cmocka_unit_test(link_lifecycle),
		cmocka_unit_test(link_backoff),
	};
	int r;

	ca_key = tp_key(0x01);
	ca = tp_ca("test-ca", ca_key);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	mqe2e_cert_free(ca);
	mqe2e_pkey_free(ca_key);
	return r;
}
