/*
 * epoch.c - the epoch life cycle: states, schedule, transitions and the
 * rotate transaction (see epoch.h).  Storage only stores the rows.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "epoch.h"
#include "keystore.h"
#include "kmsd.h"
#include "metrics.h"
#include "store.h"
#include "wire.h"

#define EXPIRE_BATCH 64    /* grace epochs expired per query */

static const char *const state_names[] = {
	[KMS_EPOCH_NEXT] = KMS_EPOCH_NEXT_NAME,
	[KMS_EPOCH_CURRENT] = KMS_EPOCH_CURRENT_NAME,
	[KMS_EPOCH_GRACE] = KMS_EPOCH_GRACE_NAME,
	[KMS_EPOCH_EXPIRED] = KMS_EPOCH_EXPIRED_NAME,
	[KMS_EPOCH_VOID] = KMS_EPOCH_VOID_NAME,
};

const char *
kms_epoch_state_name(enum kms_epoch_state s)
{
	if ((unsigned)s >= sizeof(state_names) / sizeof(state_names[0]))
		return "?";
	return state_names[s];
}

int
kms_epoch_state_parse(const char *name, enum kms_epoch_state *s)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*s = (enum kms_epoch_state)i;
			return MQE2E_OK;
		}
	}
	return MQE2E_ERR_BAD_FORMAT;
}

int
kms_epoch_deliverable(enum kms_epoch_state s)
{
	return s == KMS_EPOCH_NEXT || s == KMS_EPOCH_CURRENT || s == KMS_EPOCH_GRACE;
}

/* ---- the schedule ------------------------------------------------------------- */

int64_t
kms_epoch_next_rotation(int64_t rotate_s, int64_t now)
{
	return now + rotate_s;
}

void
kms_epoch_validity(const struct kms_epoch_keys_row *row, unsigned next_rank, uint64_t *nb,
    uint64_t *na)
{
	switch (row->state) {
	case KMS_EPOCH_NEXT:
		*nb = (uint64_t)(row->next_rotation + (int64_t)next_rank * row->rotate_s) * 1000;
		*na = *nb + (uint64_t)(row->rotate_s + row->grace_s) * 1000;
		break;
	case KMS_EPOCH_CURRENT:
		*nb = (uint64_t)row->activated * 1000;
		*na = (uint64_t)(row->next_rotation + row->grace_s) * 1000;
		break;
	default:
		*nb = (uint64_t)row->activated * 1000;
		*na = (uint64_t)row->expires * 1000;
		break;
	}
}

/* ---- transitions ------------------------------------------------------------------ */

/* Store the new state of e (in the row); leaving the deliverable states
 * erases its keys. */
static int
epoch_set(struct kmsd *k, int64_t group_id, struct kms_epoch_row *e,
    enum kms_epoch_state state)
{
	e->state = state;
	return kms_store_epoch_update(k->db, group_id, e, !kms_epoch_deliverable(state));
}

/* Add epoch number n of g in state next or current (activated now, for
 * cause), with fresh sealed GK_P and GK_B. */
static int
epoch_add(struct kmsd *k, const struct kms_group_row *g, int64_t n,
    enum kms_epoch_state state, const char *cause, int64_t now)
{
	uint8_t gk_p[KMS_SEALED_LEN], gk_b[KMS_SEALED_LEN];
	struct kms_epoch_row e;
	int r;

	if (n <= 0 || n > (int64_t)UINT32_MAX)
		return MQE2E_ERR_INTERNAL;
	memset(&e, 0, sizeof(e));
	e.epoch = (uint32_t)n;
	e.state = state;
	e.created = now;
	if (state == KMS_EPOCH_CURRENT) {
		e.activated = now;
		snprintf(e.cause, sizeof(e.cause), "%s", cause);
	}
	if ((r = kms_keystore_new_key(k->ks, g->name, e.epoch, MQE2E_GK_P, gk_p)) == MQE2E_OK &&
	    (r = kms_keystore_new_key(k->ks, g->name, e.epoch, MQE2E_GK_B, gk_b)) == MQE2E_OK)
		r = kms_store_epoch_add(k->db, g->id, &e, gk_p, gk_b);
	mqe2e_wipe(gk_p, sizeof(gk_p));
	mqe2e_wipe(gk_b, sizeof(gk_b));
	return r;
}

/* The next epochs of a group, lowest first (a few: 0..16 and the ones a
 * smaller future_epochs is about to void). */
struct nexts {
	size_t n;
	struct kms_epoch_row row[2 * KMS_FUTURE_EPOCHS_MAX + 2];
};

static int
collect_next(void *arg, const struct kms_epoch_row *row)
{
	struct nexts *x = arg;

	if (x->n == sizeof(x->row) / sizeof(x->row[0]))
		return MQE2E_ERR_INTERNAL;
	x->row[x->n++] = *row;
	return MQE2E_OK;
}

/* Keep exactly keep (<= KMS_FUTURE_EPOCHS_MAX) next epochs of g: void the
 * ones above the keep lowest, or issue fresh ones after *max (which moves
 * with each). */
