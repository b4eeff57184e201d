/*
 * test_wire.c - envelope, channel frame, bundle, key bundle and the hello
 * and reply decoders (core/wire.c, bundle.c, hello.c): round trips, every
 * truncation, trailing bytes, wrong version/type, oversized lengths, bit
 * flips, and tampering of each field -> BAD_TAG.
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
#include "wire.h"
#include "testpki.h"

static const char topic[] = "plant/1/temp";
static const uint8_t msg[] = "21.5 C and rising";

typedef int (*decode_fn)(const uint8_t *in, size_t len);

/* The generic malformed-input battery every decoder goes through. */
static void
battery(decode_fn dec, const uint8_t *good, size_t len, int has_type)
{
	uint8_t *b = malloc(len + 1);
	size_t i;
	int bit;

	assert_non_null(b);
	assert_int_equal(dec(good, len), MQE2E_OK);
	for (i = 0; i < len; i++)
		assert_true(dec(good, i) < 0);
	memcpy(b, good, len);
	b[len] = 0;
	assert_int_equal(dec(b, len + 1), MQE2E_ERR_TRAILING);
	if (has_type) {
		/* each type accepts its own version only: the next one, and for a
		 * type past version 1 (CONNECT_HELLO, envelope) the old layout */
		b[0] = (uint8_t)(good[0] + 1);
		assert_int_equal(dec(b, len), MQE2E_ERR_BAD_VERSION);
		b[0] = (uint8_t)(good[0] - 1);
		assert_int_equal(dec(b, len), MQE2E_ERR_BAD_VERSION);
		b[0] = good[0];
		b[1] = 0xee;
		assert_int_equal(dec(b, len), MQE2E_ERR_BAD_TYPE);
		b[1] = good[1];
	}
	/* every bit flip decodes or fails cleanly (ASan watches) */
	for (i = 0; i < len; i++)
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1 << bit);
			(void)dec(b, len);
			b[i] ^= (uint8_t)(1 << bit);
		}
	assert_true(dec(NULL, 0) < 0);
	free(b);
}

/* ---- envelope -------------------------------------------------------------- */

static int
dec_envelope(const uint8_t *in, size_t len)
{
	struct mqe2e_envelope e;

	return mqe2e_envelope_decode(in, len, &e);
}

static struct mqe2e_aead *
aead(uint8_t fill)
{
	uint8_t k[32];
	struct mqe2e_aead *a = NULL;

	memset(k, fill, sizeof(k));
	assert_int_equal(mqe2e_aead_new(k, &a), MQE2E_OK);
	return a;
}

static struct mqe2e_mac *
mac(uint8_t fill)
{
	uint8_t k[32];
	struct mqe2e_mac *m = NULL;

	memset(k, fill, sizeof(k));
	assert_int_equal(mqe2e_mac_new(k, sizeof(k), &m), MQE2E_OK);
	return m;
}

