/*
 * fleet.c - several mqe2e-kmsd on one database: the scheduler's leader and
 * the other instances' changes (see fleet.h).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "fleet.h"
#include "log.h"
#include "session.h"
#include "store.h"

#define FLEET_RETRY_MS 1000          /* leader attempts, reconnects */
#define FLEET_WAIT_MS 1000           /* one wait for notifications */

struct kms_fleet {
	struct kmsd *k;
	pthread_mutex_t lock;
	pthread_cond_t cond;            /* stopping */
	int stopping;                   /* [lock] */
	int shared;                     /* the database has sessions */
	int leader;                     /* [lock] */
	uint64_t takeovers;             /* [lock] */
	pthread_t leader_thr, listen_thr;
	int leader_started, listen_started;
};

/* Sleep ms or until stopping; 1 if stopping. */
static int
nap(struct kms_fleet *f, int ms)
{
	struct timespec ts;
	int stop;

	mqe2e_mono_deadline(&ts, ms);
	pthread_mutex_lock(&f->lock);
	while (!f->stopping && mqe2e_cond_wait_until(&f->cond, &f->lock, &ts) != ETIMEDOUT)
		;
	stop = f->stopping;
	pthread_mutex_unlock(&f->lock);
	return stop;
}

static int
stopping(struct kms_fleet *f)
{
	int s;

	pthread_mutex_lock(&f->lock);
	s = f->stopping;
	pthread_mutex_unlock(&f->lock);
	return s;
}

/* Record leadership; log each change with why. */
static void
set_leader(struct kms_fleet *f, int leader, const char *why)
{
	int was;

	pthread_mutex_lock(&f->lock);
	was = f->leader;
	f->leader = leader;
	if (leader && !was)
		f->takeovers++;
	pthread_mutex_unlock(&f->lock);
	if (leader && !was)
		kms_log("scheduler: leader - this instance runs the rotation scheduler (it holds "
		    "the database's scheduler lock)");
	else if (!leader && was)
		kms_log_at(LOG_WARNING, "scheduler: standby - this instance stopped scheduling: %s",
		    why);
}

/* Log a connection problem when it starts or changes, and once a minute. */
struct complaint {
	char last[512];
	time_t at;
};

static void
complain(struct complaint *c, const char *what, const char *err)
{
	time_t now = time(NULL);

	if (strcmp(c->last, err) == 0 && now - c->at < 60)
		return;
	snprintf(c->last, sizeof(c->last), "%s", err);
	c->at = now;
	kms_log_at(LOG_ERR, "%s: %s; retrying every %d ms", what, err, FLEET_RETRY_MS);
}

static void *
leader_main(void *arg)
{
	struct kms_fleet *f = arg;
	struct kms_session *s = NULL;
	struct complaint c;
	char err[512];
	int held, r;

	memset(&c, 0, sizeof(c));
	do {
		if (s == NULL) {
			err[0] = '\0';
			if (kms_session_open(f->k->db, &s, err, sizeof(err)) != MQE2E_OK) {
				complain(&c, "scheduler lock: cannot connect", err);
				s = NULL;
				continue;
			}
			if (c.last[0] != '\0')
				kms_log("scheduler lock: connected again");
			c.last[0] = '\0';
		}
		if ((r = kms_session_lead(s, &held)) != MQE2E_OK) {
			/* the lock went with the connection: stop first */
			set_leader(f, 0, "the connection holding the scheduler lock failed; "
			    "reconnecting (another instance may take over)");
			kms_session_close(s);
			s = NULL;
			snprintf(err, sizeof(err), "%s", mqe2e_strerror(r));
			complain(&c, "scheduler lock: connection lost", err);
			continue;
		}
		set_leader(f, held, "");
	} while (!nap(f, FLEET_RETRY_MS));
	set_leader(f, 0, "stopping");
	kms_session_close(s);
	return NULL;
}

/* After (re)connecting: what was missed.  The policy version in the
 * database, and the stored CRL with the revoked serials. */
static void
catch_up(struct kms_fleet *f)
{
	char err[256];
	int64_t v = 0;
	int r;

	if ((r = kms_db_begin(f->k->db, 0)) == MQE2E_OK)
		r = kms_db_end(f->k->db, kms_store_counter_get(f->k->db, "policy_version", &v));
	if (r == MQE2E_OK && v > 0)
		kmsd_policy_changed(f->k, (uint64_t)v);
	if (kms_crl_load(f->k, err, sizeof(err)) != MQE2E_OK)
		kms_log_at(LOG_ERR, "after a change made through another instance: %s", err);
}

