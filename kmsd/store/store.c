/*
 * store.c - the one entry to the storage backends (store.h): picks the
 * backend when a database is opened, dispatches every call to it, keeps the
 * full-disk state both backends report, and copies a database from one
 * backend to another (store_copy.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "store_backend.h"

int
kms_db_is_url(const char *where)
{
	return strncasecmp(where, "postgresql://", 13) == 0 ||
	    strncasecmp(where, "postgres://", 11) == 0;
}

int
kms_db_open(const char *where, const char *password, int create, struct kms_db **out,
    char *err, size_t errlen)
{
	*out = NULL;
	if (kms_db_is_url(where)) {
#ifdef HAVE_POSTGRESQL
		return kms_pg_open(where, password, create, out, err, errlen);
#else
		snprintf(err, errlen, "database: this mqe2e-kmsd was built without PostgreSQL "
		    "(configure --without-postgresql): rebuild it with libpq to use a "
		    "postgresql:// database");
		return MQE2E_ERR_INVALID_ARG;
#endif
	}
	if (password != NULL) {
		snprintf(err, errlen, "%s: database_password_file is for a postgresql:// database, "
		    "not an SQLite file", where);
		return MQE2E_ERR_INVALID_ARG;
	}
	return kms_sqlite_open(where, create, out, err, errlen);
}

int
kms_db_url_has_password(const char *where)
{
#ifdef HAVE_POSTGRESQL
	return kms_pg_url_has_password(where);
#else
	return strchr(where, '@') != NULL;   /* cannot parse it: assume the worst */
#endif
}

const char *
kms_db_name(const struct kms_db *db)
{
	return db->name;
}

const char *
kms_db_backend(const struct kms_db *db)
{
	return db->ops->backend;
}

void
kms_db_close(struct kms_db *db)
{
	if (db != NULL)
		db->ops->close(db);
}

int
kms_db_begin(struct kms_db *db, int write)
{
	return db->ops->begin(db, write);
}

int
kms_db_end(struct kms_db *db, int r)
{
	return db->ops->end(db, r);
}

/* kms_store_NAME(...) { return db->ops->NAME(...); } for every operation. */
#define DISPATCH(ret, name, params, args) \
	ret kms_store_##name params { return db->ops->name args; }
KMS_STORE_OPS(DISPATCH)
#undef DISPATCH

int
kms_store_notify(struct kms_db *db, const char *what, int64_t value)
{
	return db->ops->notify != NULL ? db->ops->notify(db, what, value) : MQE2E_OK;
}

int
kms_store_policy_bump(struct kms_db *db, uint64_t *version)
{
	int64_t v = 0;
	int r;

	if ((r = kms_store_counter_bump(db, "policy_version", &v)) != MQE2E_OK ||
	    (r = kms_store_policy_stamp(db, v, (int64_t)time(NULL))) != MQE2E_OK ||
	    (r = kms_store_notify(db, "policy", v)) != MQE2E_OK)
		return r;
	*version = (uint64_t)v;
	return MQE2E_OK;
}

/* ---- the common part of a backend's struct kms_db ------------------------------ */

int
kms_db__init(struct kms_db *db, const struct kms_store_ops *ops, const char *name)
{
	db->ops = ops;
	db->full_since = db->full_logged = 0;
	return (db->name = strdup(name)) != NULL ? MQE2E_OK : MQE2E_ERR_NOMEM;
}

void
kms_db__clear(struct kms_db *db)
{
	free(db->name);
	db->name = NULL;
}

int64_t
kms_db_full_since(struct kms_db *db)
{
	return __atomic_load_n(&db->full_since, __ATOMIC_RELAXED);
}

