/*
 * validate.h - checks of administrator input: client and group names (topic
 * filters: mqe2e_group_filter_check, core/topic.h).
 * Pure functions, no allocation (unit-tested in test_validate.c).
 */
#ifndef KMS_VALIDATE_H
#define KMS_VALIDATE_H

#include <stddef.h>

#include "topic.h"

#define KMS_NAME_MAX 64
#define KMS_FILTER_MAX MQE2E_FILTER_MAX
/* A group's rotation period rotate_s and grace grace_s, in seconds.  The
 * floor: the scheduler wakes once a second and times are whole seconds, so
 * shorter periods cannot be kept; every rotation costs each member one key
 * fetch, which a deployment should size (see mqe2e-kmsd(8)).  Production
 * periods are hours or days.  Both at most a year; grace may be 0. */
#define KMS_ROTATE_MIN_S 1
#define KMS_PERIOD_MAX_S 31536000
/* A group's future_epochs (epochs pre-issued ahead): 0..16, default 1. */
#define KMS_FUTURE_EPOCHS_MAX 16
#define KMS_FUTURE_EPOCHS_DEFAULT 1

/* 1 if s is a client or group name: 1..64 bytes of [A-Za-z0-9._-], not
 * starting with '.' or '-'.  (A subset of mqe2e_id_valid.) */
int kms_name_valid(const char *s);

#endif
