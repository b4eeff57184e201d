/*
 * http.c - the KMS transport over libcurl (see http.h).
 *
 * Why libcurl: it is the best-kept HTTP client in C (HTTP/1.1 framing,
 * TLS through OpenSSL, which core/ links anyway, certificate and host name
 * checks, connection reuse), fuzzed continuously and packaged everywhere;
 * a TLS layer of our own under the old socket client would have been the
 * riskiest code in the project.  We keep the policy: one trust anchor (the
 * KMS CA file), no proxies or redirects, explicit caps on what we read, one
 * deadline, failover and backoff.
 *
 * Each attempt runs on the endpoint's easy handle inside its multi handle,
 * so that curl_multi_poll() can also watch the caller's cancel fd.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "clock.h"
#include "crypto.h"
#include "http.h"

#define HTTP_MAX_PATH 8192

struct mqe2e_http {
	pthread_mutex_t lock;           /* one request at a time */
	CURL *easy;
	CURLM *multi;
	struct mqe2e_http_url urls[MQE2E_HTTP_MAX_URLS];
	size_t nurls;
	size_t good;                    /* index tried first: the last that answered */
	char *cafile;
	unsigned flags;
	char list[MQE2E_HTTP_MAX_URLS * (MQE2E_HTTP_MAX_URL + 1)];
	char warning[MQE2E_HTTP_MAX_URL + 200];
};

/* What one attempt collects. */
struct xfer {
	struct mqe2e_http_response *out;
	uint8_t *buf;
	size_t len, cap;
	size_t head_bytes;
	int body_too_long;
	int head_too_long;
	int bad_header;
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

/* Signed, for the deadline arithmetic below. */
static int64_t
now_ms(void)
{
	return (int64_t)mqe2e_mono_ms();
}

/* ---- libcurl, once per process ------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void
curl_init(void)
{
	/* never cleaned up: a plugin or library must not tear down libcurl
	 * (or OpenSSL) under other users in the same process */
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- header lines ------------------------------------------------------------------- */

static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
name_is(const char *p, size_t len, const char *lit)
{
	return len == strlen(lit) && strncasecmp(p, lit, len) == 0;
}

static void
copy_field(char *dst, size_t cap, const char *p, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, p, len);
	dst[len] = '\0';
}

