/*
 * hold.c - one paho client held for the life of the process, connected to
 * the process itself: the line that wakes paho's receive thread.
 *
 * Why hold a client.  paho.mqtt.c tears its process-wide state down when
 * the process's last client is destroyed (MQTTAsync_terminate): it stops its
 * send and receive threads and frees its trace buffer, its heap records and
 * its lists.  That teardown races with the threads it stops: each sets its
 * state to STOPPED, releases paho's mutex and then still writes a trace
 * entry on its way out, into the buffer Log_terminate may have freed
 * meanwhile (paho.mqtt.c 1.3.11-1.3.15, upstream issue #1669).  Caught in
 * mqe2e-bench (SIGSEGV in MQTTAsync_rcv writing into the freed buffer), and
 * under LeakSanitizer in tests/broker_probe (a late trace entry allocates a
 * new buffer that the next client's Log_initialize overwrites: 124,800
 * bytes lost).  A held client makes every other client's destroy skip the
 * teardown.
 *
 * Why connect it to ourselves.  paho serves every client of a process from
 * one receive thread.  It waits in poll() for up to 1 s on the sockets it
 * knew when the wait began, sleeps 100 ms whenever it has no socket at all,
 * and notices that a new socket finished its TCP connect (and sends the
 * CONNECT on it) only after such a wait ended (upstream #1039).  paho offers
 * no way to end the wait, but a byte arriving on a socket it watches does.
 * So the held client connects to a listener of this process on 127.0.0.1
 * that accepts it once, answers CONNACK, checks that the CONNECT carries the
 * random client id only this process knows and closes the listener.  The
 * accepted end is the line: hold__wake() writes a PINGRESP into it, which
 * paho reads and ignores, and its receive thread looks at its sockets
 * again.  With the held client up, paho always has a socket, so the
 * receive thread never takes its 100 ms sleep again; the held client's
 * keep-alive is off, so nothing else ever crosses the line.  Its cost: one
 * loopback connection per process, made once by the first client, and two
 * bytes per wake.
 *
 * Making the line waits, once per process, for paho's threads to start
 * (about 100 ms when the receive thread first finds no socket, 7-10 ms
 * otherwise) and at most LINE_WAIT_MS.  A stranger that connects first is
 * closed once its CONNECT does not carry the id, or after LINE_PEER_MS
 * without one (tests/hold_line.c).  If the line cannot be made (no
 * loopback: paho's failure ends the wait; strangers that keep connecting
 * and stalling until LINE_WAIT_MS),
 * the held client is still made (no teardown) and hold__wake() says so; connects then wait for paho's own
 * polls as with bare paho.
 *
 * hold__paho_bare() holds a client without the line, for mqe2e-bench's bare
 * paho links: its plain MQTT baseline must wait for paho's polls as any
 * paho application does, only without the teardown crash.  Within one copy
 * of this file the first call, of either, decides; the bench compiles its
 * own copy, apart from libmqe2e's (which exports none of these).
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <MQTTAsync.h>

#include "clock.h"
#include "crypto.h"
#include "hold.h"

#define LINE_WAIT_MS 3000       /* for the held client's CONNECT, once */
#define LINE_PEER_MS 500        /* for the CONNECT of one accepted connection:
                                   a stranger that stalls costs this much */
#define LINE_TOKEN_LEN 16       /* random bytes in its client id */
#define LINE_ID_PREFIX "mqe2e-hold-"
#define LINE_BACKLOG_MAX 256    /* unread wake bytes: paho is not reading */

static pthread_once_t hold_once = PTHREAD_ONCE_INIT;
static MQTTAsync holder;
static int line = -1;           /* our end of the held client's connection */
static int line_failed;         /* paho gave up the held client's connect */

/* 1 once fd is readable, 0 at the deadline or on an error. */
static int
wait_readable(int fd, uint64_t end)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t now;
	int n;

	for (;;) {
		if ((now = mqe2e_mono_ms()) >= end)
			return 0;
		n = poll(&p, 1, (int)(end - now));
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return 0;
	}
}

