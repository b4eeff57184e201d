/*
 * test_http.c - unit tests for core/http.c.
 *
 * URL parsing and the response parser are tested directly (every prefix of
 * a good response must read as "need more"; malformed and oversized ones
 * must be refused).  The client itself is tested against a tiny server
 * forked from this process that answers canned responses chosen by the
 * request path, including truncated, malformed, oversized and slow ones.
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

/* ---- URL ------------------------------------------------------------------------ */

static void
test_url(void)
{
	char host[MQE2E_HTTP_MAX_HOST];
	uint16_t port = 0;
	static const char *const bad[] = {
		"", "http://", "https://127.0.0.1:1", "ftp://x", "http://:80", "http://h:",
		"http://h:0", "http://h:65536", "http://h:80x", "http://h:-1", "http://u@h:80",
		"http://h:80/v1", "http://h/v1", "http://h?x", "http://[::1", "http://[]:80",
		"http://[::1]x", "http://h h", "http://h:99999999999999999999", "http://[g::1]:1",
		"127.0.0.1:8080", "http://h:80//",
	};
	size_t i;

	CHECK_EQ(mqe2e_http_parse_url("http://127.0.0.1:8080", host, sizeof(host), &port), MQE2E_OK);
	CHECK(strcmp(host, "127.0.0.1") == 0);
	CHECK_EQ(port, 8080);
	CHECK_EQ(mqe2e_http_parse_url("HTTP://kms.example:1/", host, sizeof(host), &port), MQE2E_OK);
	CHECK(strcmp(host, "kms.example") == 0);
	CHECK_EQ(port, 1);
	CHECK_EQ(mqe2e_http_parse_url("http://localhost", host, sizeof(host), &port), MQE2E_OK);
	CHECK_EQ(port, 80);
	CHECK_EQ(mqe2e_http_parse_url("http://[::1]:65535", host, sizeof(host), &port), MQE2E_OK);
	CHECK(strcmp(host, "::1") == 0);
	CHECK_EQ(port, 65535);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mqe2e_http_parse_url(bad[i], host, sizeof(host), &port);

		if (r != MQE2E_ERR_INVALID_ARG) {
			fprintf(stderr, "URL \"%s\" accepted\n", bad[i]);
			failures++;
		}
	}
	/* host too long for the caller's buffer */
	CHECK_EQ(mqe2e_http_parse_url("http://abcdefgh:1", host, 8, &port), MQE2E_ERR_INVALID_ARG);
}

/* ---- response parser --------------------------------------------------------------- */

struct good {
	const char *raw;
	int status;
	const char *body;
	int until_close;       /* body framed by EOF */
};

static const struct good goods[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
	  "X-Request-Id: abc-1\r\n\r\n{}", 200, "{}", 0 },
	{ "HTTP/1.1 404 Not Found\r\ncontent-length:5\r\n\r\nhello", 404, "hello", 0 },
	{ "HTTP/1.0 200\r\nContent-Length: 0\r\n\r\n", 200, "", 0 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n",
	  200, "Wikipedia in\r\n\r\nchunks.", 0 },
	{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nabc",
	  201, "abc", 0 },
	{ "HTTP/1.1 204 No Content\r\n\r\n", 204, "", 0 },
	{ "HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n\r\nread until close", 500,
	  "read until close", 1 },
};

static const char *const bads[] = {
	"HTTP/2 200 OK\r\n\r\n",
	"HTTP/1.1 20 OK\r\n\r\n",
	"HTTP/1.1 2000 OK\r\n\r\n",
	"HTTP/1.1 099 X\r\n\r\n",
	"HTTP/1.1 600 X\r\n\r\n",
	"HTTP/1.1 2x0 OK\r\n\r\n",
	"HTTP/1.1 200OK\r\n\r\n",
	"http/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\n\n",
	"HTTP/1.1 200 OK\r\nA: b\n\r\n",
	"HTTP/1.1 200 OK\rX\r\n\r\n",
	"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
	"HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
	"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nA: x\r\n folded\r\n\r\n",
	"HTTP/1.1 200 OK\r\nA: x\001y\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
	"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
	"HTTP/1.1 101 Switching\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
};

