/*
 * test_clock.c - core/clock.c: mqe2e_cond_wait_until() with a deadline from
 * mqe2e_mono_deadline() lasts as long as asked.  (Were the two on different
 * clocks - a wall-clock wait with a monotonic deadline - the deadline would
 * lie decades in the past and the wait would end at once: the first test
 * fails then.)  tests/clock_faketime.sh runs this under libfaketime with the
 * wall clock shifted and the monotonic clock left alone, as the tests that
 * fake a daemon's or a client's clock do.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "clock.h"

/* Wait on a fresh monotonic cv for ms; the time it took, in ms. */
static uint64_t
timed_wait(int64_t ms, int *rc)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv;
	struct timespec ts;
	uint64_t t0;

	assert_int_equal(mqe2e_cond_init_mono(&cv), 0);
	t0 = mqe2e_mono_ms();
	mqe2e_mono_deadline(&ts, ms);
	pthread_mutex_lock(&mu);
	do
		*rc = mqe2e_cond_wait_until(&cv, &mu, &ts);
	while (*rc == 0);       /* a spurious wake-up: wait on */
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cv);
	return mqe2e_mono_ms() - t0;
}

static void
test_wait_lasts(void **state)
{
	uint64_t took;
	int rc;

	(void)state;
	took = timed_wait(120, &rc);
	assert_int_equal(rc, ETIMEDOUT);
	assert_true(took >= 119);       /* ms granularity of the two readings */
	assert_true(took < 60000);      /* a bound for a loaded machine, not a speed */
}

static void
test_past_deadline(void **state)
{
	uint64_t took;
	int rc;

	(void)state;
	took = timed_wait(-5000, &rc);
	assert_int_equal(rc, ETIMEDOUT);
	assert_true(took < 60000);
	took = timed_wait(0, &rc);
	assert_int_equal(rc, ETIMEDOUT);
	assert_true(took < 60000);
}

static void
test_deadline_normalised(void **state)
{
	static const int64_t ms[] = { 0, 1, 999, 1000, 1001, 86400001, -1 };
	struct timespec now, ts;
	int64_t d, want;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		mqe2e_mono_deadline(&ts, ms[i]);
		assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
		/* at least ms after now, and not a second more than asked */
		d = ((int64_t)ts.tv_sec - (int64_t)now.tv_sec) * 1000 +
		    (ts.tv_nsec - now.tv_nsec) / 1000000;
		want = ms[i] < 0 ? 0 : ms[i];

		assert_true(d >= want && d < want + 1000);
	}
}

static void
test_mono_ms_steady(void **state)
{
	uint64_t a, b;
	int i;

	(void)state;
	a = mqe2e_mono_ms();
	for (i = 0; i < 1000; i++) {
		b = mqe2e_mono_ms();
		assert_true(b >= a);
		a = b;
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_lasts),
		cmocka_unit_test(test_past_deadline),
		cmocka_unit_test(test_deadline_normalised),
		cmocka_unit_test(test_mono_ms_steady),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
