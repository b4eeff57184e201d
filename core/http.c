/*
 * http.c - a small blocking HTTP/1.1 client (see http.h).
 *
 * One request per connection: resolve, non-blocking connect bounded by
 * poll(), send the request with "Connection: close", read until the
 * response is complete (Content-Length, chunked) or the peer closes, then
 * parse.  The whole exchange runs against one monotonic deadline.
 *
 * The response parser trusts nothing: lines must end in CRLF and hold no
 * control bytes, the head is capped at MQE2E_HTTP_MAX_HEADER, the body at
 * max_body, numbers are parsed with explicit maxima, and a response that
 * carries both Content-Length and Transfer-Encoding is refused.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "crypto.h"
#include "http.h"

#define HTTP_MAX_HEADERS 100         /* header lines per head */
#define HTTP_MAX_CHUNK_LINE 1024     /* chunk-size line incl. extensions */
#define HTTP_MAX_PATH 8192
#define HTTP_READ_STEP 65536
/* Raw bytes we are willing to buffer: the head, the body and the framing
 * overhead of a chunked body. */
#define HTTP_MAX_RAW(maxb) (MQE2E_HTTP_MAX_HEADER + 2 * (size_t)(maxb) + 65536)

enum framing { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

struct line {
	const uint8_t *p;
	size_t len;
};

static void
set_error(struct mqe2e_http_response *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(struct mqe2e_http_response *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
}

/* ---- small parsers ----------------------------------------------------------- */

/* Decimal digits only, at most 19 of them, value <= max. */
static int
parse_dec(const uint8_t *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 19)
		return MQE2E_ERR_BAD_FORMAT;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return MQE2E_ERR_BAD_FORMAT;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return MQE2E_ERR_TOO_LONG;
	*out = v;
	return MQE2E_OK;
}

/* Hex digits only, at most 16 of them, value <= max. */
static int
parse_hex(const uint8_t *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	unsigned d;

	if (len == 0 || len > 16)
		return MQE2E_ERR_BAD_FORMAT;
	for (i = 0; i < len; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			d = (unsigned)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = (unsigned)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = (unsigned)(p[i] - 'A' + 10);
		else
			return MQE2E_ERR_BAD_FORMAT;
		v = (v << 4) | d;
	}
	if (v > max)
		return MQE2E_ERR_TOO_LONG;
	*out = v;
	return MQE2E_OK;
}

static int
is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/*
 * The next CRLF-terminated line at raw[*off..len), at most maxlen bytes
 * before the CRLF.  Moves *off past the CRLF.  TRUNCATED if the line is not
 * complete yet, TOO_LONG past maxlen, BAD_FORMAT on a bare CR or LF or a
 * control byte (HTAB is allowed).
 */
static int
next_line(const uint8_t *raw, size_t len, size_t *off, size_t maxlen, struct line *ln)
{
	size_t i;

	for (i = *off; i < len; i++) {
		uint8_t c = raw[i];

		if (i - *off > maxlen)
			return MQE2E_ERR_TOO_LONG;
		if (c == '\r') {
			if (i + 1 >= len)
				return MQE2E_ERR_TRUNCATED;
			if (raw[i + 1] != '\n')
				return MQE2E_ERR_BAD_FORMAT;
			ln->p = raw + *off;
			ln->len = i - *off;
			*off = i + 2;
			return MQE2E_OK;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return MQE2E_ERR_BAD_FORMAT;
	}
	if (len - *off > maxlen)
		return MQE2E_ERR_TOO_LONG;
	return MQE2E_ERR_TRUNCATED;
}

/* Case-insensitive compare of a line segment with a lowercase literal. */
static int
seg_eq(const uint8_t *p, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len == n && strncasecmp((const char *)p, lit, n) == 0;
}

/* Copy a header value into a fixed field, cut at the cap. */
static void
copy_field(char *dst, size_t cap, const uint8_t *p, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, p, len);
	dst[len] = '\0';
}

/* "HTTP/1.x SSS[ reason]" */
static int
parse_status_line(const struct line *ln, int *status)
{
	uint64_t v;

	if (ln->len < 12 || memcmp(ln->p, "HTTP/1.", 7) != 0 ||
	    (ln->p[7] != '0' && ln->p[7] != '1') || ln->p[8] != ' ')
		return MQE2E_ERR_BAD_FORMAT;
	if (parse_dec(ln->p + 9, 3, 599, &v) != MQE2E_OK || v < 100)
		return MQE2E_ERR_BAD_FORMAT;
	if (ln->len > 12 && ln->p[12] != ' ')
		return MQE2E_ERR_BAD_FORMAT;   /* the reason phrase is free text */
	*status = (int)v;
	return MQE2E_OK;
}

struct head {
	int status;
	enum framing framing;
	uint64_t content_length;
	int have_cl;
	int have_te;
	size_t body_off;
};

/*
 * Parse one head (status line + headers + empty line) starting at *off.
 * Fills h and the interesting fields of out.
 */
static int
parse_one_head(const uint8_t *raw, size_t len, size_t *off, size_t start, size_t max_body,
    struct head *h, struct mqe2e_http_response *out)
{
	struct line ln;
	size_t nhdr = 0, limit;
	int r;

