/*
 * pg_db.c - the PostgreSQL backend: connections and their pool,
 * transactions, migrations, counters, statement helpers, rows as plain
 * values and the operations table (see pg.h, store.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"

/* Statements numbered across the process; each connection prepares the
 * ones it runs.  More than this and the rest run unprepared. */
#define PG_STMT_MAX 256

/* Session settings of every connection: a writer that waits longer than
 * lock_timeout for the write lock gives up (503, the client retries)
 * rather than piling up requests, and a session idle inside a transaction
 * (an instance stopped in the middle of one) is ended by the server, so
 * the write lock is never held forever. */
#define PG_SESSION "SET lock_timeout = '10s'; " \
	"SET idle_in_transaction_session_timeout = '60s'; " \
	"SET bytea_output = 'hex'; SET client_encoding = 'UTF8'"

struct pg_conn {
	PGconn *c;                 /* NULL: not connected yet */
	int busy;                  /* held by a transaction */
	int broken;                /* failed: connect again at the next begin */
	int changed;               /* the transaction changed rows */
	unsigned char prepared[PG_STMT_MAX];
};

struct pg_db {
	struct kms_db base;        /* first: a struct kms_db * is a struct pg_db * */
	char *url;                 /* the configured URL (may hold a password: never logged) */
	char *password;            /* database_password_file's, or NULL */
	pthread_mutex_t lock;      /* the pool */
	pthread_cond_t freed;
	pthread_key_t cur;         /* the thread's transaction: a struct pg_conn * */
	int ready;                 /* lock, freed and cur are initialised */
	int down;                  /* a connection broke since the last connect (atomic) */
	struct pg_conn pool[PG_POOL_SIZE];
};

static unsigned next_stmt_id;  /* atomic */

static struct pg_db *
pg(struct kms_db *db)
{
	return (struct pg_db *)db;
}

/* ---- messages ------------------------------------------------------------------ */

/* libpq's message on one line, without its trailing newline. */
static const char *
one_line(const char *msg, char *buf, size_t len)
{
	char *p;

	snprintf(buf, len, "%s", msg != NULL && msg[0] != '\0' ? msg : "unknown error");
	for (p = buf; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	while (p > buf && p[-1] == ' ')
		*--p = '\0';
	return buf;
}

/* The URL as messages show it: postgresql://user@host:port/dbname, without
 * the password and other parameters.  Malformed: MQE2E_ERR_INVALID_ARG
 * with libpq's reason in err. */
static int
display_name(const char *url, char *out, size_t len, char *err, size_t errlen)
{
	PQconninfoOption *opts, *o;
	const char *user = NULL, *host = NULL, *port = NULL, *dbname = NULL;
	char *msg = NULL, line[256];

	if ((opts = PQconninfoParse(url, &msg)) == NULL) {
		/* libpq's message may quote the URL: do not repeat it. */
		snprintf(err, errlen, "database: not a valid postgresql:// URL (%s): see "
		    "mqe2e-kmsd.conf(5)", msg != NULL ? one_line(msg, line, sizeof(line)) :
		    "out of memory");
		PQfreemem(msg);
		return MQE2E_ERR_INVALID_ARG;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "user") == 0)
			user = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			dbname = o->val;
	}
	snprintf(out, len, "postgresql://%s%s%s%s%s/%s", user != NULL ? user : "",
	    user != NULL ? "@" : "", host != NULL ? host : "", port != NULL ? ":" : "",
	    port != NULL ? port : "", dbname != NULL ? dbname : "");
	PQconninfoFree(opts);
	return MQE2E_OK;
}

int
kms_pg_url_has_password(const char *url)
{
	PQconninfoOption *opts, *o;
	int found = 0;

	if ((opts = PQconninfoParse(url, NULL)) == NULL)
		return 1;
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
			found = 1;
	PQconninfoFree(opts);
	return found;
}

/* ---- connections ------------------------------------------------------------------ */

