/*
 * wake.c - keep paho's receive thread from sleeping through a connect.
 *
 * paho.mqtt.c 1.3 serves every MQTTAsync handle of a process from one
 * receive thread.  That thread waits in poll() for up to 1 s on the sockets
 * it knew when the wait began, and it notices that a new socket finished
 * its TCP connect (and sends CONNECT on it) only after such a wait returned.
 * A client connecting while the process's other links are quiet therefore
 * waits up to a second for its CONNECT to leave, then up to another second
 * for its CONNACK to be read (upstream eclipse-paho/paho.mqtt.c#1039): the
 * whole-second steps of many clients connecting in one process.
 *
 * paho gives no way to interrupt that wait (a signal does not help: an
 * interrupted poll() skips the check for finished connects), but any byte
 * arriving on a socket it watches ends it.  hold.c keeps one such socket:
 * a paho client of the process connected to the process itself.  So while
 * a client of this process is connecting, a thread of the library writes a
 * wake into that line every WAKE_INTERVAL_MS (hold__wake): the receive
 * thread wakes, sends the pending CONNECT and watches the new socket for
 * its CONNACK.  It costs a 2-byte loopback write and paho's read of it per
 * interval while connects are under way, and nothing otherwise; it needs
 * no other client that is up, so a process's only client is woken too,
 * at its first connect and at every reconnect.  (Until session 11 the wake
 * was an UNSUBSCRIBE through another client of the process that was up,
 * answered by the broker: a process with one client, or none up yet, had
 * nobody to wake it, and each wake was a round trip through the broker.)
 *
 * The same thread - the process's one helper thread, started with its first
 * client and joined with its last - runs the TCP_NODELAY scans that CONNACKs
 * ask for (sock.c), at most one every SCAN_GAP_MS, and frees the KMS
 * connections the clients' fetches left idle (kmspool.c).
 *
 * Locking: wake_mu guards the counts; it may be taken with a client's mu
 * held (never the other way round) and is never held while scanning.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "hold.h"

#define WAKE_INTERVAL_MS 5
/* Between two TCP_NODELAY scans while connects keep coming: a scan probes
 * every descriptor of the process, so a burst of connects in a process of
 * many clients pays one scan per gap, not one per connect.  The gap is
 * SCAN_GAP_MS, or SCAN_COST_FACTOR times the CPU the last scan took if that
 * is longer: the scans then take at most 1/SCAN_COST_FACTOR of one CPU
 * however many descriptors the process holds.  (A fixed 20 ms made 200
 * clients connecting in one process - 1,000 descriptors, 2-6 us a probe on
 * a virtual machine - spend a tenth of a CPU probing, 4 % of the connect
 * storm's CPU.)  Nagle costs a connected client latency, not
 * correctness, and only until the scan that follows. */
#define SCAN_GAP_MS 20
#define SCAN_COST_FACTOR 50

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv;         /* wake_cv_init() */
static void *waker_main(void *arg);
/* [wake_mu] the waker, held by the clients of the process */
static struct proc_thread waker = { waker_main, 0, 0, 0, 0 };
static size_t connecting;               /* [wake_mu] of them, connecting */
static int scan_pending;                /* [wake_mu] a CONNACK asked for a scan */
static uint64_t reap_at_ms;             /* [wake_mu] the KMS pool's next reap, 0: none */
static int waker_idle;                  /* [wake_mu] the waker waits for a client to
                                           start connecting (or for a scan) */
static uint64_t scan_next_ms;           /* [wake_mu] no scan before (monotonic) */

static pthread_once_t wake_once_init = PTHREAD_ONCE_INIT;
static int wake_cv_ok;                  /* wake_cv waits on CLOCK_MONOTONIC */

static void
wake_cv_init(void)
{
	wake_cv_ok = mqe2e_cond_init_mono(&wake_cv) == 0;
}

/* The CPU time this thread has used, in ms (0 if the clock is missing:
 * the gap is then SCAN_GAP_MS). */
