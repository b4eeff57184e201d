/*
 * store.h - the KMS's storage interface.
 *
 * Everything above it (REST handlers, rotation, revocation, CRL, key
 * delivery) sees rows as C structs and never SQL.  Two backends implement
 * it, chosen when the database is opened: SQLite (the embedded default: a
 * file; db.c for the connection, transactions and migrations, store_*.c for
 * the queries) and PostgreSQL (a postgresql:// URL; pg_*.c), so that
 * several mqe2e-kmsd can share one database.  store.c dispatches each call
 * to the backend (store_backend.h).
 *
 * Transactions: every call below happens between kms_db_begin() and
 * kms_db_end() on the calling thread.  Writers are serialised, also across
 * the instances that share a PostgreSQL database (an advisory lock taken by
 * every write transaction), so a write transaction sees every write before
 * it; reads run beside them (SQLite: one connection, one transaction at a
 * time; PostgreSQL: a pool of connections).  A write transaction is
 * all-or-nothing, so a crash at any point leaves the state before or after
 * it.  A transaction that fails because the database cannot be reached
 * returns MQE2E_ERR_UNAVAILABLE; the next one connects again.
 *
 * Results: MQE2E_OK, MQE2E_ERR_NOT_FOUND for a missing row,
 * MQE2E_ERR_CONFLICT for a uniqueness (or other constraint) violation,
 * MQE2E_ERR_NO_SPACE when the database's disk is full, else a storage error
 * (logged with the name of the database, never a password).
 * Listing functions call cb once per row in the documented order and stop
 * with cb's result if it is not MQE2E_OK; limit 0 means no limit.  Rows
 * passed to callbacks live only during the call.  Times are Unix seconds;
 * 0 stands for "not set".
 */
#ifndef KMS_STORE_H
#define KMS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "epoch.h"
#include "keystore.h"
#include "validate.h"

#define KMS_REASON_MAX 256

struct kms_db;

/* ---- the database and its transactions --------------------------------------- */

/* Open the database `where`: a postgresql:// (or postgres://) URL, a libpq
 * connection URI, for the PostgreSQL backend; anything else is the path of
 * an SQLite file.  password (may be NULL) overrides the URL's, for a
 * password kept in a file.  Check it and apply pending migrations (one
 * instance at a time).  create = 1: create it if missing (an SQLite file
 * with mode 0600) and lay out the schema in an empty one; create = 0: a
 * missing database or one without a schema is MQE2E_ERR_NOT_FOUND.  err
 * gets a message naming the database on failure.  Opening an existing,
 * current database writes nothing (a restart works on a full disk). */
int kms_db_open(const char *where, const char *password, int create, struct kms_db **out,
    char *err, size_t errlen) MQE2E_WUR;
/* 1 if where names a PostgreSQL database (whether or not this build has
 * the backend). */
int kms_db_is_url(const char *where);
/* 1 if the URL where holds a password (or cannot be parsed: then it is
 * not shown either). */
int kms_db_url_has_password(const char *where);
/* The database for messages: the file, or the URL without its password. */
const char *kms_db_name(const struct kms_db *db);
/* "SQLite" or "PostgreSQL". */
const char *kms_db_backend(const struct kms_db *db);
void kms_db_close(struct kms_db *db);
/* Start a transaction (write: takes the write lock at once). */
int kms_db_begin(struct kms_db *db, int write) MQE2E_WUR;
/* Commit if r == MQE2E_OK, else roll back.  Returns r or the commit failure. */
int kms_db_end(struct kms_db *db, int r);
/* When a write first failed for lack of space (Unix time), 0 if writes work
 * (cleared by the next transaction that changes something).  Any thread,
 * without a transaction. */
int64_t kms_db_full_since(struct kms_db *db);

/* ---- counters ----------------------------------------------------------------- */

