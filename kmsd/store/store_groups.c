/*
 * store_groups.c - topic groups and grants in SQLite (see store.h).
 */
#include "config.h"

#include <string.h>

#include "db.h"

int
sqlite__group_add(struct kms_db *db, const char *name, const char *filter, int scheme,
    int64_t rotate_s, int64_t grace_s, int future_epochs, int64_t now, int64_t next_rotation)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "INSERT INTO topic_groups (name, filter, scheme, rotate_s, "
	    "grace_s, created, next_rotation, future_epochs) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int(st, 8, future_epochs);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, scheme);
	sqlite3_bind_int64(st, 4, rotate_s);
	sqlite3_bind_int64(st, 5, grace_s);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, next_rotation);
	return kms_db_run(db, st);
}

static int
group_get(struct kms_db *db, const char *name, int64_t id, struct kms_group_row *row)
{
	struct kms_row cur;
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, name != NULL ?
	    "SELECT " KMS_ROW_GROUP_COLUMNS " FROM topic_groups g WHERE g.name = ?1" :
	    "SELECT " KMS_ROW_GROUP_COLUMNS " FROM topic_groups g WHERE g.id = ?1", &st)) !=
	    MQE2E_OK)
		return r;
	if (name != NULL)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	if ((r = kms_db_one(db, st)) == MQE2E_OK)
		kms_row__group(kms_db_row(&cur, st), row);
	kms_db_release(db, st);
	return r;
}

int
sqlite__group_get(struct kms_db *db, const char *name, struct kms_group_row *row)
{
	return group_get(db, name, 0, row);
}

int
sqlite__group_get_id(struct kms_db *db, int64_t id, struct kms_group_row *row)
{
	return group_get(db, NULL, id, row);
}

int
sqlite__group_list(struct kms_db *db, const char *after, unsigned limit,
    int (*cb)(void *arg, const struct kms_group_row *row), void *arg)
{
	struct kms_each c = { .cb.group = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT " KMS_ROW_GROUP_COLUMNS " FROM topic_groups g "
	    "WHERE g.name > ?1 ORDER BY g.name LIMIT ?2", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, after != NULL ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, kms_db_limit(limit));
	return kms_db_each(db, st, kms_each__group, &c);
}

int
sqlite__group_update(struct kms_db *db, const struct kms_group_row *row)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "UPDATE topic_groups SET filter = ?1, scheme = ?2, "
	    "rotate_s = ?3, grace_s = ?4, next_rotation = ?5, future_epochs = ?7 WHERE id = ?6",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int(st, 7, row->future_epochs);
	sqlite3_bind_text(st, 1, row->filter, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, row->scheme);
	sqlite3_bind_int64(st, 3, row->rotate_s);
	sqlite3_bind_int64(st, 4, row->grace_s);
	sqlite3_bind_int64(st, 5, row->next_rotation);
	sqlite3_bind_int64(st, 6, row->id);
	if ((r = kms_db_run(db, st)) != MQE2E_OK)
		return r;
	return kms_db_changes(db) == 1 ? MQE2E_OK : MQE2E_ERR_NOT_FOUND;
}

int
sqlite__group_delete(struct kms_db *db, int64_t id)
{
	static const char *const sql[] = {
		"DELETE FROM grants WHERE group_id = ?1",
		"DELETE FROM rekeys WHERE group_id = ?1",
		"DELETE FROM epochs WHERE group_id = ?1",    /* secure_delete wipes the keys */
		"DELETE FROM topic_groups WHERE id = ?1",
	};
	sqlite3_stmt *st = NULL;
	size_t i;
	int r;

	for (i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
		if ((r = kms_db_prepare(db, sql[i], &st)) != MQE2E_OK)
			return r;
		sqlite3_bind_int64(st, 1, id);
		if ((r = kms_db_run(db, st)) != MQE2E_OK)
			return r;
	}
	return kms_db_changes(db) == 1 ? MQE2E_OK : MQE2E_ERR_NOT_FOUND;
}

int
sqlite__group_due(struct kms_db *db, int64_t now, int64_t *id)
{
	sqlite3_stmt *st = NULL;
	int r;

	*id = 0;
	if ((r = kms_db_prepare(db, "SELECT id FROM topic_groups WHERE next_rotation <= ?1 "
	    "ORDER BY next_rotation LIMIT 1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, now);
	if ((r = kms_db_one(db, st)) == MQE2E_OK)
		*id = kms_db_int(st, 0);
	kms_db_release(db, st);
	return r == MQE2E_ERR_NOT_FOUND ? MQE2E_OK : r;
}

int
sqlite__groups_of_client(struct kms_db *db, int64_t client_id,
    int (*cb)(void *arg, const char *name), void *arg)
{
	struct kms_each c = { .cb.name = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT DISTINCT g.name FROM grants gr "
	    "JOIN topic_groups g ON g.id = gr.group_id WHERE gr.client_id = ?1 ORDER BY g.name",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, client_id);
	return kms_db_each(db, st, kms_each__name, &c);
}

/* ---- grants --------------------------------------------------------------------- */

int
sqlite__grant_add(struct kms_db *db, int64_t client_id, int64_t group_id, const char *right,
    int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "INSERT INTO grants (client_id, group_id, right, created) "
	    "VALUES (?1, ?2, ?3, ?4)", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, client_id);
	sqlite3_bind_int64(st, 2, group_id);
	sqlite3_bind_text(st, 3, right, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	return kms_db_run(db, st);
}

int
sqlite__grant_delete(struct kms_db *db, const char *client, const char *group,
    const char *right)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "DELETE FROM grants WHERE right = ?3 AND "
	    "client_id = (SELECT id FROM clients WHERE name = ?1) AND "
	    "group_id = (SELECT id FROM topic_groups WHERE name = ?2)", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, right, -1, SQLITE_STATIC);
	if ((r = kms_db_run(db, st)) != MQE2E_OK)
		return r;
	return kms_db_changes(db) == 0 ? MQE2E_ERR_NOT_FOUND : MQE2E_OK;
}

int
sqlite__grant_list(struct kms_db *db, const char *client, const char *group,
    const char *after_client, const char *after_group, const char *after_right,
    unsigned limit, int (*cb)(void *arg, const struct kms_grant_row *row), void *arg)
{
	struct kms_each c = { .cb.grant = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT c.name, g.name, gr.right, gr.created "
	    "FROM grants gr JOIN clients c ON c.id = gr.client_id "
	    "JOIN topic_groups g ON g.id = gr.group_id "
	    "WHERE (?1 IS NULL OR c.name = ?1) AND (?2 IS NULL OR g.name = ?2) AND "
	    "(c.name, g.name, gr.right) > (?3, ?4, ?5) "
	    "ORDER BY c.name, g.name, gr.right LIMIT ?6", &st)) != MQE2E_OK)
		return r;
	if (client != NULL)
		sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
	if (group != NULL)
		sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, after_client != NULL ? after_client : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, after_group != NULL ? after_group : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, after_right != NULL ? after_right : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, kms_db_limit(limit));
	return kms_db_each(db, st, kms_each__grant, &c);
}
