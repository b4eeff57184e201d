/*
 * perf15_replay.c - the replay tables and nonce caches of core/replay.c
 * grow with what is stored (issue 15: a broker's nonce cache has room for
 * 65536 nonces and used to be allocated for them at start): everything
 * stored across the growth steps is still found, and the capacity limits
 * hold as before.
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

static const uint8_t group[] = "g1";

static void
sender_of(uint32_t i, char *out, size_t len)
{
	snprintf(out, len, "sender-%u", (unsigned)i);
}

/* cap entries made one by one (the table doubles from 16 up to cap): each
 * keeps its window; the next one evicts the least recently used. */
static void
test_table_grows(void **state)
{
	struct mqe2e_replay_table *t = NULL;
	char id[32];
	uint32_t i, cap = 3000;

	(void)state;
	assert_int_equal(mqe2e_replay_table_new(cap, &t), MQE2E_OK);
	for (i = 0; i < cap; i++) {
		sender_of(i, id, sizeof(id));
		assert_int_equal(mqe2e_replay_table_accept(t, (const uint8_t *)id, strlen(id),
		    MQE2E_KEY_GROUP, group, 2, 1, 100), MQE2E_OK);
	}
	for (i = 0; i < cap; i++) {
		sender_of(i, id, sizeof(id));
		assert_int_equal(mqe2e_replay_table_check(t, (const uint8_t *)id, strlen(id),
		    MQE2E_KEY_GROUP, group, 2, 1, 100), MQE2E_ERR_REPLAY);
		/* every one but sender-0 is used again: sender-0 becomes the oldest */
		if (i > 0)
			assert_int_equal(mqe2e_replay_table_accept(t, (const uint8_t *)id,
			    strlen(id), MQE2E_KEY_GROUP, group, 2, 1, 101), MQE2E_OK);
	}
	sender_of(cap, id, sizeof(id));
	assert_int_equal(mqe2e_replay_table_accept(t, (const uint8_t *)id, strlen(id),
	    MQE2E_KEY_GROUP, group, 2, 1, 100), MQE2E_OK);
	sender_of(0, id, sizeof(id));
	assert_int_equal(mqe2e_replay_table_check(t, (const uint8_t *)id, strlen(id),
	    MQE2E_KEY_GROUP, group, 2, 1, 100), MQE2E_OK);     /* forgotten */
	sender_of(1, id, sizeof(id));
	assert_int_equal(mqe2e_replay_table_check(t, (const uint8_t *)id, strlen(id),
	    MQE2E_KEY_GROUP, group, 2, 1, 101), MQE2E_ERR_REPLAY);
	mqe2e_replay_table_free(t);
}

/* Keys longer than the lookup's stack buffer take the heap path. */
static void
test_table_long_key(void **state)
{
	struct mqe2e_replay_table *t = NULL;
	uint8_t name[2000];

	(void)state;
	memset(name, 'n', sizeof(name));
	assert_int_equal(mqe2e_replay_table_new(4, &t), MQE2E_OK);
	assert_int_equal(mqe2e_replay_table_accept(t, (const uint8_t *)"s", 1, MQE2E_KEY_GROUP,
	    name, sizeof(name), 7, 5), MQE2E_OK);
	assert_int_equal(mqe2e_replay_table_check(t, (const uint8_t *)"s", 1, MQE2E_KEY_GROUP,
	    name, sizeof(name), 7, 5), MQE2E_ERR_REPLAY);
	assert_int_equal(mqe2e_replay_table_check(t, (const uint8_t *)"s", 1, MQE2E_KEY_GROUP,
	    name, sizeof(name) - 1, 7, 5), MQE2E_OK);
	mqe2e_replay_table_free(t);
}

static void
nonce_of(uint32_t i, uint8_t n[16])
{
	memset(n, 0xa5, 16);
	memcpy(n, &i, sizeof(i));
}

/* A cache for 65536 nonces holds 20000 live ones made one by one (grown
 * from 256 slots); each is a replay afterwards. */
