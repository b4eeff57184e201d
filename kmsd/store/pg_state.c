/*
 * pg_state.c - the KMS's own durable state in PostgreSQL (see store.h):
 * the master-key check value and the last CRL issued.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pg.h"

int
pg__keycheck_get(struct kms_db *db, uint8_t out[KMS_SEALED_LEN])
{
	static struct pg_query q = PG_QUERY("SELECT sealed FROM keycheck WHERE id = 1");
	PGresult *res = NULL;
	int r;

	if ((r = pg__one(db, &q, NULL, &res)) == MQE2E_OK)
		r = pg_blob(res, 0, 0, out, KMS_SEALED_LEN);
	PQclear(res);
	return r;
}

int
pg__keycheck_set(struct kms_db *db, const uint8_t in[KMS_SEALED_LEN], int64_t now)
{
	static struct pg_query q = PG_QUERY("INSERT INTO keycheck (id, sealed, created) "
	    "VALUES (1, $1, $2)");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_blob(&a, in, KMS_SEALED_LEN);
	pg_arg_int(&a, now);
	return pg__exec(db, &q, &a, NULL, NULL);
}

int
pg__crl_get(struct kms_db *db, struct kms_crl_row *row)
{
	static struct pg_query q = PG_QUERY("SELECT number, issued, revoked, pem FROM crl "
	    "WHERE id = 1");
	PGresult *res = NULL;
	int r;

	memset(row, 0, sizeof(*row));
	if ((r = pg__one(db, &q, NULL, &res)) == MQE2E_OK) {
		row->number = pg_int(res, 0, 0);
		row->issued = pg_int(res, 0, 1);
		row->revoked = pg_int(res, 0, 2);
		row->pem_len = (size_t)PQgetlength(res, 0, 3);
		if ((row->pem = malloc(row->pem_len + 1)) == NULL)
			r = MQE2E_ERR_NOMEM;
		else {
			memcpy(row->pem, PQgetvalue(res, 0, 3), row->pem_len);
			row->pem[row->pem_len] = '\0';
		}
	}
	PQclear(res);
	return r;
}

int
pg__crl_set(struct kms_db *db, int64_t number, int64_t issued, int64_t revoked,
    const char *pem, size_t pem_len)
{
	static struct pg_query q = PG_QUERY("INSERT INTO crl (id, number, issued, revoked, pem) "
	    "VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET number = EXCLUDED.number, "
	    "issued = EXCLUDED.issued, revoked = EXCLUDED.revoked, pem = EXCLUDED.pem");
	struct pg_args a = PG_ARGS_INIT;

	if (pem_len > INT32_MAX)
		return MQE2E_ERR_TOO_LONG;
	pg_arg_int(&a, number);
	pg_arg_int(&a, issued);
	pg_arg_int(&a, revoked);
	pg_arg_blob(&a, pem, pem_len);    /* text in binary form: exactly pem_len bytes */
	return pg__exec(db, &q, &a, NULL, NULL);
}