int
mqe2e_http_parse_header(const char *line, size_t len, struct mqe2e_http_response *out)
{
	const char *val;
	size_t i, nlen, vlen;

	if (line == NULL || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			return MQE2E_ERR_BAD_FORMAT;
	if (len == 0)
		return MQE2E_OK;                /* end of a head */
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* a new response (also after a 1xx): forget the previous head */
		out->content_type[0] = '\0';
		out->request_id[0] = '\0';
		out->retry_after_s = -1;
		return MQE2E_OK;
	}
	for (i = 0; i < len && is_tchar((unsigned char)line[i]); i++)
		;
	if (i == 0 || i == len || line[i] != ':')
		return MQE2E_ERR_BAD_FORMAT;    /* also obs-fold and "Name :" */
	nlen = i;
	val = line + i + 1;
	vlen = len - i - 1;
	while (vlen > 0 && (val[0] == ' ' || val[0] == '\t')) {
		val++;
		vlen--;
	}
	while (vlen > 0 && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
		vlen--;
	if (name_is(line, nlen, "content-type")) {
		copy_field(out->content_type, sizeof(out->content_type), val, vlen);
	} else if (name_is(line, nlen, "x-request-id")) {
		copy_field(out->request_id, sizeof(out->request_id), val, vlen);
	} else if (name_is(line, nlen, "retry-after")) {
		unsigned long secs = 0;

		/* delta-seconds only; an HTTP-date stays "unknown" (-1) */
		for (i = 0; i < vlen && val[i] >= '0' && val[i] <= '9'; i++)
			if (secs <= MQE2E_HTTP_MAX_RETRY_AFTER)
				secs = secs * 10 + (unsigned long)(val[i] - '0');
		if (vlen > 0 && i == vlen)
			out->retry_after_s = secs > MQE2E_HTTP_MAX_RETRY_AFTER ?
			    MQE2E_HTTP_MAX_RETRY_AFTER : (int)secs;
	}
	return MQE2E_OK;
}

/* ---- callbacks -------------------------------------------------------------------- */

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (n > MQE2E_HTTP_MAX_HEADER - x->head_bytes) {
		x->head_too_long = 1;
		return 0;
	}
	x->head_bytes += n;
	if (mqe2e_http_parse_header(p, n, x->out) != MQE2E_OK) {
		x->bad_header = 1;
		return 0;
	}
	return n;
}

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb, ncap;
	uint8_t *nb;

	if (n > MQE2E_HTTP_MAX_BODY - x->len) {
		x->body_too_long = 1;
		return 0;
	}
	if (x->len + n + 1 > x->cap) {
		for (ncap = x->cap ? x->cap : 16384; ncap < x->len + n + 1; )
			ncap *= 2;
		if ((nb = malloc(ncap)) == NULL)
			return 0;
		if (x->buf != NULL) {
			memcpy(nb, x->buf, x->len);
			mqe2e_wipe(x->buf, x->cap);
			free(x->buf);
		}
		x->buf = nb;
		x->cap = ncap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	return n;
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

/* ---- the endpoint ------------------------------------------------------------------- */

int
mqe2e_http_new(const char *urls, const char *cafile, unsigned flags, struct mqe2e_http **out,
    char *err, size_t errlen)
{
	struct mqe2e_http *h = NULL;
	size_t i, off = 0;
	int r = MQE2E_ERR_NOMEM, need_ca = 0;
	FILE *f;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl: %s",
		    curl_easy_strerror(curl_init_result));
		return MQE2E_ERR_INTERNAL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	pthread_mutex_init(&h->lock, NULL);
	h->flags = flags;
	if ((r = mqe2e_http_parse_urls(urls, h->urls, MQE2E_HTTP_MAX_URLS, &h->nurls, err,
	    errlen)) != MQE2E_OK)
		goto fail;
	for (i = 0; i < h->nurls; i++) {
		int n = snprintf(h->list + off, sizeof(h->list) - off, "%s%s", i ? "," : "",
		    h->urls[i].url);

		if (n > 0)
			off += (size_t)n;
		need_ca |= h->urls[i].tls;
		if (!h->urls[i].tls && !h->urls[i].loopback && h->warning[0] == '\0')
			snprintf(h->warning, sizeof(h->warning), "the KMS URL %s is plain http:// to a "
			    "host that is not loopback: requests cross the network in clear text "
			    "(key material stays sealed and signed); use https://", h->urls[i].url);
	}
	if (need_ca && (cafile == NULL || *cafile == '\0')) {
		snprintf(err, errlen, "the KMS URL list %s has https:// URLs but no CA file was "
		    "given to verify the KMS with (the mqe2e CA certificate, ca.crt)", h->list);
		r = MQE2E_ERR_INVALID_ARG;
		goto fail;
	}
	if (need_ca) {
		if ((f = fopen(cafile, "r")) == NULL) {
			snprintf(err, errlen, "cannot read the CA file %s (to verify the KMS at %s): %s",
			    cafile, h->list, strerror(errno));
			r = MQE2E_ERR_IO;
			goto fail;
		}
		fclose(f);
		if ((h->cafile = strdup(cafile)) == NULL)
			goto nomem;
	}
	if ((h->easy = curl_easy_init()) == NULL || (h->multi = curl_multi_init()) == NULL)
		goto nomem;
	*out = h;
	return MQE2E_OK;
nomem:
	snprintf(err, errlen, "out of memory");
	r = MQE2E_ERR_NOMEM;
fail:
	mqe2e_http_free(h);
	return r;
}

