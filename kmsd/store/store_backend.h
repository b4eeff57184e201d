/*
 * store_backend.h - what the storage backends share: the base of every
 * struct kms_db, the table of a backend's operations, and the bookkeeping
 * of a full disk, which reads alike for every backend.  store.c dispatches
 * each store.h call through the table; db.c + store_*.c implement it on
 * SQLite, pg_*.c on PostgreSQL.  Nothing outside the store includes this
 * file.
 */
#ifndef KMS_STORE_BACKEND_H
#define KMS_STORE_BACKEND_H

#include <stdint.h>
#include <time.h>

#include "mqe2e_err.h"
#include "store.h"
#include "store_copy.h"

/* One line per kms_store_* operation of store.h: return type, name,
 * parameters, arguments.  Expanded into the operations table, the
 * dispatchers (store.c) and each backend's declarations, so that the
 * compiler holds all of them to store.h. */
#define KMS_STORE_OPS(X) \
	X(int, counter_get, (struct kms_db *db, const char *name, int64_t *v), (db, name, v)) \
	X(int, counter_bump, (struct kms_db *db, const char *name, int64_t *v), (db, name, v)) \
	X(int, policy_stamp, (struct kms_db *db, int64_t version, int64_t now), (db, version, \
	    now)) \
	X(int, policy_changes, (struct kms_db *db, int64_t since, int (*cb)(void *arg, \
	    const char *kind, const char *name), void *arg, int64_t *since_at), (db, since, cb, \
	    arg, since_at)) \
	X(int, keycheck_get, (struct kms_db *db, uint8_t out[KMS_SEALED_LEN]), (db, out)) \
	X(int, keycheck_set, (struct kms_db *db, const uint8_t in[KMS_SEALED_LEN], \
	    int64_t now), (db, in, now)) \
	X(int, crl_get, (struct kms_db *db, struct kms_crl_row *row), (db, row)) \
	X(int, crl_set, (struct kms_db *db, int64_t number, int64_t issued, \
	    int64_t revoked, const char *pem, size_t pem_len), (db, number, issued, \
	    revoked, pem, pem_len)) \
	X(int, client_add, (struct kms_db *db, const char *name, const char *kind, \
	    int64_t now), (db, name, kind, now)) \
	X(int, client_get, (struct kms_db *db, const char *name, \
	    struct kms_client_row *row), (db, name, row)) \
	X(int, client_list, (struct kms_db *db, const char *after, unsigned limit, \
	    int (*cb)(void *arg, const struct kms_client_row *row), void *arg), (db, \
	    after, limit, cb, arg)) \
	X(int, revoked_clients, (struct kms_db *db, int (*cb)(void *arg, \
	    const char *name), void *arg), (db, cb, arg)) \
	X(int, cert_add, (struct kms_db *db, int64_t client_id, const char *serial, \
	    const char *cert_pem, int64_t not_before, int64_t not_after, int64_t now), \
	    (db, client_id, serial, cert_pem, not_before, not_after, now)) \
	X(int, cert_list, (struct kms_db *db, int64_t client_id, int64_t after_id, \
	    unsigned limit, int (*cb)(void *arg, const struct kms_cert_row *row), \
	    void *arg), (db, client_id, after_id, limit, cb, arg)) \
	X(int, cert_check, (struct kms_db *db, int64_t client_id, const char *serial), \
	    (db, client_id, serial)) \
	X(int, revoked_certs, (struct kms_db *db, int64_t not_after_min, \
	    int (*cb)(void *arg, const char *serial, int64_t revoked_at, \
	    int64_t not_after), void *arg), (db, not_after_min, cb, arg)) \
	X(int, revoked_count, (struct kms_db *db, int64_t *n), (db, n)) \
	X(int, cert_pems, (struct kms_db *db, int64_t client_id, int64_t now, \
	    int (*cb)(void *arg, const char *serial, const char *pem), void *arg), (db, \
	    client_id, now, cb, arg)) \
	X(int, cert_revoke, (struct kms_db *db, int64_t client_id, const char *serial, \
	    const char *reason, int64_t now), (db, client_id, serial, reason, now)) \
	X(int, certs_expiring, (struct kms_db *db, int64_t before, unsigned limit, \
	    int (*cb)(void *arg, const struct kms_expiring_row *row), void *arg), (db, \
	    before, limit, cb, arg)) \
	X(int, client_revoke, (struct kms_db *db, int64_t client_id, const char *reason, \
	    int64_t now, int (*cb)(void *arg, const char *serial), void *arg), (db, \
	    client_id, reason, now, cb, arg)) \
	X(int, group_add, (struct kms_db *db, const char *name, const char *filter, \
	    int scheme, int64_t rotate_s, int64_t grace_s, int future_epochs, int64_t now, \
	    int64_t next_rotation), (db, name, filter, scheme, rotate_s, grace_s, \
	    future_epochs, now, next_rotation)) \
	X(int, group_get, (struct kms_db *db, const char *name, \
	    struct kms_group_row *row), (db, name, row)) \
	X(int, group_get_id, (struct kms_db *db, int64_t id, struct kms_group_row *row), \
	    (db, id, row)) \
	X(int, group_list, (struct kms_db *db, const char *after, unsigned limit, \
	    int (*cb)(void *arg, const struct kms_group_row *row), void *arg), (db, after, \
	    limit, cb, arg)) \
	X(int, group_update, (struct kms_db *db, const struct kms_group_row *row), (db, row)) \
	X(int, group_delete, (struct kms_db *db, int64_t id), (db, id)) \
	X(int, group_due, (struct kms_db *db, int64_t now, int64_t *id), (db, now, id)) \
	X(int, groups_of_client, (struct kms_db *db, int64_t client_id, \
	    int (*cb)(void *arg, const char *name), void *arg), (db, client_id, cb, arg)) \
	X(int, epoch_list, (struct kms_db *db, int64_t group_id, int (*cb)(void *arg, \
	    const struct kms_epoch_row *row), void *arg), (db, group_id, cb, arg)) \
	X(int, epoch_list_next, (struct kms_db *db, int64_t group_id, int (*cb)(void *arg, \
	    const struct kms_epoch_row *row), void *arg), (db, group_id, cb, arg)) \
	X(int, epoch_list_newest, (struct kms_db *db, int64_t group_id, unsigned limit, \
	    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg), (db, \
	    group_id, limit, cb, arg)) \
	X(int, epoch_max, (struct kms_db *db, int64_t group_id, int64_t *max), (db, \
	    group_id, max)) \
	X(int, epoch_get, (struct kms_db *db, int64_t group_id, \
	    enum kms_epoch_state state, struct kms_epoch_row *row), (db, group_id, state, \
	    row)) \
	X(int, epoch_add, (struct kms_db *db, int64_t group_id, \
	    const struct kms_epoch_row *row, const uint8_t gk_p[KMS_SEALED_LEN], \
	    const uint8_t gk_b[KMS_SEALED_LEN]), (db, group_id, row, gk_p, gk_b)) \
	X(int, epoch_update, (struct kms_db *db, int64_t group_id, \
	    const struct kms_epoch_row *row, int drop_keys), (db, group_id, row, drop_keys)) \
	X(int, epochs_ending, (struct kms_db *db, enum kms_epoch_state state, \
	    int64_t before, unsigned limit, int (*cb)(void *arg, int64_t group_id, \
	    const struct kms_epoch_row *row), void *arg), (db, state, before, limit, cb, arg)) \
	X(int, rekey_add, (struct kms_db *db, int64_t group_id, uint32_t epoch, \
	    const char *client, const char *reason, int64_t now), (db, group_id, epoch, \
	    client, reason, now)) \
	X(int, rekey_list, (struct kms_db *db, int64_t group_id, unsigned limit, \
	    int (*cb)(void *arg, const struct kms_rekey_row *row), void *arg), (db, \
	    group_id, limit, cb, arg)) \
	X(int, group_set_next_rotation, (struct kms_db *db, int64_t group_id, \
	    int64_t when), (db, group_id, when)) \
	X(int, epoch_keys, (struct kms_db *db, const struct kms_keys_query *q, \
	    int (*cb)(void *arg, const struct kms_epoch_keys_row *row), void *arg), (db, \
	    q, cb, arg)) \
	X(int, grant_add, (struct kms_db *db, int64_t client_id, int64_t group_id, \
	    const char *right, int64_t now), (db, client_id, group_id, right, now)) \
	X(int, grant_delete, (struct kms_db *db, const char *client, const char *group, \
	    const char *right), (db, client, group, right)) \
	X(int, grant_list, (struct kms_db *db, const char *client, const char *group, \
	    const char *after_client, const char *after_group, const char *after_right, \
	    unsigned limit, int (*cb)(void *arg, const struct kms_grant_row *row), \
	    void *arg), (db, client, group, after_client, after_group, after_right, limit, \
	    cb, arg))

