/*
 * kmsd.c - bringing the daemon's state up and down: the data directory
 * (first start initialises it), the master key, the CA, the database, the
 * audit log, the admin token, the trust store for KEY_REQUESTs; and the
 * policy-version wake-ups shared by the handlers (see kmsd.h).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "ca.h"
#include "clock.h"
#include "files.h"
#include "hex.h"
#include "keystore.h"
#include "kmsd_init.h"
#include "lockfile.h"
#include "log.h"
#include "replay.h"
#include "store.h"
#include "wire.h"

void
kmsd_policy_changed(struct kmsd *k, uint64_t version)
{
	pthread_mutex_lock(&k->state_lock);
	if (version > k->policy_version)
		k->policy_version = version;
	pthread_cond_broadcast(&k->state_cond);
	pthread_mutex_unlock(&k->state_lock);
}

uint64_t
kmsd_policy_version(struct kmsd *k)
{
	uint64_t v;

	pthread_mutex_lock(&k->state_lock);
	v = k->policy_version;
	pthread_mutex_unlock(&k->state_lock);
	return v;
}

int
kmsd_stopping(struct kmsd *k)
{
	int s;

	pthread_mutex_lock(&k->state_lock);
	s = k->stopping;
	pthread_mutex_unlock(&k->state_lock);
	return s;
}

void
kmsd_request_stop(struct kmsd *k)
{
	pthread_mutex_lock(&k->state_lock);
	k->stopping = 1;
	pthread_cond_broadcast(&k->state_cond);
	pthread_mutex_unlock(&k->state_lock);
}

/*
 * Create dir 0700 if missing; it must be a directory only we can enter.  A
 * directory that holds no KMS yet (fresh) is set to 0700: nothing secret
 * was ever in it.  An initialised one that group or others may enter is
 * refused: its secrets may have been read, and the admin must decide.
 */
static int
prepare_dir(const char *dir, int fresh, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the data directory: %s", dir,
		    strerror(errno));
		return MQE2E_ERR_IO;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: the data directory is not a directory", dir);
		return MQE2E_ERR_IO;
	}
	if ((st.st_mode & 077) == 0)
		return MQE2E_OK;
	if (!fresh) {
		snprintf(err, errlen, "%s: the data directory is accessible by group or others "
		    "(mode %03o): run 'chmod 700 %s', and if someone else may have read its "
		    "files replace the secrets (see mqe2e-kmsd(8), FILES)", dir,
		    (unsigned)(st.st_mode & 0777), dir);
		return MQE2E_ERR_DENIED;
	}
	if (chmod(dir, 0700) != 0) {
		snprintf(err, errlen, "%s: the new data directory has mode %03o and cannot be "
		    "set to 700: %s", dir, (unsigned)(st.st_mode & 0777), strerror(errno));
		return MQE2E_ERR_IO;
	}
	kms_log("set the new data directory %s to mode 700 (it was %03o)", dir,
	    (unsigned)(st.st_mode & 0777));
	return MQE2E_OK;
}

/* Read DIR/admin.token (64 hex digits, optional newline); create it when
 * missing. */
