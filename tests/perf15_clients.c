/*
 * perf15_clients - N libmqe2e clients in one process, connected one after
 * another, for perf15_sockets.sh:
 *
 *   perf15_clients BROKER_URI KMS_URL PKI_DIR N FILTER
 *
 * Clients sub1..subN (PKI_DIR/subI.crt, .key, ca.crt) connect in turn and
 * subscribe to FILTER, so every connect after the first happens while the
 * process's earlier links are up and quiet (the case where paho's receive
 * thread sleeps through a connect).  Then it checks each TCP socket of this
 * process connected to the broker's port for TCP_NODELAY, until all N have
 * it or 20 s passed (the library sets it from a background thread).  And it
 * reports the line that wakes paho's receive thread (client/hold.c): TCP
 * connections on 127.0.0.1 whose two ends are both sockets of this process,
 * and the bytes those carried (CONNECT, CONNACK and 2 per wake), once sub1
 * is up, once all are, and again after 500 ms in which nobody connected.
 * stdout:
 *   connect subI <ms>                  (informational, never judged)
 *   line <lines> bytes <b> nodelay <d> after sub1, after subN, 500 ms later
 *                                      (d: lines whose writing end has
 *                                      TCP_NODELAY)
 *   sockets <k> nodelay <j>            the broker sockets, with TCP_NODELAY
 *   maker threads <m>                  threads named mqe2e-maker (client/maker.c)
 *   caches <k>                         of the N key cache files, written
 *   cache threads <w> idle <i>         threads named mqe2e-cache, of them
 *                                      under SCHED_IDLE (client/cache.c)
 *   cache threads after free <w>       the same once every client is freed
 * Exit 0 when all N connected and subscribed, 1 otherwise.
 */
#include "config.h"

#include <dirent.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "mqe2e.h"
#include "selfline.h"

#define MAX_CLIENTS 64


static void
on_message(void *arg, const struct mqe2e_message *m)
{
	(void)arg;
	(void)m;
}

/* TCP sockets of this process whose peer port is port: *all, and *nodelay
 * of them with TCP_NODELAY. */
static void
scan(int port, int *all, int *nodelay)
{
	struct sockaddr_storage peer;
	struct dirent *d;
	socklen_t sl;
	DIR *dir;
	int fd, v;

	*all = *nodelay = 0;
	if ((dir = opendir("/proc/self/fd")) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		char *end;
		long l = strtol(d->d_name, &end, 10);

		if (*end != '\0' || d->d_name[0] == '.' || l < 0 || l > 65535)
			continue;
		fd = (int)l;
		sl = sizeof(peer);
		memset(&peer, 0, sizeof(peer));
		if (getpeername(fd, (struct sockaddr *)&peer, &sl) != 0 ||
		    peer.ss_family != AF_INET ||
		    ntohs(((struct sockaddr_in *)&peer)->sin_port) != port)
			continue;
		sl = sizeof(v);
		if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &sl) != 0)
			continue;
		(*all)++;
		*nodelay += v != 0;
	}
	closedir(dir);
}

static void
print_line(void)
{
	unsigned long long bytes;
	int lines, nodelay;

	lines = self_lines_nodelay(&bytes, &nodelay);
	printf("line %d bytes %llu nodelay %d\n", lines, bytes, nodelay);
	fflush(stdout);
}

/* A decimal number in [1, max] (the whole string), or -1. */
static int
number(const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *s != '\0' && *end == '\0' && v >= 1 && v <= max ? (int)v : -1;
}

