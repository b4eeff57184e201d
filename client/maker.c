/*
 * maker.c - paho's client handles made on one thread of the library's own.
 *
 * paho.mqtt.c 1.3 serves every client of a process from one receive thread,
 * and for every packet it reads it walks the structures of every client of
 * the process, twice: MQTTAsync_cycle() calls MQTTProtocol_retry() over all
 * clients (their Clients structure, and a search of the pending writes for
 * each connected one), and finds the client of the ready socket with a
 * linear ListFindItem() over all handles.  In a process of 200 clients that
 * is about 400 list elements and as many Clients and MQTTAsyncs structures
 * per packet - per delivery, for a subscriber process.
 *
 * Where those structures lie decides what the walks cost.  MQTTAsync_create
 * allocates them from the malloc arena of the thread that calls it, in
 * between everything else that thread allocates.  A bare paho application
 * allocates little else per client, and paho's structures of consecutive
 * clients lie a few KiB apart: the walks stay in cache.  A libmqe2e client
 * allocates tens of KiB of its own around each (the client, its key store,
 * the KMS transport, OpenSSL's contexts), from up to as many arenas as the
 * application has threads: 200 clients' paho structures were spread over
 * 12.5 MB, 62 KiB apart, and the two walks took 15-18 % of the receive
 * thread's time, against 3.5-4 % for bare paho (docs/BENCHMARKS.md, issue
 * 15, session 13).  Made here, on one thread that allocates nothing else,
 * they lie 3.4 KiB apart, and the walks cost what they cost bare paho.
 *
 * The thread starts with the process's first client and lives as long as
 * the process (like the held client, hold.c); it waits on a condition
 * variable between requests.  Requests are served one at a time (paho
 * serialises its creates on its own mutex anyway).  If the thread cannot be
 * started, the caller's thread makes the handle: the same client, only with
 * its structures where that thread's allocations put them.
 */
#include "config.h"

#include <pthread.h>

#include "client_int.h"

struct make_req {
	MQTTAsync *handle;
	const char *uri;
	const char *id;
	MQTTAsync_createOptions *opts;
	int rc;
	int done;
};

static pthread_mutex_t make_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t make_cv = PTHREAD_COND_INITIALIZER;     /* [make_mu] */
static struct make_req *make_next;      /* [make_mu] the request to serve */
static pthread_once_t make_once = PTHREAD_ONCE_INIT;
static int make_started;                /* the thread runs (set once) */

static void *
maker_main(void *arg)
{
	(void)arg;
	(void)pthread_setname_np(pthread_self(), "mqe2e-maker");
	pthread_mutex_lock(&make_mu);
	for (;;) {
		struct make_req *r;

		while (make_next == NULL)
			(void)pthread_cond_wait(&make_cv, &make_mu);
		r = make_next;
		make_next = NULL;
		pthread_mutex_unlock(&make_mu);
		r->rc = MQTTAsync_createWithOptions(r->handle, r->uri, r->id,
		    MQTTCLIENT_PERSISTENCE_NONE, NULL, r->opts);
		pthread_mutex_lock(&make_mu);
		r->done = 1;
		(void)pthread_cond_broadcast(&make_cv);
	}
	return NULL;
}

static void
maker_start(void)
{
	pthread_attr_t a;
	pthread_t t;

	if (pthread_attr_init(&a) != 0)
		return;
	/* it only calls into paho's create: a small stack is plenty */
	(void)pthread_attr_setstacksize(&a, 256 * 1024);
	(void)pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	make_started = pthread_create(&t, &a, maker_main, NULL) == 0;
	(void)pthread_attr_destroy(&a);
}

int
maker__create(MQTTAsync *handle, const char *uri, const char *id,
    MQTTAsync_createOptions *opts)
{
	struct make_req r = { handle, uri, id, opts, MQTTASYNC_FAILURE, 0 };

	(void)pthread_once(&make_once, maker_start);
	if (!make_started)
		return MQTTAsync_createWithOptions(handle, uri, id, MQTTCLIENT_PERSISTENCE_NONE,
		    NULL, opts);
	pthread_mutex_lock(&make_mu);
	/* one request at a time: wait until the slot is free, then for ours */
	while (make_next != NULL)
		(void)pthread_cond_wait(&make_cv, &make_mu);
	make_next = &r;
	(void)pthread_cond_broadcast(&make_cv);
	while (!r.done)
		(void)pthread_cond_wait(&make_cv, &make_mu);
	pthread_mutex_unlock(&make_mu);
	return r.rc;
}