static PGconn *
connect_db(struct pg_db *db, char *err, size_t errlen)
{
	const char *kw[] = { "connect_timeout", "application_name", "dbname", "password", NULL };
	const char *val[] = { "5", "mqe2e-kmsd", db->url, db->password, NULL };
	char line[512];
	PGresult *res;
	PGconn *c;

	/* expand_dbname: the URL's own settings override the ones before it,
	 * the password file's the URL's. */
	c = PQconnectdbParams(kw, val, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errlen, "%s: cannot connect: %s", db->base.name,
		    c != NULL ? one_line(PQerrorMessage(c), line, sizeof(line)) : "out of memory");
		PQfinish(c);
		return NULL;
	}
	res = PQexec(c, PG_SESSION);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "%s: cannot set up the session: %s", db->base.name,
		    one_line(PQerrorMessage(c), line, sizeof(line)));
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

/* Make conn usable: connect it if it never was, or again if it broke. */
static int
conn_ready(struct pg_db *db, struct pg_conn *conn)
{
	char err[600];

	if (conn->c != NULL && !conn->broken && PQstatus(conn->c) == CONNECTION_OK)
		return MQE2E_OK;
	PQfinish(conn->c);
	conn->c = NULL;
	conn->broken = 0;
	memset(conn->prepared, 0, sizeof(conn->prepared));
	if ((conn->c = connect_db(db, err, sizeof(err))) == NULL) {
		__atomic_store_n(&db->down, 1, __ATOMIC_RELAXED);
		kms_log_at(LOG_ERR, "%s", err);
		kms_metrics_db_error();
		return MQE2E_ERR_UNAVAILABLE;
	}
	if (__atomic_exchange_n(&db->down, 0, __ATOMIC_RELAXED))
		kms_log("%s: connected again", db->base.name);
	return MQE2E_OK;
}

/* A connection of the pool for this transaction (waits for one). */
static struct pg_conn *
pool_take(struct pg_db *db)
{
	struct pg_conn *conn = NULL;
	unsigned i;

	pthread_mutex_lock(&db->lock);
	for (;;) {
		/* An open connection first; a new one only when all are busy. */
		for (i = 0; i < PG_POOL_SIZE && conn == NULL; i++)
			if (!db->pool[i].busy && db->pool[i].c != NULL)
				conn = &db->pool[i];
		for (i = 0; i < PG_POOL_SIZE && conn == NULL; i++)
			if (!db->pool[i].busy)
				conn = &db->pool[i];
		if (conn != NULL)
			break;
		pthread_cond_wait(&db->freed, &db->lock);
	}
	conn->busy = 1;
	pthread_mutex_unlock(&db->lock);
	return conn;
}

static void
pool_put(struct pg_db *db, struct pg_conn *conn)
{
	pthread_mutex_lock(&db->lock);
	conn->busy = 0;
	conn->changed = 0;
	pthread_cond_signal(&db->freed);
	pthread_mutex_unlock(&db->lock);
}

/* ---- errors ---------------------------------------------------------------------- */

/* Translate a failed result (or a failure without one) on conn. */
static int
pg_error(struct pg_db *db, struct pg_conn *conn, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : NULL;
	char line[512];

	if (msg == NULL || msg[0] == '\0')
		msg = PQerrorMessage(conn->c);
	one_line(msg, line, sizeof(line));
	if (PQstatus(conn->c) != CONNECTION_OK || (state != NULL && (strncmp(state, "08", 2) == 0 ||
	    strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
	    strcmp(state, "57P03") == 0 || strcmp(state, "53300") == 0))) {
		conn->broken = 1;
		__atomic_store_n(&db->down, 1, __ATOMIC_RELAXED);
		kms_log_at(LOG_ERR, "%s: the database cannot be reached (%s): requests fail with "
		    "503 until it answers again; the next transaction connects again",
		    db->base.name, line);
		kms_metrics_db_error();
		return MQE2E_ERR_UNAVAILABLE;
	}
	if (state != NULL && strncmp(state, "23", 2) == 0)
		return MQE2E_ERR_CONFLICT;    /* unique_violation 23505, check, foreign key */
	if (state != NULL && strcmp(state, "53100") == 0)
		return kms_db__no_space(&db->base, line);
	kms_log_at(LOG_ERR, "%s: database error: %s", db->base.name, line);
	kms_metrics_db_error();
	if (state != NULL && (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0))
		return MQE2E_ERR_TIMEOUT;     /* lock_timeout, statement_timeout */
	if (state != NULL && strcmp(state, "53200") == 0)
		return MQE2E_ERR_NOMEM;
	return MQE2E_ERR_INTERNAL;
}