int
main(int argc, char **argv)
{
	struct mqe2e_client *c[MAX_CLIENTS];
	struct mqe2e_config *cfg;
	char path[1024], err[512], id[32];
	const char *colon;
	int n, i, ok = 0, all, nodelay, writers, idle;
	double t0;

	if (argc != 6 || (n = number(argv[4], MAX_CLIENTS)) < 0 ||
	    (colon = strrchr(argv[1], ':')) == NULL) {
		fprintf(stderr, "usage: perf15_clients BROKER_URI KMS_URL PKI_DIR N FILTER\n");
		return 2;
	}
	memset(c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "sub%d", i + 1);
		if (mqe2e_config_new(&cfg) != MQE2E_OK)
			return 1;
		snprintf(path, sizeof(path), "%s/%s.crt", argv[3], id);
		if (mqe2e_config_set(cfg, "cert", path) != MQE2E_OK)
			return 1;
		snprintf(path, sizeof(path), "%s/%s.key", argv[3], id);
		if (mqe2e_config_set(cfg, "key", path) != MQE2E_OK)
			return 1;
		snprintf(path, sizeof(path), "%s/ca.crt", argv[3]);
		if (mqe2e_config_set(cfg, "cafile", path) != MQE2E_OK ||
		    mqe2e_config_set(cfg, "broker", argv[1]) != MQE2E_OK ||
		    mqe2e_config_set(cfg, "kms", argv[2]) != MQE2E_OK)
			return 1;
		if (mqe2e_client_new(cfg, &c[i], err, sizeof(err)) != MQE2E_OK) {
			fprintf(stderr, "%s: %s\n", id, err);
			mqe2e_config_free(cfg);
			goto out;
		}
		mqe2e_config_free(cfg);
		t0 = self_now_ms();
		if (mqe2e_connect(c[i], 10000) != MQE2E_OK ||
		    mqe2e_subscribe(c[i], argv[5], 1, on_message, NULL, 10000) != MQE2E_OK) {
			fprintf(stderr, "%s: %s\n", id, mqe2e_client_errmsg(c[i], err, sizeof(err)));
			goto out;
		}
		printf("connect %s %.1f\n", id, self_now_ms() - t0);
		fflush(stdout);
		if (i == 0)
			print_line();
	}
	print_line();
	{
		struct timespec ts = { 0, 500 * 1000000L };

		nanosleep(&ts, NULL);
	}
	print_line();
	/* the library sets TCP_NODELAY from a background thread woken by each
	 * CONNACK (client/sock.c): wait for it, up to 20 s, not a fixed time */
	t0 = self_now_ms();
	for (;;) {
		struct timespec ts = { 0, 10 * 1000000L };

		scan(number(colon + 1, 65535), &all, &nodelay);
		if ((all == n && nodelay == all) || self_now_ms() - t0 > 20000)
			break;
		nanosleep(&ts, NULL);
	}
	printf("sockets %d nodelay %d\n", all, nodelay);
	/* the N clients' paho handles were made on the library's one maker
	 * thread (client/maker.c) */
	printf("maker threads %d\n", self_threads_named("mqe2e-maker", NULL));
	/* each client's key cache is written by the process's one writer
	 * thread at SCHED_IDLE (client/cache.c), not on the clients' threads:
	 * wait for the N files, up to 20 s (an idle-priority thread writes when
	 * the CPU is free), and look at the threads */
	t0 = self_now_ms();
	for (;;) {
		struct timespec ts = { 0, 10 * 1000000L };
		struct stat st;

		for (i = 0, all = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/sub%d.key.cache", argv[3], i + 1);
			all += stat(path, &st) == 0 && st.st_size > 0;
		}
		if (all == n || self_now_ms() - t0 > 20000)
			break;
		nanosleep(&ts, NULL);
	}
	printf("caches %d\n", all);
	writers = self_threads_named("mqe2e-cache", &idle);
	printf("cache threads %d idle %d\n", writers, idle);
	ok = 1;
out:
	for (i = 0; i < n; i++)
		mqe2e_client_free(c[i]);
	/* the writer ends with the last client (no thread of the library
	 * outlives its clients) */
	printf("cache threads after free %d\n", self_threads_named("mqe2e-cache", NULL));
	return ok ? 0 : 1;
}