/* "policy_version" (bumped by every policy change) and "crl_number". */
int kms_store_counter_get(struct kms_db *db, const char *name, int64_t *v) MQE2E_WUR;
/* Increment and return the new value. */
int kms_store_counter_bump(struct kms_db *db, const char *name, int64_t *v) MQE2E_WUR;

/* Bump "policy_version" and stamp the transaction's rows of the policy
 * change log (migration 006: written by triggers) with it and the time;
 * after COMMIT the caller passes *version to kmsd_policy_changed() to wake
 * the watchers.  The other instances on the database hear it at COMMIT
 * (kms_store_notify).  Log rows of versions older than the newest
 * KMS_POLICY_LOG_VERSIONS are pruned. */
#define KMS_POLICY_LOG_VERSIONS 1000
int kms_store_policy_bump(struct kms_db *db, uint64_t *version) MQE2E_WUR;
/* The stamping part of it (kms_store_policy_bump calls it). */
int kms_store_policy_stamp(struct kms_db *db, int64_t version, int64_t now) MQE2E_WUR;
/* What changed after policy version since: cb(arg, kind, name) once per
 * (kind, name), kind "group", "client" or "serial", in no particular order;
 * *since_at gets the time version since was made (0 if unknown).
 * MQE2E_ERR_NOT_FOUND if the log no longer reaches back to since (a full
 * snapshot is needed). */
int kms_store_policy_changes(struct kms_db *db, int64_t since,
    int (*cb)(void *arg, const char *kind, const char *name), void *arg,
    int64_t *since_at) MQE2E_WUR;

/* Tell the other instances on the database, when (and only if) the
 * transaction commits, that what ("policy", "crl") moved to value
 * (store/session.h: NOTIFY on PostgreSQL; nothing to do with SQLite). */
int kms_store_notify(struct kms_db *db, const char *what, int64_t value) MQE2E_WUR;

/* ---- the KMS's own state -------------------------------------------------------- */

/* The master-key check value (keystore.h): MQE2E_ERR_NOT_FOUND in a
 * database that has none yet, MQE2E_ERR_BAD_FORMAT if it has the wrong
 * size.  set: only once (MQE2E_ERR_CONFLICT if there is one). */
int kms_store_keycheck_get(struct kms_db *db, uint8_t out[KMS_SEALED_LEN]) MQE2E_WUR;
int kms_store_keycheck_set(struct kms_db *db, const uint8_t in[KMS_SEALED_LEN],
    int64_t now) MQE2E_WUR;

/* The CRL last issued: its number, time, the count of revoked certificates
 * (kms_store_revoked_count()) when it was issued, and its PEM (malloc'd,
 * NUL-terminated; the caller frees it). */
struct kms_crl_row {
	int64_t number, issued, revoked;
	char *pem;
	size_t pem_len;
};
/* MQE2E_ERR_NOT_FOUND if none was stored yet. */
int kms_store_crl_get(struct kms_db *db, struct kms_crl_row *row) MQE2E_WUR;
/* Replace the stored CRL. */
int kms_store_crl_set(struct kms_db *db, int64_t number, int64_t issued, int64_t revoked,
    const char *pem, size_t pem_len) MQE2E_WUR;

/* ---- clients and certificates ------------------------------------------------- */

struct kms_client_row {
	int64_t id;
	char name[KMS_NAME_MAX + 1];
	char kind[8];                  /* "client" or "broker" */
	int64_t created;
	int64_t revoked_at;            /* 0: not revoked */
	char revoke_reason[KMS_REASON_MAX + 1];   /* "" if none */
	int64_t certs;                 /* certificates issued */
};

struct kms_cert_row {
	int64_t id;                    /* issue order */
	char serial[MQE2E_SERIAL_HEX_MAX];
	int64_t not_before, not_after, created;
	int64_t revoked_at;            /* 0: not revoked */
};

int kms_store_client_add(struct kms_db *db, const char *name, const char *kind,
    int64_t now) MQE2E_WUR;
