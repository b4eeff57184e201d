/*
 * jsonwipe.h - a jansson allocator that wipes every block it frees, shared
 * by the KMS daemon and mqe2e-kmsctl (JSON values may carry secrets, e.g. a
 * generated private key on its way out).
 */
#ifndef KMS_JSONWIPE_H
#define KMS_JSONWIPE_H

/*
 * Make jansson allocate through the wiping allocator.  Call once at start,
 * before any JSON is made and before a second thread runs.  Strings from
 * json_dumps() must then be freed with kms_json_free(), never free().
 */
void kms_json_wiping_alloc(void);
/* Wipe and free a block of the wiping allocator; NULL is a no-op. */
void kms_json_free(void *p);

#endif
