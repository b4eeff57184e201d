/*
 * test_replay.c - replay windows, the window table and the nonce cache
 * (core/replay.c).
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

#include "replay.h"
#include "wire.h"

static void
test_window_edges(void **state)
{
	struct mqe2e_replay_window w;
	uint64_t i;

	(void)state;
	mqe2e_replay_init(&w);
	/* first message: anything, including 0 */
	assert_int_equal(mqe2e_replay_check(&w, 0), MQE2E_OK);
	assert_int_equal(mqe2e_replay_accept(&w, 1000), MQE2E_OK);
	/* duplicate */
	assert_int_equal(mqe2e_replay_check(&w, 1000), MQE2E_ERR_REPLAY);
	assert_int_equal(mqe2e_replay_accept(&w, 1000), MQE2E_ERR_REPLAY);
	/* in-window, out of order */
	assert_int_equal(mqe2e_replay_accept(&w, 1003), MQE2E_OK);
	assert_int_equal(mqe2e_replay_accept(&w, 1001), MQE2E_OK);
	assert_int_equal(mqe2e_replay_accept(&w, 1002), MQE2E_OK);
	assert_int_equal(mqe2e_replay_accept(&w, 1002), MQE2E_ERR_REPLAY);
	/* the oldest slot of the window and just outside it */
	assert_int_equal(mqe2e_replay_accept(&w, 1003 + 200), MQE2E_OK);
	assert_int_equal(mqe2e_replay_check(&w, 1203 - 127), MQE2E_OK);
	assert_int_equal(mqe2e_replay_check(&w, 1203 - 128), MQE2E_ERR_REPLAY);
	assert_int_equal(mqe2e_replay_accept(&w, 1203 - 127), MQE2E_OK);
	assert_int_equal(mqe2e_replay_accept(&w, 1203 - 127), MQE2E_ERR_REPLAY);
	/* a big jump forgets everything older */
	assert_int_equal(mqe2e_replay_accept(&w, 1ULL << 40), MQE2E_OK);
	assert_int_equal(mqe2e_replay_check(&w, 1203), MQE2E_ERR_REPLAY);
	assert_int_equal(mqe2e_replay_check(&w, (1ULL << 40) - 1), MQE2E_OK);
	/* u64 near the maximum */
	assert_int_equal(mqe2e_replay_accept(&w, UINT64_MAX - 1), MQE2E_OK);
	assert_int_equal(mqe2e_replay_accept(&w, UINT64_MAX), MQE2E_OK);
	assert_int_equal(mqe2e_replay_accept(&w, UINT64_MAX), MQE2E_ERR_REPLAY);
	assert_int_equal(mqe2e_replay_accept(&w, UINT64_MAX - 1), MQE2E_ERR_REPLAY);
	assert_int_equal(mqe2e_replay_accept(&w, UINT64_MAX - 2), MQE2E_OK);
	assert_int_equal(mqe2e_replay_check(&w, UINT64_MAX - 128), MQE2E_ERR_REPLAY);
	assert_int_equal(mqe2e_replay_check(&w, 0), MQE2E_ERR_REPLAY);

	/* a window across the 64-bit word boundary: every shift distance */
	for (i = 1; i < 140; i++) {
		uint64_t j;

		mqe2e_replay_init(&w);
		assert_int_equal(mqe2e_replay_accept(&w, 500), MQE2E_OK);
		assert_int_equal(mqe2e_replay_accept(&w, 500 + i), MQE2E_OK);
		assert_int_equal(mqe2e_replay_check(&w, 500),
		    i < MQE2E_REPLAY_WINDOW ? MQE2E_ERR_REPLAY : MQE2E_ERR_REPLAY);
		for (j = 1; j < i && j < MQE2E_REPLAY_WINDOW; j++)
			assert_int_equal(mqe2e_replay_check(&w, 500 + i - j),
			    500 + i - j == 500 ? MQE2E_ERR_REPLAY : MQE2E_OK);
	}
}

static void
test_window_sequential(void **state)
{
	struct mqe2e_replay_window w;
	uint64_t s = mqe2e_seq_start(), i;

	(void)state;
	assert_true(s > 1700000000ULL * 1000000ULL);
	mqe2e_replay_init(&w);
	for (i = 0; i < 1000; i++)
		assert_int_equal(mqe2e_replay_accept(&w, s + i), MQE2E_OK);
	for (i = 0; i < 1000; i++)
		assert_int_equal(mqe2e_replay_check(&w, s + i), MQE2E_ERR_REPLAY);
}

