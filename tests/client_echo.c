/*
 * client_echo.c - a libmqe2e client that answers from inside its message
 * callback: every message on IN is published again on OUT, prefixed with
 * "echo: ".  Used by client_api.sh to show that publishing from a callback
 * works (it must not wait for an acknowledgement paho can only deliver
 * after the callback returns).  Once its client is freed it checks that
 * paho's receive thread is still there: freeing a process's last client
 * must not run paho's racy teardown (client/hold.c).  Then it makes a second
 * client, the process's only one, connects it and prints how long that took
 * ("second connect N ms": no client of the process was up to help wake
 * paho), and checks that the process holds the line that wakes paho's
 * receive thread: one TCP connection on 127.0.0.1 whose two ends are both
 * sockets of this process (client/hold.c).
 *
 *   client_echo CONFIG IN OUT COUNT
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqe2e.h"
#include "selfline.h"

struct echo {
	struct mqe2e_client *c;
	const char *out;
	long want, done, failed;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void
on_message(void *arg, const struct mqe2e_message *m)
{
	struct echo *e = arg;
	char buf[1024];
	int n, r;

	n = snprintf(buf, sizeof(buf), "echo: %.*s", (int)m->payload_len, (const char *)m->payload);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	r = mqe2e_publish(e->c, e->out, buf, (size_t)n, 1, 0, 5000);
	pthread_mutex_lock(&e->mu);
	if (r != MQE2E_OK)
		e->failed++;
	e->done++;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

static void
on_error(void *arg, const struct mqe2e_error *err)
{
	(void)arg;
	fprintf(stderr, "client_echo: %s\n", err->text);
}

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	struct mqe2e_config *cfg = NULL;
	struct echo e;
	char err[512] = "out of memory";
	int rc = 1;

	memset(&e, 0, sizeof(e));
	if (argc != 5) {
		fprintf(stderr, "usage: client_echo CONFIG IN OUT COUNT\n");
		return 2;
	}
	e.out = argv[3];
	e.want = strtol(argv[4], NULL, 10);
	pthread_mutex_init(&e.mu, NULL);
	pthread_cond_init(&e.cv, NULL);
	if (mqe2e_config_new(&cfg) != MQE2E_OK ||
	    mqe2e_config_load(cfg, argv[1], err, sizeof(err)) != MQE2E_OK ||
	    mqe2e_client_new(cfg, &e.c, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "client_echo: %s\n", err);
		goto out;
	}
	mqe2e_client_set_error_cb(e.c, on_error, NULL);
	if (mqe2e_connect(e.c, 10000) != MQE2E_OK ||
	    mqe2e_subscribe(e.c, argv[2], 1, on_message, &e, 10000) != MQE2E_OK) {
		fprintf(stderr, "client_echo: %s\n", mqe2e_client_errmsg(e.c, err, sizeof(err)));
		goto out;
	}
	printf("ready\n");
	fflush(stdout);
	pthread_mutex_lock(&e.mu);
	while (e.done < e.want)
		pthread_cond_wait(&e.cv, &e.mu);
	pthread_mutex_unlock(&e.mu);
	rc = e.failed == 0 ? 0 : 1;
out:
	mqe2e_client_free(e.c);
	/*
	 * Freeing the process's last client must not run paho's process-wide
	 * teardown, which races with paho's exiting threads (client/hold.c;
	 * paho.mqtt.c issue #1669): paho's receive thread,
	 * started by the connect, is still there.
	 */
	if (rc == 0 && self_threads_named("MQTTAsync_rcv", NULL) < 1) {
		fprintf(stderr, "client_echo: paho's receive thread ended when the last "
		    "client was freed: paho's teardown ran\n");
		rc = 3;
	}
	if (rc == 0) {
		long t0 = now_ms();

		e.c = NULL;
		if (mqe2e_client_new(cfg, &e.c, err, sizeof(err)) != MQE2E_OK ||
		    mqe2e_connect(e.c, 10000) != MQE2E_OK) {
			fprintf(stderr, "client_echo: second client: %s\n",
			    e.c != NULL ? mqe2e_client_errmsg(e.c, err, sizeof(err)) : err);
			rc = 4;
		} else {
			printf("second connect %ld ms\n", now_ms() - t0);
		}
		mqe2e_client_free(e.c);
	}
	if (rc == 0 && self_lines(NULL) != 1) {
		fprintf(stderr, "client_echo: %d TCP connections of this process to itself "
		    "on 127.0.0.1, expected 1 (client/hold.c's line)\n", self_lines(NULL));
		rc = 5;
	}
	mqe2e_config_free(cfg);
	pthread_cond_destroy(&e.cv);
	pthread_mutex_destroy(&e.mu);
	return rc;
}
