/*
 * validate.h - checks of administrator input: names and MQTT topic filters.
 * Pure functions, no allocation (unit-tested in test_validate.c).
 */
#ifndef KMS_VALIDATE_H
#define KMS_VALIDATE_H

#include <stddef.h>

#define KMS_NAME_MAX 64
#define KMS_FILTER_MAX 1024

/* 1 if s is a client or group name: 1..64 bytes of [A-Za-z0-9._-], not
 * starting with '.' or '-'.  (A subset of mqe2e_id_valid.) */
int kms_name_valid(const char *s);

/*
 * 1 if s is an acceptable MQTT topic filter: 1..KMS_FILTER_MAX bytes of
 * valid UTF-8 without NUL or control characters, '#' only as the whole last
 * level, '+' only as a whole level, not starting with '$'.  On 0, why (may
 * be NULL) gets a short reason.
 */
int kms_topic_filter_valid(const char *s, char *why, size_t why_len);

#endif
