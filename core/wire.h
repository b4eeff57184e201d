/*
 * wire.h - mqe2e wire formats: E2E envelope, channel frame, bundle,
 * key bundle, and the low-level codecs of the signed hellos and replies.
 *
 * docs/PROTOCOL.md is the byte-level specification; this header is its API.
 * Every message starts with u8 version (MQE2E_VERSION) and u8 type.  All
 * integers are big-endian.
 *
 * Decoders take untrusted bytes, check every length against an explicit
 * cap, reject trailing bytes and return views into the input (the caller
 * keeps the input alive while it uses the decoded struct).  Decoding does
 * NOT authenticate: call the matching _open/_verify before trusting any field.
 *
 * Builders write into a caller-sized buffer: call the matching _size()
 * first (0 means the parameters are invalid: bad id, key name that does not
 * fit the key kind, payload over MQE2E_PAYLOAD_MAX), allocate (malloc,
 * mosquitto_malloc, ...) exactly that, then build.  They return MQE2E_OK or
 * a negative mqe2e_err and set *out_len (0 on failure).
 */
#ifndef MQE2E_WIRE_H
#define MQE2E_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"
#include "crypto.h"
#include "buf.h"
#include "topic.h"

#define MQE2E_VERSION 1                /* messages whose layout is unchanged */
#define MQE2E_VERSION_CONNECT_HELLO 2  /* v2: names the broker it is for */
#define MQE2E_VERSION_ENVELOPE 2       /* v2: flags; pair keys scoped to a group */
#define MQE2E_VERSION_KEY_REQUEST 2    /* v2: an epoch per group, a paging cursor */
#define MQE2E_VERSION_KEY_BUNDLE 2     /* v2: flags (more groups follow) */
#define MQE2E_AUTH_METHOD "mqe2e-v1"   /* MQTT 5 Authentication Method */

/* The version byte a message of this type carries (docs/PROTOCOL.md 1): each
 * type's version moves on its own when its layout or meaning changes, and a
 * receiver accepts exactly that version. */
uint8_t mqe2e_msg_version(uint8_t type);

/* ---- message types ------------------------------------------------------- */
enum mqe2e_msg_type {
	MQE2E_MSG_CONNECT_HELLO = 0x01,
	MQE2E_MSG_CONNACK_REPLY = 0x02,
	MQE2E_MSG_KEY_REQUEST = 0x10,
	MQE2E_MSG_KEY_RESPONSE = 0x11,
	MQE2E_MSG_KEY_BUNDLE = 0x12,     /* sealed in a KEY_RESPONSE */
	MQE2E_MSG_FRAME_MAC = 0x20,      /* channel frame, HMAC-SHA256/16 */
	MQE2E_MSG_FRAME_AEAD = 0x21,     /* channel frame, AES-256-GCM */
	MQE2E_MSG_BUNDLE = 0x30,         /* schemes 1/2: one part per recipient */
	MQE2E_MSG_PAIR_REQUEST = 0x40,
	MQE2E_MSG_PAIR_RESPONSE = 0x41,
	MQE2E_MSG_ENVELOPE = 0x50        /* E2E envelope (innermost layer) */
};

/* Schemes of the paper (property of a topic group). */
enum mqe2e_scheme {
	MQE2E_SCHEME_1 = 1,   /* pairwise E2E, plain client-broker */
	MQE2E_SCHEME_2 = 2,   /* pairwise E2E, AEAD client-broker (conventional) */
	MQE2E_SCHEME_3 = 3,   /* group E2E, AEAD client-broker / broker-subscribers */
	MQE2E_SCHEME_4 = 4    /* group E2E, MAC client-broker / broker-subscribers */
};

/* Key kinds named in envelopes and frames. */
enum mqe2e_key_kind {
	MQE2E_KEY_GROUP = 1,    /* GK_P in envelopes, GK_B in frames */
	MQE2E_KEY_PAIR = 2,     /* K_E2E(P,S) */
	MQE2E_KEY_SESSION = 3   /* SK_CB (c2b or b2c by direction) */
};

