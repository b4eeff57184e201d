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

/* Keys kept in the entry (up to 48 bytes) and beside it, through growth,
 * eviction (the last entry moves into the freed slot) and forget; the
 * last-found hint never answers for another key. */
static void
test_table_keys(void **state)
{
	struct mqe2e_replay_table *t = NULL;
	char id[128];
	int i, n;

	(void)state;
	assert_int_equal(mqe2e_replay_table_new(64, &t), MQE2E_OK);
	/* senders of 1..60 bytes: keys of 10..69 bytes (sender 0 kind len name epoch) */
	for (n = 1; n <= 60; n++) {
		memset(id, 'a' + n % 26, (size_t)n);
		id[n] = '\0';
		id[0] = (char)('A' + n % 26);
		assert_int_equal(ACC(t, id, "g", 7, 1000 + (uint64_t)n), MQE2E_OK);
	}
	for (n = 1; n <= 60; n++) {
		memset(id, 'a' + n % 26, (size_t)n);
		id[n] = '\0';
		id[0] = (char)('A' + n % 26);
		assert_int_equal(CHK(t, id, "g", 7, 1000 + (uint64_t)n), MQE2E_ERR_REPLAY);
		assert_int_equal(CHK(t, id, "g", 8, 1000 + (uint64_t)n), MQE2E_OK);
		assert_int_equal(CHK(t, id, "g", 7, 1001 + (uint64_t)n), MQE2E_OK);
	}
	/* the same key but its last byte (the epoch), one after the other */
	assert_int_equal(ACC(t, "x", "g", 1, 50), MQE2E_OK);
	assert_int_equal(CHK(t, "x", "g", 2, 50), MQE2E_OK);
	assert_int_equal(ACC(t, "x", "g", 2, 50), MQE2E_OK);
	assert_int_equal(CHK(t, "x", "g", 1, 50), MQE2E_ERR_REPLAY);
	assert_int_equal(CHK(t, "x", "g", 3, 50), MQE2E_OK);
	/* churn: 64 slots, 200 senders with long and short keys; the last 32
	 * are remembered, each under its own window */
	for (i = 0; i < 200; i++) {
		n = snprintf(id, sizeof(id), "%0*d", i % 2 ? 60 : 3, i);
		assert_true(n > 0);
		assert_int_equal(ACC(t, id, "grp", 1, 10 + (uint64_t)i), MQE2E_OK);
		assert_int_equal(CHK(t, id, "grp", 1, 10 + (uint64_t)i), MQE2E_ERR_REPLAY);
	}
	for (i = 168; i < 200; i++) {
		(void)snprintf(id, sizeof(id), "%0*d", i % 2 ? 60 : 3, i);
		assert_int_equal(CHK(t, id, "grp", 1, 10 + (uint64_t)i), MQE2E_ERR_REPLAY);
		assert_int_equal(CHK(t, id, "grp", 1, 11 + (uint64_t)i), MQE2E_OK);
	}
	/* forget a long-keyed sender, then a short one */
	(void)snprintf(id, sizeof(id), "%0*d", 60, 199);
	mqe2e_replay_table_forget(t, (const uint8_t *)id, strlen(id));
	assert_int_equal(CHK(t, id, "grp", 1, 209), MQE2E_OK);
	(void)snprintf(id, sizeof(id), "%0*d", 3, 198);
	assert_int_equal(CHK(t, id, "grp", 1, 208), MQE2E_ERR_REPLAY);
	mqe2e_replay_table_forget(t, (const uint8_t *)id, strlen(id));
	assert_int_equal(CHK(t, id, "grp", 1, 208), MQE2E_OK);
	(void)snprintf(id, sizeof(id), "%0*d", 60, 197);
	assert_int_equal(CHK(t, id, "grp", 1, 207), MQE2E_ERR_REPLAY);
	mqe2e_replay_table_free(t);
}

#define CHKP(t, s, g, e, q, pos) mqe2e_replay_table_check_pos((t), (const uint8_t *)(s), \
    strlen(s), MQE2E_KEY_GROUP, (const uint8_t *)(g), strlen(g), (e), (q), (pos))
#define ACCP(t, pos, s, g, e, q) mqe2e_replay_table_accept_pos((t), (pos), \
    (const uint8_t *)(s), strlen(s), MQE2E_KEY_GROUP, (const uint8_t *)(g), strlen(g), (e), (q))

/* A check's position serves the accept of the same message; a position the
 * table moved past (an entry added or removed: entries move) is not used,
 * so it can never record a sequence number in another key's window. */
