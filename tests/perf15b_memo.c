/*
 * perf15b_memo.c - client/memo.c, the group-key checks a process makes once
 * for all its clients (issue 15), used the way the receive path uses it,
 * with real frames, envelopes and keys of core/:
 *   - a second client with the same key gets the first one's verdict and
 *     plaintext without a MAC or AEAD computation;
 *   - a client holding another key for the group, a copy with one byte
 *     altered, the same bytes on another topic, and a frame that failed
 *     are all checked in full, and fail: the memo never vouches for
 *     anything the check itself would refuse;
 *   - after memo__wipe nothing is answered.
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

#include "client_int.h"

#define TOPIC "plant/line1/temp"

struct world {
	uint8_t kb[MQE2E_KEY_LEN];      /* GK_B, held by both clients */
	uint8_t kp[MQE2E_KEY_LEN];      /* GK_P */
	uint8_t other[MQE2E_KEY_LEN];   /* a key some other client holds */
	uint8_t env[512];
	size_t env_len;
	uint8_t frame[1024];
	size_t frame_len;
	uint8_t frame2[1024];           /* the next frame: the same envelope, seq + 1 */
	size_t frame2_len;
};

static void
make(struct world *w)
{
	struct mqe2e_envelope_params ep;
	struct mqe2e_frame_params fp;
	struct mqe2e_aead *ap = NULL;
	struct mqe2e_mac *mb = NULL;
	static const uint8_t pt[] = "21.5 C at 12:00";

	memset(w, 0, sizeof(*w));
	assert_int_equal(mqe2e_random(w->kb, sizeof(w->kb)), MQE2E_OK);
	assert_int_equal(mqe2e_random(w->kp, sizeof(w->kp)), MQE2E_OK);
	assert_int_equal(mqe2e_random(w->other, sizeof(w->other)), MQE2E_OK);
	assert_int_equal(mqe2e_aead_new(w->kp, &ap), MQE2E_OK);
	assert_int_equal(mqe2e_mac_new(w->kb, sizeof(w->kb), &mb), MQE2E_OK);
	memset(&ep, 0, sizeof(ep));
	ep.scheme = MQE2E_SCHEME_4;
	ep.key_kind = MQE2E_KEY_GROUP;
	ep.key_name = "g1";
	ep.epoch = 3;
	ep.sender = "pub1";
	ep.seq = 1000;
	assert_int_equal(mqe2e_envelope_seal(ap, &ep, TOPIC, strlen(TOPIC), pt, sizeof(pt),
	    w->env, sizeof(w->env), &w->env_len), MQE2E_OK);
	memset(&fp, 0, sizeof(fp));
	fp.key_kind = MQE2E_KEY_GROUP;
	fp.key_name = "g1";
	fp.epoch = 3;
	fp.sender = "broker1";
	fp.seq = 2000;
	assert_int_equal(mqe2e_frame_mac_build(mb, &fp, TOPIC, strlen(TOPIC), w->env,
	    w->env_len, w->frame, sizeof(w->frame), &w->frame_len), MQE2E_OK);
	fp.seq = 2001;
	assert_int_equal(mqe2e_frame_mac_build(mb, &fp, TOPIC, strlen(TOPIC), w->env,
	    w->env_len, w->frame2, sizeof(w->frame2), &w->frame2_len), MQE2E_OK);
	mqe2e_aead_free(ap);
	mqe2e_mac_free(mb);
}

/* The receive path's frame check (subscribe.c open_message): memo first,
 * else the MAC under the client's own key, remembered if it passed.  *full
 * counts the MAC computations. */
static int
check_frame(const uint8_t *key, const uint8_t *in, size_t len, const char *topic, int *full)
{
	struct memo_q q = { MEMO_FRAME_MAC, key, topic, strlen(topic), in, len };
	struct mqe2e_frame f;
	struct mqe2e_mac *m = NULL;
	int r;

	if (memo__get(&q, NULL, 0))
		return MQE2E_OK;
	(*full)++;
	if ((r = mqe2e_frame_decode(in, len, &f)) != MQE2E_OK)
		return r;
	assert_int_equal(mqe2e_mac_new(key, MQE2E_KEY_LEN, &m), MQE2E_OK);
	r = mqe2e_frame_mac_verify(m, &f, topic, strlen(topic));
	mqe2e_mac_free(m);
	if (r == MQE2E_OK)
		memo__put(&q, NULL, 0);
	return r;
}

/* The envelope open (subscribe.c open_envelope), likewise. */
static int
open_env(const uint8_t *key, const uint8_t *in, size_t len, const char *topic, uint8_t *pt,
    size_t *pt_len, int *full)
{
	struct memo_q q = { MEMO_ENVELOPE, key, topic, strlen(topic), in, len };
	struct mqe2e_envelope env;
	struct mqe2e_aead *a = NULL;
	int r;

	if ((r = mqe2e_envelope_decode(in, len, &env)) != MQE2E_OK)
		return r;
	*pt_len = env.ct.len - MQE2E_GCM_TAG_LEN;
	if (memo__get(&q, pt, *pt_len))
		return MQE2E_OK;
	(*full)++;
	assert_int_equal(mqe2e_aead_new(key, &a), MQE2E_OK);
	r = mqe2e_envelope_open(a, &env, topic, strlen(topic), pt);
	mqe2e_aead_free(a);
	if (r == MQE2E_OK)
		memo__put(&q, pt, *pt_len);
	return r;
}