void
mqe2e_http_free(struct mqe2e_http *h)
{
	if (h == NULL)
		return;
	if (h->easy != NULL)
		curl_easy_cleanup(h->easy);
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	free(h->cafile);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

const char *
mqe2e_http_warning(const struct mqe2e_http *h)
{
	return h != NULL && h->warning[0] != '\0' ? h->warning : NULL;
}

const char *
mqe2e_http_urls(const struct mqe2e_http *h)
{
	return h != NULL ? h->list : "(no KMS)";
}

const char *
mqe2e_http_current_url(struct mqe2e_http *h)
{
	const char *u;

	if (h == NULL)
		return "(no KMS)";
	pthread_mutex_lock(&h->lock);
	u = h->urls[h->good].url;
	pthread_mutex_unlock(&h->lock);
	return u;
}

/* ---- one attempt ------------------------------------------------------------------ */

struct req {
	const char *method, *path, *content_type, *token;
	const uint8_t *body;
	size_t body_len;
	int fresh_body;         /* made for this attempt: never sent twice */
	int timeout_ms;
	int cancel_fd;
};

/* A body handed to libcurl through a read callback and no seek callback:
 * libcurl cannot rewind it, so it never sends it a second time on its own
 * (it silently re-sends a request whose reused connection died before an
 * answer); the attempt fails with CURLE_SEND_FAIL_REWIND instead and the
 * next one gets a body of its own. */
struct upload {
	const uint8_t *p;
	size_t left;
};

static size_t
on_read(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb;

	if (n > u->left)
		n = u->left;
	memcpy(dst, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

static void
slist_wipe_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		mqe2e_wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static int
add_header(struct curl_slist **l, const char *a, const char *b)
{
	struct curl_slist *n;
	size_t len = strlen(a) + strlen(b) + 1;
	char *s;

	if ((s = malloc(len)) == NULL)
		return -1;
	snprintf(s, len, "%s%s", a, b);
	n = curl_slist_append(*l, s);
	mqe2e_wipe(s, len);
	free(s);
	if (n == NULL)
		return -1;
	*l = n;
	return 0;
}

/* os errno of the last attempt as text, or curl's own words. */
static const char *
why(CURL *e, const char *errbuf, CURLcode cc)
{
	long oserr = 0;

	if (curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK && oserr > 0)
		return strerror((int)oserr);
	return errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);
}

/*
 * Turn a libcurl result into our error, with a sentence naming the URL
 * (and the CA file for certificate problems).  *retry = 1 when trying again
 * (here or at the next URL) may help.
 */
static int
classify(struct mqe2e_http *h, const struct mqe2e_http_url *u, CURLcode cc, const char *errbuf,
    const struct xfer *x, const struct req *rq, int hit_deadline, struct mqe2e_http_response *out,
    int *retry)
{
	long oserr = 0;
	const char *w = why(h->easy, errbuf, cc);

	*retry = 0;
	(void)curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &oserr);
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		set_error(out, "cannot reach the KMS at %s: cannot resolve \"%s\"", u->url, u->host);
		*retry = 1;
		return MQE2E_ERR_UNAVAILABLE;
	case CURLE_COULDNT_CONNECT:
		set_error(out, "cannot reach the KMS at %s: %s (is mqe2e-kmsd running and listening "
		    "there?)", u->url, w);
		*retry = 1;
		return MQE2E_ERR_UNAVAILABLE;
	case CURLE_OPERATION_TIMEDOUT:
		if (!hit_deadline) {
			/* only the connect time of this URL is used up: go on */
			set_error(out, "cannot reach the KMS at %s: no connection (is the address "
			    "right and the network up?)", u->url);
			*retry = 1;
			return MQE2E_ERR_UNAVAILABLE;
		}
		set_error(out, "no complete answer from the KMS at %s within %d ms", u->url,
		    rq->timeout_ms);
		return MQE2E_ERR_TIMEOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		set_error(out, "the connection to the KMS at %s failed: %s", u->url, w);
		*retry = 1;
		return MQE2E_ERR_IO;
	case CURLE_SEND_FAIL_REWIND:
		/* libcurl wanted to send a fresh body again (see struct upload) */
		set_error(out, "the connection to the KMS at %s closed before it answered", u->url);
		*retry = 1;
		return MQE2E_ERR_IO;
	case CURLE_GOT_NOTHING:
		set_error(out, "the KMS at %s closed the connection without answering%s", u->url,
		    u->tls ? "" : " (if it serves https, use an https:// URL)");
		*retry = 1;
		return MQE2E_ERR_TRUNCATED;
	case CURLE_PARTIAL_FILE:
		set_error(out, "the KMS at %s closed the connection before the response was "
		    "complete", u->url);
		return MQE2E_ERR_TRUNCATED;
	case CURLE_PEER_FAILED_VERIFICATION:
		set_error(out, "the KMS at %s is not trusted: its certificate does not verify "
		    "against the CA file %s (%s); is that the CA of this KMS, and does the KMS "
		    "certificate name this host? (mqe2e-kmsd --renew-tls-cert re-issues it)",
		    u->url, h->cafile != NULL ? h->cafile : "(none)", errbuf[0] ? errbuf : w);
		return MQE2E_ERR_UNKNOWN_CA;
	case CURLE_SSL_CACERT_BADFILE:
		set_error(out, "cannot use the CA file %s to verify the KMS at %s: %s",
		    h->cafile != NULL ? h->cafile : "(none)", u->url, errbuf[0] ? errbuf : w);
		return MQE2E_ERR_IO;
	case CURLE_SSL_CONNECT_ERROR:
		if (oserr == ECONNRESET || oserr == EPIPE) {
			set_error(out, "the connection to the KMS at %s failed: %s", u->url, w);
			*retry = 1;
			return MQE2E_ERR_IO;
		}
		set_error(out, "TLS handshake with the KMS at %s failed: %s (does it serve https "
		    "on this port?)", u->url, errbuf[0] ? errbuf : w);
		return MQE2E_ERR_IO;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (x->bad_header) {
			set_error(out, "the answer of the KMS at %s is not valid HTTP/1.1 (a bad "
			    "header line)", u->url);
			return MQE2E_ERR_BAD_FORMAT;
		}
		if (x->head_too_long || x->body_too_long || cc == CURLE_FILESIZE_EXCEEDED) {
			set_error(out, "the answer of the KMS at %s is larger than allowed (%s above "
			    "%u bytes)", u->url, x->head_too_long ? "headers" : "body",
			    x->head_too_long ? MQE2E_HTTP_MAX_HEADER : MQE2E_HTTP_MAX_BODY);
			return MQE2E_ERR_TOO_LONG;
		}
		set_error(out, "reading the answer of the KMS at %s: out of memory", u->url);
		return MQE2E_ERR_NOMEM;
	case CURLE_OUT_OF_MEMORY:
		set_error(out, "request to %s: out of memory", u->url);
		return MQE2E_ERR_NOMEM;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP_RETURNED_ERROR:
		set_error(out, "the answer of the KMS at %s is not valid HTTP/1.1: %s", u->url,
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return MQE2E_ERR_BAD_FORMAT;
	default:
		set_error(out, "request to the KMS at %s failed: %s", u->url,
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		return MQE2E_ERR_IO;
	}
}

#define SETOPT(opt, val) do { \
	if (curl_easy_setopt(e, opt, val) != CURLE_OK) \
		goto setopt_failed; \
} while (0)

/*
 * One attempt at u.  Returns MQE2E_OK with out filled in for any HTTP
 * answer; otherwise the error (out->error set), *retry as in classify(),
 * *cancelled = 1 if cancel_fd fired.
 */
static int
attempt(struct mqe2e_http *h, const struct mqe2e_http_url *u, const struct req *rq,
    int64_t deadline, int64_t connect_ms, struct mqe2e_http_response *out, int *retry,
    int *cancelled)
{
	CURL *e = h->easy;
	struct curl_slist *hdrs = NULL;
	struct xfer x;
	struct upload up;
	char errbuf[CURL_ERROR_SIZE], *full = NULL;
	size_t flen;
	CURLcode cc = CURLE_OK;
	CURLMsg *msg;
	long status = 0;
	int64_t left;
	int r = MQE2E_ERR_NOMEM, running = 1, in_multi = 0, got = 0, msgs;

	*retry = 0;
	*cancelled = 0;
	memset(&x, 0, sizeof(x));
	x.out = out;
	out->retry_after_s = -1;
	errbuf[0] = '\0';
	snprintf(out->url, sizeof(out->url), "%s", u->url);
	left = deadline - now_ms();
	if (left < 1)
		left = 1;
	if (connect_ms > left)
		connect_ms = left;

	flen = strlen(u->url) + strlen(rq->path) + 1;
	if ((full = malloc(flen)) == NULL)
		goto fail;
	snprintf(full, flen, "%s%s", u->url, rq->path);

	/* "Content-Type:" with nothing after it tells curl to send none (it
	 * would add a form type of its own); "Expect:" keeps it from waiting
	 * for a 100 Continue */
	if (add_header(&hdrs, "Accept: ", "application/json") != 0 ||
	    add_header(&hdrs, "Expect:", "") != 0 ||
	    add_header(&hdrs, rq->content_type != NULL ? "Content-Type: " : "Content-Type:",
	    rq->content_type != NULL ? rq->content_type : "") != 0 ||
	    (rq->token != NULL && add_header(&hdrs, "Authorization: Bearer ", rq->token) != 0))
		goto fail;

	curl_easy_reset(e);
	SETOPT(CURLOPT_URL, full);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_PROXY, "");              /* never via $http_proxy */
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_NOPROGRESS, 1L);
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(CURLOPT_USERAGENT, "mqe2e/" PACKAGE_VERSION);
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	SETOPT(CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(CURLOPT_TIMEOUT_MS, (long)left);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MQE2E_HTTP_MAX_BODY);
	SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	SETOPT(CURLOPT_HEADERDATA, &x);
	SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(CURLOPT_WRITEDATA, &x);
	SETOPT(CURLOPT_FORBID_REUSE, (h->flags & MQE2E_HTTP_REUSE) ? 0L : 1L);
	if (u->tls) {
		SETOPT(CURLOPT_CAINFO, h->cafile);
		SETOPT(CURLOPT_CAPATH, (char *)NULL);   /* the KMS CA only */
		SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
		SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	}
	if (strcmp(rq->method, "GET") == 0) {
		SETOPT(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(rq->method, "HEAD") == 0) {
		SETOPT(CURLOPT_NOBODY, 1L);
	} else if (rq->fresh_body) {
		up.p = rq->body;
		up.left = rq->body_len;
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_READFUNCTION, on_read);
		SETOPT(CURLOPT_READDATA, &up);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		if (strcmp(rq->method, "POST") != 0)
			SETOPT(CURLOPT_CUSTOMREQUEST, rq->method);
	} else {
		SETOPT(CURLOPT_POSTFIELDS, rq->body != NULL ? (const char *)rq->body : "");
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		if (strcmp(rq->method, "POST") != 0)
			SETOPT(CURLOPT_CUSTOMREQUEST, rq->method);
	}

	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		goto fail;
	in_multi = 1;
	while (running) {
		struct curl_waitfd wfd;
		int64_t wait;

		if (curl_multi_perform(h->multi, &running) != CURLM_OK)
			goto fail;
		if (!running)
			break;
		wait = deadline - now_ms();
		if (wait > 1000)
			wait = 1000;
		if (wait < 1)
			wait = 1;
		memset(&wfd, 0, sizeof(wfd));
		wfd.fd = rq->cancel_fd;
		wfd.events = CURL_WAIT_POLLIN;
		if (curl_multi_poll(h->multi, rq->cancel_fd >= 0 ? &wfd : NULL,
		    rq->cancel_fd >= 0 ? 1u : 0u, (int)wait, NULL) != CURLM_OK)
			goto fail;
		if (rq->cancel_fd >= 0 && wfd.revents != 0) {
			*cancelled = 1;
			set_error(out, "request to the KMS at %s cancelled", u->url);
			r = MQE2E_ERR_TIMEOUT;
			goto out;
		}
	}
	while ((msg = curl_multi_info_read(h->multi, &msgs)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) {
			cc = msg->data.result;
			got = 1;
		}
	if (!got)
		goto fail;
	if (cc != CURLE_OK) {
		r = classify(h, u, cc, errbuf, &x, rq, deadline - now_ms() <= 5, out, retry);
		goto out;
	}
	if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status < 100 ||
	    status > 599) {
		set_error(out, "the answer of the KMS at %s is not valid HTTP/1.1 (no status)", u->url);
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	out->status = (int)status;
	if (x.len > 0) {
		x.buf[x.len] = '\0';
		out->body = x.buf;
		out->body_len = x.len;
		x.buf = NULL;
	}
	out->error[0] = '\0';
	r = MQE2E_OK;
	goto out;
setopt_failed:
	set_error(out, "request to the KMS at %s: this libcurl lacks a needed option (%s)", u->url,
	    curl_version());
	r = MQE2E_ERR_INTERNAL;
	goto out;
fail:
	if (out->error[0] == '\0')
		set_error(out, "request to the KMS at %s: out of memory or libcurl failure", u->url);
	if (r == MQE2E_OK)
		r = MQE2E_ERR_NOMEM;
out:
	if (in_multi)
		curl_multi_remove_handle(h->multi, e);
	/* the handle keeps pointers to our locals: drop them */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, (char *)NULL);
	curl_easy_setopt(e, CURLOPT_READDATA, (void *)NULL);
	slist_wipe_free(hdrs);
	free(full);
	if (x.buf != NULL) {
		mqe2e_wipe(x.buf, x.cap);
		free(x.buf);
	}
	return r;
}

