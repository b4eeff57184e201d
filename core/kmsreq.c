/*
 * kmsreq.c - a signed KEY_REQUEST per HTTP attempt (see kmsreq.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsreq.h"
#include "replay.h"

void
mqe2e_kmsreq_clear(struct mqe2e_kmsreq *kr)
{
	if (kr == NULL)
		return;
	mqe2e_keyreq_free(kr->st);
	free(kr->req);
	kr->st = NULL;
	kr->req = NULL;
	kr->req_len = 0;
}

/* mqe2e_http_body_fn: a new KEY_REQUEST (nonce, ephemeral key, time). */
static int
make_keyreq(void *arg, unsigned attempt, const uint8_t **body, size_t *len, char *msg,
    size_t msglen)
{
	struct mqe2e_kmsreq *kr = arg;
	int r;

	(void)attempt;
	mqe2e_kmsreq_clear(kr);
	if ((r = mqe2e_keyreq_build_want(kr->id, kr->want, kr->n, kr->after, mqe2e_now_ms(),
	    &kr->st, &kr->req, &kr->req_len)) != MQE2E_OK) {
		snprintf(msg, msglen, "cannot build a key request: %s", mqe2e_strerror(r));
		return r;
	}
	kr->built++;
	*body = kr->req;
	*len = kr->req_len;
	return MQE2E_OK;
}

int
mqe2e_kmsreq_post(struct mqe2e_http *h, const struct mqe2e_http_req *rq,
    struct mqe2e_kmsreq *kr, struct mqe2e_http_response *out)
{
	struct mqe2e_http_req post;

	if (rq == NULL || kr == NULL || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	mqe2e_kmsreq_clear(kr);
	kr->built = 0;
	post = *rq;
	post.method = "POST";
	post.content_type = "application/octet-stream";
	post.bearer_token = NULL;
	post.body = NULL;
	post.body_len = 0;
	post.make_body = make_keyreq;
	post.body_arg = kr;
	return mqe2e_http_send(h, &post, out);
}
