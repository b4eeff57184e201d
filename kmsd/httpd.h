/*
 * httpd.h - the REST front end of mqe2e-kmsd on libmicrohttpd.
 *
 * httpd.c owns the MHD daemon, reads and caps request bodies, gives each
 * request an id, routes /v1/... to the rest_*.c handlers, adds the common
 * headers and writes the audit line.  Handlers build exactly one response
 * through the kms_reply_*() helpers (which never fail from the handler's
 * point of view: on allocation failure the front end answers 500).
 *
 * Error codes are translated to HTTP statuses here and nowhere else
 * (kms_reply_err()).
 */
#ifndef KMS_HTTPD_H
#define KMS_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "kmsd.h"
#include "wire.h"

#define KMS_BODY_MAX (64 * 1024)
#define KMS_ID_LEN 16                  /* request id: hex digits */
#define KMS_PATH_SEGS 6

struct MHD_Connection;
struct MHD_Response;

struct kms_req {
	struct kmsd *k;
	struct MHD_Connection *conn;
	const char *method;
	char id[KMS_ID_LEN + 1];
	uint64_t t0_us;                 /* arrival, kms_metrics_now_us() */
	const char *endpoint;           /* route name, for the metrics */
	uint8_t *body;
	size_t body_len, body_cap;
	int too_large;
	int answered;                   /* a reply is queued before the body */
	enum {
		KMS_ADMIT_SERVE,        /* within the limits, or admin / broker */
		KMS_ADMIT_BROKER_BODY,  /* over: served if the body is a broker's
		                           KEY_REQUEST */
		KMS_ADMIT_REFUSE        /* over: 503 once the body is in */
	} admit;

	int slow;                       /* run off the pool (slow_lane): 1 running,
	                                   2 answered, resume to send */
	/* set by the handler */
	struct MHD_Response *resp;
	unsigned status;
	const char *error_code;         /* of an error reply, for the audit */
	const char *action;             /* audit action; NULL: not audited */
	int audit_failures_only;        /* routine action: audit only a refusal */
	char actor[MQE2E_ID_MAX + 16];
	char target[512];
	char detail[256];
};

/* Start serving on k->cfg.listen.  err names the address on failure. */
int kms_httpd_start(struct kmsd *k, char *err, size_t errlen) MQE2E_WUR;
/* The HTTP worker threads: the setting threads, or for 0 twice the online
 * CPUs (at least 4). */
unsigned kms_httpd_threads(const struct kmsd_config *cfg);
/* Stop accepting, wait for every connection thread. */
void kms_httpd_stop(struct kmsd *k);

/* ---- for handlers ----------------------------------------------------------- */

/* JSON reply (steals body; NULL gives 500). */
void kms_reply_json(struct kms_req *r, unsigned status, json_t *body);
/* Raw reply, copied. */
void kms_reply_bytes(struct kms_req *r, unsigned status, const char *content_type,
    const void *data, size_t len);
/* The one error shape: {"error":{"code","message","request_id"}}. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void kms_reply_error(struct kms_req *r, unsigned status, const char *code, const char *fmt, ...);
/* An mqe2e_err translated to status and code, with a message. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void kms_reply_err(struct kms_req *r, int err, const char *fmt, ...);
/* Add Retry-After: seconds (at least 1) to the reply already built (429,
 * 503). */
void kms_reply_retry_after(struct kms_req *r, unsigned seconds);
/* 405 with an Allow header. */
void kms_reply_method(struct kms_req *r, const char *allow);
/* A collection (/v1/clients, /v1/groups, /v1/grants): POST creates, GET
 * lists, any other method is 405. */
void kms_route_collection(struct kms_req *r, void (*create)(struct kms_req *r),
    void (*list)(struct kms_req *r));

/* Check the admin bearer token; on failure reply 401/403 and return 0. */
int kms_req_admin(struct kms_req *r);
/* The body as a JSON object; on failure reply 400/415 and return NULL.
 * empty_ok: an empty body gives an empty object. */
json_t *kms_req_json(struct kms_req *r, int empty_ok);
/* A query argument, or NULL. */
const char *kms_req_query(struct kms_req *r, const char *name);
/* Content-Type of the request without parameters matches ct (1/0). */
int kms_req_content_type_is(struct kms_req *r, const char *ct);

/* Set the audit action and target (printf-free: target copied). */
void kms_req_audit(struct kms_req *r, const char *action, const char *target);

/* Route table entry points (rest_*.c); seg[0] is the resource name. */
void rest_public(struct kms_req *r, char **seg, size_t n);
void rest_clients(struct kms_req *r, char **seg, size_t n);
void rest_groups(struct kms_req *r, char **seg, size_t n);
void rest_grants(struct kms_req *r, char **seg, size_t n);
void rest_keys(struct kms_req *r, char **seg, size_t n);
void rest_policy(struct kms_req *r, char **seg, size_t n);
void rest_certs(struct kms_req *r, char **seg, size_t n);
/* rest_certs.c, reached through /v1/clients/{name}/certs... */
void rest_cert_issue(struct kms_req *r, const char *name);
void rest_cert_revoke(struct kms_req *r, const char *name, const char *serial);
void rest_cert_renew(struct kms_req *r, const char *name);

#endif
