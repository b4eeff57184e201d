/*
 * sock.c - TCP_NODELAY on the client's connection to the broker.
 *
 * paho.mqtt.c 1.3 leaves Nagle's algorithm on and gives no access to its
 * socket.  With Nagle on, a small PUBLISH sent while the previous one is
 * unacknowledged waits for the broker's delayed ACK (up to 40 ms on Linux):
 * a steady stream of QoS 0 messages then moves in 40 ms steps.  So once a
 * connection is verified the library finds the socket paho opened for it -
 * a TCP socket of this process connected to one of the broker's addresses
 * and still without TCP_NODELAY - and sets the option.  Another socket of
 * the process to the same broker that lacks it (an earlier client's, or
 * the application's own) gets it too, which only ever lowers latency.
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <time.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* host and port of "scheme://host:port/path" ("[v6]" hosts too) into the
 * buffers; the port defaults by scheme.  0 or -1. */
static int
uri_host_port(const char *uri, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *p = strstr(uri, "://"), *h, *e, *colon = NULL;
	int tls;
	size_t n;

	tls = p != NULL && (strncmp(uri, "ssl", 3) == 0 || strncmp(uri, "mqtts", 5) == 0 ||
	    strncmp(uri, "wss", 3) == 0);
	h = p != NULL ? p + 3 : uri;
	if (*h == '[') {
		if ((e = strchr(h, ']')) == NULL)
			return -1;
		n = (size_t)(e - h - 1);
		h++;
		e++;
		if (*e == ':')
			colon = e;
	} else {
		e = h + strcspn(h, ":/");
		n = (size_t)(e - h);
		if (*e == ':')
			colon = e;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	if (colon != NULL) {
		n = strcspn(colon + 1, "/");
		if (n == 0 || n >= portlen)
			return -1;
		memcpy(port, colon + 1, n);
		port[n] = '\0';
	} else {
		client__fmt(port, portlen, "%s", tls ? "8883" : "1883");
	}
	return 0;
}

void
sock__resolve_broker(struct mqe2e_client *c)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage a[CLIENT_BROKER_ADDRS];
	socklen_t alen[CLIENT_BROKER_ADDRS];
	char host[256], port[16];
	size_t n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (uri_host_port(c->cfg.broker, host, sizeof(host), port, sizeof(port)) == 0 &&
	    getaddrinfo(host, port, &hints, &res) == 0) {
		for (ai = res; ai != NULL && n < CLIENT_BROKER_ADDRS; ai = ai->ai_next) {
			if (ai->ai_addrlen > sizeof(a[0]))
				continue;
			memcpy(&a[n], ai->ai_addr, ai->ai_addrlen);
			alen[n++] = ai->ai_addrlen;
		}
		freeaddrinfo(res);
	}
	pthread_mutex_lock(&c->mu);
	memcpy(c->broker_addr, a, n * sizeof(a[0]));
	memcpy(c->broker_addr_len, alen, n * sizeof(alen[0]));
	c->nbroker_addr = n;
	pthread_mutex_unlock(&c->mu);
}

/*
 * The scan.  paho runs every client's callbacks on one receive thread per
 * process, and a scan reads every descriptor of the process: done there at
 * each CONNACK, a thousand clients connecting at once paid a thousand scans
 * of thousands of descriptors one after the other (seconds).  So a CONNACK
 * only adds its broker's addresses to the process's list and wakes one
 * background thread, which scans - one scan serving every connect since the
 * last - at most every SCAN_GAP_MS.
 */
#define NODELAY_ADDRS 64
#define SCAN_GAP_MS 5

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, pending;
	struct sockaddr_storage addr[NODELAY_ADDRS];
	size_t naddr;
} nd = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, { { 0 } }, 0 };

/* 1 if a and b are the same address and port. */
static int
same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

/* 1 if peer is one of the brokers' addresses (nd.mu held). */
static int
is_broker(const struct sockaddr_storage *peer)
{
	size_t i;

	for (i = 0; i < nd.naddr; i++)
		if (same_endpoint(&nd.addr[i], peer))
			return 1;
	return 0;
}

/* One pass over the process's descriptors (nd.mu held: the list is read). */
static int
scan(void)
{
	struct sockaddr_storage peer;
	struct dirent *d;
	socklen_t sl;
	DIR *dir;
	int fd, v, one = 1, set = 0;

	if (nd.naddr == 0 || (dir = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		char *end;
		long l = strtol(d->d_name, &end, 10);

		if (d->d_name[0] < '0' || d->d_name[0] > '9' || *end != '\0' || l < 0 ||
		    l > 1 << 30 || (fd = (int)l) == dirfd(dir))
			continue;
		/* one call tells TCP sockets (others fail) still with Nagle */
		sl = sizeof(v);
		if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &sl) != 0 || v != 0)
			continue;
		sl = sizeof(peer);
		memset(&peer, 0, sizeof(peer));
		if (getpeername(fd, (struct sockaddr *)&peer, &sl) != 0 || !is_broker(&peer))
			continue;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
			set++;
	}
	closedir(dir);
	return set;
}

static void *
scanner(void *arg)
{
	struct timespec gap = { 0, SCAN_GAP_MS * 1000000L };

	(void)arg;
	pthread_mutex_lock(&nd.mu);
	for (;;) {
		while (!nd.pending)
			pthread_cond_wait(&nd.cv, &nd.mu);
		nd.pending = 0;
		(void)scan();
		pthread_mutex_unlock(&nd.mu);
		nanosleep(&gap, NULL);
		pthread_mutex_lock(&nd.mu);
	}
	return NULL;
}

int
sock__nodelay(struct mqe2e_client *c)
{
	pthread_attr_t a;
	pthread_t t;
	size_t i, j;
	int r = 0;

	pthread_mutex_lock(&nd.mu);
	for (i = 0; i < c->nbroker_addr; i++) {
		for (j = 0; j < nd.naddr && !same_endpoint(&nd.addr[j], &c->broker_addr[i]); j++)
			;
		if (j == nd.naddr && nd.naddr < NODELAY_ADDRS)
			nd.addr[nd.naddr++] = c->broker_addr[i];
	}
	if (!nd.started) {
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, scanner, NULL) == 0)
			nd.started = 1;
		pthread_attr_destroy(&a);
	}
	if (nd.started) {
		nd.pending = 1;
		pthread_cond_signal(&nd.cv);
	} else {
		r = scan();     /* no thread: do it here */
	}
	pthread_mutex_unlock(&nd.mu);
	return r;
}
