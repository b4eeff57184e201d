/*
 * client_int.h - libmqe2e internals shared by the files of client/.
 *
 * Locking: one mutex per client (c->mu) guards every field below marked
 * [mu], the key store and the crypto contexts (which are not thread-safe).
 * It is never held while calling into paho (paho runs some callbacks, which
 * take mu, with its own lock held: holding mu there deadlocks) or the KMS,
 * and never while running a user callback; callbacks are serialised by
 * c->cb_mu instead.
 */
#ifndef MQE2E_CLIENT_INT_H
#define MQE2E_CLIENT_INT_H

#include <pthread.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdint.h>

#include <MQTTAsync.h>

#include "mqe2e.h"
#include "clock.h"
#include "crypto.h"
#include "handshake.h"
#include "link.h"
#include "replay.h"
#include "topic.h"
#include "wire.h"

#define CLIENT_ERRMSG_MAX 512
#define CLIENT_BROKER_ADDRS 8           /* addresses of the broker's name kept */
#define CLIENT_REPLAY_SENDERS 1024
#define CLIENT_FRAME_WINDOWS 256    /* broker frame windows: (broker, group,
                                       epoch) and one per link */

struct mqe2e_config {
	char *broker;
	char *client_id;
	char *cert;
	char *key;
	char *cafile;
	char *kms;
	char *group;
	char *recipients;
	char *broker_id;                /* the broker's id (certificate CN) the
	                                   hello is bound to; NULL: any broker */
	/* TLS to the broker (ssl:// or mqtts://), tls.c; not the mqe2e files */
	char *tls_cafile;
	char *tls_capath;
	char *tls_cert;
	char *tls_key;
	int tls_insecure;               /* 1: no check of the certificate's host */
	int keepalive;
	int kms_timeout_ms;
	int reconnect_min_ms;
	int reconnect_max_ms;
	int key_refresh_s;
	int pair_refresh_s;
	int clean_start;                /* 0: resume the broker's session */
	int session_expiry_s;           /* MQTT 5 Session Expiry Interval */
	int hold_max;                   /* messages held for a key fetch */
	int hold_s;                     /* how long one may wait for it */
	int rekey_jitter_ms;            /* a rekey notice's fetch waits 0..this */
	int key_cache;                  /* 0: no key cache file */
	char *key_cache_file;           /* NULL: beside the key, "<key>.cache" */
};

/* One group key of one epoch, with the contexts it is used through.
 * A delivery looks up two slots (GK_B, GK_P) in each client's store, and
 * a process of hundreds of clients reads one store after another: all a
 * delivery reads of a slot is on its first cache line (what a lookup
 * compares ahead of the name, then the key and its contexts), the name
 * starts the second, and the slots are aligned on lines (keys.c
 * slots_alloc), so a slot passed costs one line and a slot found two. */
struct keyslot {
	uint8_t scheme;
	uint8_t kind;                   /* MQE2E_GK_P or MQE2E_GK_B */
	uint16_t group_len;             /* strlen(group) <= MQE2E_ID_MAX */
	uint32_t epoch;
	uint64_t not_after_ms;
	struct mqe2e_aead *aead;        /* GK_P always; GK_B in scheme 3 */
	struct mqe2e_mac *mac;          /* GK_B in scheme 4 */
	uint8_t key[MQE2E_KEY_LEN];     /* raw: the memo's and the key cache's */
	char group[MQE2E_ID_MAX + 1];
	uint64_t not_before_ms;
} __attribute__((aligned(64)));

#define KEYS_WANT_MAX 64                /* epochs asked for by number */
#define KEYS_AHEAD_GROUPS 16            /* groups paused for made-up epochs */
#define KEYS_AHEAD_PAUSE_MIN_MS 2000    /* the first pause, doubling ... */
#define KEYS_AHEAD_PAUSE_MAX_MS 60000   /* ... up to this */
#define KEYS_AHEAD_SOON_MS 3000         /* a refresh due this soon is awaited */
#define KEYS_PAGES_MAX 1024             /* pages of one key fetch (1M groups) */

struct keystore {
	struct keyslot *slot;
	size_t n;
	struct mqe2e_group_info *groups;   /* the KMS's group table, by name */
	size_t ngroups;
	size_t hint[MQE2E_GK_B + 1];       /* by kind: the slot keys__find found
	                                      last (checked like any slot) */
};

/* Every topic the library itself publishes or follows begins with
 * MQE2E_OWN_TOPIC_PREFIX (topic.h); the receive path compares it once
 * before it looks for any of them. */