static void *
listen_main(void *arg)
{
	struct kms_fleet *f = arg;
	struct kms_session *s = NULL;
	struct kms_heard heard;
	struct complaint c;
	char err[512];
	int r;

	memset(&c, 0, sizeof(c));
	while (!stopping(f)) {
		if (s == NULL) {
			err[0] = '\0';
			if ((r = kms_session_open(f->k->db, &s, err, sizeof(err))) != MQE2E_OK ||
			    (r = kms_session_listen(s)) != MQE2E_OK) {
				if (err[0] == '\0')
					snprintf(err, sizeof(err), "%s", mqe2e_strerror(r));
				complain(&c, "change notifications: cannot listen", err);
				kms_session_close(s);
				s = NULL;
				if (nap(f, FLEET_RETRY_MS))
					break;
				continue;
			}
			if (c.last[0] != '\0')
				kms_log("change notifications: listening again");
			c.last[0] = '\0';
			/* listening now: read what changed before */
			catch_up(f);
		}
		if ((r = kms_session_wait(s, FLEET_WAIT_MS, &heard)) != MQE2E_OK) {
			kms_session_close(s);
			s = NULL;
			snprintf(err, sizeof(err), "%s", mqe2e_strerror(r));
			complain(&c, "change notifications: connection lost", err);
			continue;
		}
		if (heard.policy > 0)
			kmsd_policy_changed(f->k, heard.policy);
		if ((heard.policy > 0 || heard.crl > 0) && kms_crl_load(f->k, err, sizeof(err)) !=
		    MQE2E_OK)
			kms_log_at(LOG_ERR, "after a change made through another instance: %s", err);
	}
	kms_session_close(s);
	return NULL;
}

int
kms_fleet_start(struct kmsd *k)
{
	struct kms_fleet *f;
	struct kms_session *probe = NULL;
	char err[512];
	int r;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return MQE2E_ERR_NOMEM;
	f->k = k;
	pthread_mutex_init(&f->lock, NULL);
	(void)mqe2e_cond_init_mono(&f->cond);
	k->fleet = f;
	/* Sessions or not decides the mode; a shared database that does
	 * not answer now is still shared (the threads retry). */
	r = kms_session_open(k->db, &probe, err, sizeof(err));
	kms_session_close(probe);
	if (r == MQE2E_ERR_NOT_FOUND) {
		f->leader = 1;
		f->takeovers = 1;
		return MQE2E_OK;
	}
	f->shared = 1;
	if (pthread_create(&f->leader_thr, NULL, leader_main, f) != 0)
		return MQE2E_ERR_NOMEM;
	f->leader_started = 1;
	if (pthread_create(&f->listen_thr, NULL, listen_main, f) != 0)
		return MQE2E_ERR_NOMEM;
	f->listen_started = 1;
	kms_log("several instances may share this database: the scheduler runs on the one "
	    "holding its lock, changes made through the others are heard");
	return MQE2E_OK;
}

void
kms_fleet_stop(struct kmsd *k)
{
	struct kms_fleet *f = k->fleet;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (f->leader_started)
		pthread_join(f->leader_thr, NULL);
	if (f->listen_started)
		pthread_join(f->listen_thr, NULL);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
	k->fleet = NULL;
}

int
kms_fleet_leader(struct kmsd *k)
{
	struct kms_fleet *f = k->fleet;
	int l;

	if (f == NULL)
		return 1;
	pthread_mutex_lock(&f->lock);
	l = f->leader;
	pthread_mutex_unlock(&f->lock);
	return l;
}

int
kms_fleet_shared(struct kmsd *k)
{
	return k->fleet != NULL && k->fleet->shared;
}

uint64_t
kms_fleet_takeovers(struct kmsd *k)
{
	struct kms_fleet *f = k->fleet;
	uint64_t n;

	if (f == NULL)
		return 0;
	pthread_mutex_lock(&f->lock);
	n = f->takeovers;
	pthread_mutex_unlock(&f->lock);
	return n;
}
