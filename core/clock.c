/*
 * clock.c - monotonic time and timed waits (clock.h).
 */
#include "config.h"

#include "clock.h"

uint64_t
mqe2e_mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
mqe2e_cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int r;

	if ((r = pthread_condattr_init(&a)) != 0)
		return r;
	if ((r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC)) == 0)
		r = pthread_cond_init(cv, &a);
	(void)pthread_condattr_destroy(&a);
	return r;
}

void
mqe2e_mono_deadline(struct timespec *ts, int64_t ms)
{
	(void)clock_gettime(CLOCK_MONOTONIC, ts);
	if (ms < 0)
		ms = 0;
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int
mqe2e_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, const struct timespec *deadline)
{
#ifdef HAVE_PTHREAD_COND_CLOCKWAIT
	return pthread_cond_clockwait(cv, mu, CLOCK_MONOTONIC, deadline);
#else
	return pthread_cond_timedwait(cv, mu, deadline);
#endif
}
