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

#endif