static void
test_same_bytes_same_key_once(void **state)
{
	struct world w;
	uint8_t pt1[256], pt2[256];
	size_t n1 = 0, n2 = 0;
	int full = 0, i;

	(void)state;
	make(&w);
	memo__wipe();
	/* 200 clients of one process receive the same frame */
	for (i = 0; i < 200; i++)
		assert_int_equal(check_frame(w.kb, w.frame, w.frame_len, TOPIC, &full), MQE2E_OK);
	assert_int_equal(full, 1);
	full = 0;
	assert_int_equal(open_env(w.kp, w.env, w.env_len, TOPIC, pt1, &n1, &full), MQE2E_OK);
	assert_int_equal(open_env(w.kp, w.env, w.env_len, TOPIC, pt2, &n2, &full), MQE2E_OK);
	assert_int_equal(full, 1);
	assert_int_equal(n1, n2);
	assert_memory_equal(pt1, pt2, n1);
	assert_string_equal((const char *)pt2, "21.5 C at 12:00");
	memo__wipe();
}

/* Copies of two messages reaching the clients interleaved (a saturated
 * subscriber process reads its sockets as they become ready) are each
 * checked once, not once per switch between them (session 9: the memo kept
 * only the last success, and 400 checks were made here). */
static void
test_interleaved_messages_once(void **state)
{
	struct world w;
	int full = 0, i;

	(void)state;
	make(&w);
	memo__wipe();
	for (i = 0; i < 200; i++) {
		assert_int_equal(check_frame(w.kb, w.frame, w.frame_len, TOPIC, &full), MQE2E_OK);
		assert_int_equal(check_frame(w.kb, w.frame2, w.frame2_len, TOPIC, &full),
		    MQE2E_OK);
	}
	assert_int_equal(full, 2);
	/* and each is still refused under another key */
	assert_int_equal(check_frame(w.other, w.frame2, w.frame2_len, TOPIC, &full),
	    MQE2E_ERR_BAD_TAG);
	assert_int_equal(full, 3);
	memo__wipe();
}

/* A client that holds another key is not told "valid" by the memo: its
 * own check runs and fails, for the frame and for the envelope. */
static void
test_other_key_checked_in_full(void **state)
{
	struct world w;
	uint8_t pt[256];
	size_t n = 0;
	int full = 0;

	(void)state;
	make(&w);
	memo__wipe();
	assert_int_equal(check_frame(w.kb, w.frame, w.frame_len, TOPIC, &full), MQE2E_OK);
	assert_int_equal(check_frame(w.other, w.frame, w.frame_len, TOPIC, &full),
	    MQE2E_ERR_BAD_TAG);
	assert_int_equal(full, 2);
	full = 0;
	assert_int_equal(open_env(w.kp, w.env, w.env_len, TOPIC, pt, &n, &full), MQE2E_OK);
	memset(pt, 0, sizeof(pt));
	assert_int_not_equal(open_env(w.other, w.env, w.env_len, TOPIC, pt, &n, &full),
	    MQE2E_OK);
	assert_int_equal(full, 2);
	memo__wipe();
}

/* An altered copy (every byte position in turn), the same frame on another
 * topic, and the genuine frame again after a failure. */
static void
test_altered_or_moved_copies_fail(void **state)
{
	struct world w;
	uint8_t bad[1024];
	size_t i;
	int full = 0, r;

	(void)state;
	make(&w);
	memo__wipe();
	assert_int_equal(check_frame(w.kb, w.frame, w.frame_len, TOPIC, &full), MQE2E_OK);
	for (i = 0; i < w.frame_len; i++) {
		memcpy(bad, w.frame, w.frame_len);
		bad[i] ^= 0x01;
		full = 0;
		r = check_frame(w.kb, bad, w.frame_len, TOPIC, &full);
		assert_int_not_equal(r, MQE2E_OK);
		assert_int_equal(full, 1);
		/* a failure is not remembered, and does not evict the genuine one */
		full = 0;
		assert_int_not_equal(check_frame(w.kb, bad, w.frame_len, TOPIC, &full), MQE2E_OK);
		assert_int_equal(full, 1);
	}
	full = 0;
	assert_int_equal(check_frame(w.kb, w.frame, w.frame_len, TOPIC, &full), MQE2E_OK);
	assert_int_equal(full, 0);
	/* one byte shorter: not the same input */
	assert_int_not_equal(check_frame(w.kb, w.frame, w.frame_len - 1, TOPIC, &full),
	    MQE2E_OK);
	assert_int_equal(full, 1);
	full = 0;
	assert_int_equal(check_frame(w.kb, w.frame, w.frame_len, "plant/line2/temp", &full),
	    MQE2E_ERR_BAD_TAG);
	assert_int_equal(full, 1);
	memo__wipe();
}

static void
test_wipe_forgets(void **state)
{
	struct world w;
	int full = 0;

	(void)state;
	make(&w);
	memo__wipe();
	assert_int_equal(check_frame(w.kb, w.frame, w.frame_len, TOPIC, &full), MQE2E_OK);
	memo__wipe();
	assert_int_equal(check_frame(w.kb, w.frame, w.frame_len, TOPIC, &full), MQE2E_OK);
	assert_int_equal(full, 2);
	memo__wipe();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes_same_key_once),
		cmocka_unit_test(test_interleaved_messages_once),
		cmocka_unit_test(test_other_key_checked_in_full),
		cmocka_unit_test(test_altered_or_moved_copies_fail),
		cmocka_unit_test(test_wipe_forgets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
