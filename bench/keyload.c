/*
 * keyload.c - the requesters' side of "mqe2e-bench kms" key load (see
 * keyload.h): KEY_REQUESTs signed ahead, each POSTed on a connection of its
 * own by a minimal HTTP/1.1 client.
 *
 * The load generator shares the machine with the KMS it measures.  Signing
 * a request (Ed25519 and an X25519 key pair) and a general-purpose HTTP
 * client cost the generator more CPU per request than the KMS spends on
 * answering it, so a cell would measure the generator as much as the KMS.
 * Here the signing happens before the timed window and the timed part is
 * socket, connect, one write, read to the end, close.  The KMS's work is
 * unchanged: every request is a distinct, freshly signed KEY_REQUEST (own
 * ephemeral key and nonce) that it authenticates, authorises, answers and
 * signs in full.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "keyload.h"

void
kl_batch_free(struct kl_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++) {
		mqe2e_keyreq_free(b->r[i].st);
		free(b->r[i].req);
	}
	free(b->r);
	memset(b, 0, sizeof(*b));
}

int
kl_batch_sign(struct kl_batch *b, struct mqe2e_identity *const *ids, size_t nids,
    size_t first, size_t stride, size_t n, char *err, size_t errlen)
{
	size_t i;
	int r;

	memset(b, 0, sizeof(*b));
	if (nids == 0 || stride == 0)
		return -1;
	if (n > 0 && (b->r = calloc(n, sizeof(*b->r))) == NULL) {
		snprintf(err, errlen, "out of memory for %zu signed requests", n);
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct kl_req *q = &b->r[i];

		if ((r = mqe2e_keyreq_build(ids[(first + i * stride) % nids], NULL, 0,
		    mqe2e_now_ms(), &q->st, &q->req, &q->len)) != MQE2E_OK) {
			snprintf(err, errlen, "cannot build a key request: %s", mqe2e_strerror(r));
			kl_batch_free(b);
			return -1;
		}
		b->n = i + 1;
	}
	return 0;
}

/* The status code of "HTTP/1.x NNN ...". */
static int
status_of(const uint8_t *p, size_t len)
{
	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
	    p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9')
		return -1;
	return (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
}

/* The value of Content-Length in the header block head[0..len), or -1. */
static long
content_length(const uint8_t *head, size_t len)
{
	static const char name[] = "\r\ncontent-length:";
	size_t i, j, nl = sizeof(name) - 1;
	long v = -1;

	for (i = 0; i + nl <= len; i++) {
		for (j = 0; j < nl; j++) {
			uint8_t c = head[i + j];

			if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != (uint8_t)name[j])
				break;
		}
		if (j < nl)
			continue;
		for (i += nl; i < len && head[i] == ' '; i++)
			;
		for (v = 0; i < len && head[i] >= '0' && head[i] <= '9' && v < 100000000; i++)
			v = v * 10 + (head[i] - '0');
		return v;
	}
	return -1;
}

int
kl_post(const struct sockaddr_in *sa, const char *hostport, const char *path,
    const struct kl_req *q, int timeout_ms, struct kl_answer *a)
{
	char head[256];
	struct iovec iov[2];
	struct timeval tv;
	size_t got = 0;
	ssize_t n;
	const uint8_t *eoh;
	long clen;
	int fd, hl, one = 1;

	memset(a, 0, sizeof(*a));
	a->status = -1;
	hl = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", path, hostport, q->len);
	if (hl < 0 || (size_t)hl >= sizeof(head)) {
		snprintf(a->error, sizeof(a->error), "request head too long");
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(a->error, sizeof(a->error), "socket: %s", strerror(errno));
		return -1;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
		snprintf(a->error, sizeof(a->error), "connect to %s: %s", hostport,
		    strerror(errno));
		goto fail;
	}
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)hl;
	iov[1].iov_base = q->req;
	iov[1].iov_len = q->len;
	if ((n = writev(fd, iov, 2)) != (ssize_t)((size_t)hl + q->len)) {
		/* a short write of a few hundred bytes to loopback: report it */
		snprintf(a->error, sizeof(a->error), "send to %s: %s", hostport,
		    n < 0 ? strerror(errno) : "short write");
		goto fail;
	}
	/* Connection: close - the answer ends where the KMS closes. */
	for (;;) {
		if (got == sizeof(a->buf)) {
			snprintf(a->error, sizeof(a->error), "answer longer than %zu bytes",
			    sizeof(a->buf));
			goto fail;
		}
		n = read(fd, a->buf + got, sizeof(a->buf) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(a->error, sizeof(a->error), "read from %s: %s", hostport,
			    errno == EAGAIN ? "timed out" : strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	eoh = memmem(a->buf, got, "\r\n\r\n", 4);
	if ((a->status = status_of(a->buf, got)) < 0 || eoh == NULL) {
		snprintf(a->error, sizeof(a->error), "%s: not an HTTP/1.x answer (%zu bytes)",
		    hostport, got);
		return -1;
	}
	a->body = eoh + 4;
	a->body_len = got - (size_t)(a->body - a->buf);
	clen = content_length(a->buf, (size_t)(eoh + 2 - a->buf));
	if (clen >= 0 && (size_t)clen != a->body_len) {
		snprintf(a->error, sizeof(a->error), "%s: body of %zu bytes, Content-Length %ld",
		    hostport, a->body_len, clen);
		a->status = -1;
		return -1;
	}
	return 0;
 fail:
	close(fd);
	return -1;
}