	memset(h, 0, sizeof(*h));
	limit = MQE2E_HTTP_MAX_HEADER - (*off - start);
	if ((r = next_line(raw, len, off, limit, &ln)) != MQE2E_OK)
		return r;
	if ((r = parse_status_line(&ln, &h->status)) != MQE2E_OK)
		return r;
	out->content_type[0] = '\0';
	out->request_id[0] = '\0';
	out->retry_after_s = -1;
	for (;;) {
		const uint8_t *name, *val;
		size_t nlen, vlen, i;

		if (*off - start >= MQE2E_HTTP_MAX_HEADER)
			return MQE2E_ERR_TOO_LONG;
		limit = MQE2E_HTTP_MAX_HEADER - (*off - start);
		if ((r = next_line(raw, len, off, limit, &ln)) != MQE2E_OK)
			return r;
		if (ln.len == 0)
			break;
		if (++nhdr > HTTP_MAX_HEADERS)
			return MQE2E_ERR_TOO_LONG;
		/* name ":" OWS value OWS; no obs-fold, no space before ':' */
		for (i = 0; i < ln.len && is_tchar(ln.p[i]); i++)
			;
		if (i == 0 || i == ln.len || ln.p[i] != ':')
			return MQE2E_ERR_BAD_FORMAT;
		name = ln.p;
		nlen = i;
		val = ln.p + i + 1;
		vlen = ln.len - i - 1;
		while (vlen > 0 && (val[0] == ' ' || val[0] == '\t')) {
			val++;
			vlen--;
		}
		while (vlen > 0 && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
			vlen--;

		if (seg_eq(name, nlen, "content-length")) {
			uint64_t cl;

			if ((r = parse_dec(val, vlen, UINT64_MAX / 2, &cl)) != MQE2E_OK)
				return MQE2E_ERR_BAD_FORMAT;
			if (h->have_cl && cl != h->content_length)
				return MQE2E_ERR_BAD_FORMAT;
			if (cl > max_body)
				return MQE2E_ERR_TOO_LONG;
			h->have_cl = 1;
			h->content_length = cl;
		} else if (seg_eq(name, nlen, "transfer-encoding")) {
			if (h->have_te || !seg_eq(val, vlen, "chunked"))
				return MQE2E_ERR_BAD_FORMAT;
			h->have_te = 1;
		} else if (seg_eq(name, nlen, "content-type")) {
			copy_field(out->content_type, sizeof(out->content_type), val, vlen);
		} else if (seg_eq(name, nlen, "x-request-id")) {
			copy_field(out->request_id, sizeof(out->request_id), val, vlen);
		} else if (seg_eq(name, nlen, "retry-after")) {
			uint64_t secs;

			/* delta-seconds only; an HTTP-date stays "unknown" (-1) */
			if (parse_dec(val, vlen, UINT64_MAX / 2, &secs) == MQE2E_OK)
				out->retry_after_s = secs > MQE2E_HTTP_MAX_RETRY_AFTER ?
				    MQE2E_HTTP_MAX_RETRY_AFTER : (int)secs;
		}
	}
	if (h->have_cl && h->have_te)
		return MQE2E_ERR_BAD_FORMAT;   /* request smuggling shape: refuse */
	h->body_off = *off;
	return MQE2E_OK;
}

/*
 * Walk a chunked body at raw[off..len).  With dst == NULL only validate and
 * measure; otherwise copy the data (dst holds at least the measured size).
 * Returns the decoded size in *out_len.
 */
static int
dechunk(const uint8_t *raw, size_t len, size_t off, size_t max_body, uint8_t *dst,
    size_t *out_len)
{
	struct line ln;
	size_t total = 0, ntrail = 0;
	int r;

	for (;;) {
		uint64_t n;
		size_t digits;

		if ((r = next_line(raw, len, &off, HTTP_MAX_CHUNK_LINE, &ln)) != MQE2E_OK)
			return r == MQE2E_ERR_TOO_LONG ? MQE2E_ERR_BAD_FORMAT : r;
		for (digits = 0; digits < ln.len && ln.p[digits] != ';' &&
		    ln.p[digits] != ' ' && ln.p[digits] != '\t'; digits++)
			;
		if ((r = parse_hex(ln.p, digits, max_body, &n)) != MQE2E_OK)
			return r;
		if (n == 0)
			break;
		if (n > max_body - total)
			return MQE2E_ERR_TOO_LONG;
		if (len - off < n + 2)
			return MQE2E_ERR_TRUNCATED;
		if (raw[off + n] != '\r' || raw[off + n + 1] != '\n')
			return MQE2E_ERR_BAD_FORMAT;
		if (dst != NULL)
			memcpy(dst + total, raw + off, (size_t)n);
		total += (size_t)n;
		off += (size_t)n + 2;
	}
	/* trailers, then the final empty line */
	for (;;) {
		if ((r = next_line(raw, len, &off, MQE2E_HTTP_MAX_HEADER, &ln)) != MQE2E_OK)
			return r;
		if (ln.len == 0)
			break;
		if (++ntrail > HTTP_MAX_HEADERS)
			return MQE2E_ERR_TOO_LONG;
	}
	*out_len = total;
	return MQE2E_OK;
}

int
mqe2e_http_parse_response(const uint8_t *raw, size_t len, int at_eof, int head_only,
    size_t max_body, struct mqe2e_http_response *out)
{
	struct head h;
	size_t off = 0, blen = 0, start;
	uint8_t *body = NULL;
	int r;

	if (raw == NULL || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (max_body == 0 || max_body > MQE2E_HTTP_MAX_BODY)
		max_body = MQE2E_HTTP_MAX_BODY;
	out->status = 0;
	out->body = NULL;
	out->body_len = 0;

	/* Skip interim 1xx responses (but not 101: we never ask to switch). */
	for (;;) {
		start = off;
		if ((r = parse_one_head(raw, len, &off, start, max_body, &h, out)) != MQE2E_OK)
			return r;
		if (h.status >= 200)
			break;
		if (h.status == 101 || h.have_cl || h.have_te)
			return MQE2E_ERR_BAD_FORMAT;
	}

	if (head_only || h.status == 204 || h.status == 304)
		h.framing = BODY_NONE;
	else if (h.have_te)
		h.framing = BODY_CHUNKED;
	else if (h.have_cl)
		h.framing = BODY_LENGTH;
	else
		h.framing = BODY_CLOSE;

	switch (h.framing) {
	case BODY_NONE:
		blen = 0;
		break;
	case BODY_LENGTH:
		if (len - h.body_off < h.content_length)
			return MQE2E_ERR_TRUNCATED;
		blen = (size_t)h.content_length;
		break;
	case BODY_CLOSE:
		if (len - h.body_off > max_body)
			return MQE2E_ERR_TOO_LONG;
		if (!at_eof)
			return MQE2E_ERR_TRUNCATED;
		blen = len - h.body_off;
		break;
	case BODY_CHUNKED:
		if ((r = dechunk(raw, len, h.body_off, max_body, NULL, &blen)) != MQE2E_OK)
			return r;
		break;
	}

	if (blen > 0 || h.framing == BODY_CHUNKED) {
		if ((body = malloc(blen + 1)) == NULL)
			return MQE2E_ERR_NOMEM;
		if (h.framing == BODY_CHUNKED) {
			size_t check = 0;

			if ((r = dechunk(raw, len, h.body_off, max_body, body, &check)) != MQE2E_OK ||
			    check != blen) {
				free(body);
				return r != MQE2E_OK ? r : MQE2E_ERR_INTERNAL;
			}
		} else {
			memcpy(body, raw + h.body_off, blen);
		}
		body[blen] = '\0';
		if (blen == 0) {
			free(body);
			body = NULL;
		}
	}
	out->status = h.status;
	out->body = body;
	out->body_len = blen;
	return MQE2E_OK;
}

/* ---- URL ----------------------------------------------------------------------- */

int
mqe2e_http_parse_url(const char *url, char *host, size_t host_len, uint16_t *port)
{
	const char *p, *h, *hend, *end;
	uint64_t v = 80;
	size_t n, i;

	if (url == NULL || host == NULL || port == NULL || host_len == 0)
		return MQE2E_ERR_INVALID_ARG;
	if (strncasecmp(url, "http://", 7) != 0)
		return MQE2E_ERR_INVALID_ARG;
	h = url + 7;
	end = h + strlen(h);
	if (end > h && end[-1] == '/')
		end--;
	if (*h == '[') {
		h++;
		for (hend = h; hend < end && *hend != ']'; hend++)
			if (!((*hend >= '0' && *hend <= '9') || (*hend >= 'a' && *hend <= 'f') ||
			    (*hend >= 'A' && *hend <= 'F') || *hend == ':' || *hend == '.'))
				return MQE2E_ERR_INVALID_ARG;
		if (hend == end || hend == h)
			return MQE2E_ERR_INVALID_ARG;
		p = hend + 1;
	} else {
		for (hend = h; hend < end && *hend != ':'; hend++)
			if (!((*hend >= 'a' && *hend <= 'z') || (*hend >= 'A' && *hend <= 'Z') ||
			    (*hend >= '0' && *hend <= '9') || *hend == '-' || *hend == '.'))
				return MQE2E_ERR_INVALID_ARG;   /* also '@', '/', '?' */
		if (hend == h)
			return MQE2E_ERR_INVALID_ARG;
		p = hend;
	}
	if (p < end) {
		if (*p != ':' || p + 1 == end)
			return MQE2E_ERR_INVALID_ARG;
		p++;
		if (parse_dec((const uint8_t *)p, (size_t)(end - p), 65535, &v) != MQE2E_OK || v == 0)
			return MQE2E_ERR_INVALID_ARG;
	}
	n = (size_t)(hend - h);
	if (n >= host_len || n >= MQE2E_HTTP_MAX_HOST)
		return MQE2E_ERR_INVALID_ARG;
	for (i = 0; i < n; i++)
		host[i] = h[i];
	host[n] = '\0';
	*port = (uint16_t)v;
	return MQE2E_OK;
}

/* ---- sockets --------------------------------------------------------------------- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timeout (or
 * cancel_fd, if >= 0, became readable: the caller gives up as at its
 * deadline), -1 error. */
static int
wait_fd(int fd, short events, int64_t deadline, int cancel_fd)
{
	struct pollfd pfd[2];
	int64_t left;
	int n;

	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			return 0;
		pfd[0].fd = fd;
		pfd[0].events = events;
		pfd[0].revents = 0;
		pfd[1].fd = cancel_fd;           /* poll ignores a negative fd */
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		n = poll(pfd, 2, left > 60000 ? 60000 : (int)left);
		if (n > 0 && pfd[1].revents != 0)
			return 0;
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Connect to host:port before the deadline; *fdp on success. */
static int
connect_to(const char *url, const char *host, uint16_t port, int64_t deadline, int timeout_ms,
    int cancel_fd, int *fdp, struct mqe2e_http_response *out)
{
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8];
	int fd = -1, gai, err = ECONNREFUSED, r = MQE2E_ERR_UNAVAILABLE;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
	if ((gai = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		set_error(out, "cannot reach the KMS at %s: cannot resolve \"%s\": %s", url, host,
		    gai_strerror(gai));
		return MQE2E_ERR_UNAVAILABLE;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		socklen_t elen = sizeof(err);
		int w;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			goto connected;
		if (errno != EINPROGRESS) {
			err = errno;
			close(fd);
			fd = -1;
			continue;
		}
		w = wait_fd(fd, POLLOUT, deadline, cancel_fd);
		if (w == 0) {
			close(fd);
			fd = -1;
			set_error(out, "cannot reach the KMS at %s: no answer within %d ms "
			    "(is the address right and the network up?)", url, timeout_ms);
			r = MQE2E_ERR_TIMEOUT;
			goto out;
		}
		if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
			err = errno;
		if (w > 0 && err == 0)
			goto connected;
		close(fd);
		fd = -1;
	}
	set_error(out, "cannot reach the KMS at %s: %s (is mqe2e-kmsd running and listening there?)",
	    url, strerror(err));
	r = MQE2E_ERR_UNAVAILABLE;
	goto out;
connected:
	*fdp = fd;
	r = MQE2E_OK;
out:
	freeaddrinfo(res);
	return r;
}

static int
send_all(int fd, const uint8_t *p, size_t len, int64_t deadline, const char *url, int timeout_ms,
    int cancel_fd, struct mqe2e_http_response *out)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(fd, POLLOUT, deadline, cancel_fd);

			if (w == 0) {
				set_error(out, "the KMS at %s did not take the request within %d ms",
				    url, timeout_ms);
				return MQE2E_ERR_TIMEOUT;
			}
			if (w > 0)
				continue;
		}
		set_error(out, "sending to the KMS at %s failed: %s", url, strerror(errno));
		return MQE2E_ERR_IO;
	}
	return MQE2E_OK;
}

/* Grow buf to at least need bytes (wiping the old copy), up to max. */
static int
grow(uint8_t **buf, size_t *cap, size_t used, size_t need, size_t max)
{
	uint8_t *nb;
	size_t ncap = *cap ? *cap : HTTP_READ_STEP;

	if (need > max)
		return MQE2E_ERR_TOO_LONG;
	while (ncap < need)
		ncap = ncap > max / 2 ? max : ncap * 2;
	if (ncap == *cap)
		return MQE2E_OK;
	if ((nb = malloc(ncap)) == NULL)
		return MQE2E_ERR_NOMEM;
	if (*buf != NULL) {
		memcpy(nb, *buf, used);
		mqe2e_wipe(*buf, *cap);
		free(*buf);
	}
	*buf = nb;
	*cap = ncap;
	return MQE2E_OK;
}

static const char *
parse_error_text(int r)
{
	switch (r) {
	case MQE2E_ERR_TOO_LONG:
		return "the response is larger than allowed";
	case MQE2E_ERR_TRUNCATED:
		return "the connection closed before the response was complete";
	case MQE2E_ERR_NOMEM:
		return "out of memory";
	default:
		return "the response is not valid HTTP/1.1";
	}
}

/* ---- request validation ------------------------------------------------------------ */

static int
valid_method(const char *m)
{
	size_t i;

	for (i = 0; m[i] != '\0'; i++)
		if (m[i] < 'A' || m[i] > 'Z' || i >= 16)
			return 0;
	return i > 0;
}

/* Printable ASCII only (allow_space: also ' '), and not too long. */
static int
valid_text(const char *s, int allow_space, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || !((s[i] > 0x20 && s[i] < 0x7f) || (allow_space && s[i] == ' ')))
			return 0;
	return 1;
}

