/*
 * keys16_start - libmqe2e clients of one process started with default
 * options, for keys16_start.sh:
 *
 *   keys16_start BROKER_URI KMS_URL PKI_DIR FILTER KEY_REFRESH_S MSGS ID...
 *
 * Each client ID (PKI_DIR/ID.crt, ID.key, ca.crt; its key cache is the
 * default PKI_DIR/ID.key.cache) connects and subscribes to FILTER, one after
 * another, with key_refresh_s KEY_REFRESH_S.  Then "ready" is printed and
 * the process waits, up to 20 s, until every connected client has received
 * MSGS messages.  stdout, one line each:
 *   up ID                       connected and subscribed
 *   failed ID: MESSAGE          mqe2e_connect or mqe2e_subscribe failed
 *   error ID: MESSAGE           the error callback (a refused cache file...)
 *   ready
 *   received ID N EPOCH         N messages, the last under EPOCH
 *   cached ID | uncached ID     PKI_DIR/ID.key.cache exists (non-empty)
 *                               while the clients still run (polled up to 10 s)
 * Exit 0 when every client came up and received MSGS messages, 1 otherwise.
 * Nothing is timed: whether the KMS was asked is read from its audit log.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mqe2e.h"

#define MAX_CLIENTS 16

struct one {
	const char *id;
	struct mqe2e_client *c;
	pthread_mutex_t mu;
	int got;
	unsigned epoch;
};

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void
on_message(void *arg, const struct mqe2e_message *m)
{
	struct one *o = arg;

	pthread_mutex_lock(&o->mu);
	o->got++;
	o->epoch = m->epoch;
	pthread_mutex_unlock(&o->mu);
}

static void
on_error(void *arg, const struct mqe2e_error *e)
{
	struct one *o = arg;

	pthread_mutex_lock(&out_mu);
	printf("error %s: %s\n", o->id, e->text);
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
}

static int
set_paths(struct mqe2e_config *cfg, const char *dir, const char *id)
{
	static const char *const keys[] = { "cert", "key" };
	static const char *const ext[] = { "crt", "key" };
	char path[1024];
	size_t i;

	for (i = 0; i < 2; i++) {
		if ((size_t)snprintf(path, sizeof(path), "%s/%s.%s", dir, id, ext[i]) >=
		    sizeof(path) || mqe2e_config_set(cfg, keys[i], path) != MQE2E_OK)
			return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/ca.crt", dir) >= sizeof(path))
		return -1;
	return mqe2e_config_set(cfg, "cafile", path) == MQE2E_OK ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct one o[MAX_CLIENTS];
	struct mqe2e_config *cfg;
	char err[512];
	int n, i, up = 0, done, want, ok = 1, waited;

	if (argc < 8 || argc - 7 > MAX_CLIENTS || (want = atoi(argv[6])) < 0) {
		fprintf(stderr, "usage: keys16_start BROKER_URI KMS_URL PKI_DIR FILTER "
		    "KEY_REFRESH_S MSGS ID...\n");
		return 2;
	}
	n = argc - 7;
	memset(o, 0, sizeof(o));
	for (i = 0; i < n; i++) {
		o[i].id = argv[7 + i];
		pthread_mutex_init(&o[i].mu, NULL);
		if (mqe2e_config_new(&cfg) != MQE2E_OK)
			return 1;
		if (set_paths(cfg, argv[3], o[i].id) != 0 ||
		    mqe2e_config_set(cfg, "broker", argv[1]) != MQE2E_OK ||
		    mqe2e_config_set(cfg, "kms", argv[2]) != MQE2E_OK ||
		    mqe2e_config_set(cfg, "key_refresh_s", argv[5]) != MQE2E_OK) {
			fprintf(stderr, "%s: bad configuration\n", o[i].id);
			mqe2e_config_free(cfg);
			return 2;
		}
		if (mqe2e_client_new(cfg, &o[i].c, err, sizeof(err)) != MQE2E_OK) {
			printf("failed %s: %s\n", o[i].id, err);
			mqe2e_config_free(cfg);
			ok = 0;
			continue;
		}
		mqe2e_config_free(cfg);
		mqe2e_client_set_error_cb(o[i].c, on_error, &o[i]);
		if (mqe2e_connect(o[i].c, 15000) != MQE2E_OK ||
		    mqe2e_subscribe(o[i].c, argv[4], 1, on_message, &o[i], 10000) != MQE2E_OK) {
			pthread_mutex_lock(&out_mu);
			printf("failed %s: %s\n", o[i].id, mqe2e_client_errmsg(o[i].c, err,
			    sizeof(err)));
			pthread_mutex_unlock(&out_mu);
			mqe2e_client_free(o[i].c);
			o[i].c = NULL;
			ok = 0;
			continue;
		}
		pthread_mutex_lock(&out_mu);
		printf("up %s\n", o[i].id);
		fflush(stdout);
		pthread_mutex_unlock(&out_mu);
		up++;
	}
	pthread_mutex_lock(&out_mu);
	printf("ready\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_mu);
	for (waited = 0; up > 0 && want > 0 && waited < 2000; waited++) {
		struct timespec ts = { 0, 10 * 1000000L };

		for (i = 0, done = 0; i < n; i++) {
			if (o[i].c == NULL)
				continue;
			pthread_mutex_lock(&o[i].mu);
			done += o[i].got >= want;
			pthread_mutex_unlock(&o[i].mu);
		}
		if (done == up)
			break;
		nanosleep(&ts, NULL);
	}
	for (i = 0; i < n; i++) {
		if (o[i].c == NULL)
			continue;
		pthread_mutex_lock(&o[i].mu);
		pthread_mutex_lock(&out_mu);
		printf("received %s %d %u\n", o[i].id, o[i].got, o[i].epoch);
		pthread_mutex_unlock(&out_mu);
		if (o[i].got < want)
			ok = 0;
		pthread_mutex_unlock(&o[i].mu);
	}
	/* the process's cache writer writes each cache while the clients
	 * run, once the fetches have settled (not only at mqe2e_client_free) */
	for (i = 0; i < n; i++) {
		char path[1024];
		struct stat st;

		if (o[i].c == NULL ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s.key.cache", argv[3], o[i].id) >=
		    sizeof(path))
			continue;
		for (waited = 0; waited < 1000; waited++) {
			struct timespec ts = { 0, 10 * 1000000L };

			if (stat(path, &st) == 0 && st.st_size > 0)
				break;
			nanosleep(&ts, NULL);
		}
		printf("%s %s\n", waited < 1000 ? "cached" : "uncached", o[i].id);
	}
	fflush(stdout);
	for (i = 0; i < n; i++) {
		mqe2e_client_free(o[i].c);      /* writes a cache still due */
		pthread_mutex_destroy(&o[i].mu);
	}
	return ok ? 0 : 1;
}