/* Run sql (no parameters) on conn, expecting want. */
static int
simple(struct pg_db *db, struct pg_conn *conn, const char *sql, ExecStatusType want)
{
	PGresult *res = PQexec(conn->c, sql);
	int r = PQresultStatus(res) == want ? MQE2E_OK : pg_error(db, conn, res);

	PQclear(res);
	return r;
}

/* ---- transactions ------------------------------------------------------------------ */

static int
begin_on(struct pg_db *db, struct pg_conn *conn, int write)
{
	char sql[160];
	int r;

	if (!write)
		return simple(db, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		    PGRES_COMMAND_OK);
	if ((r = simple(db, conn, "BEGIN ISOLATION LEVEL READ COMMITTED", PGRES_COMMAND_OK)) !=
	    MQE2E_OK)
		return r;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%d, %d)", PG_LOCK_CLASS,
	    PG_LOCK_WRITE);
	if ((r = simple(db, conn, sql, PGRES_TUPLES_OK)) != MQE2E_OK && !conn->broken)
		(void)simple(db, conn, "ROLLBACK", PGRES_COMMAND_OK);
	return r;
}

static int
pg_begin(struct kms_db *base, int write)
{
	struct pg_db *db = pg(base);
	struct pg_conn *conn = pool_take(db);
	int r;

	if ((r = conn_ready(db, conn)) == MQE2E_OK &&
	    (r = begin_on(db, conn, write)) == MQE2E_ERR_UNAVAILABLE &&
	    (r = conn_ready(db, conn)) == MQE2E_OK) {
		/* The server restarted since this connection last worked:
		 * nothing happened yet, so connect again and start over. */
		r = begin_on(db, conn, write);
	}
	if (r != MQE2E_OK) {
		pool_put(db, conn);
		return r;
	}
	conn->changed = 0;
	pthread_setspecific(db->cur, conn);
	return MQE2E_OK;
}

static int
pg_end(struct kms_db *base, int r)
{
	struct pg_db *db = pg(base);
	struct pg_conn *conn = pthread_getspecific(db->cur);
	PGresult *res;

	if (conn == NULL) {
		kms_log_at(LOG_ERR, "%s: kms_db_end without a transaction (a bug)", base->name);
		return r != MQE2E_OK ? r : MQE2E_ERR_INTERNAL;
	}
	pthread_setspecific(db->cur, NULL);
	if (r == MQE2E_OK && !conn->broken) {
		res = PQexec(conn->c, "COMMIT");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			r = pg_error(db, conn, res);
		else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
			/* The server rolled back a transaction in which a statement
			 * failed although the caller went on. */
			kms_log_at(LOG_ERR, "%s: a transaction was rolled back after a failed "
			    "statement (a bug)", base->name);
			r = MQE2E_ERR_INTERNAL;
		} else if (conn->changed)
			kms_db__wrote(base);
		PQclear(res);
	} else if (r == MQE2E_OK)
		r = MQE2E_ERR_UNAVAILABLE;
	if (r != MQE2E_OK && !conn->broken && PQtransactionStatus(conn->c) != PQTRANS_IDLE)
		(void)simple(db, conn, "ROLLBACK", PGRES_COMMAND_OK);
	pool_put(db, conn);
	return r;
}

/* ---- statements --------------------------------------------------------------------- */

void
pg_arg_int(struct pg_args *a, int64_t v)
{
	if (a->n >= PG_ARGS_MAX) {
		a->n = PG_ARGS_MAX + 1;
		return;
	}
	snprintf(a->num[a->n], sizeof(a->num[a->n]), "%" PRId64, v);
	a->v[a->n] = a->num[a->n];
	a->len[a->n] = 0;
	a->fmt[a->n] = 0;
	a->n++;
}

void
pg_arg_text(struct pg_args *a, const char *s)
{
	if (a->n >= PG_ARGS_MAX) {
		a->n = PG_ARGS_MAX + 1;
		return;
	}
	a->v[a->n] = s;
	a->len[a->n] = 0;
	a->fmt[a->n] = 0;
	a->n++;
}

void
pg_arg_blob(struct pg_args *a, const void *p, size_t len)
{
	if (a->n >= PG_ARGS_MAX || len > INT32_MAX) {
		a->n = PG_ARGS_MAX + 1;
		return;
	}
	a->v[a->n] = p;
	a->len[a->n] = (int)len;
	a->fmt[a->n] = 1;
	a->n++;
}

