/*
 * rotation.c - the scheduler thread (see rotation.h): rotates due groups
 * and expires epochs through the rotate transaction of epoch.h, and
 * re-issues the CRL before it goes stale.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "epoch.h"
#include "fleet.h"
#include "log.h"
#include "rotation.h"
#include "store.h"

#define CRL_REFRESH_S (24 * 3600)    /* re-issue daily; CRLs live KMS_CRL_DAYS */
#define CRL_RETRY_S 60               /* after a failed re-issue */

/* One scheduler pass: rotate every due group, expire old epochs; each group
 * in its own transaction.  An unhealthy daemon (kmsd_fault) only expires:
 * it seals nothing new. */
static int
tick(struct kmsd *k, int64_t now)
{
	struct kms_rotation t;
	struct kms_group_row g;
	int64_t id;
	int r, rotate = !kmsd_faulty(k, NULL, 0);

	for (;;) {
		/* a leader that lost its lock stops between two groups */
		if (!kms_fleet_leader(k))
			return MQE2E_OK;
		if ((r = kms_rotation_begin(&t, k, "scheduled", NULL, NULL, now)) != MQE2E_OK) {
			kms_rotation_free(&t);
			return r;
		}
		id = 0;
		if (rotate)
			r = kms_store_group_due(k->db, now, &id);
		if (r == MQE2E_OK && id != 0 &&
		    (r = kms_store_group_get_id(k->db, id, &g)) == MQE2E_OK)
			r = kms_rotation_group(&t, &g, NULL);
		if ((r = kms_rotation_commit(&t, r)) == MQE2E_OK)
			kms_rotation_announce(&t, NULL, NULL);
		kms_rotation_free(&t);
		if (r != MQE2E_OK || id == 0)
			return r;
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
		/* Of several instances on one database only the leader
		 * schedules (fleet.h); the others wait for their turn. */
		if (!kms_fleet_leader(k))
			goto wait;
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
 wait:
		pthread_mutex_lock(&k->state_lock);
		if (!k->stopping) {
			mqe2e_mono_deadline(&ts, 1000);
			(void)mqe2e_cond_wait_until(&k->state_cond, &k->state_lock, &ts);
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