/* Key kinds inside a KEY_BUNDLE. */
enum mqe2e_gk_kind {
	MQE2E_GK_P = 1,   /* publisher/subscriber E2E group key (never the broker) */
	MQE2E_GK_B = 2    /* broker->subscribers group key */
};

/* ---- caps ------------------------------------------------------------------ */
#define MQE2E_ID_MAX 255            /* client ids and group names: 1..255 bytes */
#define MQE2E_KEYNAME_MAX 767       /* group name or pair id "PUB|SUB|GROUP" */
#define MQE2E_TOPIC_MAX 65535
#define MQE2E_CERT_MAX 8192         /* DER certificate in a hello/reply */
#define MQE2E_GROUPS_MAX 1024       /* groups named in one KEY_REQUEST */
#define MQE2E_KEYS_MAX 65535        /* entries in one KEY_BUNDLE (u16) */
#define MQE2E_BUNDLE_MAX 65535      /* parts in one BUNDLE */
#define MQE2E_PAYLOAD_MAX (256u * 1024 * 1024)  /* MQTT's maximum payload */
#define MQE2E_NONCE_LEN 16          /* handshake nonce */
#define MQE2E_SERIAL_MAX 80         /* serial as hex + NUL */
#define MQE2E_SKEW_MS_DEFAULT 120000u

/* Client ids and group names: 1..MQE2E_ID_MAX bytes, each 0x21..0x7e except
 * '|' (the pair-id separator).  Returns 1 if valid. */
int mqe2e_id_valid(const uint8_t *p, size_t len);
int mqe2e_id_valid_str(const char *s);
/* Key names: a valid id (group) or "PUB|SUB|GROUP" (pair: the pairwise key of
 * publisher PUB and subscriber SUB for one group); 1..MQE2E_KEYNAME_MAX. */
int mqe2e_keyname_valid(const uint8_t *p, size_t len);
/* Pair id "PUB|SUB|GROUP" into out (NUL-terminated).  out_len >=
 * MQE2E_KEYNAME_MAX+1 always suffices.  MQE2E_ERR_INVALID_ARG if an id is not
 * valid. */
int mqe2e_pair_id(const char *pub, const char *sub, const char *group, char *out,
    size_t out_len) MQE2E_WUR;

/* ===========================================================================
 * E2E envelope (innermost layer; schemes 1-4)
 * ver 2, 0x50, u8 scheme, u8 key_kind, vec16 key_name, u32 epoch, vec16 sender,
 * u64 seq, u8 flags, gcm_nonce[12], vec32 ct (ciphertext || tag)
 * AAD = "mqe2e-v1 e2e" || u16 len topic || topic || header before the u32 len.
 * ======================================================================== */
struct mqe2e_envelope_params {
	uint8_t scheme;          /* enum mqe2e_scheme */
	uint8_t key_kind;        /* MQE2E_KEY_GROUP (GK_P) or MQE2E_KEY_PAIR */
	const char *key_name;    /* group name or pair id */
	uint32_t epoch;          /* group epoch or pairing generation */
	const char *sender;      /* the sender's client id */
	uint64_t seq;            /* the sender's sequence number */
	uint8_t flags;           /* MQE2E_ENV_* */
};

/* Envelope flags (every other bit must be 0). */
#define MQE2E_ENV_RETAINED 0x01u  /* published with MQTT retain: may be read
                                     later than live traffic (PROTOCOL.md 8) */
#define MQE2E_ENV_FLAGS_ALL MQE2E_ENV_RETAINED

