/*
 * client_latency - a libmqe2e subscriber for the client_kms_*.sh tests that
 * timestamps what it sees (wall clock, ms), so that a test can tell how
 * late each message arrived:
 *
 *   client_latency CONFIG FILTER...
 *
 * stdout, one line each:
 *   <ms> ready                            subscribed to every FILTER
 *   <ms> msg <topic> <group> <epoch> <payload>
 *   <ms> state <0|1>                      link down / up
 * stderr: "<ms> error <code> <text>" for each report of the error callback.
 * Runs until SIGINT or SIGTERM.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqe2e.h"

static volatile sig_atomic_t stop;

static unsigned long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}

static void
on_signal(int sig)
{
	stop = sig;
}

static void
on_message(void *arg, const struct mqe2e_message *m)
{
	(void)arg;
	printf("%llu msg %s %s %u %.*s\n", now_ms(), m->topic, m->group, m->epoch,
	    (int)m->payload_len, (const char *)m->payload);
	fflush(stdout);
}

static void
on_error(void *arg, const struct mqe2e_error *e)
{
	(void)arg;
	fprintf(stderr, "%llu error %d %s\n", now_ms(), e->code, e->text);
	fflush(stderr);
}

static void
on_state(void *arg, int up)
{
	(void)arg;
	printf("%llu state %d\n", now_ms(), up);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct mqe2e_config *cfg = NULL;
	struct mqe2e_client *c = NULL;
	struct sigaction sa;
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	char err[512];
	int i, code = 1;

	if (argc < 3) {
		fputs("usage: client_latency CONFIG FILTER...\n", stderr);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (mqe2e_config_new(&cfg) != MQE2E_OK ||
	    mqe2e_config_load(cfg, argv[1], err, sizeof(err)) != MQE2E_OK ||
	    mqe2e_client_new(cfg, &c, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "client_latency: %s\n", err);
		goto out;
	}
	mqe2e_client_set_error_cb(c, on_error, NULL);
	mqe2e_client_set_state_cb(c, on_state, NULL);
	if (mqe2e_connect(c, 10000) != MQE2E_OK) {
		fprintf(stderr, "client_latency: %s\n", mqe2e_client_errmsg(c, err, sizeof(err)));
		goto out;
	}
	for (i = 2; i < argc; i++) {
		if (mqe2e_subscribe(c, argv[i], 1, on_message, NULL, 10000) != MQE2E_OK) {
			fprintf(stderr, "client_latency: %s\n",
			    mqe2e_client_errmsg(c, err, sizeof(err)));
			goto out;
		}
	}
	printf("%llu ready\n", now_ms());
	fflush(stdout);
	while (!stop)
		nanosleep(&nap, NULL);
	code = 0;
out:
	mqe2e_client_free(c);
	mqe2e_config_free(cfg);
	return code;
}
