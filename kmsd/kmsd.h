/*
 * kmsd.h - the state shared by the modules of mqe2e-kmsd.
 *
 * One struct kmsd lives for the whole run (main.c owns it).  Threads:
 * libmicrohttpd runs a pool of HTTP threads, and a thread per waiting
 * policy watch (httpd.c); rotation.c runs the scheduler thread; main.c
 * waits for SIGTERM/SIGINT/SIGHUP.  Locks: the database's (db.c, held from
 * kms_db_begin to kms_db_end), trust_rw, nonce_lock, state_lock, and the
 * keystore's, the audit log's and the trust's certificate cache's own; no
 * code holds two of them at once, except the keystore's inside a database
 * transaction and the trust cache's inside trust_rw.
 */
#ifndef KMSD_H
#define KMSD_H

#include <pthread.h>
#include <stdint.h>

#include "crypto.h"
#include "conf.h"

struct kms_db;
struct kms_ca;
struct kms_keystore;
struct kms_audit;
struct mqe2e_nonce_cache;
struct MHD_Daemon;
struct kms_admit;
struct kms_fleet;

#define KMSD_TOKEN_LEN 32                      /* admin token: random bytes */
/* Brokers' share of admission (see mqe2e-kmsd.conf(5)): brokers served at
 * once, and each one's key and policy requests per acceptance window. */
#define KMSD_BROKERS 64
#define KMSD_BROKER_QUOTA 500
#define KMSD_TOKEN_HEX_LEN (2 * KMSD_TOKEN_LEN)

#define KMSD_RESP_KEY_MS 1000
#define KMSD_RESP_KEY_USES 4096

struct kmsd {
	struct kmsd_config cfg;
	struct kms_db *db;
	struct kms_ca *ca;
	struct kms_keystore *ks;      /* master key */
	struct kms_audit *audit;
	char admin_token[KMSD_TOKEN_HEX_LEN + 1];

	/* KEY_REQUEST verification: CA + revoked serials; admission of the
	 * authenticated requesters (keyauth.c): a nonce cache with per-owner
	 * quotas and rate limits for clients, and a separate one for brokers,
	 * so that no client load can starve policy and key delivery to them. */
	pthread_rwlock_t trust_rw;      /* read: verify; write: set_revoked */
	struct mqe2e_trust *trust;
	pthread_mutex_t nonce_lock;     /* the two nonce caches */
	struct mqe2e_nonce_cache *nonces;          /* client-kind requesters */
	struct mqe2e_nonce_cache *broker_nonces;   /* broker-kind requesters */
	/* The X25519 key of KEY_RESPONSEs: one per KMSD_RESP_KEY_MS window
	 * (at most KMSD_RESP_KEY_USES answers), then cleared (rest_keys.c). */
	struct mqe2e_x25519_share *resp_key;

	/* Policy version mirror and the watchers' wake-up. */
	pthread_mutex_t state_lock;
	pthread_cond_t state_cond;
	uint64_t policy_version;
	int stopping;
	char *crl_pem;                /* current CRL (crl.c) */
	size_t crl_len;
	int64_t crl_number;           /* its number */
	int64_t crl_time;             /* its lastUpdate */
	int crl_stale;                /* revocations it does not list yet */
	int64_t crl_prune_at;         /* when an entry of it expires out (0: none) */
	char fault[512];              /* why the daemon is unhealthy ("" if it is not) */

	struct MHD_Daemon *httpd;
	char *tls_cert_pem;           /* listen = https://: served by httpd */
	char *tls_key_pem;            /* (wiped at stop) */
	size_t tls_key_len;
	struct kms_admit *admit;      /* connection admission (admit.h) */
	pthread_t scheduler;
	int scheduler_started;
	struct kms_fleet *fleet;      /* several instances (fleet.h) */
	int locks_ready;
	int dir_locked;               /* dir_lock_fd holds DIR/kmsd.lock (lockfile.h) */
	int dir_lock_fd;
};

/*
 * Record that the policy changed: store the new version (already bumped in
 * the database by the caller's transaction) and wake every watcher and the
 * scheduler.  Call after COMMIT, without the db lock held.
 */
void kmsd_policy_changed(struct kmsd *k, uint64_t version);

/* Current mirrored policy version. */
uint64_t kmsd_policy_version(struct kmsd *k);

/* 1 once SIGTERM/SIGINT asked the daemon to stop. */
int kmsd_stopping(struct kmsd *k);

/*
 * Mark the daemon unhealthy for a fault that must stop further damage
 * (a stored group key that does not open under the master key): GET
 * /v1/health answers 503 with the message, and the scheduler seals no new
 * epochs.  The first fault is kept (and logged) until a restart.
 */
void kmsd_fault(struct kmsd *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copy the fault message into out; 0 if the daemon is healthy. */
int kmsd_faulty(struct kmsd *k, char *out, size_t out_len);

/*
 * Re-issue the CRL from the revoked certificates in the database (new CRL
 * number, lastUpdate now; stored in the database) and refresh the
 * revoked-serial set used to check KEY_REQUESTs.  Call after a revocation
 * committed (without the db lock held) and when kms_crl_due() (crl.c).  On
 * failure (a full disk) the revoked serials read are still enforced, the
 * previous CRL is kept and the CRL is marked due.
 */
int kms_crl_refresh(struct kmsd *k) MQE2E_WUR;
/* At start, read only: the stored CRL and the revoked serials. */
int kms_crl_load(struct kmsd *k, char *err, size_t errlen) MQE2E_WUR;
/* 1 if the CRL must be re-issued: none yet, revocations it does not list,
 * an entry whose certificate has expired (see kms_crl_cutoff), or older
 * than every_s. */
int kms_crl_due(struct kmsd *k, int64_t now, int64_t every_s);
/* The CRL, the KMS's revoked-serial set and the brokers' policy list the
 * revoked certificates whose notAfter is at or after kms_crl_cutoff(now):
 * those not expired, kept for the allowed clock skew (120 s) after expiry. */
int64_t kms_crl_cutoff(int64_t now);
/* Where the database's disk is, for "the disk of the KMS ... is full":
 * "data directory DIR" (SQLite) or "database URL (on the PostgreSQL
 * server)".  Returns buf. */
const char *kmsd_store_place(struct kmsd *k, char *buf, size_t len);
/* A copy of the current CRL PEM (malloc'd) or MQE2E_ERR_UNAVAILABLE. */
int kms_crl_get(struct kmsd *k, char **pem, size_t *len) MQE2E_WUR;

#endif
