/*
 * rotation.c - epochs: creation, rotation, revocation rekey, expiry, and
 * the scheduler thread (see rotation.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "db.h"
#include "keystore.h"
#include "log.h"
#include "rotation.h"
#include "wire.h"

#define CRL_REFRESH_S (24 * 3600)    /* re-issue daily; CRLs live KMS_CRL_DAYS */

/* Insert epoch number e of g in state, with fresh sealed GK_P and GK_B. */
static int
epoch_insert(struct kmsd *k, const struct kms_group *g, int64_t e, const char *state,
    int64_t now)
{
	uint8_t gk_p[KMS_SEALED_LEN], gk_b[KMS_SEALED_LEN];
	sqlite3_stmt *st = NULL;
	int r;

	if (e <= 0 || e > (int64_t)UINT32_MAX)
		return MQE2E_ERR_INTERNAL;
	if ((r = kms_keystore_new_key(k->ks, g->name, (uint32_t)e, MQE2E_GK_P, gk_p)) != MQE2E_OK ||
	    (r = kms_keystore_new_key(k->ks, g->name, (uint32_t)e, MQE2E_GK_B, gk_b)) != MQE2E_OK)
		return r;
	if ((r = kms_db_prepare(k->db, "INSERT INTO epochs (group_id, epoch, state, created, "
	    "activated, gk_p, gk_b) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, g->id);
	sqlite3_bind_int64(st, 2, e);
	sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (strcmp(state, "current") == 0)
		sqlite3_bind_int64(st, 5, now);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_blob(st, 6, gk_p, sizeof(gk_p), SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, gk_b, sizeof(gk_b), SQLITE_STATIC);
	return kms_db_run(k->db, st);
}

int
kms_epochs_init_locked(struct kmsd *k, const struct kms_group *g, int64_t now)
{
	int r;

	if ((r = epoch_insert(k, g, 1, "current", now)) != MQE2E_OK)
		return r;
	return epoch_insert(k, g, 2, "next", now);
}

/* Run one UPDATE with ?1 = now, ?2 = group id, ?3 = until; a statement
 * without some of them ignores those bindings (SQLITE_RANGE). */
static int
update(struct kmsd *k, const char *sql, int64_t now, int64_t group_id, int64_t until)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(k->db, sql, &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, group_id);
	sqlite3_bind_int64(st, 3, until);
	return kms_db_run(k->db, st);
}

static int
max_epoch(struct kmsd *k, int64_t group_id, int64_t *max)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = kms_db_prepare(k->db, "SELECT max(epoch) FROM epochs WHERE group_id = ?1",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*max = sqlite3_column_int64(st, 0);
		r = MQE2E_OK;
	} else
		r = kms_db_error(k->db, rc);
	sqlite3_finalize(st);
	return r;
}

int
kms_rotate_locked(struct kmsd *k, const struct kms_group *g, int void_next, int64_t now,
    uint32_t *current)
{
	int64_t max = 0;
	int r;

	if ((r = max_epoch(k, g->id, &max)) != MQE2E_OK)
		return r;
	/* Old current -> grace (or straight to expired with no grace). */
	if (g->grace_s > 0)
		r = update(k, "UPDATE epochs SET state = 'grace', expires = ?3 "
		    "WHERE group_id = ?2 AND state = 'current'", now, g->id,
		    now + g->grace_s);
	else
		r = update(k, "UPDATE epochs SET state = 'expired', expires = ?1, gk_p = NULL, "
		    "gk_b = NULL WHERE group_id = ?2 AND state = 'current'", now,
		    g->id, now);
	if (r != MQE2E_OK)
		return r;
	if (void_next) {
		/* The revoked client may hold the pre-issued next: never use it. */
		if ((r = update(k, "UPDATE epochs SET state = 'void', expires = ?1, gk_p = NULL, "
		    "gk_b = NULL WHERE group_id = ?2 AND state = 'next'", now, g->id,
		    now)) != MQE2E_OK ||
		    (r = epoch_insert(k, g, max + 1, "current", now)) != MQE2E_OK ||
		    (r = epoch_insert(k, g, max + 2, "next", now)) != MQE2E_OK)
			return r;
		*current = (uint32_t)(max + 1);
	} else {
		if ((r = update(k, "UPDATE epochs SET state = 'current', activated = ?1 "
		    "WHERE group_id = ?2 AND state = 'next'", now, g->id, now)) != MQE2E_OK)
			return r;
		if (sqlite3_changes(kms_db_handle(k->db)) != 1)
			return MQE2E_ERR_INTERNAL;   /* no next epoch: a broken invariant */
		if ((r = epoch_insert(k, g, max + 1, "next", now)) != MQE2E_OK)
			return r;
		*current = (uint32_t)max;
	}
	return update(k, "UPDATE topic_groups SET next_rotation = ?1 + ?3 WHERE id = ?2",
	    now, g->id, g->rotate_s);
}

int
kms_expire_locked(struct kmsd *k, int64_t now)
{
	return update(k, "UPDATE epochs SET state = 'expired', gk_p = NULL, gk_b = NULL "
	    "WHERE state = 'grace' AND expires <= ?1", now, 0, 0);
}

/* One scheduler pass: rotate every due group, expire old epochs; each group
 * in its own transaction. */
static void
tick(struct kmsd *k, int64_t now)
{
	sqlite3_stmt *st = NULL;
	struct kms_group g;
	char target[KMS_NAME_MAX + 16];
	uint64_t version = 0;
	uint32_t current = 0;
	int64_t id;
	int rc, r;

	for (;;) {
		if ((r = kms_db_begin(k->db, 1)) != MQE2E_OK)
			return;
		id = 0;
		if ((r = kms_db_prepare(k->db, "SELECT id FROM topic_groups WHERE next_rotation <= ?1 "
		    "ORDER BY next_rotation LIMIT 1", &st)) == MQE2E_OK) {
			sqlite3_bind_int64(st, 1, now);
			if ((rc = sqlite3_step(st)) == SQLITE_ROW)
				id = sqlite3_column_int64(st, 0);
			else if (rc != SQLITE_DONE)
				r = kms_db_error(k->db, rc);
			sqlite3_finalize(st);
		}
		if (r == MQE2E_OK && id != 0 &&
		    (r = kms_group_find_id(k->db, id, &g)) == MQE2E_OK &&
		    (r = kms_rotate_locked(k, &g, 0, now, &current)) == MQE2E_OK)
			r = kms_policy_bump(k->db, &version);
		if (r == MQE2E_OK)
			r = kms_expire_locked(k, now);
		if ((r = kms_db_end(k->db, r)) != MQE2E_OK) {
			kms_log("scheduled rotation failed: %s", mqe2e_strerror(r));
			return;
		}
		if (id == 0)
			return;
		snprintf(target, sizeof(target), "%s#%u", g.name, current);
		kms_audit(k->audit, NULL, "scheduler", "epoch.rotate", target, "ok", 0, "scheduled");
		kmsd_policy_changed(k, version);
	}
}

static void *
scheduler(void *arg)
{
	struct kmsd *k = arg;
	struct timespec ts;
	int64_t now, crl_time;

	for (;;) {
		now = (int64_t)time(NULL);
		tick(k, now);
		pthread_mutex_lock(&k->state_lock);
		crl_time = k->crl_time;
		pthread_mutex_unlock(&k->state_lock);
		if (now - crl_time >= CRL_REFRESH_S && kms_crl_refresh(k) != MQE2E_OK)
			crl_time = now;   /* logged by kms_crl_refresh; retried next pass */
		pthread_mutex_lock(&k->state_lock);
		if (!k->stopping) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			(void)pthread_cond_timedwait(&k->state_cond, &k->state_lock, &ts);
		}
		if (k->stopping) {
			pthread_mutex_unlock(&k->state_lock);
			break;
		}
		pthread_mutex_unlock(&k->state_lock);
	}
	return NULL;
}

int
kms_scheduler_start(struct kmsd *k)
{
	if (pthread_create(&k->scheduler, NULL, scheduler, k) != 0)
		return MQE2E_ERR_NOMEM;
	k->scheduler_started = 1;
	return MQE2E_OK;
}

void
kms_scheduler_stop(struct kmsd *k)
{
	if (!k->scheduler_started)
		return;
	pthread_mutex_lock(&k->state_lock);
	k->stopping = 1;
	pthread_cond_broadcast(&k->state_cond);
	pthread_mutex_unlock(&k->state_lock);
	pthread_join(k->scheduler, NULL);
	k->scheduler_started = 0;
}
