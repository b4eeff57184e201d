/*
 * clock.h - the time every timeout of mqe2e is measured in.
 *
 * Timeouts and timed waits follow CLOCK_MONOTONIC, never the wall clock:
 * a device that sets its clock at boot (NTP, GPS, an RTC that was wrong)
 * steps it by minutes or years, and a wait whose deadline was computed on
 * the old wall time would end at once or hang for the size of the step -
 * a broker's policy refresh, and with it a revocation, held for as long.
 * A condition variable waited on with a deadline is made by
 * mqe2e_cond_init_mono(), its deadline by mqe2e_mono_deadline(), and the
 * wait is mqe2e_cond_wait_until().
 */
#ifndef MQE2E_CLOCK_H
#define MQE2E_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock (an arbitrary origin). */
uint64_t mqe2e_mono_ms(void);

/* Initialise cv so that pthread_cond_timedwait() reads its deadline on
 * CLOCK_MONOTONIC.  0 or an errno value (as pthread_cond_init). */
int mqe2e_cond_init_mono(pthread_cond_t *cv);

/* The deadline ms milliseconds from now (a negative ms counts as 0) for
 * pthread_cond_timedwait() on a condition variable made by
 * mqe2e_cond_init_mono(). */
void mqe2e_mono_deadline(struct timespec *ts, int64_t ms);

/* pthread_cond_timedwait() with a deadline from mqe2e_mono_deadline(): 0
 * when woken, ETIMEDOUT once the deadline passed (mu held, as there).  It
 * names the clock in the call where the C library can (glibc 2.30:
 * pthread_cond_clockwait), so that the wait does not depend on how cv was
 * made nor on what a preloaded library (libfaketime) makes of the cv's
 * clock. */
int mqe2e_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
    const struct timespec *deadline);

#endif