static void
test_parser(void)
{
	struct mqe2e_http_response res;
	size_t i, k, len;
	int r;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];

		len = strlen(g->raw);
		memset(&res, 0, sizeof(res));
		r = mqe2e_http_parse_response((const uint8_t *)g->raw, len, 1, 0, 0, &res);
		CHECK_EQ(r, MQE2E_OK);
		CHECK_EQ(res.status, g->status);
		CHECK_EQ(res.body_len, strlen(g->body));
		CHECK(res.body_len == 0 || memcmp(res.body, g->body, res.body_len) == 0);
		CHECK(res.body_len == 0 || res.body[res.body_len] == '\0');
		if (i == 0) {
			CHECK(strcmp(res.content_type, "application/json") == 0);
			CHECK(strcmp(res.request_id, "abc-1") == 0);
		}
		mqe2e_http_response_free(&res);
		/* Every proper prefix needs more bytes; at EOF it is truncated
		 * (a read-until-close body is complete at any length once the
		 * head is in). */
		for (k = 0; k < len; k++) {
			memset(&res, 0, sizeof(res));
			r = mqe2e_http_parse_response((const uint8_t *)g->raw, k, 0, 0, 0, &res);
			if (r != MQE2E_ERR_TRUNCATED) {
				fprintf(stderr, "good[%zu] prefix %zu: %d, expected TRUNCATED\n", i, k, r);
				failures++;
			}
			mqe2e_http_response_free(&res);
			r = mqe2e_http_parse_response((const uint8_t *)g->raw, k, 1, 0, 0, &res);
			if (r == MQE2E_OK && !g->until_close) {
				fprintf(stderr, "good[%zu] prefix %zu accepted at EOF\n", i, k);
				failures++;
			}
			mqe2e_http_response_free(&res);
		}
	}
	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		memset(&res, 0, sizeof(res));
		r = mqe2e_http_parse_response((const uint8_t *)bads[i], strlen(bads[i]), 1, 0, 0, &res);
		if (r != MQE2E_ERR_BAD_FORMAT) {
			fprintf(stderr, "bad[%zu] gave %d, expected BAD_FORMAT: %s\n", i, r, bads[i]);
			failures++;
		}
		CHECK(res.body == NULL);
		mqe2e_http_response_free(&res);
	}

	/* Caps: body above max_body, head above MQE2E_HTTP_MAX_HEADER, too many headers. */
	{
		const char *big = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
		const char *bigc = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n";
		const char *bige = "HTTP/1.1 200 OK\r\n\r\nhello world";
		char *hdr;
		size_t n;

		CHECK_EQ(mqe2e_http_parse_response((const uint8_t *)big, strlen(big), 1, 0, 10, &res),
		    MQE2E_ERR_TOO_LONG);
		CHECK_EQ(mqe2e_http_parse_response((const uint8_t *)bigc, strlen(bigc), 1, 0, 10, &res),
		    MQE2E_ERR_TOO_LONG);
		CHECK_EQ(mqe2e_http_parse_response((const uint8_t *)bige, strlen(bige), 1, 0, 10, &res),
		    MQE2E_ERR_TOO_LONG);
		CHECK_EQ(mqe2e_http_parse_response((const uint8_t *)bige, strlen(bige), 1, 0, 11, &res),
		    MQE2E_OK);
		mqe2e_http_response_free(&res);

		n = MQE2E_HTTP_MAX_HEADER + 64;
		hdr = malloc(n + 1);
		CHECK(hdr != NULL);
		if (hdr != NULL) {
			memset(hdr, 'a', n);
			memcpy(hdr, "HTTP/1.1 200 OK\r\nX: ", 20);
			CHECK_EQ(mqe2e_http_parse_response((const uint8_t *)hdr, n, 0, 0, 0, &res),
			    MQE2E_ERR_TOO_LONG);
			/* 101 short headers */
			len = (size_t)snprintf(hdr, n, "HTTP/1.1 200 OK\r\n");
			for (k = 0; k < 101; k++)
				len += (size_t)snprintf(hdr + len, n - len, "A: b\r\n");
			len += (size_t)snprintf(hdr + len, n - len, "\r\n");
			CHECK_EQ(mqe2e_http_parse_response((const uint8_t *)hdr, len, 1, 0, 0, &res),
			    MQE2E_ERR_TOO_LONG);
			free(hdr);
		}
		/* HEAD: no body even with a Content-Length */
		CHECK_EQ(mqe2e_http_parse_response((const uint8_t *)big, 40, 0, 1, 0, &res), MQE2E_OK);
		CHECK_EQ(res.body_len, 0);
		mqe2e_http_response_free(&res);
	}
}