static void
test_envelope(void **state)
{
	struct mqe2e_aead *k = aead(0x11), *k2 = aead(0x12);
	struct mqe2e_envelope_params p = { MQE2E_SCHEME_4, MQE2E_KEY_GROUP, "plant1", 7, "alice",
	    1000, MQE2E_ENV_RETAINED };
	struct mqe2e_envelope e;
	uint8_t *buf, pt[sizeof(msg)];
	size_t n = mqe2e_envelope_size(&p, sizeof(msg)), len, i;

	(void)state;
	assert_true(n > 0);
	buf = malloc(n);
	assert_non_null(buf);
	assert_int_equal(mqe2e_envelope_seal(k, &p, topic, strlen(topic), msg, sizeof(msg), buf,
	    n - 1, &len), MQE2E_ERR_TOO_LONG);
	assert_int_equal(mqe2e_envelope_seal(k, &p, topic, strlen(topic), msg, sizeof(msg), buf, n,
	    &len), MQE2E_OK);
	assert_int_equal(len, n);
	assert_int_equal(mqe2e_envelope_decode(buf, len, &e), MQE2E_OK);
	assert_int_equal(e.scheme, 4);
	assert_int_equal(e.key_kind, MQE2E_KEY_GROUP);
	assert_true(mqe2e_view_eq_str(e.key_name, "plant1"));
	assert_true(mqe2e_view_eq_str(e.sender, "alice"));
	assert_int_equal(e.epoch, 7);
	assert_true(e.seq == 1000);
	assert_int_equal(mqe2e_envelope_open(k, &e, topic, strlen(topic), pt), MQE2E_OK);
	assert_memory_equal(pt, msg, sizeof(msg));
	/* wrong key, wrong topic */
	assert_int_equal(mqe2e_envelope_open(k2, &e, topic, strlen(topic), pt), MQE2E_ERR_BAD_TAG);
	assert_int_equal(mqe2e_envelope_open(k, &e, "plant/1/tem", 11, pt), MQE2E_ERR_BAD_TAG);
	/* tampering any byte: decode error or BAD_TAG, never plaintext */
	for (i = 0; i < len; i++) {
		buf[i] ^= 0x04;
		if (mqe2e_envelope_decode(buf, len, &e) == MQE2E_OK)
			assert_int_equal(mqe2e_envelope_open(k, &e, topic, strlen(topic), pt),
			    MQE2E_ERR_BAD_TAG);
		buf[i] ^= 0x04;
	}
	battery(dec_envelope, buf, len, 1);
	free(buf);

	/* invalid parameters: group key with scheme 1, bad ids */
	p.scheme = MQE2E_SCHEME_1;
	assert_int_equal(mqe2e_envelope_size(&p, 1), 0);
	p.scheme = MQE2E_SCHEME_2;
	p.key_kind = MQE2E_KEY_PAIR;
	assert_int_equal(mqe2e_envelope_size(&p, 1), 0);   /* "plant1" is no pair id */
	p.key_name = "alice|bob";
	assert_int_equal(mqe2e_envelope_size(&p, 1), 0);   /* a pair id names its group */
	p.key_name = "alice|bob|plant1";
	assert_true(mqe2e_envelope_size(&p, 1) > 0);
	p.flags = 0x02;
	assert_int_equal(mqe2e_envelope_size(&p, 1), 0);   /* unknown flag */
	p.flags = MQE2E_ENV_RETAINED;
	p.sender = "al ice";
	assert_int_equal(mqe2e_envelope_size(&p, 1), 0);
	p.sender = "";
	assert_int_equal(mqe2e_envelope_size(&p, 1), 0);
	mqe2e_aead_free(k);
	mqe2e_aead_free(k2);
}

static void
test_envelope_empty_and_pair(void **state)
{
	struct mqe2e_aead *k = aead(0x21);
	struct mqe2e_envelope_params p = { MQE2E_SCHEME_1, MQE2E_KEY_PAIR, "alice|bob|plant1", 2,
	    "alice", UINT64_MAX, 0 };
	struct mqe2e_envelope e;
	uint8_t buf[256];
	size_t len;

	(void)state;
	assert_int_equal(mqe2e_envelope_seal(k, &p, "", 0, NULL, 0, buf, sizeof(buf), &len),
	    MQE2E_OK);
	assert_int_equal(mqe2e_envelope_decode(buf, len, &e), MQE2E_OK);
	assert_int_equal(e.ct.len, 16);
	assert_true(e.seq == UINT64_MAX);
	assert_int_equal(mqe2e_envelope_open(k, &e, "", 0, NULL), MQE2E_OK);
	mqe2e_aead_free(k);
}

/* ---- channel frames ------------------------------------------------------------- */

static int
dec_frame(const uint8_t *in, size_t len)
{
	struct mqe2e_frame f;

	return mqe2e_frame_decode(in, len, &f);
}

