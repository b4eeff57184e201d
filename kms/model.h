/*
 * model.h - rows of the KMS database as C structs, and their lookups.
 * Call only inside a transaction (kms_db_begin .. kms_db_end).
 */
#ifndef KMS_MODEL_H
#define KMS_MODEL_H

#include <stdint.h>

#include "db.h"
#include "validate.h"

struct kms_client {
	int64_t id;
	char name[KMS_NAME_MAX + 1];
	char kind[8];              /* "client" or "broker" */
	int64_t created;
	int revoked;
};

struct kms_group {
	int64_t id;
	char name[KMS_NAME_MAX + 1];
	char filter[KMS_FILTER_MAX + 1];
	int scheme;
	int64_t rotate_s, grace_s, created, next_rotation;
};

/* MQE2E_OK, MQE2E_ERR_NOT_FOUND or a database error. */
int kms_client_find(struct kms_db *db, const char *name, struct kms_client *c) MQE2E_WUR;
int kms_group_find(struct kms_db *db, const char *name, struct kms_group *g) MQE2E_WUR;
int kms_group_find_id(struct kms_db *db, int64_t id, struct kms_group *g) MQE2E_WUR;

/* Bump the policy version (the caller calls kmsd_policy_changed after
 * COMMIT with *version). */
int kms_policy_bump(struct kms_db *db, uint64_t *version) MQE2E_WUR;

#endif
