/*
 * keyauth.h - authenticating a request whose body is a KEY_REQUEST
 * (POST /v1/keys, /v1/policy, /v1/policy/watch).
 */
#ifndef KMS_KEYAUTH_H
#define KMS_KEYAUTH_H

#include <stdint.h>

#include "store.h"
#include "handshake.h"
#include "httpd.h"

/*
 * Admit a request whose body is a KEY_REQUEST, in the order that keeps an
 * unauthorised or greedy requester from costing anyone else anything:
 *   1. stateless checks through core (format, time window: max_skew behind,
 *      max_future_skew ahead; chain to our CA, revoked serials, kind,
 *      signature) - nothing is stored for a request that fails them;
 *   2. a replay of a nonce this requester already used: 409, free;
 *   3. one share of the requester's quota (clients and brokers apart):
 *      429 with Retry-After when used up.
 * The caller then authorises (kms_keyauth_check_locked, grants) and calls
 * kms_keyauth_record before it answers with anything worth protecting.
 * Sets r->actor to "client:<id>" / "broker:<id>".  On failure replies
 * (400/401/403/409/415/429/503) and returns NULL.  Free the result with
 * mqe2e_keyreq_info_free.
 */
struct mqe2e_keyreq_info *kms_keyauth(struct kms_req *r);

/*
 * Record the request's nonce under the requester's id, in its kind's cache:
 * from now on the request is refused as a replay (within the window).  Call
 * once the requester is authorised.  1 on success; 0 after replying
 * (409 replay, 503 the cache is full).
 */
int kms_keyauth_record(struct kms_req *r, const struct mqe2e_keyreq_info *info);

/*
 * Inside a transaction: the requester must be a known client of the
 * certificate's kind, not revoked, and the serial one we issued to it and
 * did not revoke (the database is the authority even if the in-memory
 * revoked set lags).  MQE2E_ERR_REVOKED, MQE2E_ERR_NOT_FOUND (unknown
 * client or serial), MQE2E_ERR_BAD_CERT (kind mismatch).  *client_id set.
 */
int kms_keyauth_check_locked(struct kms_db *db, const struct mqe2e_keyreq_info *info,
    int64_t *client_id) MQE2E_WUR;

/* Reply for an error of kms_keyauth_check_locked (or another). */
void kms_keyauth_reply(struct kms_req *r, const struct mqe2e_keyreq_info *info, int err);

#endif
