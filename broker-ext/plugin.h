/*
 * plugin.h - internal interfaces of mqe2e_plugin.so, the Mosquitto 2.0
 * extension of mqe2e.  Nothing here is exported from the plugin: its only
 * exports are mosquitto_plugin_version/_init/_cleanup (plugin.c).
 *
 * Threads: every function here runs on the broker's single thread, except
 * kms_sync's worker, which only touches its own state and hands finished
 * policy snapshots over under kms_sync's lock (see kms_sync.c).
 *
 * Files:
 *   plugin.c    the three exports, callback table, tick
 *   config.c    plugin_opt_* parsing
 *   session.c   per-connection state keyed by the mosquitto client pointer
 *   auth.c      MOSQ_EVT_EXT_AUTH_START / BASIC_AUTH / DISCONNECT
 *   acl.c       MOSQ_EVT_ACL_CHECK (grants; verification of publishes)
 *   message.c   per-message scheme operations (verify, re-frame, route)
 *   policy.c    the verified policy snapshot: groups, grants, GK_B keys
 *   kms_sync.c  the KMS thread: policy, keys, CRL, long-poll watch
 *   roster.c    mqe2e/v1/roster/<group>: reachable scheme 1/2 subscribers
 *   cache.c     plugin_opt_policy_cache: last policy, keys, CRL on disk
 *   stats.c     drop/auth counters, stats file, periodic log line
 *   notice.c    rekey notices to connected members when a group's epoch moves
 *   clock.c     the broker's clock: CONNACK dates and GK_B frame seqs
 */
#ifndef MQE2E_BROKER_PLUGIN_H
#define MQE2E_BROKER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <pthread.h>
#include <time.h>

#include "mqe2e_err.h"
#include "crypto.h"
#include "topic.h"
#include "wire.h"
#include "replay.h"
#include "handshake.h"

struct mosquitto;
struct mosquitto_evt_acl_check;
struct mosquitto_plugin_id_t;
struct mosquitto_opt;

#define BX_LOG_PREFIX "mqe2e: "

/* ---- configuration (config.c) ---------------------------------------------- */
/* plugin_opt_role: the mqe2e listener(s), or a guard on a listener of an
 * existing fleet (per_listener_settings true; fleet.c). */
enum bx_role { BX_ROLE_MQE2E = 0, BX_ROLE_GUARD = 1 };
/* plugin_opt_fleet: how clients without mqe2e are treated apart from what
 * mqe2e reserves (its topics, its client ids): not at all (refused, or
 * read-only with allow_plain), everything allowed (Mosquitto without
 * acl_file), or left to Mosquitto's acl_file. */
enum bx_fleet { BX_FLEET_NONE = 0, BX_FLEET_ALLOW = 1, BX_FLEET_ACL_FILE = 2 };

struct bx_config {
	enum bx_role role;      /* plugin_opt_role (mqe2e) */
	enum bx_fleet fleet;    /* plugin_opt_fleet (none; required for guard) */
	char *kms_url;          /* plugin_opt_kms_url (required) */
	char *cert;             /* plugin_opt_cert: broker certificate PEM (required) */
	char *key;              /* plugin_opt_key: broker Ed25519 key PEM (required) */
	char *cafile;           /* plugin_opt_cafile: KMS CA PEM (required) */
	bool allow_plain;       /* plugin_opt_allow_plain (false) */
	uint32_t max_skew_ms;   /* plugin_opt_max_skew_ms (MQE2E_SKEW_MS_DEFAULT) */
	char *policy_cache;     /* plugin_opt_policy_cache (optional) */
	char *stats_file;       /* plugin_opt_stats_file (optional) */
	char *metrics_file;     /* plugin_opt_metrics_file: Prometheus text (optional) */
	uint32_t watch_s;       /* plugin_opt_kms_watch_s: long-poll timeout (5) */
	uint32_t nonce_cap;     /* plugin_opt_nonce_cache (65536) */
	uint32_t nonce_per_client; /* plugin_opt_nonce_per_client (32) */
	uint32_t max_future_ms; /* plugin_opt_max_future_ms (10000, <= max_skew_ms) */
	bool require_broker_id; /* plugin_opt_require_broker_id (false) */
};