/* Retry-After (429/503 of a KMS) and the hint every caller appends. */
static void
test_retry_after(void)
{
	static const struct {
		const char *raw;
		int status, retry;
		const char *hint;
	} cases[] = {
		{ "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n",
		    503, 2, " (the KMS is overloaded: retry in 2 s)" },
		{ "HTTP/1.1 429 Too Many Requests\r\nretry-after:  7 \r\nContent-Length: 0\r\n\r\n",
		    429, 7, " (the KMS is limiting this requester: retry in 7 s)" },
		{ "HTTP/1.1 503 x\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n"
		    "Content-Length: 0\r\n\r\n", 503, -1,
		    " (the KMS is overloaded or unavailable: retry later)" },
		{ "HTTP/1.1 503 x\r\nRetry-After: 99999999\r\nContent-Length: 0\r\n\r\n",
		    503, MQE2E_HTTP_MAX_RETRY_AFTER, " (the KMS is overloaded: retry in 3600 s)" },
		{ "HTTP/1.1 200 OK\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n", 200, 5, "" },
		{ "HTTP/1.1 404 x\r\nContent-Length: 0\r\n\r\n", 404, -1, "" },
	};
	struct mqe2e_http_response res;
	char hint[96];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&res, 0, sizeof(res));
		CHECK_EQ(mqe2e_http_parse_response((const uint8_t *)cases[i].raw,
		    strlen(cases[i].raw), 1, 0, 0, &res), MQE2E_OK);
		CHECK_EQ(res.status, cases[i].status);
		CHECK_EQ(res.retry_after_s, cases[i].retry);
		mqe2e_http_retry_hint(&res, hint, sizeof(hint));
		CHECK(strcmp(hint, cases[i].hint) == 0);
		mqe2e_http_response_free(&res);
	}
	mqe2e_http_retry_hint(NULL, hint, sizeof(hint));
	CHECK(hint[0] == '\0');
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
		write_str(c, "HTTP/1.1 200 OK\r\nX-Big: ");
		memset(resp, 'h', sizeof(resp));
		write_all(c, resp, sizeof(resp));
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
		shutdown(c, SHUT_WR);
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
get(const char *url, const char *path, int timeout_ms, struct mqe2e_http_response *res)
{
	return mqe2e_http_request(url, "GET", path, NULL, NULL, NULL, 0, timeout_ms, res);
}

