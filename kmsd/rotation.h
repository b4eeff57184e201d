/*
 * rotation.h - epochs of topic groups: creation, rotation, revocation
 * rekey, expiry, and the scheduler thread that rotates on each group's
 * period.
 *
 * Invariants: epochs of a group are numbered 1, 2, 3, ... without gaps or
 * duplicates; one `current` and exactly `future_epochs` (0..16) `next`
 * epochs after any committed transaction, used in epoch order.  The
 * *_locked functions run inside the caller's write transaction, so a crash
 * at any point leaves the previous or the new state, never a mix.
 */
#ifndef KMS_ROTATION_H
#define KMS_ROTATION_H

#include <stdint.h>

#include "kmsd.h"
#include "store.h"

/* Epoch 1 (current, activated now) of a new group and its future_epochs
 * next epochs 2, 3, ... */
int kms_epochs_init_locked(struct kmsd *k, const struct kms_group_row *g, int64_t now) MQE2E_WUR;

/*
 * Rotate g now.  Normal (void_next = 0): the lowest next -> current (a fresh
 * current if the group keeps no next epoch), old current -> grace until now
 * + grace_s (expired at once if grace_s is 0), next epochs topped up to
 * future_epochs.  Revocation (void_next = 1): EVERY pre-issued next epoch is
 * voided (its keys erased: the revoked client held them all), old current ->
 * grace, a fresh current and future_epochs fresh next epochs.  Sets the
 * group's next rotation to now + rotate_s.  *current gets the new current
 * epoch.  cause (a static string: "scheduled", "manual", "revocation") is
 * recorded on the new current epoch.
 */
int kms_rotate_locked(struct kmsd *k, const struct kms_group_row *g, int void_next,
    const char *cause, int64_t now, uint32_t *current) MQE2E_WUR;

/* Bring g's next epochs to g->future_epochs after the setting changed: fresh
 * ones are added, or the highest ones voided. */
int kms_epochs_fit_locked(struct kmsd *k, const struct kms_group_row *g, int64_t now) MQE2E_WUR;

/* Grace epochs whose time is up become expired; their keys are erased. */
int kms_expire_locked(struct kmsd *k, int64_t now) MQE2E_WUR;

/* The scheduler thread: rotates due groups, expires epochs, re-issues the
 * CRL before it goes stale.  Wakes every second and on kmsd_policy_changed. */
int kms_scheduler_start(struct kmsd *k) MQE2E_WUR;
void kms_scheduler_stop(struct kmsd *k);

#endif