void
pg_arg_limit(struct pg_args *a, unsigned limit)
{
	if (limit == 0)
		pg_arg_text(a, NULL);
	else
		pg_arg_int(a, limit);
}

static unsigned
stmt_id(struct pg_query *q)
{
	unsigned id = __atomic_load_n(&q->id, __ATOMIC_ACQUIRE), fresh;

	if (id != 0)
		return id;
	fresh = __atomic_add_fetch(&next_stmt_id, 1, __ATOMIC_RELAXED);
	if (__atomic_compare_exchange_n(&q->id, &id, fresh, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_ACQUIRE))
		return fresh;
	return id;   /* another thread numbered it first */
}

/* Run sql (prepared under id if id is in range, else unnamed) with a. */
static int
run(struct kms_db *base, const char *sql, unsigned id, struct pg_args *a, PGresult **out,
    int64_t *changes)
{
	static struct pg_args none = PG_ARGS_INIT;
	struct pg_db *db = pg(base);
	struct pg_conn *conn = pthread_getspecific(db->cur);
	PGresult *res;
	char name[32];
	const char *n;
	int r;

	if (out != NULL)
		*out = NULL;
	if (changes != NULL)
		*changes = 0;
	if (a == NULL)
		a = &none;
	if (conn == NULL || a->n > PG_ARGS_MAX) {
		kms_log_at(LOG_ERR, "%s: a statement outside a transaction or with too many "
		    "parameters (a bug)", base->name);
		return MQE2E_ERR_INTERNAL;
	}
	if (conn->broken)
		return MQE2E_ERR_UNAVAILABLE;
	if (id > 0 && id < PG_STMT_MAX) {
		snprintf(name, sizeof(name), "mqe2e_%u", id);
		if (!conn->prepared[id]) {
			res = PQprepare(conn->c, name, sql, 0, NULL);
			if (PQresultStatus(res) != PGRES_COMMAND_OK) {
				r = pg_error(db, conn, res);
				PQclear(res);
				return r;
			}
			PQclear(res);
			conn->prepared[id] = 1;
		}
		res = PQexecPrepared(conn->c, name, a->n, a->v, a->len, a->fmt, 0);
	} else
		res = PQexecParams(conn->c, sql, a->n, NULL, a->v, a->len, a->fmt, 0);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		n = PQcmdTuples(res);
		if (n[0] != '\0' && strcmp(n, "0") != 0 && strncmp(PQcmdStatus(res), "SELECT", 6) != 0) {
			conn->changed = 1;
			if (changes != NULL)
				*changes = strtoll(n, NULL, 10);
		}
		if (out != NULL) {
			*out = res;
			return MQE2E_OK;
		}
		PQclear(res);
		return MQE2E_OK;
	default:
		r = pg_error(db, conn, res);
		PQclear(res);
		return r;
	}
}

int
pg__exec(struct kms_db *db, struct pg_query *q, struct pg_args *a, PGresult **res,
    int64_t *changes)
{
	return run(db, q->sql, stmt_id(q), a, res, changes);
}

/* ---- the column reader of rows.h over a row of a result ------------------------ */

static int64_t
column_int(const struct kms_row *r, int col)
{
	return pg_int(r->h, r->i, col);
}

static const char *
column_str(const struct kms_row *r, int col)
{
	return pg_str(r->h, r->i, col);
}

static int
column_blob(const struct kms_row *r, int col, uint8_t *out, size_t len)
{
	return pg_blob(r->h, r->i, col, out, len);
}

static const struct kms_row_ops column_ops = { column_int, column_str, column_blob };

const struct kms_row *
pg_row(struct kms_row *r, const PGresult *res, int i)
{
	r->ops = &column_ops;
	r->h = (PGresult *)res;   /* only read */
	r->i = i;
	return r;
}

int
pg__each(struct kms_db *db, struct pg_query *q, struct pg_args *a,
    int (*row)(const struct kms_row *r, void *arg), void *arg)
{
	struct kms_row cur;
	PGresult *res = NULL;
	int n, r;

	if ((r = pg__exec(db, q, a, &res, NULL)) != MQE2E_OK)
		return r;
	(void)pg_row(&cur, res, 0);
	n = PQntuples(res);
	for (cur.i = 0; cur.i < n && r == MQE2E_OK; cur.i++)
		r = row(&cur, arg);
	PQclear(res);
	return r;
}

