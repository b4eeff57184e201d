/*
 * pg_epochs.c - epochs and their sealed group keys in PostgreSQL (see
 * store.h and the SQLite twin store_epochs.c).  Retiring an epoch to
 * expired or void sets its keys to NULL; the old row versions are reclaimed
 * by (auto)VACUUM.
 */
#include "config.h"

#include <string.h>

#include "pg.h"

struct epoch_cb {
	int (*cb)(void *arg, const struct kms_epoch_row *row);
	void *arg;
};

static int
each_epoch(const PGresult *res, int i, void *arg)
{
	struct epoch_cb *c = arg;
	struct kms_epoch_row row;

	memset(&row, 0, sizeof(row));
	row.epoch = (uint32_t)pg_int(res, i, 0);
	pg_text(res, i, 1, row.state, sizeof(row.state));
	row.created = pg_int(res, i, 2);
	row.activated = pg_int(res, i, 3);
	row.expires = pg_int(res, i, 4);
	pg_text(res, i, 5, row.cause, sizeof(row.cause));
	return c->cb(c->arg, &row);
}

int
pg__epoch_list(struct kms_db *db, int64_t group_id,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT epoch, state, created, activated, expires, "
	    "coalesce(cause, '') FROM epochs WHERE group_id = $1 ORDER BY epoch");
	struct epoch_cb c = { cb, arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	return pg__each(db, &q, &a, each_epoch, &c);
}

int
pg__epoch_max(struct kms_db *db, int64_t group_id, int64_t *max)
{
	static struct pg_query q = PG_QUERY("SELECT coalesce(max(epoch), 0) FROM epochs "
	    "WHERE group_id = $1");
	struct pg_args a = PG_ARGS_INIT;
	PGresult *res = NULL;
	int r;

	*max = 0;
	pg_arg_int(&a, group_id);
	if ((r = pg__one(db, &q, &a, &res)) == MQE2E_OK)
		*max = pg_int(res, 0, 0);
	PQclear(res);
	return r;
}

int
pg__epoch_add(struct kms_db *db, int64_t group_id, uint32_t epoch, const char *state,
    const char *cause, int64_t now, const uint8_t gk_p[KMS_SEALED_LEN],
    const uint8_t gk_b[KMS_SEALED_LEN])
{
	static struct pg_query q = PG_QUERY("INSERT INTO epochs (group_id, epoch, state, created, "
	    "activated, gk_p, gk_b, cause) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
	struct pg_args a = PG_ARGS_INIT;
	int current = strcmp(state, "current") == 0;

	pg_arg_int(&a, group_id);
	pg_arg_int(&a, epoch);
	pg_arg_text(&a, state);
	pg_arg_int(&a, now);
	if (current)
		pg_arg_int(&a, now);
	else
		pg_arg_text(&a, NULL);
	pg_arg_blob(&a, gk_p, KMS_SEALED_LEN);
	pg_arg_blob(&a, gk_b, KMS_SEALED_LEN);
	pg_arg_text(&a, current ? cause : NULL);
	return pg__exec(db, &q, &a, NULL, NULL);
}

/* Run q with $1 = a, $2 = b. */
static int
update(struct kms_db *db, struct pg_query *q, int64_t a1, int64_t a2)
{
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, a1);
	pg_arg_int(&a, a2);
	return pg__exec(db, q, &a, NULL, NULL);
}

int
pg__epoch_retire_current(struct kms_db *db, int64_t group_id, int64_t now, int64_t until)
{
	static struct pg_query grace = PG_QUERY("UPDATE epochs SET state = 'grace', expires = $2 "
	    "WHERE group_id = $1 AND state = 'current'");
	static struct pg_query expired = PG_QUERY("UPDATE epochs SET state = 'expired', "
	    "expires = $2, gk_p = NULL, gk_b = NULL WHERE group_id = $1 AND state = 'current'");

	if (until > now)
		return update(db, &grace, group_id, until);
	return update(db, &expired, group_id, now);
}

int
pg__epoch_void_next(struct kms_db *db, int64_t group_id, int64_t now)
{
	static struct pg_query q = PG_QUERY("UPDATE epochs SET state = 'void', expires = $2, "
	    "gk_p = NULL, gk_b = NULL WHERE group_id = $1 AND state = 'next'");

	return update(db, &q, group_id, now);
}

int
pg__epoch_promote_next(struct kms_db *db, int64_t group_id, int64_t now, const char *cause)
{
	static struct pg_query q = PG_QUERY("UPDATE epochs SET state = 'current', activated = $1, "
	    "cause = $3 WHERE group_id = $2 AND state = 'next'");
	struct pg_args a = PG_ARGS_INIT;
	int64_t n = 0;
	int r;

	pg_arg_int(&a, now);
	pg_arg_int(&a, group_id);
	pg_arg_text(&a, cause);
	if ((r = pg__exec(db, &q, &a, NULL, &n)) != MQE2E_OK)
		return r;
	return n == 1 ? MQE2E_OK : MQE2E_ERR_INTERNAL;
}

