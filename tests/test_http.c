/*
 * test_http.c - unit tests for core/http.c.
 *
 * URL lists and header lines are tested directly.  The client itself
 * (libcurl underneath) is tested against a tiny server forked from this
 * process that answers canned responses chosen by the request path,
 * including truncated, malformed, oversized, slow, overloaded (503) and
 * reset ones, and a dead URL before it in a list (failover).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "http.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) { \
		fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, \
		    #a, a_, #b, b_); \
		failures++; \
	} \
} while (0)

/* ---- URLs ---------------------------------------------------------------------- */

static int
url(const char *s, struct mqe2e_http_url *u)
{
	return mqe2e_http_parse_url(s, strlen(s), u);
}

static void
test_url(void)
{
	struct mqe2e_http_url u, list[MQE2E_HTTP_MAX_URLS];
	char err[256];
	size_t n = 0, i;
	static const char *const bad[] = {
		"", "http://", "https://", "ftp://x", "http://:80", "http://h:",
		"http://h:0", "http://h:65536", "http://h:80x", "http://h:-1", "http://u@h:80",
		"http://h:80/v1", "http://h/v1", "http://h?x", "http://[::1", "http://[]:80",
		"http://[::1]x", "http://h h", "http://h:99999999999999999999", "http://[g::1]:1",
		"127.0.0.1:8080", "http://h:80//", "https://h:443#f", "http://h,x",
	};

	CHECK_EQ(url("http://127.0.0.1:8080", &u), MQE2E_OK);
	CHECK(strcmp(u.host, "127.0.0.1") == 0 && u.port == 8080 && !u.tls && u.loopback);
	CHECK_EQ(url("HTTP://kms.example:1/", &u), MQE2E_OK);
	CHECK(strcmp(u.host, "kms.example") == 0 && u.port == 1 && !u.loopback);
	CHECK(strcmp(u.url, "HTTP://kms.example:1") == 0);
	CHECK_EQ(url("http://localhost", &u), MQE2E_OK);
	CHECK(u.port == 80 && u.loopback);
	CHECK_EQ(url("https://kms.example", &u), MQE2E_OK);
	CHECK(u.port == 443 && u.tls && !u.loopback);
	CHECK_EQ(url("https://[::1]:65535", &u), MQE2E_OK);
	CHECK(strcmp(u.host, "::1") == 0 && u.port == 65535 && u.tls && u.loopback);
	CHECK_EQ(url("http://127.255.0.9:1", &u), MQE2E_OK);
	CHECK(u.loopback);
	/* not loopback: other addresses, names that only look like it */
	CHECK_EQ(url("http://128.0.0.1:1", &u), MQE2E_OK);
	CHECK(!u.loopback);
	CHECK_EQ(url("http://127.0.0.1.example:1", &u), MQE2E_OK);
	CHECK(!u.loopback);
	CHECK_EQ(url("http://[::2]:1", &u), MQE2E_OK);
	CHECK(!u.loopback);
	CHECK_EQ(url("http://[::ffff:127.0.0.1]:1", &u), MQE2E_OK);
	CHECK(!u.loopback);
	CHECK_EQ(url("http://localhost.example:1", &u), MQE2E_OK);
	CHECK(!u.loopback);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (url(bad[i], &u) != MQE2E_ERR_INVALID_ARG) {
			fprintf(stderr, "URL \"%s\" accepted\n", bad[i]);
			failures++;
		}
	}
	/* a host too long */
	{
		char longu[400];

		memset(longu, 'a', sizeof(longu));
		memcpy(longu, "http://", 7);
		longu[sizeof(longu) - 1] = '\0';
		CHECK_EQ(url(longu, &u), MQE2E_ERR_INVALID_ARG);
	}

	/* lists */
	CHECK_EQ(mqe2e_http_parse_urls(" https://a:1 ,http://127.0.0.1:2,https://[::1]:3/", list,
	    MQE2E_HTTP_MAX_URLS, &n, err, sizeof(err)), MQE2E_OK);
	CHECK_EQ(n, 3);
	CHECK(strcmp(list[0].url, "https://a:1") == 0 && strcmp(list[1].host, "127.0.0.1") == 0);
	CHECK(strcmp(list[2].url, "https://[::1]:3") == 0 && list[2].port == 3);
	CHECK_EQ(mqe2e_http_parse_urls("https://a:1,,https://b:2", list, MQE2E_HTTP_MAX_URLS, &n,
	    err, sizeof(err)), MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "bad KMS URL \"\"") != NULL);
	CHECK_EQ(mqe2e_http_parse_urls("https://a:1,ftp://b", list, MQE2E_HTTP_MAX_URLS, &n,
	    err, sizeof(err)), MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "ftp://b") != NULL);
	CHECK_EQ(mqe2e_http_parse_urls("http://a,http://b,http://c", list, 2, &n, err,
	    sizeof(err)), MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "too many") != NULL);
	CHECK_EQ(mqe2e_http_parse_urls("", list, 2, &n, err, sizeof(err)), MQE2E_ERR_INVALID_ARG);
}