static void
test_nonce_cache_grows(void **state)
{
	struct mqe2e_nonce_cache *c = NULL;
	uint8_t n[16];
	uint64_t now = 1767225600000ULL;
	uint32_t i;

	(void)state;
	assert_int_equal(mqe2e_nonce_cache_new(65536, 300000, &c), MQE2E_OK);
	for (i = 0; i < 20000; i++) {
		nonce_of(i, n);
		assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now), MQE2E_OK);
	}
	assert_int_equal(mqe2e_nonce_cache_fill(c, NULL), 20000);
	for (i = 0; i < 20000; i++) {
		nonce_of(i, n);
		assert_true(mqe2e_nonce_cache_seen(c, n, now + 1));
		assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now + 1), MQE2E_ERR_NONCE_REUSE);
	}
	mqe2e_nonce_cache_free(c);
}

/* The capacity still bounds what is live: cap 1000 takes at least 1000 and
 * never more than 2 * cap (it refuses once its table, grown to its full
 * size, is 3/4 full of live nonces), refuses every further one while they
 * live, and takes new ones once they expired. */
static void
test_nonce_cache_cap(void **state)
{
	struct mqe2e_nonce_cache *c = NULL;
	uint8_t n[16];
	uint64_t now = 1767225600000ULL;
	uint32_t i, ok = 0;
	int r;

	(void)state;
	assert_int_equal(mqe2e_nonce_cache_new(1000, 1000, &c), MQE2E_OK);
	for (i = 0; i < 4000; i++) {
		nonce_of(i, n);
		r = mqe2e_nonce_cache_add(c, n, now, now);
		if (r != MQE2E_OK)
			break;
		ok++;
	}
	assert_int_equal(r, MQE2E_ERR_UNAVAILABLE);
	assert_true(ok >= 1000 && ok <= 2000);
	for (i = 5000; i < 5100; i++) {
		nonce_of(i, n);
		assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now), MQE2E_ERR_UNAVAILABLE);
	}
	now += 5000;            /* all expired */
	for (i = 6000; i < 7000; i++) {
		nonce_of(i, n);
		assert_int_equal(mqe2e_nonce_cache_add(c, n, now, now), MQE2E_OK);
	}
	mqe2e_nonce_cache_free(c);
}

/* Per-owner buckets grow too: 5000 owners one nonce each, then each is
 * still charged (its second and third nonce: quota 2, a full bucket holds
 * 2). */
static void
test_owner_table_grows(void **state)
{
	struct mqe2e_nonce_cache *c = NULL;
	uint8_t n[16];
	char id[32];
	uint64_t now = 1767225600000ULL;
	uint32_t i;

	(void)state;
	assert_int_equal(mqe2e_nonce_cache_new(65536, 1000, &c), MQE2E_OK);
	assert_int_equal(mqe2e_nonce_cache_set_limits(c, 1000, 2), MQE2E_OK);
	for (i = 0; i < 5000; i++) {
		sender_of(i, id, sizeof(id));
		nonce_of(i, n);
		assert_int_equal(mqe2e_nonce_cache_add_owned(c, (const uint8_t *)id, strlen(id), n,
		    now, now), MQE2E_OK);
	}
	for (i = 0; i < 5000; i++) {
		sender_of(i, id, sizeof(id));
		nonce_of(100000 + i, n);
		assert_int_equal(mqe2e_nonce_cache_add_owned(c, (const uint8_t *)id, strlen(id), n,
		    now, now), MQE2E_OK);
		nonce_of(200000 + i, n);
		assert_int_equal(mqe2e_nonce_cache_add_owned(c, (const uint8_t *)id, strlen(id), n,
		    now, now), MQE2E_ERR_QUOTA);
	}
	mqe2e_nonce_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_grows),
		cmocka_unit_test(test_table_long_key),
		cmocka_unit_test(test_nonce_cache_grows),
		cmocka_unit_test(test_nonce_cache_cap),
		cmocka_unit_test(test_owner_table_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