int kms_store_client_get(struct kms_db *db, const char *name,
    struct kms_client_row *row) MQE2E_WUR;
/* Clients with name > after, by name. */
int kms_store_client_list(struct kms_db *db, const char *after, unsigned limit,
    int (*cb)(void *arg, const struct kms_client_row *row), void *arg) MQE2E_WUR;
/* Names of revoked clients, by name. */
int kms_store_revoked_clients(struct kms_db *db,
    int (*cb)(void *arg, const char *name), void *arg) MQE2E_WUR;

int kms_store_cert_add(struct kms_db *db, int64_t client_id, const char *serial,
    const char *cert_pem, int64_t not_before, int64_t not_after, int64_t now) MQE2E_WUR;
/* Certificates of a client with id > after_id, in issue order. */
int kms_store_cert_list(struct kms_db *db, int64_t client_id, int64_t after_id,
    unsigned limit, int (*cb)(void *arg, const struct kms_cert_row *row), void *arg) MQE2E_WUR;
/* MQE2E_OK if serial was issued to the client and is not revoked,
 * MQE2E_ERR_REVOKED, or MQE2E_ERR_NOT_FOUND. */
int kms_store_cert_check(struct kms_db *db, int64_t client_id, const char *serial) MQE2E_WUR;
/* The revoked certificates whose validity ends at or after not_after_min
 * (0: every one): serial, revocation time, end of validity; in revocation
 * order. */
int kms_store_revoked_certs(struct kms_db *db, int64_t not_after_min,
    int (*cb)(void *arg, const char *serial, int64_t revoked_at, int64_t not_after),
    void *arg) MQE2E_WUR;
/* The number of revoked certificates, expired ones included. */
int kms_store_revoked_count(struct kms_db *db, int64_t *n) MQE2E_WUR;

/* store_certs.c: the serial and PEM of each certificate of the client that
 * is neither revoked nor expired at now, in issue order. */
int kms_store_cert_pems(struct kms_db *db, int64_t client_id, int64_t now,
    int (*cb)(void *arg, const char *serial, const char *pem), void *arg) MQE2E_WUR;
/* Revoke one certificate of the client at now with reason (may be NULL):
 * MQE2E_ERR_NOT_FOUND if the client has no such serial,
 * MQE2E_ERR_CONFLICT if it is revoked already. */
int kms_store_cert_revoke(struct kms_db *db, int64_t client_id, const char *serial,
    const char *reason, int64_t now) MQE2E_WUR;

struct kms_expiring_row {
	char client[KMS_NAME_MAX + 1];
	char kind[8];
	char serial[MQE2E_SERIAL_HEX_MAX];
	int64_t not_after;
};
/* Live certificates (client and certificate not revoked) that end at or
 * before the time before, of clients with no live certificate lasting
 * longer; soonest first, at most limit. */
int kms_store_certs_expiring(struct kms_db *db, int64_t before, unsigned limit,
    int (*cb)(void *arg, const struct kms_expiring_row *row), void *arg) MQE2E_WUR;

/*
 * Revoke a client: mark it and its unrevoked certificates revoked at now
 * with reason (may be NULL), calling cb with each serial that becomes
 * revoked, and delete its grants.
 */
int kms_store_client_revoke(struct kms_db *db, int64_t client_id, const char *reason,
    int64_t now, int (*cb)(void *arg, const char *serial), void *arg) MQE2E_WUR;

/* ---- topic groups ---------------------------------------------------------------- */

struct kms_group_row {
	int64_t id;
	char name[KMS_NAME_MAX + 1];
	char filter[KMS_FILTER_MAX + 1];
	int scheme;
	int64_t rotate_s, grace_s, created, next_rotation;
	uint32_t current_epoch;        /* 0 if none (never after a commit) */
	int future_epochs;             /* epochs kept in state next, 0..16 */
	uint32_t oldest_epoch;         /* lowest epoch in grace (or the current) */
};