/* ---- header lines ------------------------------------------------------------------ */

static void
test_headers(void)
{
	struct mqe2e_http_response res;
	char hint[96];
	size_t i;
	static const char *const bads[] = {
		"NoColon\r\n", ": empty\r\n", "Bad Name: x\r\n", " folded\r\n",
		"A: x\001y\r\n", "A: x\ry\r\n", "A\x7f: b\r\n",
	};

	memset(&res, 0, sizeof(res));
#define H(s) mqe2e_http_parse_header(s, strlen(s), &res)
	CHECK_EQ(H("HTTP/1.1 200 OK\r\n"), MQE2E_OK);
	CHECK_EQ(res.retry_after_s, -1);
	CHECK_EQ(H("Content-Type: application/json\r\n"), MQE2E_OK);
	CHECK_EQ(H("x-request-id:abc-1   \r\n"), MQE2E_OK);
	CHECK_EQ(H("X-Other: ignored\r\n"), MQE2E_OK);
	CHECK_EQ(H("\r\n"), MQE2E_OK);
	CHECK(strcmp(res.content_type, "application/json") == 0);
	CHECK(strcmp(res.request_id, "abc-1") == 0);
	/* a new status line (after a 1xx) forgets the previous head */
	CHECK_EQ(H("HTTP/1.1 201 Created\n"), MQE2E_OK);
	CHECK(res.content_type[0] == '\0' && res.request_id[0] == '\0');
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++)
		if (H(bads[i]) != MQE2E_ERR_BAD_FORMAT) {
			fprintf(stderr, "header \"%s\" accepted\n", bads[i]);
			failures++;
		}
	/* a long value is cut at the field's size */
	{
		char big[400];

		memset(big, 'v', sizeof(big));
		memcpy(big, "Content-Type: ", 14);
		big[sizeof(big) - 1] = '\0';
		CHECK_EQ(H(big), MQE2E_OK);
		CHECK_EQ(strlen(res.content_type), sizeof(res.content_type) - 1);
	}

	/* Retry-After (429/503 of a KMS) and the hint every caller appends */
	static const struct {
		const char *line;
		int status, retry;
		const char *hint;
	} cases[] = {
		{ "Retry-After: 2\r\n", 503, 2, " (the KMS is overloaded: retry in 2 s)" },
		{ "retry-after:  7 \r\n", 429, 7, " (the KMS is limiting this requester: retry in 7 s)" },
		{ "Retry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n", 503, -1,
		    " (the KMS is overloaded or unavailable: retry later)" },
		{ "Retry-After: 99999999999999999999999\r\n", 503, MQE2E_HTTP_MAX_RETRY_AFTER,
		    " (the KMS is overloaded: retry in 3600 s)" },
		{ "Retry-After: 5\r\n", 200, 5, "" },
		{ "Retry-After: 5x\r\n", 404, -1, "" },
	};
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(H("HTTP/1.1 503 x\r\n"), MQE2E_OK);
		CHECK_EQ(H(cases[i].line), MQE2E_OK);
		res.status = cases[i].status;
		CHECK_EQ(res.retry_after_s, cases[i].retry);
		mqe2e_http_retry_hint(&res, hint, sizeof(hint));
		if (strcmp(hint, cases[i].hint) != 0) {
			fprintf(stderr, "hint for \"%s\": \"%s\"\n", cases[i].line, hint);
			failures++;
		}
	}
	res.status = 503;
	res.retry_after_s = 1;
	res.attempts = 4;
	mqe2e_http_retry_hint(&res, hint, sizeof(hint));
	CHECK(strcmp(hint, " (the KMS is overloaded: retry in 1 s; 4 attempts)") == 0);
	mqe2e_http_retry_hint(NULL, hint, sizeof(hint));
	CHECK(hint[0] == '\0');