static int
load_token(struct kmsd *k, const char *path, char *err, size_t errlen)
{
	uint8_t raw[KMSD_TOKEN_LEN], *buf = NULL;
	char hex[KMSD_TOKEN_HEX_LEN + 2];
	size_t len = 0, i;
	int r;

	if (kms_file_exists(path) == 0) {
		if ((r = mqe2e_random(raw, sizeof(raw))) != MQE2E_OK)
			return r;
		mqe2e_hex(raw, sizeof(raw), hex);
		hex[KMSD_TOKEN_HEX_LEN] = '\n';
		mqe2e_wipe(raw, sizeof(raw));
		r = kms_file_create(path, hex, KMSD_TOKEN_HEX_LEN + 1, 0600, err, errlen);
		mqe2e_wipe(hex, sizeof(hex));
		if (r != MQE2E_OK)
			return r;
		kms_log("created a new admin token in %s", path);
	}
	if ((r = kms_file_read(path, 256, 1, &buf, &len, err, errlen)) != MQE2E_OK)
		return r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	r = MQE2E_ERR_BAD_FORMAT;
	if (len != KMSD_TOKEN_HEX_LEN)
		goto bad;
	for (i = 0; i < len; i++) {
		if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f')))
			goto bad;
	}
	memcpy(k->admin_token, buf, len);
	k->admin_token[len] = '\0';
	r = MQE2E_OK;
	goto out;
 bad:
	snprintf(err, errlen, "%s: the admin token must be %d lowercase hex digits: delete the "
	    "file to have a new one generated at start", path, KMSD_TOKEN_HEX_LEN);
 out:
	mqe2e_wipe(buf, len);
	free(buf);
	return r;
}

/*
 * The two nonce caches of keyauth.c (core/replay.h).  Clients: all of them
 * share nonce_cache_size live nonces, and each may make client_quota key
 * requests per acceptance window (max_skew + max_future_skew) - a token
 * bucket, so at most client_quota at once and client_quota per window on
 * average.  Brokers: a cache of their own (KMSD_BROKERS of them,
 * KMSD_BROKER_QUOTA requests per window each), out of the clients' reach.
 */
static int
admission_new(const struct kmsd_config *cfg, struct mqe2e_nonce_cache **clients,
    struct mqe2e_nonce_cache **brokers)
{
	uint32_t past_ms = cfg->max_skew_s * 1000u, future_ms = cfg->max_future_skew_s * 1000u;
	int r;

	if (future_ms > past_ms)
		future_ms = past_ms;
	if ((r = mqe2e_nonce_cache_new(cfg->nonce_cache_size, past_ms, clients)) != MQE2E_OK ||
	    (r = mqe2e_nonce_cache_set_limits(*clients, future_ms,
	    cfg->client_quota < cfg->nonce_cache_size ? cfg->client_quota :
	    cfg->nonce_cache_size)) != MQE2E_OK ||
	    (r = mqe2e_nonce_cache_new(2 * KMSD_BROKERS * KMSD_BROKER_QUOTA, past_ms,
	    brokers)) != MQE2E_OK)
		return r;
	return mqe2e_nonce_cache_set_limits(*brokers, future_ms, KMSD_BROKER_QUOTA);
}

void
kmsd_fault(struct kmsd *k, const char *fmt, ...)
{
	va_list ap;
	int first;

	pthread_mutex_lock(&k->state_lock);
	if ((first = k->fault[0] == '\0')) {
		va_start(ap, fmt);
		vsnprintf(k->fault, sizeof(k->fault), fmt, ap);
		va_end(ap);
		kms_log_at(LOG_CRIT, "UNHEALTHY: %s", k->fault);
	}
	pthread_mutex_unlock(&k->state_lock);
	if (first)
		kms_log_at(LOG_ERR, "scheduled rotation is paused (no new epoch is sealed) until "
		    "a restart");
}

int
kmsd_faulty(struct kmsd *k, char *out, size_t out_len)
{
	int faulty;

	pthread_mutex_lock(&k->state_lock);
	faulty = k->fault[0] != '\0';
	if (out != NULL)
		snprintf(out, out_len, "%s", k->fault);
	pthread_mutex_unlock(&k->state_lock);
	return faulty;
}

/* The deliverable group keys of a database without a key-check value,
 * tried under the master key until one opens: one that opens proves the key
 * (a damaged row is then the run-time fault of rest_keys.c, not a wrong
 * key); none opening, the first tried is named. */
struct key_probe {
	struct kms_keystore *ks;
	int tried, opened;
	char group[KMS_NAME_MAX + 1];
	uint32_t epoch;
};

