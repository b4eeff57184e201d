/*
 * http.h - the KMS transport: HTTP/1.1 and HTTPS over libcurl, with one or
 * more KMS URLs, failover, and retry with jittered exponential backoff.
 *
 * Every program that talks to the KMS goes through this module: the client
 * library, the broker extension (from its own thread, never the broker's),
 * mqe2e-kmsctl and mqe2e-bench.  libcurl does the sockets, TLS (OpenSSL)
 * and HTTP framing; this module decides what is sent, which server
 * certificates are trusted (the KMS CA file only, never the system store),
 * how long a request may take, how much of an answer is read, and when to
 * try again or elsewhere.
 *
 * A struct mqe2e_http is a KMS "endpoint": its URL list, its CA file and
 * one libcurl handle.  It serves one request at a time (calls on one object
 * are serialised by its lock; use one object per thread for parallelism).
 * Objects are independent: several threads may each use their own.
 *
 * One request (mqe2e_http_request) runs against one deadline.  Within it:
 *   - URLs are tried starting with the last one that answered; a connection
 *     failure (refused, reset, no answer, name not resolved, the connect
 *     time of one URL used up) or a 502/503/504/429 answer moves on to the
 *     next URL at once;
 *   - once every URL failed in a round, the request waits and starts a new
 *     round: full jitter, a random time in [0, min(cap, base * 2^round)],
 *     plus the Retry-After the KMS sent (if any);
 *   - it stops when the next attempt could not start before the deadline,
 *     and reports the last error and the number of attempts.
 * Certificate failures, malformed answers and every other HTTP status are
 * returned at once: trying again would not change them.
 *
 * Every byte of the answer is untrusted: header lines and the body are
 * capped, numbers parsed with explicit maxima.  Request bodies and the
 * bearer token are wiped from our buffers after use.
 */
#ifndef MQE2E_HTTP_H
#define MQE2E_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"

#define MQE2E_HTTP_MAX_BODY (4u * 1024u * 1024u)   /* response body cap */
#define MQE2E_HTTP_MAX_HEADER (32u * 1024u)         /* status line + headers */
#define MQE2E_HTTP_MAX_HOST 256
#define MQE2E_HTTP_MAX_URL 300                      /* one base URL */
#define MQE2E_HTTP_MAX_URLS 8                       /* URLs in one list */
#define MQE2E_HTTP_MAX_RETRY_AFTER 3600

/* Backoff between rounds over the URL list: full jitter in
 * [0, min(CAP, BASE * 2^round)] ms, plus Retry-After. */
#define MQE2E_HTTP_BACKOFF_BASE_MS 100
#define MQE2E_HTTP_BACKOFF_CAP_MS 2000

/* HTTP statuses with which a KMS says "not now, retry later" (the answer
 * carries Retry-After). */
#define MQE2E_HTTP_TOO_MANY_REQUESTS 429
#define MQE2E_HTTP_SERVICE_UNAVAILABLE 503

/* One base URL, parsed. */
struct mqe2e_http_url {
	char url[MQE2E_HTTP_MAX_URL];   /* "http[s]://host[:port]", no trailing '/' */
	char host[MQE2E_HTTP_MAX_HOST]; /* brackets of an IPv6 literal removed */
	uint16_t port;                  /* default 80 (http) or 443 (https) */
	unsigned tls : 1;               /* https */
	unsigned loopback : 1;          /* 127.0.0.0/8, ::1 or "localhost" */
};

/* A parsed response.  Zero it or let mqe2e_http_request() do so. */
struct mqe2e_http_response {
	int status;                 /* 100..599 */
	char content_type[128];     /* "" if absent; cut at the cap */
	char request_id[128];       /* X-Request-Id, "" if absent */
	int retry_after_s;          /* Retry-After in seconds (capped at
	                               MQE2E_HTTP_MAX_RETRY_AFTER), -1 if absent
	                               or a date; a KMS sends it with 429 and 503 */
	uint8_t *body;              /* malloc'd, NUL-terminated (not counted in
	                               body_len); NULL if the body is empty */
	size_t body_len;
	unsigned attempts;          /* attempts made (1 if the first answered) */
	char url[MQE2E_HTTP_MAX_URL]; /* the URL of the last attempt */
	char error[512];            /* on failure: what went wrong, for humans,
	                               naming the URL (and the CA file for a
	                               certificate problem); "" on success */
};