static void
test_client(void)
{
	struct mqe2e_http_response res;
	char url[64];
	uint16_t port;
	pid_t pid;
	int ls, r;
	static const uint8_t body[] = "{\"name\":\"c1\"}";

	ls = listen_loopback(&port);
	CHECK(ls >= 0);
	if (ls < 0)
		return;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)port);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		serve(ls);
	close(ls);

	/* what we send */
	r = mqe2e_http_request(url, "POST", "/echo", "application/json", "s3cret-token", body,
	    sizeof(body) - 1, 5000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 200);
	CHECK(strcmp(res.request_id, "r-42") == 0);
	CHECK(strcmp(res.content_type, "text/plain") == 0);
	CHECK(res.body != NULL && strncmp((char *)res.body, "POST /echo HTTP/1.1\r\n", 21) == 0);
	CHECK(res.body != NULL && strstr((char *)res.body, "\r\nAuthorization: Bearer s3cret-token\r\n"));
	CHECK(res.body != NULL && strstr((char *)res.body, "\r\nConnection: close\r\n"));
	CHECK(res.body != NULL && strstr((char *)res.body, "\r\nContent-Type: application/json\r\n"));
	CHECK(res.body != NULL && strstr((char *)res.body, "\r\nContent-Length: 13\r\n\r\n{\"name\":\"c1\"}"));
	mqe2e_http_response_free(&res);

	r = get(url, "/nowhere", 5000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.status, 404);
	CHECK(strcmp(res.content_type, "application/json") == 0);
	CHECK_EQ(res.body_len, 26);
	mqe2e_http_response_free(&res);

	r = get(url, "/chunked", 5000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK(res.body_len == 6 && memcmp(res.body, "abcdef", 6) == 0);
	mqe2e_http_response_free(&res);

	r = get(url, "/keepopen", 1000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK(res.body_len == 2 && memcmp(res.body, "ok", 2) == 0);
	mqe2e_http_response_free(&res);

	r = get(url, "/exact-cap", 20000, &res);
	CHECK_EQ(r, MQE2E_OK);
	CHECK_EQ(res.body_len, MQE2E_HTTP_MAX_BODY);
	mqe2e_http_response_free(&res);

	/* failures: each with an error text naming the URL and no body */
	static const struct { const char *path; int err; } fails[] = {
		{ "/truncated", MQE2E_ERR_TRUNCATED },
		{ "/truncated-chunked", MQE2E_ERR_TRUNCATED },
		{ "/nothing", MQE2E_ERR_TRUNCATED },
		{ "/garbage", MQE2E_ERR_BAD_FORMAT },
		{ "/smuggle", MQE2E_ERR_BAD_FORMAT },
		{ "/huge-length", MQE2E_ERR_TOO_LONG },
		{ "/huge-stream", MQE2E_ERR_TOO_LONG },
		{ "/huge-header", MQE2E_ERR_TOO_LONG },
	};
	for (size_t i = 0; i < sizeof(fails) / sizeof(fails[0]); i++) {
		r = get(url, fails[i].path, 10000, &res);
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
			r = mqe2e_http_request(url, "POST", "/early", "application/octet-stream", NULL,
			    b, big, 10000, &res);
			if (r != MQE2E_OK || res.status != 413) {
				fprintf(stderr, "/early: %d status %d (%s)\n", r, res.status, res.error);
				failures++;
			}
			mqe2e_http_response_free(&res);
			free(b);
		}
	}

	r = get(url, "/slow", 300, &res);
	CHECK_EQ(r, MQE2E_ERR_TIMEOUT);
	CHECK(strstr(res.error, "300 ms") != NULL);
	mqe2e_http_response_free(&res);

	/* header injection and bad arguments never reach the wire */
	r = mqe2e_http_request(url, "GET", "/echo", NULL, "tok\r\nX-Evil: 1", NULL, 0, 1000, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(url, "GET", "/a b", NULL, NULL, NULL, 0, 1000, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(url, "GET", "nopath", NULL, NULL, NULL, 0, 1000, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(url, "get", "/", NULL, NULL, NULL, 0, 1000, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(url, "POST", "/", "a/b\r\n", NULL, NULL, 0, 1000, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request(url, "POST", "/", NULL, NULL, NULL, 5, 1000, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	mqe2e_http_response_free(&res);
	r = mqe2e_http_request("https://127.0.0.1:1", "GET", "/", NULL, NULL, NULL, 0, 1000, &res);
	CHECK_EQ(r, MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(res.error, "https") != NULL);
	mqe2e_http_response_free(&res);

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	/* nobody listening any more: refused, with a hint */
	r = get(url, "/", 2000, &res);
	CHECK_EQ(r, MQE2E_ERR_UNAVAILABLE);
	CHECK(strstr(res.error, "refused") != NULL);
	CHECK(strstr(res.error, "mqe2e-kmsd") != NULL);
	CHECK(strstr(res.error, url) != NULL);
	mqe2e_http_response_free(&res);

	r = get("http://no-such-host.invalid:1", "/", 2000, &res);
	CHECK(r == MQE2E_ERR_UNAVAILABLE || r == MQE2E_ERR_TIMEOUT);
	mqe2e_http_response_free(&res);
	mqe2e_http_response_free(NULL);
}

int
main(void)
{
	test_url();
	test_parser();
	test_retry_after();
	test_client();
	if (failures != 0) {
		fprintf(stderr, "test_http: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_http: ok\n");
	return 0;
}