/* Parse the options; on failure logs one line naming the option and returns
 * a negative mqe2e_err (cfg is then freed). */
int config__parse(struct bx_config *cfg, const struct mosquitto_opt *opts, int n) MQE2E_WUR;
void config__free(struct bx_config *cfg);

/* ---- counters (stats.c) ------------------------------------------------------ */
enum bx_stat {
	BX_AUTH_OK,
	BX_AUTH_BAD_SIGNATURE,
	BX_AUTH_UNKNOWN_CA,
	BX_AUTH_REVOKED,
	BX_AUTH_CERT_EXPIRED,
	BX_AUTH_BAD_CERT,
	BX_AUTH_ID_MISMATCH,
	BX_AUTH_CLOCK_SKEW,
	BX_AUTH_NONCE_REUSE,
	BX_AUTH_QUOTA,
	BX_AUTH_BUSY,
	BX_AUTH_MALFORMED,
	BX_AUTH_NOT_READY,
	BX_AUTH_BAD_METHOD,
	BX_AUTH_OTHER,
	BX_PLAIN_ACCEPTED,
	BX_PLAIN_REFUSED,
	BX_PLAIN_IDENTITY,
	BX_MSG_RELAYED_1,
	BX_MSG_RELAYED_2,
	BX_MSG_RELAYED_3,
	BX_MSG_RELAYED_4,
	BX_MSG_BAD_MAC,
	BX_MSG_REPLAY,
	BX_MSG_SENDER_MISMATCH,
	BX_MSG_NO_GRANT,
	BX_MSG_UNKNOWN_GROUP,
	BX_MSG_MALFORMED,
	BX_MSG_WRONG_SCHEME,
	BX_MSG_NO_KEY,
	BX_MSG_KEY_STALE,
	BX_MSG_UNKNOWN_EPOCH,
	BX_MSG_STAGED_DENIED,
	BX_MSG_WILL,
	BX_MSG_RETAIN_DENIED,
	BX_PROPS_STRIPPED,
	BX_DELIVERY_FAILED,
	BX_MSG_INTERNAL,
	BX_PLAIN_PUBLISH_DENIED,
	BX_FLEET_DENIED,
	BX_SUB_DENIED,
	BX_READ_DENIED,
	BX_KICKED,
	BX_REKEY_NOTICES,
	BX_POLICY_UPDATES,
	BX_KMS_ERRORS,
	BX_RETAINED_DROPPED,
	BX_STAT__COUNT
};

void stats__inc(enum bx_stat s);
uint64_t stats__get(enum bx_stat s);
const char *stats__name(enum bx_stat s);
/* Gauges written next to the counters. */
void stats__set_policy_version(uint64_t v);
void stats__set_sessions(uint64_t n);
/* The trust store's certificate cache: lookups answered from it, and not
 * (mqe2e_trust_cache_stats; written as counters). */
void stats__set_cert_cache(uint64_t hits, uint64_t misses);
/* Called from the tick: writes the stats file (atomically, once a second)
 * and logs a summary line when counters changed (at most once a minute). */
void stats__tick(const char *stats_file, time_t now);
/* Write the stats file now (at cleanup). */
void stats__flush(const char *stats_file);

/* ---- policy snapshot (policy.c) ---------------------------------------------- */
struct bx_gkey {                     /* one GK_B epoch */
	uint32_t epoch;
	uint64_t not_before_ms;
	uint64_t not_after_ms;
	struct mqe2e_mac *mac;           /* scheme 4 */
	struct mqe2e_aead *aead;         /* scheme 3 */
};

