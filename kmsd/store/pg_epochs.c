/*
 * pg_epochs.c - epochs and their sealed group keys in PostgreSQL (see
 * store.h and the SQLite twin store_epochs.c).  Erasing an epoch's keys
 * sets the columns to NULL; the old row versions are reclaimed by
 * (auto)VACUUM.  The life-cycle rules are epoch.c's: this file only reads
 * and writes rows.
 */
#include "config.h"

#include <string.h>

#include "pg.h"

/* An optional time (0: NULL) or text ("": NULL). */
static void
arg_time(struct pg_args *a, int64_t t)
{
	if (t != 0)
		pg_arg_int(a, t);
	else
		pg_arg_text(a, NULL);
}

static void
arg_opt_text(struct pg_args *a, const char *s)
{
	pg_arg_text(a, s[0] != '\0' ? s : NULL);
}

int
pg__epoch_list(struct kms_db *db, int64_t group_id,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs "
	    "WHERE group_id = $1 ORDER BY epoch");
	struct kms_each c = { .cb.epoch = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	return pg__each(db, &q, &a, kms_each__epoch, &c);
}

int
pg__epoch_list_next(struct kms_db *db, int64_t group_id,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs "
	    "WHERE group_id = $1 AND state = '" KMS_EPOCH_NEXT_NAME "' ORDER BY epoch");
	struct kms_each c = { .cb.epoch = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	return pg__each(db, &q, &a, kms_each__epoch, &c);
}