int
pg__one(struct kms_db *db, struct pg_query *q, struct pg_args *a, PGresult **res)
{
	int r;

	if ((r = pg__exec(db, q, a, res, NULL)) != MQE2E_OK)
		return r;
	if (PQntuples(*res) > 0)
		return MQE2E_OK;
	PQclear(*res);
	*res = NULL;
	return MQE2E_ERR_NOT_FOUND;
}

void
pg_text(const PGresult *res, int i, int col, char *out, size_t out_len)
{
	snprintf(out, out_len, "%s", pg_str(res, i, col));
}

const char *
pg_str(const PGresult *res, int i, int col)
{
	return PQgetisnull(res, i, col) ? "" : PQgetvalue(res, i, col);
}

int64_t
pg_int(const PGresult *res, int i, int col)
{
	const char *s;
	char *end;
	long long v;

	if (PQgetisnull(res, i, col))
		return 0;
	s = PQgetvalue(res, i, col);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		return 0;
	return (int64_t)v;
}

/* A bytea in hex output ("\x0a1b..."): its length, and the bytes into out
 * when out is not NULL. */
static int
unhex(const PGresult *res, int i, int col, uint8_t *out, size_t *len)
{
	const char *s;
	size_t n;

	if (PQgetisnull(res, i, col))
		return MQE2E_ERR_BAD_FORMAT;
	s = PQgetvalue(res, i, col);
	n = (size_t)PQgetlength(res, i, col);
	if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2 != 0)
		return MQE2E_ERR_BAD_FORMAT;
	if (out != NULL && (n - 2) / 2 != *len)
		return MQE2E_ERR_BAD_FORMAT;
	*len = (n - 2) / 2;
	if (out != NULL && mqe2e_unhex(s + 2, n - 2, out, *len) != 0)
		return MQE2E_ERR_BAD_FORMAT;
	return MQE2E_OK;
}

int
pg_blob(const PGresult *res, int i, int col, uint8_t *out, size_t len)
{
	return unhex(res, i, col, out, &len);
}