static void
test_frame_mac(void **state)
{
	struct mqe2e_mac *k = mac(0x31), *k2 = mac(0x32);
	struct mqe2e_frame_params p = { MQE2E_KEY_SESSION, NULL, 0, "alice", 42 };
	struct mqe2e_frame f;
	uint8_t buf[256];
	size_t len, i, n = mqe2e_frame_mac_size(&p, sizeof(msg));

	(void)state;
	assert_int_equal(mqe2e_frame_mac_build(k, &p, topic, strlen(topic), msg, sizeof(msg), buf,
	    sizeof(buf), &len), MQE2E_OK);
	assert_int_equal(len, n);
	assert_int_equal(mqe2e_frame_decode(buf, len, &f), MQE2E_OK);
	assert_int_equal(f.type, MQE2E_MSG_FRAME_MAC);
	assert_int_equal(f.key_kind, MQE2E_KEY_SESSION);
	assert_int_equal(f.key_name.len, 0);
	assert_true(mqe2e_view_eq_str(f.sender, "alice"));
	assert_int_equal(f.body.len, sizeof(msg));
	assert_memory_equal(f.body.p, msg, sizeof(msg));
	assert_int_equal(mqe2e_frame_mac_verify(k, &f, topic, strlen(topic)), MQE2E_OK);
	assert_int_equal(mqe2e_frame_mac_verify(k2, &f, topic, strlen(topic)), MQE2E_ERR_BAD_TAG);
	assert_int_equal(mqe2e_frame_mac_verify(k, &f, "other", 5), MQE2E_ERR_BAD_TAG);
	assert_int_equal(mqe2e_frame_aead_open(NULL, &f, topic, strlen(topic), NULL),
	    MQE2E_ERR_INVALID_ARG);
	for (i = 0; i < len; i++) {
		buf[i] ^= 0x40;
		if (mqe2e_frame_decode(buf, len, &f) == MQE2E_OK)
			assert_int_equal(mqe2e_frame_mac_verify(k, &f, topic, strlen(topic)),
			    MQE2E_ERR_BAD_TAG);
		buf[i] ^= 0x40;
	}
	battery(dec_frame, buf, len, 1);

	/* group frame from the broker */
	p.key_kind = MQE2E_KEY_GROUP;
	p.key_name = "plant1";
	p.epoch = 9;
	p.sender = "broker1";
	assert_int_equal(mqe2e_frame_mac_build(k, &p, topic, strlen(topic), msg, sizeof(msg), buf,
	    sizeof(buf), &len), MQE2E_OK);
	assert_int_equal(mqe2e_frame_decode(buf, len, &f), MQE2E_OK);
	assert_true(mqe2e_view_eq_str(f.key_name, "plant1"));
	assert_int_equal(f.epoch, 9);
	assert_int_equal(mqe2e_frame_mac_verify(k, &f, topic, strlen(topic)), MQE2E_OK);
	/* session frames carry epoch 0 and no name */
	p.key_kind = MQE2E_KEY_SESSION;
	assert_int_equal(mqe2e_frame_mac_size(&p, 1), 0);
	p.key_name = NULL;
	assert_int_equal(mqe2e_frame_mac_size(&p, 1), 0);
	mqe2e_mac_free(k);
	mqe2e_mac_free(k2);
}

static void
test_frame_aead(void **state)
{
	struct mqe2e_aead *k = aead(0x41), *k2 = aead(0x42);
	struct mqe2e_frame_params p = { MQE2E_KEY_GROUP, "plant1", 3, "broker1", 77 };
	struct mqe2e_frame f;
	uint8_t buf[256], pt[sizeof(msg)];
	size_t len, i;

	(void)state;
	assert_int_equal(mqe2e_frame_aead_build(k, &p, topic, strlen(topic), msg, sizeof(msg), buf,
	    sizeof(buf), &len), MQE2E_OK);
	assert_int_equal(len, mqe2e_frame_aead_size(&p, sizeof(msg)));
	assert_int_equal(mqe2e_frame_decode(buf, len, &f), MQE2E_OK);
	assert_int_equal(f.type, MQE2E_MSG_FRAME_AEAD);
	assert_non_null(f.nonce);
	assert_int_equal(mqe2e_frame_mac_verify((struct mqe2e_mac *)1, &f, topic, 1),
	    MQE2E_ERR_BAD_TYPE);
	assert_int_equal(mqe2e_frame_aead_open(k, &f, topic, strlen(topic), pt), MQE2E_OK);
	assert_memory_equal(pt, msg, sizeof(msg));
	assert_int_equal(mqe2e_frame_aead_open(k2, &f, topic, strlen(topic), pt),
	    MQE2E_ERR_BAD_TAG);
	for (i = 0; i < len; i++) {
		buf[i] ^= 0x02;
		if (mqe2e_frame_decode(buf, len, &f) == MQE2E_OK)
			assert_int_equal(mqe2e_frame_aead_open(k, &f, topic, strlen(topic), pt),
			    MQE2E_ERR_BAD_TAG);
		buf[i] ^= 0x02;
	}
	battery(dec_frame, buf, len, 1);
	mqe2e_aead_free(k);
	mqe2e_aead_free(k2);
}