struct mqe2e_http;

/* mqe2e_http_new() flags */
#define MQE2E_HTTP_REUSE 0x1u   /* keep the connection open for the next
                                   request (tools making many calls); by
                                   default each request closes its
                                   connection, so that thousands of idle
                                   devices hold no KMS connection */
#define MQE2E_HTTP_ONCE 0x2u    /* one attempt at the first URL: no retry, no
                                   failover (tests that measure what the KMS
                                   answers, e.g. its 503s under a flood) */

/*
 * A KMS endpoint.
 *
 * urls     one or more base URLs separated by commas (blanks around them
 *          are ignored): "https://kms1:8443,https://kms2:8443".  Each is
 *          http:// or https://HOST[:PORT] with an optional trailing '/';
 *          HOST is a name, an IPv4 literal or "[IPv6]".
 * cafile   PEM file of the KMS CA: the only trust anchor for https URLs
 *          (never the system store).  Required if any URL is https; may be
 *          NULL otherwise.  Read at every connection, so a renewed file is
 *          picked up without a restart.
 * flags    MQE2E_HTTP_REUSE, MQE2E_HTTP_ONCE or 0.
 *
 * On failure err says which URL is wrong and why (MQE2E_ERR_INVALID_ARG),
 * or that the CA file cannot be read (MQE2E_ERR_IO).  *out is owned by the
 * caller: mqe2e_http_free().
 */
int mqe2e_http_new(const char *urls, const char *cafile, unsigned flags, struct mqe2e_http **out,
    char *err, size_t errlen) MQE2E_WUR;

/* Free the endpoint and close its connections (h may be NULL). */
void mqe2e_http_free(struct mqe2e_http *h);

/*
 * A warning about the URL list to show once, or NULL: plain http:// to a
 * host that is not loopback (requests and answers cross the network in
 * clear text; key material stays sealed and signed, but use https://).
 */
const char *mqe2e_http_warning(const struct mqe2e_http *h);

/* The URL list as given (normalised, comma-separated), for messages. */
const char *mqe2e_http_urls(const struct mqe2e_http *h);

/* The URL tried first by the next request: the last one that answered. */
const char *mqe2e_http_current_url(struct mqe2e_http *h);

/*
 * Send one request and wait for the whole response, with failover and
 * retries as described at the top of this file.
 *
 * method        "GET", "POST", ...; path starts with "/" and holds no
 *               spaces or control characters.
 * content_type  for the body; may be NULL.
 * bearer_token  sent as "Authorization: Bearer ..."; may be NULL.  Wiped from
 *               our buffers after sending.  Never sent in clear text to a
 *               host that is not loopback: such a request is refused
 *               (MQE2E_ERR_INVALID_ARG) before anything is sent.
 * body          may be NULL when body_len is 0.  The same bytes are sent
 *               again on a retry: a body that must not be sent twice (a
 *               signed request with a nonce) is made per attempt with
 *               mqe2e_http_send() and a body callback instead.
 * timeout_ms    overall deadline (> 0) of all attempts and waits.
 * cancel_fd     if >= 0, the request is given up as at its deadline
 *               (MQE2E_ERR_TIMEOUT) as soon as it becomes readable: another
 *               thread writes to a pipe to stop a long poll at once (the
 *               broker plugin at shutdown).
 *
 * Returns MQE2E_OK with out filled in for any HTTP status (4xx/5xx are not
 * errors here: look at out->status; a 503 comes back once the deadline
 * leaves no room for another attempt).  Otherwise out->body is NULL,
 * out->error says what happened, and the result is
 *   MQE2E_ERR_INVALID_ARG  a bad method, path or header value; a token for
 *                          a plain http:// URL that is not loopback
 *   MQE2E_ERR_UNAVAILABLE  name does not resolve, connection refused,
 *                          host or network unreachable
 *   MQE2E_ERR_TIMEOUT      the deadline passed (or cancel_fd fired)
 *   MQE2E_ERR_IO           the connection was reset, another socket or TLS
 *                          error
 *   MQE2E_ERR_UNKNOWN_CA   the server certificate does not verify against
 *                          the CA file (or does not name the host)
 *   MQE2E_ERR_TRUNCATED    the server closed before the response was complete
 *   MQE2E_ERR_BAD_FORMAT   the response is not valid HTTP/1.x
 *   MQE2E_ERR_TOO_LONG     headers or body above their caps
 *   MQE2E_ERR_NOMEM
 * The caller frees out with mqe2e_http_response_free() in every case.
 */