int
mqe2e_http_request(const char *base_url, const char *method, const char *path,
    const char *content_type, const char *bearer_token, const uint8_t *body, size_t body_len,
    int timeout_ms, struct mqe2e_http_response *out)
{
	return mqe2e_http_request_cancel(base_url, method, path, content_type, bearer_token, body,
	    body_len, timeout_ms, -1, out);
}

int
mqe2e_http_request_cancel(const char *base_url, const char *method, const char *path,
    const char *content_type, const char *bearer_token, const uint8_t *body, size_t body_len,
    int timeout_ms, int cancel_fd, struct mqe2e_http_response *out)
{
	char host[MQE2E_HTTP_MAX_HOST], hosthdr[MQE2E_HTTP_MAX_HOST + 8];
	char *req = NULL;
	uint8_t *raw = NULL;
	size_t req_len = 0, raw_len = 0, raw_cap = 0, max_raw = HTTP_MAX_RAW(MQE2E_HTTP_MAX_BODY);
	int64_t deadline;
	uint16_t port;
	int fd = -1, n, r = MQE2E_ERR_INVALID_ARG, head_only, send_err = MQE2E_OK;
	const char *url_shown;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	url_shown = base_url != NULL ? base_url : "(no URL)";
	if (base_url == NULL || mqe2e_http_parse_url(base_url, host, sizeof(host), &port) != MQE2E_OK) {
		set_error(out, "bad KMS URL \"%s\": expected http://HOST:PORT (https is not supported; "
		    "use a loopback or LAN address)", url_shown);
		return MQE2E_ERR_INVALID_ARG;
	}
	if (method == NULL || !valid_method(method) || path == NULL || path[0] != '/' ||
	    !valid_text(path, 0, HTTP_MAX_PATH) ||
	    (content_type != NULL && !valid_text(content_type, 1, 256)) ||
	    (bearer_token != NULL && !valid_text(bearer_token, 0, 4096)) ||
	    (body == NULL && body_len != 0) || timeout_ms <= 0) {
		set_error(out, "invalid HTTP request for %s (method, path, header value or timeout)",
		    url_shown);
		return MQE2E_ERR_INVALID_ARG;
	}
	head_only = strcmp(method, "HEAD") == 0;
	deadline = now_ms() + timeout_ms;

	if (strchr(host, ':') != NULL)
		snprintf(hosthdr, sizeof(hosthdr), "[%s]:%u", host, (unsigned)port);
	else
		snprintf(hosthdr, sizeof(hosthdr), "%s:%u", host, (unsigned)port);

	/* Size the head first, then write it. */
	{
#define REQ_FMT "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mqe2e/" PACKAGE_VERSION \
		    "\r\nAccept: application/json\r\nConnection: close\r\n%s%s%s%s%s%s" \
		    "Content-Length: %zu\r\n\r\n"
		const char *ct = content_type != NULL ? content_type : "";
		const char *tok = bearer_token != NULL ? bearer_token : "";
		int need;

#define HDR_ARGS method, path, hosthdr, \
		    bearer_token != NULL ? "Authorization: Bearer " : "", tok, \
		    bearer_token != NULL ? "\r\n" : "", \
		    content_type != NULL ? "Content-Type: " : "", ct, \
		    content_type != NULL ? "\r\n" : "", body_len
		need = snprintf(NULL, 0, REQ_FMT, HDR_ARGS);
		if (need < 0) {
			r = MQE2E_ERR_INTERNAL;
			goto out;
		}
		req_len = (size_t)need;
		if ((req = malloc(req_len + 1)) == NULL) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
		snprintf(req, req_len + 1, REQ_FMT, HDR_ARGS);
#undef HDR_ARGS
#undef REQ_FMT
	}

	if ((r = connect_to(url_shown, host, port, deadline, timeout_ms, cancel_fd, &fd, out)) !=
	    MQE2E_OK)
		goto out;
	if ((r = send_all(fd, (const uint8_t *)req, req_len, deadline, url_shown, timeout_ms,
	    cancel_fd, out)) != MQE2E_OK)
		goto out;
	/* A server may answer early (413) and close while the body is still
	 * going out: then read its answer, and report the send error only if
	 * there is none. */
	if (body_len > 0 && (r = send_all(fd, body, body_len, deadline, url_shown, timeout_ms,
	    cancel_fd, out)) != MQE2E_OK) {
		if (r != MQE2E_ERR_IO)
			goto out;
		send_err = r;
	}
	mqe2e_wipe(req, req_len);

	for (;;) {
		size_t want = raw_len + HTTP_READ_STEP;
		ssize_t got;

		if (want > max_raw)
			want = max_raw;
		if (raw_len == max_raw)
			r = MQE2E_ERR_TOO_LONG;
		else
			r = grow(&raw, &raw_cap, raw_len, want, max_raw);
		if (r != MQE2E_OK) {
			set_error(out, "reading from the KMS at %s: %s", url_shown, parse_error_text(r));
			goto out;
		}
		got = recv(fd, raw + raw_len, raw_cap - raw_len, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			n = wait_fd(fd, POLLIN, deadline, cancel_fd);
			if (n == 0) {
				r = MQE2E_ERR_TIMEOUT;
				set_error(out, "no complete answer from the KMS at %s within %d ms",
				    url_shown, timeout_ms);
				goto out;
			}
			if (n > 0)
				continue;
		}
		if (got < 0) {
			r = MQE2E_ERR_IO;
			set_error(out, "reading from the KMS at %s failed: %s", url_shown,
			    strerror(errno));
			goto out;
		}
		if (got == 0) {
			if (raw_len == 0) {
				r = MQE2E_ERR_TRUNCATED;
				set_error(out, "the KMS at %s closed the connection without answering",
				    url_shown);
				goto out;
			}
			r = mqe2e_http_parse_response(raw, raw_len, 1, head_only, 0, out);
			if (r != MQE2E_OK)
				set_error(out, "reading from the KMS at %s: %s", url_shown,
				    parse_error_text(r));
			goto out;
		}
		raw_len += (size_t)got;
		r = mqe2e_http_parse_response(raw, raw_len, 0, head_only, 0, out);
		if (r == MQE2E_OK)
			goto out;
		if (r != MQE2E_ERR_TRUNCATED) {
			set_error(out, "reading from the KMS at %s: %s", url_shown, parse_error_text(r));
			goto out;
		}
	}
out:
	if (send_err != MQE2E_OK) {
		if (r == MQE2E_OK)
			out->error[0] = '\0';
		else if (r != MQE2E_ERR_TIMEOUT) {
			r = send_err;
			set_error(out, "sending to the KMS at %s failed: the connection was closed "
			    "before the request was complete", url_shown);
		}
	}
	if (fd >= 0)
		close(fd);
	if (req != NULL) {
		mqe2e_wipe(req, req_len);
		free(req);
	}
	if (raw != NULL) {
		mqe2e_wipe(raw, raw_cap);
		free(raw);
	}
	if (r != MQE2E_OK) {
		free(out->body);
		out->body = NULL;
		out->body_len = 0;
		out->status = 0;
		if (out->error[0] == '\0')
			set_error(out, "request to %s failed: %s", url_shown, mqe2e_strerror(r));
	}
	return r;
}

void
mqe2e_http_response_free(struct mqe2e_http_response *r)
{
	if (r == NULL)
		return;
	if (r->body != NULL) {
		mqe2e_wipe(r->body, r->body_len);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

void
mqe2e_http_retry_hint(const struct mqe2e_http_response *r, char *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	if (r == NULL || (r->status != MQE2E_HTTP_TOO_MANY_REQUESTS &&
	    r->status != MQE2E_HTTP_SERVICE_UNAVAILABLE))
		return;
	if (r->retry_after_s >= 0)
		snprintf(buf, len, " (the KMS is %s: retry in %d s)",
		    r->status == MQE2E_HTTP_TOO_MANY_REQUESTS ? "limiting this requester" :
		    "overloaded", r->retry_after_s);
	else
		snprintf(buf, len, " (the KMS is %s: retry later)",
		    r->status == MQE2E_HTTP_TOO_MANY_REQUESTS ? "limiting this requester" :
		    "overloaded or unavailable");
}