static int
probe_key(void *arg, const struct kms_epoch_keys_row *row)
{
	struct key_probe *f = arg;
	uint8_t key[MQE2E_KEY_LEN];
	int r;

	r = kms_keystore_open_key(f->ks, row->group, row->epoch, MQE2E_GK_B, row->gk_b,
	    KMS_SEALED_LEN, key);
	mqe2e_wipe(key, sizeof(key));
	if (!f->tried++) {
		snprintf(f->group, sizeof(f->group), "%s", row->group);
		f->epoch = row->epoch;
	}
	if (r != MQE2E_OK)
		return MQE2E_OK;
	f->opened = 1;
	return MQE2E_ERR_CONFLICT;   /* stop: the key is right */
}

/*
 * Refuse a master.key that is not the key of this database, before
 * anything is sealed under it: open the database's key-check value, or, in
 * a database from before key-check values, one stored group key (then
 * record a check value; on a full disk that waits for the next start).
 */
static int
check_master_key(struct kmsd *k, const char *mk_path, const char *db_path, char *err,
    size_t errlen)
{
	uint8_t sealed[KMS_SEALED_LEN];
	struct kms_keys_query every;   /* every group's window, as a broker's */
	struct key_probe f;
	int have, r;

	memset(&every, 0, sizeof(every));
	memset(&f, 0, sizeof(f));
	f.ks = k->ks;
	if ((r = kms_db_begin(k->db, 0)) != MQE2E_OK)
		goto dberr;
	have = (r = kms_store_keycheck_get(k->db, sealed)) == MQE2E_OK;
	if (r == MQE2E_ERR_NOT_FOUND &&
	    (r = kms_store_epoch_keys(k->db, &every, probe_key, &f)) == MQE2E_ERR_CONFLICT && f.opened)
		r = MQE2E_OK;
	if ((r = kms_db_end(k->db, r)) != MQE2E_OK)
		goto dberr;
	if (have) {
		r = kms_keystore_verify_check(k->ks, sealed, sizeof(sealed));
		mqe2e_wipe(sealed, sizeof(sealed));
		if (r != MQE2E_OK) {
			snprintf(err, errlen, "%s: this is not the master key of %s (the database's "
			    "key-check value does not open under it): put back the master.key that "
			    "belongs to this database, from the backup taken with it; nothing was "
			    "changed", mk_path, db_path);
			return MQE2E_ERR_BAD_TAG;
		}
		return MQE2E_OK;
	}
	if (f.tried && !f.opened) {
		snprintf(err, errlen, "%s: this is not the master key of %s (no stored group key "
		    "opens under it, e.g. that of '%s' epoch %u): put back the master.key that belongs to "
		    "this database, from the backup taken with it; nothing was changed", mk_path,
		    db_path, f.group, f.epoch);
		return MQE2E_ERR_BAD_TAG;
	}
	if ((r = kms_keystore_make_check(k->ks, sealed)) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot seal the key-check value: %s", mk_path,
		    mqe2e_strerror(r));
		return r;
	}
	if ((r = kms_db_begin(k->db, 1)) == MQE2E_OK)
		r = kms_db_end(k->db, kms_store_keycheck_set(k->db, sealed, (int64_t)time(NULL)));
	mqe2e_wipe(sealed, sizeof(sealed));
	if (r == MQE2E_OK)
		kms_log("%s: recorded the key-check value of %s", db_path, mk_path);
	else
		kms_log_at(LOG_WARNING, "warning: %s: cannot record the key-check value of %s "
		    "yet (%s): it is recorded at the next start", db_path, mk_path,
		    mqe2e_strerror(r));
	return MQE2E_OK;
 dberr:
	snprintf(err, errlen, "%s: cannot read the key-check value: %s", db_path,
	    mqe2e_strerror(r));
	return r;
}

/* Which files of the data directory are there; a file that cannot even be
 * looked at (EACCES) is reported as a permission problem. */