/* A decoded (not yet authenticated) envelope; views into the input. */
struct mqe2e_envelope {
	uint8_t scheme;
	uint8_t key_kind;
	struct mqe2e_view key_name;
	uint32_t epoch;
	struct mqe2e_view sender;
	uint64_t seq;
	uint8_t flags;               /* MQE2E_ENV_* */
	const uint8_t *nonce;        /* MQE2E_GCM_NONCE_LEN bytes */
	struct mqe2e_view ct;        /* ciphertext || tag, >= 16 bytes */
	struct mqe2e_view header;    /* the bytes covered by the AAD */
};

size_t mqe2e_envelope_size(const struct mqe2e_envelope_params *p, size_t pt_len);
/* Encrypt pt under key (GK_P or K_E2E) with a fresh random GCM nonce. */
int mqe2e_envelope_seal(struct mqe2e_aead *key, const struct mqe2e_envelope_params *p,
    const char *topic, size_t topic_len, const uint8_t *pt, size_t pt_len,
    uint8_t *out, size_t out_cap, size_t *out_len) MQE2E_WUR;
/* Same with an explicit nonce: test vectors only. */
int mqe2e_envelope_seal_ex(struct mqe2e_aead *key, const struct mqe2e_envelope_params *p,
    const uint8_t nonce[MQE2E_GCM_NONCE_LEN], const char *topic, size_t topic_len,
    const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_cap, size_t *out_len) MQE2E_WUR;
int mqe2e_envelope_decode(const uint8_t *in, size_t len, struct mqe2e_envelope *env) MQE2E_WUR;
/* Verify and decrypt; pt must hold env->ct.len - MQE2E_GCM_TAG_LEN bytes and
 * is written only if the tag verifies.  MQE2E_ERR_BAD_TAG otherwise.  The
 * caller looks the key up by (key_kind, key_name, epoch) and checks the
 * replay window for (sender, key id, seq) around this call. */
int mqe2e_envelope_open(struct mqe2e_aead *key, const struct mqe2e_envelope *env,
    const char *topic, size_t topic_len, uint8_t *pt) MQE2E_WUR;

/* ===========================================================================
 * Channel frame (client<->broker, broker->subscribers)
 * ver, type (0x20 MAC | 0x21 AEAD), u8 key_kind (3 session | 1 group),
 * vec16 key_name (empty for session), u32 epoch (0 for session),
 * vec16 sender, u64 seq, [AEAD: gcm_nonce[12]], vec32 body, [MAC: tag[16]]
 * MAC = HMAC-SHA256/16 over "mqe2e-v1 chan" || u16 len topic || topic ||
 * header (all bytes before the body) || body.  AEAD: AAD is the same
 * without the body; body = ciphertext || tag.
 * ======================================================================== */
struct mqe2e_frame_params {
	uint8_t key_kind;        /* MQE2E_KEY_SESSION or MQE2E_KEY_GROUP (GK_B) */
	const char *key_name;    /* NULL/"" for session, group name for GK_B */
	uint32_t epoch;          /* 0 for session */
	const char *sender;      /* client id, or the broker's id when re-framing */
	uint64_t seq;
};

struct mqe2e_frame {
	uint8_t type;                /* MQE2E_MSG_FRAME_MAC or _AEAD */
	uint8_t key_kind;
	struct mqe2e_view key_name;  /* empty for session */
	uint32_t epoch;
	struct mqe2e_view sender;
	uint64_t seq;
	const uint8_t *nonce;        /* AEAD only, else NULL */
	struct mqe2e_view body;      /* MAC: payload in clear; AEAD: ct || tag */
	const uint8_t *tag;          /* MAC only, else NULL */
	struct mqe2e_view header;    /* bytes before the body */
};

size_t mqe2e_frame_mac_size(const struct mqe2e_frame_params *p, size_t body_len);
size_t mqe2e_frame_aead_size(const struct mqe2e_frame_params *p, size_t pt_len);
/* MAC frame around body (e.g. an envelope), key = SK_CB c2b/b2c or GK_B. */
int mqe2e_frame_mac_build(struct mqe2e_mac *key, const struct mqe2e_frame_params *p,
    const char *topic, size_t topic_len, const uint8_t *body, size_t body_len,
    uint8_t *out, size_t out_cap, size_t *out_len) MQE2E_WUR;
