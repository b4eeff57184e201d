/*
 * db.h - the SQLite backend of the storage interface (store.h): one
 * connection (the one writer), its pragmas (WAL, synchronous=FULL,
 * foreign_keys=ON, secure_delete=ON), the compiled-in migrations, and the
 * statement helpers shared by store_*.c.  Nothing outside db.c and
 * store_*.c includes this file.
 *
 * kms_db_begin() takes the database lock and kms_db_end() releases it, so
 * transactions of different threads never interleave; writes use
 * BEGIN IMMEDIATE.
 */
#ifndef KMS_DB_H
#define KMS_DB_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>

#include "mqe2e_err.h"
#include "rows.h"
#include "store.h"
#include "store_backend.h"

/* The backend's operations, sqlite__NAME (store_backend.h). */
KMS_STORE_OPS(KMS_STORE_OP_DECLARE_SQLITE)

/* A statement from kms_db_prepare may be the connection's cached one: give
 * it back with kms_db_release, never sqlite3_finalize (which would leave
 * the cache a dangling pointer).  Outside db.c the name does not compile. */
#ifndef KMS_DB_INTERNAL
#define sqlite3_finalize(st) use_kms_db_release_not_sqlite3_finalize(st)
#endif

/* A prepared statement for sql (only between begin and end), from the
 * connection's cache when it was prepared before; give it back with
 * kms_db_release (or kms_db_run / kms_db_each, which do).  Logs failures. */
int kms_db_prepare(struct kms_db *db, const char *sql, sqlite3_stmt **st) MQE2E_WUR;
/* Done with st: reset into the cache (or finalised).  st may be NULL. */
void kms_db_release(struct kms_db *db, sqlite3_stmt *st);
/* Run a statement that returns no rows; releases it.  Constraint
 * violations give MQE2E_ERR_CONFLICT. */
int kms_db_run(struct kms_db *db, sqlite3_stmt *st) MQE2E_WUR;
/* Step st to its end calling row(r, arg) per row, r reading st's columns
 * (stopping at the first non-OK result); releases st.  row is one of
 * rows.h's kms_each__NAME with a struct kms_each, or the backend's own. */
int kms_db_each(struct kms_db *db, sqlite3_stmt *st,
    int (*row)(const struct kms_row *r, void *arg), void *arg) MQE2E_WUR;
/* r set to the column reader of rows.h over st's current row; returns r. */
const struct kms_row *kms_db_row(struct kms_row *r, sqlite3_stmt *st);
/* Step st once: MQE2E_OK with a row, MQE2E_ERR_NOT_FOUND without (st is
 * not released). */
int kms_db_one(struct kms_db *db, sqlite3_stmt *st) MQE2E_WUR;
/* Translate a SQLite result code (logging the message). */
int kms_db_error(struct kms_db *db, int rc);
/* Rows changed by the last statement. */
int kms_db_changes(struct kms_db *db);

/* Column helpers: text into a buffer ("" for NULL, cut to fit), integers
 * (0 for NULL). */
void kms_db_text(sqlite3_stmt *st, int col, char *out, size_t out_len);
int64_t kms_db_int(sqlite3_stmt *st, int col);
/* A limit for SQL: limit, or -1 (none) for 0. */
int kms_db_limit(unsigned limit);

#endif