/* Pairwise keys (schemes 1/2, pair.c). */
#define PAIR_TOPIC_PREFIX MQE2E_OWN_TOPIC_PREFIX "pair/"
#define PAIR_TOPIC_MAX (sizeof(PAIR_TOPIC_PREFIX) + 5 + MQE2E_ID_MAX + 1)
#define MQE2E_PAIR_ROLE_PUB 1           /* I am P: the key seals for peer */
#define MQE2E_PAIR_ROLE_SUB 2           /* I am S: the key opens from peer */
#define CLIENT_RECIPIENTS_MAX 1024
#define PAIR_RETRY_MS 30000             /* after a recipient did not answer */

struct pairkey {
	int role;
	char peer[MQE2E_ID_MAX + 1];
	char group[MQE2E_ID_MAX + 1];
	char pair_id[MQE2E_KEYNAME_MAX + 1];  /* "P|S|GROUP" */
	uint32_t generation;                  /* envelope epoch */
	uint64_t made_ms;                     /* monotonic */
	struct mqe2e_aead *aead;
	struct pairkey *next;                 /* newest first */
};

/* A recipient that did not complete pairing: not asked again before. */
struct pairretry {
	char peer[MQE2E_ID_MAX + 1];
	uint64_t until_ms;                    /* monotonic */
	struct pairretry *next;
};

/* The roster of a scheme 1/2 group I may publish to (roster.c). */
struct roster {
	char group[MQE2E_ID_MAX + 1];
	char **ids;                     /* its connected subscribers */
	size_t n;
	int received;                   /* heard (or waited for) since subscribing */
	uint64_t suback_ms;             /* monotonic; 0 until the SUBACK */
	uint64_t link_gen;              /* subscribed on this link */
	struct roster *next;
};

/* A PAIR_REQUEST waiting for its response. */
struct pairpend {
	char peer[MQE2E_ID_MAX + 1];
	char group[MQE2E_ID_MAX + 1];
	struct mqe2e_pair *st;
	int done;                       /* [mu] */
	int rc;                         /* [mu] */
	struct pairpend *next;          /* [mu] c->pending */
	struct pairpend *mine_next;     /* the requester's own list */
};

/* A message held while the keys it needs are fetched (subscribe.c).  It was
 * acknowledged to the broker already (paho 1.3 acknowledges on receipt), so
 * it is delivered once the keys arrive, or dropped and reported when a
 * fetch that started after it arrived still lacks them, or at its deadline.
 * Later messages of its group wait behind it: order is kept per group. */
#define HOLD_BYTES_MAX (32u * 1024u * 1024u)   /* payload and topic bytes held
                                                  at most */

struct held {
	char *topic;
	uint8_t *payload;
	size_t len;
	int qos;
	int retained;
	uint64_t rx_floor_us;           /* the session floor when it arrived
	                                   (PROTOCOL.md 8.1) */
	char group[MQE2E_KEYNAME_MAX + 1];  /* the group it belongs to */
	uint64_t fetch_seq;             /* fetches started before it arrived */
	int ahead;                      /* it named an epoch beyond every one the
	                                   KMS had issued at its last answer */
	uint64_t deadline_ms;           /* monotonic: dropped then */
	struct held *next;
};

/* A subscription, renewed after every reconnect. */
struct sub {
	struct sub *next;
	mqe2e_message_cb cb;
	void *arg;
	int qos;
	int exact;              /* the filter has no wildcard: strcmp matches */
	char filter[];          /* in the same allocation: one line to read per
	                           delivery, not two */
};

/* A paho request waited for by a caller.  The record lives on the client's
 * list until both the caller and paho are done with it (or the client is
 * freed, after paho is destroyed), so a late paho callback never touches
 * freed memory. */
struct waiter {
	struct mqe2e_client *c;
	int done;                       /* [mu] 1 when paho answered */
	int rc;                         /* [mu] MQE2E_OK or the failure */
	int abandoned;                  /* [mu] caller gave up */
	char msg[CLIENT_ERRMSG_MAX];    /* [mu] failure details */
	MQTTProperties props;           /* [mu] CONNACK properties (copied) */
	int reason;                     /* [mu] MQTT reason code */
	struct mqe2e_hs_client *hs;     /* connect attempts: the handshake state */
	struct waiter *next;
};

struct mqe2e_client {
	/*
	 * What the receive path reads for every copy of a message, first and
	 * together (a few cache lines of one page): a process of hundreds of
	 * clients receives each message once per client, one client after
	 * another, so every line read here is read from far memory and pushes
	 * paho's and the kernel's lines for the same sockets out of the cache
	 * (docs/BENCHMARKS.md, issue 15, fifth pass).
	 */
	pthread_mutex_t mu;
	uint64_t rx_floor_us;           /* [mu] broker time (us) at the CONNACK
	                                   that began this MQTT session: live
	                                   GK_B frames made before it are
	                                   refused (0: none yet) */
	struct mqe2e_replay_table *replay;       /* [mu] envelope windows */
	struct mqe2e_replay_table *frame_replay; /* [mu] windows of the broker's
	                                           frames (a table of their own:
	                                           no key can meet an envelope's) */
	struct keystore keys;           /* [mu] */
	struct held *held;              /* [mu] messages waiting for keys
	                                   (subscribe.c; the rest of the hold
	                                   further down) */
	struct sub *subs;               /* [mu] */
	struct mqe2e_replay_table *late_replay;  /* [mu] retained messages read
	                                           late: windows per (sender,
	                                           topic) */
	pthread_mutex_t cb_mu;          /* serialises user callbacks (recursive) */