static int
fit_next(struct kmsd *k, const struct kms_group_row *g, unsigned keep, int64_t now,
    int64_t *max)
{
	struct nexts x;
	size_t i;
	int r;

	if (keep > KMS_FUTURE_EPOCHS_MAX)
		return MQE2E_ERR_INTERNAL;
	x.n = 0;
	if ((r = kms_store_epoch_list_next(k->db, g->id, collect_next, &x)) != MQE2E_OK)
		return r;
	for (i = keep; i < x.n; i++) {
		x.row[i].expires = now;
		if ((r = epoch_set(k, g->id, &x.row[i], KMS_EPOCH_VOID)) != MQE2E_OK)
			return r;
	}
	for (i = x.n; i < keep; i++) {
		if ((r = epoch_add(k, g, *max + 1, KMS_EPOCH_NEXT, NULL, now)) != MQE2E_OK)
			return r;
		(*max)++;
	}
	return MQE2E_OK;
}

int
kms_epoch_create_locked(struct kmsd *k, const struct kms_group_row *g, int64_t now)
{
	int64_t max = 1;
	int r;

	if (g->future_epochs < 0)
		return MQE2E_ERR_INTERNAL;
	if ((r = epoch_add(k, g, 1, KMS_EPOCH_CURRENT, "created", now)) != MQE2E_OK)
		return r;
	return fit_next(k, g, (unsigned)g->future_epochs, now, &max);
}

int
kms_epoch_fit_locked(struct kmsd *k, const struct kms_group_row *g, int64_t now)
{
	int64_t max = 0;
	int r;

	if (g->future_epochs < 0)
		return MQE2E_ERR_INTERNAL;
	if ((r = kms_store_epoch_max(k->db, g->id, &max)) != MQE2E_OK)
		return r;
	return fit_next(k, g, (unsigned)g->future_epochs, now, &max);
}

/* The grace decision: the current epoch of g, retired by a rotation at
 * at (<= now), stays deliverable for grace_s after at, or is expired
 * already if that has passed by now (grace_s 0, or a rotation replayed on
 * the schedule after an outage). */
static int
retire_current(struct kmsd *k, const struct kms_group_row *g, int64_t at, int64_t now)
{
	struct kms_epoch_row e;
	int r;

	if ((r = kms_store_epoch_get(k->db, g->id, KMS_EPOCH_CURRENT, &e)) != MQE2E_OK)
		return r == MQE2E_ERR_NOT_FOUND ? MQE2E_OK : r;
	e.expires = at + (g->grace_s > 0 ? g->grace_s : 0);
	return epoch_set(k, g->id, &e, e.expires > now ? KMS_EPOCH_GRACE : KMS_EPOCH_EXPIRED);
}

/* One rotation step of g at time at (<= now): the current epoch goes to
 * grace, the lowest next becomes current (activated at), and the next
 * epochs are topped up; rekey: void every pre-issued next instead of using
 * one.  *max is the highest epoch number of g and moves with new ones. */
static int
rotate_step(struct kmsd *k, const struct kms_group_row *g, int rekey, const char *cause,
    int64_t at, int64_t now, int64_t *max, uint32_t *current)
{
	struct kms_epoch_row next;
	int r;

	if ((r = retire_current(k, g, at, now)) != MQE2E_OK)
		return r;
	/* The client that lost access may hold every pre-issued next (all
	 * future_epochs of them): never use one. */
	if (rekey && (r = fit_next(k, g, 0, now, max)) != MQE2E_OK)
		return r;
	r = kms_store_epoch_get(k->db, g->id, KMS_EPOCH_NEXT, &next);
	if (r == MQE2E_OK) {
		next.activated = at;
		snprintf(next.cause, sizeof(next.cause), "%s", cause);
		if ((r = epoch_set(k, g->id, &next, KMS_EPOCH_CURRENT)) != MQE2E_OK)
			return r;
		*current = next.epoch;
	} else if (r == MQE2E_ERR_NOT_FOUND) {
		/* a rekey, or a group that keeps no next epoch */
		if ((r = epoch_add(k, g, *max + 1, KMS_EPOCH_CURRENT, cause, at)) != MQE2E_OK)
			return r;
		*current = (uint32_t)++*max;
	} else
		return r;
	return fit_next(k, g, (unsigned)g->future_epochs, now, max);
}

/* Rotate g at now.
 *
 * Catching up: members hold future_epochs next epochs with validity
 * windows on the group's schedule (kms_epoch_validity) and move to each
 * by the clock, also while the KMS is down.  A group overdue by whole
 * periods (the KMS, or every scheduler of a fleet, was down) is therefore
 * rotated once per missed period at the times the schedule named, as far
 * as its pre-issued epochs reach, so the current epoch is the one its
 * members already use and the schedule keeps its grid; resuming one epoch
 * on from where it stopped would send publishers back to an epoch whose
 * window has passed.  Beyond the epochs members could hold, it rotates at
 * now as usual (they have to fetch anyway).  A rekey never catches up: it
 * must not use a pre-issued epoch. */
