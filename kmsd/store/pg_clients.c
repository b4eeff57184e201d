/*
 * pg_clients.c - clients and certificates in PostgreSQL (see store.h and
 * their SQLite twins store_clients.c, store_certs.c).
 */
#include "config.h"

#include <string.h>

#include "pg.h"

int
pg__client_add(struct kms_db *db, const char *name, const char *kind, int64_t now)
{
	static struct pg_query q = PG_QUERY("INSERT INTO clients (name, kind, created) "
	    "VALUES ($1, $2, $3)");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_text(&a, name);
	pg_arg_text(&a, kind);
	pg_arg_int(&a, now);
	return pg__exec(db, &q, &a, NULL, NULL);
}

int
pg__client_get(struct kms_db *db, const char *name, struct kms_client_row *row)
{
	static struct pg_query q = PG_QUERY("SELECT " KMS_ROW_CLIENT_COLUMNS " FROM clients c "
	    "WHERE c.name = $1");
	struct pg_args a = PG_ARGS_INIT;
	struct kms_row cur;
	PGresult *res = NULL;
	int r;

	pg_arg_text(&a, name);
	if ((r = pg__one(db, &q, &a, &res)) == MQE2E_OK)
		kms_row__client(pg_row(&cur, res, 0), row);
	PQclear(res);
	return r;
}

int
pg__client_list(struct kms_db *db, const char *after, unsigned limit,
    int (*cb)(void *arg, const struct kms_client_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT " KMS_ROW_CLIENT_COLUMNS " FROM clients c "
	    "WHERE c.name > $1 ORDER BY c.name LIMIT $2::bigint");
	struct kms_each c = { .cb.client = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_text(&a, after != NULL ? after : "");
	pg_arg_limit(&a, limit);
	return pg__each(db, &q, &a, kms_each__client, &c);
}

int
pg__revoked_clients(struct kms_db *db, int (*cb)(void *arg, const char *name), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT name FROM clients WHERE revoked_at IS NOT NULL "
	    "ORDER BY name");
	struct kms_each c = { .cb.name = cb, .arg = arg };

	return pg__each(db, &q, NULL, kms_each__name, &c);
}

int
pg__cert_add(struct kms_db *db, int64_t client_id, const char *serial, const char *cert_pem,
    int64_t not_before, int64_t not_after, int64_t now)
{
	static struct pg_query q = PG_QUERY("INSERT INTO certs (serial, client_id, cert_pem, "
	    "not_before, not_after, created) VALUES ($1, $2, $3, $4, $5, $6)");
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_text(&a, serial);
	pg_arg_int(&a, client_id);
	pg_arg_text(&a, cert_pem);
	pg_arg_int(&a, not_before);
	pg_arg_int(&a, not_after);
	pg_arg_int(&a, now);
	return pg__exec(db, &q, &a, NULL, NULL);
}

int
pg__cert_list(struct kms_db *db, int64_t client_id, int64_t after_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_cert_row *row), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT id, serial, not_before, not_after, revoked_at, "
	    "created FROM certs WHERE client_id = $1 AND id > $2 ORDER BY id LIMIT $3::bigint");
	struct kms_each c = { .cb.cert = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, client_id);
	pg_arg_int(&a, after_id);
	pg_arg_limit(&a, limit);
	return pg__each(db, &q, &a, kms_each__cert, &c);
}

int
pg__cert_check(struct kms_db *db, int64_t client_id, const char *serial)
{
	static struct pg_query q = PG_QUERY("SELECT revoked_at IS NOT NULL FROM certs "
	    "WHERE serial = $1 AND client_id = $2");
	struct pg_args a = PG_ARGS_INIT;
	PGresult *res = NULL;
	int r;

	pg_arg_text(&a, serial);
	pg_arg_int(&a, client_id);
	if ((r = pg__one(db, &q, &a, &res)) == MQE2E_OK && strcmp(pg_str(res, 0, 0), "t") == 0)
		r = MQE2E_ERR_REVOKED;
	PQclear(res);
	return r;
}

int
pg__revoked_certs(struct kms_db *db, int64_t not_after_min,
    int (*cb)(void *arg, const char *serial, int64_t revoked_at, int64_t not_after), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT serial, revoked_at, not_after FROM certs "
	    "WHERE revoked_at IS NOT NULL AND not_after >= $1 ORDER BY revoked_at, id");
	struct kms_each c = { .cb.revoked = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, not_after_min);
	return pg__each(db, &q, &a, kms_each__revoked, &c);
}

