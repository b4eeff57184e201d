/*
 * store_certs.c - certificates one at a time (see store.h): the PEMs of a
 * client's live certificates, revoking one, and those about to expire.
 */
#include "config.h"

#include <string.h>

#include "db.h"

int
sqlite__cert_pems(struct kms_db *db, int64_t client_id, int64_t now,
    int (*cb)(void *arg, const char *serial, const char *pem), void *arg)
{
	struct kms_each c = { .cb.pem = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT serial, cert_pem FROM certs WHERE client_id = ?1 AND "
	    "revoked_at IS NULL AND not_after > ?2 ORDER BY id", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, client_id);
	sqlite3_bind_int64(st, 2, now);
	return kms_db_each(db, st, kms_each__pem, &c);
}

int
sqlite__cert_revoke(struct kms_db *db, int64_t client_id, const char *serial,
    const char *reason, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_store_cert_check(db, client_id, serial)) != MQE2E_OK)
		return r == MQE2E_ERR_REVOKED ? MQE2E_ERR_CONFLICT : r;
	if ((r = kms_db_prepare(db, "UPDATE certs SET revoked_at = ?1, revoke_reason = ?2 "
	    "WHERE client_id = ?3 AND serial = ?4 AND revoked_at IS NULL", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, now);
	if (reason != NULL)
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, client_id);
	sqlite3_bind_text(st, 4, serial, -1, SQLITE_STATIC);
	return kms_db_run(db, st);
}

int
sqlite__certs_expiring(struct kms_db *db, int64_t before, unsigned limit,
    int (*cb)(void *arg, const struct kms_expiring_row *row), void *arg)
{
	struct kms_each c = { .cb.expiring = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int r;

	/* A client's newest certificate decides: one renewed in time is not
	 * "expiring" because of its predecessor. */
	if ((r = kms_db_prepare(db, "SELECT c.name, c.kind, t.serial, t.not_after FROM certs t "
	    "JOIN clients c ON c.id = t.client_id WHERE c.revoked_at IS NULL AND "
	    "t.revoked_at IS NULL AND t.not_after <= ?1 AND NOT EXISTS (SELECT 1 FROM certs n "
	    "WHERE n.client_id = t.client_id AND n.revoked_at IS NULL AND n.not_after > ?1) "
	    "ORDER BY t.not_after, c.name LIMIT ?2", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int(st, 2, kms_db_limit(limit));
	return kms_db_each(db, st, kms_each__expiring, &c);
}
