/*
 * pg_groups.c - topic groups and grants in PostgreSQL (see store.h and the
 * SQLite twin store_groups.c).
 */
#include "config.h"

#include <string.h>

#include "pg.h"

int
pg__group_add(struct kms_db *db, const char *name, const char *filter, int scheme,
    int64_t rotate_s, int64_t grace_s, int future_epochs, int64_t now, int64_t next_rotation)
{
	static struct pg_query q = PG_QUERY("INSERT INTO topic_groups (name, filter, scheme, "
	    "rotate_s, grace_s, created, next_rotation, future_epochs) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_text(&a, name);
	pg_arg_text(&a, filter);
	pg_arg_int(&a, scheme);
	pg_arg_int(&a, rotate_s);
	pg_arg_int(&a, grace_s);
	pg_arg_int(&a, now);
	pg_arg_int(&a, next_rotation);
	pg_arg_int(&a, future_epochs);
	return pg__exec(db, &q, &a, NULL, NULL);
}

/* A group by name, or (name NULL) by id. */
static int
group_get(struct kms_db *db, const char *name, int64_t id, struct kms_group_row *row)
{
	static struct pg_query by_name = PG_QUERY("SELECT " KMS_ROW_GROUP_COLUMNS
	    " FROM topic_groups g WHERE g.name = $1");
	static struct pg_query by_id = PG_QUERY("SELECT " KMS_ROW_GROUP_COLUMNS
	    " FROM topic_groups g WHERE g.id = $1");
	struct pg_args a = PG_ARGS_INIT;
	struct kms_row cur;
	PGresult *res = NULL;
	int r;

	if (name != NULL)
		pg_arg_text(&a, name);
	else
		pg_arg_int(&a, id);
	if ((r = pg__one(db, name != NULL ? &by_name : &by_id, &a, &res)) == MQE2E_OK)
		kms_row__group(pg_row(&cur, res, 0), row);
	PQclear(res);
	return r;
}

int
pg__group_get(struct kms_db *db, const char *name, struct kms_group_row *row)
{
	return group_get(db, name, 0, row);
}

int
pg__group_get_id(struct kms_db *db, int64_t id, struct kms_group_row *row)
{
	return group_get(db, NULL, id, row);
}

int
pg__group_list(struct kms_db *db, const char *after, unsigned limit,
    int (*cb)(void *arg, const struct kms_group_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT " KMS_ROW_GROUP_COLUMNS " FROM topic_groups g "
	    "WHERE g.name > $1 ORDER BY g.name LIMIT $2::bigint");
	struct kms_each c = { .cb.group = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_text(&a, after != NULL ? after : "");
	pg_arg_limit(&a, limit);
	return pg__each(db, &q, &a, kms_each__group, &c);
}

int
pg__group_update(struct kms_db *db, const struct kms_group_row *row)
{
	static struct pg_query q = PG_QUERY("UPDATE topic_groups SET filter = $1, scheme = $2, "
	    "rotate_s = $3, grace_s = $4, next_rotation = $5, future_epochs = $7 WHERE id = $6");
	struct pg_args a = PG_ARGS_INIT;
	int64_t n = 0;
	int r;

	pg_arg_text(&a, row->filter);
	pg_arg_int(&a, row->scheme);
	pg_arg_int(&a, row->rotate_s);
	pg_arg_int(&a, row->grace_s);
	pg_arg_int(&a, row->next_rotation);
	pg_arg_int(&a, row->id);
	pg_arg_int(&a, row->future_epochs);
	if ((r = pg__exec(db, &q, &a, NULL, &n)) != MQE2E_OK)
		return r;
	return n == 1 ? MQE2E_OK : MQE2E_ERR_NOT_FOUND;
}

int
pg__group_delete(struct kms_db *db, int64_t id)
{
	/* The deleted keys stay in the table's old row versions until VACUUM
	 * (autovacuum) reclaims them; they are sealed under the master key,
	 * which is not in the database. */
	static struct pg_query q[] = {
		PG_QUERY("DELETE FROM grants WHERE group_id = $1"),
		PG_QUERY("DELETE FROM rekeys WHERE group_id = $1"),
		PG_QUERY("DELETE FROM epochs WHERE group_id = $1"),
		PG_QUERY("DELETE FROM topic_groups WHERE id = $1"),
	};
	struct pg_args a = PG_ARGS_INIT;
	int64_t n = 0;
	size_t i;
	int r;

	pg_arg_int(&a, id);
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		if ((r = pg__exec(db, &q[i], &a, NULL, &n)) != MQE2E_OK)
			return r;
	return n == 1 ? MQE2E_OK : MQE2E_ERR_NOT_FOUND;
}

int
pg__group_due(struct kms_db *db, int64_t now, int64_t *id)
{
	static struct pg_query q = PG_QUERY("SELECT id FROM topic_groups WHERE next_rotation <= $1 "
	    "ORDER BY next_rotation LIMIT 1");
	struct pg_args a = PG_ARGS_INIT;
	PGresult *res = NULL;
	int r;

	*id = 0;
	pg_arg_int(&a, now);
	if ((r = pg__one(db, &q, &a, &res)) == MQE2E_OK)
		*id = pg_int(res, 0, 0);
	PQclear(res);
	return r == MQE2E_ERR_NOT_FOUND ? MQE2E_OK : r;
}

int
pg__groups_of_client(struct kms_db *db, int64_t client_id,
    int (*cb)(void *arg, const char *name), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT DISTINCT g.name FROM grants gr "
	    "JOIN topic_groups g ON g.id = gr.group_id WHERE gr.client_id = $1 ORDER BY g.name");
	struct kms_each c = { .cb.name = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, client_id);
	return pg__each(db, &q, &a, kms_each__name, &c);
}

/* ---- grants --------------------------------------------------------------------- */

int
pg__grant_add(struct kms_db *db, int64_t client_id, int64_t group_id, const char *right,
    int64_t now)
{
	static struct pg_query q = PG_QUERY("INSERT INTO grants (client_id, group_id, \"right\", "
	    "created) VALUES ($1, $2, $3, $4)");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, client_id);
	pg_arg_int(&a, group_id);
	pg_arg_text(&a, right);
	pg_arg_int(&a, now);
	return pg__exec(db, &q, &a, NULL, NULL);
}