static void
test_table_pos(void **state)
{
	struct mqe2e_replay_table *t = NULL;
	struct mqe2e_replay_pos pos, old;
	char id[32];
	int i;

	(void)state;
	assert_int_equal(mqe2e_replay_table_new(4, &t), MQE2E_OK);
	/* a new sender: no entry found, the accept makes it */
	assert_int_equal(CHKP(t, "a", "g", 1, 10, &pos), MQE2E_OK);
	assert_true(pos.i == SIZE_MAX);
	assert_int_equal(ACCP(t, &pos, "a", "g", 1, 10), MQE2E_OK);
	assert_int_equal(CHK(t, "a", "g", 1, 10), MQE2E_ERR_REPLAY);
	/* found: the accept records in that entry; a replay is still refused by
	 * the check and by an accept through the same position */
	assert_int_equal(CHKP(t, "a", "g", 1, 11, &pos), MQE2E_OK);
	assert_true(pos.i != SIZE_MAX);
	assert_int_equal(ACCP(t, &pos, "a", "g", 1, 11), MQE2E_OK);
	assert_int_equal(CHKP(t, "a", "g", 1, 11, &pos), MQE2E_ERR_REPLAY);
	assert_int_equal(ACCP(t, &pos, "a", "g", 1, 11), MQE2E_ERR_REPLAY);
	assert_int_equal(ACCP(t, &pos, "a", "g", 1, 10), MQE2E_ERR_REPLAY);
	/* another accept between check and accept (the window moved): the
	 * window is checked again at the accept */
	assert_int_equal(CHKP(t, "a", "g", 1, 12, &pos), MQE2E_OK);
	assert_int_equal(ACC(t, "a", "g", 1, 12), MQE2E_OK);
	assert_int_equal(ACCP(t, &pos, "a", "g", 1, 12), MQE2E_ERR_REPLAY);
	/* a position taken before the table changed: "a" sits in slot 0; fill
	 * the table (4 slots) and evict "a", whose slot then holds another key */
	assert_int_equal(CHKP(t, "a", "g", 1, 13, &old), MQE2E_OK);
	for (i = 0; i < 4; i++) {
		(void)snprintf(id, sizeof(id), "s%d", i);
		assert_int_equal(ACC(t, id, "g", 1, 100), MQE2E_OK);
	}
	assert_int_equal(CHK(t, "s0", "g", 1, 100), MQE2E_ERR_REPLAY);
	assert_int_equal(CHK(t, "a", "g", 1, 12), MQE2E_OK);   /* "a" is gone */
	/* the stale position is not used: the accept finds "a" anew (a new
	 * window, evicting the oldest, s0), and no other window took 13 */
	assert_int_equal(ACCP(t, &old, "a", "g", 1, 13), MQE2E_OK);
	assert_int_equal(CHK(t, "a", "g", 1, 13), MQE2E_ERR_REPLAY);
	for (i = 1; i < 4; i++) {
		(void)snprintf(id, sizeof(id), "s%d", i);
		assert_int_equal(CHK(t, id, "g", 1, 13), MQE2E_OK);
		assert_int_equal(CHK(t, id, "g", 1, 100), MQE2E_ERR_REPLAY);
		assert_int_equal(CHK(t, id, "g", 1, 101), MQE2E_OK);
	}
	/* forget moves entries too */
	assert_int_equal(CHKP(t, "s3", "g", 1, 101, &pos), MQE2E_OK);
	mqe2e_replay_table_forget(t, (const uint8_t *)"s1", 2);
	assert_int_equal(ACCP(t, &pos, "s3", "g", 1, 101), MQE2E_OK);
	assert_int_equal(CHK(t, "s3", "g", 1, 101), MQE2E_ERR_REPLAY);
	assert_int_equal(CHK(t, "a", "g", 1, 101), MQE2E_OK);
	/* a NULL position is the plain accept */
	assert_int_equal(ACCP(t, NULL, "s2", "g", 1, 101), MQE2E_OK);
	assert_int_equal(CHK(t, "s2", "g", 1, 101), MQE2E_ERR_REPLAY);
	mqe2e_replay_table_free(t);
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
	/* fill to the cap and beyond: fail closed */
	for (i = 0; i < 11; i++) {
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

/* Issue 9.2: one owner flooding valid nonces cannot lock the others out;
 * timestamps far ahead are refused; replays cost the owner nothing. */
static void
test_nonce_cache_fair(void **state)
{
	struct mqe2e_nonce_cache *c = NULL;
	const uint8_t *mal = (const uint8_t *)"mallory", *alice = (const uint8_t *)"alice";
	uint8_t n[16];
	uint64_t now = 1767225600000ULL;
	uint32_t i, ok = 0, quota = 0;

	(void)state;
	assert_int_equal(mqe2e_nonce_cache_new(64, 1000, &c), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_set_limits(c, 1001, 4), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_nonce_cache_set_limits(c, 100, 65), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_nonce_cache_set_limits(c, 100, 4), MQE2E_OK);
	/* future allowance: 100 ms ahead yes, 101 no (the past keeps its skew) */
	memset(n, 1, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, alice, 5, n, now + 101, now),
	    MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, alice, 5, n, now + 100, now), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, alice, 5, n, now, now),
	    MQE2E_ERR_NONCE_REUSE);
	memset(n, 2, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, alice, 5, n, now - 1000, now), MQE2E_OK);
	/* mallory floods: four pass, then QUOTA; the cache never fills */
	for (i = 0; i < 1000; i++) {
		int r;

		memset(n, 0, sizeof(n));
		memcpy(n, &i, sizeof(i));
		n[15] = 0x4d;
		r = mqe2e_nonce_cache_add_owned(c, mal, 7, n, now, now);
		assert_true(r == MQE2E_OK || r == MQE2E_ERR_QUOTA);
		ok += r == MQE2E_OK;
		quota += r == MQE2E_ERR_QUOTA;
	}
	assert_int_equal(ok, 4);
	assert_int_equal(quota, 996);
	/* alice is not affected */
	memset(n, 3, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, alice, 5, n, now, now), MQE2E_OK);
	/* the bucket refills over one lifetime (skew + future = 1100 ms) */
	memset(n, 4, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, mal, 7, n, now + 200, now + 200),
	    MQE2E_ERR_QUOTA);
	assert_int_equal(mqe2e_nonce_cache_add_owned(c, mal, 7, n, now + 300, now + 300), MQE2E_OK);
	/* a flood over a long time never holds more than 2 * quota live */
	for (i = 0, ok = 0; i < 20000; i++) {
		memset(n, 0, sizeof(n));
		memcpy(n, &i, sizeof(i));
		n[15] = 0x5e;
		ok += mqe2e_nonce_cache_add_owned(c, mal, 7, n, now + 2000 + i, now + 2000 + i) ==
		    MQE2E_OK;
	}
	assert_true(ok <= 4 * (20000 / 1100 + 2));
	/* unowned adds are not charged (the old API) */
	memset(n, 5, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_add(c, n, now + 30000, now + 30000), MQE2E_OK);
	mqe2e_nonce_cache_free(c);
}