/* A new group created now, first rotating at next_rotation. */
int kms_store_group_add(struct kms_db *db, const char *name, const char *filter, int scheme,
    int64_t rotate_s, int64_t grace_s, int future_epochs, int64_t now,
    int64_t next_rotation) MQE2E_WUR;
int kms_store_group_get(struct kms_db *db, const char *name, struct kms_group_row *row) MQE2E_WUR;
int kms_store_group_get_id(struct kms_db *db, int64_t id, struct kms_group_row *row) MQE2E_WUR;
/* Groups with name > after, by name. */
int kms_store_group_list(struct kms_db *db, const char *after, unsigned limit,
    int (*cb)(void *arg, const struct kms_group_row *row), void *arg) MQE2E_WUR;
/* Replace the settings of group id (row->id) with those of row. */
int kms_store_group_update(struct kms_db *db, const struct kms_group_row *row) MQE2E_WUR;
/* Delete group id with its grants, revocation rekeys and epochs (the keys
 * are overwritten: secure_delete).  In the caller's write transaction. */
int kms_store_group_delete(struct kms_db *db, int64_t id) MQE2E_WUR;
/* The group due for rotation first (next_rotation <= now): *id, or 0. */
int kms_store_group_due(struct kms_db *db, int64_t now, int64_t *id) MQE2E_WUR;
/* Names of the groups a client holds any grant on, by name. */
int kms_store_groups_of_client(struct kms_db *db, int64_t client_id,
    int (*cb)(void *arg, const char *name), void *arg) MQE2E_WUR;

/* ---- epochs --------------------------------------------------------------------- */

/* An epoch of a group.  The life-cycle rules (which transitions, when, what
 * a state means) are epoch.c's; the store keeps the rows. */
struct kms_epoch_row {
	uint32_t epoch;
	enum kms_epoch_state state;    /* stored as kms_epoch_state_name() */
	int64_t created, activated, expires;
	char cause[16];                /* created, scheduled, manual, revocation,
	                                  grant-removal or "" */
};

/* Epochs of a group, by number (metadata only). */
int kms_store_epoch_list(struct kms_db *db, int64_t group_id,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg) MQE2E_WUR;
/* The newest `limit` epochs of a group, by number (metadata only). */
int kms_store_epoch_list_newest(struct kms_db *db, int64_t group_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg) MQE2E_WUR;
/* The same, only those in state next (the few pre-issued epochs). */
int kms_store_epoch_list_next(struct kms_db *db, int64_t group_id,
    int (*cb)(void *arg, const struct kms_epoch_row *row), void *arg) MQE2E_WUR;
/* The highest epoch number of a group (0 if none). */
int kms_store_epoch_max(struct kms_db *db, int64_t group_id, int64_t *max) MQE2E_WUR;
/* The group's epoch in state current (there is at most one), or its lowest
 * epoch in state next: MQE2E_ERR_NOT_FOUND if it has none. */
int kms_store_epoch_get(struct kms_db *db, int64_t group_id, enum kms_epoch_state state,
    struct kms_epoch_row *row) MQE2E_WUR;
/* Insert row with its sealed keys (empty cause: none). */
int kms_store_epoch_add(struct kms_db *db, int64_t group_id, const struct kms_epoch_row *row,
    const uint8_t gk_p[KMS_SEALED_LEN], const uint8_t gk_b[KMS_SEALED_LEN]) MQE2E_WUR;
/* Store the state, activated, expires and cause of epoch row->epoch of the
 * group; drop_keys = 1 erases its sealed keys.  MQE2E_ERR_NOT_FOUND if the
 * group has no such epoch. */
int kms_store_epoch_update(struct kms_db *db, int64_t group_id, const struct kms_epoch_row *row,
    int drop_keys) MQE2E_WUR;
