/*
 * test_epoch.c - unit tests of the epoch life cycle (kmsd/epoch.c) on a
 * real SQLite database and keystore in a temporary directory: the state
 * names, the validity windows, creation, plain rotation, the grace decision,
 * expiry (in batches), revocation rekeys, rollback, and the invariants after
 * a long random sequence of rotations, rekeys and expiries.  The database
 * file is also read directly, to see that keys are erased exactly when an
 * epoch leaves the deliverable states.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "epoch.h"
#include "files.h"
#include "keystore.h"
#include "kmsd.h"
#include "store.h"

static char dir[64];
static char db_path[256];

/* The epochs of a group as "number:state" words, e.g. "1:grace 2:current". */
struct listing {
	char s[4096];
	struct kms_epoch_row last[2];  /* current and next rows seen */
};

static int
list_one(void *arg, const struct kms_epoch_row *e)
{
	struct listing *l = arg;
	size_t at = strlen(l->s);

	snprintf(l->s + at, sizeof(l->s) - at, "%s%u:%s", at > 0 ? " " : "", e->epoch,
	    kms_epoch_state_name(e->state));
	if (e->state == KMS_EPOCH_CURRENT)
		l->last[0] = *e;
	else if (e->state == KMS_EPOCH_NEXT)
		l->last[1] = *e;
	return MQE2E_OK;
}

static int
listing(struct kmsd *k, const char *group, struct listing *l, struct kms_group_row *g)
{
	int r;

	memset(l, 0, sizeof(*l));
	if ((r = kms_db_begin(k->db, 0)) != MQE2E_OK)
		return r;
	if ((r = kms_store_group_get(k->db, group, g)) == MQE2E_OK)
		r = kms_store_epoch_list(k->db, g->id, list_one, l);
	return kms_db_end(k->db, r);
}

