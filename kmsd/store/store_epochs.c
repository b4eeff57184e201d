/*
 * store_epochs.c - epochs and their sealed group keys in SQLite (see
 * store.h).  Erasing an epoch's keys sets the columns to NULL;
 * secure_delete overwrites the freed space.  The life-cycle rules are
 * epoch.c's: this file only reads and writes rows.
 */
#include "config.h"

#include <string.h>

#include "db.h"

/* Bind an optional time (0: NULL) or text ("": NULL). */
static void
bind_time(sqlite3_stmt *st, int i, int64_t t)
{
	if (t != 0)
		sqlite3_bind_int64(st, i, t);
	else
		sqlite3_bind_null(st, i);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s[0] != '\0')
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int
sqlite__epoch_list(struct kms_db *db, int64_t group_id,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg)
{
	struct kms_each c = { .cb.epoch = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs "
	    "WHERE group_id = ?1 ORDER BY epoch", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	return kms_db_each(db, st, kms_each__epoch, &c);
}

int
sqlite__epoch_list_newest(struct kms_db *db, int64_t group_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg)
{
	struct kms_each c = { .cb.epoch = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT * FROM (SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs "
	    "WHERE group_id = ?1 ORDER BY epoch DESC LIMIT ?2) ORDER BY epoch", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int(st, 2, kms_db_limit(limit));
	return kms_db_each(db, st, kms_each__epoch, &c);
}

int
sqlite__epoch_list_next(struct kms_db *db, int64_t group_id,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg)
{
	struct kms_each c = { .cb.epoch = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs "
	    "WHERE group_id = ?1 AND state = '" KMS_EPOCH_NEXT_NAME "' ORDER BY epoch",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	return kms_db_each(db, st, kms_each__epoch, &c);
}

int
sqlite__epoch_max(struct kms_db *db, int64_t group_id, int64_t *max)
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
sqlite__epoch_get(struct kms_db *db, int64_t group_id, enum kms_epoch_state state,
    struct kms_epoch_row *row)
{
	struct kms_row cur;
	sqlite3_stmt *st = NULL;
	const char *sql;
	int r;

	/* The state as a literal, so that the partial unique indexes apply. */
	if (state == KMS_EPOCH_CURRENT)
		sql = "SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs WHERE group_id = ?1 AND "
		    "state = '" KMS_EPOCH_CURRENT_NAME "'";
	else if (state == KMS_EPOCH_NEXT)
		sql = "SELECT " KMS_ROW_EPOCH_COLUMNS " FROM epochs WHERE group_id = ?1 AND "
		    "state = '" KMS_EPOCH_NEXT_NAME "' ORDER BY epoch LIMIT 1";
	else
		return MQE2E_ERR_INVALID_ARG;
	if ((r = kms_db_prepare(db, sql, &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	if ((r = kms_db_one(db, st)) == MQE2E_OK)
		r = kms_row__epoch(kms_db_row(&cur, st), 0, row);
	kms_db_release(db, st);
	return r;
}

int
sqlite__epoch_add(struct kms_db *db, int64_t group_id, const struct kms_epoch_row *row,
    const uint8_t gk_p[KMS_SEALED_LEN], const uint8_t gk_b[KMS_SEALED_LEN])
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "INSERT INTO epochs (group_id, epoch, state, created, "
	    "activated, expires, gk_p, gk_b, cause) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int64(st, 2, row->epoch);
	sqlite3_bind_text(st, 3, kms_epoch_state_name(row->state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, row->created);
	bind_time(st, 5, row->activated);
	bind_time(st, 6, row->expires);
	sqlite3_bind_blob(st, 7, gk_p, KMS_SEALED_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, gk_b, KMS_SEALED_LEN, SQLITE_STATIC);
	bind_text(st, 9, row->cause);
	return kms_db_run(db, st);
}

int
sqlite__epoch_update(struct kms_db *db, int64_t group_id, const struct kms_epoch_row *row,
    int drop_keys)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, drop_keys ?
	    "UPDATE epochs SET state = ?3, activated = ?4, expires = ?5, cause = ?6, "
	    "gk_p = NULL, gk_b = NULL WHERE group_id = ?1 AND epoch = ?2" :
	    "UPDATE epochs SET state = ?3, activated = ?4, expires = ?5, cause = ?6 "
	    "WHERE group_id = ?1 AND epoch = ?2", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int64(st, 2, row->epoch);
	sqlite3_bind_text(st, 3, kms_epoch_state_name(row->state), -1, SQLITE_STATIC);
	bind_time(st, 4, row->activated);
	bind_time(st, 5, row->expires);
	bind_text(st, 6, row->cause);
	if ((r = kms_db_run(db, st)) != MQE2E_OK)
		return r;
	return kms_db_changes(db) == 1 ? MQE2E_OK : MQE2E_ERR_NOT_FOUND;
}

int
sqlite__epochs_ending(struct kms_db *db, enum kms_epoch_state state, int64_t before,
    unsigned limit, int (*cb)(void *arg, int64_t group_id, const struct kms_epoch_row *row),
    void *arg)
{
	struct kms_each c = { .cb.ending = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	/* Grace, the state that ends on time, as a literal: the partial index
	 * epochs_grace_expires serves this once-a-second query. */
	if ((r = kms_db_prepare(db, state == KMS_EPOCH_GRACE ?
	    "SELECT group_id, " KMS_ROW_EPOCH_COLUMNS " FROM epochs WHERE state = '"
	    KMS_EPOCH_GRACE_NAME "' AND expires <= ?1 ORDER BY expires LIMIT ?2" :
	    "SELECT group_id, " KMS_ROW_EPOCH_COLUMNS " FROM epochs WHERE state = ?3 AND "
	    "expires <= ?1 ORDER BY expires LIMIT ?2", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, kms_db_limit(limit));
	if (state != KMS_EPOCH_GRACE)
		sqlite3_bind_text(st, 3, kms_epoch_state_name(state), -1, SQLITE_STATIC);
	return kms_db_each(db, st, kms_each__ending, &c);
}

int
sqlite__rekey_add(struct kms_db *db, int64_t group_id, uint32_t epoch, const char *client,
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

int
sqlite__rekey_list(struct kms_db *db, int64_t group_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_rekey_row *row), void *arg)
{
	struct kms_each c = { .cb.rekey = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT epoch, client, coalesce(reason, ''), at FROM rekeys "
	    "WHERE group_id = ?1 ORDER BY at DESC, epoch DESC LIMIT ?2", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int64(st, 2, limit);
	return kms_db_each(db, st, kms_each__rekey, &c);
}

int
sqlite__group_set_next_rotation(struct kms_db *db, int64_t group_id, int64_t when)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "UPDATE topic_groups SET next_rotation = ?2 WHERE id = ?1",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, group_id);
	sqlite3_bind_int64(st, 2, when);
	return kms_db_run(db, st);
}

/* The groups of a key query: a client's (with its rights) or every group
 * (a broker), one (?2 exact) or a page (?2 after, ?3 at most). */
#define KEYS_SEL_CLIENT(namecond) "SELECT g.id, g.name, g.scheme, g.filter, " \
	"g.next_rotation, g.rotate_s, g.grace_s, max(gr.right = 'pub') AS pub, " \
	"max(gr.right = 'sub') AS sub FROM grants gr JOIN topic_groups g ON g.id = gr.group_id " \
	"WHERE gr.client_id = ?1 AND " namecond " GROUP BY g.id ORDER BY g.name LIMIT ?3"
#define KEYS_SEL_BROKER(namecond) "SELECT g.id, g.name, g.scheme, g.filter, " \
	"g.next_rotation, g.rotate_s, g.grace_s, 0 AS pub, 0 AS sub FROM topic_groups g " \
	"WHERE ?1 = 0 AND " namecond " ORDER BY g.name LIMIT ?3"
/* Their windows: current, next, the ?4 newest grace epochs, grace epoch ?5. */
#define KEYS_WINDOW(sel) "WITH sel AS (" sel ") SELECT sel.name, sel.scheme, e.epoch, " \
	"e.state, e.activated, e.expires, sel.next_rotation, sel.rotate_s, sel.grace_s, " \
	"e.gk_p, e.gk_b, sel.filter, sel.pub, sel.sub FROM sel JOIN epochs e " \
	"ON e.group_id = sel.id WHERE e.state IN ('" KMS_EPOCH_CURRENT_NAME "', '" \
	KMS_EPOCH_NEXT_NAME "') OR (e.state = '" KMS_EPOCH_GRACE_NAME "' AND (e.epoch = ?5 " \
	"OR e.epoch IN (SELECT x.epoch FROM epochs x WHERE x.group_id = sel.id AND " \
	"x.state = '" KMS_EPOCH_GRACE_NAME "' ORDER BY x.epoch DESC LIMIT ?4))) " \
	"ORDER BY sel.name, e.epoch"

int
sqlite__epoch_keys(struct kms_db *db, const struct kms_keys_query *q,
    int (*cb)(void *arg, const struct kms_epoch_keys_row *row), void *arg)
{
	static const char *const sql[2][2] = {
		{ KEYS_WINDOW(KEYS_SEL_BROKER("g.name > ?2")),
		  KEYS_WINDOW(KEYS_SEL_BROKER("g.name = ?2")) },
		{ KEYS_WINDOW(KEYS_SEL_CLIENT("g.name > ?2")),
		  KEYS_WINDOW(KEYS_SEL_CLIENT("g.name = ?2")) },
	};
	struct kms_each c = { .cb.keys = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, sql[q->client_id != 0][q->group != NULL], &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, q->client_id);
	sqlite3_bind_text(st, 2, q->group != NULL ? q->group : q->after != NULL ? q->after : "",
	    -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, q->group != NULL ? 1 : kms_db_limit(q->max_groups));
	sqlite3_bind_int(st, 4, q->grace > 1024 ? 1024 : (int)q->grace);
	sqlite3_bind_int64(st, 5, q->epoch);
	return kms_db_each(db, st, kms_each__keys, &c);
}
