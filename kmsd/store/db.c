/*
 * db.c - the SQLite backend: the connection, pragmas, migrations,
 * transactions, counters, statement helpers and its operations table (see
 * db.h, store.h, store_backend.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KMS_DB_INTERNAL 1   /* db.c finalises what it prepared itself */
#include "db.h"
#include "log.h"
#include "metrics.h"

/*
 * Prepared statements, kept per connection: parsing and planning a query
 * cost more than running most of ours.  A statement is found by its SQL
 * text, handed out reset to one user at a time (a second user of the same
 * text while the first still steps gets a statement of its own) and reset
 * when released, so that no finished query holds a read transaction open.
 * Only touched with the database lock held.
 */
#define KMS_DB_STMTS 96

struct stmt_slot {
	char *sql;                /* NULL: free slot */
	uint32_t hash;
	sqlite3_stmt *st;
	int busy;
};

struct sqlite_db {
	struct kms_db base;       /* first: a struct kms_db * is a struct sqlite_db * */
	sqlite3 *h;
	pthread_mutex_t lock;
	struct stmt_slot stmts[KMS_DB_STMTS];
	char *path;
	int changes;              /* sqlite3_total_changes() at BEGIN */
};

static struct sqlite_db *
sq(struct kms_db *db)
{
	return (struct sqlite_db *)db;
}

int
kms_db_changes(struct kms_db *db)
{
	return sqlite3_changes(sq(db)->h);
}

void
kms_db_text(sqlite3_stmt *st, int col, char *out, size_t out_len)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(out, out_len, "%s", s != NULL ? (const char *)s : "");
}

int64_t
kms_db_int(sqlite3_stmt *st, int col)
{
	return sqlite3_column_int64(st, col);
}

/* ---- the column reader of rows.h over a stepped statement ---------------------- */

static int64_t
column_int(const struct kms_row *r, int col)
{
	return sqlite3_column_int64(r->h, col);
}

static const char *
column_str(const struct kms_row *r, int col)
{
	const unsigned char *s = sqlite3_column_text(r->h, col);

	return s != NULL ? (const char *)s : "";
}

static int
column_blob(const struct kms_row *r, int col, uint8_t *out, size_t len)
{
	const void *p = sqlite3_column_blob(r->h, col);

	if (p == NULL || (size_t)sqlite3_column_bytes(r->h, col) != len)
		return MQE2E_ERR_BAD_FORMAT;
	memcpy(out, p, len);
	return MQE2E_OK;
}

static const struct kms_row_ops column_ops = { column_int, column_str, column_blob };

const struct kms_row *
kms_db_row(struct kms_row *r, sqlite3_stmt *st)
{
	r->ops = &column_ops;
	r->h = st;
	r->i = 0;
	return r;
}

int
kms_db_limit(unsigned limit)
{
	return limit == 0 || limit > INT32_MAX ? -1 : (int)limit;
}

/* 1 if a SQLite failure is the device running out of space. */
static int
is_no_space(struct sqlite_db *db, int rc)
{
	int e;

	if ((rc & 0xff) == SQLITE_FULL)
		return 1;
	if ((rc & 0xff) != SQLITE_IOERR)
		return 0;
	e = sqlite3_system_errno(db->h);
	return e == ENOSPC || e == EDQUOT;
}

int
kms_db_error(struct kms_db *base, int rc)
{
	struct sqlite_db *db = sq(base);
	int prim = rc & 0xff;

	if (prim == SQLITE_CONSTRAINT)
		return MQE2E_ERR_CONFLICT;
	if (is_no_space(db, rc))
		return kms_db__no_space(base, sqlite3_errmsg(db->h));
	kms_log_at(LOG_ERR, "%s: database error: %s", db->path, sqlite3_errmsg(db->h));
	kms_metrics_db_error();
	if (prim == SQLITE_NOMEM)
		return MQE2E_ERR_NOMEM;
	if (prim == SQLITE_IOERR || prim == SQLITE_CANTOPEN || prim == SQLITE_READONLY)
		return MQE2E_ERR_IO;
	return MQE2E_ERR_INTERNAL;
}