int
pg__revoked_count(struct kms_db *db, int64_t *n)
{
	static struct pg_query q = PG_QUERY("SELECT count(*) FROM certs "
	    "WHERE revoked_at IS NOT NULL");
	PGresult *res = NULL;
	int r;

	*n = 0;
	if ((r = pg__one(db, &q, NULL, &res)) == MQE2E_OK)
		*n = pg_int(res, 0, 0);
	PQclear(res);
	return r;
}

int
pg__client_revoke(struct kms_db *db, int64_t client_id, const char *reason, int64_t now,
    int (*cb)(void *arg, const char *serial), void *arg)
{
	static struct pg_query serials = PG_QUERY("SELECT serial FROM certs WHERE client_id = $1 "
	    "AND revoked_at IS NULL ORDER BY id");
	static struct pg_query client = PG_QUERY("UPDATE clients SET revoked_at = $1, "
	    "revoke_reason = $2 WHERE id = $3");
	static struct pg_query certs = PG_QUERY("UPDATE certs SET revoked_at = $1, "
	    "revoke_reason = $2 WHERE client_id = $3 AND revoked_at IS NULL");
	static struct pg_query grants = PG_QUERY("DELETE FROM grants WHERE client_id = $1");
	struct kms_each c = { .cb.name = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT, m = PG_ARGS_INIT;
	int r;

	pg_arg_int(&a, client_id);
	pg_arg_int(&m, now);
	pg_arg_text(&m, reason);
	pg_arg_int(&m, client_id);
	if ((r = pg__each(db, &serials, &a, kms_each__name, &c)) != MQE2E_OK ||
	    (r = pg__exec(db, &client, &m, NULL, NULL)) != MQE2E_OK ||
	    (r = pg__exec(db, &certs, &m, NULL, NULL)) != MQE2E_OK)
		return r;
	return pg__exec(db, &grants, &a, NULL, NULL);
}

/* ---- certificates one at a time (store_certs.c) ------------------------------------ */

int
pg__cert_pems(struct kms_db *db, int64_t client_id, int64_t now,
    int (*cb)(void *arg, const char *serial, const char *pem), void *arg)
{
	static struct pg_query q = PG_QUERY("SELECT serial, cert_pem FROM certs WHERE "
	    "client_id = $1 AND revoked_at IS NULL AND not_after > $2 ORDER BY id");
	struct kms_each c = { .cb.pem = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, client_id);
	pg_arg_int(&a, now);
	return pg__each(db, &q, &a, kms_each__pem, &c);
}

int
pg__cert_revoke(struct kms_db *db, int64_t client_id, const char *serial, const char *reason,
    int64_t now)
{
	static struct pg_query q = PG_QUERY("UPDATE certs SET revoked_at = $1, revoke_reason = $2 "
	    "WHERE client_id = $3 AND serial = $4 AND revoked_at IS NULL");
	struct pg_args a = PG_ARGS_INIT;
	int r;

	if ((r = pg__cert_check(db, client_id, serial)) != MQE2E_OK)
		return r == MQE2E_ERR_REVOKED ? MQE2E_ERR_CONFLICT : r;
	pg_arg_int(&a, now);
	pg_arg_text(&a, reason);
	pg_arg_int(&a, client_id);
	pg_arg_text(&a, serial);
	return pg__exec(db, &q, &a, NULL, NULL);
}

int
pg__certs_expiring(struct kms_db *db, int64_t before, unsigned limit,
    int (*cb)(void *arg, const struct kms_expiring_row *row), void *arg)
{
	/* A client's newest certificate decides (see store_certs.c). */
	static struct pg_query q = PG_QUERY("SELECT c.name, c.kind, t.serial, t.not_after "
	    "FROM certs t JOIN clients c ON c.id = t.client_id WHERE c.revoked_at IS NULL AND "
	    "t.revoked_at IS NULL AND t.not_after <= $1 AND NOT EXISTS (SELECT 1 FROM certs n "
	    "WHERE n.client_id = t.client_id AND n.revoked_at IS NULL AND n.not_after > $1) "
	    "ORDER BY t.not_after, c.name LIMIT $2::bigint");
	struct kms_each c = { .cb.expiring = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;

	pg_arg_int(&a, before);
	pg_arg_limit(&a, limit);
	return pg__each(db, &q, &a, kms_each__expiring, &c);
}
