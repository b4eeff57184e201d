/*
 * handshake.h - the signed X25519 handshakes of mqe2e, high level.
 *
 *   CONNECT/CONNACK   client <-> broker extension   -> SK_CB (c2b, b2c)
 *   KEY_REQUEST/RESP  client or broker <-> KMS       -> KEY_BUNDLE entries
 *   PAIR_REQ/RESP     publisher <-> subscriber       -> K_E2E(P,S)
 *
 * Callers never see the wire details: they hand in an identity, a trust
 * anchor, bytes and the time, and get bytes, keys and a verified peer back.
 * Every verify path returns a distinct mqe2e_err (UNKNOWN_CA, REVOKED,
 * CERT_EXPIRED, BAD_CERT (wrong kind), ID_MISMATCH, CLOCK_SKEW, NONCE_REUSE,
 * BAD_SIGNATURE, BAD_TAG, format errors) so the edges can report a precise
 * reason.  Times are u64 milliseconds since the Unix epoch.
 *
 * Buffers returned through uint8_t ** are malloc'd: free() them.  Ephemeral
 * private keys and shared secrets are wiped on every path out.  The _ex
 * variants take the ephemeral private key and nonces explicitly; they exist
 * for test vectors only.
 */
#ifndef MQE2E_HANDSHAKE_H
#define MQE2E_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"
#include "crypto.h"
#include "wire.h"
#include "replay.h"

/* ---- identity: who I am ---------------------------------------------------- */
struct mqe2e_identity {
	char id[MQE2E_ID_MAX + 1];     /* subject CN */
	enum mqe2e_kind kind;          /* subject OU */
	char serial[MQE2E_SERIAL_MAX]; /* lowercase hex */
	X509 *cert;
	uint8_t *cert_der;             /* malloc'd copy */
	size_t cert_der_len;
	EVP_PKEY *key;                 /* Ed25519 private key */
};

/* Load a certificate and its private key from PEM files; checks that the
 * key matches the certificate and that the CN is a valid id.  errbuf gets a
 * message naming the file on failure.  Free with mqe2e_identity_free. */
int mqe2e_identity_load(const char *cert_pem_path, const char *key_pem_path,
    struct mqe2e_identity **out, char *errbuf, size_t errlen) MQE2E_WUR;
/* Build from objects; takes ownership of cert and key on success only. */
int mqe2e_identity_new(X509 *cert, EVP_PKEY *key, struct mqe2e_identity **out) MQE2E_WUR;
void mqe2e_identity_free(struct mqe2e_identity *id);

/* A verified peer. */
struct mqe2e_peer {
	char id[MQE2E_ID_MAX + 1];
	enum mqe2e_kind kind;
	char serial[MQE2E_SERIAL_MAX];
	uint64_t ts_ms;                /* the peer's timestamp */
};

/* Raw session keys (wipe with mqe2e_wipe when done; build mqe2e_aead or
 * mqe2e_mac contexts from them once per connection). */
struct mqe2e_session_keys {
	uint8_t c2b[MQE2E_KEY_LEN];    /* client -> broker */
	uint8_t b2c[MQE2E_KEY_LEN];    /* broker -> client */
};

/* ---- CONNECT / CONNACK ------------------------------------------------------ */
struct mqe2e_hs_client;

/* Client: build the CONNECT_HELLO (MQTT 5 Authentication Data; method
 * MQE2E_AUTH_METHOD) for the broker whose id is broker_id (NULL or "": any
 * broker, which a broker may refuse) and keep the state for _finish.  id
 * must outlive hs. */
int mqe2e_hs_client_start(const struct mqe2e_identity *id, const char *broker_id,
    uint64_t now_ms, struct mqe2e_hs_client **hs, uint8_t **hello,
    size_t *hello_len) MQE2E_WUR;
int mqe2e_hs_client_start_ex(const struct mqe2e_identity *id, const char *broker_id,
    uint64_t now_ms, const uint8_t eph_priv[MQE2E_X25519_LEN],
    const uint8_t nonce[MQE2E_NONCE_LEN], struct mqe2e_hs_client **hs, uint8_t **hello,
    size_t *hello_len) MQE2E_WUR;
