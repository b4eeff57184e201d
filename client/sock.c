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
#include <fcntl.h>
#include <pthread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
 * process, and a scan looks at every descriptor of the process: done there
 * at each CONNACK, a thousand clients connecting at once paid a thousand
 * scans of thousands of descriptors one after the other (seconds).  So a
 * CONNACK only adds its broker's addresses to the process's list and asks
 * for a scan; the process's helper thread (wake.c: started with the first
 * client, joined with the last, so no thread of the library outlives its
 * clients) runs it - one scan serving every connect since the last, at most
 * one every SCAN_GAP_MS while connects keep coming, at once after a quiet
 * spell.
 *
 * A scan probes descriptors 0 .. FDSize-1 (the size of the process's
 * descriptor table, /proc/self/status: every open descriptor is below it)
 * with the one getsockopt that tells TCP sockets still without TCP_NODELAY;
 * a closed descriptor answers EBADF at once.  Listing /proc/self/fd instead
 * cost the kernel a directory entry per descriptor on top of that call; it
 * remains the way for a table too large to probe (FDSize above
 * PROBE_MAX) or a /proc/self/status that does not say.
 */
#define NODELAY_ADDRS 64
#define PROBE_MAX 8192

static struct {
	pthread_mutex_t mu;
	struct sockaddr_storage addr[NODELAY_ADDRS];
	size_t naddr;
} nd = { PTHREAD_MUTEX_INITIALIZER, { { 0 } }, 0 };

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

/* TCP_NODELAY on fd if it is a TCP socket without it connected to one of
 * addr[0..n): 1 if set. */
static int
check_fd(int fd, const struct sockaddr_storage *addr, size_t n)
{
	struct sockaddr_storage peer;
	socklen_t sl;
	size_t i;
	int v, one = 1;

	/* one call tells TCP sockets (others fail) still with Nagle */
	sl = sizeof(v);
	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &sl) != 0 || v != 0)
		return 0;
	sl = sizeof(peer);
	memset(&peer, 0, sizeof(peer));
	if (getpeername(fd, (struct sockaddr *)&peer, &sl) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (same_endpoint(&addr[i], &peer))
			return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0;
	return 0;
}

/* FDSize of /proc/self/status (the descriptor table's size), or 0. */
static long
fd_table_size(void)
{
	char buf[4096], *p, *end;
	ssize_t n;
	size_t len = 0;
	long v;
	int fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	(void)close(fd);
	buf[len] = '\0';
	if ((p = strstr(buf, "\nFDSize:")) == NULL)
		return 0;
	v = strtol(p + 8, &end, 10);
	return end != p + 8 && v > 0 ? v : 0;
}

/* TCP_NODELAY on every descriptor listed in /proc/self/fd that needs it. */
static int
scan_listed(const struct sockaddr_storage *addr, size_t n)
{
	struct dirent *d;
	DIR *dir;
	int fd, set = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		char *end;
		long l = strtol(d->d_name, &end, 10);

		if (d->d_name[0] < '0' || d->d_name[0] > '9' || *end != '\0' || l < 0 ||
		    l > 1 << 30 || (fd = (int)l) == dirfd(dir))
			continue;
		set += check_fd(fd, addr, n);
	}
	closedir(dir);
	return set;
}

int
sock__scan(void)
{
	struct sockaddr_storage addr[NODELAY_ADDRS];
	size_t n;
	long size, fd;
	int set = 0;

	/* a copy: a CONNACK adding its addresses does not wait for the scan */
	pthread_mutex_lock(&nd.mu);
	n = nd.naddr;
	memcpy(addr, nd.addr, n * sizeof(addr[0]));
	pthread_mutex_unlock(&nd.mu);
	if (n == 0)
		return 0;
	size = fd_table_size();
	if (size <= 0 || size > PROBE_MAX)
		return scan_listed(addr, n);
	for (fd = 0; fd < size; fd++)
		set += check_fd((int)fd, addr, n);
	return set;
}

void
sock__nodelay(struct mqe2e_client *c)
{
	size_t i, j;

	pthread_mutex_lock(&nd.mu);
	for (i = 0; i < c->nbroker_addr; i++) {
		for (j = 0; j < nd.naddr && !same_endpoint(&nd.addr[j], &c->broker_addr[i]); j++)
			;
		if (j == nd.naddr && nd.naddr < NODELAY_ADDRS)
			nd.addr[nd.naddr++] = c->broker_addr[i];
	}
	pthread_mutex_unlock(&nd.mu);
	wake__nodelay();
}
