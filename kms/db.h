/*
 * db.h - the KMS database: one SQLite connection (the one writer), its
 * pragmas, the compiled-in migrations and transaction helpers.
 *
 * Every use of the connection happens between kms_db_begin() and
 * kms_db_end(), which hold the database lock: transactions of different
 * threads never interleave.  Writes use BEGIN IMMEDIATE.  Settings: WAL,
 * synchronous=FULL, foreign_keys=ON, secure_delete=ON.
 */
#ifndef KMS_DB_H
#define KMS_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "mqe2e_err.h"

/* A migration compiled from schema/NNN_*.sql (migrations.c, generated). */
struct kms_migration {
	unsigned number;
	const char *name;
	const char *sql;
};
extern const struct kms_migration kms_migrations[];
extern const unsigned kms_migrations_count;

struct kms_db;

/*
 * Open (creating if needed, mode 0600) the database at path, check it,
 * apply pending migrations.  err gets a message naming path on failure.
 */
int kms_db_open(const char *path, struct kms_db **out, char *err, size_t errlen) MQE2E_WUR;
void kms_db_close(struct kms_db *db);

/* Take the lock and start a transaction (write: BEGIN IMMEDIATE). */
int kms_db_begin(struct kms_db *db, int write) MQE2E_WUR;
/* COMMIT if r == MQE2E_OK, else ROLLBACK; release the lock.  Returns r, or
 * the commit failure. */
int kms_db_end(struct kms_db *db, int r);

/* Prepare a statement (only between begin and end).  Logs failures. */
int kms_db_prepare(struct kms_db *db, const char *sql, sqlite3_stmt **st) MQE2E_WUR;
/* Run a statement that returns no rows; finalises it.  Constraint
 * violations give MQE2E_ERR_CONFLICT. */
int kms_db_run(struct kms_db *db, sqlite3_stmt *st) MQE2E_WUR;
/* Translate a SQLite result code (logging the message). */
int kms_db_error(struct kms_db *db, int rc);

/* meta table integers ("policy_version", "crl_number"). */
int kms_db_meta_get(struct kms_db *db, const char *key, int64_t *v) MQE2E_WUR;
/* Increment and return the new value. */
int kms_db_meta_bump(struct kms_db *db, const char *key, int64_t *v) MQE2E_WUR;

/* The connection (between begin and end only). */
sqlite3 *kms_db_handle(struct kms_db *db);

#endif
