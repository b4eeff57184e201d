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
 * arriving on a socket it watches ends it.  So while a client of this
 * process is connecting, a thread of the library has another client of the
 * process that is up send an UNSUBSCRIBE of a topic nobody subscribes to,
 * every WAKE_INTERVAL_MS: the broker's UNSUBACK (reason 0x11, no
 * subscription existed) wakes the receive thread, which then sends the
 * pending CONNECT and watches the new socket for its CONNACK.  It costs
 * one 20-byte round trip per interval while connects are under way and
 * nothing otherwise.  Only a client whose link is up can send it: the waker
 * looks through the whole registry for one (wakeset.c), however many
 * clients made but not connected yet lie in between (a sub host of the bench
 * makes its 200 first, then connects them 16 at a time; a search that gave
 * up after four of those left a whole wave of 16 to paho's 1 s poll).  A
 * process with one client, or none up yet, has nobody to wake it; its first
 * connect waits about 100 ms (the receive thread's first, short poll), a
 * reconnect up to a second.
 *
 * The same thread - the process's one helper thread, started with its first
 * client and joined with its last - runs the TCP_NODELAY scans that CONNACKs
 * ask for (sock.c), at most one every SCAN_GAP_MS.
 *
 * Locking: wake_mu guards the registry; it may be taken with a client's mu
 * held (never the other way round) and is never held while calling paho
 * or scanning.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "wakeset.h"

#define WAKE_INTERVAL_MS 10
/* Between two TCP_NODELAY scans while connects keep coming: a scan probes
 * every descriptor of the process, so a burst of connects in a process of
 * many clients pays one scan per gap, not one per connect. */
#define SCAN_GAP_MS 20
#define WAKE_TRIES 4            /* up clients tried per interval (paho may
                                   have lost a link we still think up) */
/* Never subscribed by anyone: mqe2e/v1/ is reserved, and the broker's
 * plugin allows every UNSUBSCRIBE. */
#define WAKE_TOPIC "mqe2e/v1/wake"

static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv;         /* wake_cv_init() */
static struct wake_slot *reg;           /* [wake_mu] the clients of the process */
static size_t nreg, capreg;             /* [wake_mu] */
static size_t connecting;               /* [wake_mu] slots connecting */
static size_t nup;                      /* [wake_mu] slots up */
static size_t rr;                       /* [wake_mu] where the next search starts */
static pthread_t waker;
static int waker_running;               /* [wake_mu] */
static uintptr_t waker_gen;             /* [wake_mu] a waker runs while this is
                                           the number it was started with */
static uint64_t wakes_sent;             /* [wake_mu] UNSUBSCRIBEs handed to paho */
static int scan_pending;                /* [wake_mu] a CONNACK asked for a scan */
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

/* Hand one UNSUBSCRIBE to an up client other than the connecting ones
 * (wake_mu held; dropped around the paho call). */
static void
wake_once(void)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct mqe2e_client *x;
	size_t k, from = rr, tried;
	int prc;

	for (tried = 0; tried < WAKE_TRIES && nreg > 0; tried++) {
		if ((k = wakeset__pick(reg, nreg, from % nreg)) == nreg)
			return;
		x = reg[k].client;
		x->wake_refs++;
		pthread_mutex_unlock(&wake_mu);
		/* lost meanwhile: MQTTASYNC_DISCONNECTED at once, nothing sent */
		prc = MQTTAsync_unsubscribe(x->mqtt, WAKE_TOPIC, &ro);
		pthread_mutex_lock(&wake_mu);
		x->wake_refs--;
		pthread_cond_broadcast(&wake_cv);
		/* the registry may have changed meanwhile: a hint only */
		from = k + 1;
		if (prc == MQTTASYNC_SUCCESS) {
			wakes_sent++;
			rr = nreg > 0 ? from % nreg : 0;
			return;
		}
	}
}

