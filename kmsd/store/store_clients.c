/*
 * store_clients.c - clients and certificates in SQLite (see store.h).
 */
#include "config.h"

#include <string.h>

#include "db.h"

int
sqlite__client_add(struct kms_db *db, const char *name, const char *kind, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "INSERT INTO clients (name, kind, created) VALUES (?1, ?2, ?3)",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	return kms_db_run(db, st);
}

int
sqlite__client_get(struct kms_db *db, const char *name, struct kms_client_row *row)
{
	struct kms_row cur;
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT " KMS_ROW_CLIENT_COLUMNS " FROM clients c "
	    "WHERE c.name = ?1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((r = kms_db_one(db, st)) == MQE2E_OK)
		kms_row__client(kms_db_row(&cur, st), row);
	kms_db_release(db, st);
	return r;
}

int
sqlite__client_list(struct kms_db *db, const char *after, unsigned limit,
    int (*cb)(void *arg, const struct kms_client_row *row), void *arg)
{
	struct kms_each c = { .cb.client = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT " KMS_ROW_CLIENT_COLUMNS " FROM clients c "
	    "WHERE c.name > ?1 ORDER BY c.name LIMIT ?2", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, after != NULL ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, kms_db_limit(limit));
	return kms_db_each(db, st, kms_each__client, &c);
}

int
sqlite__revoked_clients(struct kms_db *db, int (*cb)(void *arg, const char *name), void *arg)
{
	struct kms_each c = { .cb.name = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT name FROM clients WHERE revoked_at IS NOT NULL "
	    "ORDER BY name", &st)) != MQE2E_OK)
		return r;
	return kms_db_each(db, st, kms_each__name, &c);
}

int
sqlite__cert_add(struct kms_db *db, int64_t client_id, const char *serial,
    const char *cert_pem, int64_t not_before, int64_t not_after, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "INSERT INTO certs (serial, client_id, cert_pem, not_before, "
	    "not_after, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, client_id);
	sqlite3_bind_text(st, 3, cert_pem, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, not_before);
	sqlite3_bind_int64(st, 5, not_after);
	sqlite3_bind_int64(st, 6, now);
	return kms_db_run(db, st);
}

int
sqlite__cert_list(struct kms_db *db, int64_t client_id, int64_t after_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_cert_row *row), void *arg)
{
	struct kms_each c = { .cb.cert = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT id, serial, not_before, not_after, revoked_at, created "
	    "FROM certs WHERE client_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, client_id);
	sqlite3_bind_int64(st, 2, after_id);
	sqlite3_bind_int(st, 3, kms_db_limit(limit));
	return kms_db_each(db, st, kms_each__cert, &c);
}

int
sqlite__cert_check(struct kms_db *db, int64_t client_id, const char *serial)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT revoked_at IS NOT NULL FROM certs "
	    "WHERE serial = ?1 AND client_id = ?2", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, client_id);
	if ((r = kms_db_one(db, st)) == MQE2E_OK && sqlite3_column_int(st, 0) != 0)
		r = MQE2E_ERR_REVOKED;
	kms_db_release(db, st);
	return r;
}

int
sqlite__revoked_certs(struct kms_db *db, int64_t not_after_min,
    int (*cb)(void *arg, const char *serial, int64_t revoked_at, int64_t not_after), void *arg)
{
	struct kms_each c = { .cb.revoked = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT serial, revoked_at, not_after FROM certs "
	    "WHERE revoked_at IS NOT NULL AND not_after >= ?1 ORDER BY revoked_at, id", &st)) !=
	    MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, not_after_min);
	return kms_db_each(db, st, kms_each__revoked, &c);
}

int
sqlite__revoked_count(struct kms_db *db, int64_t *n)
{
	sqlite3_stmt *st = NULL;
	int r;

	*n = 0;
	if ((r = kms_db_prepare(db, "SELECT count(*) FROM certs WHERE revoked_at IS NOT NULL",
	    &st)) != MQE2E_OK)
		return r;
	if ((r = kms_db_one(db, st)) == MQE2E_OK)
		*n = kms_db_int(st, 0);
	kms_db_release(db, st);
	return r;
}

/* Bind ?1 = now, ?2 = reason or NULL, ?3 = id, run. */
static int
mark_revoked(struct kms_db *db, const char *sql, int64_t client_id, const char *reason,
    int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, sql, &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, now);
	if (reason != NULL)
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, client_id);
	return kms_db_run(db, st);
}

int
sqlite__client_revoke(struct kms_db *db, int64_t client_id, const char *reason,
    int64_t now, int (*cb)(void *arg, const char *serial), void *arg)
{
	struct kms_each c = { .cb.name = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT serial FROM certs WHERE client_id = ?1 AND "
	    "revoked_at IS NULL ORDER BY id", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, client_id);
	if ((r = kms_db_each(db, st, kms_each__name, &c)) != MQE2E_OK ||
	    (r = mark_revoked(db, "UPDATE clients SET revoked_at = ?1, revoke_reason = ?2 "
	    "WHERE id = ?3", client_id, reason, now)) != MQE2E_OK ||
	    (r = mark_revoked(db, "UPDATE certs SET revoked_at = ?1, revoke_reason = ?2 "
	    "WHERE client_id = ?3 AND revoked_at IS NULL", client_id, reason, now)) != MQE2E_OK)
		return r;
	if ((r = kms_db_prepare(db, "DELETE FROM grants WHERE client_id = ?1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, client_id);
	return kms_db_run(db, st);
}
