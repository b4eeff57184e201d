/*
 * kmsreq.h - a signed KEY_REQUEST posted to the KMS (POST /v1/keys, the
 * policy and its watch), made afresh for every attempt of the HTTP module.
 *
 * A KEY_REQUEST carries a nonce and a time under the requester's signature
 * and the KMS refuses a nonce it has seen (409).  When an attempt's answer
 * is lost after the KMS processed the request (the connection dropped, a
 * proxy timed out, a KMS died after committing) the retry must therefore be
 * a new request, not the same bytes: each attempt gets a new nonce, a new
 * ephemeral key and the current time, and the state kept for opening the
 * answer is the one of the attempt that answered.  The client library and
 * the broker extension both post their key requests through this.
 */
#ifndef MQE2E_KMSREQ_H
#define MQE2E_KMSREQ_H

#include "handshake.h"
#include "http.h"

/* What to ask (in) and the request that got the answer (out). */
struct mqe2e_kmsreq {
	/* in */
	const struct mqe2e_identity *id;
	const struct mqe2e_keyreq_want *want;  /* n wants (n = 0: all my grants) */
	size_t n;
	const char *after;                     /* paging cursor, may be NULL */
	/* out: the last attempt's, valid until mqe2e_kmsreq_clear() */
	struct mqe2e_keyreq *st;               /* to open a KEY_RESPONSE with */
	uint8_t *req;                          /* the request bytes sent */
	size_t req_len;
	unsigned built;                        /* requests built (= attempts) */
};

/*
 * POST a KEY_REQUEST per kr to rq->path with the options of rq (deadline,
 * cancel fd, round limit; its method, content type and body are set here).
 * Results as for mqe2e_http_send(); kr's out fields describe the attempt
 * whose answer is in *out.  Free them with mqe2e_kmsreq_clear() in every
 * case.
 */
int mqe2e_kmsreq_post(struct mqe2e_http *h, const struct mqe2e_http_req *rq,
    struct mqe2e_kmsreq *kr, struct mqe2e_http_response *out) MQE2E_WUR;

/* Free and zero kr's out fields (keeps the in fields). */
void mqe2e_kmsreq_clear(struct mqe2e_kmsreq *kr);

#endif
