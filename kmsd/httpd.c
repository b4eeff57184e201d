/*
 * httpd.c - the REST front end on libmicrohttpd (see httpd.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>
#include <pthread.h>

#include <microhttpd.h>

#include "admit.h"
#include "audit.h"
#include "httpd.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

/* ---- replies ------------------------------------------------------------------ */

static void
set_response(struct kms_req *r, unsigned status, struct MHD_Response *resp)
{
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	r->resp = resp;
	r->status = status;
}

void
kms_reply_bytes(struct kms_req *r, unsigned status, const char *content_type,
    const void *data, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
	if (resp != NULL && content_type != NULL &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	set_response(r, resp != NULL ? status : 500, resp);
}

void
kms_reply_json(struct kms_req *r, unsigned status, json_t *body)
{
	char *s = NULL;
	size_t len;

	if (body != NULL)
		s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(body);
	if (s == NULL) {
		set_response(r, 500, NULL);
		return;
	}
	len = strlen(s);
	s[len] = '\n';   /* a trailing newline for terminals; length given below */
	kms_reply_bytes(r, status, "application/json", s, len + 1);
	kms_json_free(s);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 0)))
#endif
static void
vreply_error(struct kms_req *r, unsigned status, const char *code, const char *fmt,
    va_list ap)
{
	char msg[512];
	json_t *o;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	r->error_code = code;
	o = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", msg,
	    "request_id", r->id);
	kms_reply_json(r, status, o);
	if (r->resp != NULL)
		r->status = status;
}

void
kms_reply_error(struct kms_req *r, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreply_error(r, status, code, fmt, ap);
	va_end(ap);
}

/* mqe2e_err -> HTTP status and error code: the one translation table. */
static const struct {
	int err;
	unsigned status;
	const char *code;
} err_map[] = {
	{ MQE2E_ERR_NOT_FOUND, 404, "not_found" },
	{ MQE2E_ERR_CONFLICT, 409, "conflict" },
	{ MQE2E_ERR_INVALID_ARG, 400, "bad_request" },
	{ MQE2E_ERR_BAD_FORMAT, 400, "malformed" },
	{ MQE2E_ERR_TRUNCATED, 400, "malformed" },
	{ MQE2E_ERR_TRAILING, 400, "malformed" },
	{ MQE2E_ERR_TOO_LONG, 400, "malformed" },
	{ MQE2E_ERR_BAD_VERSION, 400, "malformed" },
	{ MQE2E_ERR_BAD_TYPE, 400, "malformed" },
	{ MQE2E_ERR_CLOCK_SKEW, 400, "clock_skew" },
	{ MQE2E_ERR_BAD_SIGNATURE, 401, "bad_signature" },
	{ MQE2E_ERR_UNKNOWN_CA, 401, "unknown_ca" },
	{ MQE2E_ERR_CERT_EXPIRED, 401, "cert_expired" },
	{ MQE2E_ERR_BAD_CERT, 401, "bad_cert" },
	{ MQE2E_ERR_ID_MISMATCH, 401, "bad_cert" },
	{ MQE2E_ERR_REVOKED, 403, "revoked" },
	{ MQE2E_ERR_DENIED, 403, "forbidden" },
	{ MQE2E_ERR_NONCE_REUSE, 409, "nonce_reused" },
	{ MQE2E_ERR_QUOTA, 429, "rate_limited" },
	{ MQE2E_ERR_UNAVAILABLE, 503, "unavailable" },
	{ MQE2E_ERR_TIMEOUT, 503, "unavailable" },
};

void
kms_reply_err(struct kms_req *r, int err, const char *fmt, ...)
{
	char msg[512];
	size_t i;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err == MQE2E_ERR_NO_SPACE) {
		char place[600];

		kms_reply_error(r, 507, "insufficient_storage", "%s: the disk of the KMS %s is "
		    "full, nothing was changed: free space on it and retry (key delivery goes on "
		    "meanwhile)", msg, kmsd_store_place(r->k, place, sizeof(place)));
		return;
	}
	for (i = 0; i < sizeof(err_map) / sizeof(err_map[0]); i++) {
		if (err_map[i].err == err) {
			kms_reply_error(r, err_map[i].status, err_map[i].code, "%s", msg);
			return;
		}
	}
	/* Internal details go to the daemon log, never to the client. */
	kms_log("request %s: %s: %s", r->id, msg, mqe2e_strerror(err));
	kms_reply_error(r, 500, "internal", "internal error (request id %s): see the "
	    "mqe2e-kmsd log", r->id);
}