static void *
waker_main(void *arg)
{
	uintptr_t gen = (uintptr_t)arg;
	struct timespec ts;
	uint64_t now;
	int waking, wait_ms;

	(void)pthread_setname_np(pthread_self(), "mqe2e-waker");
	pthread_mutex_lock(&wake_mu);
	while (waker_gen == gen) {
		now = client__mono_ms();
		if (scan_pending && now >= scan_next_ms) {
			/* one scan for every CONNACK since the last */
			scan_pending = 0;
			pthread_mutex_unlock(&wake_mu);
			(void)sock__scan();
			pthread_mutex_lock(&wake_mu);
			scan_next_ms = client__mono_ms() + SCAN_GAP_MS;
			continue;
		}
		waking = connecting > 0 && nup > 0;
		if (!waking && !scan_pending) {
			waker_idle = 1;
			(void)pthread_cond_wait(&wake_cv, &wake_mu);
			waker_idle = 0;
			continue;
		}
		if (!waking) {
			/* a scan is due later; a client starting to connect
			 * ends the wait (the broadcast) */
			mqe2e_mono_deadline(&ts, (int64_t)(scan_next_ms - now));
			waker_idle = 1;
			(void)mqe2e_cond_wait_until(&wake_cv, &wake_mu, &ts);
			waker_idle = 0;
			continue;
		}
		wake_once();
		wait_ms = WAKE_INTERVAL_MS;
		if (scan_pending && scan_next_ms - now < (uint64_t)wait_ms)
			wait_ms = (int)(scan_next_ms - now);
		mqe2e_mono_deadline(&ts, wait_ms);
		while (waker_gen == gen &&
		    mqe2e_cond_wait_until(&wake_cv, &wake_mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&wake_mu);
	return NULL;
}

int
wake__register(struct mqe2e_client *c)
{
	int r = MQE2E_OK;

	(void)pthread_once(&wake_once_init, wake_cv_init);
	if (!wake_cv_ok)
		return MQE2E_ERR_NOMEM;
	pthread_mutex_lock(&wake_mu);
	if (nreg == capreg) {
		size_t cap = capreg > 0 ? capreg * 2 : 16;
		struct wake_slot *v = realloc(reg, cap * sizeof(*v));

		if (v == NULL) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
		reg = v;
		capreg = cap;
	}
	if (!waker_running) {
		if (pthread_create(&waker, NULL, waker_main, (void *)waker_gen) != 0) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
		waker_running = 1;
	}
	memset(&reg[nreg], 0, sizeof(reg[nreg]));
	reg[nreg].client = c;
	c->wake_slot = nreg++;
	c->wake_registered = 1;
out:
	pthread_mutex_unlock(&wake_mu);
	return r;
}

void
wake__unregister(struct mqe2e_client *c)
{
	pthread_t th;
	size_t i;
	int join = 0;

	pthread_mutex_lock(&wake_mu);
	if (!c->wake_registered) {
		pthread_mutex_unlock(&wake_mu);
		return;
	}
	/* the waker may be inside paho with this client: let it finish */
	while (c->wake_refs > 0)
		(void)pthread_cond_wait(&wake_cv, &wake_mu);
	i = c->wake_slot;
	connecting -= reg[i].connecting;
	nup -= reg[i].up;
	reg[i] = reg[--nreg];
	if (i < nreg)
		((struct mqe2e_client *)reg[i].client)->wake_slot = i;
	c->wake_registered = 0;
	if (nreg == 0 && waker_running) {
		waker_gen++;            /* that waker ends; a new one may start */
		waker_running = 0;
		th = waker;
		join = 1;
		free(reg);
		reg = NULL;
		capreg = 0;
	}
	pthread_cond_broadcast(&wake_cv);
	pthread_mutex_unlock(&wake_mu);
	if (join)
		pthread_join(th, NULL);
}

void
wake__link(struct mqe2e_client *c, int is_connecting, int is_up)
{
	struct wake_slot *s;
	int was_waking;

	pthread_mutex_lock(&wake_mu);
	if (c->wake_registered) {
		s = &reg[c->wake_slot];
		was_waking = connecting > 0 && nup > 0;
		connecting = connecting - s->connecting + (is_connecting != 0);
		nup = nup - s->up + (is_up != 0);
		s->connecting = is_connecting != 0;
		s->up = is_up != 0;
		/* an idle waker starts waking (a client starts connecting, or the
		 * first one it can wake through came up); one that wakes looks at
		 * the counts every interval by itself and stops at the next when
		 * the last client is done (a broadcast per connect woke it for
		 * nothing) */
		if (!was_waking && connecting > 0 && nup > 0 && waker_idle)
			pthread_cond_broadcast(&wake_cv);
	}
	pthread_mutex_unlock(&wake_mu);
}

uint64_t
wake__count(void)
{
	uint64_t n;

	pthread_mutex_lock(&wake_mu);
	n = wakes_sent;
	pthread_mutex_unlock(&wake_mu);
	return n;
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