/* Client: verify the CONNACK_REPLY (broker cert chains to trust, not revoked,
 * kind broker, CN == the broker_id the hello named if it named one
 * (ID_MISMATCH); skew; signature over the transcript; key confirmation) and
 * derive the session keys.  broker may be NULL.  One call per hs: the
 * ephemeral key is wiped afterwards, valid reply or not (a second call
 * returns MQE2E_ERR_INVALID_ARG). */
int mqe2e_hs_client_finish(struct mqe2e_hs_client *hs, struct mqe2e_trust *trust,
    const uint8_t *reply, size_t reply_len, uint64_t now_ms,
    struct mqe2e_session_keys *keys, struct mqe2e_peer *broker) MQE2E_WUR;
void mqe2e_hs_client_free(struct mqe2e_hs_client *hs);

/* What binds a CONNECT_HELLO to this broker process (PROTOCOL.md 2.2). */
struct mqe2e_hs_bind {
	uint64_t not_before_ms;   /* refuse hellos dated before this instant (the
	                             broker's start: its nonce cache is empty, so a
	                             hello from before cannot be told from a replay) */
	int require_broker_id;    /* refuse hellos that name no broker */
};

/* Broker: verify a CONNECT_HELLO and answer it.  Checks in this order:
 * format (TRUNCATED/TRAILING/TOO_LONG/BAD_VERSION/BAD_TYPE/BAD_FORMAT), skew
 * against nc's window and the bind's not_before_ms (CLOCK_SKEW), certificate
 * (trust: UNKNOWN_CA/REVOKED/CERT_EXPIRED; not kind client: BAD_CERT), CN ==
 * claimed id == mqtt_client_id (ID_MISMATCH), the broker the hello names ==
 * self's id, or none if bind allows it (ID_MISMATCH), signature
 * (BAD_SIGNATURE), and last the nonce via nc, charged to the client's id
 * (NONCE_REUSE; QUOTA if this client used up its share, UNAVAILABLE if the
 * cache is full).  nc is required, bind may be NULL (no start time, any
 * broker).  On success *reply is the CONNACK Authentication Data (free() it),
 * keys and peer (may be NULL) are set; on failure *reply is NULL. */
int mqe2e_hs_server_accept(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, const struct mqe2e_hs_bind *bind, const uint8_t *hello,
    size_t hello_len, const char *mqtt_client_id, uint64_t now_ms, uint8_t **reply,
    size_t *reply_len, struct mqe2e_session_keys *keys, struct mqe2e_peer *peer) MQE2E_WUR;
int mqe2e_hs_server_accept_ex(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, const struct mqe2e_hs_bind *bind, const uint8_t *hello,
    size_t hello_len, const char *mqtt_client_id, uint64_t now_ms,
    const uint8_t eph_priv[MQE2E_X25519_LEN], const uint8_t nonce[MQE2E_NONCE_LEN],
    uint8_t **reply, size_t *reply_len,
    struct mqe2e_session_keys *keys, struct mqe2e_peer *peer) MQE2E_WUR;

/* ---- KMS key delivery (HTTP POST /v1/keys, application/octet-stream) -------- */
struct mqe2e_keyreq;   /* requester state */

/* Requester (client or broker): build a KEY_REQUEST for the named groups,
 * each for its window of epochs (ngroups = 0: all my grants, first page). */
int mqe2e_keyreq_build(const struct mqe2e_identity *id, const char *const *groups,
    size_t ngroups, uint64_t now_ms, struct mqe2e_keyreq **st, uint8_t **req,
    size_t *req_len) MQE2E_WUR;
/* One group a KEY_REQUEST asks for: epoch 0 = its window (current, every
 * next, the newest grace epochs: docs/PROTOCOL.md 12.1); epoch e > 0 = the
 * window and epoch e, if the KMS still delivers it. */