#undef H
}

/* ---- a canned server ------------------------------------------------------------- */

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
write_str(int fd, const char *s)
{
	return write_all(fd, s, strlen(s));
}

/* Read one request (head + Content-Length body) into buf; returns its size. */
static size_t
read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0, need = 0;
	char *end, *cl;

	for (;;) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);

		if (n <= 0)
			return len;
		len += (size_t)n;
		buf[len] = '\0';
		if (need == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			size_t body = 0;

			if ((cl = strstr(buf, "Content-Length: ")) != NULL && cl < end)
				body = strtoul(cl + 16, NULL, 10);
			need = (size_t)(end + 4 - buf) + body;
		}
		if ((need != 0 && len >= need) || len == cap - 1)
			return len;
	}
}

static unsigned flaky_count, flaky_ra_count, flaky_echo_count, reset_count;

static void
serve_one(int c)
{
	char req[65536], path[256] = "", resp[66000];
	size_t len, i;


	len = read_request(c, req, sizeof(req));
	/* "METHOD /path HTTP/1.1": copy the path */
	{
		const char *p = memchr(req, ' ', len), *e;

		if (p != NULL && (e = memchr(p + 1, ' ', len - (size_t)(p + 1 - req))) != NULL &&
		    (size_t)(e - p - 1) < sizeof(path)) {
			memcpy(path, p + 1, (size_t)(e - p - 1));
			path[e - p - 1] = '\0';
		}
	}
	if (strcmp(path, "/echo") == 0) {
		/* body = the request as received */
		snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		    "X-Request-Id: r-42\r\nContent-Length: %zu\r\n\r\n", len);
		write_str(c, resp);
		write_all(c, req, len);
	} else if (strcmp(path, "/flaky") == 0) {
		/* two "overloaded" answers, then the real one */
		if (flaky_count++ < 2)
			write_str(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n"
			    "Content-Length: 0\r\n\r\n");
		else
			write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthird");
	} else if (strcmp(path, "/flaky-echo") == 0) {
		/* two "overloaded" answers, then the request as received */
		if (flaky_echo_count++ < 2) {
			write_str(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n"
			    "Content-Length: 0\r\n\r\n");
		} else {
			snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
			    len);
			write_str(c, resp);
			write_all(c, req, len);
		}
	} else if (strcmp(path, "/flaky-ra") == 0) {
		if (flaky_ra_count++ < 1)
			write_str(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
			    "Content-Length: 0\r\n\r\n");
		else
			write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else if (strcmp(path, "/busy-by-name") == 0) {
		/* one server under two names: overloaded as 127.0.0.1, fine as localhost */
		if (strstr(req, "\r\nHost: 127.0.0.1:") != NULL)
			write_str(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n"
			    "Content-Length: 0\r\n\r\n");
		else
			write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else if (strcmp(path, "/busy") == 0) {
		write_str(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
		    "Content-Length: 0\r\n\r\n");
	} else if (strcmp(path, "/reset") == 0) {
		/* the first connection is reset (RST), as by an overloaded server */
		if (reset_count++ < 1) {
			struct linger lg = { 1, 0 };

			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(c);
			return;
		}
		write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else if (strcmp(path, "/chunked") == 0) {
		write_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
		write_str(c, "3\r\nabc\r\n");
		usleep(20000);
		write_str(c, "3\r\ndef\r\n0\r\n\r\n");
	} else if (strcmp(path, "/keepopen") == 0) {
		/* complete response, connection left open: the client must not wait */
		write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
		usleep(1500000);
	} else if (strcmp(path, "/truncated") == 0) {
		write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a little");
	} else if (strcmp(path, "/truncated-chunked") == 0) {
		write_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nshort");
	} else if (strcmp(path, "/nothing") == 0) {
		/* close without a byte */
	} else if (strcmp(path, "/garbage") == 0) {
		write_str(c, "SSH-2.0-OpenSSH_9.2\r\n\r\n");
	} else if (strcmp(path, "/smuggle") == 0) {
		write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
		    "\r\n0\r\n\r\n");
	} else if (strcmp(path, "/huge-length") == 0) {
		write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 4194305\r\n\r\n");
	} else if (strcmp(path, "/huge-stream") == 0) {
		/* no length, more than the body cap, until close */
		write_str(c, "HTTP/1.1 200 OK\r\n\r\n");
		memset(resp, 'x', sizeof(resp));
		for (i = 0; i < (MQE2E_HTTP_MAX_BODY / sizeof(resp)) + 2; i++)
			if (write_all(c, resp, sizeof(resp)) != 0)
				break;
	} else if (strcmp(path, "/huge-header") == 0) {
		/* 40 header lines of 1000 bytes: above MQE2E_HTTP_MAX_HEADER */
		write_str(c, "HTTP/1.1 200 OK\r\n");
		memset(resp, 'h', 1000);
		memcpy(resp, "X-Big: ", 7);
		memcpy(resp + 998, "\r\n", 2);
		for (i = 0; i < 40; i++)
			if (write_all(c, resp, 1000) != 0)
				break;
		write_str(c, "Content-Length: 0\r\n\r\n");
	} else if (strcmp(path, "/exact-cap") == 0) {
		snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n",
		    MQE2E_HTTP_MAX_BODY);
		write_str(c, resp);
		memset(resp, 'y', sizeof(resp));
		for (len = MQE2E_HTTP_MAX_BODY; len > 0; ) {
			size_t n = len < sizeof(resp) ? len : sizeof(resp);

			if (write_all(c, resp, n) != 0)
				break;
			len -= n;
		}
	} else if (strcmp(path, "/early") == 0) {
		/* answer before the body has arrived and close on it */
		write_str(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n");
		shutdown(c, SHUT_WR);
		usleep(50000);
	} else if (strcmp(path, "/slow") == 0) {
		usleep(1500000);
		write_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	} else {
		write_str(c, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
		    "Content-Length: 26\r\n\r\n{\"error\":{\"code\":\"nope\"}}\n");
	}
}

static void
serve(int ls)
{
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		int c = accept(ls, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		serve_one(c);
		shutdown(c, SHUT_WR);   /* fails harmlessly after /reset closed it */
		close(c);
	}
}

static int
listen_loopback(uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (s < 0)
		return -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 16) != 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) != 0) {
		close(s);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return s;
}