static int
exec(struct sqlite_db *db, const char *sql)
{
	int rc;

	if ((rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL)) != SQLITE_OK)
		return kms_db_error(&db->base, rc);
	return MQE2E_OK;
}

/* FNV-1a of the SQL text. */
static uint32_t
sql_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

int
kms_db_prepare(struct kms_db *db, const char *sql, sqlite3_stmt **st)
{
	struct stmt_slot *free_slot = NULL, *c;
	uint32_t h = sql_hash(sql);
	size_t i;
	int rc;

	*st = NULL;
	for (i = 0; i < KMS_DB_STMTS; i++) {
		c = &sq(db)->stmts[i];
		if (c->sql == NULL) {
			if (free_slot == NULL)
				free_slot = c;
		} else if (!c->busy && c->hash == h && strcmp(c->sql, sql) == 0) {
			c->busy = 1;
			*st = c->st;
			return MQE2E_OK;
		}
	}
	if ((rc = sqlite3_prepare_v3(sq(db)->h, sql, -1, free_slot != NULL ?
	    SQLITE_PREPARE_PERSISTENT : 0, st, NULL)) != SQLITE_OK)
		return kms_db_error(db, rc);
	if (free_slot != NULL && (free_slot->sql = strdup(sql)) != NULL) {
		free_slot->hash = h;
		free_slot->st = *st;
		free_slot->busy = 1;
	}
	return MQE2E_OK;
}

void
kms_db_release(struct kms_db *db, sqlite3_stmt *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < KMS_DB_STMTS; i++) {
		if (sq(db)->stmts[i].sql != NULL && sq(db)->stmts[i].st == st) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			sq(db)->stmts[i].busy = 0;
			return;
		}
	}
	sqlite3_finalize(st);
}

/* BEGIN, COMMIT, ROLLBACK: every request runs them, so from the statement
 * cache rather than parsed each time. */
static int
exec_cached(struct sqlite_db *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(&db->base, sql, &st)) != MQE2E_OK)
		return r;
	return kms_db_run(&db->base, st);
}

int
kms_db_run(struct kms_db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? MQE2E_OK : kms_db_error(db, rc);

	kms_db_release(db, st);
	return r;
}

int
kms_db_each(struct kms_db *db, sqlite3_stmt *st,
    int (*row)(const struct kms_row *r, void *arg), void *arg)
{
	struct kms_row cur;
	int rc, r = MQE2E_OK;

	(void)kms_db_row(&cur, st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = row(&cur, arg)) != MQE2E_OK)
			break;
	}
	if (r == MQE2E_OK && rc != SQLITE_DONE)
		r = kms_db_error(db, rc);
	kms_db_release(db, st);
	return r;
}

int
kms_db_one(struct kms_db *db, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return MQE2E_OK;
	return rc == SQLITE_DONE ? MQE2E_ERR_NOT_FOUND : kms_db_error(db, rc);
}

static int
sqlite_begin(struct kms_db *base, int write)
{
	struct sqlite_db *db = sq(base);
	int r;

	pthread_mutex_lock(&db->lock);
	if ((r = exec_cached(db, write ? "BEGIN IMMEDIATE" : "BEGIN")) != MQE2E_OK)
		pthread_mutex_unlock(&db->lock);
	else
		db->changes = sqlite3_total_changes(db->h);
	return r;
}

static int
sqlite_end(struct kms_db *base, int r)
{
	struct sqlite_db *db = sq(base);

	if (r == MQE2E_OK && (r = exec_cached(db, "COMMIT")) == MQE2E_OK &&
	    sqlite3_total_changes(db->h) != db->changes)
		kms_db__wrote(base);
	/* A failed COMMIT, or an I/O error or full disk inside the
	 * transaction, may already have rolled it back: SQLite says so. */
	if (r != MQE2E_OK && !sqlite3_get_autocommit(db->h))
		(void)exec_cached(db, "ROLLBACK");
	pthread_mutex_unlock(&db->lock);
	return r;
}

int
sqlite__counter_get(struct kms_db *db, const char *key, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = kms_db_prepare(db, "SELECT value FROM meta WHERE key = ?1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*v = sqlite3_column_int64(st, 0);
		r = MQE2E_OK;
	} else
		r = rc == SQLITE_DONE ? MQE2E_ERR_INTERNAL : kms_db_error(db, rc);
	kms_db_release(db, st);
	return r;
}