static int
rotate(struct kmsd *k, const struct kms_group_row *g, int rekey, const char *cause,
    int64_t now, uint32_t *current)
{
	int64_t max = 0, at = now, steps = 1, i;
	int r;

	if (g->future_epochs < 0)
		return MQE2E_ERR_INTERNAL;
	if ((r = kms_store_epoch_max(k->db, g->id, &max)) != MQE2E_OK)
		return r;
	if (!rekey && g->rotate_s > 0 && g->next_rotation > 0 &&
	    now >= g->next_rotation + g->rotate_s) {
		int64_t missed = (now - g->next_rotation) / g->rotate_s;

		if (missed <= g->future_epochs) {
			steps = missed + 1;
			at = g->next_rotation;
		}
	}
	for (i = 0; i < steps; i++, at += g->rotate_s)
		if ((r = rotate_step(k, g, rekey, cause, at, now, &max, current)) != MQE2E_OK)
			return r;
	return kms_store_group_set_next_rotation(k->db, g->id,
	    kms_epoch_next_rotation(g->rotate_s, at - g->rotate_s));
}

/* A batch of epochs to expire, collected before they are changed. */
struct ending {
	size_t n;
	int64_t group[EXPIRE_BATCH];
	struct kms_epoch_row row[EXPIRE_BATCH];
};

static int
collect_ending(void *arg, int64_t group_id, const struct kms_epoch_row *row)
{
	struct ending *b = arg;

	if (b->n == EXPIRE_BATCH)
		return MQE2E_ERR_INTERNAL;
	b->group[b->n] = group_id;
	b->row[b->n++] = *row;
	return MQE2E_OK;
}

int
kms_epoch_expire_locked(struct kmsd *k, int64_t now)
{
	struct ending b;
	size_t i;
	int r;

	do {
		b.n = 0;
		if ((r = kms_store_epochs_ending(k->db, KMS_EPOCH_GRACE, now, EXPIRE_BATCH,
		    collect_ending, &b)) != MQE2E_OK)
			return r;
		for (i = 0; i < b.n; i++) {
			if ((r = epoch_set(k, b.group[i], &b.row[i], KMS_EPOCH_EXPIRED)) !=
			    MQE2E_OK)
				return r;
		}
	} while (b.n == EXPIRE_BATCH);
	return MQE2E_OK;
}

/* ---- the rotate transaction ------------------------------------------------------- */

int
kms_rotation_begin(struct kms_rotation *t, struct kmsd *k, const char *cause,
    const char *client, const char *reason, int64_t now)
{
	int r;

	memset(t, 0, sizeof(*t));
	t->k = k;
	t->cause = cause;
	t->client = client;
	t->reason = reason;
	t->now = now;
	if ((t->rotated = json_array()) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((r = kms_db_begin(k->db, 1)) != MQE2E_OK)
		return r;
	if ((r = kms_epoch_expire_locked(k, now)) != MQE2E_OK)
		return kms_db_end(k->db, r);
	return MQE2E_OK;
}

int
kms_rotation_group(struct kms_rotation *t, const struct kms_group_row *g, uint32_t *current)
{
	char target[KMS_NAME_MAX + 16];
	uint32_t e = 0;
	int r;

	if ((r = rotate(t->k, g, t->client != NULL, t->cause, t->now, &e)) != MQE2E_OK)
		return r;
	if (t->client != NULL &&
	    (r = kms_store_rekey_add(t->k->db, g->id, e, t->client, t->reason, t->now)) != MQE2E_OK)
		return r;
	snprintf(target, sizeof(target), "%s#%u", g->name, e);
	if (json_array_append_new(t->rotated, json_string(target)) != 0)
		return MQE2E_ERR_NOMEM;
	if (current != NULL)
		*current = e;
	return MQE2E_OK;
}

int
kms_rotation_named(struct kms_rotation *t, const char *name, uint32_t *current)
{
	struct kms_group_row g;
	int r;

	if ((r = kms_store_group_get(t->k->db, name, &g)) != MQE2E_OK)
		return r;
	return kms_rotation_group(t, &g, current);
}

int
kms_rotation_commit(struct kms_rotation *t, int r)
{
	if (r == MQE2E_OK && (json_array_size(t->rotated) > 0 || t->policy_changed))
		r = kms_store_policy_bump(t->k->db, &t->version);
	return kms_db_end(t->k->db, r);
}

void
kms_rotation_announce(struct kms_rotation *t, const char *request_id, const char *why)
{
	int scheduled = strcmp(t->cause, "scheduled") == 0;
	size_t i;

	if (t->version != 0)
		kmsd_policy_changed(t->k, t->version);
	for (i = 0; i < json_array_size(t->rotated); i++) {
		kms_audit(t->k->audit, request_id, scheduled ? "scheduler" : "admin",
		    "epoch.rotate", json_string_value(json_array_get(t->rotated, i)), "ok", 0,
		    why != NULL ? why : t->cause);
		kms_metrics_rotation(t->cause);
	}
}

void
kms_rotation_free(struct kms_rotation *t)
{
	json_decref(t->rotated);
	t->rotated = NULL;
}