struct bx_group {
	char *name;
	char *filter;
	uint8_t scheme;
	uint32_t epoch;                  /* current epoch (policy) */
	uint32_t oldest;                 /* lowest epoch in grace (policy; 0: unknown) */
	struct bx_gkey *keys;            /* GK_B epochs held */
	size_t nkeys;
	uint64_t seq;                    /* broker's re-frame sequence (broker thread) */
	time_t stale_logged;             /* last "keys ended" log line (message.c) */
	uint64_t stale_drops;            /* publishes refused since the keys ended */
};

struct bx_grant {
	char *client;
	uint8_t *rights;                 /* per group: 1 pub, 2 sub */
};

/* How far past the policy's current epoch an envelope may be while the
 * policy catches up with the KMS (message.c). */
#define BX_EPOCH_LOOKAHEAD 4096u

#define BX_RIGHT_PUB 1u
#define BX_RIGHT_SUB 2u

struct bx_policy {
	uint64_t version;
	struct bx_group *groups;         /* in policy order */
	size_t ngroups;
	size_t *by_name;                 /* group indices sorted by name */
	struct bx_grant *grants;         /* sorted by client */
	size_t ngrants;
	char **revoked_serials;
	size_t nrevoked_serials;
	char **revoked_clients;
	size_t nrevoked_clients;
	uint8_t *crl;                    /* PEM as fetched, may be NULL */
	size_t crl_len;
};

/* Build a snapshot from the verified policy JSON bytes and the GK_B entries
 * of a KEY_RESPONSE.  Untrusted structure is checked (names, filters,
 * schemes, sizes); keys are copied into contexts.  Caller frees. */
int policy__from_json(const uint8_t *json, size_t len, const struct mqe2e_key_entry *keys,
    size_t nkeys, struct bx_policy **out) MQE2E_WUR;
void policy__free(struct bx_policy *p);
/* The group named name, or NULL; *index its position. */
struct bx_group *policy__find(struct bx_policy *p, const char *name, size_t *index);
/* The first group whose filter matches topic, or NULL. */
struct bx_group *policy__match(struct bx_policy *p, const char *topic, size_t *index);
/* Rights (BX_RIGHT_*) of client on group index gi. */
unsigned policy__rights(const struct bx_policy *p, const char *client, size_t gi);
/* GK_B of (group, epoch), NULL if not held or outside its validity. */
struct bx_gkey *policy__key(struct bx_group *g, uint32_t epoch, uint64_t now_ms);
int policy__is_revoked_client(const struct bx_policy *p, const char *client);
int policy__is_revoked_serial(const struct bx_policy *p, const char *serial);

/* ---- the verdict on one publish (message.c) ------------------------------------ */
/*
 * What the ACL write check decided about one group publish, handed to the
 * MOSQ_EVT_MESSAGE callback that Mosquitto runs right after it for the same
 * message.  It owns its buffers (verdict__clear frees and wipes them) and
 * names the policy version it was decided under; the message callback takes
 * it only for the payload it was made for, under that same policy.
 */
struct bx_verdict {
	bool valid;
	const void *src;                 /* the payload verified (as Mosquitto holds it) */
	uint32_t src_len;
	uint64_t policy_version;         /* decided under this policy */
	size_t gi;                       /* group index under that policy */
	uint8_t *body;                   /* schemes 2/3: opened channel body (malloc, wiped) */
	size_t body_len;
	void *out;                       /* schemes 3/4: the broker's frame (mosquitto_malloc) */
	uint32_t out_len;
	uint64_t group_seq;              /* schemes 3/4: seq of that frame */
};

void verdict__clear(struct bx_verdict *v);
/* 1 if v was made for this payload of group gi under policy p (the one in
 * force). */
int verdict__matches(const struct bx_verdict *v, const struct bx_policy *p, const void *payload,
    uint32_t len, size_t gi);