int
pg_blob_dup(const PGresult *res, int i, int col, uint8_t **out, size_t *len)
{
	int r;

	*out = NULL;
	if ((r = unhex(res, i, col, NULL, len)) != MQE2E_OK)
		return r;
	if ((*out = malloc(*len > 0 ? *len : 1)) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((r = unhex(res, i, col, *out, len)) != MQE2E_OK) {
		free(*out);
		*out = NULL;
	}
	return r;
}

/* ---- counters ------------------------------------------------------------------------ */

/* The value the one-row query q gives for the meta key $1, in *v; no such
 * row is an internal error (the migrations create every counter). */
static int
counter_row(struct kms_db *db, struct pg_query *q, const char *key, int64_t *v)
{
	struct pg_args a = PG_ARGS_INIT;
	PGresult *res = NULL;
	int r;

	pg_arg_text(&a, key);
	if ((r = pg__one(db, q, &a, &res)) == MQE2E_OK)
		*v = pg_int(res, 0, 0);
	PQclear(res);
	return r == MQE2E_ERR_NOT_FOUND ? MQE2E_ERR_INTERNAL : r;
}

int
pg__counter_get(struct kms_db *db, const char *key, int64_t *v)
{
	static struct pg_query q = PG_QUERY("SELECT value FROM meta WHERE key = $1");

	return counter_row(db, &q, key, v);
}

int
pg__counter_bump(struct kms_db *db, const char *key, int64_t *v)
{
	static struct pg_query q = PG_QUERY("UPDATE meta SET value = value + 1 WHERE key = $1 "
	    "RETURNING value");

	return counter_row(db, &q, key, v);
}

int
pg__policy_stamp(struct kms_db *db, int64_t version, int64_t now)
{
	static struct pg_query stamp = PG_QUERY("UPDATE policy_log SET version = $1, at = $2 "
	    "WHERE version IS NULL");
	static struct pg_query prune = PG_QUERY("DELETE FROM policy_log WHERE version <= $1");
	static struct pg_query floor_q = PG_QUERY("UPDATE meta SET value = greatest(value, $1) "
	    "WHERE key = 'policy_log_floor'");
	struct pg_args a = PG_ARGS_INIT, f = PG_ARGS_INIT;
	int64_t floor = version - KMS_POLICY_LOG_VERSIONS;
	int r;

	pg_arg_int(&a, version);
	pg_arg_int(&a, now);
	if ((r = pg__exec(db, &stamp, &a, NULL, NULL)) != MQE2E_OK || floor <= 0)
		return r;
	/* a bounded log: deltas reach back KMS_POLICY_LOG_VERSIONS versions */
	pg_arg_int(&f, floor);
	if ((r = pg__exec(db, &prune, &f, NULL, NULL)) != MQE2E_OK)
		return r;
	return pg__exec(db, &floor_q, &f, NULL, NULL);
}

int
pg__policy_changes(struct kms_db *db, int64_t since,
    int (*cb)(void *arg, const char *kind, const char *name), void *arg, int64_t *since_at)
{
	static struct pg_query at_q = PG_QUERY("SELECT coalesce(max(at), 0) FROM policy_log "
	    "WHERE version <= $1");
	static struct pg_query list = PG_QUERY("SELECT DISTINCT kind, name FROM policy_log "
	    "WHERE version > $1");
	struct kms_each c = { .cb.change = cb, .arg = arg };
	struct pg_args a = PG_ARGS_INIT;
	PGresult *res = NULL;
	int64_t floor = 0;
	int r;

	*since_at = 0;
	if ((r = pg__counter_get(db, "policy_log_floor", &floor)) != MQE2E_OK)
		return r;
	if (since < floor)
		return MQE2E_ERR_NOT_FOUND;
	pg_arg_int(&a, since);
	if ((r = pg__one(db, &at_q, &a, &res)) == MQE2E_OK)
		*since_at = pg_int(res, 0, 0);
	PQclear(res);
	if (r != MQE2E_OK)
		return r;
	return pg__each(db, &list, &a, kms_each__change, &c);
}

/* ---- rows as plain values (store_copy.h) ------------------------------------------ */

static int
pg_rows(struct kms_db *db, const struct kms_table *t,
    int (*cb)(void *arg, const struct kms_value *v), void *arg)
{
	struct kms_value v[KMS_TABLE_COLS_MAX];
	uint8_t *blobs[KMS_TABLE_COLS_MAX];
	PGresult *res = NULL;
	char sql[512];
	int i, n, r;
	unsigned c;

	if ((r = kms_table__sql(t, 0, '$', sql, sizeof(sql))) != MQE2E_OK ||
	    (r = run(db, sql, 0, NULL, &res, NULL)) != MQE2E_OK)
		return r;
	n = PQntuples(res);
	for (i = 0; i < n && r == MQE2E_OK; i++) {
		memset(v, 0, sizeof(v));
		memset(blobs, 0, sizeof(blobs));
		for (c = 0; c < t->ncols && r == MQE2E_OK; c++) {
			Oid type = PQftype(res, (int)c);

			if (PQgetisnull(res, i, (int)c))
				v[c].type = KMS_V_NULL;
			else if (type == 17) {             /* bytea */
				v[c].type = KMS_V_BLOB;
				r = pg_blob_dup(res, i, (int)c, &blobs[c], &v[c].len);
				v[c].p = blobs[c];
			} else if (type == 20 || type == 21 || type == 23) {   /* int8/2/4 */
				v[c].type = KMS_V_INT;
				v[c].i = pg_int(res, i, (int)c);
			} else {
				v[c].type = KMS_V_TEXT;
				v[c].p = PQgetvalue(res, i, (int)c);
				v[c].len = (size_t)PQgetlength(res, i, (int)c);
			}
		}
		if (r == MQE2E_OK)
			r = cb(arg, v);
		for (c = 0; c < t->ncols; c++) {
			if (blobs[c] != NULL)
				mqe2e_wipe(blobs[c], v[c].len);
			free(blobs[c]);
		}
	}
	PQclear(res);
	return r;
}

static int
pg_row_add(struct kms_db *db, const struct kms_table *t, const struct kms_value *v)
{
	struct pg_args a = PG_ARGS_INIT;
	char sql[512];
	unsigned c;
	int r;

	if ((r = kms_table__sql(t, 1, '$', sql, sizeof(sql))) != MQE2E_OK)
		return r;
	for (c = 0; c < t->ncols; c++) {
		if (v[c].type == KMS_V_INT)
			pg_arg_int(&a, v[c].i);
		else if (v[c].type == KMS_V_TEXT || v[c].type == KMS_V_BLOB)
			pg_arg_blob(&a, v[c].p, v[c].len);   /* text's binary form is its bytes */
		else
			pg_arg_text(&a, NULL);
	}
	return run(db, sql, 0, &a, NULL, NULL);
}

static int
pg_copy_done(struct kms_db *db)
{
	char sql[256];
	unsigned i;
	int r;

	for (i = 0; i < kms_tables_count; i++) {
		const struct kms_table *t = &kms_tables[i];

		if (t->identity == NULL)
			continue;
		snprintf(sql, sizeof(sql), "SELECT setval(pg_get_serial_sequence('\"%s\"', '%s'), "
		    "coalesce(max(\"%s\"), 0) + 1, false) FROM \"%s\"", t->name, t->identity,
		    t->identity, t->name);
		if ((r = run(db, sql, 0, NULL, NULL, NULL)) != MQE2E_OK)
			return r;
	}
	/* the change log starts afresh (store_copy.h) */
	if ((r = run(db, KMS_COPY_RESET_LOG_1, 0, NULL, NULL, NULL)) != MQE2E_OK)
		return r;
	return run(db, KMS_COPY_RESET_LOG_2, 0, NULL, NULL, NULL);
}

/* ---- opening: migrations ------------------------------------------------------------ */

/* Run sql on the bare connection c (outside the pool, no parameters). */
static int
direct(PGconn *c, const char *sql, ExecStatusType want, char *line, size_t len)
{
	PGresult *res = PQexec(c, sql);
	int ok = PQresultStatus(res) == want;

	if (!ok)
		one_line(PQresultErrorMessage(res)[0] != '\0' ? PQresultErrorMessage(res) :
		    PQerrorMessage(c), line, len);
	PQclear(res);
	return ok ? MQE2E_OK : MQE2E_ERR_IO;
}

static int
schema_version(PGconn *c, int64_t *v, char *line, size_t len)
{
	PGresult *res;
	int r = MQE2E_ERR_IO;

	*v = 0;
	res = PQexec(c, "SELECT to_regclass('schema_version') IS NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		r = MQE2E_OK;
		goto out;
	}
	PQclear(res);
	res = PQexec(c, "SELECT version FROM schema_version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		goto out;
	*v = pg_int(res, 0, 0);
	r = MQE2E_OK;
 out:
	if (r != MQE2E_OK)
		one_line(PQresultErrorMessage(res)[0] != '\0' ? PQresultErrorMessage(res) :
		    "schema_version does not have one row", line, len);
	PQclear(res);
	return r;
}

/* Apply every compiled-in migration above the database's schema_version,
 * one instance at a time (a session advisory lock: a second instance waits,
 * then finds the schema current). */
static int
migrate(struct pg_db *db, PGconn *c, int create, char *err, size_t errlen)
{
	char sql[160], line[512];
	int64_t have = 0;
	unsigned i;
	int r;

	snprintf(sql, sizeof(sql), "SET lock_timeout = '300s'; SELECT pg_advisory_lock(%d, %d)",
	    PG_LOCK_CLASS, PG_LOCK_MIGRATE);
	if (direct(c, sql, PGRES_TUPLES_OK, line, sizeof(line)) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot take the migration lock: %s", db->base.name, line);
		return MQE2E_ERR_IO;
	}
	if ((r = schema_version(c, &have, line, sizeof(line))) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot read the schema version: %s (is it an mqe2e KMS "
		    "database? restore it from a backup)", db->base.name, line);
		goto out;
	}
	if (have == 0 && !create) {
		snprintf(err, errlen, "%s: the database is empty (no KMS schema): restore it from "
		    "a backup (pg_restore); only 'mqe2e-kmsd --init', or the first start of a new "
		    "data directory, lays out a new one", db->base.name);
		r = MQE2E_ERR_NOT_FOUND;
		goto out;
	}
	if (have < 0 || (uint64_t)have > kms_migrations_count) {
		snprintf(err, errlen, "%s: schema version %lld is newer than this mqe2e-kmsd "
		    "knows (%u): run a newer mqe2e-kmsd", db->base.name, (long long)have,
		    kms_migrations_count);
		r = MQE2E_ERR_BAD_VERSION;
		goto out;
	}
	for (i = (unsigned)have; i < kms_migrations_count; i++) {
		const struct kms_migration *m = &kms_pg_migrations[i];

		snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %u", m->number);
		if (direct(c, "BEGIN", PGRES_COMMAND_OK, line, sizeof(line)) != MQE2E_OK ||
		    direct(c, m->sql, PGRES_COMMAND_OK, line, sizeof(line)) != MQE2E_OK ||
		    direct(c, sql, PGRES_COMMAND_OK, line, sizeof(line)) != MQE2E_OK ||
		    direct(c, "COMMIT", PGRES_COMMAND_OK, line, sizeof(line)) != MQE2E_OK) {
			snprintf(err, errlen, "%s: migration %s failed: %s", db->base.name, m->name,
			    line);
			(void)direct(c, "ROLLBACK", PGRES_COMMAND_OK, line, sizeof(line));
			r = MQE2E_ERR_INTERNAL;
			goto out;
		}
		kms_log("%s: applied migration %s", db->base.name, m->name);
	}
	r = MQE2E_OK;
 out:
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_unlock(%d, %d); SET lock_timeout = '10s'",
	    PG_LOCK_CLASS, PG_LOCK_MIGRATE);
	if (direct(c, sql, PGRES_COMMAND_OK, line, sizeof(line)) != MQE2E_OK && r == MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot release the migration lock: %s", db->base.name,
		    line);
		r = MQE2E_ERR_IO;
	}
	return r;
}