void
kms_reply_retry_after(struct kms_req *r, unsigned seconds)
{
	char v[16];

	if (r->resp == NULL)
		return;
	snprintf(v, sizeof(v), "%u", seconds > 0 ? seconds : 1);
	(void)MHD_add_response_header(r->resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
}

void
kms_reply_method(struct kms_req *r, const char *allow)
{
	kms_reply_error(r, 405, "method_not_allowed", "method %s is not allowed here; use %s",
	    r->method, allow);
	if (r->resp != NULL)
		(void)MHD_add_response_header(r->resp, MHD_HTTP_HEADER_ALLOW, allow);
}

void
kms_route_collection(struct kms_req *r, void (*create)(struct kms_req *r),
    void (*list)(struct kms_req *r))
{
	if (strcmp(r->method, "POST") == 0)
		create(r);
	else if (strcmp(r->method, "GET") == 0)
		list(r);
	else
		kms_reply_method(r, "GET, POST");
}

/* ---- request helpers --------------------------------------------------------- */

void
kms_req_audit(struct kms_req *r, const char *action, const char *target)
{
	r->action = action;
	snprintf(r->target, sizeof(r->target), "%s", target != NULL ? target : "");
}

/* The request's bearer token: 1 right, 0 wrong, -1 none. */
static int
admin_token(struct kms_req *r)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	const char *tok;
	size_t len;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return -1;
	tok = h + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	while (len > 0 && tok[len - 1] == ' ')
		len--;
	return len == KMSD_TOKEN_HEX_LEN && mqe2e_ct_equal(tok, r->k->admin_token, len);
}

int
kms_req_admin(struct kms_req *r)
{
	int ok = admin_token(r);

	if (ok < 0) {
		kms_reply_error(r, 401, "unauthorized", "this endpoint needs 'Authorization: "
		    "Bearer <token>' with the token from the KMS data directory (admin.token)");
		if (r->resp != NULL)
			(void)MHD_add_response_header(r->resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			    "Bearer");
		goto fail;
	}
	if (!ok) {
		kms_reply_error(r, 403, "forbidden", "the admin token is wrong: use the one in "
		    "the KMS data directory (admin.token)");
		goto fail;
	}
	snprintf(r->actor, sizeof(r->actor), "admin");
	return 1;
 fail:
	/* Keep what was attempted in the audit line. */
	snprintf(r->detail, sizeof(r->detail), "attempted %s", r->action != NULL ?
	    r->action : "?");
	r->action = "auth.fail";
	return 0;
}

int
kms_req_content_type_is(struct kms_req *r, const char *ct)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen(ct);

	if (h == NULL)
		return 0;
	while (*h == ' ')
		h++;
	return strncasecmp(h, ct, n) == 0 && (h[n] == '\0' || h[n] == ';' || h[n] == ' ');
}

json_t *
kms_req_json(struct kms_req *r, int empty_ok)
{
	json_error_t jerr;
	json_t *o;

	if (r->body_len == 0 && empty_ok)
		return json_object();
	if (!kms_req_content_type_is(r, "application/json")) {
		kms_reply_error(r, 415, "unsupported_media_type",
		    "send the body as JSON with 'Content-Type: application/json'");
		return NULL;
	}
	o = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		kms_reply_error(r, 400, "bad_request", "the body is not valid JSON: %s "
		    "(line %d, column %d)", jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		kms_reply_error(r, 400, "bad_request", "the body must be a JSON object");
		return NULL;
	}
	return o;
}