static double
thread_cpu_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *
waker_main(void *arg)
{
	uintptr_t gen = (uintptr_t)arg;
	struct timespec ts;
	uint64_t now, gap_ms, next, due;
	double cpu_ms;
	int waking, wait_ms;

	(void)pthread_setname_np(pthread_self(), "mqe2e-waker");
	pthread_mutex_lock(&wake_mu);
	while (client__thread_current(&waker, gen)) {
		now = client__mono_ms();
		if (scan_pending && now >= scan_next_ms) {
			/* one scan for every CONNACK since the last */
			scan_pending = 0;
			pthread_mutex_unlock(&wake_mu);
			cpu_ms = thread_cpu_ms();
			(void)sock__scan();
			cpu_ms = thread_cpu_ms() - cpu_ms;
			pthread_mutex_lock(&wake_mu);
			gap_ms = (uint64_t)(cpu_ms * SCAN_COST_FACTOR);
			scan_next_ms = client__mono_ms() + (gap_ms > SCAN_GAP_MS ? gap_ms : SCAN_GAP_MS);
			continue;
		}
		if (reap_at_ms != 0 && now >= reap_at_ms) {
			/* KMS connections idle for POOL_LINGER_MS (kmspool.c) */
			reap_at_ms = 0;
			pthread_mutex_unlock(&wake_mu);
			next = kmspool__reap(now);
			pthread_mutex_lock(&wake_mu);
			if (next != 0 && (reap_at_ms == 0 || next < reap_at_ms))
				reap_at_ms = next;
			continue;
		}
		waking = connecting > 0;
		if (!waking) {
			/* the earliest of a scan and a reap that are due later; a
			 * client starting to connect, or an earlier reap, ends the
			 * wait (the broadcast) */
			due = scan_pending ? scan_next_ms : 0;
			if (reap_at_ms != 0 && (due == 0 || reap_at_ms < due))
				due = reap_at_ms;
			waker_idle = 1;
			if (due == 0) {
				(void)pthread_cond_wait(&wake_cv, &wake_mu);
			} else {
				mqe2e_mono_deadline(&ts, (int64_t)(due - now));
				(void)mqe2e_cond_wait_until(&wake_cv, &wake_mu, &ts);
			}
			waker_idle = 0;
			continue;
		}
		(void)hold__wake();     /* no line: paho's own polls */
		wait_ms = WAKE_INTERVAL_MS;
		if (scan_pending && scan_next_ms - now < (uint64_t)wait_ms)
			wait_ms = (int)(scan_next_ms - now);
		mqe2e_mono_deadline(&ts, wait_ms);
		while (client__thread_current(&waker, gen) &&
		    mqe2e_cond_wait_until(&wake_cv, &wake_mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&wake_mu);
	return NULL;
}

int
wake__register(struct mqe2e_client *c)
{
	int r;

	(void)pthread_once(&wake_once_init, wake_cv_init);
	if (!wake_cv_ok)
		return MQE2E_ERR_NOMEM;
	pthread_mutex_lock(&wake_mu);
	if ((r = client__thread_hold(&waker)) == MQE2E_OK) {
		c->wake_connecting = 0;
		c->wake_registered = 1;
	}
	pthread_mutex_unlock(&wake_mu);
	return r;
}

void
wake__unregister(struct mqe2e_client *c)
{
	pthread_t th;
	int join = 0;

	pthread_mutex_lock(&wake_mu);
	if (!c->wake_registered) {
		pthread_mutex_unlock(&wake_mu);
		return;
	}
	connecting -= c->wake_connecting;
	c->wake_connecting = 0;
	c->wake_registered = 0;
	if ((join = client__thread_release(&waker, &th)) != 0)
		reap_at_ms = 0;
	pthread_cond_broadcast(&wake_cv);
	pthread_mutex_unlock(&wake_mu);
	if (join) {
		pthread_join(th, NULL);
		/* the last client: no KMS connection of the pool stays */
		(void)kmspool__reap(UINT64_MAX);
	}
}

void
wake__link(struct mqe2e_client *c, int is_connecting)
{
	int now_connecting = is_connecting != 0;

	pthread_mutex_lock(&wake_mu);
	if (c->wake_registered && c->wake_connecting != now_connecting) {
		connecting = connecting - (size_t)c->wake_connecting + (size_t)now_connecting;
		c->wake_connecting = now_connecting;
		/* an idle waker starts waking at once; one that wakes looks at
		 * the count every interval by itself and stops at the next when
		 * the last client is done (a broadcast per connect woke it for
		 * nothing) */
		if (connecting == 1 && now_connecting && waker_idle)
			pthread_cond_broadcast(&wake_cv);
	}
	pthread_mutex_unlock(&wake_mu);
}

void
wake__reap_at(uint64_t at)
{
	pthread_mutex_lock(&wake_mu);
	if (reap_at_ms == 0 || at < reap_at_ms) {
		reap_at_ms = at;
		/* a waker that wakes looks at it every interval anyway */
		if (waker_idle)
			pthread_cond_broadcast(&wake_cv);
	}
	pthread_mutex_unlock(&wake_mu);
}

void
wake__nodelay(void)
{
	pthread_mutex_lock(&wake_mu);
	/* one scan serves every CONNACK before it: the waker needs telling
	 * only of the first */
	if (!scan_pending) {
		scan_pending = 1;
		pthread_cond_broadcast(&wake_cv);
	}
	pthread_mutex_unlock(&wake_mu);
}
