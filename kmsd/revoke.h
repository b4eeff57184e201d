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
 * bumped, the CRL re-issued, the watchers woken, as for a client.
 * MQE2E_ERR_NOT_FOUND (no such client or serial), MQE2E_ERR_CONFLICT (the
 * certificate is revoked already), MQE2E_ERR_REVOKED (the client is).
 */
int kms_revoke_cert(struct kmsd *k, const char *name, const char *serial, const char *reason,
    const char *request_id, json_t **result) MQE2E_WUR;

/*
 * The rekey of a revocation, for every group named in the JSON array groups
 * (inside the caller's write transaction): the pre-issued next epoch, which
 * the client may hold, is voided, the old current goes to grace, fresh
 * current and next epochs are made (cause: a static string recorded on the
 * epoch, "revocation" or "grant-removal"), and (client, reason) is recorded
 * as the group's rekey; then grace epochs due are expired.  Appends
 * "group#epoch" to rotated.  Used by revocation and by grant removal
 * (rest_grants.c).
 */
int kms_rekey_locked(struct kmsd *k, json_t *groups, const char *client, const char *cause,
    const char *reason, int64_t now, json_t *rotated) MQE2E_WUR;
/* After the commit: one "epoch.rotate" audit line (detail why) and one
 * rotation count of cause per entry of rotated. */
void kms_rekey_audit(struct kmsd *k, const char *request_id, json_t *rotated, const char *cause,
    const char *why);

#endif
