/*
 * session.h - what several mqe2e-kmsd on one database need from it,
 * besides the rows of store.h: a dedicated connection per purpose, on
 * which one instance holds the scheduler's leadership and every instance
 * hears the others' changes.
 *
 * PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) on a
 * connection of its own names the leader; it ends with that connection, so
 * when the leader dies or is cut off another instance gets it.  Changes are
 * announced with NOTIFY in the transaction that makes them (delivered at
 * COMMIT, never for a rolled-back change) and heard with LISTEN.
 *
 * SQLite: one instance per database (lockfile.h), so there are no sessions:
 * kms_session_open says MQE2E_ERR_NOT_FOUND and the caller is the leader.
 */
#ifndef KMS_SESSION_H
#define KMS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "mqe2e_err.h"

struct kms_db;
struct kms_session;

/* The channel of the changes, and their payloads: "policy <version>"
 * after a policy bump, "crl <number>" after a CRL was stored. */
#define KMS_NOTIFY_CHANNEL "mqe2e_kms"

/*
 * A new connection to db's database, outside the transaction pool.
 * MQE2E_ERR_NOT_FOUND if the database serves a single instance (SQLite);
 * MQE2E_ERR_UNAVAILABLE (err names the database) if it cannot connect.
 */
int kms_session_open(struct kms_db *db, struct kms_session **out, char *err,
    size_t errlen) MQE2E_WUR;
/* Close (ending its lock and LISTEN); NULL is a no-op. */
void kms_session_close(struct kms_session *s);

/*
 * Leadership: try to take the scheduler lock if this session does not hold
 * it, else check that the connection still works.  *held = 1 while it is
 * held.  MQE2E_ERR_UNAVAILABLE if the connection is lost: the lock is gone
 * with it (close the session and open a new one).
 */
int kms_session_lead(struct kms_session *s, int *held) MQE2E_WUR;

/* Start listening on KMS_NOTIFY_CHANNEL. */
int kms_session_listen(struct kms_session *s) MQE2E_WUR;

/* What kms_session_wait heard: the highest of each kind, 0 if none. */
struct kms_heard {
	uint64_t policy;       /* policy version */
	uint64_t crl;          /* CRL number */
};

/*
 * Wait up to ms milliseconds for notifications; fills *heard (zeroed
 * first).  MQE2E_ERR_UNAVAILABLE if the connection is lost (notifications
 * may have been missed: read the state again after reconnecting).
 */
int kms_session_wait(struct kms_session *s, int ms, struct kms_heard *heard) MQE2E_WUR;

/* The payload parser, for the backend and its tests: "policy 12" or
 * "crl 3" into heard (keeping the highest); MQE2E_ERR_BAD_FORMAT for
 * anything else. */
int kms_session_parse_payload(const char *payload, struct kms_heard *heard) MQE2E_WUR;

#endif
