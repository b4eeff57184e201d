/*
 * store_epochs.c - epochs and their sealed group keys in SQLite (see
 * store.h).  Retiring an epoch to expired or void erases its keys (the
 * columns become NULL; secure_delete overwrites the freed space).
 */
#include "config.h"

#include <string.h>

#include "db.h"

struct epoch_cb {
	int (*cb)(void *arg, const struct kms_epoch_row *row);
	void *arg;
};

static int
each_epoch(sqlite3_stmt *st, void *arg)
{
	struct epoch_cb *c = arg;
	struct kms_epoch_row row;

	memset(&row, 0, sizeof(row));
	row.epoch = (uint32_t)kms_db_int(st, 0);
	kms_db_text(st, 1, row.state, sizeof(row.state));
	row.created = kms_db_int(st, 2);
	row.activated = kms_db_int(st, 3);
	row.expires = kms_db_int(st, 4);
	kms_db_text(st, 5, row.cause, sizeof(row.cause));
	return c->cb(c->arg, &row);
}

int
kms_store_epoch_list(struct kms_db *db, int64_t group_id,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg)
{
	struct epoch_cb c = { cb, arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT epoch, state, created, activated, expires, "
	    "coalesce(cause, '') FROM epochs WHERE group_id = ?1 ORDER BY epoch", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	return kms_db_each(db, st, each_epoch, &c);
}

int
kms_store_epoch_max(struct kms_db *db, int64_t group_id, int64_t *max)
{
	sqlite3_stmt *st = NULL;
	int r;

	*max = 0;
	if ((r = kms_db_prepare(db, "SELECT coalesce(max(epoch), 0) FROM epochs "
	    "WHERE group_id = ?1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	if ((r = kms_db_one(db, st)) == MQE2E_OK)
		*max = kms_db_int(st, 0);
	kms_db_release(db, st);
	return r;
}

int
kms_store_epoch_add(struct kms_db *db, int64_t group_id, uint32_t epoch, const char *state,
    const char *cause, int64_t now, const uint8_t gk_p[KMS_SEALED_LEN],
    const uint8_t gk_b[KMS_SEALED_LEN])
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "INSERT INTO epochs (group_id, epoch, state, created, "
	    "activated, gk_p, gk_b, cause) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)) !=
	    MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int64(st, 2, epoch);
	sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if (strcmp(state, "current") == 0)
		sqlite3_bind_int64(st, 5, now);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_blob(st, 6, gk_p, KMS_SEALED_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, gk_b, KMS_SEALED_LEN, SQLITE_STATIC);
	if (strcmp(state, "current") == 0 && cause != NULL)
		sqlite3_bind_text(st, 8, cause, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	return kms_db_run(db, st);
}

/* Run sql with ?1 = now, ?2 = group id, ?3 = until (statements that do not
 * use some of them ignore those bindings). */
static int
update(struct kms_db *db, const char *sql, int64_t now, int64_t group_id, int64_t until)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, sql, &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, group_id);
	sqlite3_bind_int64(st, 3, until);
	return kms_db_run(db, st);
}

int
kms_store_epoch_retire_current(struct kms_db *db, int64_t group_id, int64_t now, int64_t until)
{
	if (until > now)
		return update(db, "UPDATE epochs SET state = 'grace', expires = ?3 "
		    "WHERE group_id = ?2 AND state = 'current'", now, group_id, until);
	return update(db, "UPDATE epochs SET state = 'expired', expires = ?1, gk_p = NULL, "
	    "gk_b = NULL WHERE group_id = ?2 AND state = 'current'", now, group_id, until);
}

int
kms_store_epoch_void_next(struct kms_db *db, int64_t group_id, int64_t now)
{
	return update(db, "UPDATE epochs SET state = 'void', expires = ?1, gk_p = NULL, "
	    "gk_b = NULL WHERE group_id = ?2 AND state = 'next'", now, group_id, 0);
}

int
kms_store_epoch_promote_next(struct kms_db *db, int64_t group_id, int64_t now,
    const char *cause)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "UPDATE epochs SET state = 'current', activated = ?1, "
	    "cause = ?3 WHERE group_id = ?2 AND state = 'next'", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, group_id);
	sqlite3_bind_text(st, 3, cause, -1, SQLITE_STATIC);
	if ((r = kms_db_run(db, st)) != MQE2E_OK)
		return r;
	return kms_db_changes(db) == 1 ? MQE2E_OK : MQE2E_ERR_INTERNAL;
}