/* AEAD frame: encrypts pt with a fresh random nonce. */
int mqe2e_frame_aead_build(struct mqe2e_aead *key, const struct mqe2e_frame_params *p,
    const char *topic, size_t topic_len, const uint8_t *pt, size_t pt_len,
    uint8_t *out, size_t out_cap, size_t *out_len) MQE2E_WUR;
int mqe2e_frame_aead_build_ex(struct mqe2e_aead *key, const struct mqe2e_frame_params *p,
    const uint8_t nonce[MQE2E_GCM_NONCE_LEN], const char *topic, size_t topic_len,
    const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_cap, size_t *out_len) MQE2E_WUR;
int mqe2e_frame_decode(const uint8_t *in, size_t len, struct mqe2e_frame *f) MQE2E_WUR;
/* MAC frame: MQE2E_OK (then f->body is authentic) or MQE2E_ERR_BAD_TAG;
 * MQE2E_ERR_BAD_TYPE if f is an AEAD frame. */
int mqe2e_frame_mac_verify(struct mqe2e_mac *key, const struct mqe2e_frame *f,
    const char *topic, size_t topic_len) MQE2E_WUR;
/* AEAD frame: pt must hold f->body.len - 16 bytes, written only on success. */
int mqe2e_frame_aead_open(struct mqe2e_aead *key, const struct mqe2e_frame *f,
    const char *topic, size_t topic_len, uint8_t *pt) MQE2E_WUR;

/* ===========================================================================
 * BUNDLE (schemes 1/2): ver, 0x30, u16 count (1..), then count times
 * { vec16 recipient_id, vec32 part }.  Recipients are distinct.
 * ======================================================================== */
struct mqe2e_bundle_part {
	const char *recipient;      /* builder input */
	const uint8_t *part;
	size_t len;
};
struct mqe2e_bundle_entry {     /* decoder output (views) */
	struct mqe2e_view recipient;
	struct mqe2e_view part;
};

size_t mqe2e_bundle_size(const struct mqe2e_bundle_part *parts, size_t n);
int mqe2e_bundle_build(const struct mqe2e_bundle_part *parts, size_t n,
    uint8_t *out, size_t out_cap, size_t *out_len) MQE2E_WUR;
/* Validate the whole bundle and return an array of n views (malloc'd; the
 * caller free()s it, the views point into in).  Duplicate recipients give
 * MQE2E_ERR_BAD_FORMAT. */
int mqe2e_bundle_decode(const uint8_t *in, size_t len, struct mqe2e_bundle_entry **entries,
    size_t *n) MQE2E_WUR;
/* Validate the whole bundle and find the part for one recipient;
 * MQE2E_ERR_NOT_FOUND if absent.  No allocation. */
int mqe2e_bundle_find(const uint8_t *in, size_t len, const char *recipient,
    struct mqe2e_view *part) MQE2E_WUR;

/* ===========================================================================
 * KEY_BUNDLE (0x12, version 2, sealed inside a KEY_RESPONSE): ver, 0x12,
 *   u8 flags (MQE2E_KEYBUNDLE_MORE),
 *   u16 ngroups, ngroups x { vec16 group, u8 scheme, u8 rights,
 *                            vec16 filter }     (sorted by group, distinct)
 *   u16 nkeys,   nkeys x   { vec16 group, u8 kind, u32 epoch,
 *                            u64 not_before_ms, u64 not_after_ms, key[32] }
 * Every key names a group of the table; its scheme is the group's.
 * ======================================================================== */
#define MQE2E_RIGHT_PUB 0x01          /* rights of the requester on a group */
#define MQE2E_RIGHT_SUB 0x02
/* One answer describes at most this many groups (a page: the KMS sets
 * MQE2E_KEYBUNDLE_MORE when groups are left, and the requester asks again
 * with the last group of the table as its cursor). */