/* ---- staged QoS 2 messages (staged.c) --------------------------------------- */
/* Record a QoS 2 group frame (group, broker frame seq) of publisher. */
void staged__add(const char *group, uint64_t seq, const char *publisher);
/* 0 if (group, seq) is not a staged frame, or its publisher still holds a
 * pub grant on group gi under the current policy and is not revoked; -1 if
 * it is refused (and then stays refused). */
int staged__check(const uint8_t *group, size_t group_len, uint64_t seq, size_t gi);
void staged__tick(time_t now);
size_t staged__count(void);
/* Changes whenever what staged__check answers may change (a record added,
 * dropped or refused). */
uint64_t staged__gen(void);
void staged__cleanup(void);

/* ---- per-connection state (session.c) ---------------------------------------- */
struct bx_session {
	/* What the read check of every delivery to this client needs, first:
	 * the lookup and the check then touch one cache line of it. */
	struct mosquitto *client;        /* key */
	struct bx_session *next;         /* chain by client pointer */
	bool plain;                      /* allow_plain client without mqe2e */
	bool fleet;                      /* plain, under plugin_opt_fleet (fleet.c) */
	bool wants_rekey;                /* subscribed to MQE2E_REKEY_FILTER */
	uint8_t rights;                  /* BX_RIGHT_* on group rights_gi ... */
	size_t rights_gi;
	uint64_t rights_gen;             /* ... under policy bx.policy_gen (0: none) */

	char id[MQE2E_ID_MAX + 1];
	char serial[MQE2E_SERIAL_MAX];
	/* The session keys SK_CB (wiped with the session) and their contexts,
	 * made at first use (session__mac_c2b() ...): a subscriber of scheme 4
	 * never needs the c2b ones, nor the AEAD ones; each is ~1 KiB. */
	bool has_keys;
	uint8_t key_c2b[MQE2E_KEY_LEN];
	uint8_t key_b2c[MQE2E_KEY_LEN];
	struct mqe2e_mac *mac_c2b;       /* scheme 4 publishes */
	struct mqe2e_aead *aead_c2b;     /* schemes 2/3 publishes */
	struct mqe2e_aead *aead_b2c;     /* scheme 2 deliveries */
	struct mqe2e_mac *mac_b2c;       /* rekey notices (notice.c) */
	struct mqe2e_replay_window rx;   /* channel seq client -> broker */
	uint64_t tx_seq;                 /* channel seq broker -> client */
	struct bx_verdict verdict;       /* ACL write check -> MOSQ_EVT_MESSAGE */
	struct bx_session *next_id;      /* chain by id (mqe2e sessions only) */
	bool in_id_index;
	/* It can be asked to pair: it subscribed to its pairing request inbox
	 * on this connection, or resumed a persistent session (which keeps its
	 * subscriptions).  Only such clients are on a roster (roster.c). */
	bool pairable;
};

int session__init(void) MQE2E_WUR;
void session__cleanup(void);
/* Add a fresh session for client (replacing any old one). */
int session__add(struct mosquitto *client, struct bx_session **out) MQE2E_WUR;
struct bx_session *session__find(const struct mosquitto *client);
/* s's session key contexts, made at first use; NULL without keys or memory. */
struct mqe2e_mac *session__mac_c2b(struct bx_session *s);
struct mqe2e_aead *session__aead_c2b(struct bx_session *s);
struct mqe2e_aead *session__aead_b2c(struct bx_session *s);
struct mqe2e_mac *session__mac_b2c(struct bx_session *s);
/* Index an mqe2e session under s->id (set it first); the newest session of
 * an id wins (session takeover). */
void session__index_id(struct bx_session *s);
/* The newest mqe2e session of a client id, or NULL. */
struct bx_session *session__find_id(const char *id);
void session__remove(const struct mosquitto *client);
size_t session__count(void);
/* Call fn for each session (fn must not add or remove sessions). */
void session__foreach(void (*fn)(struct bx_session *, void *), void *arg);
/* Remember that id authenticated with mqe2e (plain clients may not use it). */
void session__remember_id(const char *id);
/* 1 if id authenticated with mqe2e since the broker started. */
int session__known_id(const char *id);