int
pg__rekey_add(struct kms_db *db, int64_t group_id, uint32_t epoch, const char *client,
    const char *reason, int64_t now)
{
	static struct pg_query q = PG_QUERY("INSERT INTO rekeys (group_id, epoch, client, reason, "
	    "at) VALUES ($1, $2, $3, $4, $5)");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	pg_arg_int(&a, epoch);
	pg_arg_text(&a, client);
	pg_arg_text(&a, reason != NULL && reason[0] != '\0' ? reason : NULL);
	pg_arg_int(&a, now);
	return pg__exec(db, &q, &a, NULL, NULL);
}

struct rekey_cb {
	int (*cb)(void *arg, const struct kms_rekey_row *row);
	void *arg;
};

static int
each_rekey(const PGresult *res, int i, void *arg)
{
	struct rekey_cb *c = arg;
	struct kms_rekey_row row;

	memset(&row, 0, sizeof(row));
	row.epoch = (uint32_t)pg_int(res, i, 0);
	pg_text(res, i, 1, row.client, sizeof(row.client));
	pg_text(res, i, 2, row.reason, sizeof(row.reason));
	row.at = pg_int(res, i, 3);
	return c->cb(c->arg, &row);
}

int
pg__rekey_list(struct kms_db *db, int64_t group_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_rekey_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT epoch, client, coalesce(reason, ''), at "
	    "FROM rekeys WHERE group_id = $1 ORDER BY at DESC, epoch DESC LIMIT $2::bigint");
	struct rekey_cb c = { cb, arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	pg_arg_int(&a, limit);   /* not pg_arg_limit: 0 lists none, as in SQLite */
	return pg__each(db, &q, &a, each_rekey, &c);
}

int
pg__epoch_expire(struct kms_db *db, int64_t now)
{
	static struct pg_query q = PG_QUERY("UPDATE epochs SET state = 'expired', gk_p = NULL, "
	    "gk_b = NULL WHERE state = 'grace' AND expires <= $1");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, now);
	return pg__exec(db, &q, &a, NULL, NULL);
}

int
pg__group_set_next_rotation(struct kms_db *db, int64_t group_id, int64_t when)
{
	static struct pg_query q = PG_QUERY("UPDATE topic_groups SET next_rotation = $2 "
	    "WHERE id = $1");

	return update(db, &q, group_id, when);
}

struct keys_cb {
	int (*cb)(void *arg, const struct kms_epoch_keys_row *row);
	void *arg;
};

static int
each_keys(const PGresult *res, int i, void *arg)
{
	struct keys_cb *c = arg;
	struct kms_epoch_keys_row row;
	int r;

	memset(&row, 0, sizeof(row));
	if (pg_blob(res, i, 9, row.gk_p, KMS_SEALED_LEN) != MQE2E_OK ||
	    pg_blob(res, i, 10, row.gk_b, KMS_SEALED_LEN) != MQE2E_OK) {
		mqe2e_wipe(&row, sizeof(row));
		return MQE2E_ERR_BAD_FORMAT;   /* a deliverable epoch without keys */
	}
	pg_text(res, i, 0, row.group, sizeof(row.group));
	row.scheme = (int)pg_int(res, i, 1);
	row.epoch = (uint32_t)pg_int(res, i, 2);
	pg_text(res, i, 3, row.state, sizeof(row.state));
	row.activated = pg_int(res, i, 4);
	row.expires = pg_int(res, i, 5);
	row.next_rotation = pg_int(res, i, 6);
	row.rotate_s = pg_int(res, i, 7);
	row.grace_s = pg_int(res, i, 8);
	pg_text(res, i, 11, row.filter, sizeof(row.filter));
	row.pub = (int)pg_int(res, i, 12);
	row.sub = (int)pg_int(res, i, 13);
	r = c->cb(c->arg, &row);
	mqe2e_wipe(&row, sizeof(row));
	return r;
}

#define KEYS_COLUMNS "g.name, g.scheme, e.epoch, e.state, e.activated, e.expires, " \
	"g.next_rotation, g.rotate_s, g.grace_s, e.gk_p, e.gk_b, g.filter"

int
pg__epoch_keys(struct kms_db *db, int64_t client_id,
    int (*cb)(void *arg, const struct kms_epoch_keys_row *row), void *arg)
{
	static struct pg_query broker = PG_QUERY("SELECT " KEYS_COLUMNS ", 0, 0 "
	    "FROM topic_groups g JOIN epochs e ON e.group_id = g.id "
	    "WHERE e.state IN ('current', 'next', 'grace') ORDER BY g.name, e.epoch");
	static struct pg_query client = PG_QUERY("SELECT " KEYS_COLUMNS ", "
	    "EXISTS (SELECT 1 FROM grants WHERE client_id = $1 AND group_id = g.id AND "
	    "\"right\" = 'pub')::int, "
	    "EXISTS (SELECT 1 FROM grants WHERE client_id = $1 AND group_id = g.id AND "
	    "\"right\" = 'sub')::int "
	    "FROM topic_groups g JOIN epochs e ON e.group_id = g.id "
	    "WHERE g.id IN (SELECT group_id FROM grants WHERE client_id = $1) AND "
	    "e.state IN ('current', 'next', 'grace') ORDER BY g.name, e.epoch");
	struct keys_cb c = { cb, arg };
	struct pg_args a = PG_ARGS_INIT;

	if (client_id == 0)
		return pg__each(db, &broker, NULL, each_keys, &c);
	pg_arg_int(&a, client_id);
	return pg__each(db, &client, &a, each_keys, &c);
}