#define MQE2E_KEYBUNDLE_GROUPS_MAX MQE2E_GROUPS_MAX
#define MQE2E_KEYBUNDLE_MORE 0x01     /* flags: more groups after this table */
/* The largest KEY_BUNDLE (header, full group table, full key list). */
#define MQE2E_KEYBUNDLE_MAX (2 + 1 + 2 + (size_t)MQE2E_KEYBUNDLE_GROUPS_MAX * \
	(2 + MQE2E_ID_MAX + 1 + 1 + 2 + MQE2E_FILTER_MAX) + \
	2 + (size_t)MQE2E_KEYS_MAX * (2 + MQE2E_ID_MAX + 1 + 4 + 8 + 8 + MQE2E_KEY_LEN))

/* A group the requester holds keys for, as the KMS describes it. */
struct mqe2e_group_info {
	char name[MQE2E_ID_MAX + 1];
	uint8_t scheme;           /* enum mqe2e_scheme */
	uint8_t rights;           /* MQE2E_RIGHT_*; 0 for a broker */
	char filter[MQE2E_FILTER_MAX + 1];   /* the group's topic filter */
};

struct mqe2e_key_entry {
	char group[MQE2E_ID_MAX + 1];
	uint8_t scheme;           /* enum mqe2e_scheme: the group's */
	uint8_t kind;             /* enum mqe2e_gk_kind */
	uint32_t epoch;
	uint64_t not_before_ms;
	uint64_t not_after_ms;    /* end of the grace period */
	uint8_t key[MQE2E_KEY_LEN];
};

/* A decoded KEY_BUNDLE; owns both arrays (free with mqe2e_keybundle_free). */
struct mqe2e_keybundle {
	struct mqe2e_group_info *groups;   /* sorted by name once decoded */
	size_t ngroups;
	struct mqe2e_key_entry *keys;
	size_t nkeys;
	uint8_t flags;                     /* MQE2E_KEYBUNDLE_MORE: a page */
};

/* Encode kb (groups in any order; every key's group in the table with the
 * same scheme, else MQE2E_ERR_INVALID_ARG) into a malloc'd buffer (free
 * with mqe2e_free_secret(out, len): it holds keys). */
int mqe2e_keybundle_encode(const struct mqe2e_keybundle *kb, uint8_t **out,
    size_t *len) MQE2E_WUR;
/* Decode into *kb (mqe2e_keybundle_free it; left empty on failure). */
int mqe2e_keybundle_decode(const uint8_t *in, size_t len, struct mqe2e_keybundle *kb) MQE2E_WUR;
/* The group named name in a decoded (sorted) bundle, or NULL. */
const struct mqe2e_group_info *mqe2e_keybundle_group(const struct mqe2e_keybundle *kb,
    const char *name);
/* Wipe the keys, free both arrays and zero *kb; NULL is a no-op. */
void mqe2e_keybundle_free(struct mqe2e_keybundle *kb);
/* Move the groups and keys of page (one answer: a page of a paged fetch, or
 * the epochs asked for by name) into acc, which keeps its table sorted and
 * distinct and each (group, kind, epoch) once; page is left empty, also on
 * failure.  acc's flags become page's. */
int mqe2e_keybundle_append(struct mqe2e_keybundle *acc, struct mqe2e_keybundle *page) MQE2E_WUR;
/* Wipe and free an entry array; (NULL, 0) is a no-op. */
void mqe2e_key_entries_free(struct mqe2e_key_entry *e, size_t n);
/* Wipe and free a buffer that held secrets. */
void mqe2e_free_secret(void *p, size_t len);