/* ---- global plugin state (plugin.c) ------------------------------------------ */
struct bx_kms_sync;

struct bx_state {
	struct bx_config cfg;
	struct mqe2e_identity *self;     /* broker certificate + key */
	struct mqe2e_trust *trust;       /* CA + CRL + revoked serials (broker thread) */
	struct mqe2e_nonce_cache *nonces;
	struct bx_policy *policy;        /* current snapshot (broker thread), may be NULL */
	uint64_t policy_gen;             /* bumps with every snapshot installed: what
	                                    is cached per policy is keyed by it */
	struct bx_kms_sync *sync;
	char *topic_cache;               /* last topic looked up */
	struct bx_group *topic_group;
	size_t topic_gi;
	uint64_t topic_cache_version;
	uint64_t start_ms;               /* plugin start: hellos dated before it are refused */
};

extern struct bx_state bx;

/* ---- the broker's clock (clock.c) --------------------------------------------- */
/* Microseconds since the Unix epoch, strictly increasing within this process
 * even if the wall clock steps back: the time in CONNACK replies (/ 1000)
 * and the sequence number of every GK_B frame, so a subscriber can tell a
 * frame made after its connection from one made before (PROTOCOL.md 8). */
uint64_t clock__now_us(void);

/* Group of topic under the current policy (cached), NULL if none. */
struct bx_group *plugin__group_of(const char *topic, size_t *gi);
/* A line in Mosquitto's log (text, or JSON with plugin_opt_log_format). */
void plugin__log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Rate-limited warning log (drops and refusals). */
void plugin__logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* plugin_opt_log_format json: every line of the plugin as a JSON object. */
void plugin__log_json(bool on);

/* Run the periodic work now if Mosquitto does not (with
 * per_listener_settings true Mosquitto 2.0 never sends MOSQ_EVT_TICK): at
 * most every 200 ms, only from an outermost callback.  plugin__enter/leave
 * bracket every callback; enter(1) may run the tick. */
void plugin__enter(int may_tick);
void plugin__leave(void);

/* ---- clients of an existing fleet (fleet.c) ----------------------------------- */
/* A client without mqe2e under plugin_opt_fleet: BASIC_AUTH (refuse mqe2e
 * ids, else defer to Mosquitto's password_file/allow_anonymous) and the ACL
 * (refuse mqe2e topics, else allow or defer to acl_file). */
int fleet__basic(struct mosquitto *client, enum bx_fleet mode);
int fleet__acl(const struct mosquitto_evt_acl_check *ed, enum bx_fleet mode);
/* 1 if id is an mqe2e client id (plain clients must not use it); strict:
 * also every id while there is no policy yet. */
int auth__id_reserved(const char *id, int strict);
/* A guard instance (plugin_opt_role guard): init and cleanup. */
int fleet__guard_init(struct mosquitto_plugin_id_t *identifier, void **userdata,
    const struct bx_config *cfg);
void fleet__guard_cleanup(void *userdata);
/* 1 once the mqe2e instance is loaded (guards need its policy). */
int plugin__mqe2e_loaded(void);

/* ---- callbacks --------------------------------------------------------------- */
int auth__ext_start(int event, void *event_data, void *userdata);
int auth__basic(int event, void *event_data, void *userdata);
int auth__disconnect(int event, void *event_data, void *userdata);
int acl__check(int event, void *event_data, void *userdata);
int message__handle(int event, void *event_data, void *userdata);
/* Verify a publish from an mqe2e session on group gi (ACL write check):
 * MQE2E_OK and s->pend_* set, or a negative mqe2e_err (already counted and
 * logged). */
int message__verify(struct bx_session *s, struct bx_group *g, size_t gi, const char *topic,
    const void *payload, uint32_t payloadlen) MQE2E_WUR;

