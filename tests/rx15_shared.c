/*
 * rx15_shared - N libmqe2e subscribers of one scheme 4 group in one process,
 * for rx15_shared.sh:
 *
 *   rx15_shared BROKER_URI KMS_URL PKI_DIR N COUNT
 *
 * Clients sub1..subN (PKI_DIR/subI.crt, .key, ca.crt) connect and subscribe
 * to e2e/line/# and e2e/relay/#, then it prints "ready".  Each message on
 * e2e/line/X reaches all N clients of the process, byte for byte the same
 * frame: the first copy is checked with OpenSSL, the others are answered by
 * the memo (client/memo.c), after which OpenSSL's thread state is not
 * released (nothing of it was used).
 * sub1's callback publishes each line it receives again on e2e/relay/X
 * (from paho's receive thread: OpenSSL draws a nonce there), which every
 * client receives as well.  Once every client has COUNT lines from 'pub'
 * and COUNT relays from 'sub1', all intact, it prints
 *   received <lines> <relays>
 * frees the clients and exits 0; 1 on a failure or after 120 s.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqe2e.h"

#define MAX_CLIENTS 16
#define LINE_PREFIX "e2e/line/"
#define RELAY_PREFIX "e2e/relay/"

struct sub {
	struct mqe2e_client *c;
	int index;
	int lines, relays, bad;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int relay_failures;

static void
on_message(void *arg, const struct mqe2e_message *m)
{
	struct sub *s = arg;
	char relay[256];
	int line = strncmp(m->topic, LINE_PREFIX, strlen(LINE_PREFIX)) == 0;
	int ok = m->payload_len >= 4 && memcmp(m->payload, "msg ", 4) == 0 &&
	    strcmp(m->group, "grp") == 0 && m->scheme == 4 &&
	    strcmp(m->sender, line ? "pub" : "sub1") == 0;
	int r = MQE2E_OK;

	if (ok && line && s->index == 1) {
		/* a relay, published on paho's receive thread */
		if ((size_t)snprintf(relay, sizeof(relay), "%s%s", RELAY_PREFIX,
		    m->topic + strlen(LINE_PREFIX)) >= sizeof(relay))
			r = MQE2E_ERR_INVALID_ARG;
		else
			r = mqe2e_publish(s->c, relay, m->payload, m->payload_len, 1, 0, 0);
	}
	pthread_mutex_lock(&mu);
	if (!ok)
		s->bad++;
	else if (line)
		s->lines++;
	else
		s->relays++;
	if (r != MQE2E_OK)
		relay_failures++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* A decimal number in [1, max] (the whole string), or -1. */
static int
number(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s != '\0' && *end == '\0' && v >= 1 && v <= max ? (int)v : -1;
}

static int
client_make(struct sub *s, const char *broker, const char *kms, const char *pki)
{
	struct mqe2e_config *cfg;
	char path[1024], err[512], id[32];
	int r = -1;

	snprintf(id, sizeof(id), "sub%d", s->index);
	if (mqe2e_config_new(&cfg) != MQE2E_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.crt", pki, id);
	if (mqe2e_config_set(cfg, "cert", path) != MQE2E_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/%s.key", pki, id);
	if (mqe2e_config_set(cfg, "key", path) != MQE2E_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/ca.crt", pki);
	if (mqe2e_config_set(cfg, "cafile", path) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "broker", broker) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "kms", kms) != MQE2E_OK)
		goto out;
	if (mqe2e_client_new(cfg, &s->c, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "%s: %s\n", id, err);
		goto out;
	}
	if (mqe2e_connect(s->c, 30000) != MQE2E_OK ||
	    mqe2e_subscribe(s->c, LINE_PREFIX "#", 1, on_message, s, 30000) != MQE2E_OK ||
	    mqe2e_subscribe(s->c, RELAY_PREFIX "#", 1, on_message, s, 30000) != MQE2E_OK) {
		fprintf(stderr, "%s: %s\n", id, mqe2e_client_errmsg(s->c, err, sizeof(err)));
		goto out;
	}
	r = 0;
out:
	mqe2e_config_free(cfg);
	return r;
}

int
main(int argc, char **argv)
{
	struct sub subs[MAX_CLIENTS];
	struct timespec deadline;
	int n, count, i, done = 0, rc = 1, lines = 0, relays = 0;

	if (argc != 6 || (n = number(argv[4], MAX_CLIENTS)) < 0 ||
	    (count = number(argv[5], 100000)) < 0) {
		fprintf(stderr, "usage: rx15_shared BROKER_URI KMS_URL PKI_DIR N COUNT\n");
		return 2;
	}
	memset(subs, 0, sizeof(subs));
	for (i = 0; i < n; i++) {
		subs[i].index = i + 1;
		if (client_make(&subs[i], argv[1], argv[2], argv[3]) != 0)
			goto out;
	}
	printf("ready\n");
	fflush(stdout);

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 120;
	pthread_mutex_lock(&mu);
	while (!done) {
		for (i = 0, done = 1; i < n; i++) {
			if (subs[i].bad > 0 || relay_failures > 0) {
				fprintf(stderr, "sub%d: %d bad messages; %d relays failed\n",
				    i + 1, subs[i].bad, relay_failures);
				pthread_mutex_unlock(&mu);
				goto out;
			}
			done &= subs[i].lines >= count && subs[i].relays >= count;
		}
		if (!done && pthread_cond_timedwait(&cv, &mu, &deadline) != 0) {
			for (i = 0; i < n; i++)
				fprintf(stderr, "sub%d: %d lines, %d relays of %d\n", i + 1,
				    subs[i].lines, subs[i].relays, count);
			pthread_mutex_unlock(&mu);
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		lines += subs[i].lines;
		relays += subs[i].relays;
	}
	pthread_mutex_unlock(&mu);
	printf("received %d %d\n", lines, relays);
	rc = 0;
out:
	for (i = 0; i < n; i++)
		mqe2e_client_free(subs[i].c);
	return rc;
}