/* ---- the request: failover and backoff ------------------------------------------------ */

/* A random wait in [0, min(cap, base * 2^round)] ms. */
static int64_t
full_jitter(unsigned round)
{
	uint32_t rnd = 0;
	int64_t top = MQE2E_HTTP_BACKOFF_BASE_MS;

	while (round-- > 0 && top < MQE2E_HTTP_BACKOFF_CAP_MS)
		top *= 2;
	if (top > MQE2E_HTTP_BACKOFF_CAP_MS)
		top = MQE2E_HTTP_BACKOFF_CAP_MS;
	if (mqe2e_random(&rnd, sizeof(rnd)) != MQE2E_OK)
		rnd = (uint32_t)now_ms();
	return (int64_t)(rnd % (uint32_t)(top + 1));
}

/* Sleep ms unless cancel_fd becomes readable: 1 if cancelled. */
static int
nap(int64_t ms, int cancel_fd)
{
	int64_t end = now_ms() + ms, left;
	struct pollfd p;

	while ((left = end - now_ms()) > 0) {
		p.fd = cancel_fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, cancel_fd >= 0 ? 1 : 0, (int)(left > 60000 ? 60000 : left)) > 0 &&
		    p.revents != 0)
			return 1;
	}
	return 0;
}

static int
retry_status(int status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Move a response into *dst (freeing what dst held). */
static void
response_move(struct mqe2e_http_response *dst, struct mqe2e_http_response *src)
{
	mqe2e_http_response_free(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/* The body of attempt n: the fixed one, or the caller's fresh one. */
static int
body_for(const struct mqe2e_http_req *in, unsigned n, struct req *rq,
    struct mqe2e_http_response *out, const char *urls)
{
	char why[256] = "";
	int r;

	rq->fresh_body = in->make_body != NULL;
	if (in->make_body == NULL) {
		rq->body = in->body;
		rq->body_len = in->body_len;
		return MQE2E_OK;
	}
	rq->body = NULL;
	rq->body_len = 0;
	r = in->make_body(in->body_arg, n, &rq->body, &rq->body_len, why, sizeof(why));
	if (r == MQE2E_OK && rq->body == NULL && rq->body_len != 0)
		r = MQE2E_ERR_INTERNAL;
	if (r != MQE2E_OK) {
		mqe2e_http_response_free(out);
		set_error(out, "cannot make the request for %s%s: %s", urls, in->path,
		    why[0] != '\0' ? why : mqe2e_strerror(r));
	}
	return r;
}

int
mqe2e_http_request(struct mqe2e_http *h, const char *method, const char *path,
    const char *content_type, const char *bearer_token, const uint8_t *body, size_t body_len,
    int timeout_ms, int cancel_fd, struct mqe2e_http_response *out)
{
	struct mqe2e_http_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.path = path;
	rq.content_type = content_type;
	rq.bearer_token = bearer_token;
	rq.body = body;
	rq.body_len = body_len;
	rq.timeout_ms = timeout_ms;
	rq.cancel_fd = cancel_fd;
	return mqe2e_http_send(h, &rq, out);
}

int
mqe2e_http_send(struct mqe2e_http *h, const struct mqe2e_http_req *in,
    struct mqe2e_http_response *out)
{
	struct mqe2e_http_response cur, last;
	struct req rq;
	int64_t start, deadline, left, connect_ms, wait, round_ra_ms = 0;
	size_t idx, first, i;
	unsigned attempts = 0, round = 0;
	int r, last_r = MQE2E_ERR_UNAVAILABLE, retry, cancelled = 0;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	out->retry_after_s = -1;
	if (h == NULL) {
		set_error(out, "no KMS URL configured");
		return MQE2E_ERR_INVALID_ARG;
	}
	if (in == NULL || in->method == NULL || !valid_method(in->method) || in->path == NULL ||
	    in->path[0] != '/' || !valid_text(in->path, 0, HTTP_MAX_PATH) ||
	    (in->content_type != NULL && !valid_text(in->content_type, 1, 256)) ||
	    (in->bearer_token != NULL && !valid_text(in->bearer_token, 0, 4096)) ||
	    (in->make_body == NULL && in->body == NULL && in->body_len != 0) ||
	    in->timeout_ms <= 0) {
		set_error(out, "invalid HTTP request for %s (method, path, header value or timeout)",
		    h->list);
		return MQE2E_ERR_INVALID_ARG;
	}
	if (in->bearer_token != NULL)
		for (i = 0; i < h->nurls; i++)
			if (!h->urls[i].tls && !h->urls[i].loopback) {
				set_error(out, "refusing to send the admin token in clear text to %s: "
				    "use https:// (plain http is for loopback only)", h->urls[i].url);
				return MQE2E_ERR_INVALID_ARG;
			}
	rq.method = in->method;
	rq.path = in->path;
	rq.content_type = in->content_type;
	rq.token = in->bearer_token;
	rq.body = NULL;
	rq.body_len = 0;
	rq.timeout_ms = in->timeout_ms;
	rq.cancel_fd = in->cancel_fd;

	memset(&cur, 0, sizeof(cur));
	memset(&last, 0, sizeof(last));
	pthread_mutex_lock(&h->lock);
	start = now_ms();
	deadline = start + in->timeout_ms;
	first = idx = h->good;
	for (;;) {
		left = deadline - now_ms();
		if (left <= 0)
			break;
		/* with several URLs one that does not answer must not use up all
		 * the time: give it a share of what is left, at least 1 s */
		connect_ms = left;
		if (h->nurls > 1) {
			connect_ms = left / (int64_t)h->nurls;
			if (connect_ms < 1000)
				connect_ms = 1000;
		}
		memset(&cur, 0, sizeof(cur));
		if ((r = body_for(in, attempts + 1, &rq, &cur, h->list)) != MQE2E_OK) {
			response_move(out, &cur);
			goto done;
		}
		r = attempt(h, &h->urls[idx], &rq, deadline, connect_ms, &cur, &retry, &cancelled);
		attempts++;
		if (r == MQE2E_OK && !retry_status(cur.status)) {
			h->good = idx;
			response_move(out, &cur);
			goto done;
		}
		if (cancelled || (r != MQE2E_OK && !retry) || (h->flags & MQE2E_HTTP_ONCE)) {
			response_move(out, &cur);
			goto done;
		}
		/* worth another try, elsewhere or later */
		if (r == MQE2E_OK && cur.retry_after_s > 0 &&
		    (int64_t)cur.retry_after_s * 1000 > round_ra_ms)
			round_ra_ms = (int64_t)cur.retry_after_s * 1000;
		last_r = r;
		response_move(&last, &cur);
		idx = (idx + 1) % h->nurls;
		if (idx != first)
			continue;
		/* every URL failed in this round: back off (unless the caller
		 * paces the next round itself) */
		round++;
		if (in->max_rounds != 0 && round >= in->max_rounds)
			break;
		wait = round_ra_ms + full_jitter(round - 1);
		round_ra_ms = 0;
		if (now_ms() + wait >= deadline)
			break;
		if (nap(wait, in->cancel_fd)) {
			cancelled = 1;
			last_r = MQE2E_ERR_TIMEOUT;
			mqe2e_http_response_free(&last);
			set_error(&last, "request to the KMS at %s cancelled", h->list);
			break;
		}
	}
	/* out of time (or rounds): report the last failure */
	response_move(out, &last);
	if (cancelled) {
		r = MQE2E_ERR_TIMEOUT;
	} else if (last_r == MQE2E_OK) {
		r = MQE2E_OK;           /* an answer such as 503: the caller reports it */
	} else {
		size_t n = strlen(out->error);

		r = last_r;
		if (out->error[0] == '\0')
			set_error(out, "request to the KMS at %s failed: %s", h->list,
			    mqe2e_strerror(r));
		else if (attempts > 1 && n < sizeof(out->error))
			snprintf(out->error + n, sizeof(out->error) - n, "; gave up after %u attempts "
			    "in %lld ms%s%.200s", attempts, (long long)(now_ms() - start),
			    h->nurls > 1 ? " over " : "", h->nurls > 1 ? h->list : "");
	}
done:
	out->attempts = attempts;
	pthread_mutex_unlock(&h->lock);
	mqe2e_http_response_free(&cur);
	mqe2e_http_response_free(&last);
	if (r != MQE2E_OK) {
		free(out->body);
		out->body = NULL;
		out->body_len = 0;
		out->status = 0;
		if (out->error[0] == '\0')
			set_error(out, "request to %s failed: %s", h->list, mqe2e_strerror(r));
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
	char tries[48] = "";

	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	if (r == NULL || (r->status != MQE2E_HTTP_TOO_MANY_REQUESTS &&
	    r->status != MQE2E_HTTP_SERVICE_UNAVAILABLE))
		return;
	if (r->attempts > 1)
		snprintf(tries, sizeof(tries), "; %u attempts", r->attempts);
	if (r->retry_after_s >= 0)
		snprintf(buf, len, " (the KMS is %s: retry in %d s%s)",
		    r->status == MQE2E_HTTP_TOO_MANY_REQUESTS ? "limiting this requester" :
		    "overloaded", r->retry_after_s, tries);
	else
		snprintf(buf, len, " (the KMS is %s: retry later%s)",
		    r->status == MQE2E_HTTP_TOO_MANY_REQUESTS ? "limiting this requester" :
		    "overloaded or unavailable", tries);
}
