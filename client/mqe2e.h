/*
 * mqe2e.h - libmqe2e, the mqe2e client library: end-to-end secured MQTT
 * publish/subscribe through an untrusted broker.
 *
 * A client is made from a configuration (broker URI, certificate, key, CA,
 * KMS URL), connects with the one-round-trip handshake in CONNECT/CONNACK
 * (MQTT 5 Authentication Method "mqe2e-v1"), fetches its group keys from the
 * KMS, and then publishes and receives plaintext: the library seals and
 * opens the E2E envelopes and the client-broker frames of the topic group's
 * scheme, 1 to 4 (docs/PROTOCOL.md).
 *
 * Threads.  The MQTT library calls back on its own thread, and the client
 * runs two threads of its own: one reconnects, one fetches keys.
 * Every function here may be called from any thread, including from inside
 * a message, error or state callback, except mqe2e_client_free() and
 * mqe2e_connect() (never from a callback).  Inside a callback, publish and
 * subscribe hand the packet over without waiting for the broker's answer
 * (it cannot arrive before the callback returns) and fail at once while the
 * link is down.  Callbacks of one client are never run concurrently with
 * each other; the messages of one topic group are delivered in the order
 * the broker sent them.  The MQTT library's thread never waits for the KMS:
 * a message naming a key epoch the client lacks is held (hold_max, hold_s)
 * while the client's keys thread fetches the keys, and delivered from that
 * thread when they arrive; other groups' messages go on meanwhile.
 *
 * Errors.  Functions return MQE2E_OK (0) or a negative mqe2e_err code
 * (mqe2e_strerror() gives a sentence).  mqe2e_client_errmsg() gives the
 * detailed message of the last failure, naming the file, topic, group or
 * peer concerned and what to do.
 *
 * Ownership.  The library copies every string and buffer it is given; data
 * handed to callbacks is valid only during the callback.  Secrets (private
 * key, session and group keys) are wiped when the client is freed.
 */
#ifndef MQE2E_H
#define MQE2E_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration -------------------------------------------------------- */
struct mqe2e_config;

/* A new configuration with the defaults (broker tcp://localhost:1883, KMS
 * http://127.0.0.1:7780).  Free with mqe2e_config_free(). */
int mqe2e_config_new(struct mqe2e_config **out) MQE2E_WUR;
void mqe2e_config_free(struct mqe2e_config *cfg);