struct mqe2e_keyreq_want {
	const char *group;
	uint32_t epoch;
};
/* The general form: n wants (n = 0: every group my grants allow) and a
 * paging cursor after (NULL or "": from the first group; else only groups
 * whose names sort after it: the last group of a previous answer that
 * carried MQE2E_KEYBUNDLE_MORE). */
int mqe2e_keyreq_build_want(const struct mqe2e_identity *id,
    const struct mqe2e_keyreq_want *want, size_t n, const char *after, uint64_t now_ms,
    struct mqe2e_keyreq **st, uint8_t **req, size_t *req_len) MQE2E_WUR;
int mqe2e_keyreq_build_ex(const struct mqe2e_identity *id, const char *const *groups,
    size_t ngroups, uint64_t now_ms, const uint8_t eph_priv[MQE2E_X25519_LEN],
    const uint8_t nonce[MQE2E_NONCE_LEN], struct mqe2e_keyreq **st, uint8_t **req,
    size_t *req_len) MQE2E_WUR;
void mqe2e_keyreq_free(struct mqe2e_keyreq *st);

/* What the KMS learns from a verified KEY_REQUEST. */
struct mqe2e_keyreq_info {
	struct mqe2e_peer requester;   /* id, kind (client or broker), serial */
	size_t ngroups;                /* 0 = all grants */
	char **groups;                 /* ngroups NUL-terminated names, owned */
	uint32_t *epochs;              /* ngroups epochs (0: the window), owned */
	char after[MQE2E_ID_MAX + 1];  /* paging cursor, "" = from the start */
	uint8_t nonce[MQE2E_NONCE_LEN];   /* the request's nonce, to record */
	/* for mqe2e_keyresp_build: */
	uint8_t req_hash[MQE2E_SHA256_LEN];
	uint8_t peer_eph[MQE2E_X25519_LEN];
};
/* KMS: verify a KEY_REQUEST (format, time against nc's window, chain and
 * revocation via trust, kind client or broker, signature).  The nonce is
 * NOT recorded here: the KMS records info->nonce under the requester's id
 * (mqe2e_nonce_cache_add_owned) once it has authorised the requester, so
 * nothing an unauthorised requester sends takes room in the cache.  Free
 * *info with _info_free. */
int mqe2e_keyreq_verify(struct mqe2e_trust *trust, struct mqe2e_nonce_cache *nc,
    const uint8_t *req, size_t req_len, uint64_t now_ms,
    struct mqe2e_keyreq_info **info) MQE2E_WUR;
void mqe2e_keyreq_info_free(struct mqe2e_keyreq_info *info);
/* KMS: seal the key bundle kb (its group table and keys, either may be
 * empty) for the requester, signed with the CA key. */
int mqe2e_keyresp_build(EVP_PKEY *ca_key, const struct mqe2e_keyreq_info *info,
    const struct mqe2e_keybundle *kb, uint64_t now_ms,
    uint8_t **resp, size_t *resp_len) MQE2E_WUR;
/* The same with the KMS's X25519 key of the current window (crypto.h,
 * mqe2e_x25519_share) instead of a key of its own per answer. */
int mqe2e_keyresp_build_shared(EVP_PKEY *ca_key, struct mqe2e_x25519_share *share,
    const struct mqe2e_keyreq_info *info, const struct mqe2e_keybundle *kb, uint64_t now_ms,
    uint8_t **resp, size_t *resp_len) MQE2E_WUR;
int mqe2e_keyresp_build_ex(EVP_PKEY *ca_key, const struct mqe2e_keyreq_info *info,
    const struct mqe2e_keybundle *kb, uint64_t now_ms,
    const uint8_t eph_priv[MQE2E_X25519_LEN], const uint8_t nonce[MQE2E_NONCE_LEN],
    const uint8_t gcm_nonce[MQE2E_GCM_NONCE_LEN], uint8_t **resp, size_t *resp_len) MQE2E_WUR;
/* Requester: verify the CA signature over (request hash, response header),
 * skew, decrypt and decode into *kb (free with mqe2e_keybundle_free). */
