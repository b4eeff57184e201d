/*
 * http.h - a small blocking HTTP/1.1 client for talking to the KMS.
 *
 * Used by mqe2e-kmsctl, the broker extension (from its own thread, never the
 * broker's) and the client library.  Plain http:// only (loopback or a
 * trusted LAN; everything security-relevant on the wire is signed or
 * encrypted above HTTP).  One request per connection ("Connection: close"),
 * one overall deadline for resolve + connect + send + receive.
 *
 * No shared state: threads may call it at once (the broker extension does
 * from its KMS thread).  SIGPIPE is never raised (MSG_NOSIGNAL).
 *
 * Every byte of the response is untrusted: the status line, each header and
 * the body framing (Content-Length, chunked or read-until-close) are parsed
 * with bounds checks and hard caps.
 */
#ifndef MQE2E_HTTP_H
#define MQE2E_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"

#define MQE2E_HTTP_MAX_BODY (4u * 1024u * 1024u)   /* response body cap */
#define MQE2E_HTTP_MAX_HEADER (32u * 1024u)         /* status line + headers */
#define MQE2E_HTTP_MAX_HOST 256
#define MQE2E_HTTP_MAX_RETRY_AFTER 3600

/* HTTP statuses with which a KMS says "not now, retry later" (the answer
 * carries Retry-After). */
#define MQE2E_HTTP_TOO_MANY_REQUESTS 429
#define MQE2E_HTTP_SERVICE_UNAVAILABLE 503

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
	char error[256];            /* on failure: what went wrong, for humans,
	                               naming the URL; "" on success */
};

/*
 * Send one request and wait for the whole response.
 *
 * base_url      "http://host[:port]" (port defaults to 80; a trailing "/" is
 *               allowed); host is a name, an IPv4 literal or "[IPv6]".
 * method        "GET", "POST", ...; path starts with "/" and holds no
 *               spaces or control characters.
 * content_type  for the body; may be NULL.
 * bearer_token  sent as "Authorization: Bearer ..."; may be NULL.  Wiped from
 *               our buffers after sending.
 * body          may be NULL when body_len is 0.
 * timeout_ms    overall deadline (> 0).
 *
 * Returns MQE2E_OK with out filled in for any HTTP status (4xx/5xx are not
 * errors here: look at out->status).  Otherwise out->body is NULL,
 * out->error says what happened, and the result is
 *   MQE2E_ERR_INVALID_ARG  a bad URL, method, path or header value
 *   MQE2E_ERR_UNAVAILABLE  name does not resolve, connection refused,
 *                          host or network unreachable
 *   MQE2E_ERR_TIMEOUT      the deadline passed
 *   MQE2E_ERR_IO           another socket error
 *   MQE2E_ERR_TRUNCATED    the server closed before the response was complete
 *   MQE2E_ERR_BAD_FORMAT   the response is not valid HTTP/1.x
 *   MQE2E_ERR_TOO_LONG     headers or body above their caps
 *   MQE2E_ERR_NOMEM
 * The caller frees out with mqe2e_http_response_free() in every case.
 */
int mqe2e_http_request(const char *base_url, const char *method, const char *path,
    const char *content_type, const char *bearer_token, const uint8_t *body, size_t body_len,
    int timeout_ms, struct mqe2e_http_response *out) MQE2E_WUR;
/*
 * The same, given up as at its deadline (MQE2E_ERR_TIMEOUT) as soon as
 * cancel_fd becomes readable: another thread writes to a pipe to stop a
 * long poll at once (the broker plugin at shutdown).  cancel_fd < 0: never.
 */
int mqe2e_http_request_cancel(const char *base_url, const char *method, const char *path,
    const char *content_type, const char *bearer_token, const uint8_t *body, size_t body_len,
    int timeout_ms, int cancel_fd, struct mqe2e_http_response *out) MQE2E_WUR;

/*
 * For a 429 or 503 answer: " (the KMS is overloaded: retry in N s)" and the
 * like, from the status and Retry-After, to append to an error message;
 * "" for any other answer.  buf of len bytes (64 suffice).
 */
void mqe2e_http_retry_hint(const struct mqe2e_http_response *r, char *buf, size_t len);

/* Free the body and reset *r (r may be NULL). */
void mqe2e_http_response_free(struct mqe2e_http_response *r);

/*
 * Split "http://host[:port][/]" into host (NUL-terminated, brackets of an
 * IPv6 literal removed) and port.  MQE2E_ERR_INVALID_ARG for anything else
 * (https, user info, a path, an empty or out-of-range port, bad host bytes).
 */
int mqe2e_http_parse_url(const char *url, char *host, size_t host_len, uint16_t *port) MQE2E_WUR;

/*
 * Parse a raw response held in raw[0..len) (exposed for tests and fuzzing).
 * at_eof = 1 when the peer has closed the connection (a body without length
 * then ends at len).  Returns MQE2E_OK (out filled, body malloc'd),
 * MQE2E_ERR_TRUNCATED if more bytes are needed (or the input ended early at
 * EOF), MQE2E_ERR_BAD_FORMAT or MQE2E_ERR_TOO_LONG.  max_body caps the body
 * (0 = MQE2E_HTTP_MAX_BODY).  head_only = 1 for a response to HEAD.
 */
int mqe2e_http_parse_response(const uint8_t *raw, size_t len, int at_eof, int head_only,
    size_t max_body, struct mqe2e_http_response *out) MQE2E_WUR;

#endif