int
kms_store_rekey_add(struct kms_db *db, int64_t group_id, uint32_t epoch, const char *client,
    const char *reason, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "INSERT INTO rekeys (group_id, epoch, client, reason, at) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int64(st, 2, epoch);
	sqlite3_bind_text(st, 3, client, -1, SQLITE_STATIC);
	if (reason != NULL && reason[0] != '\0')
		sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 4);
	sqlite3_bind_int64(st, 5, now);
	return kms_db_run(db, st);
}

struct rekey_cb {
	int (*cb)(void *arg, const struct kms_rekey_row *row);
	void *arg;
};

static int
each_rekey(sqlite3_stmt *st, void *arg)
{
	struct rekey_cb *c = arg;
	struct kms_rekey_row row;

	memset(&row, 0, sizeof(row));
	row.epoch = (uint32_t)kms_db_int(st, 0);
	kms_db_text(st, 1, row.client, sizeof(row.client));
	kms_db_text(st, 2, row.reason, sizeof(row.reason));
	row.at = kms_db_int(st, 3);
	return c->cb(c->arg, &row);
}

int
kms_store_rekey_list(struct kms_db *db, int64_t group_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_rekey_row *row), void *arg)
{
	struct rekey_cb c = { cb, arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT epoch, client, coalesce(reason, ''), at FROM rekeys "
	    "WHERE group_id = ?1 ORDER BY at DESC, epoch DESC LIMIT ?2", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int64(st, 2, limit);
	return kms_db_each(db, st, each_rekey, &c);
}

int
kms_store_epoch_expire(struct kms_db *db, int64_t now)
{
	return update(db, "UPDATE epochs SET state = 'expired', gk_p = NULL, gk_b = NULL "
	    "WHERE state = 'grace' AND expires <= ?1", now, 0, 0);
}

int
kms_store_group_set_next_rotation(struct kms_db *db, int64_t group_id, int64_t when)
{
	return update(db, "UPDATE topic_groups SET next_rotation = ?3 WHERE id = ?2", 0,
	    group_id, when);
}

struct keys_cb {
	int (*cb)(void *arg, const struct kms_epoch_keys_row *row);
	void *arg;
};

static int
each_keys(sqlite3_stmt *st, void *arg)
{
	struct keys_cb *c = arg;
	struct kms_epoch_keys_row row;
	int r;

	memset(&row, 0, sizeof(row));
	if (sqlite3_column_bytes(st, 9) != KMS_SEALED_LEN ||
	    sqlite3_column_bytes(st, 10) != KMS_SEALED_LEN)
		return MQE2E_ERR_BAD_FORMAT;   /* a deliverable epoch without keys */
	kms_db_text(st, 0, row.group, sizeof(row.group));
	row.scheme = (int)kms_db_int(st, 1);
	row.epoch = (uint32_t)kms_db_int(st, 2);
	kms_db_text(st, 3, row.state, sizeof(row.state));
	row.activated = kms_db_int(st, 4);
	row.expires = kms_db_int(st, 5);
	row.next_rotation = kms_db_int(st, 6);
	row.rotate_s = kms_db_int(st, 7);
	row.grace_s = kms_db_int(st, 8);
	memcpy(row.gk_p, sqlite3_column_blob(st, 9), KMS_SEALED_LEN);
	memcpy(row.gk_b, sqlite3_column_blob(st, 10), KMS_SEALED_LEN);
	kms_db_text(st, 11, row.filter, sizeof(row.filter));
	row.pub = (int)kms_db_int(st, 12);
	row.sub = (int)kms_db_int(st, 13);
	r = c->cb(c->arg, &row);
	mqe2e_wipe(&row, sizeof(row));
	return r;
}

#define KEYS_COLUMNS "g.name, g.scheme, e.epoch, e.state, e.activated, e.expires, " \
	"g.next_rotation, g.rotate_s, g.grace_s, e.gk_p, e.gk_b, g.filter"

int
kms_store_epoch_keys(struct kms_db *db, int64_t client_id,
    int (*cb)(void *arg, const struct kms_epoch_keys_row *row), void *arg)
{
	struct keys_cb c = { cb, arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, client_id == 0 ?
	    "SELECT " KEYS_COLUMNS ", 0, 0 FROM topic_groups g "
	    "JOIN epochs e ON e.group_id = g.id "
	    "WHERE e.state IN ('current', 'next', 'grace') ORDER BY g.name, e.epoch" :
	    "SELECT " KEYS_COLUMNS ", max(gr.right = 'pub'), max(gr.right = 'sub') "
	    "FROM grants gr JOIN topic_groups g ON g.id = gr.group_id "
	    "JOIN epochs e ON e.group_id = g.id "
	    "WHERE gr.client_id = ?1 AND e.state IN ('current', 'next', 'grace') "
	    "GROUP BY g.id, e.epoch ORDER BY g.name, e.epoch", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, client_id);
	return kms_db_each(db, st, each_keys, &c);
}