static void
test_frame_oversized(void **state)
{
	/* a MAC frame claiming a 4 GiB body */
	static const uint8_t in[] = { 1, 0x20, 3, 0, 0, 0, 0, 0, 0, 0, 1, 'a',
	    0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff };
	struct mqe2e_frame f;

	(void)state;
	assert_int_equal(mqe2e_frame_decode(in, sizeof(in), &f), MQE2E_ERR_TOO_LONG);
}

/* ---- bundles ---------------------------------------------------------------------- */

static int
dec_bundle(const uint8_t *in, size_t len)
{
	struct mqe2e_bundle_entry *e = NULL;
	size_t n;
	int r = mqe2e_bundle_decode(in, len, &e, &n);

	free(e);
	return r;
}

static void
test_bundle(void **state)
{
	struct mqe2e_bundle_part parts[3] = {
		{ "bob", (const uint8_t *)"part-for-bob", 12 },
		{ "carol", (const uint8_t *)"carol!", 6 },
		{ "dave", (const uint8_t *)"", 0 },
	};
	struct mqe2e_bundle_entry *e = NULL;
	struct mqe2e_view v;
	uint8_t buf[128];
	size_t len, n;

	(void)state;
	assert_int_equal(mqe2e_bundle_build(parts, 3, buf, sizeof(buf), &len), MQE2E_OK);
	assert_int_equal(len, mqe2e_bundle_size(parts, 3));
	assert_int_equal(mqe2e_bundle_decode(buf, len, &e, &n), MQE2E_OK);
	assert_int_equal(n, 3);
	assert_true(mqe2e_view_eq_str(e[1].recipient, "carol"));
	assert_int_equal(e[1].part.len, 6);
	free(e);
	assert_int_equal(mqe2e_bundle_find(buf, len, "bob", &v), MQE2E_OK);
	assert_int_equal(v.len, 12);
	assert_memory_equal(v.p, "part-for-bob", 12);
	assert_int_equal(mqe2e_bundle_find(buf, len, "dave", &v), MQE2E_OK);
	assert_int_equal(v.len, 0);
	assert_int_equal(mqe2e_bundle_find(buf, len, "eve", &v), MQE2E_ERR_NOT_FOUND);
	battery(dec_bundle, buf, len, 1);

	/* duplicate recipients are rejected by both readers */
	parts[2].recipient = "bob";
	assert_int_equal(mqe2e_bundle_build(parts, 3, buf, sizeof(buf), &len), MQE2E_OK);
	assert_int_equal(mqe2e_bundle_decode(buf, len, &e, &n), MQE2E_ERR_BAD_FORMAT);
	assert_null(e);
	assert_int_equal(mqe2e_bundle_find(buf, len, "bob", &v), MQE2E_ERR_BAD_FORMAT);
	/* empty bundles cannot be built or read */
	assert_int_equal(mqe2e_bundle_size(parts, 0), 0);
	buf[2] = buf[3] = 0;
	assert_int_equal(mqe2e_bundle_decode(buf, 4, &e, &n), MQE2E_ERR_BAD_FORMAT);
	/* a count far beyond the bytes present */
	buf[2] = buf[3] = 0xff;
	assert_int_equal(mqe2e_bundle_decode(buf, 20, &e, &n), MQE2E_ERR_TRUNCATED);
}

static int
dec_keybundle(const uint8_t *in, size_t len)
{
	struct mqe2e_keybundle kb;
	int r = mqe2e_keybundle_decode(in, len, &kb);

	if (r != MQE2E_OK)
		assert_true(kb.groups == NULL && kb.keys == NULL && kb.ngroups == 0 &&
		    kb.nkeys == 0);
	mqe2e_keybundle_free(&kb);
	return r;
}

/* A two-group bundle: "x" (scheme 1, sub, "x/#") and "plant1" (scheme 3,
 * pub+sub, "plant/+/temp") with one GK_B key each. */
