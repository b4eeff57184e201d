/*
 * notice.h - REKEY_NOTICE (docs/PROTOCOL.md section 12): the broker tells a
 * connected client that a topic group moved to a new epoch, so that it
 * fetches its keys from the KMS now instead of at its next refresh.
 *
 * A notice carries no key.  It travels on the topic
 * mqe2e/v1/rekey/<group> as the body of a MAC channel frame (type 0x20)
 * under the recipient's SK_CB.b2c (key kind session, empty key name, epoch
 * 0, sender = the broker's id), sent by the broker to that one client:
 *
 *   notice = u8 version (1) || u8 type (0x60) || vec16 group || u32 epoch ||
 *            u64 policy_version || u64 ts_ms
 *
 * The frame's MAC binds the topic, the broker's id and a sequence number;
 * the group in the notice must be the one the topic names.  A forged or
 * replayed notice can at worst make a client ask the KMS once more, which
 * answers only what the client's grants allow.
 */
#ifndef MQE2E_NOTICE_H
#define MQE2E_NOTICE_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"
#include "crypto.h"
#include "topic.h"
#include "wire.h"

#define MQE2E_MSG_REKEY_NOTICE 0x60
#define MQE2E_REKEY_TOPIC_PREFIX MQE2E_OWN_TOPIC_PREFIX "rekey/"
/* The filter a client subscribes to, exactly, to ask for notices. */
#define MQE2E_REKEY_FILTER MQE2E_REKEY_TOPIC_PREFIX "+"
/* Room for the topic of any group, with its NUL. */
#define MQE2E_REKEY_TOPIC_MAX (sizeof(MQE2E_REKEY_TOPIC_PREFIX) + MQE2E_ID_MAX)

struct mqe2e_rekey_notice {
	char group[MQE2E_ID_MAX + 1];
	uint32_t epoch;                 /* the group's new current epoch */
	uint64_t policy_version;        /* the KMS policy version that moved it */
	uint64_t ts_ms;                 /* the broker's clock when sent */
};

/* The topic of group's notices into out (MQE2E_REKEY_TOPIC_MAX bytes);
 * MQE2E_ERR_INVALID_ARG if group is not an id. */
int mqe2e_rekey_topic(const char *group, char *out, size_t out_len) MQE2E_WUR;

/* The group a notice topic names, as a pointer into topic, or NULL if
 * topic is not mqe2e/v1/rekey/<id>. */
const char *mqe2e_rekey_topic_group(const char *topic);

/* Bytes of the framed notice for n, sent by broker_id (0 if invalid). */
size_t mqe2e_rekey_notice_size(const struct mqe2e_rekey_notice *n, const char *broker_id);

/*
 * Build the framed notice for n into out[0..out_cap): a MAC frame under
 * b2c (the recipient's SK_CB broker->client MAC key), sender broker_id,
 * sequence seq, on the topic of n->group.
 */
int mqe2e_rekey_notice_seal(struct mqe2e_mac *b2c, const char *broker_id, uint64_t seq,
    const struct mqe2e_rekey_notice *n, uint8_t *out, size_t out_cap, size_t *out_len)
    MQE2E_WUR;

/*
 * Check a framed notice received on topic: frame format, key kind session,
 * sender == broker_id, the MAC under b2c (MQE2E_ERR_BAD_TAG), the notice's
 * format, its group == the group the topic names (MQE2E_ERR_BAD_FORMAT),
 * its timestamp within skew_ms of now_ms (MQE2E_ERR_CLOCK_SKEW).  On
 * MQE2E_OK *n is filled and *seq (may be NULL) gets the frame's sequence
 * number, for the caller's replay check.
 */
int mqe2e_rekey_notice_open(struct mqe2e_mac *b2c, const char *broker_id, const char *topic,
    const uint8_t *in, size_t len, uint64_t now_ms, uint32_t skew_ms,
    struct mqe2e_rekey_notice *n, uint64_t *seq) MQE2E_WUR;

/* The bare notice bytes (without the frame): encode into a fixed buffer,
 * decode from untrusted bytes.  Exposed for tests and fuzzing. */
size_t mqe2e_rekey_notice_body_size(const char *group);
int mqe2e_rekey_notice_encode(const struct mqe2e_rekey_notice *n, uint8_t *out, size_t cap,
    size_t *len) MQE2E_WUR;
int mqe2e_rekey_notice_decode(const uint8_t *in, size_t len, struct mqe2e_rekey_notice *n)
    MQE2E_WUR;

#endif