/* The KMS's order: check the time and look for a replay (nothing stored),
 * charge the owner before the expensive work, record uncharged later. */
static void
test_nonce_cache_charge(void **state)
{
	struct mqe2e_nonce_cache *c = NULL;
	const uint8_t *mal = (const uint8_t *)"mallory", *alice = (const uint8_t *)"alice";
	uint8_t n[16];
	uint64_t now = 1767225600000ULL;
	uint32_t i, retry = 0;

	(void)state;
	assert_int_equal(mqe2e_nonce_cache_new(64, 1000, &c), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_set_limits(c, 100, 4), MQE2E_OK);
	/* the window: 1000 ms behind, 100 ms ahead */
	assert_int_equal(mqe2e_nonce_cache_check_time(c, now - 1000, now), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_check_time(c, now - 1001, now), MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(mqe2e_nonce_cache_check_time(c, now + 100, now), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_check_time(c, now + 101, now), MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(mqe2e_nonce_cache_check_time(NULL, now + 101, now), MQE2E_OK);
	/* charges: four, then QUOTA with the time until the next one; they
	 * store no nonce and cost alice nothing */
	for (i = 0; i < 4; i++)
		assert_int_equal(mqe2e_nonce_cache_charge(c, mal, 7, now, &retry), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_charge(c, mal, 7, now, &retry), MQE2E_ERR_QUOTA);
	/* one share = one lifetime (1101 ms) of refill at 4 per lifetime */
	assert_true(retry >= 275 && retry <= 276);
	assert_int_equal(mqe2e_nonce_cache_charge(c, mal, 7, now + retry - 1, NULL),
	    MQE2E_ERR_QUOTA);
	assert_int_equal(mqe2e_nonce_cache_charge(c, mal, 7, now + retry, NULL), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_charge(c, alice, 5, now, &retry), MQE2E_OK);
	assert_int_equal(retry, 0);
	assert_int_equal(mqe2e_nonce_cache_charge(c, NULL, 0, now, &retry), MQE2E_OK);
	/* seen: only what was recorded, while live */
	memset(n, 9, sizeof(n));
	assert_int_equal(mqe2e_nonce_cache_seen(c, n, now), 0);
	assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_seen(c, n, now + 1000), 1);
	assert_int_equal(mqe2e_nonce_cache_seen(c, n, now + 1001), 0);
	assert_int_equal(mqe2e_nonce_cache_seen(NULL, n, now), 0);
	mqe2e_nonce_cache_free(c);
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
		cmocka_unit_test(test_table_keys),
		cmocka_unit_test(test_table_pos),
		cmocka_unit_test(test_nonce_cache),
		cmocka_unit_test(test_nonce_cache_fair),
		cmocka_unit_test(test_nonce_cache_charge),
		cmocka_unit_test(test_skew),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