/*
 * Set one option by name (the value is copied):
 *   broker          MQTT broker URI, "tcp://host:port" (or mqtt://), or
 *                   "ssl://host:port" (or mqtts://) for MQTT over TLS
 *   client_id       MQTT client id (default: the certificate's CN; the broker
 *                   refuses any other)
 *   cert, key       PEM files of this client's certificate and Ed25519 key
 *   cafile          PEM file of the mqe2e CA certificate
 *   kms             KMS base URL, "https://host:port" (verified against
 *                   cafile), or several separated by commas, tried in order
 *                   with failover; "http://host:port" on loopback (default:
 *                   $MQE2E_KMS_URL when set, else http://127.0.0.1:7780)
 *   group           optional: the group every published topic must belong
 *                   to (an assertion; the topic alone determines its group)
 *   recipients      comma-separated subscriber ids to seal for in groups of
 *                   scheme 1 or 2 (pairwise keys), instead of the broker's
 *                   roster of the group's connected subscribers
 *   keepalive       MQTT keep-alive in seconds (default 60)
 *   kms_timeout_ms  deadline of one KMS request, retries on 503 or a
 *                   connection failure included (default 5000); the
 *                   client's background fetches make one pass over the
 *                   KMS URLs instead and retry after 1, 2, 4, 8, 10 s
 *   reconnect_min_ms, reconnect_max_ms
 *                   reconnect backoff bounds (default 500, 30000); each
 *                   wait is half the backoff plus a random part of the
 *                   other half
 *   key_refresh_s   refetch keys from the KMS this often (default 300)
 *   pair_refresh_s  schemes 1/2: renew each pairwise key this often, so
 *                   that a subscriber that restarted is paired again
 *                   (default 600)
 *   clean_start     1 (default): a fresh MQTT session at every connect; 0:
 *                   resume the broker's session (subscriptions, QoS 1/2
 *                   messages queued while away; readable within grace)
 *   session_expiry_s  MQTT 5 Session Expiry Interval (default 0)
 *   hold_max        received messages that may wait for a key fetch
 *                   (default 1000, and 32 MiB at most; 0: drop them)
 *   hold_s          how long one may wait, seconds (default 30); a message
 *                   not delivered by then is dropped and reported
 *   rekey_jitter_ms a rekey notice's key fetch waits a random 0..this many
 *                   ms (default 1000, at most 60000), so that a group's
 *                   members do not all reach the KMS at once
 *   key_cache       1 (default): keep the keys in a sealed file (below);
 *                   0: in memory only, so a restart needs the KMS
 *   key_cache_file  where (default: the "key" file's path + ".cache")
 *   tls_cafile, tls_capath
 *                   TLS only: CA file / hashed CA directory that signed the
 *                   broker's TLS certificate (default: the system's CAs)
 *   tls_cert, tls_key
 *                   TLS only: client certificate and key (PEM), both or none
 *   tls_insecure    TLS only: 1 skips the check that the broker's
 *                   certificate names the URI's host (default 0; the chain
 *                   is always verified)
 * The tls_* options are the transport's, never the mqe2e identity; one set
 * with a tcp:// broker makes mqe2e_client_new() fail.
 *
 * Key cache.  After each key fetch that brought something new the client
 * writes its group keys and group table to key_cache_file: sealed
 * (AES-256-GCM) under a key derived from its own private key, mode 0600,
 * replaced atomically.  When the first fetch of a client finds the KMS
 * unreachable (no answer, or 5xx), the file is read instead and the fetch
 * (mqe2e_refresh_keys, mqe2e_connect) succeeds with the keys it held that
 * have not ended, telling the error callback so; a file that was altered,
 * truncated, written by another client or for another certificate is
 * refused (the callback and the call's message name it) and ignored.  A
 * KMS that answers "revoked" or "unknown client" deletes the file.  The
 * trade-off: the keys of the epochs the device holds (current, next and
 * those issued ahead) rest on its disk, readable by whoever also reads its
 * private key - who could fetch them from the KMS anyway until revoked.
 * Revocation still works: the broker refuses a revoked certificate
 * whatever its keys, and the KMS replaces the epochs it could read.
 *
 * MQE2E_ERR_NOT_FOUND for an unknown name, MQE2E_ERR_INVALID_ARG for a bad
 * value (numbers are decimal, within the documented range).
 */
int mqe2e_config_set(struct mqe2e_config *cfg, const char *name, const char *value) MQE2E_WUR;

/*
 * Read options from a file: one "name value" per line, '#' starts a comment,
 * blank lines ignored.  On failure errbuf (may be NULL) names the file and
 * line.
 */
int mqe2e_config_load(struct mqe2e_config *cfg, const char *path, char *errbuf,
    size_t errlen) MQE2E_WUR;

/* ---- client ----------------------------------------------------------------- */
struct mqe2e_client;

/* A received, verified and decrypted message (valid during the callback). */
struct mqe2e_message {
	const char *topic;
	const uint8_t *payload;     /* plaintext */
	size_t payload_len;
	const char *sender;         /* the publisher's client id (authenticated) */
	const char *group;          /* topic group */
	uint32_t epoch;             /* key epoch the message was sealed under */
	int scheme;                 /* 1..4 */
	int qos;
	int retained;
};

/* Why a message or an operation failed (valid during the callback).  Any of
 * the strings may be "" when it is not known. */
struct mqe2e_error {
	int code;                   /* negative mqe2e_err */
	const char *text;           /* complete sentence for humans */
	const char *topic;
	const char *sender;
	const char *group;
	uint32_t epoch;
};

typedef void (*mqe2e_message_cb)(void *arg, const struct mqe2e_message *msg);
typedef void (*mqe2e_error_cb)(void *arg, const struct mqe2e_error *err);
/* connected = 1 after each successful handshake, 0 when the link drops. */
typedef void (*mqe2e_state_cb)(void *arg, int connected);

/*
 * A new client from cfg (copied; cfg may be freed afterwards).  Loads the
 * certificate, key and CA, but does not touch the network.  On failure
 * errbuf (may be NULL) names the file and what to do.
 */
int mqe2e_client_new(const struct mqe2e_config *cfg, struct mqe2e_client **out,
    char *errbuf, size_t errlen) MQE2E_WUR;

/* Disconnect if connected, stop the client's threads, wipe every secret and
 * free.  NULL is a no-op.  Never call it from a callback. */