const char *
kms_req_query(struct kms_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- routing ------------------------------------------------------------------- */

/* GET /metrics: Prometheus text, no authentication (counts only: no names,
 * no keys); see mqe2e-kmsd(8), METRICS. */
static void
serve_metrics(struct kms_req *r)
{
	char *text = NULL;
	size_t len = 0;
	int e;

	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		kms_reply_method(r, "GET, HEAD");
		return;
	}
	if ((e = kms_metrics_render(r->k, &text, &len)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot render the metrics");
		return;
	}
	kms_reply_bytes(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

static void
route(struct kms_req *r, const char *url)
{
	static const struct {
		const char *name;
		void (*fn)(struct kms_req *, char **, size_t);
	} routes[] = {
		{ "health", rest_public }, { "ca", rest_public }, { "crl", rest_public },
		{ "clients", rest_clients }, { "groups", rest_groups },
		{ "grants", rest_grants }, { "keys", rest_keys }, { "policy", rest_policy },
		{ "certs", rest_certs },
	};
	char path[1024], *seg[KMS_PATH_SEGS], *p;
	size_t n = 0, i, len;

	if (strcmp(url, "/metrics") == 0) {
		r->endpoint = "metrics";
		serve_metrics(r);
		return;
	}
	if (strncmp(url, "/v1/", 4) != 0 || (len = strlen(url + 4)) == 0 || len >= sizeof(path))
		goto not_found;
	memcpy(path, url + 4, len + 1);
	if (path[len - 1] == '/')          /* tolerate one trailing slash */
		path[--len] = '\0';
	for (p = path; p != NULL && *p != '\0'; ) {
		char *slash = strchr(p, '/');

		if (n == KMS_PATH_SEGS)
			goto not_found;
		if (slash != NULL)
			*slash = '\0';
		if (*p == '\0')
			goto not_found;
		seg[n++] = p;
		p = slash != NULL ? slash + 1 : NULL;
	}
	if (n == 0)
		goto not_found;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(seg[0], routes[i].name) == 0) {
			r->endpoint = routes[i].name;
			routes[i].fn(r, seg, n);
			return;
		}
	}
 not_found:
	kms_reply_error(r, 404, "not_found", "no such endpoint: %s %s (see docs/API.md)",
	    r->method, url);
}

/* ---- libmicrohttpd callbacks --------------------------------------------------- */

/* Requests between their first callback and completion (for a graceful
 * stop: long polls get to answer). */
static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned inflight;

static void
inflight_add(int d)
{
	pthread_mutex_lock(&inflight_lock);
	inflight = (unsigned)((int)inflight + d);
	pthread_mutex_unlock(&inflight_lock);
}

static void
req_free(struct kms_req *r)
{
	if (r == NULL)
		return;
	inflight_add(-1);
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	if (r->body != NULL) {
		mqe2e_wipe(r->body, r->body_cap);
		free(r->body);
	}
	free(r);
}

/*
 * Request ids: unique within a run and unrelated between runs, without a
 * call into the random generator per request (its lock is shared by all
 * workers): a random 64-bit start, counted up, through a bijective mixer
 * (splitmix64's finaliser), so consecutive ids do not look consecutive.
 * They name requests in logs; they are not secrets.
 */
static uint64_t req_seq;

static int
req_id(char out[KMS_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t start = 0, v;
	size_t i;

	if (__atomic_load_n(&req_seq, __ATOMIC_RELAXED) == 0) {
		if (mqe2e_random(&start, sizeof(start)) != MQE2E_OK)
			return -1;
		start |= 1;
		(void)__atomic_compare_exchange_n(&req_seq, &(uint64_t){ 0 }, start, 0,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	v = __atomic_add_fetch(&req_seq, 1, __ATOMIC_RELAXED);
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
	v ^= v >> 31;
	for (i = 0; i < KMS_ID_LEN; i++)
		out[i] = hex[(v >> (4 * (KMS_ID_LEN - 1 - i))) & 15];
	out[KMS_ID_LEN] = '\0';
	return 0;
}

static struct kms_req *
req_new(struct kmsd *k, struct MHD_Connection *conn, const char *method)
{
	struct kms_req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->k = k;
	r->conn = conn;
	r->method = method;
	if (req_id(r->id) != 0) {
		free(r);
		return NULL;
	}
	snprintf(r->actor, sizeof(r->actor), "anonymous");
	r->t0_us = kms_metrics_now_us();
	inflight_add(1);
	return r;
}

static int
append_body(struct kms_req *r, const char *data, size_t len)
{
	uint8_t *nb;
	size_t cap;

	if (r->too_large || len > KMS_BODY_MAX - r->body_len) {
		r->too_large = 1;
		return 0;
	}
	if (r->body_len + len > r->body_cap) {
		cap = r->body_cap == 0 ? 4096 : r->body_cap;
		while (cap < r->body_len + len)
			cap *= 2;
		if (cap > KMS_BODY_MAX)
			cap = KMS_BODY_MAX;
		if ((nb = malloc(cap)) == NULL)
			return -1;
		if (r->body != NULL) {
			memcpy(nb, r->body, r->body_len);
			mqe2e_wipe(r->body, r->body_cap);
			free(r->body);
		}
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	return 0;
}

static enum MHD_Result
send_reply(struct kms_req *r)
{
	static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}\n";
	enum MHD_Result ret;

	if (r->resp == NULL) {
		r->status = 500;
		r->error_code = "internal";
		r->resp = MHD_create_response_from_buffer(sizeof(oom) - 1, (void *)(uintptr_t)oom,
		    MHD_RESPMEM_PERSISTENT);
		if (r->resp == NULL)
			return MHD_NO;
		(void)MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "application/json");
	}
	(void)MHD_add_response_header(r->resp, "X-Request-Id", r->id);
	(void)MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(r->conn, r->status, r->resp);
	kms_metrics_request(r->endpoint, r->status, kms_metrics_now_us() - r->t0_us);
	if (r->action != NULL && !(r->audit_failures_only && r->status < 400))
		kms_audit(r->k->audit, r->id, r->actor, r->action,
		    r->target[0] != '\0' ? r->target : NULL,
		    r->status < 400 ? "ok" : (r->error_code != NULL ? r->error_code : "error"),
		    r->status, r->detail[0] != '\0' ? r->detail : NULL);
	return ret;
}

/* Header iterator: every Content-Length must carry the same value. */
struct cl_scan {
	const char *first;
	unsigned count;
	int differ;
};

static enum MHD_Result
scan_content_length(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct cl_scan *s = cls;

	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return MHD_YES;
	if (s->count++ == 0)
		s->first = value;
	else if (value == NULL || s->first == NULL || strcmp(value, s->first) != 0)
		s->differ = 1;
	return MHD_YES;
}

/*
 * The request framing before any body byte is read: Content-Length must be
 * one decimal number (a repeated header with the same value is tolerated,
 * RFC 9110 8.6) within KMS_BODY_MAX.  Two different lengths would let a
 * proxy in front of us and the KMS disagree on where the request ends
 * (request smuggling), so they are refused.  0: fine; otherwise replied.
 */
static int
check_framing(struct kms_req *r)
{
	struct cl_scan s = { NULL, 0, 0 };
	unsigned long long v;

	(void)MHD_get_connection_values(r->conn, MHD_HEADER_KIND, scan_content_length, &s);
	if (s.differ) {
		kms_reply_error(r, 400, "bad_request", "the request has %u Content-Length "
		    "headers with different values: send exactly one", s.count);
		return -1;
	}
	if (s.first != NULL && kmsd_parse_uint(s.first, 0, ~0ULL, &v) != 0) {
		kms_reply_error(r, 400, "bad_request", "Content-Length '%.32s' is not a decimal "
		    "number", s.first);
		return -1;
	}
	if (s.first != NULL && v > KMS_BODY_MAX) {
		kms_reply_error(r, 413, "too_large", "the request body exceeds %d bytes",
		    KMS_BODY_MAX);
		return -1;
	}
	return 0;
}

/* ---- admission (admit.h) ----------------------------------------------------- */

static struct kms_conn *
conn_admission(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn,
	    MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct kmsd *k = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fd = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *addr = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		kms_metrics_connection();
		*socket_context = kms_admit_open(k->admit, fd != NULL ? fd->connect_fd : -1,
		    addr != NULL ? addr->client_addr : NULL);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		kms_admit_close(k->admit, *socket_context);
		*socket_context = NULL;
	}
}

/* Over the limits: 503 with Retry-After, and the connection closes. */
static void
reply_busy(struct kms_req *r)
{
	kms_reply_error(r, 503, "busy", "the KMS is serving as many connections from this "
	    "address (per_ip_connections) or in all (max_connections) as it may: retry "
	    "after the Retry-After delay");
	kms_reply_retry_after(r, KMS_ADMIT_OVER_S);
	if (r->resp != NULL)
		(void)MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* A KEY_REQUEST body from a broker certificate (not verified here: keyauth
 * does that; a client cannot make one). */
static int
broker_body(struct kms_req *r)
{
	struct mqe2e_hello h;
	enum mqe2e_kind kind = MQE2E_KIND_CLIENT;
	char id[MQE2E_ID_MAX + 1];
	X509 *cert = NULL;
	int ok;

	ok = mqe2e_hello_decode(r->body, r->body_len, MQE2E_MSG_KEY_REQUEST, &h) == MQE2E_OK &&
	    mqe2e_cert_from_der(h.cert_der.p, h.cert_der.len, &cert) == MQE2E_OK &&
	    mqe2e_cert_identity(cert, id, sizeof(id), &kind) == MQE2E_OK &&
	    kind == MQE2E_KIND_BROKER;
	mqe2e_cert_free(cert);
	return ok;
}

/*
 * The headers are in.  A connection over the limits is served only for the
 * admin (right token) and the brokers (policy; keys once the body shows a
 * broker certificate); the others are answered 503 once their body is in
 * (answering before it and closing would make the kernel reset the
 * connection over the unread bytes, and the client would never see the 503).
 */
static void
admit_headers(struct kms_req *r, const char *url)
{
	if (!kms_admit_over(r->k->admit, conn_admission(r->conn)))
		r->admit = KMS_ADMIT_SERVE;
	else if (admin_token(r) == 1 || strncmp(url, "/v1/policy", 10) == 0)
		r->admit = KMS_ADMIT_SERVE;
	else if (strcmp(url, "/v1/keys") == 0 && strcmp(r->method, "POST") == 0)
		r->admit = KMS_ADMIT_BROKER_BODY;
	else
		r->admit = KMS_ADMIT_REFUSE;
}

/* ---- the slow lane ---------------------------------------------------------------
 *
 * The HTTP threads are a small pool (poll(), twice the cores by
 * default): each serves many connections, so nothing on it may wait.  A
 * policy watch waits up to a minute for a change: its connection is
 * suspended and the request runs on a thread of its own, which resumes the
 * connection when the answer is ready (on_request then sends it).  Watches
 * are few (one per broker) and live long, so a thread each is cheap.
 */

static pthread_mutex_t slow_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cond = PTHREAD_COND_INITIALIZER;
static unsigned slow_running;   /* [slow_lock] watch threads (suspended connections) */
static int slow_closed;         /* [slow_lock] stopping: no new ones */

struct slow_job {
	struct kms_req *r;
	char url[64];
};

static void *
slow_main(void *arg)
{
	struct slow_job *j = arg;
	struct kms_req *r = j->r;

	route(r, j->url);
	free(j);
	/* Everything above is done before the pool may touch r again. */
	pthread_mutex_lock(&slow_lock);
	r->slow = 2;
	MHD_resume_connection(r->conn);
	if (--slow_running == 0)
		pthread_cond_broadcast(&slow_cond);
	pthread_mutex_unlock(&slow_lock);
	return NULL;
}

/* 1 if url is served on the slow lane. */
static int
is_slow(const char *url)
{
	return strcmp(url, "/v1/policy/watch") == 0;
}

/* Suspend r's connection and route it on a thread of its own: 0, or -1
 * (then the caller routes it inline). */
static int
slow_start(struct kms_req *r, const char *url)
{
	struct slow_job *j;
	pthread_attr_t a;
	pthread_t t;
	int e;

	if (strlen(url) >= sizeof(j->url) || (j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->r = r;
	memcpy(j->url, url, strlen(url) + 1);
	/* Counted and suspended in one step, and never once the daemon stops:
	 * libmicrohttpd aborts the process if MHD_stop_daemon finds a suspended
	 * connection (a watch that arrived on a kept-alive connection while
	 * kms_httpd_stop waited for the last one).  Stopping, it runs inline:
	 * the daemon's stop flag ends the wait at once. */
	pthread_mutex_lock(&slow_lock);
	if (slow_closed) {
		pthread_mutex_unlock(&slow_lock);
		free(j);
		return -1;
	}
	slow_running++;
	r->slow = 1;
	MHD_suspend_connection(r->conn);
	pthread_mutex_unlock(&slow_lock);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	e = pthread_create(&t, &a, slow_main, j);
	pthread_attr_destroy(&a);
	if (e != 0) {
		pthread_mutex_lock(&slow_lock);
		slow_running--;
		pthread_mutex_unlock(&slow_lock);
		MHD_resume_connection(r->conn);
		r->slow = 0;
		free(j);
		kms_log("request %s: cannot start a thread for a policy watch: %s", r->id,
		    strerror(e));
		return -1;
	}
	return 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct kmsd *k = cls;
	struct kms_req *r = *con_cls;

	if (r == NULL) {
		if ((r = req_new(k, conn, method)) == NULL)
			return MHD_NO;
		*con_cls = r;
		if (check_framing(r) != 0) {
			r->answered = 1;
			return send_reply(r);
		}
		admit_headers(r, url);
		return MHD_YES;
	}
	if (r->slow == 2)    /* answered on the slow lane, connection resumed */
		return send_reply(r);
	if (r->slow == 1)    /* not reached: a suspended connection is not served */
		return MHD_YES;
	if (r->answered) {   /* refused before the body: discard it */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (append_body(r, upload_data, *upload_data_size) != 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	kms_admit_received(k->admit, conn_admission(conn));
	if (r->too_large)
		kms_reply_error(r, 413, "too_large", "the request body exceeds %d bytes",
		    KMS_BODY_MAX);
	else if (r->admit == KMS_ADMIT_REFUSE ||
	    (r->admit == KMS_ADMIT_BROKER_BODY && !broker_body(r)))
		reply_busy(r);
	else if (is_slow(url) && slow_start(r, url) == 0)
		return MHD_YES;
	else
		route(r, url);
	return send_reply(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct kmsd *k = cls;

	kms_admit_done(k->admit, conn_admission(conn));
	req_free(*con_cls);
	*con_cls = NULL;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 0)))
#endif
static void
on_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	kms_log("http: %s", msg);
}

/* ---- start / stop --------------------------------------------------------------- */

static int
is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

unsigned
kms_httpd_threads(const struct kmsd_config *cfg)
{
	long n;

	if (cfg->threads > 0)
		return cfg->threads;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	/* twice the cores: a thread waiting for the disk (an admin write,
	 * fsync) leaves the others working */
	return n > KMSD_THREADS_MAX / 2 ? KMSD_THREADS_MAX : (unsigned)(n < 2 ? 4 : 2 * n);
}

/* The server certificate and key held for libmicrohttpd: gone, key wiped. */
static void
drop_tls(struct kmsd *k)
{
	free(k->tls_cert_pem);
	k->tls_cert_pem = NULL;
	if (k->tls_key_pem != NULL) {
		mqe2e_wipe(k->tls_key_pem, k->tls_key_len);
		free(k->tls_key_pem);
		k->tls_key_pem = NULL;
	}
	k->tls_key_len = 0;
}

int
kms_httpd_start(struct kmsd *k, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char host[256];
	unsigned port;
	/* poll(), not epoll: with epoll, MHD_quiesce_daemon (kms_httpd_stop)
	 * and a worker woken at that moment both take the listening socket out
	 * of the worker's epoll set, and the loser aborts the process
	 * ("Failed to remove listen FD from epoll set", libmicrohttpd 0.9.75
	 * daemon.c; tests/kms_stop_watch.sh).  With poll() quiescing is a
	 * message to each worker, which stops polling the socket itself. */
	unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
	    MHD_ALLOW_SUSPEND_RESUME;
	unsigned threads = kms_httpd_threads(&k->cfg);
	/* HTTPS: our key and certificate (tls.c), TLS 1.2 and 1.3 only */
	struct MHD_OptionItem tls_opts[] = {
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, NULL },
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, NULL },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0,
		    (void *)(uintptr_t)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" },
		{ MHD_OPTION_END, 0, NULL },
	};

	pthread_mutex_lock(&slow_lock);
	slow_closed = 0;
	pthread_mutex_unlock(&slow_lock);
	memset(&ss, 0, sizeof(ss));
	if (kmsd_parse_listen(k->cfg.listen, host, sizeof(host), &port) != MQE2E_OK) {
		snprintf(err, errlen, "listen address '%s' is not HOST:PORT", k->cfg.listen);
		return MQE2E_ERR_INVALID_ARG;
	}
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)(void *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *in = (struct sockaddr_in *)(void *)&ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "listen address '%s': '%s' is not an IP address "
		    "(use e.g. 127.0.0.1 or [::1])", k->cfg.listen, host);
		return MQE2E_ERR_INVALID_ARG;
	}
	if (!k->cfg.listen_tls && !is_loopback(&ss)) {
		if (!k->cfg.allow_plain_http) {
			snprintf(err, errlen, "listen = http://%s is plain HTTP on an address that is "
			    "not loopback: the admin token and every request would cross the network "
			    "in clear text.  Serve HTTPS instead (listen = https://%s, with the server "
			    "certificate issued by the KMS CA, see mqe2e-kmsd(8)), or set "
			    "allow_plain_http = yes if a TLS proxy in front of the KMS is the only way "
			    "in (dangerous)", k->cfg.listen, k->cfg.listen);
			return MQE2E_ERR_INVALID_ARG;
		}
		kms_log_at(LOG_WARNING, "warning: listening on http://%s, which is not loopback "
		    "(allow_plain_http = yes): the admin token travels in clear text", k->cfg.listen);
	}
	if (k->cfg.listen_tls) {
		time_t not_after = 0;
		int r;

		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(err, errlen, "listen = https://%s: this libmicrohttpd was built "
			    "without TLS support", k->cfg.listen);
			return MQE2E_ERR_INVALID_ARG;
		}
		if ((r = kms_tls_load(k->ca, &k->cfg, &k->tls_cert_pem, &k->tls_key_pem,
		    &k->tls_key_len, &not_after, err, errlen)) != MQE2E_OK)
			return r;
		if (not_after - time(NULL) < 30 * 86400)
			kms_log_at(LOG_WARNING, "warning: the TLS server certificate expires in %lld "
			    "days: run 'mqe2e-kmsd --renew-tls-cert' and restart",
			    (long long)((not_after - time(NULL)) / 86400));
		flags |= MHD_USE_TLS;
		tls_opts[0].ptr_value = k->tls_key_pem;
		tls_opts[1].ptr_value = k->tls_cert_pem;
	}
	if (kms_admit_start(&k->cfg, &k->admit) != MQE2E_OK) {
		drop_tls(k);
		snprintf(err, errlen, "cannot start the connection watchdog");
		return MQE2E_ERR_NOMEM;
	}
	/* Per-address and total limits are admit.c's (503, not a reset); this
	 * limit, with room for the connections over them, is the last resort. */
	k->httpd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, k,
	    MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)k->cfg.connection_timeout_s,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)(k->cfg.max_connections + k->cfg.per_ip_connections),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, k,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, k,
	    MHD_OPTION_ARRAY, k->cfg.listen_tls ? tls_opts : tls_opts + 3,
	    MHD_OPTION_END);
	if (k->httpd == NULL) {
		kms_admit_stop(k->admit);
		k->admit = NULL;
		drop_tls(k);
		snprintf(err, errlen, "cannot listen on %s (address in use, or not allowed?)",
		    k->cfg.listen);
		return MQE2E_ERR_IO;
	}
	return MQE2E_OK;
}

void
kms_httpd_stop(struct kmsd *k)
{
	MHD_socket fd;
	unsigned n;
	int i;

	if (k->httpd == NULL)
		return;
	/* Stop accepting, then give running requests (woken long polls) up to
	 * five seconds to answer before connections are closed. */
	if ((fd = MHD_quiesce_daemon(k->httpd)) != MHD_INVALID_SOCKET)
		close(fd);
	for (i = 0; i < 50; i++) {
		pthread_mutex_lock(&inflight_lock);
		n = inflight;
		pthread_mutex_unlock(&inflight_lock);
		if (n == 0)
			break;
		usleep(100 * 1000);
	}
	/* A watch thread resumes its connection when it ends: the daemon must
	 * outlive it (stopping wakes every watch), and no connection may be
	 * suspended when it stops (slow_start). */
	pthread_mutex_lock(&slow_lock);
	slow_closed = 1;
	while (slow_running > 0)
		pthread_cond_wait(&slow_cond, &slow_lock);
	pthread_mutex_unlock(&slow_lock);
	MHD_stop_daemon(k->httpd);
	k->httpd = NULL;
	kms_admit_stop(k->admit);
	k->admit = NULL;
	drop_tls(k);
}
