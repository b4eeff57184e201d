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
#include "keystore.h"
#include "log.h"
#include "metrics.h"
#include "rotation.h"
#include "store.h"
#include "wire.h"

#define CRL_REFRESH_S (24 * 3600)    /* re-issue daily; CRLs live KMS_CRL_DAYS */
#define CRL_RETRY_S 60               /* after a failed re-issue */

/* Add epoch number e of g in state, with fresh sealed GK_P and GK_B. */
static int
epoch_add(struct kmsd *k, const struct kms_group_row *g, int64_t e, const char *state,
    const char *cause, int64_t now)
{
	uint8_t gk_p[KMS_SEALED_LEN], gk_b[KMS_SEALED_LEN];
	int r;

	if (e <= 0 || e > (int64_t)UINT32_MAX)
		return MQE2E_ERR_INTERNAL;
	if ((r = kms_keystore_new_key(k->ks, g->name, (uint32_t)e, MQE2E_GK_P, gk_p)) != MQE2E_OK ||
	    (r = kms_keystore_new_key(k->ks, g->name, (uint32_t)e, MQE2E_GK_B, gk_b)) != MQE2E_OK)
		return r;
	return kms_store_epoch_add(k->db, g->id, (uint32_t)e, state, cause, now, gk_p, gk_b);
}

int
kms_epochs_init_locked(struct kmsd *k, const struct kms_group_row *g, int64_t now)
{
	int r;

	if ((r = epoch_add(k, g, 1, "current", "created", now)) != MQE2E_OK)
		return r;
	return epoch_add(k, g, 2, "next", NULL, now);
}

int
kms_rotate_locked(struct kmsd *k, const struct kms_group_row *g, int void_next,
    const char *cause, int64_t now, uint32_t *current)
{
	int64_t max = 0;
	int r;

	if ((r = kms_store_epoch_max(k->db, g->id, &max)) != MQE2E_OK ||
	    (r = kms_store_epoch_retire_current(k->db, g->id, now, now + g->grace_s)) != MQE2E_OK)
		return r;
	if (void_next) {
		/* The revoked client may hold the pre-issued next: never use it. */
		if ((r = kms_store_epoch_void_next(k->db, g->id, now)) != MQE2E_OK ||
		    (r = epoch_add(k, g, max + 1, "current", cause, now)) != MQE2E_OK ||
		    (r = epoch_add(k, g, max + 2, "next", NULL, now)) != MQE2E_OK)
			return r;
		*current = (uint32_t)(max + 1);
	} else {
		if ((r = kms_store_epoch_promote_next(k->db, g->id, now, cause)) != MQE2E_OK ||
		    (r = epoch_add(k, g, max + 1, "next", NULL, now)) != MQE2E_OK)
			return r;
		*current = (uint32_t)max;
	}
	return kms_store_group_set_next_rotation(k->db, g->id, now + g->rotate_s);
}

int
kms_expire_locked(struct kmsd *k, int64_t now)
{
	return kms_store_epoch_expire(k->db, now);
}

/* One scheduler pass: rotate every due group, expire old epochs; each group
 * in its own transaction.  An unhealthy daemon (kmsd_fault) only expires:
 * it seals nothing new. */
static int
tick(struct kmsd *k, int64_t now)
{
	struct kms_group_row g;
	char target[KMS_NAME_MAX + 16];
	uint64_t version = 0;
	uint32_t current = 0;
	int64_t id;
	int r, rotate = !kmsd_faulty(k, NULL, 0);

	for (;;) {
		if ((r = kms_db_begin(k->db, 1)) != MQE2E_OK)
			return r;
		id = 0;
		if (rotate)
			r = kms_store_group_due(k->db, now, &id);
		if (r == MQE2E_OK && id != 0 &&
		    (r = kms_store_group_get_id(k->db, id, &g)) == MQE2E_OK &&
		    (r = kms_rotate_locked(k, &g, 0, "scheduled", now, &current)) == MQE2E_OK)
			r = kms_store_policy_bump(k->db, &version);
		if (r == MQE2E_OK)
			r = kms_expire_locked(k, now);
		if ((r = kms_db_end(k->db, r)) != MQE2E_OK)
			return r;
		if (id == 0)
			return MQE2E_OK;
		snprintf(target, sizeof(target), "%s#%u", g.name, current);
		kms_audit(k->audit, NULL, "scheduler", "epoch.rotate", target, "ok", 0, "scheduled");
		kms_metrics_rotation("scheduled");
		kmsd_policy_changed(k, version);
	}
}

static void *
scheduler(void *arg)
{
	struct kmsd *k = arg;
	struct timespec ts;
	int64_t now, crl_retry = 0, logged = 0;
	int r, failing = MQE2E_OK;

	for (;;) {
		now = (int64_t)time(NULL);
		/* Failures are retried every pass but logged when they start,
		 * change or end, and once a minute meanwhile. */
		if ((r = tick(k, now)) != MQE2E_OK &&
		    (r != failing || now - logged >= CRL_RETRY_S)) {
			kms_log_at(LOG_ERR, "scheduled rotation failed: %s%s", mqe2e_strerror(r),
			    r == MQE2E_ERR_NO_SPACE ? ": free space on the disk of the data "
			    "directory; keys already issued stay valid until their epoch's "
			    "rotation time plus grace" : "");
			logged = now;
		} else if (r == MQE2E_OK && failing != MQE2E_OK)
			kms_log("scheduled rotation works again");
		failing = r;
		/* A failed CRL issue (full disk) is logged and tried again later. */
		if (now >= crl_retry && kms_crl_due(k, now, CRL_REFRESH_S) &&
		    kms_crl_refresh(k) != MQE2E_OK)
			crl_retry = now + CRL_RETRY_S;
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