	struct mqe2e_config cfg;        /* deep copy */
	char id[MQE2E_ID_MAX + 1];
	struct mqe2e_identity *ident;
	struct mqe2e_trust *trust;      /* [mu] */
	struct mqe2e_http *kms;         /* [kms_mu] the KMS URLs, CA, connection */
	int kms_warned;                 /* [kms_mu] its URL warning was reported */
	MQTTAsync mqtt;

	pthread_cond_t cv;              /* waiters: any change of the [mu] state */
	/* The link and keys threads sleep on their own condition variables and
	 * are woken only when something they wait for fell due earlier than
	 * they sleep until (session__changed): a broadcast to all at every
	 * change woke both about nine times per connect. */
	pthread_cond_t link_cv;
	pthread_cond_t keys_cv;
	uint64_t link_sleep_ms;         /* [mu] the link thread sleeps until
	                                   (monotonic); 0 while it runs */
	uint64_t keys_sleep_ms;         /* [mu] the same for the keys thread */
	pthread_mutex_t kms_mu;         /* one KMS fetch at a time */
	pthread_mutex_t tls_mu;         /* tls_err */
	char tls_err[256];              /* [tls_mu] OpenSSL's reason, this attempt */
	pthread_t worker;               /* reconnects (session.c link_main) */
	int worker_started;
	pthread_t keys_worker;          /* key fetches, held messages (keys_main) */
	int keys_worker_started;

	/* [mu] The link: state, generation (bumps at every up and every down),
	 * the connect attempt in flight and the reconnect backoff.  Only
	 * link__handle() changes it (session.c and publish.c send it events).
	 * paho keeps one set of connect callbacks per handle (its m->connect),
	 * overwritten by each MQTTAsync_connect and reused for later failures,
	 * so their context is the client, never the waiter: a late or repeated
	 * connect callback names no attempt under way and is ignored.  At most
	 * one attempt at a time; link.attempt is its struct waiter. */
	struct link link;
	int auto_reconnect;             /* after the first success */
	/* The state callback's "up" for the live link: the first connect
	 * fetches its keys while the broker handshake runs, and the application
	 * hears "connected" only once both are done, so never before it can
	 * open a message.  up_pending: the CONNACK callback is done but the
	 * keys were not there yet (mqe2e_connect announces once they are);
	 * up_announced: "up" was said, so a lost link is said too. */
	int up_pending;
	int up_announced;
	int stopping;
	/* mqe2e_disconnect() was called on a paho thread: the link thread sends
	 * the DISCONNECT.  paho 1.3 asked to disconnect from inside its own
	 * callback sometimes crashes at MQTTAsync_destroy, or leaves the
	 * process unable to connect its next client. */
	int disconnect_deferred;
	int disconnecting;              /* the link thread is sending it */
	struct mqe2e_aead *c2b_aead;    /* session contexts of the live link */
	struct mqe2e_mac *c2b_mac;
	struct mqe2e_aead *b2c_aead;
	struct mqe2e_mac *b2c_mac;
	char broker_id[MQE2E_ID_MAX + 1];

	/* [mu] keys (the store itself at the top) */
	uint64_t keys_fetched_ms;
	uint64_t next_refresh_ms;
	uint64_t fetch_started;         /* key fetches started (a counter) */
	uint64_t keys_seq;              /* the count at the start of the last
	                                   fetch that succeeded */
	uint64_t fetch_failing_ms;     /* monotonic: first failure of the fetches
	                                   failing since, 0 if the last one worked */
	char kms_err[CLIENT_ERRMSG_MAX];/* why the last fetch failed */
	struct backoff kms_retry;       /* the keys thread's retries while the
	                                   fetches fail (link.h): the one retry
	                                   layer of background fetches, each of
	                                   which is one pass over the KMS URLs */
	uint64_t kms_retry_after_ms;    /* monotonic: the KMS asked (Retry-After)
	                                   not to be asked before this */
	int keys_from_cache;            /* the keys held came from the key cache */
	uint64_t keys_answer_ms;        /* wall clock of the KMS answer the keys
	                                   came from (0: unknown - from the cache
	                                   during a KMS outage) */