int mqe2e_http_request(struct mqe2e_http *h, const char *method, const char *path,
    const char *content_type, const char *bearer_token, const uint8_t *body, size_t body_len,
    int timeout_ms, int cancel_fd, struct mqe2e_http_response *out) MQE2E_WUR;

/*
 * Produce the body of one attempt (attempt 1, 2, ... of one request): called
 * before every attempt, the first and each retry or failover, so a request
 * that carries a nonce (a signed KEY_REQUEST) is signed afresh each time and
 * a retry after an attempt whose answer was lost (the KMS may have processed
 * it) is not refused as a replay.  *body (may be NULL if *len is 0) stays
 * the callback's and must stay valid until its next call or until
 * mqe2e_http_send() returns.  A result other than MQE2E_OK ends the request
 * with it (msg, NUL-terminated, says why).
 */
typedef int (*mqe2e_http_body_fn)(void *arg, unsigned attempt, const uint8_t **body,
    size_t *len, char *msg, size_t msglen);

/* One request for mqe2e_http_send(); zero it, then fill in. */
struct mqe2e_http_req {
	const char *method;             /* as for mqe2e_http_request() */
	const char *path;
	const char *content_type;       /* may be NULL */
	const char *bearer_token;       /* may be NULL */
	const uint8_t *body;            /* a fixed body (sent again on a retry) ... */
	size_t body_len;
	mqe2e_http_body_fn make_body;   /* ... or one made per attempt (then body
	                                   and body_len are ignored) */
	void *body_arg;
	int timeout_ms;                 /* overall deadline (> 0) */
	int cancel_fd;                  /* -1 for none */
	unsigned max_rounds;            /* 0: rounds over the URL list until the
	                                   deadline; 1: one pass over the list and
	                                   no backoff wait, for a caller that paces
	                                   its own next try (a background refresh:
	                                   one retry layer, not one inside another);
	                                   n: at most n rounds */
};

/*
 * mqe2e_http_request() with every option: the same failover, backoff,
 * results and errors; mqe2e_http_request() is this with a fixed body,
 * no round limit.
 */
int mqe2e_http_send(struct mqe2e_http *h, const struct mqe2e_http_req *rq,
    struct mqe2e_http_response *out) MQE2E_WUR;

/*
 * For a 429 or 503 answer: " (the KMS is overloaded: retry in N s)" and the
 * like, from the status and Retry-After, to append to an error message;
 * "" for any other answer.  buf of len bytes (64 suffice).
 */
void mqe2e_http_retry_hint(const struct mqe2e_http_response *r, char *buf, size_t len);

/* Free the body and reset *r (r may be NULL). */
void mqe2e_http_response_free(struct mqe2e_http_response *r);

/*
 * Parse one base URL of len bytes (not NUL-terminated necessarily):
 * "http[s]://host[:port][/]".  MQE2E_ERR_INVALID_ARG for anything else
 * (another scheme, user info, a path, a query, an empty or out-of-range
 * port, bad host bytes, too long).
 */
int mqe2e_http_parse_url(const char *url, size_t len, struct mqe2e_http_url *out) MQE2E_WUR;

/*
 * Parse a comma-separated list of base URLs into out[0..max), *n of them
 * (at least one).  On failure err names the bad entry.
 */
int mqe2e_http_parse_urls(const char *list, struct mqe2e_http_url *out, size_t max, size_t *n,
    char *err, size_t errlen) MQE2E_WUR;

/*
 * Parse one response header line (as libcurl hands it over: ends in CRLF
 * or LF, or not at all) into the fields of out: a status line resets them,
 * Content-Type, X-Request-Id and Retry-After are kept, others ignored.
 * MQE2E_ERR_BAD_FORMAT for a line that is neither a status line, a
 * "name: value" header nor the empty line; exposed for tests and fuzzing.
 */
int mqe2e_http_parse_header(const char *line, size_t len, struct mqe2e_http_response *out)
    MQE2E_WUR;

#endif