/* Epochs of any group in state with expires <= before, soonest first, at
 * most limit (> 0): cb(arg, group id, row). */
int kms_store_epochs_ending(struct kms_db *db, enum kms_epoch_state state, int64_t before,
    unsigned limit, int (*cb)(void *arg, int64_t group_id, const struct kms_epoch_row *row),
    void *arg) MQE2E_WUR;

/* A revocation of client forced group_id to move to epoch (reason may be
 * NULL or ""). */
struct kms_rekey_row {
	uint32_t epoch;
	char client[KMS_NAME_MAX + 1];
	char reason[257];
	int64_t at;
};

int kms_store_rekey_add(struct kms_db *db, int64_t group_id, uint32_t epoch,
    const char *client, const char *reason, int64_t now) MQE2E_WUR;
/* The newest `limit` rekeys of a group, newest first. */
int kms_store_rekey_list(struct kms_db *db, int64_t group_id, unsigned limit,
    int (*cb)(void *arg, const struct kms_rekey_row *row), void *arg) MQE2E_WUR;
int kms_store_group_set_next_rotation(struct kms_db *db, int64_t group_id,
    int64_t when) MQE2E_WUR;

/* A deliverable epoch (kms_epoch_deliverable()) with its sealed keys and
 * what the requester may have of it. */
struct kms_epoch_keys_row {
	char group[KMS_NAME_MAX + 1];
	int scheme;
	uint32_t epoch;
	enum kms_epoch_state state;
	int64_t activated, expires, next_rotation, rotate_s, grace_s;
	uint8_t gk_p[KMS_SEALED_LEN];
	uint8_t gk_b[KMS_SEALED_LEN];
	char filter[KMS_FILTER_MAX + 1];
	int pub, sub;                  /* the client's grants (0 for a broker) */
};
/* Which deliverable epochs kms_store_epoch_keys walks: of one group, or of
 * the groups after a name (a page), each with its window. */
struct kms_keys_query {
	int64_t client_id;             /* the groups it holds a grant on; 0: a broker,
	                                  every group (pub = sub = 0) */
	const char *group;             /* this group only, or NULL: ... */
	const char *after;             /* ... the groups whose names sort after this
	                                  ("" or NULL: from the first) */
	unsigned max_groups;           /* with group NULL: at most this many (0: all) */
	unsigned grace;                /* the newest `grace` grace epochs of a group */
	uint32_t epoch;                /* and this one if it is in grace (0: none) */
};
/* Each group's current and next epochs, its newest q->grace grace epochs and
 * grace epoch q->epoch; by group name and epoch.  The sealed keys are
 * copied into the row and wiped after cb returns. */
int kms_store_epoch_keys(struct kms_db *db, const struct kms_keys_query *q,
    int (*cb)(void *arg, const struct kms_epoch_keys_row *row), void *arg) MQE2E_WUR;

/* ---- grants ----------------------------------------------------------------------- */

struct kms_grant_row {
	char client[KMS_NAME_MAX + 1];
	char group[KMS_NAME_MAX + 1];
	char right[4];                 /* "pub" or "sub" */
	int64_t created;
};

int kms_store_grant_add(struct kms_db *db, int64_t client_id, int64_t group_id,
    const char *right, int64_t now) MQE2E_WUR;
/* MQE2E_ERR_NOT_FOUND if there was no such grant. */
int kms_store_grant_delete(struct kms_db *db, const char *client, const char *group,
    const char *right) MQE2E_WUR;
/* Grants, optionally only of client and/or group (NULL: any), after the
 * (client, group, right) key given (NULLs or "": from the start), by that
 * key. */
int kms_store_grant_list(struct kms_db *db, const char *client, const char *group,
    const char *after_client, const char *after_group, const char *after_right,
    unsigned limit, int (*cb)(void *arg, const struct kms_grant_row *row), void *arg) MQE2E_WUR;

#endif