int
sqlite__counter_bump(struct kms_db *db, const char *key, int64_t *v)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = kms_db_prepare(db, "UPDATE meta SET value = value + 1 WHERE key = ?1",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if ((r = kms_db_run(db, st)) != MQE2E_OK)
		return r;
	return sqlite__counter_get(db, key, v);
}

int
sqlite__policy_stamp(struct kms_db *db, int64_t version, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int64_t floor = version - KMS_POLICY_LOG_VERSIONS;
	int r;

	if ((r = kms_db_prepare(db, "UPDATE policy_log SET version = ?1, at = ?2 "
	    "WHERE version IS NULL", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, version);
	sqlite3_bind_int64(st, 2, now);
	if ((r = kms_db_run(db, st)) != MQE2E_OK || floor <= 0)
		return r;
	/* a bounded log: deltas reach back KMS_POLICY_LOG_VERSIONS versions */
	if ((r = kms_db_prepare(db, "DELETE FROM policy_log WHERE version <= ?1", &st)) !=
	    MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, floor);
	if ((r = kms_db_run(db, st)) != MQE2E_OK ||
	    (r = kms_db_prepare(db, "UPDATE meta SET value = max(value, ?1) "
	    "WHERE key = 'policy_log_floor'", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, floor);
	return kms_db_run(db, st);
}

int
sqlite__policy_changes(struct kms_db *db, int64_t since,
    int (*cb)(void *arg, const char *kind, const char *name), void *arg, int64_t *since_at)
{
	struct kms_each c = { .cb.change = cb, .arg = arg };
	sqlite3_stmt *st = NULL;
	int64_t floor = 0;
	int r;

	*since_at = 0;
	if ((r = sqlite__counter_get(db, "policy_log_floor", &floor)) != MQE2E_OK)
		return r;
	if (since < floor)
		return MQE2E_ERR_NOT_FOUND;
	if ((r = kms_db_prepare(db, "SELECT coalesce(max(at), 0) FROM policy_log "
	    "WHERE version <= ?1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, since);
	if ((r = kms_db_one(db, st)) == MQE2E_OK)
		*since_at = kms_db_int(st, 0);
	kms_db_release(db, st);
	if (r != MQE2E_OK)
		return r;
	if ((r = kms_db_prepare(db, "SELECT DISTINCT kind, name FROM policy_log "
	    "WHERE version > ?1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, since);
	return kms_db_each(db, st, kms_each__change, &c);
}

/* Apply every compiled-in migration above the database's user_version. */
static int
migrate(struct sqlite_db *db, int create, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	char sql[64];
	int64_t have = 0;
	unsigned i;
	int rc, r;

	if ((rc = sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_step(st)) != SQLITE_ROW) {
		snprintf(err, errlen, "%s: cannot read the schema version: %s (is it an mqe2e "
		    "KMS database? restore it from a backup)", db->path, sqlite3_errmsg(db->h));
		sqlite3_finalize(st);
		return MQE2E_ERR_IO;
	}
	have = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (have == 0 && !create) {
		snprintf(err, errlen, "%s: the database is empty (no schema): restore it from a "
		    "backup; only 'mqe2e-kmsd --init' creates a new one", db->path);
		return MQE2E_ERR_NOT_FOUND;
	}
	if (have < 0 || (uint64_t)have > kms_migrations_count) {
		snprintf(err, errlen, "%s: schema version %lld is newer than this mqe2e-kmsd "
		    "knows (%u): run a newer mqe2e-kmsd", db->path, (long long)have,
		    kms_migrations_count);
		return MQE2E_ERR_BAD_VERSION;
	}
	for (i = (unsigned)have; i < kms_migrations_count; i++) {
		const struct kms_migration *m = &kms_migrations[i];
		char *msg = NULL;

		/* PRAGMAs take no bound parameters; the number is our own constant. */
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", m->number);
		if ((r = exec(db, "BEGIN IMMEDIATE")) != MQE2E_OK) {
			snprintf(err, errlen, "%s: cannot start migration %s", db->path, m->name);
			return r;
		}
		if (sqlite3_exec(db->h, m->sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(db->h, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "%s: migration %s failed: %s", db->path, m->name,
			    msg != NULL ? msg : "unknown error");
			sqlite3_free(msg);
			if (!sqlite3_get_autocommit(db->h))
				(void)sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
			return MQE2E_ERR_INTERNAL;
		}
	}
	return MQE2E_OK;
}

/* PRAGMA quick_check: "ok" or the first problem. */
static int
check(struct sqlite_db *db, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *res;
	int r = MQE2E_ERR_IO;

	if (sqlite3_prepare_v2(db->h, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s: cannot read the database: %s (restore it from a "
		    "backup, or move it away to start afresh)", db->path, sqlite3_errmsg(db->h));
		goto out;
	}
	res = sqlite3_column_text(st, 0);
	if (res == NULL || strcmp((const char *)res, "ok") != 0) {
		char *p;

		snprintf(err, errlen, "%s: the database is corrupt: restore it from a backup "
		    "(SQLite: %s)", db->path, res != NULL ? (const char *)res : "?");
		for (p = err; *p != '\0'; p++)   /* one line: SQLite's report has several */
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		goto out;
	}
	r = MQE2E_OK;
 out:
	sqlite3_finalize(st);
	return r;
}

static void
sqlite_close(struct kms_db *base)
{
	struct sqlite_db *db = sq(base);
	size_t i;

	if (db == NULL)
		return;
	for (i = 0; i < KMS_DB_STMTS; i++) {
		sqlite3_finalize(db->stmts[i].st);
		free(db->stmts[i].sql);
	}
	if (db->h != NULL)
		sqlite3_close_v2(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db->path);
	kms_db__clear(&db->base);
	free(db);
}

/* ---- rows as plain values (store_copy.h) ---------------------------------------- */

struct rows_cb {
	const struct kms_table *t;
	int (*cb)(void *arg, const struct kms_value *v);
	void *arg;
};

static int
each_value_row(const struct kms_row *r, void *arg)
{
	sqlite3_stmt *st = r->h;
	struct rows_cb *c = arg;
	struct kms_value v[KMS_TABLE_COLS_MAX];
	unsigned i;

	memset(v, 0, sizeof(v));
	for (i = 0; i < c->t->ncols; i++) {
		switch (sqlite3_column_type(st, (int)i)) {
		case SQLITE_NULL:
			v[i].type = KMS_V_NULL;
			break;
		case SQLITE_INTEGER:
			v[i].type = KMS_V_INT;
			v[i].i = sqlite3_column_int64(st, (int)i);
			break;
		case SQLITE_BLOB:
			v[i].type = KMS_V_BLOB;
			v[i].p = sqlite3_column_blob(st, (int)i);
			v[i].len = (size_t)sqlite3_column_bytes(st, (int)i);
			break;
		case SQLITE_TEXT:
			v[i].type = KMS_V_TEXT;
			v[i].p = sqlite3_column_text(st, (int)i);
			v[i].len = (size_t)sqlite3_column_bytes(st, (int)i);
			break;
		default:               /* no column of ours is REAL */
			return MQE2E_ERR_BAD_FORMAT;
		}
	}
	return c->cb(c->arg, v);
}

static int
sqlite_rows(struct kms_db *db, const struct kms_table *t,
    int (*cb)(void *arg, const struct kms_value *v), void *arg)
{
	struct rows_cb c = { t, cb, arg };
	sqlite3_stmt *st = NULL;
	char sql[512];
	int r;

	if ((r = kms_table__sql(t, 0, '?', sql, sizeof(sql))) != MQE2E_OK ||
	    (r = kms_db_prepare(db, sql, &st)) != MQE2E_OK)
		return r;
	return kms_db_each(db, st, each_value_row, &c);
}

static int
sqlite_row_add(struct kms_db *db, const struct kms_table *t, const struct kms_value *v)
{
	sqlite3_stmt *st = NULL;
	char sql[512];
	unsigned i;
	int r;

	if ((r = kms_table__sql(t, 1, '?', sql, sizeof(sql))) != MQE2E_OK ||
	    (r = kms_db_prepare(db, sql, &st)) != MQE2E_OK)
		return r;
	for (i = 0; i < t->ncols; i++) {
		int col = (int)i + 1;

		if (v[i].len > INT32_MAX) {
			kms_db_release(db, st);
			return MQE2E_ERR_TOO_LONG;
		}
		if (v[i].type == KMS_V_INT)
			sqlite3_bind_int64(st, col, v[i].i);
		else if (v[i].type == KMS_V_TEXT)
			sqlite3_bind_text(st, col, v[i].p, (int)v[i].len, SQLITE_STATIC);
		else if (v[i].type == KMS_V_BLOB)
			sqlite3_bind_blob(st, col, v[i].p, (int)v[i].len, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, col);
	}
	return kms_db_run(db, st);
}

static int
sqlite_copy_done(struct kms_db *db)
{
	sqlite3_stmt *st = NULL;
	int r;

	/* INTEGER PRIMARY KEY continues after the highest id by itself; the
	 * change log starts afresh (store_copy.h) */
	if ((r = kms_db_prepare(db, KMS_COPY_RESET_LOG_1, &st)) != MQE2E_OK ||
	    (r = kms_db_run(db, st)) != MQE2E_OK ||
	    (r = kms_db_prepare(db, KMS_COPY_RESET_LOG_2, &st)) != MQE2E_OK)
		return r;
	return kms_db_run(db, st);
}

#define SQLITE_OP(ret, name, params, args) .name = sqlite__##name,
static const struct kms_store_ops sqlite_ops = {
	.backend = "SQLite",
	KMS_STORE_OPS(SQLITE_OP)
	.begin = sqlite_begin,
	.end = sqlite_end,
	.close = sqlite_close,
	.rows = sqlite_rows,
	.row_add = sqlite_row_add,
	.copy_done = sqlite_copy_done,
};
#undef SQLITE_OP

int
kms_sqlite_open(const char *path, int create, struct kms_db **out, char *err, size_t errlen)
{
	static const char *const pragmas[] = {
		"PRAGMA journal_mode = WAL",
		"PRAGMA synchronous = FULL",
		"PRAGMA foreign_keys = ON",
		"PRAGMA secure_delete = ON",
	};
	struct sqlite_db *db = NULL;
	size_t i;
	int fd, one = 1, r = MQE2E_ERR_NOMEM;

	*out = NULL;
	/* Create it 0600 ourselves: SQLite would use the umask.  Without
	 * create, a missing file is an error (SQLite is not asked to create). */
	if (create) {
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
			snprintf(err, errlen, "%s: cannot create the database: %s", path,
			    strerror(errno));
			return MQE2E_ERR_IO;
		}
		close(fd);
	}
	if ((db = calloc(1, sizeof(*db))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	pthread_mutex_init(&db->lock, NULL);
	if (kms_db__init(&db->base, &sqlite_ops, path) != MQE2E_OK ||
	    (db->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
	    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: cannot open the database: %s", path,
		    db->h != NULL ? sqlite3_errmsg(db->h) : "out of memory");
		r = MQE2E_ERR_IO;
		goto out;
	}
	sqlite3_extended_result_codes(db->h, 1);
	sqlite3_busy_timeout(db->h, 5000);
	/* Keep DB-wal and DB-shm when closing: a restart on a full disk then
	 * needs no new blocks to read (the shared-memory index is not
	 * re-created; the WAL is reused from its start). */
	(void)sqlite3_file_control(db->h, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
	if ((r = check(db, err, errlen)) != MQE2E_OK)
		goto out;
	for (i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++) {
		if (sqlite3_exec(db->h, pragmas[i], NULL, NULL, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s failed: %s", path, pragmas[i],
			    sqlite3_errmsg(db->h));
			r = MQE2E_ERR_IO;
			goto out;
		}
	}
	if ((r = migrate(db, create, err, errlen)) != MQE2E_OK)
		goto out;
	*out = &db->base;
	db = NULL;
	r = MQE2E_OK;
 out:
	if (db != NULL)
		sqlite_close(&db->base);
	return r;
}