int
pg__grant_delete(struct kms_db *db, const char *client, const char *group, const char *right)
{
	static struct pg_query q = PG_QUERY("DELETE FROM grants WHERE \"right\" = $3 AND "
	    "client_id = (SELECT id FROM clients WHERE name = $1) AND "
	    "group_id = (SELECT id FROM topic_groups WHERE name = $2)");
	struct pg_args a = PG_ARGS_INIT;
	int64_t n = 0;
	int r;

	pg_arg_text(&a, client);
	pg_arg_text(&a, group);
	pg_arg_text(&a, right);
	if ((r = pg__exec(db, &q, &a, NULL, &n)) != MQE2E_OK)
		return r;
	return n == 0 ? MQE2E_ERR_NOT_FOUND : MQE2E_OK;
}

int
pg__grant_list(struct kms_db *db, const char *client, const char *group,
    const char *after_client, const char *after_group, const char *after_right,
    unsigned limit, int (*cb)(void *arg, const struct kms_grant_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT c.name, g.name, gr.\"right\", gr.created "
	    "FROM grants gr JOIN clients c ON c.id = gr.client_id "
	    "JOIN topic_groups g ON g.id = gr.group_id "
	    "WHERE ($1::text IS NULL OR c.name = $1::text) AND "
	    "($2::text IS NULL OR g.name = $2::text) AND "
	    "(c.name, g.name, gr.\"right\") > ($3::text, $4::text, $5::text) "
	    "ORDER BY c.name, g.name, gr.\"right\" LIMIT $6::bigint");
	struct kms_each c = { .cb.grant = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_text(&a, client);
	pg_arg_text(&a, group);
	pg_arg_text(&a, after_client != NULL ? after_client : "");
	pg_arg_text(&a, after_group != NULL ? after_group : "");
	pg_arg_text(&a, after_right != NULL ? after_right : "");
	pg_arg_limit(&a, limit);
	return pg__each(db, &q, &a, kms_each__grant, &c);
}