/* Exactly n bytes from the non-blocking fd by end: 0, or -1. */
static int
read_full(int fd, unsigned char *b, size_t n, uint64_t end)
{
	size_t got = 0;
	ssize_t k;

	while (got < n) {
		if ((k = read(fd, b + got, n - got)) > 0) {
			got += (size_t)k;
			continue;
		}
		if (k == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
		if (errno != EINTR && !wait_readable(fd, end))
			return -1;
	}
	return 0;
}

/*
 * Is what arrives on fd the held client's CONNECT?  An MQTT 3.1.1 CONNECT
 * without will, user name or password ends with its client id (two length
 * bytes, then the id): that id must be ours.
 */
static int
is_holder(int fd, const char *id, uint64_t end)
{
	unsigned char h, d, b[64 + sizeof(LINE_ID_PREFIX) + 2 * LINE_TOKEN_LEN];
	size_t len = 0, idlen = strlen(id);
	int i;

	if (read_full(fd, &h, 1, end) != 0 || h != 0x10)
		return 0;
	for (i = 0; i < 4; i++) {
		if (read_full(fd, &d, 1, end) != 0)
			return 0;
		len |= (size_t)(d & 0x7f) << (7 * i);
		if ((d & 0x80) == 0)
			break;
	}
	if (i == 4 || len > sizeof(b) || len < idlen + 2 || read_full(fd, b, len, end) != 0)
		return 0;
	return b[len - idlen - 2] == (idlen >> 8) && b[len - idlen - 1] == (idlen & 0xff) &&
	    memcmp(b + len - idlen, id, idlen) == 0;
}

/* paho could not connect the held client (no route to 127.0.0.1 ...):
 * line_make stops waiting for it. */
static void
line_connect_failed(void *ctx, MQTTAsync_failureData *fd)
{
	(void)ctx;
	(void)fd;
	__atomic_store_n(&line_failed, 1, __ATOMIC_RELEASE);
}

/* Connect the held client to a listener of ours; its end is the line. */
static void
line_make(int lis, const char *id)
{
	static const unsigned char connack[4] = { 0x20, 0x02, 0x00, 0x00 };
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
	uint64_t end;
	int fd;

	o.keepAliveInterval = 0;        /* nothing but our wakes crosses the line */
	o.cleansession = 1;
	o.connectTimeout = LINE_WAIT_MS / 1000 + 1;
	o.MQTTVersion = MQTTVERSION_3_1_1;
	o.onFailure = line_connect_failed;
	if (MQTTAsync_connect(holder, &o) != MQTTASYNC_SUCCESS)
		return;
	end = mqe2e_mono_ms() + LINE_WAIT_MS;
	for (;;) {
		uint64_t now = mqe2e_mono_ms(), slice = now + 20 < end ? now + 20 : end;

		if (line >= 0 || now >= end || __atomic_load_n(&line_failed, __ATOMIC_ACQUIRE))
			break;
		if (!wait_readable(lis, slice))
			continue;       /* every 20 ms: has paho given up? */
		if ((fd = accept4(lis, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ECONNABORTED)
				continue;
			return;
		}
		/*
		 * Each wake is two bytes written while the one before may not
		 * be acknowledged yet: paho never answers on this line, so its
		 * end acknowledges late (delayed ACK, 40 ms on Linux) and
		 * Nagle would hold every wake after the first until then.
		 */
		{
			int one = 1;

			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		/*
		 * The CONNACK goes first: paho notices that its TCP connect
		 * finished only when one of its sockets turns readable, and
		 * sends the CONNECT then (10 ms later otherwise, or 100 ms).
		 * It tells a stranger nothing.  Someone else's connection is
		 * closed, and we go on waiting for the held client's.
		 */
		if (write(fd, connack, sizeof(connack)) == (ssize_t)sizeof(connack) &&
		    is_holder(fd, id, now + LINE_PEER_MS < end ? now + LINE_PEER_MS : end))
			line = fd;
		else
			(void)close(fd);
	}
}

static void
hold_make(int with_line)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	unsigned char tok[LINE_TOKEN_LEN];
	char uri[40], id[sizeof(LINE_ID_PREFIX) + 2 * LINE_TOKEN_LEN];
	size_t i;
	int lis;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lis = with_line ? socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0) : -1;
	if (lis >= 0 && bind(lis, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lis, 4) == 0 &&
	    getsockname(lis, (struct sockaddr *)&a, &alen) == 0 &&
	    mqe2e_random(tok, sizeof(tok)) == MQE2E_OK) {
		memcpy(id, LINE_ID_PREFIX, sizeof(LINE_ID_PREFIX) - 1);
		for (i = 0; i < sizeof(tok); i++)
			(void)snprintf(id + sizeof(LINE_ID_PREFIX) - 1 + 2 * i, 3, "%02x", tok[i]);
		(void)snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
		if (MQTTAsync_create(&holder, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) ==
		    MQTTASYNC_SUCCESS)
			line_make(lis, id);
		else
			holder = NULL;
	}
	if (lis >= 0)
		(void)close(lis);
	/* no line: held all the same, never connected (no teardown) */
	if (holder == NULL && MQTTAsync_create(&holder, "tcp://127.0.0.1:1", LINE_ID_PREFIX "none",
	    MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS)
		holder = NULL;  /* out of memory: paho's teardown as before */
	mqe2e_wipe(tok, sizeof(tok));
}

static void
hold_line(void)
{
	hold_make(1);
}

static void
hold_bare(void)
{
	hold_make(0);
}

void
hold__paho(void)
{
	(void)pthread_once(&hold_once, hold_line);
}

void
hold__paho_bare(void)
{
	(void)pthread_once(&hold_once, hold_bare);
}

int
hold__wake(void)
{
	static const unsigned char pingresp[2] = { 0xd0, 0x00 };
	int queued = 0;

	if (line < 0)
		return -1;
	/* paho not reading (the socket's window closed): a wake changes
	 * nothing, and a full buffer could take half a packet */
	if (ioctl(line, SIOCOUTQ, &queued) == 0 && queued > LINE_BACKLOG_MAX)
		return -1;
	return send(line, pingresp, sizeof(pingresp), MSG_DONTWAIT | MSG_NOSIGNAL) ==
	    (ssize_t)sizeof(pingresp) ? 0 : -1;
}