struct layout {
	int db, mk, ca, wal;
	uint64_t db_size;
};

static int
survey(const char *db_path, const char *mk_path, const char *ca_key, const char *wal_path,
    struct layout *l, char *err, size_t errlen)
{
	uint64_t size;

	memset(l, 0, sizeof(*l));
	if ((l->db = kms_file_probe(db_path, &l->db_size)) < 0)
		return kms_file_problem(err, errlen, db_path, errno, NULL);
	if ((l->mk = kms_file_probe(mk_path, &size)) < 0)
		return kms_file_problem(err, errlen, mk_path, errno, NULL);
	if ((l->ca = kms_file_probe(ca_key, &size)) < 0)
		return kms_file_problem(err, errlen, ca_key, errno, NULL);
	if ((l->wal = kms_file_probe(wal_path, &size)) < 0)
		return kms_file_problem(err, errlen, wal_path, errno, NULL);
	return MQE2E_OK;
}

const char *
kmsd_store_place(struct kmsd *k, char *buf, size_t len)
{
	if (k->db != NULL && k->cfg.database != NULL)
		snprintf(buf, len, "database %s (on the PostgreSQL server)", kms_db_name(k->db));
	else
		snprintf(buf, len, "data directory %s", k->cfg.data_dir);
	return buf;
}

/* The password of database_password_file (malloc'd, wiped by the caller),
 * or NULL in *out if there is none. */
int
kmsd_db_password(struct kmsd *k, char **out, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (k->cfg.database_password_file == NULL)
		return MQE2E_OK;
	if ((r = kms_file_read(k->cfg.database_password_file, 1024, 1, &buf, &len, err,
	    errlen)) != MQE2E_OK)
		return r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0 || memchr(buf, '\0', len) != NULL || memchr(buf, '\n', len) != NULL) {
		snprintf(err, errlen, "%s: must hold the database password on one line",
		    k->cfg.database_password_file);
		mqe2e_wipe(buf, len);
		free(buf);
		return MQE2E_ERR_BAD_FORMAT;
	}
	buf[len] = '\0';
	*out = (char *)buf;
	return MQE2E_OK;
}

/*
 * A PostgreSQL database (database = postgresql://...): open it if it holds
 * a KMS, and say so in l->db, so that the rules of a data directory hold
 * for it as for kms.db: a new KMS lays out an empty database, a directory
 * with keys needs the database that goes with them, and --init never
 * writes over one.  Instances share the database and the key files.
 */
static int
probe_pg(struct kmsd *k, int init, struct layout *l, const char *dir, const char *db_path,
    char *err, size_t errlen)
{
	char *password = NULL, *url = k->cfg.database;
	int r, keys = l->mk || l->ca;

	if ((r = kmsd_db_password(k, &password, err, errlen)) != MQE2E_OK)
		return r;
	r = kms_db_open(url, password, 0, &k->db, err, errlen);
	if (r == MQE2E_ERR_NOT_FOUND && (!keys || init)) {
		/* An empty database and a new KMS, or --init: lay it out. */
		r = kms_db_open(url, password, 1, &k->db, err, errlen);
		l->db = 0;
	} else if (r == MQE2E_OK) {
		l->db = 1;
		if (init) {
			snprintf(err, errlen, "%s: already holds a KMS database: --init only lays "
			    "out a new one in an empty database", kms_db_name(k->db));
			r = MQE2E_ERR_CONFLICT;
		} else if (!keys) {
			snprintf(err, errlen, "%s holds a KMS, but %s has neither its master.key nor "
			    "its ca.key: copy master.key, ca.key, ca.crt and admin.token from the "
			    "data directory of an instance of this KMS into %s (mqe2e-kmsd(8), "
			    "SEVERAL INSTANCES); nothing was created", kms_db_name(k->db), dir, dir);
			r = MQE2E_ERR_NOT_FOUND;
		}
	} else if (r == MQE2E_ERR_NOT_FOUND) {
		snprintf(err + strlen(err), errlen - strlen(err), "; %s holds the keys of an "
		    "initialised KMS (master.key, ca.key): to start over with an empty database "
		    "that keeps the CA and the master key, run 'mqe2e-kmsd --init' (every client "
		    "must then be enrolled again)", dir);
	}
	if (password != NULL) {
		mqe2e_wipe(password, strlen(password));
		free(password);
	}
	if (r != MQE2E_OK) {
		kms_db_close(k->db);
		k->db = NULL;
		return r;
	}
	l->db_size = 1;
	l->wal = 0;
	if (kms_file_exists(db_path) == 1)
		kms_log("note: %s is not used: the database is %s", db_path, kms_db_name(k->db));
	return MQE2E_OK;
}

