/*
 * audit.h - the audit trail: one JSON object per line, appended and
 * flushed per line, for every admin request and every key event.
 *
 * {"time","request_id","actor","action","target","result","status"[,"detail"]}
 *
 * Never pass a secret (token, key, key PEM) in any field.
 */
#ifndef KMS_AUDIT_H
#define KMS_AUDIT_H

#include <stddef.h>
#include "mqe2e_err.h"

struct kms_audit;

/* Open path for appending (created 0600). */
int kms_audit_open(const char *path, struct kms_audit **out, char *err, size_t errlen) MQE2E_WUR;
void kms_audit_close(struct kms_audit *a);
/* Reopen the file (after log rotation, on SIGHUP).  On failure the old
 * descriptor is kept and the error logged. */
void kms_audit_reopen(struct kms_audit *a);

/* One line.  request_id may be NULL (scheduler events), target and detail
 * may be NULL; status 0 omits the field.  Failures go to the daemon log. */
void kms_audit(struct kms_audit *a, const char *request_id, const char *actor,
    const char *action, const char *target, const char *result, unsigned status,
    const char *detail);

#endif