/* ---- KMS thread (kms_sync.c) ---------------------------------------------- */
/* Check the URL and load the thread's own identity and trust (errors logged,
 * naming the option); the thread does not run yet. */
int kms_sync__new(const struct bx_config *cfg, struct bx_kms_sync **out) MQE2E_WUR;
/* Create the thread (init); it waits until kms_sync__run or 2 s (see
 * kms_sync.c). */
int kms_sync__start(struct bx_kms_sync *ks) MQE2E_WUR;
/* The broker serves (first tick or client event): let the thread talk to
 * the KMS.  Cheap after the first call. */
void kms_sync__run(struct bx_kms_sync *ks);
void kms_sync__stop(struct bx_kms_sync *ks);
/* When the thread last had an answer from the KMS (ms since the epoch; 0
 * never).  Any thread. */
uint64_t kms_sync__last_ok(struct bx_kms_sync *ks);
/* A publisher names an epoch newer than the policy's: end the burst pace
 * (the next round starts now).  Any thread. */
void kms_sync__kick(struct bx_kms_sync *ks);
/* Broker thread: take the newest verified snapshot, if any (caller owns). */
struct bx_policy *kms_sync__take(struct bx_kms_sync *ks);

/* ---- roster of scheme 1/2 groups (roster.c) ---------------------------------- */
/* Something changed (connect, disconnect, policy): republish in the tick. */
void roster__mark_dirty(void);
void roster__tick(void);
void roster__cleanup(void);
/* The group named by a roster topic mqe2e/v1/roster/<group>, or NULL. */
const char *roster__group(const char *topic);

/* ---- retained messages of group topics (retained.c) -------------------------- */
/* A retained message on topic was stored (payloadlen > 0) or cleared. */
void retained__seen(const char *topic, size_t payloadlen);
/* MOSQ_EVT_MESSAGE, registered after message__handle: notes retained ones. */
int retained__on_message(int event, void *event_data, void *userdata);
/* A new snapshot p replaced old: clear the retained messages of every
 * group p no longer has (broker thread). */
void retained__policy_changed(const struct bx_policy *old, struct bx_policy *p);
void retained__cleanup(void);

/* ---- rekey notices (notice.c) ------------------------------------------------ */
/* A new snapshot p replaces old (may be NULL): tell every connected client
 * that asked for notices and holds a grant on a group whose epoch moved
 * (broker thread; call after p is installed, before old is freed). */
void notice__policy_changed(const struct bx_policy *old, const struct bx_policy *p);

/* ---- policy cache (cache.c) -------------------------------------------------- */
/* Verify a KMS policy answer {version, policy, sig} for the request nonce;
 * *policy: the malloc'd policy JSON. */
int cache__open_answer(EVP_PKEY *ca, const uint8_t nonce[MQE2E_NONCE_LEN], const uint8_t *body,
    size_t len, uint8_t **policy, size_t *policy_len) MQE2E_WUR;
/* The chain of signed answers the cache holds: a full snapshot, then the
 * deltas that followed it (each with the nonce of its request). */
#define CACHE_DELTAS_MAX 256
struct json_t;
/* Append one verified answer to chain (a JSON array; a full snapshot
 * empties it first). */
int cache__chain_add(struct json_t *chain, const uint8_t nonce[MQE2E_NONCE_LEN], const uint8_t *answer,
    size_t answer_len, int full) MQE2E_WUR;
/* Write the cache atomically (mode 0600): chain, the GK_B keys and the CRL
 * of its newest version; err says why on failure. */
int cache__save(const char *path, const struct json_t *chain, const struct mqe2e_key_entry *keys,
    size_t nkeys, const uint8_t *crl, size_t crl_len, char *err, size_t err_len) MQE2E_WUR;
/* Load and verify the cache into a snapshot (caller owns). */
int cache__load(const char *path, EVP_PKEY *ca, struct bx_policy **out, char *err,
    size_t err_len) MQE2E_WUR;

#endif