	/* the key cache file (cache.c); written under kms_mu */
	char *cache_path;               /* NULL: no key cache */
	uint8_t cache_digest[MQE2E_SHA256_LEN];  /* of what the file holds */
	int cache_digest_set;
	uint64_t cache_answer_ms;       /* the file's answer time (its header) */
	int cache_failing;              /* the last write failed (reported) */
	/* [mu, set and cleared with kms_mu held too] a fetch brought keys the
	 * file may lack: the process's cache writer writes it (cache.c: a
	 * connect does not wait for a seal, a write and an fsync, nor share
	 * the CPU with them), mqe2e_client_free at the latest */
	int cache_dirty;
	/* [cache.c's wr_mu] in the writer's queue; registered with it */
	struct mqe2e_client *cache_next;
	int cache_queued;
	uint64_t cache_queued_ms;       /* [wr_mu] when (monotonic) */
	int cache_registered;
	uint64_t next_hold_fetch_ms;    /* no fetch for a missing epoch before */
	/* [mu] epochs messages named that we lacked: each fetch asks for them
	 * by number besides the windows (keys__want, PROTOCOL.md 12.1), the
	 * oldest making room for new ones */
	struct keys_want {
		char group[MQE2E_ID_MAX + 1];
		uint32_t epoch;
		int gone;               /* asked once, the KMS no longer has it */
	} want[KEYS_WANT_MAX];
	size_t nwant;
	/* [mu] groups whose messages named epochs never issued: fetches for
	 * epochs beyond the newest held wait a growing pause (keys.c) */
	struct keys_ahead {
		char group[MQE2E_ID_MAX + 1];
		uint32_t pause_ms;      /* 0: no pause (the slot is free) */
		uint64_t next_ms;       /* monotonic: no such fetch before */
	} ahead[KEYS_AHEAD_GROUPS];

	/* [mu] messages waiting for keys (subscribe.c; the list's head at the
	 * top) */
	struct held **held_tail;
	size_t nheld;
	size_t held_bytes;
	int held_dirty;                 /* keys changed: look at them again */
	int held_need;                  /* some wait for a fetch to answer */
	uint64_t held_wake_ms;          /* monotonic: the next deadline */
	int miss_fetch;                 /* a message named an epoch we lack */
	uint64_t notice_seq;            /* highest rekey notice seq of this link */
	uint64_t seq;                   /* next sequence number */

	struct pairkey *pairkeys;       /* [mu] */
	struct pairpend *pending;       /* [mu] */
	struct mqe2e_nonce_cache *pair_nc;  /* [mu] PAIR_REQUEST nonces */
	char **recipients;              /* scheme 1/2 subscribers (config: an
	                                   override of the rosters) */
	struct pairretry *pair_retries; /* [mu] */
	struct roster *rosters;         /* [mu] */
	uint32_t pair_gen;              /* [mu] last pairing generation used */
	size_t nrecipients;
	struct waiter *waiters;         /* [mu] */

	mqe2e_error_cb err_cb;
	void *err_arg;
	mqe2e_state_cb state_cb;
	void *state_arg;

	char errmsg[CLIENT_ERRMSG_MAX]; /* [mu] last failure of a call */

	/* wake.c's counts [its wake_mu] */
	int wake_registered;
	int wake_connecting;            /* counted among the connecting */


	/* [mu] the broker's addresses, resolved at each connect attempt: the
	 * sockets paho opens to them get TCP_NODELAY (sock.c) */
	struct sockaddr_storage broker_addr[CLIENT_BROKER_ADDRS];
	socklen_t broker_addr_len[CLIENT_BROKER_ADDRS];
	size_t nbroker_addr;
};

/* ---- config.c -------------------------------------------------------------- */
/* Deep copy of src into dst (dst's old strings are not freed); on failure
 * dst holds no strings. */
int config__copy(struct mqe2e_config *dst, const struct mqe2e_config *src);
/* Free the strings of cfg (not cfg itself). */
void config__clear(struct mqe2e_config *cfg);
/* Apply a "name value" file's text (len bytes, no NUL needed) to cfg, as
 * mqe2e_config_load does with the file path; path only names it in errbuf
 * (may be NULL).  Uses nothing outside config.c (the fuzz harness links it
 * alone). */
int config__parse(struct mqe2e_config *cfg, const char *text, size_t len, const char *path,
    char *errbuf, size_t errlen) MQE2E_WUR;

