/*
 * pg.h - the PostgreSQL backend of the storage interface (store.h), on
 * libpq: the connection pool, transactions, migrations and the statement
 * helpers shared by pg_*.c.  Nothing outside pg_*.c includes this file.
 *
 * Connections: a pool of PG_POOL_SIZE, opened as they are first needed; a
 * transaction holds one from kms_db_begin() to kms_db_end() (the thread's
 * current connection, found through a thread-specific key), and a thread
 * that finds all of them busy waits for one.  A connection that breaks
 * (server restart, network) fails its transaction with
 * MQE2E_ERR_UNAVAILABLE and is connected again by the next begin; a begin
 * that finds the server gone reconnects once at once.
 *
 * Writers: every write transaction starts with
 * pg_advisory_xact_lock(PG_LOCK_CLASS, PG_LOCK_WRITE), so the writes of all
 * instances on one database are serialised and each sees every write
 * before it (READ COMMITTED: each statement reads what is committed when it
 * starts, after the lock); UNIQUE (group_id, epoch) backs it.  Reads run
 * REPEATABLE READ READ ONLY (one snapshot per transaction), without the
 * lock.
 *
 * Statements are prepared once per connection (named, on first use) and
 * run with bound parameters; results come as text.
 */
#ifndef KMS_PG_H
#define KMS_PG_H

#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "mqe2e_err.h"
#include "rows.h"
#include "store.h"
#include "store_backend.h"

/* Connections per mqe2e-kmsd (the server's max_connections must allow
 * this many per instance, plus one each for the scheduler's leader lock
 * and policy notifications). */
#define PG_POOL_SIZE 8

/* Advisory lock keys, pg_advisory_*lock(PG_LOCK_CLASS, key): one class for
 * every lock mqe2e-kmsd takes. */
#define PG_LOCK_CLASS 0x6d716532   /* "mqe2" */
#define PG_LOCK_WRITE 1            /* write transactions (xact lock) */
#define PG_LOCK_MIGRATE 2          /* applying migrations (session lock) */
#define PG_LOCK_SCHEDULER 3        /* the scheduler's leader (session lock) */

/* The backend's operations, pg__NAME (store_backend.h). */
KMS_STORE_OPS(KMS_STORE_OP_DECLARE_PG)

/* A statement: its SQL and, once prepared anywhere, its number (the name
 * it is prepared under on each connection).  Static in the pg_*.c file
 * that runs it: static struct pg_query q = PG_QUERY("SELECT ..."); */
struct pg_query {
	const char *sql;
	unsigned id;               /* 0: not numbered yet (atomic) */
};
#define PG_QUERY(s) { (s), 0 }

/* Bound parameters, $1.. in order. */
#define PG_ARGS_MAX 10
struct pg_args {
	int n;
	const char *v[PG_ARGS_MAX];
	int len[PG_ARGS_MAX];
	int fmt[PG_ARGS_MAX];      /* 0 text, 1 binary */
	char num[PG_ARGS_MAX][24];
};
#define PG_ARGS_INIT { 0, { NULL }, { 0 }, { 0 }, { { 0 } } }

/* Append a parameter (a full list is caught by pg__exec: MQE2E_ERR_INTERNAL). */
void pg_arg_int(struct pg_args *a, int64_t v);
void pg_arg_text(struct pg_args *a, const char *s);   /* NULL: SQL NULL */
void pg_arg_blob(struct pg_args *a, const void *p, size_t len);
/* A LIMIT $n::bigint: NULL (no limit) for 0. */
void pg_arg_limit(struct pg_args *a, unsigned limit);

/* Run q with a on the thread's transaction.  *res (may be NULL: then
 * cleared here) gets the result of a statement that returns rows;
 * *changes (may be NULL) the number of rows it inserted, updated or
 * deleted.  Errors are translated (constraint violations
 * MQE2E_ERR_CONFLICT, a lost server MQE2E_ERR_UNAVAILABLE, a full disk
 * MQE2E_ERR_NO_SPACE) and logged naming the database. */
int pg__exec(struct kms_db *db, struct pg_query *q, struct pg_args *a, PGresult **res,
    int64_t *changes) MQE2E_WUR;
/* Call row(r, arg) for each row of q's result, r reading its columns,
 * stopping at the first non-OK result.  row is one of rows.h's
 * kms_each__NAME with a struct kms_each. */
int pg__each(struct kms_db *db, struct pg_query *q, struct pg_args *a,
    int (*row)(const struct kms_row *r, void *arg), void *arg) MQE2E_WUR;
/* r set to the column reader of rows.h over row i of res; returns r. */
const struct kms_row *pg_row(struct kms_row *r, const PGresult *res, int i);
/* q's first row: MQE2E_OK with *res set (the caller PQclear()s it),
 * MQE2E_ERR_NOT_FOUND without rows. */
int pg__one(struct kms_db *db, struct pg_query *q, struct pg_args *a, PGresult **res) MQE2E_WUR;

/* Column helpers: text into a buffer ("" for NULL, cut to fit); the text
 * itself ("" for NULL); an integer (0 for NULL or a malformed value); a
 * bytea of exactly len bytes (MQE2E_ERR_BAD_FORMAT otherwise). */
void pg_text(const PGresult *res, int i, int col, char *out, size_t out_len);
const char *pg_str(const PGresult *res, int i, int col);
int64_t pg_int(const PGresult *res, int i, int col);
int pg_blob(const PGresult *res, int i, int col, uint8_t *out, size_t len) MQE2E_WUR;
/* A bytea column of any length into a malloc'd buffer. */
int pg_blob_dup(const PGresult *res, int i, int col, uint8_t **out, size_t *len) MQE2E_WUR;

/* A connection of its own to the database of db (outside the pool: for a
 * session lock held for a long time, or LISTEN); the caller PQfinish()es
 * it.  err names the database on failure.  NULL if db is not PostgreSQL. */
PGconn *kms_pg_connect(struct kms_db *db, char *err, size_t errlen);

/* pg_session.c: NOTIFY the other instances of what moved to value, at
 * COMMIT of the thread's transaction (store/session.h). */
int pg__notify(struct kms_db *db, const char *what, int64_t value) MQE2E_WUR;

#endif