void mqe2e_client_free(struct mqe2e_client *c);

/* Callbacks for problems that are not the result of a call (a message that
 * did not verify, a failed reconnect, a key refresh that failed) and for
 * link state changes.  Set them before mqe2e_connect(). */
void mqe2e_client_set_error_cb(struct mqe2e_client *c, mqe2e_error_cb cb, void *arg);
void mqe2e_client_set_state_cb(struct mqe2e_client *c, mqe2e_state_cb cb, void *arg);

/* The detailed message of the last failure of a call on c, copied into buf
 * (NUL-terminated, cut to len).  Returns buf. */
const char *mqe2e_client_errmsg(struct mqe2e_client *c, char *buf, size_t len);

/* This client's id (the certificate CN unless configured otherwise). */
const char *mqe2e_client_id(const struct mqe2e_client *c);

/*
 * Connect and run the handshake while fetching the keys from the KMS (the
 * first time; the two run at once); wait up to timeout_ms for both.  The
 * state callback says "connected" only once both are done.  The client also subscribes to mqe2e/v1/rekey/+: the
 * broker's rekey notices make it fetch keys as soon as a group moves to a
 * new epoch (docs/PROTOCOL.md section 12).  After a first success the client reconnects by itself
 * (with a fresh handshake each time, backing off between attempts) until
 * mqe2e_disconnect() or mqe2e_client_free(), and subscriptions are renewed.
 * Errors: MQE2E_ERR_UNAVAILABLE (KMS or broker unreachable), the handshake's
 * verification errors (UNKNOWN_CA, REVOKED, BAD_SIGNATURE, ...), DENIED
 * (the broker refused us), TIMEOUT.
 */
int mqe2e_connect(struct mqe2e_client *c, int timeout_ms) MQE2E_WUR;

/* Disconnect cleanly and stop reconnecting; waits up to timeout_ms. */
int mqe2e_disconnect(struct mqe2e_client *c, int timeout_ms);

/* 1 while a verified session with the broker is up. */
int mqe2e_is_connected(struct mqe2e_client *c);

/*
 * Subscribe to an MQTT topic filter; cb receives each message that
 * verified and decrypted, err_cb (via mqe2e_client_set_error_cb) each one
 * that did not.  Waits up to timeout_ms for the SUBACK.  MQE2E_ERR_DENIED
 * if the broker refused the subscription.  With clean_start 0, a call
 * before the first mqe2e_connect() only registers the subscription (the
 * connect makes it), so that messages kept for the session reach cb.
 */
int mqe2e_subscribe(struct mqe2e_client *c, const char *filter, int qos,
    mqe2e_message_cb cb, void *arg, int timeout_ms) MQE2E_WUR;

/*
 * Publish payload[0..len) on topic under the topic group's scheme, and wait
 * up to timeout_ms for the broker's acknowledgement (QoS 1/2) or the
 * hand-over to the network (QoS 0).  While the link is down the call waits
 * for the reconnect; a message whose acknowledgement was lost is sent again
 * (receivers drop the duplicate).  Any topic of any group the client may
 * publish to works on one connection: the group is the one whose topic
 * filter (from the KMS's key bundle) matches the topic; the "group" option
 * only asserts it.  Refused before sending, naming the topic and the groups
 * held: MQE2E_ERR_UNKNOWN_KEY if no group of the client covers the topic
 * (or no valid key of it is held), MQE2E_ERR_DENIED without a pub grant on
 * it, MQE2E_ERR_NOT_FOUND if "group" names no group of the client; a miss
 * makes it fetch the keys once first (at most once a second), so a grant
 * just added works.  In schemes 1/2 the recipients are the "recipients"
 * option or else the broker's roster of the group; those not paired yet are
 * asked first, waiting up to timeout_ms for their answers (those that do not
 * answer are left out and reported to the error callback); sending then
 * gets timeout_ms of its own.
 */
int mqe2e_publish(struct mqe2e_client *c, const char *topic, const void *payload,
    size_t len, int qos, int retain, int timeout_ms) MQE2E_WUR;

/* Fetch the keys from the KMS now (blocking up to kms_timeout_ms).  The
 * first fetch of a client falls back on its key cache when the KMS cannot
 * be reached (see "Key cache" above). */
int mqe2e_refresh_keys(struct mqe2e_client *c) MQE2E_WUR;

#ifdef __cplusplus
}
#endif
#endif