int mqe2e_keyresp_open(struct mqe2e_keyreq *st, struct mqe2e_trust *trust,
    const uint8_t *resp, size_t resp_len, uint64_t now_ms,
    struct mqe2e_keybundle *kb) MQE2E_WUR;

/* ---- pairwise E2E (schemes 1/2), relayed by the broker ------------------------ */
struct mqe2e_pair;     /* publisher state */

struct mqe2e_pair_info {
	struct mqe2e_peer peer;        /* the verified other side */
	char group[MQE2E_ID_MAX + 1];
	uint32_t generation;           /* envelope epoch of K_E2E */
	char pair_id[MQE2E_KEYNAME_MAX + 1];  /* "PUB|SUB|GROUP" */
};

/* Subscriber's check of the group a verified PAIR_REQUEST from publisher
 * names, made before the request's nonce is stored: MQE2E_OK to pair, or
 * the error to refuse with (MQE2E_ERR_DENIED: not a group this subscriber
 * pairs on). */
typedef int (*mqe2e_pair_group_cb)(void *arg, const char *publisher, const char *group);

/* Publisher: PAIR_REQUEST to subscriber peer_id for group, generation g. */
int mqe2e_pair_request_build(const struct mqe2e_identity *id, const char *peer_id,
    const char *group, uint32_t generation, uint64_t now_ms, struct mqe2e_pair **st,
    uint8_t **req, size_t *req_len) MQE2E_WUR;
int mqe2e_pair_request_build_ex(const struct mqe2e_identity *id, const char *peer_id,
    const char *group, uint32_t generation, uint64_t now_ms,
    const uint8_t eph_priv[MQE2E_X25519_LEN], const uint8_t nonce[MQE2E_NONCE_LEN],
    struct mqe2e_pair **st, uint8_t **req, size_t *req_len) MQE2E_WUR;
void mqe2e_pair_free(struct mqe2e_pair *st);
/* Subscriber: verify a PAIR_REQUEST addressed to me (requester cert, kind
 * client, CN == id, peer_id == my id, signature, skew), then the group via
 * group_ok (may be NULL), then the nonce via nc (may be NULL), and answer
 * it.  k_e2e receives K_E2E (wipe it when done); the key is the pair's for
 * that one group (info->pair_id "PUB|SUB|GROUP"). */
int mqe2e_pair_respond(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, mqe2e_pair_group_cb group_ok, void *arg,
    const uint8_t *req, size_t req_len, uint64_t now_ms,
    uint8_t **resp, size_t *resp_len, struct mqe2e_pair_info *info,
    uint8_t k_e2e[MQE2E_KEY_LEN]) MQE2E_WUR;
int mqe2e_pair_respond_ex(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, mqe2e_pair_group_cb group_ok, void *arg,
    const uint8_t *req, size_t req_len, uint64_t now_ms,
    const uint8_t eph_priv[MQE2E_X25519_LEN], const uint8_t nonce[MQE2E_NONCE_LEN],
    uint8_t **resp, size_t *resp_len, struct mqe2e_pair_info *info,
    uint8_t k_e2e[MQE2E_KEY_LEN]) MQE2E_WUR;
/* Publisher: verify the PAIR_RESPONSE (subscriber cert, CN == requested
 * peer, echoes of group/generation, request hash, signature, skew). */
int mqe2e_pair_finish(struct mqe2e_pair *st, struct mqe2e_trust *trust,
    const uint8_t *resp, size_t resp_len, uint64_t now_ms,
    struct mqe2e_pair_info *info, uint8_t k_e2e[MQE2E_KEY_LEN]) MQE2E_WUR;

/* ---- key schedule (exposed for test vectors) ---------------------------------- */
/* out = HKDF-SHA256(salt = th, ikm = shared, info = label, L = 32). */
int mqe2e_kdf(const uint8_t th[MQE2E_SHA256_LEN], const uint8_t shared[MQE2E_X25519_LEN],
    const char *label, uint8_t out[MQE2E_KEY_LEN]) MQE2E_WUR;

#endif