static int
get(struct mqe2e_http *h, const char *path, int timeout_ms, struct mqe2e_http_response *res)
{
	return mqe2e_http_request(h, "GET", path, NULL, NULL, NULL, 0, timeout_ms, -1, res);
}

static struct mqe2e_http *
endpoint(const char *urls, unsigned flags)
{
	struct mqe2e_http *h = NULL;
	char err[256];

	if (mqe2e_http_new(urls, NULL, flags, &h, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "mqe2e_http_new(%s): %s\n", urls, err);
		failures++;
	}
	return h;
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A body callback: "body-of-attempt-N" for attempt N. */
struct body_maker {
	char buf[64];
	unsigned calls;
	int fail;
};

static int
make_body(void *arg, unsigned attempt, const uint8_t **body, size_t *len, char *msg,
    size_t msglen)
{
	struct body_maker *bm = arg;

	bm->calls++;
	if (bm->fail) {
		snprintf(msg, msglen, "no signing key today");
		return MQE2E_ERR_NOMEM;
	}
	snprintf(bm->buf, sizeof(bm->buf), "body-of-attempt-%u", attempt);
	*body = (const uint8_t *)bm->buf;
	*len = strlen(bm->buf);
	return MQE2E_OK;
}

static void
test_client(void)
{
	struct mqe2e_http_response res;
	struct mqe2e_http *h, *once, *two;
	char url[64], dead[64], list[160], err[256];
	uint16_t port, dport;
	pid_t pid;
	int ls, dl, r, pfd[2];
	long long t0, dt;
	static const uint8_t body[] = "{\"name\":\"c1\"}";

	ls = listen_loopback(&port);
	dl = listen_loopback(&dport);   /* a port that refuses: bound, then closed */
	CHECK(ls >= 0 && dl >= 0);
	if (ls < 0 || dl < 0)
		return;
	close(dl);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)port);
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%u", (unsigned)dport);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		serve(ls);
	close(ls);
	h = endpoint(url, 0);
	once = endpoint(url, MQE2E_HTTP_ONCE);
	if (h == NULL || once == NULL)
		goto done;
	CHECK(mqe2e_http_warning(h) == NULL);
	CHECK(strcmp(mqe2e_http_urls(h), url) == 0);

	/* what we send */
	r = mqe2e_http_request(h, "POST", "/echo", "application/json", "s3cret-token", body,
	    sizeof(body) - 1, 5000, -1, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 200);
	CHECK_EQ(res.attempts, 1);
	CHECK(strcmp(res.url, url) == 0);
	CHECK(strcmp(res.request_id, "r-42") == 0);
	CHECK(strcmp(res.content_type, "text/plain") == 0);
	CHECK(res.body != NULL && strncmp((char *)res.body, "POST /echo HTTP/1.1\r\n", 21) == 0);
	CHECK(res.body != NULL && strstr((char *)res.body, "\r\nAuthorization: Bearer s3cret-token\r\n"));
	CHECK(res.body != NULL && strstr((char *)res.body, "\r\nContent-Type: application/json\r\n"));
	CHECK(res.body != NULL && strstr((char *)res.body, "\r\nContent-Length: 13\r\n"));
	CHECK(res.body != NULL && strstr((char *)res.body, "\r\n\r\n{\"name\":\"c1\"}"));
	CHECK(res.body != NULL && strstr((char *)res.body, "Expect") == NULL);
	mqe2e_http_response_free(&res);
	/* no body, no content type: curl must not invent one */
	r = mqe2e_http_request(h, "DELETE", "/echo", NULL, NULL, NULL, 0, 5000, -1, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK(res.body != NULL && strncmp((char *)res.body, "DELETE /echo HTTP/1.1\r\n", 23) == 0);
	CHECK(res.body != NULL && strstr((char *)res.body, "Content-Type") == NULL);
	CHECK(res.body != NULL && strstr((char *)res.body, "Authorization") == NULL);
	mqe2e_http_response_free(&res);

	r = get(h, "/nowhere", 5000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 404);
	CHECK(strcmp(res.content_type, "application/json") == 0);
	CHECK_EQ(res.body_len, 26);
	mqe2e_http_response_free(&res);

	r = get(h, "/chunked", 5000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK(res.body_len == 6 && memcmp(res.body, "abcdef", 6) == 0);
	mqe2e_http_response_free(&res);

	r = get(h, "/keepopen", 1000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK(res.body_len == 2 && memcmp(res.body, "ok", 2) == 0);
	mqe2e_http_response_free(&res);

	r = get(h, "/exact-cap", 20000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.body_len, MQE2E_HTTP_MAX_BODY);
	mqe2e_http_response_free(&res);

	/* failures: each with an error text naming the URL and no body */
	static const struct { const char *path; int err; } fails[] = {
		{ "/truncated", MQE2E_ERR_TRUNCATED },
		{ "/truncated-chunked", MQE2E_ERR_TRUNCATED },
		{ "/nothing", MQE2E_ERR_TRUNCATED },
		{ "/garbage", MQE2E_ERR_BAD_FORMAT },
		{ "/huge-length", MQE2E_ERR_TOO_LONG },
		{ "/huge-stream", MQE2E_ERR_TOO_LONG },
		{ "/huge-header", MQE2E_ERR_TOO_LONG },
	};
	for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
		r = get(once, fails[i].path, 10000, &res);
		if (r != fails[i].err) {
			fprintf(stderr, "%s: %d (%s), expected %d\n", fails[i].path, r, res.error,
			    fails[i].err);
			failures++;
		}
		CHECK(res.body == NULL && res.status == 0);
		CHECK(strstr(res.error, url) != NULL);
		mqe2e_http_response_free(&res);
	}

	/* an early answer while a large body is still being sent */
	{
		size_t big = 8u << 20;
		uint8_t *b = calloc(1, big);

		CHECK(b != NULL);
		if (b != NULL) {
			r = mqe2e_http_request(once, "POST", "/early", "application/octet-stream",
			    NULL, b, big, 10000, -1, &res);
			if (r != MQE2E_OK || res.status != 413) {
				fprintf(stderr, "/early: %d status %d (%s)\n", r, res.status, res.error);
				failures++;
			}
			mqe2e_http_response_free(&res);
			free(b);
		}
	}

	r = get(h, "/slow", 300, &res);
	CHECK_EQ(r, MQE2E_ERR_TIMEOUT);
	CHECK(strstr(res.error, "300 ms") != NULL);
	mqe2e_http_response_free(&res);

	/* retries: 503 twice, then the answer */
	t0 = mono_ms();
	r = get(h, "/flaky", 5000, &res);
	dt = mono_ms() - t0;
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 200);
	CHECK_EQ(res.attempts, 3);
	CHECK(res.body_len == 5 && memcmp(res.body, "third", 5) == 0);
	printf("503, 503, 200: %u attempts in %lld ms\n", res.attempts, dt);
	mqe2e_http_response_free(&res);
	/* a body made per attempt (a signed request with a nonce): each retry
	 * sends the one made for it, never an earlier one */
	{
		struct body_maker bm;
		struct mqe2e_http_req rq;

		memset(&bm, 0, sizeof(bm));
		memset(&rq, 0, sizeof(rq));
		rq.method = "POST";
		rq.path = "/flaky-echo";
		rq.content_type = "application/octet-stream";
		rq.make_body = make_body;
		rq.body_arg = &bm;
		rq.timeout_ms = 5000;
		rq.cancel_fd = -1;
		r = mqe2e_http_send(h, &rq, &res);
		CHECK_EQ(r, MQE2E_OK);
		CHECK_EQ(res.status, 200);
		CHECK_EQ(res.attempts, 3);
		CHECK_EQ(bm.calls, 3);
		CHECK(res.body != NULL && memmem(res.body, res.body_len, "body-of-attempt-3", 17) != NULL);
		CHECK(res.body != NULL && memmem(res.body, res.body_len, "body-of-attempt-1", 17) == NULL);
		mqe2e_http_response_free(&res);
		/* one round (a caller that paces its own retries): one attempt */
		memset(&bm, 0, sizeof(bm));
		rq.path = "/busy";
		rq.max_rounds = 1;
		r = mqe2e_http_send(h, &rq, &res);
		CHECK_EQ(r, MQE2E_OK);
		CHECK_EQ(res.status, 503);
		CHECK_EQ(res.attempts, 1);
		CHECK_EQ(bm.calls, 1);
		mqe2e_http_response_free(&res);
		/* a body that cannot be made ends the request before any attempt */
		memset(&bm, 0, sizeof(bm));
		bm.fail = 1;
		rq.max_rounds = 0;
		r = mqe2e_http_send(h, &rq, &res);
		CHECK_EQ(r, MQE2E_ERR_NOMEM);
		CHECK_EQ(res.attempts, 0);
		CHECK(strstr(res.error, "no signing key today") != NULL);
		mqe2e_http_response_free(&res);
	}
	/* Retry-After is honoured: no second attempt before 1 s */
	t0 = mono_ms();
	r = get(h, "/flaky-ra", 5000, &res);
	dt = mono_ms() - t0;
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 200);
	CHECK_EQ(res.attempts, 2);
	CHECK(dt >= 1000);
	printf("503 Retry-After 1, 200: %u attempts in %lld ms\n", res.attempts, dt);
	mqe2e_http_response_free(&res);
	/* always overloaded: the 503 comes back before the deadline, with the count */
	t0 = mono_ms();
	r = get(h, "/busy", 2500, &res);
	dt = mono_ms() - t0;
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 503);
	CHECK(res.attempts >= 2);
	CHECK(dt < 2500);
	{
		char hint[96];

		mqe2e_http_retry_hint(&res, hint, sizeof(hint));
		CHECK(strstr(hint, "attempts") != NULL);
		printf("always 503: gave up after %u attempts in %lld ms%s\n", res.attempts, dt, hint);
	}
	mqe2e_http_response_free(&res);
	/* ONCE: the first 503 is the answer */
	r = get(once, "/busy", 2500, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 503);
	CHECK_EQ(res.attempts, 1);
	mqe2e_http_response_free(&res);
	/* a reset connection is tried again */
	r = get(h, "/reset", 5000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 200);
	CHECK_EQ(res.attempts, 2);
	mqe2e_http_response_free(&res);

	/* cancel: a readable fd ends a request (or its backoff) at once */
	if (pipe(pfd) == 0) {
		CHECK(write(pfd[1], "x", 1) == 1);
		t0 = mono_ms();
		r = mqe2e_http_request(h, "GET", "/slow", NULL, NULL, NULL, 0, 5000, pfd[0], &res);
		CHECK_EQ(r, MQE2E_ERR_TIMEOUT);
		CHECK(strstr(res.error, "cancelled") != NULL);
		mqe2e_http_response_free(&res);
		r = mqe2e_http_request(h, "GET", "/busy", NULL, NULL, NULL, 0, 5000, pfd[0], &res);
		CHECK_EQ(r, MQE2E_ERR_TIMEOUT);
		mqe2e_http_response_free(&res);
		CHECK(mono_ms() - t0 < 1000);
		close(pfd[0]);
		close(pfd[1]);
	}

	/* failover: a dead URL first, then the server; the good one is remembered */
	snprintf(list, sizeof(list), "%s, %s", dead, url);
	if ((two = endpoint(list, 0)) != NULL) {
		r = get(two, "/nowhere", 5000, &res);
		CHECK_EQ(r, MQE2E_OK);
		CHECK_EQ(res.status, 404);
		CHECK_EQ(res.attempts, 2);
		CHECK(strcmp(res.url, url) == 0);
		mqe2e_http_response_free(&res);
		CHECK(strcmp(mqe2e_http_current_url(two), url) == 0);
		r = get(two, "/nowhere", 5000, &res);
		CHECK_EQ(res.attempts, 1);
		mqe2e_http_response_free(&res);
		mqe2e_http_free(two);
	}
	/* failover on 503: the next URL at once, not after Retry-After (30 s) */
	snprintf(list, sizeof(list), "%s,http://localhost:%u", url, (unsigned)port);
	if ((two = endpoint(list, 0)) != NULL) {
		t0 = mono_ms();
		r = get(two, "/busy-by-name", 5000, &res);
		dt = mono_ms() - t0;
		CHECK_EQ(r, MQE2E_OK);
		CHECK_EQ(res.status, 200);
		CHECK_EQ(res.attempts, 2);
		CHECK(strncmp(res.url, "http://localhost:", 17) == 0);
		CHECK(dt < 1000);
		printf("503 at %s, 200 at %s: %u attempts in %lld ms\n", url, res.url, res.attempts, dt);
		mqe2e_http_response_free(&res);
		mqe2e_http_free(two);
	}

	/* header injection and bad arguments never reach the wire */
	r = mqe2e_http_request(h, "GET", "/echo", NULL, "tok\r\nX-Evil: 1", NULL, 0, 1000, -1, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(h, "GET", "/a b", NULL, NULL, NULL, 0, 1000, -1, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(h, "GET", "nopath", NULL, NULL, NULL, 0, 1000, -1, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(h, "get", "/", NULL, NULL, NULL, 0, 1000, -1, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(h, "POST", "/", "a/b\r\n", NULL, NULL, 0, 1000, -1, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(h, "POST", "/", NULL, NULL, NULL, 5, 1000, -1, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	/* nobody listening any more: refused, with a hint, after some attempts */
	r = get(h, "/", 1500, &res);
	CHECK_EQ(r, MQE2E_ERR_UNAVAILABLE);
	CHECK(strstr(res.error, "refused") != NULL);
	CHECK(strstr(res.error, "mqe2e-kmsd") != NULL);
	CHECK(strstr(res.error, url) != NULL);
	CHECK(strstr(res.error, "attempts") != NULL);
	CHECK(res.attempts > 1);
	printf("refused: %s\n", res.error);
	mqe2e_http_response_free(&res);
done:
	mqe2e_http_free(h);
	mqe2e_http_free(once);

	/* endpoints that are refused before any request */
	h = NULL;
	CHECK_EQ(mqe2e_http_new("https://127.0.0.1:1", NULL, 0, &h, err, sizeof(err)),
	    MQE2E_ERR_INVALID_ARG);
	CHECK(h == NULL && strstr(err, "CA file") != NULL);
	CHECK_EQ(mqe2e_http_new("https://127.0.0.1:1", "/nonexistent/ca.crt", 0, &h, err,
	    sizeof(err)), MQE2E_ERR_IO);
	CHECK(strstr(err, "/nonexistent/ca.crt") != NULL);
	CHECK_EQ(mqe2e_http_new("ftp://x", NULL, 0, &h, err, sizeof(err)), MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "ftp://x") != NULL);
	/* plain http off loopback: a warning, and never the admin token */
	if ((h = endpoint("http://192.0.2.1:7780", 0)) != NULL) {
		CHECK(mqe2e_http_warning(h) != NULL &&
		    strstr(mqe2e_http_warning(h), "192.0.2.1") != NULL);
		r = mqe2e_http_request(h, "GET", "/v1/clients", NULL, "tok", NULL, 0, 1000, -1, &res);
		CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
		CHECK(strstr(res.error, "clear text") != NULL);
		mqe2e_http_response_free(&res);
		mqe2e_http_free(h);
	}
	mqe2e_http_response_free(NULL);
	mqe2e_http_free(NULL);
}

int
main(void)
{
	test_url();
	test_headers();
	test_client();
	if (failures != 0) {
		fprintf(stderr, "test_http: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_http: ok\n");
	return 0;
}