int
kms_db__no_space(struct kms_db *db, const char *detail)
{
	int64_t now = (int64_t)time(NULL), none = 0, last;

	(void)__atomic_compare_exchange_n(&db->full_since, &none, now, 0, __ATOMIC_RELAXED,
	    __ATOMIC_RELAXED);
	/* Every write fails alike until space is freed: say it once a minute. */
	last = __atomic_load_n(&db->full_logged, __ATOMIC_RELAXED);
	if (now - last >= 60 && __atomic_compare_exchange_n(&db->full_logged, &last, now, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		kms_log_at(LOG_ERR, "%s: the disk is full (%s): writes fail until space is freed "
		    "on it; key delivery goes on", db->name, detail);
	kms_metrics_db_error();
	return MQE2E_ERR_NO_SPACE;
}

void
kms_db__wrote(struct kms_db *db)
{
	if (__atomic_exchange_n(&db->full_since, 0, __ATOMIC_RELAXED) != 0)
		kms_log("%s: writes work again (the disk has space)", db->name);
}

/* ---- copying a database (store_copy.h) ------------------------------------------ */

const struct kms_table kms_tables[] = {
	{ "meta", { "key", "value" }, 2, "key", "key", NULL },
	{ "clients", { "id", "name", "kind", "created", "revoked_at", "revoke_reason" }, 6,
	    "id", NULL, "id" },
	{ "certs", { "id", "serial", "client_id", "cert_pem", "not_before", "not_after",
	    "created", "revoked_at", "revoke_reason" }, 9, "id", NULL, "id" },
	{ "topic_groups", { "id", "name", "filter", "scheme", "rotate_s", "grace_s", "created",
	    "next_rotation", "future_epochs" }, 9, "id", NULL, "id" },
	{ "epochs", { "group_id", "epoch", "state", "created", "activated", "expires", "gk_p",
	    "gk_b", "cause" }, 9, "group_id, epoch", NULL, NULL },
	{ "grants", { "client_id", "group_id", "right", "created" }, 4,
	    "client_id, group_id, \"right\"", NULL, NULL },
	{ "rekeys", { "group_id", "epoch", "client", "reason", "at" }, 5,
	    "group_id, at, epoch, client", NULL, NULL },
	{ "keycheck", { "id", "sealed", "created" }, 3, "id", NULL, NULL },
	{ "crl", { "id", "number", "issued", "revoked", "pem" }, 5, "id", NULL, NULL },
};
const unsigned kms_tables_count = sizeof(kms_tables) / sizeof(kms_tables[0]);

/* Append to sql[len] at *n; a write that does not fit sets *n past len. */
static void sql_add(char *sql, size_t len, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
sql_add(char *sql, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*n >= len)
		return;
	va_start(ap, fmt);
	w = vsnprintf(sql + *n, len - *n, fmt, ap);
	va_end(ap);
	*n = w < 0 ? len : *n + (size_t)w;
}

int
kms_table__sql(const struct kms_table *t, int insert, char param, char *sql, size_t len)
{
	size_t n = 0;
	unsigned i;

	if (insert)
		sql_add(sql, len, &n, "INSERT INTO \"%s\" (", t->name);
	else
		sql_add(sql, len, &n, "SELECT ");
	for (i = 0; i < t->ncols; i++)
		sql_add(sql, len, &n, "%s\"%s\"", i > 0 ? ", " : "", t->cols[i]);
	if (!insert) {
		sql_add(sql, len, &n, " FROM \"%s\" ORDER BY %s", t->name, t->order);
		return n < len ? MQE2E_OK : MQE2E_ERR_TOO_LONG;
	}
	sql_add(sql, len, &n, ") VALUES (");
	for (i = 0; i < t->ncols; i++)
		sql_add(sql, len, &n, "%s%c%u", i > 0 ? ", " : "", param, i + 1);
	sql_add(sql, len, &n, ")");
	/* The one replaced table (meta) has two columns: key and value. */
	if (t->key != NULL)
		sql_add(sql, len, &n, " ON CONFLICT (\"%s\") DO UPDATE SET \"%s\" = "
		    "excluded.\"%s\"", t->key, t->cols[1], t->cols[1]);
	return n < len ? MQE2E_OK : MQE2E_ERR_TOO_LONG;
}

struct copy {
	struct kms_db *to;
	const struct kms_table *t;
	uint64_t rows;
	void (*progress)(void *arg, const char *table, uint64_t rows, int done);
	void *arg;
};

static int
copy_row(void *arg, const struct kms_value *v)
{
	struct copy *c = arg;
	int r;

	if ((r = c->to->ops->row_add(c->to, c->t, v)) != MQE2E_OK)
		return r;
	if (++c->rows % 1000 == 0 && c->progress != NULL)
		c->progress(c->arg, c->t->name, c->rows, 0);
	return MQE2E_OK;
}

static int
any_row(void *arg, const struct kms_value *v)
{
	(void)v;
	*(int *)arg = 1;
	return MQE2E_ERR_CONFLICT;   /* one is enough */
}

int
kms_db_copy(struct kms_db *from, struct kms_db *to,
    void (*progress)(void *arg, const char *table, uint64_t rows, int done), void *arg,
    char *err, size_t errlen)
{
	struct copy c;
	unsigned i;
	int r, found = 0;

	if (errlen > 0)
		err[0] = '\0';
	if (kms_migrations_count != KMS_TABLES_SCHEMA) {
		snprintf(err, errlen, "this mqe2e-kmsd copies databases of schema version %u, but "
		    "its migrations go up to %u: a bug (store.c kms_tables[])", KMS_TABLES_SCHEMA,
		    kms_migrations_count);
		return MQE2E_ERR_INTERNAL;
	}
	if ((r = kms_db_begin(from, 0)) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot read: %s", from->name, mqe2e_strerror(r));
		return r;
	}
	if ((r = kms_db_begin(to, 1)) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot write: %s", to->name, mqe2e_strerror(r));
		(void)kms_db_end(from, r);
		return r;
	}
	/* Only into a new database: never mix two KMS states. */
	for (i = 0; i < kms_tables_count && !found; i++) {
		if (kms_tables[i].key != NULL)
			continue;   /* rows every new database has */
		r = to->ops->rows(to, &kms_tables[i], any_row, &found);
		if (found) {
			snprintf(err, errlen, "%s is not empty (table %s has rows): copy only into "
			    "a new database (drop and create it, or choose another)", to->name,
			    kms_tables[i].name);
			r = MQE2E_ERR_CONFLICT;
			goto out;
		}
		if (r != MQE2E_OK) {
			snprintf(err, errlen, "%s: cannot read table %s: %s", to->name,
			    kms_tables[i].name, mqe2e_strerror(r));
			goto out;
		}
	}
	memset(&c, 0, sizeof(c));
	c.to = to;
	c.progress = progress;
	c.arg = arg;
	for (i = 0; i < kms_tables_count; i++) {
		c.t = &kms_tables[i];
		c.rows = 0;
		if ((r = from->ops->rows(from, c.t, copy_row, &c)) != MQE2E_OK) {
			snprintf(err, errlen, "copying table %s from %s to %s failed after %llu rows: "
			    "%s (nothing was written; the logged database error says more)",
			    c.t->name, from->name, to->name, (unsigned long long)c.rows,
			    mqe2e_strerror(r));
			goto out;
		}
		if (progress != NULL)
			progress(arg, c.t->name, c.rows, 1);
	}
	if ((r = to->ops->copy_done(to)) != MQE2E_OK)
		snprintf(err, errlen, "%s: cannot continue the id sequences: %s", to->name,
		    mqe2e_strerror(r));
 out:
	(void)kms_db_end(from, MQE2E_OK);
	if ((r = kms_db_end(to, r)) != MQE2E_OK && err[0] == '\0')
		snprintf(err, errlen, "%s: cannot commit the copy: %s", to->name,
		    mqe2e_strerror(r));
	return r;
}
