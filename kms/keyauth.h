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
 * Verify the request body as a KEY_REQUEST through core (format, chain to
 * our CA, revoked serials, kind, signature, skew, nonce) and copy its nonce
 * out.  Sets r->actor to "client:<id>" / "broker:<id>".  On failure replies
 * (400/401/403/409/415/503) and returns NULL.  Free the result with
 * mqe2e_keyreq_info_free.
 */
struct mqe2e_keyreq_info *kms_keyauth(struct kms_req *r, uint8_t nonce[MQE2E_NONCE_LEN]);

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