#define ACC(t, s, n, e, q) mqe2e_replay_table_accept((t), (const uint8_t *)(s), strlen(s), \
	MQE2E_KEY_GROUP, (const uint8_t *)(n), strlen(n), (e), (q))
#define CHK(t, s, n, e, q) mqe2e_replay_table_check((t), (const uint8_t *)(s), strlen(s), \
	MQE2E_KEY_GROUP, (const uint8_t *)(n), strlen(n), (e), (q))

static void
test_table(void **state)
{
	struct mqe2e_replay_table *t = NULL;
	char name[32];
	int i;

	(void)state;
	assert_int_equal(mqe2e_replay_table_new(0, &t), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_replay_table_new(4, &t), MQE2E_OK);
	assert_int_equal(CHK(t, "alice", "g", 1, 5), MQE2E_OK);
	assert_int_equal(ACC(t, "alice", "g", 1, 5), MQE2E_OK);
	assert_int_equal(CHK(t, "alice", "g", 1, 5), MQE2E_ERR_REPLAY);
	/* other sender, other epoch, other group: separate windows */
	assert_int_equal(ACC(t, "bob", "g", 1, 5), MQE2E_OK);
	assert_int_equal(ACC(t, "alice", "g", 2, 5), MQE2E_OK);
	assert_int_equal(ACC(t, "alice", "h", 1, 5), MQE2E_OK);
	/* the separator keeps ("ab","c") and ("a","bc") apart */
	assert_int_equal(mqe2e_replay_table_accept(t, (const uint8_t *)"ab", 2, 1,
	    (const uint8_t *)"c", 1, 0, 1), MQE2E_OK);
	assert_int_equal(mqe2e_replay_table_check(t, (const uint8_t *)"a", 1, 1,
	    (const uint8_t *)"bc", 1, 0, 1), MQE2E_OK);
	/* table full (4): the least recently used entry was evicted */
	assert_int_equal(CHK(t, "alice", "g", 1, 5), MQE2E_OK);
	assert_int_equal(CHK(t, "alice", "h", 1, 5), MQE2E_ERR_REPLAY);
	/* churn through many keys, then forget one sender */
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(ACC(t, name, "g", 1, 1), MQE2E_OK);
		assert_int_equal(ACC(t, name, "g", 1, 1), MQE2E_ERR_REPLAY);
	}
	assert_int_equal(ACC(t, "s99", "h", 1, 1), MQE2E_OK);
	mqe2e_replay_table_forget(t, (const uint8_t *)"s99", 3);
	assert_int_equal(CHK(t, "s99", "g", 1, 1), MQE2E_OK);
	assert_int_equal(CHK(t, "s98", "g", 1, 1), MQE2E_ERR_REPLAY);
	mqe2e_replay_table_free(t);
	mqe2e_replay_table_free(NULL);
}

static void
test_nonce_cache(void **state)
{
	struct mqe2e_nonce_cache *c = NULL;
	uint8_t n[16];
	uint64_t now = 1767225600000ULL;
	uint32_t i;

	(void)state;
	assert_int_equal(mqe2e_nonce_cache_new(8, 1000, &c), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_skew(c), 1000);
	memset(n, 7, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now + 500), MQE2E_ERR_NONCE_REUSE);
	assert_int_equal(mqe2e_nonce_cache_add(c, n, now - 1001, now), MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(mqe2e_nonce_cache_add(c, n, now + 1001, now), MQE2E_ERR_CLOCK_SKEW);
	/* once the timestamp is out of the window the nonce may be forgotten:
	 * a replay is then stopped by the timestamp check */
	assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now + 1001), MQE2E_ERR_CLOCK_SKEW);
	/* fill to the cap (8 live nonces) and beyond: fail closed */
	for (i = 0; i < 7; i++) {
		memset(n, 0, sizeof(n));
		memcpy(n, &i, sizeof(i));
		assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now), MQE2E_OK);
	}
	memset(n, 0xee, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now), MQE2E_ERR_UNAVAILABLE);
	/* after the window everything expired: room again, for a long time */
	for (i = 0; i < 10000; i++) {
		memset(n, 0, sizeof(n));
		memcpy(n, &i, sizeof(i));
		n[15] = 1;
		assert_int_equal(mqe2e_nonce_cache_add(c, n, now + 2000 + i * 300,
		    now + 2000 + i * 300), MQE2E_OK);
	}
	mqe2e_nonce_cache_free(c);
	mqe2e_nonce_cache_free(NULL);
}