static void
keybundle_fixture(struct mqe2e_group_info g[2], struct mqe2e_key_entry k[2])
{
	memset(g, 0, 2 * sizeof(*g));
	memset(k, 0, 2 * sizeof(*k));
	memcpy(g[0].name, "x", 2);
	g[0].scheme = 1;
	g[0].rights = MQE2E_RIGHT_SUB;
	memcpy(g[0].filter, "x/#", 4);
	memcpy(g[1].name, "plant1", 7);
	g[1].scheme = 3;
	g[1].rights = MQE2E_RIGHT_PUB | MQE2E_RIGHT_SUB;
	memcpy(g[1].filter, "plant/+/temp", 13);
	memcpy(k[0].group, "plant1", 7);
	k[0].scheme = 3;
	k[0].kind = MQE2E_GK_B;
	k[0].epoch = 0xfffffffe;
	k[0].not_before_ms = 1;
	k[0].not_after_ms = UINT64_MAX;
	memset(k[0].key, 0xab, 32);
	k[1] = k[0];
	memset(k[1].group, 0, sizeof(k[1].group));
	memcpy(k[1].group, "x", 2);
	k[1].scheme = 1;
}

/* Offset of the first byte of the group table's first filter, and of the
 * key count, in the fixture's encoding. */
#define KB_G0_NAME 7                        /* "plant1" sorts first */
#define KB_KEYS (5 + (2 + 6 + 2 + 2 + 12) + (2 + 1 + 2 + 2 + 3))

static void
test_keybundle(void **state)
{
	struct mqe2e_group_info g[2];
	struct mqe2e_key_entry k[2];
	struct mqe2e_keybundle in = { g, 2, k, 2, 0 }, out;
	uint8_t *buf = NULL, *b2;
	size_t len;

	(void)state;
	keybundle_fixture(g, k);
	assert_int_equal(mqe2e_keybundle_encode(&in, &buf, &len), MQE2E_OK);
	assert_int_equal(buf[0], 2);
	assert_int_equal(buf[1], MQE2E_MSG_KEY_BUNDLE);
	assert_int_equal(buf[2], 0);            /* flags: no more groups */
	assert_int_equal(mqe2e_keybundle_decode(buf, len, &out), MQE2E_OK);
	/* the table comes back sorted by name, the keys in their order */
	assert_int_equal(out.ngroups, 2);
	assert_int_equal(out.flags, 0);
	assert_memory_equal(&out.groups[0], &g[1], sizeof(g[1]));
	assert_memory_equal(&out.groups[1], &g[0], sizeof(g[0]));
	assert_int_equal(out.nkeys, 2);
	assert_memory_equal(out.keys, k, sizeof(k));
	assert_ptr_equal(mqe2e_keybundle_group(&out, "x"), &out.groups[1]);
	assert_null(mqe2e_keybundle_group(&out, "y"));
	mqe2e_keybundle_free(&out);
	assert_null(out.groups);
	battery(dec_keybundle, buf, len, 1);

	b2 = malloc(len);
	assert_non_null(b2);
	/* the version-1 layout (no flags byte) is refused, not misread */
	memcpy(b2, buf, len);
	b2[0] = 1;
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_BAD_VERSION);
	/* flags: MORE reads back, unknown bits are refused */
	memcpy(b2, buf, len);
	b2[2] = MQE2E_KEYBUNDLE_MORE;
	assert_int_equal(mqe2e_keybundle_decode(b2, len, &out), MQE2E_OK);
	assert_int_equal(out.flags, MQE2E_KEYBUNDLE_MORE);
	mqe2e_keybundle_free(&out);
	b2[2] = 0x02;
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_BAD_FORMAT);
	/* counts are bounded by the bytes present and by the caps */
	memcpy(b2, buf, len);
	b2[3] = 0xff;
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_TOO_LONG);
	b2[3] = 0;
	b2[4] = 60;
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_TRUNCATED);
	memcpy(b2, buf, len);
	assert_int_equal(b2[KB_KEYS + 1], 2);
	b2[KB_KEYS] = 0xff;
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_TRUNCATED);
	/* names out of order (or repeated): "plant1" -> "z" sorts after "x" */
	memcpy(b2, buf, len);
	b2[KB_G0_NAME] = 'z';
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_BAD_FORMAT);
	/* a key of a group missing from the table ("x" -> "y") */
	memcpy(b2, buf, len);
	assert_int_equal(b2[len - 32 - 8 - 8 - 4 - 1 - 1], 'x');
	b2[len - 32 - 8 - 8 - 4 - 1 - 1] = 'y';
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_BAD_FORMAT);
	/* a bad filter ("plant/+/temp" -> "plant/+/te#p"), scheme, rights */
	memcpy(b2, buf, len);
	b2[5 + 2 + 6 + 2 + 2 + 10] = '#';
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_BAD_FORMAT);
	memcpy(b2, buf, len);
	b2[5 + 2 + 6] = 5;
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_BAD_FORMAT);
	memcpy(b2, buf, len);
	b2[5 + 2 + 6 + 1] = 4;
	assert_int_equal(dec_keybundle(b2, len), MQE2E_ERR_BAD_FORMAT);
	free(b2);
	mqe2e_free_secret(buf, len);

	/* invalid input is not encoded */
	k[1].kind = 3;
	assert_int_equal(mqe2e_keybundle_encode(&in, &buf, &len), MQE2E_ERR_INVALID_ARG);
	k[1].kind = 1;
	k[1].not_after_ms = 0;
	assert_int_equal(mqe2e_keybundle_encode(&in, &buf, &len), MQE2E_ERR_INVALID_ARG);
	keybundle_fixture(g, k);
	k[1].scheme = 2;                        /* not its group's scheme */
	assert_int_equal(mqe2e_keybundle_encode(&in, &buf, &len), MQE2E_ERR_INVALID_ARG);
	keybundle_fixture(g, k);
	memcpy(g[0].name, "plant1", 7);         /* the same name twice */
	assert_int_equal(mqe2e_keybundle_encode(&in, &buf, &len), MQE2E_ERR_INVALID_ARG);
	keybundle_fixture(g, k);
	memcpy(g[0].filter, "$SYS/#", 7);
	assert_int_equal(mqe2e_keybundle_encode(&in, &buf, &len), MQE2E_ERR_INVALID_ARG);
	keybundle_fixture(g, k);
	in.ngroups = 1;                         /* "x" is missing */
	assert_int_equal(mqe2e_keybundle_encode(&in, &buf, &len), MQE2E_ERR_INVALID_ARG);
	/* empty bundle */
	in.ngroups = in.nkeys = 0;
	assert_int_equal(mqe2e_keybundle_encode(&in, &buf, &len), MQE2E_OK);
	assert_int_equal(len, 7);
	assert_int_equal(mqe2e_keybundle_decode(buf, len, &out), MQE2E_OK);
	assert_int_equal(out.ngroups + out.nkeys, 0);
	mqe2e_free_secret(buf, len);
	/* the headerless bundle of earlier versions is refused */
	{
		static const uint8_t old[] = { 0x00, 0x00 };

		assert_int_equal(dec_keybundle(old, sizeof(old)), MQE2E_ERR_BAD_VERSION);
	}
}

