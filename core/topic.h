/*
 * topic.h - MQTT topic names and topic filters: the one set of rules the
 * KMS, the broker plugin and the client library apply (validation,
 * matching, containment and overlap of filters).
 *
 * Semantics are MQTT 5's (section 4.7): levels are separated by '/', '+'
 * stands for exactly one whole level, '#' for the rest of the topic
 * including its parent level ("a/#" matches "a"), and a filter whose first
 * level is a wildcard never matches a topic starting with '$'.
 * Pure functions on NUL-terminated strings, no allocation.
 */
#ifndef MQE2E_TOPIC_H
#define MQE2E_TOPIC_H

#include <stddef.h>

/*
 * mqe2e's own topics - pairing inboxes (mqe2e/v1/pair/...), rosters
 * (mqe2e/v1/roster/...) and rekey notices (mqe2e/v1/rekey/...) - all lie
 * under this prefix, so that one test of it tells a group topic from them:
 * the client's receive path and the broker's read check, which run for
 * every delivery, compare it before they look for any of them.
 */
#define MQE2E_OWN_TOPIC_PREFIX "mqe2e/v1/"
/* A scheme 1/2 group's roster: MQE2E_ROSTER_TOPIC_PREFIX <group>. */
#define MQE2E_ROSTER_TOPIC_PREFIX MQE2E_OWN_TOPIC_PREFIX "roster/"

/* Longest topic filter of a topic group (the KMS's limit). */
#define MQE2E_FILTER_MAX 1024

/* Flags for mqe2e_topic_filter_check. */
#define MQE2E_TOPIC_NO_DOLLAR 0x1   /* refuse a leading '$' (reserved for the broker) */

/*
 * 1 if t is an MQTT topic name one may publish to: 1..max bytes of valid
 * UTF-8 without NUL, control characters, '+' or '#'.  On 0, why (may be
 * NULL) gets a short reason naming the rule that failed.
 */
int mqe2e_topic_name_check(const char *t, size_t max, char *why, size_t why_len);

/*
 * 1 if f is an MQTT topic filter: 1..max bytes of valid UTF-8 without NUL or
 * control characters, '+' only as a whole level, '#' only as the whole last
 * level; with MQE2E_TOPIC_NO_DOLLAR also not starting with '$'.  On 0, why
 * (may be NULL) gets a short reason.
 */
int mqe2e_topic_filter_check(const char *f, size_t max, unsigned flags, char *why,
    size_t why_len);

/*
 * 1 if f may be the topic filter of a topic group: a filter of at most
 * MQE2E_FILTER_MAX bytes not starting with '$'.  The KMS applies it to what
 * administrators enter, the plugin and the client to what the KMS sends.
 */
int mqe2e_group_filter_check(const char *f, char *why, size_t why_len);

/* 1 if the topic name t matches the filter f (both assumed valid). */
int mqe2e_topic_matches(const char *f, const char *t);

/* 1 if every topic that matches filter sub also matches filter outer. */
int mqe2e_topic_filter_within(const char *sub, const char *outer);

/* 1 if some topic matches both filters a and b. */
int mqe2e_topic_filters_overlap(const char *a, const char *b);

#endif