#define KMS_STORE_OP_MEMBER(ret, name, params, args) ret (*name) params;

struct kms_store_ops {
	const char *backend;                   /* "SQLite", "PostgreSQL" */
	KMS_STORE_OPS(KMS_STORE_OP_MEMBER)
	/* kms_db_begin/end/close (store.h). */
	int (*begin)(struct kms_db *db, int write);
	int (*end)(struct kms_db *db, int r);
	void (*close)(struct kms_db *db);
	/* store_copy.h: every row of table t in t->order (in a transaction),
	 * and one row added (in a write transaction); after the copy, each
	 * table's identity generator continues after its highest id. */
	int (*rows)(struct kms_db *db, const struct kms_table *t,
	    int (*cb)(void *arg, const struct kms_value *v), void *arg);
	int (*row_add)(struct kms_db *db, const struct kms_table *t, const struct kms_value *v);
	int (*copy_done)(struct kms_db *db);
	/* kms_store_notify (store.h); NULL: one instance per database. */
	int (*notify)(struct kms_db *db, const char *what, int64_t value);
};

/* Declare a backend's implementation of every operation, prefix##name. */
#define KMS_STORE_OP_DECLARE_SQLITE(ret, name, params, args) ret sqlite__##name params;
#define KMS_STORE_OP_DECLARE_PG(ret, name, params, args) ret pg__##name params;