/* ---- client.c -------------------------------------------------------------- */
/* snprintf into buf (buf may be NULL); never fails, cuts at len. */
void client__fmt(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record the message of a failing call (takes mu). Returns code. */
int client__fail(struct mqe2e_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with mu already held. */
int client__fail_locked(struct mqe2e_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Run the error callback (without mu held). */
void client__report(struct mqe2e_client *c, int code, const char *topic, const char *sender,
    const char *group, uint32_t epoch, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Absolute deadline helpers on CLOCK_REALTIME for pthread_cond_timedwait. */
void client__deadline(struct timespec *ts, int timeout_ms);
uint64_t client__mono_ms(void);
/* Waiters: new (linked, with mu held), release by the caller (mu held). */
struct waiter *client__waiter_new(struct mqe2e_client *c);
void client__waiter_release(struct mqe2e_client *c, struct waiter *w);
/* paho completions for a waiter (context = the waiter). */
void client__on_success(void *ctx, MQTTAsync_successData5 *resp);
void client__on_failure(void *ctx, MQTTAsync_failureData5 *resp);
/* Wait (mu held) for w, the deadline, or (gen != NULL) a change of the link
 * generation: MQE2E_OK (w done: see w->rc), _TIMEOUT or _UNAVAILABLE. */
int client__wait(struct mqe2e_client *c, struct waiter *w, const struct timespec *deadline,
    const uint64_t *gen);
/* Mark the calling thread as one of paho's (at the start of each paho
 * callback) or as one of the client's threads (the keys thread delivers
 * held messages, the link thread reports), and ask whether we are on one:
 * there, a call must not wait for anything paho or those threads deliver
 * (an acknowledgement, a reconnect, a key fetch), since that cannot happen
 * until we return. */
void client__paho_thread_enter(void);
int client__on_paho_thread(void);
/* Release what OpenSSL keeps per thread (error queue, random generators)
 * at the end of a paho callback that used it: paho does not join its
 * threads before the process exits, so their thread-locals would otherwise
 * outlive the last leak check (LeakSanitizer reports them). */
void client__paho_thread_done(void);
/* The same only if used, or if a call into the library on this paho
 * thread (a message callback that publishes) noted it may have used
 * OpenSSL (client__paho_openssl_note): the release walks OpenSSL's list
 * of every thread's handlers under its global lock, too much for each
 * copy of a message that the memo answered without OpenSSL. */
void client__paho_thread_done_if(int used);
void client__paho_openssl_note(void);
/* Next sequence number (mu held). */
uint64_t client__next_seq(struct mqe2e_client *c);

/* ---- keys.c ------------------------------------------------------------------ */
/* Fetch all my keys from the KMS and replace the store.  Takes kms_mu and mu
 * itself; msg (may be NULL) gets a message naming the KMS URL. */
int keys__fetch(struct mqe2e_client *c, char *msg, size_t msglen);
/* A client's first keys: from its key cache when the KMS answer in it is
 * less than key_refresh_s old (as a running client's keys may be), else
 * fetched (keys__fetch).  *from_cache says which. */
int keys__first(struct mqe2e_client *c, int *from_cache, char *msg, size_t msglen);
/* The same for the keys thread: one pass over the KMS URLs, no retries of
 * its own (the thread's backoff, kms_retry, paces the next try). */
int keys__refresh(struct mqe2e_client *c, char *msg, size_t msglen);
/* A message names an epoch of group beyond the newest held (mu held): 1 if
 * a fetch for it may start now (none paused, or the group's pause is over:
 * the next pause starts), 0 if not (drop the message without a fetch). */
int keys__ahead_allowed(struct mqe2e_client *c, const char *group, size_t group_len,
    uint64_t now_ms);
/* Such an epoch was never issued (an answer after the message had every
 * epoch issued by then): pause the group's fetches for them, doubling. */
void keys__ahead_bogus(struct mqe2e_client *c, const char *group, size_t group_len,
    uint64_t now_ms);
/* Such an epoch existed: no pause for the group. */
void keys__ahead_legit(struct mqe2e_client *c, const char *group, size_t group_len);
/* Lookups (mu held).  NULL if absent. */
/* A message named epoch of group, which we lack (mu held): remember it for
 * the fetches to ask for by number.  2 if it is new to the list, 1 if it
 * was there, 0 if the KMS said before that it no longer has it (then no
 * fetch helps). */
int keys__want(struct mqe2e_client *c, const char *group, size_t group_len, uint32_t epoch);
/* The lowest epoch of group held, 0 if none. */
uint32_t keys__oldest_epoch(struct keystore *ks, const char *group, size_t group_len);
struct keyslot *keys__find(struct keystore *ks, const char *group, size_t group_len,
    uint8_t kind, uint32_t epoch);
/* The GK_P to seal with now: the newest epoch of group already valid. */
struct keyslot *keys__current(struct keystore *ks, const char *group, uint64_t now_ms);
/* The newest epoch of group (any kind) that had begun at wall_ms, 0 if none
 * (mu held). */
uint32_t keys__epoch_at(struct keystore *ks, const char *group, size_t group_len,
    uint64_t wall_ms);
/* The highest epoch held of group (any kind), 0 if none (mu held). */
uint32_t keys__newest_epoch(struct keystore *ks, const char *group, size_t group_len);
/* A group of the table by name, or NULL (mu held). */
const struct mqe2e_group_info *keys__group(const struct keystore *ks, const char *name);
/* The group whose filter matches topic, or NULL (mu held).  The KMS refuses
 * overlapping filters; were two to match, the first by name wins, as at the
 * broker. */
const struct mqe2e_group_info *keys__topic_group(const struct keystore *ks, const char *topic);
/* "name (filter, pub+sub), ..." of every group held, into buf (mu held). */
void keys__describe(const struct keystore *ks, char *buf, size_t len);
/* If the key fetches are failing (mu held): 1, and out gives the last
 * failure (naming the KMS) and for how long; else 0 and out is "". */
int keys__kms_failing(struct mqe2e_client *c, char *out, size_t len);
void keys__clear(struct keystore *ks);

/* Replace the key store by kb's keys and group table (takes mu; kb's group
 * table moves over, kb is left to the caller to free).  Epochs that have
 * ended are left out.  seq: the fetch that brought them (settles the held
 * messages that arrived before it started); NULL for keys from the key
 * cache, with answer_ms the wall clock of the KMS answer they came from
 * when the cache serves a start (refreshed key_refresh_s after it), or 0
 * when it stands in for a KMS that does not answer (asked again in 1 s).
 * msg names what failed. */
int keys__install(struct mqe2e_client *c, struct mqe2e_keybundle *kb, const uint64_t *seq,
    uint64_t answer_ms, char *msg, size_t msglen);

/* ---- kmspool.c ---------------------------------------------------------------- */
/* An endpoint given back stays for the next fetch this long. */
#define POOL_LINGER_MS 2000
struct kms_lease;
/* Borrow a KMS endpoint for c's URL list and CA file (its connection kept
 * from the fetch that gave it back, if the KMS kept it); NULL (out of
 * memory): use c->kms. */
struct kms_lease *kmspool__get(const struct mqe2e_client *c);
struct mqe2e_http *kmspool__http(const struct kms_lease *l);
/* Give it back (l may be NULL). */
void kmspool__put(struct kms_lease *l);
/* Free the endpoints idle for POOL_LINGER_MS at now (UINT64_MAX: all idle
 * ones); returns when the next one will have been, 0 if none is left. */
uint64_t kmspool__reap(uint64_t now);

/* ---- client.c: a thread of the process's, held by its users ----------------- */
/* A library thread a process runs while it has users (wake.c's waker,
 * cache.c's writer): the first user starts it, the last one ends and joins
 * it, so that no thread of the library outlives its clients.  Every field
 * is guarded by its owner's lock. */
struct proc_thread {
	void *(*main)(void *);  /* called with the generation it runs for */
	pthread_t th;
	size_t users;
	uintptr_t gen;          /* the thread runs while gen is the one it got */
	int running;
};
/* One more user (the owner's lock held): MQE2E_OK, or MQE2E_ERR_NOMEM if
 * the thread could not be started. */
int client__thread_hold(struct proc_thread *t);
/* One user fewer (the owner's lock held): 1 if it was the last, and *th is
 * then the thread to join once the caller has let go of the lock (and woken
 * the thread, which sees gen move on); 0 otherwise. */
int client__thread_release(struct proc_thread *t, pthread_t *th);
/* 1 while the thread started for generation gen is to run (the owner's
 * lock held). */
#define client__thread_current(t, g) ((t)->gen == (g))

/* ---- cache.c ------------------------------------------------------------------ */
/* Work out the cache path from the configuration (at mqe2e_client_new). */
int cache__init(struct mqe2e_client *c, char *errbuf, size_t errlen);
/* Write the keys held to the cache file (after a successful fetch; kms_mu
 * held, mu not): sealed, 0600, atomically; skipped when nothing changed.  A
 * failure goes to the error callback once, until a write works again. */
void cache__save(struct mqe2e_client *c);
/* Write the key cache if a fetch left it dirty (takes kms_mu and mu). */
void cache__flush(struct mqe2e_client *c);
/* Have the process's cache writer write c's cache (after a fetch that left
 * it dirty; no lock of c held). */
void cache__queue(struct mqe2e_client *c);
/* Take c out of the writer's queue, wait for a write of it under way, and
 * stop the writer if c was its last client (mqe2e_client_free). */
void cache__unregister(struct mqe2e_client *c);
/* Load the cache file into the key store (kms_mu held, mu not):
 * MQE2E_OK, MQE2E_ERR_NOT_FOUND (no cache configured or no file), or the
 * refusal, with msg naming the file and why it is not trusted.  start: a
 * client's first keys, taken only from a KMS answer less than
 * key_refresh_s old (else MQE2E_ERR_EXPIRED_KEY) and refreshed when that
 * answer is; otherwise the keys stand in for a KMS that did not answer,
 * and msg says what they are (on MQE2E_OK too). */
int cache__load(struct mqe2e_client *c, int start, char *msg, size_t msglen);
/* Delete the cache file (the KMS says this client is revoked or unknown). */
void cache__forget(struct mqe2e_client *c);

/* ---- trust.c ----------------------------------------------------------------- */
/* The trust of CA file cafile, shared by the clients of the process whose CA
 * certificate is the same (the file is read and checked every time; errors
 * name it).  Give it back with trust__put. */
int trust__get(const char *cafile, struct mqe2e_trust **out, char *errbuf, size_t errlen);
void trust__put(struct mqe2e_trust *t);

/* ---- session.c --------------------------------------------------------------- */
int session__start_worker(struct mqe2e_client *c);
/* The [mu] state changed (mu held): wakes the waiters, and the link or keys
 * thread if what it waits for is now due earlier than it sleeps until.
 * Every change a waiter or one of the two threads waits for ends with it. */
void session__changed(struct mqe2e_client *c);
void session__stop_worker(struct mqe2e_client *c);
/* Wait (mu held) until the link is up or the deadline; MQE2E_OK/TIMEOUT. */
int session__wait_up(struct mqe2e_client *c, const struct timespec *deadline);
/* Drop the session contexts (mu held). */
void session__clear(struct mqe2e_client *c);
/* Feed the link state machine (link.h) one event at the monotonic now (mu
 * held) and wake the threads waiting on it: w the attempt concerned,
 * deadline_ms for LINK_EV_ATTEMPT, gen for LINK_EV_STALE (else 0).  The one
 * way the link state changes.  Returns its LINK_FX_* bits. */
unsigned session__link_event(struct mqe2e_client *c, enum link_event_kind kind,
    struct waiter *w, uint64_t deadline_ms, uint64_t gen);

/* ---- maker.c (paho's handles made on one thread; see there) ------------------ */

/* MQTTAsync_createWithOptions (no persistence) run on the library's maker
 * thread, so that paho's per-client structures lie together; on the
 * caller's thread if that thread could not be started.  paho's return. */
int maker__create(MQTTAsync *handle, const char *uri, const char *id,
    MQTTAsync_createOptions *opts) MQE2E_WUR;

/* ---- wake.c (paho's receive thread; see there) ------------------------------ */
/* Add c to the process's clients (starts the waker thread with the first). */
int wake__register(struct mqe2e_client *c) MQE2E_WUR;
/* Remove c; stops (and joins) the waker with the last client. */
void wake__unregister(struct mqe2e_client *c);
/* c's link changed: whether a connect attempt of c is under way; may be
 * called with c->mu held. */
void wake__link(struct mqe2e_client *c, int is_connecting);
/* Ask the helper thread for a TCP_NODELAY scan (sock__scan): at once if
 * none ran in the last SCAN_GAP_MS, else when that much has passed. */
void wake__nodelay(void);
/* Have the helper thread reap the KMS pool (kmspool__reap) at at
 * (monotonic ms) or earlier; no client lock held. */
void wake__reap_at(uint64_t at);

/* ---- sock.c (the client's TCP sockets) ---------------------------------------- */
/* Resolve the host and port of the broker URI into c->broker_addr (mu not
 * held: may wait for DNS).  A URI that does not parse leaves none. */
void sock__resolve_broker(struct mqe2e_client *c);
/* TCP_NODELAY on this process's TCP sockets connected to one of the broker's
 * addresses that lack it (mu held): paho opened one of them for c.  Adds c's
 * broker addresses to the process's list and asks the process's helper
 * thread (wake.c) for a scan: a few ms later, one scan for all the connects
 * since the last (sock.c). */
void sock__nodelay(struct mqe2e_client *c);
/* The scan itself (the helper thread, no lock held): TCP_NODELAY on every
 * socket of the process to a listed broker address without it; how many. */
int sock__scan(void);

/* ---- rekey.c ------------------------------------------------------------------ */
/* A message on mqe2e/v1/rekey/<group> (no lock held): verify the broker's
 * notice and, unless the keys held already cover it, have the keys thread fetch
 * keys now.  Refusals go to the error callback. */
void rekey__on_notice(struct mqe2e_client *c, const char *topic, const uint8_t *p,
    size_t len);

/* ---- pair.c ------------------------------------------------------------------ */
/* 1 if topic is id's pairing inbox of kind "req" or "resp". */
int pair__topic_is(const char *topic, const char *kind, const char *id);
void pair__inboxes(const struct mqe2e_client *c, char req[PAIR_TOPIC_MAX],
    char resp[PAIR_TOPIC_MAX]);
void pair__on_request(struct mqe2e_client *c, const uint8_t *req, size_t len);
void pair__on_response(struct mqe2e_client *c, const uint8_t *resp, size_t len);
/* Pair with every recipient ids[0..n) lacking a key for group, or whose
 * key is older than pair_refresh_s (no lock held); MQE2E_OK if all
 * answered, else _TIMEOUT (or the error that stopped the requests) with
 * c->errmsg naming one that did not (the others are paired). */
int pair__ensure(struct mqe2e_client *c, const char *group, char *const *ids, size_t n,
    const struct timespec *deadline);
/* My newest key with peer for group (NULL: any group); mu held. */
struct pairkey *pair__find(struct mqe2e_client *c, int role, const char *peer,
    size_t peer_len, const char *group);
/* The subscriber key of one pair id "P|S|GROUP" and generation; mu held. */
struct pairkey *pair__find_gen(struct mqe2e_client *c, const uint8_t *pair_id,
    size_t pair_id_len, uint32_t generation);
/* The scheme of a group from the KMS's group table (mu held); 0 if unknown. */
uint8_t pair__group_scheme(struct mqe2e_client *c, const char *group);
void pair__free_all(struct mqe2e_client *c);

/* ---- roster.c ---------------------------------------------------------------- */
/* The group named by a roster topic, or NULL. */
const char *roster__group_of_topic(const char *topic);
/* A message on mqe2e/v1/roster/<group> (no lock held). */
void roster__on_message(struct mqe2e_client *c, const char *topic, const uint8_t *p,
    size_t len);
/* The roster topics to subscribe at a connect (mu held): *out is a malloc'd
 * array of malloc'd strings; returns their number. */
size_t roster__filters(struct mqe2e_client *c, char ***out);
/* paho: a SUBACK covering the rosters subscribed on this link arrived (no
 * lock held); their retained messages come right behind it. */
void roster__on_suback(struct mqe2e_client *c);
/* Subscribe the rosters of groups a key fetch brought (no lock held). */
void roster__sync(struct mqe2e_client *c);
/* The recipients of group (no lock held): the "recipients" option if set,
 * else the group's roster, waiting (until deadline) for a roster
 * just subscribed; without my own id.  Free with roster__free_list. */
int roster__recipients(struct mqe2e_client *c, const char *group,
    const struct timespec *deadline, char ***ids, size_t *n);
void roster__free_list(char **ids, size_t n);
void roster__free_all(struct mqe2e_client *c);

/* ---- memo.c (group-key checks once per process) ------------------------------- */
enum memo_op {
	MEMO_FRAME_MAC,                 /* a GK_B frame's MAC verified */
	MEMO_FRAME_AEAD,                /* a GK_B frame opened (scheme 3): out = its body */
	MEMO_ENVELOPE,                  /* a GK_P envelope opened: out = plaintext */
	MEMO__OPS
};
/* The question: op under key (MQE2E_KEY_LEN raw bytes), with the topic as
 * associated data, over the whole input in (the frame or the envelope). */
struct memo_q {
	enum memo_op op;
	const uint8_t *key;
	const char *aad;
	size_t aad_len;
	const uint8_t *in;
	size_t in_len;
};
/* 1 if the last success of q->op answered exactly q (out, out_len bytes,
 * gets its output), 0 otherwise: then check it in full and memo__put it
 * if it passes. */
int memo__get(const struct memo_q *q, uint8_t *out, size_t out_len);
void memo__put(const struct memo_q *q, const uint8_t *out, size_t out_len);
/* Forget (wipe) what the memo holds. */
void memo__wipe(void);

/* ---- subscribe.c ------------------------------------------------------------- */
int subscribe__arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *m);
/* Send SUBSCRIBE for every known subscription (after a reconnect). */
void subscribe__renew(struct mqe2e_client *c);
void subscribe__free_all(struct mqe2e_client *c);
/* The keys thread's part of the receive path (mu held; it is dropped around user
 * callbacks): deliver the held messages whose keys arrived, drop those that
 * a later fetch settled or whose deadline passed.  Returns 1 if a key fetch
 * is wanted for those still waiting; *wake gets the next deadline. */
int subscribe__held_run(struct mqe2e_client *c, uint64_t now, uint64_t *wake);
/* Free the held messages (paho and the client's threads stopped). */
void subscribe__held_free(struct mqe2e_client *c);

/* tls.c: MQTT over TLS */
/* 1 for ssl:// and mqtts://, 0 for tcp:// and mqtt://, -1 otherwise. */
int tls__uri_scheme(const char *uri);
/* The broker URI and the tls_* options agree and the files are readable;
 * else a message naming the option and file in errbuf. */
int tls__check(const struct mqe2e_config *cfg, char *errbuf, size_t errlen);
/* Fill paho's SSL options of a connect attempt from c->cfg (strings stay
 * owned by c) and forget the last attempt's TLS error. */
void tls__connect_options(struct mqe2e_client *c, MQTTAsync_SSLOptions *o);
/* With a TLS broker URI: 1 and a message in buf naming OpenSSL's reason
 * (or, without one, paho_why) and what to check; else 0. */
int tls__failure(struct mqe2e_client *c, const char *paho_why, const char *paho_msg,
    char *buf, size_t len);

#endif