/* ---- hello and reply decoders on real messages ------------------------------------- */

static uint8_t cur_type;

static int
dec_hello(const uint8_t *in, size_t len)
{
	struct mqe2e_hello h;

	return mqe2e_hello_decode(in, len, cur_type, &h);
}

static int
dec_reply(const uint8_t *in, size_t len)
{
	struct mqe2e_reply r;

	return mqe2e_reply_decode(in, len, cur_type, &r);
}

static void
test_hello_reply_decoders(void **state)
{
	EVP_PKEY *ca_key = tp_key(0xca);
	X509 *ca = tp_ca("mqe2e test CA", ca_key);
	struct mqe2e_trust *t = tp_trust(ca);
	struct mqe2e_identity *a = tp_identity("alice", "client", "a1", 0xa1, ca, ca_key);
	struct mqe2e_identity *b = tp_identity("bob", "client", "b1", 0xb1, ca, ca_key);
	struct mqe2e_identity *br = tp_identity("broker1", "broker", "c1", 0xc1, ca, ca_key);
	struct mqe2e_nonce_cache *nc = NULL;
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_keyreq *kst = NULL;
	struct mqe2e_keyreq_info *info = NULL;
	struct mqe2e_pair *pst = NULL;
	struct mqe2e_session_keys sk;
	struct mqe2e_pair_info pi;
	struct mqe2e_hello h;
	struct mqe2e_view g;
	const char *groups[] = { "g1", "g2", "g3" };
	const struct mqe2e_keyreq_want want[] = { { "g1", 0 }, { "g2", 7 } };
	uint8_t *m1 = NULL, *m2 = NULL, k[32];
	uint32_t epoch = 99;
	size_t l1, l2, off = 0;

	(void)state;
	assert_int_equal(mqe2e_nonce_cache_new(64, MQE2E_SKEW_MS_DEFAULT, &nc), MQE2E_OK);

	assert_int_equal(mqe2e_hs_client_start(a, NULL, TP_NOW_MS, &hs, &m1, &l1), MQE2E_OK);
	assert_int_equal(mqe2e_hs_server_accept(br, t, nc, NULL, m1, l1, "alice", TP_NOW_MS, &m2, &l2,
	    &sk, NULL), MQE2E_OK);
	cur_type = MQE2E_MSG_CONNECT_HELLO;
	battery(dec_hello, m1, l1, 1);
	cur_type = MQE2E_MSG_CONNACK_REPLY;
	battery(dec_reply, m2, l2, 1);
	assert_int_equal(dec_hello(m2, l2), MQE2E_ERR_INVALID_ARG);
	free(m1);
	free(m2);
	mqe2e_hs_client_free(hs);

	assert_int_equal(mqe2e_keyreq_build(a, groups, 3, TP_NOW_MS, &kst, &m1, &l1), MQE2E_OK);
	cur_type = MQE2E_MSG_KEY_REQUEST;
	battery(dec_hello, m1, l1, 1);
	assert_int_equal(mqe2e_hello_decode(m1, l1, MQE2E_MSG_KEY_REQUEST, &h), MQE2E_OK);
	assert_int_equal(h.ngroups, 3);
	assert_int_equal(h.after.len, 0);
	assert_int_equal(mqe2e_hello_next_group(&h, &off, &g, &epoch), MQE2E_OK);
	assert_true(mqe2e_view_eq_str(g, "g1"));
	assert_int_equal(epoch, 0);
	assert_int_equal(mqe2e_hello_next_group(&h, &off, &g, &epoch), MQE2E_OK);
	assert_int_equal(mqe2e_hello_next_group(&h, &off, &g, &epoch), MQE2E_OK);
	assert_true(mqe2e_view_eq_str(g, "g3"));
	assert_int_equal(mqe2e_hello_next_group(&h, &off, &g, &epoch), MQE2E_ERR_NOT_FOUND);
	assert_int_equal(mqe2e_keyreq_verify(t, nc, m1, l1, TP_NOW_MS, &info), MQE2E_OK);
	{
		struct mqe2e_keybundle empty = { NULL, 0, NULL, 0, 0 };

		assert_int_equal(mqe2e_keyresp_build(ca_key, info, &empty, TP_NOW_MS, &m2, &l2),
		    MQE2E_OK);
	}
	cur_type = MQE2E_MSG_KEY_RESPONSE;
	battery(dec_reply, m2, l2, 1);
	free(m1);
	free(m2);
	mqe2e_keyreq_free(kst);
	mqe2e_keyreq_info_free(info);

	/* version 2: an epoch per group and a paging cursor, both signed */
	assert_int_equal(mqe2e_keyreq_build_want(a, want, 2, "g0", TP_NOW_MS, &kst, &m1, &l1),
	    MQE2E_OK);
	assert_int_equal(m1[0], MQE2E_VERSION_KEY_REQUEST);
	cur_type = MQE2E_MSG_KEY_REQUEST;
	battery(dec_hello, m1, l1, 1);
	assert_int_equal(mqe2e_keyreq_verify(t, nc, m1, l1, TP_NOW_MS, &info), MQE2E_OK);
	assert_int_equal(info->ngroups, 2);
	assert_string_equal(info->groups[1], "g2");
	assert_int_equal(info->epochs[0], 0);
	assert_int_equal(info->epochs[1], 7);
	assert_string_equal(info->after, "g0");
	mqe2e_keyreq_info_free(info);
	/* a cursor that is not an id, a version-1 request */
	m1[l1 - 64 - 1] = ' ';
	assert_int_equal(mqe2e_hello_decode(m1, l1, MQE2E_MSG_KEY_REQUEST, &h),
	    MQE2E_ERR_BAD_FORMAT);
	m1[0] = 1;
	assert_int_equal(mqe2e_hello_decode(m1, l1, MQE2E_MSG_KEY_REQUEST, &h),
	    MQE2E_ERR_BAD_VERSION);
	free(m1);
	mqe2e_keyreq_free(kst);
	assert_int_equal(mqe2e_keyreq_build_want(a, want, 2, "bad name", TP_NOW_MS, &kst, &m1,
	    &l1), MQE2E_ERR_INVALID_ARG);
	assert_null(m1);

	assert_int_equal(mqe2e_pair_request_build(a, "bob", "g1", 1, TP_NOW_MS, &pst, &m1, &l1),
	    MQE2E_OK);
	cur_type = MQE2E_MSG_PAIR_REQUEST;
	battery(dec_hello, m1, l1, 1);
	assert_int_equal(mqe2e_pair_respond(b, t, nc, NULL, NULL, m1, l1, TP_NOW_MS, &m2, &l2, &pi, k),
	    MQE2E_OK);
	cur_type = MQE2E_MSG_PAIR_RESPONSE;
	battery(dec_reply, m2, l2, 1);
	free(m1);
	free(m2);
	mqe2e_pair_free(pst);

	mqe2e_nonce_cache_free(nc);
	mqe2e_identity_free(a);
	mqe2e_identity_free(b);
	mqe2e_identity_free(br);
	mqe2e_trust_free(t);
	mqe2e_cert_free(ca);
	mqe2e_pkey_free(ca_key);
}

