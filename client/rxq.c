/*
 * rxq.c - the receive worker: group messages verified and opened off
 * paho's receive thread.
 *
 * paho.mqtt.c 1.3 reads every socket of the process on one thread and runs
 * the message callbacks there.  With many clients in a process (a gateway,
 * the bench's 200 subscribers) each message is delivered once per client,
 * one after another, and everything the callback does - the broker frame's
 * MAC or AEAD, the envelope's AEAD, the replay windows, the application's
 * callback - delays the reading of the next client's copy.  So the callback
 * only queues group messages (subscribe__arrived) and this thread, one per
 * process, runs the receive path (subscribe__process): paho reads the
 * network while the worker verifies, on another core when there is one.
 * One FIFO keeps each client's messages in order.
 *
 * The worker is one of the library's threads (client__paho_thread_enter):
 * inside the application's callbacks calls do not wait for anything paho
 * delivers, as on paho's thread.
 *
 * Locking: q_mu guards the queue and the registry; it is never held while a
 * message is processed, and may be taken with no other lock held only.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "client_int.h"

#define RXQ_SPARE_MAX 1024      /* queue entries kept for reuse: no malloc
                                   per message once warm */

struct rxq_item {
	struct mqe2e_client *c;
	char *topic;                    /* paho's, freed by subscribe__process */
	int topic_len;
	MQTTAsync_message *m;           /* paho's, likewise */
	uint64_t floor;                 /* the session floor of its link */
	struct rxq_item *next;
};

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static struct rxq_item *head, **tail = &head;   /* [q_mu] */
static struct rxq_item *spare;                  /* [q_mu] */
static size_t nspare;                           /* [q_mu] */
static size_t nclients;                         /* [q_mu] */
static struct mqe2e_client *busy;               /* [q_mu] the worker runs its message */
static int idle;                                /* [q_mu] the worker waits for work */
static pthread_t worker;
static int running;                             /* [q_mu] */
static uintptr_t gen;                           /* [q_mu] a worker runs while this is
                                                   the number it was started with */

static void
item_release(struct rxq_item *it)
{
	if (nspare < RXQ_SPARE_MAX) {
		it->next = spare;
		spare = it;
		nspare++;
	} else {
		free(it);
	}
}

static void *
worker_main(void *arg)
{
	uintptr_t mine = (uintptr_t)arg;
	struct rxq_item *it;

#ifdef __linux__
	(void)pthread_setname_np(pthread_self(), "mqe2e_rx");
#endif
	client__paho_thread_enter();
	pthread_mutex_lock(&q_mu);
	while (gen == mine) {
		if ((it = head) == NULL) {
			idle = 1;
			(void)pthread_cond_wait(&q_cv, &q_mu);
			idle = 0;
			continue;
		}
		if ((head = it->next) == NULL)
			tail = &head;
		it->c->rxq_queued--;
		busy = it->c;
		pthread_mutex_unlock(&q_mu);
		subscribe__process(it->c, it->topic, it->topic_len, it->m, it->floor);
		pthread_mutex_lock(&q_mu);
		busy = NULL;
		item_release(it);
		pthread_cond_broadcast(&q_cv);
	}
	pthread_mutex_unlock(&q_mu);
	OPENSSL_thread_stop();
	return NULL;
}

int
rxq__push(struct mqe2e_client *c, char *topic, int topic_len, MQTTAsync_message *m,
    uint64_t floor)
{
	struct rxq_item *it;

	pthread_mutex_lock(&q_mu);
	if (!c->rxq_registered || !running) {
		pthread_mutex_unlock(&q_mu);
		return MQE2E_ERR_UNAVAILABLE;
	}
	if ((it = spare) != NULL) {
		spare = it->next;
		nspare--;
	} else if ((it = malloc(sizeof(*it))) == NULL) {
		pthread_mutex_unlock(&q_mu);
		return MQE2E_ERR_NOMEM;
	}
	it->c = c;
	it->topic = topic;
	it->topic_len = topic_len;
	it->m = m;
	it->floor = floor;
	it->next = NULL;
	*tail = it;
	tail = &it->next;
	c->rxq_queued++;
	if (idle)               /* else it finds this one before it waits again */
		pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
	return MQE2E_OK;
}

int
rxq__register(struct mqe2e_client *c)
{
	int r = MQE2E_OK;

	pthread_mutex_lock(&q_mu);
	if (!running) {
		if (pthread_create(&worker, NULL, worker_main, (void *)gen) != 0) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
		running = 1;
	}
	nclients++;
	c->rxq_registered = 1;
out:
	pthread_mutex_unlock(&q_mu);
	return r;
}

void
rxq__unregister(struct mqe2e_client *c)
{
	struct rxq_item **pp, *it, *drop = NULL;
	pthread_t th;
	int join = 0;

	pthread_mutex_lock(&q_mu);
	if (!c->rxq_registered) {
		pthread_mutex_unlock(&q_mu);
		return;
	}
	c->rxq_registered = 0;          /* paho's later messages: processed inline */
	/* its queued messages go: the application is closing the client */
	for (pp = &head; (it = *pp) != NULL;) {
		if (it->c == c) {
			*pp = it->next;
			it->next = drop;
			drop = it;
			c->rxq_queued--;
		} else {
			pp = &it->next;
		}
	}
	tail = pp;
	while (busy == c)
		(void)pthread_cond_wait(&q_cv, &q_mu);
	if (--nclients == 0 && running) {
		gen++;                  /* that worker ends; a new one may start */
		running = 0;
		th = worker;
		join = 1;
		while ((it = spare) != NULL) {
			spare = it->next;
			free(it);
		}
		nspare = 0;
	}
	pthread_cond_broadcast(&q_cv);
	pthread_mutex_unlock(&q_mu);
	while ((it = drop) != NULL) {
		drop = it->next;
		MQTTAsync_freeMessage(&it->m);
		MQTTAsync_free(it->topic);
		free(it);
	}
	if (join)
		pthread_join(th, NULL);
}