static void
pg_close(struct kms_db *base)
{
	struct pg_db *db = pg(base);
	unsigned i;

	if (db == NULL)
		return;
	for (i = 0; i < PG_POOL_SIZE; i++)
		PQfinish(db->pool[i].c);
	if (db->ready) {
		pthread_key_delete(db->cur);
		pthread_cond_destroy(&db->freed);
		pthread_mutex_destroy(&db->lock);
	}
	if (db->url != NULL)
		mqe2e_wipe(db->url, strlen(db->url));
	free(db->url);
	if (db->password != NULL)
		mqe2e_wipe(db->password, strlen(db->password));
	free(db->password);
	kms_db__clear(&db->base);
	free(db);
}

#define PG_OP(ret, name, params, args) .name = pg__##name,
static const struct kms_store_ops pg_ops = {
	.backend = "PostgreSQL",
	KMS_STORE_OPS(PG_OP)
	.begin = pg_begin,
	.end = pg_end,
	.close = pg_close,
	.rows = pg_rows,
	.row_add = pg_row_add,
	.copy_done = pg_copy_done,
	.notify = pg__notify,
};
#undef PG_OP

PGconn *
kms_pg_connect(struct kms_db *db, char *err, size_t errlen)
{
	if (db->ops != &pg_ops) {
		snprintf(err, errlen, "%s is not a PostgreSQL database", db->name);
		return NULL;
	}
	return connect_db(pg(db), err, errlen);
}

