/*
 * keyload.h - the requesters' side of "mqe2e-bench kms" key load:
 * KEY_REQUESTs signed before the timed window, and a minimal HTTP/1.1 POST
 * on a connection of its own (Connection: close) to a plain-HTTP KMS.
 * Self-contained on purpose: the same file drives the baseline daemon's
 * bench (docs/BENCHMARKS.md, "The key service").
 */
#ifndef MQE2E_BENCH_KEYLOAD_H
#define MQE2E_BENCH_KEYLOAD_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "handshake.h"

#define KL_ANSWER_MAX 65536

struct kl_req {
	struct mqe2e_keyreq *st;        /* opens the answer */
	uint8_t *req;
	size_t len;
};

struct kl_batch {
	struct kl_req *r;
	size_t n;
};

struct kl_answer {
	int status;                     /* HTTP status, -1 none */
	uint8_t buf[KL_ANSWER_MAX];     /* head and body */
	const uint8_t *body;
	size_t body_len;
	char error[256];
};

/* Sign n KEY_REQUESTs (all groups), the i-th from ids[(first + i * stride)
 * % nids], each with its own ephemeral key, nonce and time stamp.  0 or -1
 * (err says why; b is left empty). */
int kl_batch_sign(struct kl_batch *b, struct mqe2e_identity *const *ids, size_t nids,
    size_t first, size_t stride, size_t n, char *err, size_t errlen);
void kl_batch_free(struct kl_batch *b);

/* POST q's request to path at sa (hostport for the Host header and
 * errors) on a new connection and read the answer into a.  0 with
 * a->status set, or -1 with a->error. */
int kl_post(const struct sockaddr_in *sa, const char *hostport, const char *path,
    const struct kl_req *q, int timeout_ms, struct kl_answer *a);

#endif