/* The start of every backend's struct kms_db. */
struct kms_db {
	const struct kms_store_ops *ops;
	char *name;               /* for messages: the file, or the URL without password */
	int64_t full_since;       /* first write that failed for space, 0: none (atomic) */
	int64_t full_logged;      /* last "disk is full" log line (atomic) */
};

/* A migration compiled from schema/NNN_*.sql or schema/postgresql/NNN_*.sql
 * (migrations.c, generated by gen-migrations.sh, which checks that both
 * backends have the same migrations, by number and name). */
struct kms_migration {
	unsigned number;
	const char *name;
	const char *sql;
};
extern const struct kms_migration kms_migrations[];
extern const struct kms_migration kms_pg_migrations[];
extern const unsigned kms_migrations_count;

/* Set up / free the common part (name is copied).  MQE2E_ERR_NOMEM. */
int kms_db__init(struct kms_db *db, const struct kms_store_ops *ops, const char *name) MQE2E_WUR;
void kms_db__clear(struct kms_db *db);

/* A write failed for lack of space (detail: the backend's message): note
 * the time, log it once a minute, count it; returns MQE2E_ERR_NO_SPACE. */
int kms_db__no_space(struct kms_db *db, const char *detail);
/* A transaction that changed something committed: writes work again. */
void kms_db__wrote(struct kms_db *db);

/*
 * The SQL by which a backend reads and writes the rows of table t as plain
 * values (store_copy.h): "SELECT "a", "b" FROM "t" ORDER BY ..." or, with
 * insert, "INSERT INTO "t" ("a", "b") VALUES (?1, ?2)", a row the new
 * database already has (t->key) being replaced by ON CONFLICT DO UPDATE.
 * param is the backend's placeholder prefix: '?' (SQLite) or '$'
 * (PostgreSQL).  Names come from kms_tables[] only.  MQE2E_ERR_TOO_LONG if
 * it does not fit sql[len].
 */
int kms_table__sql(const struct kms_table *t, int insert, char param, char *sql,
    size_t len) MQE2E_WUR;

/* The backends' openers (store.c picks one by the form of `where`). */
int kms_sqlite_open(const char *path, int create, struct kms_db **out, char *err,
    size_t errlen) MQE2E_WUR;
#ifdef HAVE_POSTGRESQL
int kms_pg_open(const char *url, const char *password, int create, struct kms_db **out,
    char *err, size_t errlen) MQE2E_WUR;
int kms_pg_url_has_password(const char *url);
#endif

#endif