int
pg__epoch_list_newest(struct kms_db *db, int64_t group_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT * FROM (SELECT " KMS_ROW_EPOCH_COLUMNS
	    " FROM epochs WHERE group_id = $1 ORDER BY epoch DESC LIMIT $2) AS newest "
	    "ORDER BY epoch");
	struct kms_each c = { .cb.epoch = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	pg_arg_int(&a, limit == 0 ? INT64_MAX : (int64_t)limit);
	return pg__each(db, &q, &a, kms_each__epoch, &c);
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
pg__epoch_get(struct kms_db *db, int64_t group_id, enum kms_epoch_state state,
    struct kms_epoch_row *row)
{
	/* The state as a literal, so that the partial unique index applies. */
	static struct pg_query current = PG_QUERY("SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs "
	    "WHERE group_id = $1 AND state = '" KMS_EPOCH_CURRENT_NAME "'");
	static struct pg_query next = PG_QUERY("SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs "
	    "WHERE group_id = $1 AND state = '" KMS_EPOCH_NEXT_NAME "' ORDER BY epoch LIMIT 1");
	struct pg_args a = PG_ARGS_INIT;
	struct kms_row cur;
	PGresult *res = NULL;
	int r;

	if (state != KMS_EPOCH_CURRENT && state != KMS_EPOCH_NEXT)
		return MQE2E_ERR_INVALID_ARG;
	pg_arg_int(&a, group_id);
	if ((r = pg__one(db, state == KMS_EPOCH_CURRENT ? &current : &next, &a, &res)) ==
	    MQE2E_OK)
		r = kms_row__epoch(pg_row(&cur, res, 0), 0, row);
	PQclear(res);
	return r;
}

int
pg__epoch_add(struct kms_db *db, int64_t group_id, const struct kms_epoch_row *row,
    const uint8_t gk_p[KMS_SEALED_LEN], const uint8_t gk_b[KMS_SEALED_LEN])
{
	static struct pg_query q = PG_QUERY("INSERT INTO epochs (group_id, epoch, state, created, "
	    "activated, expires, gk_p, gk_b, cause) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	pg_arg_int(&a, row->epoch);
	pg_arg_text(&a, kms_epoch_state_name(row->state));
	pg_arg_int(&a, row->created);
	arg_time(&a, row->activated);
	arg_time(&a, row->expires);
	pg_arg_blob(&a, gk_p, KMS_SEALED_LEN);
	pg_arg_blob(&a, gk_b, KMS_SEALED_LEN);
	arg_opt_text(&a, row->cause);
	return pg__exec(db, &q, &a, NULL, NULL);
}

int
pg__epoch_update(struct kms_db *db, int64_t group_id, const struct kms_epoch_row *row,
    int drop_keys)
{
	static struct pg_query keep = PG_QUERY("UPDATE epochs SET state = $3, activated = $4, "
	    "expires = $5, cause = $6 WHERE group_id = $1 AND epoch = $2");
	static struct pg_query drop = PG_QUERY("UPDATE epochs SET state = $3, activated = $4, "
	    "expires = $5, cause = $6, gk_p = NULL, gk_b = NULL WHERE group_id = $1 AND epoch = $2");
	struct pg_args a = PG_ARGS_INIT;
	int64_t n = 0;
	int r;

	pg_arg_int(&a, group_id);
	pg_arg_int(&a, row->epoch);
	pg_arg_text(&a, kms_epoch_state_name(row->state));
	arg_time(&a, row->activated);
	arg_time(&a, row->expires);
	arg_opt_text(&a, row->cause);
	if ((r = pg__exec(db, drop_keys ? &drop : &keep, &a, NULL, &n)) != MQE2E_OK)
		return r;
	return n == 1 ? MQE2E_OK : MQE2E_ERR_NOT_FOUND;
}

int
pg__epochs_ending(struct kms_db *db, enum kms_epoch_state state, int64_t before,
    unsigned limit, int (*cb)(void *arg, int64_t group_id, const struct kms_epoch_row *row),
    void *arg)
{
	/* Grace, the state that ends on time, as a literal: the partial index
	 * epochs_grace_expires serves this once-a-second query. */
	static struct pg_query grace = PG_QUERY("SELECT group_id, " KMS_ROW_EPOCH_COLUMNS
	    " FROM epochs WHERE state = '" KMS_EPOCH_GRACE_NAME "' AND expires <= $1 "
	    "ORDER BY expires LIMIT $2::bigint");
	static struct pg_query other = PG_QUERY("SELECT group_id, " KMS_ROW_EPOCH_COLUMNS
	    " FROM epochs WHERE state = $3 AND expires <= $1 ORDER BY expires LIMIT $2::bigint");
	struct kms_each c = { .cb.ending = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, before);
	pg_arg_limit(&a, limit);
	if (state != KMS_EPOCH_GRACE)
		pg_arg_text(&a, kms_epoch_state_name(state));
	return pg__each(db, state == KMS_EPOCH_GRACE ? &grace : &other, &a, kms_each__ending, &c);
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

int
pg__rekey_list(struct kms_db *db, int64_t group_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_rekey_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT epoch, client, coalesce(reason, ''), at "
	    "FROM rekeys WHERE group_id = $1 ORDER BY at DESC, epoch DESC LIMIT $2::bigint");
	struct kms_each c = { .cb.rekey = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	pg_arg_int(&a, limit);   /* not pg_arg_limit: 0 lists none, as in SQLite */
	return pg__each(db, &q, &a, kms_each__rekey, &c);
}

int
pg__group_set_next_rotation(struct kms_db *db, int64_t group_id, int64_t when)
{
	static struct pg_query q = PG_QUERY("UPDATE topic_groups SET next_rotation = $2 "
	    "WHERE id = $1");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, group_id);
	pg_arg_int(&a, when);
	return pg__exec(db, &q, &a, NULL, NULL);
}

/* The groups of a key query: a client's (with its rights) or every group
 * (a broker), one ($2 exact) or a page ($2 after, $3 at most). */
#define KEYS_SEL_CLIENT(namecond) "SELECT g.id, g.name, g.scheme, g.filter, " \
	"g.next_rotation, g.rotate_s, g.grace_s, bool_or(gr.\"right\" = 'pub')::int AS pub, " \
	"bool_or(gr.\"right\" = 'sub')::int AS sub FROM grants gr " \
	"JOIN topic_groups g ON g.id = gr.group_id WHERE gr.client_id = $1 AND " namecond \
	" GROUP BY g.id ORDER BY g.name LIMIT $3::bigint"
#define KEYS_SEL_BROKER(namecond) "SELECT g.id, g.name, g.scheme, g.filter, " \
	"g.next_rotation, g.rotate_s, g.grace_s, 0 AS pub, 0 AS sub FROM topic_groups g " \
	"WHERE $1::bigint = 0 AND " namecond " ORDER BY g.name LIMIT $3::bigint"
/* Their windows: current, next, the $4 newest grace epochs, grace epoch $5. */
#define KEYS_WINDOW(sel) "WITH sel AS (" sel ") SELECT sel.name, sel.scheme, e.epoch, " \
	"e.state, e.activated, e.expires, sel.next_rotation, sel.rotate_s, sel.grace_s, " \
	"e.gk_p, e.gk_b, sel.filter, sel.pub, sel.sub FROM sel JOIN epochs e " \
	"ON e.group_id = sel.id WHERE e.state IN ('" KMS_EPOCH_CURRENT_NAME "', '" \
	KMS_EPOCH_NEXT_NAME "') OR (e.state = '" KMS_EPOCH_GRACE_NAME "' AND (e.epoch = $5 " \
	"OR e.epoch IN (SELECT x.epoch FROM epochs x WHERE x.group_id = sel.id AND " \
	"x.state = '" KMS_EPOCH_GRACE_NAME "' ORDER BY x.epoch DESC LIMIT $4::bigint))) " \
	"ORDER BY sel.name, e.epoch"

int
pg__epoch_keys(struct kms_db *db, const struct kms_keys_query *q,
    int (*cb)(void *arg, const struct kms_epoch_keys_row *row), void *arg)
{
	static struct pg_query sql[2][2] = {
		{ PG_QUERY(KEYS_WINDOW(KEYS_SEL_BROKER("g.name > $2::text"))),
		  PG_QUERY(KEYS_WINDOW(KEYS_SEL_BROKER("g.name = $2::text"))) },
		{ PG_QUERY(KEYS_WINDOW(KEYS_SEL_CLIENT("g.name > $2::text"))),
		  PG_QUERY(KEYS_WINDOW(KEYS_SEL_CLIENT("g.name = $2::text"))) },
	};
	struct kms_each c = { .cb.keys = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, q->client_id);
	pg_arg_text(&a, q->group != NULL ? q->group : q->after != NULL ? q->after : "");
	pg_arg_limit(&a, q->group != NULL ? 1 : q->max_groups);
	pg_arg_int(&a, q->grace > 1024 ? 1024 : q->grace);
	pg_arg_int(&a, q->epoch);
	return pg__each(db, &sql[q->client_id != 0][q->group != NULL], &a, kms_each__keys, &c);
}
