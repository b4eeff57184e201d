/*
 * revoke.h - revoking a client: one action (see docs/API.md).
 */
#ifndef KMS_REVOKE_H
#define KMS_REVOKE_H

#include <jansson.h>
#include "kmsd.h"

/*
 * Revoke client name for reason (may be NULL): every certificate revoked,
 * grants removed, every group it could read rekeyed (all groups for a
 * broker), policy version bumped - in one write transaction - then the CRL
 * and the revoked-serial set re-issued and the watchers woken.
 * MQE2E_ERR_NOT_FOUND, MQE2E_ERR_CONFLICT (already revoked).  On success
 * *result is the response object (new reference).  request_id is for the
 * audit lines of the key events.
 */
int kms_revoke_client(struct kmsd *k, const char *name, const char *reason,
    const char *request_id, json_t **result) MQE2E_WUR;

/*
 * Revoke certificate serial of client name - a lost or leaked key - and
 * every other live certificate of the client that holds the same key, but
 * not the client: its grants stay and it may be issued a certificate for a
 * new key.  The groups it could read are rekeyed, the policy version
 * bumped, the CRL re-issued, the watchers woken, as for a client.  The
 * rekeys are kms_rotation rekeys (epoch.h) with cause "revocation".
 * MQE2E_ERR_NOT_FOUND (no such client or serial), MQE2E_ERR_CONFLICT (the
 * certificate is revoked already), MQE2E_ERR_REVOKED (the client is).
 */
int kms_revoke_cert(struct kmsd *k, const char *name, const char *serial, const char *reason,
    const char *request_id, json_t **result) MQE2E_WUR;

#endif
