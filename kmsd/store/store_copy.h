/*
 * store_copy.h - rows as plain values, for copying a KMS database from one
 * backend to another (mqe2e-kmsd --copy-to): every table of the schema
 * with its columns, read and written by each backend without knowing what
 * the rows mean, so that all rows, counters and sealed keys arrive as they
 * were.  Table and column names come from kms_tables[] only, never from
 * input.
 */
#ifndef KMS_STORE_COPY_H
#define KMS_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "mqe2e_err.h"

struct kms_db;

enum kms_value_type { KMS_V_NULL, KMS_V_INT, KMS_V_TEXT, KMS_V_BLOB };

/* One column's value; p/len for TEXT (not NUL-terminated) and BLOB, valid
 * only during the callback that receives it. */
struct kms_value {
	enum kms_value_type type;
	int64_t i;
	const void *p;
	size_t len;
};

#define KMS_TABLE_COLS_MAX 10

struct kms_table {
	const char *name;
	const char *cols[KMS_TABLE_COLS_MAX];
	unsigned ncols;
	const char *order;      /* ORDER BY of a listing (column names) */
	const char *key;        /* a row the new schema already has is replaced (meta) */
	const char *identity;   /* the column whose generator continues after a copy */
};

/* Every table, parents before children (foreign keys). */
extern const struct kms_table kms_tables[];
extern const unsigned kms_tables_count;
/* The schema version kms_tables[] describes: a migration that adds a table
 * or column must update kms_tables[] and this number (test_internals checks
 * it against the compiled-in migrations).  Not copied: policy_log (006), the
 * change log behind broker policy deltas; each backend's copy_done empties
 * it (the copy's inserts fill it through its triggers) and moves its floor
 * to the copied policy version (KMS_COPY_RESET_LOG), so a broker that was
 * behind the copied version gets a full snapshot, never a delta that misses
 * a change. */
#define KMS_TABLES_SCHEMA 6
#define KMS_COPY_RESET_LOG_1 "DELETE FROM policy_log"
#define KMS_COPY_RESET_LOG_2 "UPDATE meta SET value = (SELECT value FROM meta " \
	"WHERE key = 'policy_version') WHERE key = 'policy_log_floor'"

/*
 * Copy every row of from into to, which must be a database without rows
 * (just created): in one write transaction of to and one read transaction
 * of from, so that to gets all or nothing of one consistent state.
 * progress (may be NULL) is told each table's count as it goes (done = 1
 * when the table is complete).  err names the database that failed.
 */
int kms_db_copy(struct kms_db *from, struct kms_db *to,
    void (*progress)(void *arg, const char *table, uint64_t rows, int done), void *arg,
    char *err, size_t errlen) MQE2E_WUR;

#endif