int
kmsd_open(struct kmsd *k, int init, char *err, size_t errlen)
{
	const char *dir = k->cfg.data_dir;
	char db_path[4096], mk_path[4096], tok_path[4096], audit_path[4096], ca_key[4096];
	char wal_path[4096];
	struct layout l;
	int64_t version = 0;
	int fresh, create, r;

	pthread_rwlock_init(&k->trust_rw, NULL);
	pthread_mutex_init(&k->nonce_lock, NULL);
	pthread_mutex_init(&k->state_lock, NULL);
	(void)mqe2e_cond_init_mono(&k->state_cond);
	k->locks_ready = 1;
	if (kms_path(db_path, sizeof(db_path), dir, "kms.db") != MQE2E_OK ||
	    kms_path(wal_path, sizeof(wal_path), dir, "kms.db-wal") != MQE2E_OK ||
	    kms_path(mk_path, sizeof(mk_path), dir, "master.key") != MQE2E_OK ||
	    kms_path(tok_path, sizeof(tok_path), dir, "admin.token") != MQE2E_OK ||
	    kms_path(ca_key, sizeof(ca_key), dir, "ca.key") != MQE2E_OK ||
	    kms_path(audit_path, sizeof(audit_path), dir, "audit.log") != MQE2E_OK) {
		snprintf(err, errlen, "%s: path too long", dir);
		return MQE2E_ERR_TOO_LONG;
	}
	if ((r = survey(db_path, mk_path, ca_key, wal_path, &l, err, errlen)) != MQE2E_OK)
		return r;
	/* A fresh directory is initialised; a used one must be complete: never
	 * silently replace a master key, a CA or a database (the data would be
	 * lost).  --init makes a new, empty database next to existing keys. */
	fresh = !l.db && !l.mk && !l.ca;
	if ((r = prepare_dir(dir, fresh, err, errlen)) != MQE2E_OK)
		return r;
	/* One daemon per data directory, before anything in it is opened; then
	 * look again: another daemon may have initialised it meanwhile. */
	if ((r = kms_lockfile_take(dir, &k->dir_lock_fd, err, errlen)) != MQE2E_OK)
		return r;
	k->dir_locked = 1;
	if ((r = survey(db_path, mk_path, ca_key, wal_path, &l, err, errlen)) != MQE2E_OK)
		return r;
	if (k->cfg.database != NULL && (r = probe_pg(k, init, &l, dir, db_path, err,
	    errlen)) != MQE2E_OK)
		return r;
	fresh = !l.db && !l.mk && !l.ca;
	create = fresh || init;
	if (!create && !l.mk)
		return kms_file_problem(err, errlen, mk_path, ENOENT, "restore the master key from "
		    "a backup (without it the group keys cannot be read)");
	if (!create && (!l.db || l.db_size == 0)) {
		snprintf(err, errlen, "%s: %s, but %s holds the keys of an initialised KMS "
		    "(master.key, ca.key): restore kms.db (with kms.db-wal if the backup has one) "
		    "from a backup; to start over with an empty database that keeps the CA and "
		    "the master key, run 'mqe2e-kmsd --init' (every client must then be enrolled "
		    "again)", db_path, l.db ? "empty (0 bytes)" : "missing", dir);
		return MQE2E_ERR_NOT_FOUND;
	}
	if (init && l.db && l.db_size > 0) {
		snprintf(err, errlen, "%s: already holds a database: --init only creates a "
		    "database where there is none (move it away first to start afresh)", db_path);
		return MQE2E_ERR_CONFLICT;
	}
	if (create && l.wal) {
		snprintf(err, errlen, "%s: a write-ahead log without its database: move it (and "
		    "kms.db-shm) away before initialising a new database", wal_path);
		return MQE2E_ERR_CONFLICT;
	}
	if (create)
		kms_log("initialising %s in %s", fresh ? "a new KMS" : l.mk && l.ca ?
		    "a new, empty database" : "a new database and what else is missing", dir);
	/* Initialising (no database yet), whatever is missing is made. */
	if ((r = kms_keystore_open(mk_path, create, &k->ks, err, errlen)) != MQE2E_OK ||
	    (r = kms_ca_open(dir, create, &k->ca, err, errlen)) != MQE2E_OK ||
	    (k->db == NULL && (r = kms_db_open(db_path, NULL, create, &k->db, err, errlen)) !=
	    MQE2E_OK) ||
	    (r = check_master_key(k, mk_path, kms_db_name(k->db), err, errlen)) != MQE2E_OK ||
	    (r = load_token(k, tok_path, err, errlen)) != MQE2E_OK ||
	    (r = kms_audit_open(k->cfg.audit_path != NULL ? k->cfg.audit_path : audit_path,
	    &k->audit, err, errlen)) != MQE2E_OK)
		return r;
	if ((r = mqe2e_trust_new_from_pem(kms_ca_pem(k->ca), strlen(kms_ca_pem(k->ca)),
	    &k->trust)) != MQE2E_OK ||
	    (r = admission_new(&k->cfg, &k->nonces, &k->broker_nonces)) != MQE2E_OK ||
	    (r = mqe2e_x25519_share_new(KMSD_RESP_KEY_MS, KMSD_RESP_KEY_USES, &k->resp_key)) !=
	    MQE2E_OK) {
		snprintf(err, errlen, "cannot set up KEY_REQUEST checking: %s", mqe2e_strerror(r));
		return r;
	}
	if ((r = kms_db_begin(k->db, 0)) != MQE2E_OK ||
	    (r = kms_db_end(k->db, kms_store_counter_get(k->db, "policy_version", &version))) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot read the policy version", kms_db_name(k->db));
		return r;
	}
	k->policy_version = (uint64_t)version;
	/* Read only: the scheduler re-issues the CRL when it is due. */
	return kms_crl_load(k, err, errlen);
}

void
kmsd_close(struct kmsd *k)
{
	mqe2e_nonce_cache_free(k->nonces);
	mqe2e_nonce_cache_free(k->broker_nonces);
	mqe2e_x25519_share_free(k->resp_key);
	mqe2e_trust_free(k->trust);
	kms_audit_close(k->audit);
	kms_db_close(k->db);
	kms_ca_free(k->ca);
	kms_keystore_free(k->ks);
	mqe2e_wipe(k->admin_token, sizeof(k->admin_token));
	free(k->crl_pem);
	if (k->locks_ready) {
		pthread_cond_destroy(&k->state_cond);
		pthread_mutex_destroy(&k->state_lock);
		pthread_rwlock_destroy(&k->trust_rw);
		pthread_mutex_destroy(&k->nonce_lock);
	}
	kmsd_config_clear(&k->cfg);
	/* last: the next daemon may start once everything is closed */
	if (k->dir_locked)
		kms_lockfile_release(k->dir_lock_fd);
	memset(k, 0, sizeof(*k));
}
