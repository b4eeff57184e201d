/*
 * epoch.h - the life cycle of a topic group's epochs: the one owner of its
 * states, its schedule and its transitions.
 *
 * States.  An epoch is made `next` (pre-issued: clients hold it before it
 * is used), becomes `current` at a rotation, then `grace` (still accepted
 * and delivered until its `expires`), then `expired`; a `next` that a
 * revoked client may hold is `void` instead of ever being used.  Expired and
 * void epochs have no keys (erased when they enter the state).  Current,
 * next and grace epochs are deliverable.
 *
 * Invariants: epochs of a group are numbered 1, 2, 3, ... without gaps; one
 * current and exactly the group's future_epochs (0..16, KMS_FUTURE_EPOCHS_MAX)
 * next epochs after any committed transaction, used in epoch order (the
 * schema enforces one current).  The *_locked
 * functions and a kms_rotation run inside one write transaction, so a crash
 * at any point leaves the previous or the new state, never a mix.
 *
 * Storage (store.h) only stores rows; every rule above lives in epoch.c.
 */
#ifndef KMS_EPOCH_H
#define KMS_EPOCH_H

#include <stdint.h>

#include <jansson.h>

#include "mqe2e_err.h"

struct kmsd;
struct kms_group_row;
struct kms_epoch_keys_row;

enum kms_epoch_state {
	KMS_EPOCH_NEXT,
	KMS_EPOCH_CURRENT,
	KMS_EPOCH_GRACE,
	KMS_EPOCH_EXPIRED,
	KMS_EPOCH_VOID
};

/* The stored (and REST) name of each state.  A backend may paste them into
 * its SQL so that its partial indexes apply; nothing else spells them. */
#define KMS_EPOCH_NEXT_NAME "next"
#define KMS_EPOCH_CURRENT_NAME "current"
#define KMS_EPOCH_GRACE_NAME "grace"
#define KMS_EPOCH_EXPIRED_NAME "expired"
#define KMS_EPOCH_VOID_NAME "void"

/* The name of s ("?" for a value outside the enum). */
const char *kms_epoch_state_name(enum kms_epoch_state s);
/* Parse a stored name: MQE2E_OK, or MQE2E_ERR_BAD_FORMAT for another one. */
int kms_epoch_state_parse(const char *name, enum kms_epoch_state *s) MQE2E_WUR;
/* 1 if the keys of an epoch in state s are delivered (current, next,
 * grace), else 0. */
int kms_epoch_deliverable(enum kms_epoch_state s);

/* ---- the schedule ------------------------------------------------------------- */

#define KMS_ROTATE_DEFAULT_S 86400    /* rotation period of a new group */
#define KMS_GRACE_DEFAULT_S 3600      /* grace of a new group */
/* The limits of rotate_s and grace_s (KMS_ROTATE_MIN_S, KMS_PERIOD_MAX_S)
 * are in validate.h, which mqe2e-kmsctl checks too. */

/* When a group with period rotate_s rotates next if a period starts now. */
int64_t kms_epoch_next_rotation(int64_t rotate_s, int64_t now);

/* The validity window of a deliverable epoch in ms since the epoch
 * (docs/API.md): the i-th next epoch (next_rank = i - 1 of them before it)
 * from the group's next rotation + (i - 1) periods to one period plus grace
 * after that; current from its activation to the next rotation plus grace;
 * grace from its activation to its expiry. */
void kms_epoch_validity(const struct kms_epoch_keys_row *row, unsigned next_rank,
    uint64_t *not_before_ms, uint64_t *not_after_ms);

/* ---- transitions (inside the caller's write transaction) ------------------------- */

/* Epoch 1 (current, activated now, cause "created") and future_epochs next
 * epochs 2, 3, ... of a new group, with fresh sealed keys. */
int kms_epoch_create_locked(struct kmsd *k, const struct kms_group_row *g,
    int64_t now) MQE2E_WUR;
/* Bring g's next epochs to g->future_epochs after the setting changed: the
 * missing ones are issued, or the highest voided (the lowest stay: members
 * switch to them first). */
int kms_epoch_fit_locked(struct kmsd *k, const struct kms_group_row *g,
    int64_t now) MQE2E_WUR;
/* Grace epochs whose time is up (expires <= now) become expired; their keys
 * are erased. */
int kms_epoch_expire_locked(struct kmsd *k, int64_t now) MQE2E_WUR;

/* ---- the rotate transaction ------------------------------------------------------- */

/*
 * One write transaction that rotates groups: the scheduler ("scheduled"),
 * the admin's rotate-now ("manual"), and the rekeys after a revocation
 * ("revocation") or a grant removal ("grant-removal"):
 *
 *	struct kms_rotation t;
 *	r = kms_rotation_begin(&t, k, cause, client, reason, now);
 *	... the caller's own changes; t.policy_changed = 1 if they alter
 *	... the policy; kms_rotation_group/_named for each group ...
 *	r = kms_rotation_commit(&t, r);
 *	if (r == MQE2E_OK) { ...; kms_rotation_announce(&t, request_id, why); }
 *	kms_rotation_free(&t);
 *
 * begin opens the write transaction and expires the grace epochs due.  A
 * plain rotation (client NULL): the lowest next -> current (a fresh current
 * if the group keeps none), old current -> grace until now + grace_s
 * (expired at once if grace_s is 0), next epochs topped up to future_epochs.
 * A rekey (client names the client that lost access, reason may be NULL):
 * EVERY pre-issued next, all of which that client may hold, is voided; old
 * current -> grace; a fresh current and future_epochs fresh next epochs;
 * (client, reason) recorded as the group's rekey.  Either way the group's next rotation is one period from now.
 * commit bumps the policy version if a group was rotated or the caller set
 * policy_changed, then commits (r OK) or rolls back, and returns r or the
 * commit failure.  announce, after a successful commit, wakes the policy
 * watchers and writes one "epoch.rotate" audit line (detail why, or the
 * cause if NULL) and one rotation count per rotated group.
 */
struct kms_rotation {
	struct kmsd *k;
	const char *cause;           /* static string, recorded on the new current */
	const char *client, *reason; /* a rekey: who lost access, why */
	int64_t now;
	int policy_changed;          /* the caller's changes alter the policy */
	uint64_t version;            /* policy version after commit (0: not bumped) */
	json_t *rotated;             /* "group#epoch" per rotated group */
};

int kms_rotation_begin(struct kms_rotation *t, struct kmsd *k, const char *cause,
    const char *client, const char *reason, int64_t now) MQE2E_WUR;
/* Rotate g (see above); *current (may be NULL) gets its new current epoch. */
int kms_rotation_group(struct kms_rotation *t, const struct kms_group_row *g,
    uint32_t *current) MQE2E_WUR;
/* Rotate the group called name: MQE2E_ERR_NOT_FOUND if there is none. */
int kms_rotation_named(struct kms_rotation *t, const char *name, uint32_t *current) MQE2E_WUR;
int kms_rotation_commit(struct kms_rotation *t, int r) MQE2E_WUR;
void kms_rotation_announce(struct kms_rotation *t, const char *request_id, const char *why);
/* Releases what begin allocated; safe after a failed begin. */
void kms_rotation_free(struct kms_rotation *t);

#endif
