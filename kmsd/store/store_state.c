/*
 * store_state.c - the KMS's own durable state (see store.h): the
 * master-key check value and the last CRL issued.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"

int
sqlite__keycheck_get(struct kms_db *db, uint8_t out[KMS_SEALED_LEN])
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "SELECT sealed FROM keycheck WHERE id = 1", &st)) != MQE2E_OK)
		return r;
	if ((r = kms_db_one(db, st)) == MQE2E_OK) {
		if (sqlite3_column_bytes(st, 0) != KMS_SEALED_LEN)
			r = MQE2E_ERR_BAD_FORMAT;
		else
			memcpy(out, sqlite3_column_blob(st, 0), KMS_SEALED_LEN);
	}
	kms_db_release(db, st);
	return r;
}

int
sqlite__keycheck_set(struct kms_db *db, const uint8_t in[KMS_SEALED_LEN], int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "INSERT INTO keycheck (id, sealed, created) "
	    "VALUES (1, ?1, ?2)", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_blob(st, 1, in, KMS_SEALED_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	return kms_db_run(db, st);
}

int
sqlite__crl_get(struct kms_db *db, struct kms_crl_row *row)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *pem;
	int r;

	memset(row, 0, sizeof(*row));
	if ((r = kms_db_prepare(db, "SELECT number, issued, revoked, pem FROM crl WHERE id = 1",
	    &st)) != MQE2E_OK)
		return r;
	if ((r = kms_db_one(db, st)) == MQE2E_OK) {
		row->number = kms_db_int(st, 0);
		row->issued = kms_db_int(st, 1);
		row->revoked = kms_db_int(st, 2);
		pem = sqlite3_column_text(st, 3);
		row->pem_len = (size_t)sqlite3_column_bytes(st, 3);
		if (pem == NULL || (row->pem = malloc(row->pem_len + 1)) == NULL)
			r = MQE2E_ERR_NOMEM;
		else {
			memcpy(row->pem, pem, row->pem_len);
			row->pem[row->pem_len] = '\0';
		}
	}
	kms_db_release(db, st);
	return r;
}

int
sqlite__crl_set(struct kms_db *db, int64_t number, int64_t issued, int64_t revoked,
    const char *pem, size_t pem_len)
{
	sqlite3_stmt *st = NULL;
	int r;

	if (pem_len > INT32_MAX)
		return MQE2E_ERR_TOO_LONG;
	if ((r = kms_db_prepare(db, "INSERT OR REPLACE INTO crl (id, number, issued, revoked, pem) "
	    "VALUES (1, ?1, ?2, ?3, ?4)", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, number);
	sqlite3_bind_int64(st, 2, issued);
	sqlite3_bind_int64(st, 3, revoked);
	sqlite3_bind_text(st, 4, pem, (int)pem_len, SQLITE_STATIC);
	return kms_db_run(db, st);
}