/* Run sql on the database file directly; its one integer result. */
static int64_t
raw(const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(db_path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		fprintf(stderr, "raw query failed: %s: %s\n", sql, sqlite3_errmsg(h));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static int
group_add_k(struct kmsd *k, const char *name, int64_t rotate_s, int64_t grace_s,
    int future_epochs, int64_t now)
{
	struct kms_group_row g;
	char filter[80];
	int r;

	snprintf(filter, sizeof(filter), "%s/#", name);
	if ((r = kms_db_begin(k->db, 1)) != MQE2E_OK)
		return r;
	if ((r = kms_store_group_add(k->db, name, filter, 4, rotate_s, grace_s, future_epochs, now,
	    kms_epoch_next_rotation(rotate_s, now))) == MQE2E_OK &&
	    (r = kms_store_group_get(k->db, name, &g)) == MQE2E_OK)
		r = kms_epoch_create_locked(k, &g, now);
	return kms_db_end(k->db, r);
}

static int
group_add(struct kmsd *k, const char *name, int64_t rotate_s, int64_t grace_s, int64_t now)
{
	return group_add_k(k, name, rotate_s, grace_s, 1, now);
}

/* One rotate transaction of group (client NULL: plain). */
static int
rotate(struct kmsd *k, const char *group, const char *cause, const char *client, int64_t now,
    uint32_t *current, uint64_t *version)
{
	struct kms_rotation t;
	int r;

	if ((r = kms_rotation_begin(&t, k, cause, client, client != NULL ? "test" : NULL,
	    now)) == MQE2E_OK) {
		if (group != NULL)
			r = kms_rotation_named(&t, group, current);
		if ((r = kms_rotation_commit(&t, r)) == MQE2E_OK)
			kms_rotation_announce(&t, NULL, NULL);
		if (version != NULL)
			*version = t.version;
	}
	kms_rotation_free(&t);
	return r;
}

static void
test_states(void)
{
	enum kms_epoch_state s, all[] = { KMS_EPOCH_NEXT, KMS_EPOCH_CURRENT, KMS_EPOCH_GRACE,
	    KMS_EPOCH_EXPIRED, KMS_EPOCH_VOID };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		CHECK(kms_epoch_state_parse(kms_epoch_state_name(all[i]), &s) == MQE2E_OK &&
		    s == all[i]);
	}
	CHECK(strcmp(kms_epoch_state_name(KMS_EPOCH_GRACE), "grace") == 0);
	CHECK(strcmp(kms_epoch_state_name((enum kms_epoch_state)99), "?") == 0);
	CHECK(kms_epoch_state_parse("Current", &s) == MQE2E_ERR_BAD_FORMAT);
	CHECK(kms_epoch_state_parse("", &s) == MQE2E_ERR_BAD_FORMAT);
	CHECK(kms_epoch_state_parse("currentx", &s) == MQE2E_ERR_BAD_FORMAT);
	CHECK(kms_epoch_deliverable(KMS_EPOCH_NEXT) && kms_epoch_deliverable(KMS_EPOCH_CURRENT) &&
	    kms_epoch_deliverable(KMS_EPOCH_GRACE));
	CHECK(!kms_epoch_deliverable(KMS_EPOCH_EXPIRED) && !kms_epoch_deliverable(KMS_EPOCH_VOID));
	CHECK(kms_epoch_next_rotation(60, 1000) == 1060);
}

static void
test_validity(void)
{
	struct kms_epoch_keys_row row;
	uint64_t nb = 0, na = 0;

	memset(&row, 0, sizeof(row));
	row.activated = 1000;
	row.expires = 1500;
	row.next_rotation = 1060;
	row.rotate_s = 60;
	row.grace_s = 30;
	row.state = KMS_EPOCH_NEXT;
	kms_epoch_validity(&row, 0, &nb, &na);
	CHECK(nb == 1060000 && na == (1060 + 60 + 30) * 1000ull);
	row.state = KMS_EPOCH_CURRENT;
	kms_epoch_validity(&row, 0, &nb, &na);
	CHECK(nb == 1000000 && na == (1060 + 30) * 1000ull);
	row.state = KMS_EPOCH_GRACE;
	kms_epoch_validity(&row, 0, &nb, &na);
	CHECK(nb == 1000000 && na == 1500000);
}

struct rekeys {
	int n;
	char client[KMS_NAME_MAX + 1];
	uint32_t epoch;
};

static int
count_rekey(void *arg, const struct kms_rekey_row *rk)
{
	struct rekeys *c = arg;

	if (c->n++ == 0) {
		snprintf(c->client, sizeof(c->client), "%s", rk->client);
		c->epoch = rk->epoch;
	}
	return MQE2E_OK;
}

static void
test_life_cycle(struct kmsd *k)
{
	struct kms_group_row g;
	struct listing l;
	struct rekeys rk;
	uint64_t v1 = 0, v2 = 0;
	uint32_t cur = 0;

	CHECK(group_add(k, "plant", 60, 30, 1000) == MQE2E_OK);
	CHECK(listing(k, "plant", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:current 2:next") == 0);
	CHECK(g.current_epoch == 1 && g.next_rotation == 1060);
	CHECK(l.last[0].activated == 1000 && strcmp(l.last[0].cause, "created") == 0);
	CHECK(l.last[1].activated == 0 && l.last[1].cause[0] == '\0');

	/* Plain rotation: next -> current, current -> grace for grace_s. */
	CHECK(rotate(k, "plant", "scheduled", NULL, 1060, &cur, &v1) == MQE2E_OK);
	CHECK(cur == 2 && v1 > 0);
	CHECK(listing(k, "plant", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:grace 2:current 3:next") == 0);
	CHECK(g.current_epoch == 2 && g.next_rotation == 1120);
	CHECK(l.last[0].activated == 1060 && strcmp(l.last[0].cause, "scheduled") == 0);
	CHECK(raw("SELECT expires FROM epochs WHERE epoch = 1 AND group_id = "
	    "(SELECT id FROM topic_groups WHERE name = 'plant')") == 1090);
	CHECK(raw("SELECT count(*) FROM epochs e JOIN topic_groups g ON g.id = e.group_id "
	    "WHERE g.name = 'plant' AND e.gk_p IS NOT NULL AND e.gk_b IS NOT NULL") == 3);

	/* Expiry is decided at expires: not a second before. */
	CHECK(rotate(k, NULL, "scheduled", NULL, 1089, NULL, &v2) == MQE2E_OK);
	CHECK(v2 == 0);                       /* nothing rotated: no policy change */
	CHECK(listing(k, "plant", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:grace 2:current 3:next") == 0);
	CHECK(rotate(k, NULL, "scheduled", NULL, 1090, NULL, NULL) == MQE2E_OK);
	CHECK(listing(k, "plant", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:expired 2:current 3:next") == 0);
	CHECK(raw("SELECT count(*) FROM epochs e JOIN topic_groups g ON g.id = e.group_id "
	    "WHERE g.name = 'plant' AND e.epoch = 1 AND e.gk_p IS NULL AND e.gk_b IS NULL "
	    "AND e.expires = 1090") == 1);

	/* A rekey: the pre-issued next (3) is voided, never used. */
	CHECK(rotate(k, "plant", "revocation", "mallory", 1100, &cur, &v2) == MQE2E_OK);
	CHECK(cur == 4 && v2 > v1);
	CHECK(listing(k, "plant", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:expired 2:grace 3:void 4:current 5:next") == 0);
	CHECK(g.current_epoch == 4 && g.next_rotation == 1160);
	CHECK(strcmp(l.last[0].cause, "revocation") == 0);
	CHECK(raw("SELECT count(*) FROM epochs e JOIN topic_groups g ON g.id = e.group_id "
	    "WHERE g.name = 'plant' AND e.epoch = 3 AND e.gk_p IS NULL AND e.expires = 1100") == 1);
	memset(&rk, 0, sizeof(rk));
	CHECK(kms_db_begin(k->db, 0) == MQE2E_OK);
	CHECK(kms_db_end(k->db, kms_store_rekey_list(k->db, g.id, 10, count_rekey, &rk)) ==
	    MQE2E_OK);
	CHECK(rk.n == 1 && rk.epoch == 4 && strcmp(rk.client, "mallory") == 0);

	/* A failed transaction leaves everything as it was. */
	{
		struct kms_rotation t;
		uint32_t c2 = 0;

		CHECK(kms_rotation_begin(&t, k, "manual", NULL, NULL, 1110) == MQE2E_OK);
		CHECK(kms_rotation_named(&t, "plant", &c2) == MQE2E_OK && c2 == 5);
		CHECK(kms_rotation_named(&t, "nosuch", NULL) == MQE2E_ERR_NOT_FOUND);
		CHECK(kms_rotation_commit(&t, MQE2E_ERR_NOT_FOUND) == MQE2E_ERR_NOT_FOUND);
		CHECK(t.version == 0);
		kms_rotation_free(&t);
	}
	CHECK(listing(k, "plant", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:expired 2:grace 3:void 4:current 5:next") == 0);

	/* grace_s 0: the old current expires at once. */
	CHECK(group_add(k, "nograce", 60, 0, 1000) == MQE2E_OK);
	CHECK(rotate(k, "nograce", "manual", NULL, 1005, &cur, NULL) == MQE2E_OK && cur == 2);
	CHECK(listing(k, "nograce", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:expired 2:current 3:next") == 0);
	CHECK(strcmp(l.last[0].cause, "manual") == 0);
	CHECK(raw("SELECT count(*) FROM epochs e JOIN topic_groups g ON g.id = e.group_id "
	    "WHERE g.name = 'nograce' AND e.epoch = 1 AND e.gk_p IS NULL AND e.expires = 1005") == 1);
}

/* More grace epochs due at once than one expiry batch holds. */
static void
test_expire_batches(struct kmsd *k)
{
	char name[32];
	int i, ok = 1;

	for (i = 0; i < 150 && ok; i++) {
		snprintf(name, sizeof(name), "batch%03d", i);
		ok = group_add(k, name, 3600, 10, 2000) == MQE2E_OK &&
		    rotate(k, name, "manual", NULL, 2000 + i % 3, NULL, NULL) == MQE2E_OK;
	}
	CHECK(ok);
	CHECK(raw("SELECT count(*) FROM epochs WHERE state = 'grace' AND expires <= 2012") == 150);
	CHECK(rotate(k, NULL, "scheduled", NULL, 2011, NULL, NULL) == MQE2E_OK);
	CHECK(raw("SELECT count(*) FROM epochs WHERE state = 'grace' AND expires <= 2012") == 50);
	CHECK(rotate(k, NULL, "scheduled", NULL, 2012, NULL, NULL) == MQE2E_OK);
	CHECK(raw("SELECT count(*) FROM epochs WHERE state = 'grace' AND expires <= 2012") == 0);
	CHECK(raw("SELECT count(*) FROM epochs WHERE state = 'expired' AND gk_p IS NOT NULL") == 0);
}

/* Random rotations, rekeys and expiries over three groups; after every
 * commit each group's epochs are 1..max without gaps, exactly one current
 * and one next (the highest), and keys are held exactly by the deliverable
 * epochs. */
static void
test_random(struct kmsd *k)
{
	static const char *const groups[] = { "r0", "r1", "r2" };
	uint32_t x = 88172645u;
	int64_t now = 5000;
	int i, bad = 0;

	for (i = 0; i < 3; i++)
		CHECK(group_add(k, groups[i], 5 + i, i, now) == MQE2E_OK);
	for (i = 0; i < 300 && bad == 0; i++) {
		const char *g = groups[x % 3];

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		now += x % 4;
		switch (x % 5) {
		case 0:
		case 1:
			bad += rotate(k, g, "scheduled", NULL, now, NULL, NULL) != MQE2E_OK;
			break;
		case 2:
			bad += rotate(k, g, "revocation", "eve", now, NULL, NULL) != MQE2E_OK;
			break;
		case 3:
			bad += rotate(k, g, "grant-removal", "eve", now, NULL, NULL) != MQE2E_OK;
			break;
		default:
			bad += rotate(k, NULL, "scheduled", NULL, now, NULL, NULL) != MQE2E_OK;
			break;
		}
		bad += raw("SELECT count(*) FROM (SELECT group_id FROM epochs GROUP BY group_id "
		    "HAVING count(*) != max(epoch) OR min(epoch) != 1 "
		    "OR sum(state = 'current') != 1 OR sum(state = 'next') != 1 "
		    "OR max(CASE WHEN state = 'next' THEN epoch END) != max(epoch))") != 0;
		bad += raw("SELECT count(*) FROM epochs WHERE (state IN ('current', 'next', 'grace')) "
		    "!= (gk_p IS NOT NULL AND gk_b IS NOT NULL)") != 0;
		/* begin expired everything due at now */
		bad += raw("SELECT count(*) FROM epochs WHERE state = 'grace' AND expires <= "
		    "(SELECT max(created) FROM epochs)") != 0;
	}
	CHECK(bad == 0);
	fprintf(stderr, "random sequence: %d steps, %" PRId64 " epochs, %" PRId64 " void, "
	    "%" PRId64 " expired\n", i, raw("SELECT count(*) FROM epochs WHERE group_id IN "
	    "(SELECT id FROM topic_groups WHERE name LIKE 'r_')"),
	    raw("SELECT count(*) FROM epochs WHERE state = 'void'"),
	    raw("SELECT count(*) FROM epochs WHERE state = 'expired'"));
}

/* A scheduler that was down for whole periods catches up on the group's
 * schedule as far as the pre-issued epochs reach: the current epoch is the
 * one members moved to by the clock, the schedule keeps its grid. */
static void
test_catch_up(struct kmsd *k)
{
	struct kms_group_row g;
	struct listing l;
	uint32_t cur = 0;

	/* 3 future epochs, 60 s periods; due at 1060, the KMS back at 1185:
	 * members use epoch 4 (window 1180..1240) by now. */
	CHECK(group_add_k(k, "outage", 60, 30, 3, 1000) == MQE2E_OK);
	CHECK(listing(k, "outage", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:current 2:next 3:next 4:next") == 0);
	CHECK(rotate(k, "outage", "scheduled", NULL, 1185, &cur, NULL) == MQE2E_OK);
	CHECK(cur == 4);
	CHECK(listing(k, "outage", &l, &g) == MQE2E_OK);
	CHECK(g.current_epoch == 4 && g.next_rotation == 1240);
	CHECK(l.last[0].activated == 1180);
	CHECK(strstr(l.s, "4:current 5:next 6:next 7:next") != NULL);
	/* the epochs it passed are in grace until their own ends at most */
	CHECK(raw("SELECT max(expires) FROM epochs WHERE state = 'grace' AND epoch < 4 AND "
	    "group_id = (SELECT id FROM topic_groups WHERE name = 'outage')") == 1210);
	/* the next scheduler pass expires those whose grace has ended */
	CHECK(rotate(k, NULL, "scheduled", NULL, 1186, NULL, NULL) == MQE2E_OK);
	CHECK(listing(k, "outage", &l, &g) == MQE2E_OK);
	CHECK(strcmp(l.s, "1:expired 2:expired 3:grace 4:current 5:next 6:next 7:next") == 0);

	/* Down for longer than the epochs members could hold (10 periods > 3):
	 * one rotation at now, a fresh grid. */
	CHECK(rotate(k, "outage", "scheduled", NULL, 1240 + 600 + 7, &cur, NULL) == MQE2E_OK);
	CHECK(cur == 5);
	CHECK(listing(k, "outage", &l, &g) == MQE2E_OK);
	CHECK(g.next_rotation == 1240 + 600 + 7 + 60);

	/* A rekey never catches up (it must not use a pre-issued epoch). */
	CHECK(rotate(k, "outage", "revocation", "mallory", 1847 + 200, &cur, NULL) == MQE2E_OK);
	CHECK(cur == 9);
	CHECK(listing(k, "outage", &l, &g) == MQE2E_OK);
	CHECK(g.next_rotation == 1847 + 200 + 60);
}

static void
cleanup(void)
{
	static const char *const names[] = { "master.key", "kms.db", "kms.db-wal", "kms.db-shm" };
	char p[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (kms_path(p, sizeof(p), dir, names[i]) == MQE2E_OK)
			(void)unlink(p);
	}
	(void)rmdir(dir);
}

int
main(void)
{
	struct kmsd k;
	char p[256], err[512];

	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&k.state_lock, NULL);
	pthread_cond_init(&k.state_cond, NULL);
	snprintf(dir, sizeof(dir), "/tmp/test_epoch.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 99;
	}
	if (kms_path(p, sizeof(p), dir, "master.key") != MQE2E_OK ||
	    kms_path(db_path, sizeof(db_path), dir, "kms.db") != MQE2E_OK ||
	    kms_keystore_open(p, 1, &k.ks, err, sizeof(err)) != MQE2E_OK ||
	    kms_db_open(db_path, NULL, 1, &k.db, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "test_epoch: setup failed: %s\n", err);
		cleanup();
		return 99;
	}
	test_states();
	test_validity();
	test_life_cycle(&k);
	test_expire_batches(&k);
	test_random(&k);
	test_catch_up(&k);              /* last: a group of 3 next epochs */
	CHECK(k.policy_version > 0);
	kms_db_close(k.db);
	kms_keystore_free(k.ks);
	cleanup();
	return check_result("test_epoch");
}
