/*
 * model.c - row lookups (see model.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "model.h"

static void
copy_text(sqlite3_stmt *st, int col, char *out, size_t out_len)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(out, out_len, "%s", s != NULL ? (const char *)s : "");
}

int
kms_client_find(struct kms_db *db, const char *name, struct kms_client *c)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	memset(c, 0, sizeof(*c));
	if ((r = kms_db_prepare(db, "SELECT id, name, kind, created, revoked_at IS NOT NULL "
	    "FROM clients WHERE name = ?1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		c->id = sqlite3_column_int64(st, 0);
		copy_text(st, 1, c->name, sizeof(c->name));
		copy_text(st, 2, c->kind, sizeof(c->kind));
		c->created = sqlite3_column_int64(st, 3);
		c->revoked = sqlite3_column_int(st, 4);
		r = MQE2E_OK;
	} else
		r = rc == SQLITE_DONE ? MQE2E_ERR_NOT_FOUND : kms_db_error(db, rc);
	sqlite3_finalize(st);
	return r;
}

static int
group_find(struct kms_db *db, const char *name, int64_t id, struct kms_group *g)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	memset(g, 0, sizeof(*g));
	if ((r = kms_db_prepare(db, name != NULL ?
	    "SELECT id, name, filter, scheme, rotate_s, grace_s, created, next_rotation "
	    "FROM topic_groups WHERE name = ?1" :
	    "SELECT id, name, filter, scheme, rotate_s, grace_s, created, next_rotation "
	    "FROM topic_groups WHERE id = ?1", &st)) != MQE2E_OK)
		return r;
	if (name != NULL)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		g->id = sqlite3_column_int64(st, 0);
		copy_text(st, 1, g->name, sizeof(g->name));
		copy_text(st, 2, g->filter, sizeof(g->filter));
		g->scheme = sqlite3_column_int(st, 3);
		g->rotate_s = sqlite3_column_int64(st, 4);
		g->grace_s = sqlite3_column_int64(st, 5);
		g->created = sqlite3_column_int64(st, 6);
		g->next_rotation = sqlite3_column_int64(st, 7);
		r = MQE2E_OK;
	} else
		r = rc == SQLITE_DONE ? MQE2E_ERR_NOT_FOUND : kms_db_error(db, rc);
	sqlite3_finalize(st);
	return r;
}

int
kms_group_find(struct kms_db *db, const char *name, struct kms_group *g)
{
	return group_find(db, name, 0, g);
}

int
kms_group_find_id(struct kms_db *db, int64_t id, struct kms_group *g)
{
	return group_find(db, NULL, id, g);
}

int
kms_policy_bump(struct kms_db *db, uint64_t *version)
{
	int64_t v = 0;
	int r;

	if ((r = kms_db_meta_bump(db, "policy_version", &v)) != MQE2E_OK)
		return r;
	*version = (uint64_t)v;
	return MQE2E_OK;
}