/* Owners: a quota each, a window that leads by little, a token bucket. */
static void
test_nonce_owners(void **state)
{
	struct mqe2e_nonce_limits lim = { 120000, 5000, 4, 3, 2, 3 };
	struct mqe2e_nonce_cache *c = NULL;
	const uint8_t *mallory = (const uint8_t *)"mallory", *alice = (const uint8_t *)"alice";
	uint8_t n[16];
	uint64_t now = 1767225600000ULL;
	uint32_t i, retry = 0;

	(void)state;
	assert_int_equal(mqe2e_nonce_cache_new_ex(&lim, &c), MQE2E_OK);
	/* the window: 120 s behind, only 5 s ahead */
	memset(n, 1, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_check_time(c, now - 120000, now), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_check_time(c, now - 120001, now), MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(mqe2e_nonce_cache_check_time(c, now + 5000, now), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_check_time(c, now + 5001, now), MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, mallory, 7, n, now + 6000, now),
	    MQE2E_ERR_CLOCK_SKEW);
	/* mallory fills her quota of 4 and is refused (BUSY) ... */
	for (i = 0; i < 4; i++) {
		memset(n, 0, sizeof(n));
		memcpy(n, &i, sizeof(i));
		assert_int_equal(mqe2e_nonce_cache_add_owned(c, mallory, 7, n, now + 5000, now),
		    MQE2E_OK);
	}
	memset(n, 0xee, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, mallory, 7, n, now, now), MQE2E_ERR_BUSY);
	/* ... while alice, and an empty owner id, still get in, and the same
	 * nonce is a different one under another owner */
	memset(n, 0, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, alice, 5, n, now, now), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, alice, 5, n, now, now),
	    MQE2E_ERR_NONCE_REUSE);
	assert_int_equal(mqe2e_nonce_cache_seen(c, alice, 5, n, now), 1);
	assert_int_equal(mqe2e_nonce_cache_seen(c, alice, 4, n, now), 0);
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, NULL, 0, n, now, now), MQE2E_OK);
	/* three owners are busy: a fourth finds no slot (fail closed) */
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, (const uint8_t *)"bob", 3, n, now, now),
	    MQE2E_ERR_UNAVAILABLE);
	/* mallory's future-dated nonces live until ts + past: not before */
	memset(n, 0xee, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, mallory, 7, n, now + 125000,
	    now + 125000), MQE2E_ERR_BUSY);
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, mallory, 7, n, now + 125001,
	    now + 125001), MQE2E_OK);
	/* once the others are idle, their slots serve new owners */
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, (const uint8_t *)"bob", 3, n,
	    now + 125001, now + 125001), MQE2E_OK);
	/* the bucket: burst 3, then one token every 500 ms (2/s) */
	for (i = 0; i < 3; i++)
		assert_int_equal(mqe2e_nonce_cache_charge(c, alice, 5, now + 200000, &retry),
		    MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_charge(c, alice, 5, now + 200000, &retry),
	    MQE2E_ERR_BUSY);
	assert_true(retry > 400 && retry <= 501);
	assert_int_equal(mqe2e_nonce_cache_charge(c, alice, 5, now + 200501, &retry), MQE2E_OK);
	/* a charge by one owner costs another nothing */
	assert_int_equal(mqe2e_nonce_cache_charge(c, (const uint8_t *)"bob", 3, now + 200501,
	    &retry), MQE2E_OK);
	mqe2e_nonce_cache_free(c);
	/* bad arguments */
	lim.per_owner = 0;
	assert_int_equal(mqe2e_nonce_cache_new_ex(&lim, &c), MQE2E_ERR_INVALID_ARG);
	assert_null(c);
}

static void
test_skew(void **state)
{
	(void)state;
	assert_int_equal(mqe2e_check_skew(1000, 1000, 0), MQE2E_OK);
	assert_int_equal(mqe2e_check_skew(0, UINT64_MAX, 120000), MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(mqe2e_check_skew(UINT64_MAX, 0, 120000), MQE2E_ERR_CLOCK_SKEW);
	assert_true(mqe2e_now_ms() > 1700000000000ULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_edges),
		cmocka_unit_test(test_window_sequential),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_nonce_cache),
		cmocka_unit_test(test_nonce_owners),
		cmocka_unit_test(test_skew),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
