/*
 * fleet.h - several mqe2e-kmsd on one database (PostgreSQL).
 *
 * Every instance serves every request; the fleet module decides the two
 * things that must not be done by all of them or that one instance cannot
 * see by itself:
 *
 *   - which instance runs the rotation scheduler: the leader, holder of the
 *     database's scheduler lock (store/session.h) on a connection of its
 *     own.  The others try to take it every second, so when the leader dies
 *     (its connection drops, its lock with it) another takes over within
 *     about a second.  A leader whose connection fails stops scheduling at
 *     once, before reconnecting.
 *   - the changes made through the other instances: a thread listens for
 *     the database's notifications (policy bumps, new CRLs) on a connection
 *     of its own, reconnecting as needed, and wakes this instance's policy
 *     watchers (kmsd_policy_changed) and reloads the CRL and revoked serials.
 *
 * On a database of one instance (SQLite) no thread runs and the instance is
 * always the leader.  Leadership changes are logged; GET /v1/health says
 * "scheduler": "leader" or "standby", /metrics has mqe2e_kms_scheduler_leader.
 */
#ifndef KMS_FLEET_H
#define KMS_FLEET_H

#include <stdint.h>

#include "kmsd.h"

struct kms_fleet;

/* Start the fleet threads for k (k->db open); k->fleet is set.  Never fails
 * for an unreachable database (the threads retry); MQE2E_ERR_NOMEM. */
int kms_fleet_start(struct kmsd *k) MQE2E_WUR;

/* Stop the threads (the leader's lock is released with its connection)
 * and free k->fleet; safe if it was never started. */
void kms_fleet_stop(struct kmsd *k);

/* 1 if this instance runs the scheduler now (always with SQLite, and
 * before kms_fleet_start: the daemon's own unit tests run without it). */
int kms_fleet_leader(struct kmsd *k);

/* 1 if the database is shared by several instances (PostgreSQL). */
int kms_fleet_shared(struct kmsd *k);

/* How many times this instance became the leader. */
uint64_t kms_fleet_takeovers(struct kmsd *k);

#endif