static void
test_ids(void **state)
{
	char out[MQE2E_KEYNAME_MAX + 1], big[300];

	(void)state;
	assert_true(mqe2e_id_valid_str("a"));
	assert_true(mqe2e_id_valid_str("sensor-01/x~"));
	assert_false(mqe2e_id_valid_str(""));
	assert_false(mqe2e_id_valid_str("a b"));
	assert_false(mqe2e_id_valid_str("a|b"));
	assert_false(mqe2e_id_valid_str("caf\xc3\xa9"));
	assert_false(mqe2e_id_valid_str(NULL));
	memset(big, 'x', sizeof(big));
	big[255] = '\0';
	assert_true(mqe2e_id_valid_str(big));
	big[255] = 'x';
	big[256] = '\0';
	assert_false(mqe2e_id_valid_str(big));
	/* pair ids are scoped to a group: "PUB|SUB|GROUP" (PROTOCOL.md 1) */
	assert_true(mqe2e_keyname_valid((const uint8_t *)"a|b|c", 5));
	assert_false(mqe2e_keyname_valid((const uint8_t *)"a|b", 3));
	assert_false(mqe2e_keyname_valid((const uint8_t *)"a|b|c|d", 7));
	assert_false(mqe2e_keyname_valid((const uint8_t *)"|b|c", 4));
	assert_false(mqe2e_keyname_valid((const uint8_t *)"a||c", 4));
	assert_false(mqe2e_keyname_valid((const uint8_t *)"a|b|", 4));
	assert_int_equal(mqe2e_pair_id("pub", "sub", "g1", out, sizeof(out)), MQE2E_OK);
	assert_string_equal(out, "pub|sub|g1");
	assert_int_equal(mqe2e_pair_id("pub", "sub", "g1", out, 10), MQE2E_ERR_TOO_LONG);
	assert_int_equal(mqe2e_pair_id("pub", "sub", "g1", out, 11), MQE2E_OK);
	assert_int_equal(mqe2e_pair_id("p|b", "sub", "g1", out, sizeof(out)), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_pair_id("pub", "sub", "", out, sizeof(out)), MQE2E_ERR_INVALID_ARG);
	/* the longest pair id fits MQE2E_KEYNAME_MAX */
	big[255] = '\0';
	assert_int_equal(mqe2e_pair_id(big, big, big, out, sizeof(out)), MQE2E_OK);
	assert_true(mqe2e_keyname_valid((const uint8_t *)out, strlen(out)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_envelope_empty_and_pair),
		cmocka_unit_test(test_frame_mac),
		cmocka_unit_test(test_frame_aead),
		cmocka_unit_test(test_frame_oversized),
		cmocka_unit_test(test_bundle),
		cmocka_unit_test(test_keybundle),
		cmocka_unit_test(test_hello_reply_decoders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
