/*
 * rotation.h - epochs of topic groups: creation, rotation, revocation
 * rekey, expiry, and the scheduler thread that rotates on each group's
 * period.
 *
 * Invariants (enforced by the schema as well): epochs of a group are
 * numbered 1, 2, 3, ... without gaps; at most one `current` and one `next`;
 * a group always has both after any committed transaction.  The *_locked
 * functions run inside the caller's write transaction, so a crash at any
 * point leaves the previous or the new state, never a mix.
 */
#ifndef KMS_ROTATION_H
#define KMS_ROTATION_H

#include <stdint.h>

#include "kmsd.h"
#include "store.h"

/* Epochs 1 (current, activated now) and 2 (next) of a new group. */
int kms_epochs_init_locked(struct kmsd *k, const struct kms_group_row *g, int64_t now) MQE2E_WUR;

/*
 * Rotate g now.  Normal (void_next = 0): next -> current, old current ->
 * grace until now + grace_s (expired at once if grace_s is 0), a fresh next.
 * Revocation (void_next = 1): the pre-issued next is voided (its keys
 * erased), old current -> grace, fresh current and next.  Sets the group's
 * next rotation to now + rotate_s.  *current gets the new current epoch.
 * cause (a static string: "scheduled", "manual", "revocation") is recorded
 * on the new current epoch.
 */
int kms_rotate_locked(struct kmsd *k, const struct kms_group_row *g, int void_next,
    const char *cause, int64_t now, uint32_t *current) MQE2E_WUR;

/* Grace epochs whose time is up become expired; their keys are erased. */
int kms_expire_locked(struct kmsd *k, int64_t now) MQE2E_WUR;

/* The scheduler thread: rotates due groups, expires epochs, re-issues the
 * CRL before it goes stale.  Wakes every second and on kmsd_policy_changed. */
int kms_scheduler_start(struct kmsd *k) MQE2E_WUR;
void kms_scheduler_stop(struct kmsd *k);

#endif