/* ===========================================================================
 * Signed hellos and replies: low-level codecs.  Most code uses handshake.h.
 *
 * hello: ver, type, vec16 client_id, vec16 cert_der, eph_pub[32], u64 ts_ms,
 *        nonce[16], [extra], sig[64]
 *   CONNECT_HELLO 0x01 (version 2): vec16 broker_id (0..255; empty: any broker)
 *   KEY_REQUEST   0x10 (version 2): u16 count, count x { vec16 group,
 *                 u32 epoch }, vec16 after (0..255; empty: from the start)
 *   PAIR_REQUEST  0x40: vec16 peer_id, vec16 group, u32 generation
 * sig = Ed25519(cert key, label(type) || every byte before sig)
 * ======================================================================== */
struct mqe2e_hello {
	uint8_t type;
	struct mqe2e_view client_id;
	struct mqe2e_view cert_der;
	const uint8_t *eph_pub;        /* 32 bytes */
	uint64_t ts_ms;
	const uint8_t *nonce;          /* 16 bytes */
	/* KEY_REQUEST */
	uint16_t ngroups;
	struct mqe2e_view groups;      /* the raw list (count x {vec16, u32}) */
	struct mqe2e_view after;       /* paging cursor: a group name, or empty */
	/* CONNECT_HELLO */
	struct mqe2e_view broker_id;   /* the broker it is for; empty: unbound */
	/* PAIR_REQUEST */
	struct mqe2e_view peer_id;
	struct mqe2e_view group;
	uint32_t generation;
	const uint8_t *sig;            /* 64 bytes */
	struct mqe2e_view signed_part; /* every byte before sig */
};
/* Decode a hello of the expected type (MQE2E_ERR_BAD_TYPE otherwise). */
int mqe2e_hello_decode(const uint8_t *in, size_t len, uint8_t expect_type,
    struct mqe2e_hello *h) MQE2E_WUR;
/* Iterate the groups of a decoded KEY_REQUEST: *off starts at 0; returns
 * MQE2E_OK with *group and *epoch (0: the group's window) set,
 * MQE2E_ERR_NOT_FOUND after the last one. */
int mqe2e_hello_next_group(const struct mqe2e_hello *h, size_t *off,
    struct mqe2e_view *group, uint32_t *epoch) MQE2E_WUR;

/* CONNACK_REPLY 0x02: ver, type, vec16 broker_cert_der, eph_pub[32], u64 ts_ms,
 *   nonce[16], sig[64], confirm[32]
 * KEY_RESPONSE 0x11: ver, type, eph_pub[32], u64 ts_ms, nonce[16], sig[64],
 *   gcm_nonce[12], vec32 sealed
 * PAIR_RESPONSE 0x41: ver, type, vec16 client_id, vec16 cert_der, eph_pub[32],
 *   u64 ts_ms, nonce[16], vec16 peer_id, vec16 group, u32 generation,
 *   req_hash[32], sig[64]
 */
struct mqe2e_reply {
	uint8_t type;
	struct mqe2e_view client_id;   /* PAIR_RESPONSE */
	struct mqe2e_view cert_der;    /* CONNACK_REPLY, PAIR_RESPONSE */
	const uint8_t *eph_pub;
	uint64_t ts_ms;
	const uint8_t *nonce;
	struct mqe2e_view peer_id;     /* PAIR_RESPONSE */
	struct mqe2e_view group;       /* PAIR_RESPONSE */
	uint32_t generation;           /* PAIR_RESPONSE */
	const uint8_t *req_hash;       /* PAIR_RESPONSE */
	const uint8_t *sig;
	struct mqe2e_view signed_part; /* every byte before sig */
	const uint8_t *confirm;        /* CONNACK_REPLY */
	const uint8_t *gcm_nonce;      /* KEY_RESPONSE */
	struct mqe2e_view sealed;      /* KEY_RESPONSE */
	struct mqe2e_view aad;         /* KEY_RESPONSE: every byte before sealed */
};
int mqe2e_reply_decode(const uint8_t *in, size_t len, uint8_t expect_type,
    struct mqe2e_reply *r) MQE2E_WUR;

#endif
