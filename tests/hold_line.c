/*
 * hold_line.c - the line of client/hold.c against a stranger who connects
 * to its listener first.
 *
 * The listener hold.c opens on 127.0.0.1 accepts whoever connects first; only
 * a connection whose CONNECT carries the process's random client id may
 * become the line (anyone else could otherwise feed paho's parser through
 * the held client).  Linked with -Wl,--wrap=listen: __wrap_listen below
 * connects a stranger to the listener the moment it listens, so that the
 * stranger is first in the queue, before paho's held client.  Each case runs
 * in a child process of its own (hold.c works once per process):
 *
 *   none     no stranger: the line is made
 *   wrongid  the stranger sends a well-formed CONNECT with another id
 *   garbage  the stranger sends bytes that are no CONNECT
 *   stall    the stranger sends nothing (closed after LINE_PEER_MS)
 *
 * In every case the line must be made (one connection of the process to
 * itself, carrying the held client's CONNECT and our CONNACK), a wake must go
 * down it, and the stranger must have been closed (it reads the CONNACK,
 * then end of file).  How long hold__paho() took is printed, not judged.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "hold.h"
#include "selfline.h"

int __real_listen(int fd, int backlog);
int __wrap_listen(int fd, int backlog);

static const char *mode = "none";
static int stranger = -1;

/* Connect the stranger to the listener as soon as it listens. */
int
__wrap_listen(int fd, int backlog)
{
	/* CONNECT, MQTT 3.1.1, clean session, client id "mallory" */
	static const unsigned char wrongid[] = {
		0x10, 0x13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00,
		0x00, 0x07, 'm', 'a', 'l', 'l', 'o', 'r', 'y'
	};
	static const unsigned char garbage[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int r = __real_listen(fd, backlog);

	if (r != 0 || strcmp(mode, "none") == 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0 ||
	    (stranger = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(stranger, (struct sockaddr *)&a, al) != 0)
		return r;
	if (strcmp(mode, "wrongid") == 0)
		(void)!write(stranger, wrongid, sizeof(wrongid));
	else if (strcmp(mode, "garbage") == 0)
		(void)!write(stranger, garbage, sizeof(garbage) - 1);
	return r;
}


/* What the stranger got: 1 if a CONNACK and then end of file. */
static int
stranger_closed(void)
{
	unsigned char b[16];
	struct pollfd p = { .fd = stranger, .events = POLLIN };
	size_t got = 0;
	ssize_t k;

	for (;;) {
		if (poll(&p, 1, 2000) != 1)
			return 0;
		if ((k = read(stranger, b + got, sizeof(b) - got)) < 0)
			return errno == ECONNRESET && got == 4;
		if (k == 0)
			break;
		if ((got += (size_t)k) >= sizeof(b))
			return 0;
	}
	return got == 4 && b[0] == 0x20 && b[1] == 0x02;
}

static int
run(void)
{
	unsigned long long bytes = 0, after = 0;
	double t0 = self_now_ms();
	int lines, i;

	hold__paho();
	printf("%s: hold__paho() took %.1f ms\n", mode, self_now_ms() - t0);
	if ((lines = self_lines(&bytes)) != 1) {
		fprintf(stderr, "%s: %d connections of the process to itself, expected 1\n", mode,
		    lines);
		return 1;
	}
	if (hold__wake() != 0) {
		fprintf(stderr, "%s: hold__wake() found no line\n", mode);
		return 1;
	}
	/* the held client's CONNECT (57 bytes with our 43-byte id) and our
	 * CONNACK (4), then the wake's 2 */
	for (i = 0; i < 100 && after != bytes + 2; i++) {
		struct timespec ts = { 0, 10 * 1000000L };

		nanosleep(&ts, NULL);
		(void)self_lines(&after);
	}
	if (bytes != 61 || after != 63) {
		fprintf(stderr, "%s: the line carried %llu bytes, then %llu after a wake; "
		    "expected 61 (CONNECT, CONNACK) and 63\n", mode, bytes, after);
		return 1;
	}
	if (stranger >= 0 && !stranger_closed()) {
		fprintf(stderr, "%s: the stranger was not answered CONNACK and closed\n", mode);
		return 1;
	}
	if (strcmp(mode, "none") != 0 && stranger < 0) {
		fprintf(stderr, "%s: the stranger could not connect to the listener\n", mode);
		return 1;
	}
	printf("%s: the line is up%s\n", mode, stranger >= 0 ? "; the stranger was closed" : "");
	return 0;
}

int
main(void)
{
	static const char *const modes[] = { "none", "wrongid", "garbage", "stall" };
	size_t i;
	int failed = 0, st;
	pid_t pid;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		fflush(stdout);
		if ((pid = fork()) < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			mode = modes[i];
			st = run();
			fflush(stdout);
			_exit(st);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "hold_line: case %s failed\n", modes[i]);
			failed = 1;
		}
	}
	return failed;
}