int
kms_pg_open(const char *url, const char *password, int create, struct kms_db **out, char *err,
    size_t errlen)
{
	struct pg_db *db = NULL;
	char name[512];
	int r;

	*out = NULL;
	if ((r = display_name(url, name, sizeof(name), err, errlen)) != MQE2E_OK)
		return r;
	if ((db = calloc(1, sizeof(*db))) == NULL ||
	    kms_db__init(&db->base, &pg_ops, name) != MQE2E_OK ||
	    (db->url = strdup(url)) == NULL ||
	    (password != NULL && (db->password = strdup(password)) == NULL)) {
		snprintf(err, errlen, "out of memory");
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if (pthread_key_create(&db->cur, NULL) != 0) {
		snprintf(err, errlen, "out of thread-specific keys");
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	pthread_mutex_init(&db->lock, NULL);
	pthread_cond_init(&db->freed, NULL);
	db->ready = 1;
	/* The first connection of the pool applies the migrations. */
	if ((db->pool[0].c = connect_db(db, err, errlen)) == NULL) {
		r = MQE2E_ERR_UNAVAILABLE;
		goto out;
	}
	if ((r = migrate(db, db->pool[0].c, create, err, errlen)) != MQE2E_OK)
		goto out;
	*out = &db->base;
	db = NULL;
 out:
	if (db != NULL)
		pg_close(&db->base);
	return r;
}
