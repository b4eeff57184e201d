/*
 * replay.h - replay windows for message sequence numbers and the nonce
 * cache for handshake servers.
 *
 * Receivers check a window BEFORE verifying a message (cheap rejection) and
 * accept the sequence number only AFTER the tag verified, so a forged
 * message can never move a window.
 *
 * None of these objects locks: a caller that shares one between threads
 * guards it (the KMS's nonce cache, for example).
 */
#ifndef MQE2E_REPLAY_H
#define MQE2E_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"

#define MQE2E_REPLAY_WINDOW 128   /* sequence numbers remembered behind the top */

/* One sliding window (caller-owned, zero-initialise or mqe2e_replay_init). */
struct mqe2e_replay_window {
	uint64_t top;          /* highest accepted sequence number */
	uint64_t bits[2];      /* bit i: top - i was accepted */
	int started;           /* 0 until the first accepted message */
};

void mqe2e_replay_init(struct mqe2e_replay_window *w);
/* MQE2E_OK if seq is new and not older than the window, MQE2E_ERR_REPLAY
 * otherwise.  Does not change the window. */
int mqe2e_replay_check(const struct mqe2e_replay_window *w, uint64_t seq) MQE2E_WUR;
/* Record seq (after the message verified).  MQE2E_ERR_REPLAY if check fails. */
int mqe2e_replay_accept(struct mqe2e_replay_window *w, uint64_t seq) MQE2E_WUR;

/* A bounded table of windows keyed by (sender, key kind, key name, epoch).
 * When full, the least recently used window is evicted (documented limit:
 * messages of an evicted sender older than its new first message could be
 * replayed; size the table above the number of live senders). */
struct mqe2e_replay_table;
int mqe2e_replay_table_new(size_t cap, struct mqe2e_replay_table **out) MQE2E_WUR;
void mqe2e_replay_table_free(struct mqe2e_replay_table *t);
int mqe2e_replay_table_check(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len, uint8_t key_kind, const uint8_t *key_name, size_t key_name_len,
    uint32_t epoch, uint64_t seq) MQE2E_WUR;
int mqe2e_replay_table_accept(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len, uint8_t key_kind, const uint8_t *key_name, size_t key_name_len,
    uint32_t epoch, uint64_t seq) MQE2E_WUR;
/* Forget every window of one sender (e.g. on disconnect of a session). */
void mqe2e_replay_table_forget(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len);

/* A sender's first sequence number: its clock in microseconds since the
 * epoch, so restarts never reuse numbers without persistent state. */
uint64_t mqe2e_seq_start(void);

/*
 * Nonce cache for handshake servers (the KMS, the broker extension, a
 * subscriber's pairing inbox).  It remembers each accepted handshake nonce
 * until its timestamp leaves the acceptance window.
 *
 * It is partitioned by owner: the authenticated identity that signed the
 * nonce (a client id).  Each owner has its own quota of live nonces and a
 * token bucket, so one requester can fill only its own share and never
 * lock others out.  Record a nonce only once the requester is authenticated
 * AND authorised: what an anonymous or unauthorised sender could make the
 * server store is then nothing.  A server that must always serve one kind of
 * requester (the KMS its brokers) keeps a separate cache for it.
 *
 * Time window: a timestamp may lag the server's clock by past_ms (clock
 * skew plus transit) but lead it only by future_ms (clock skew only, a few
 * seconds): a request dated ahead would otherwise keep its nonce alive for
 * past + future.
 *
 * Memory: at most owners * (4/3 per_owner rounded up to a power of two) *
 * 24 bytes; an owner's set is allocated when it first appears.
 */
#define MQE2E_NONCE_OWNER_MAX 255   /* bytes of an owner id (= MQE2E_ID_MAX) */

struct mqe2e_nonce_limits {
	uint32_t past_ms;        /* > 0 */
	uint32_t future_ms;
	size_t per_owner;        /* live nonces one owner may hold (its quota) */
	size_t owners;           /* owners tracked at once */
	uint32_t rate_per_s;     /* token bucket per owner; 0: no rate limit */
	uint32_t burst;          /* bucket size (> 0 with a rate) */
};
struct mqe2e_nonce_cache;
int mqe2e_nonce_cache_new_ex(const struct mqe2e_nonce_limits *lim,
    struct mqe2e_nonce_cache **out) MQE2E_WUR;
/* One anonymous owner holding up to cap nonces, past = future = skew_ms
 * (MQE2E_SKEW_MS_DEFAULT = 120 s), no rate limit: for a server whose
 * senders are already authorised (a subscriber's pairing inbox). */
int mqe2e_nonce_cache_new(size_t cap, uint32_t skew_ms, struct mqe2e_nonce_cache **out) MQE2E_WUR;
void mqe2e_nonce_cache_free(struct mqe2e_nonce_cache *c);
/* The past window (skew) in ms. */
uint32_t mqe2e_nonce_cache_skew(const struct mqe2e_nonce_cache *c);
/* now - past <= ts_ms <= now + future ? MQE2E_OK : MQE2E_ERR_CLOCK_SKEW */
int mqe2e_nonce_cache_check_time(const struct mqe2e_nonce_cache *c, uint64_t ts_ms,
    uint64_t now_ms) MQE2E_WUR;
/*
 * Check the time, then remember the nonce for owner (owner_len bytes, may be
 * 0): MQE2E_OK, MQE2E_ERR_CLOCK_SKEW, MQE2E_ERR_NONCE_REUSE if this owner
 * used it within the window, MQE2E_ERR_BUSY if the owner already holds its
 * quota of live nonces (MQE2E_ERR_UNAVAILABLE for a cache made by
 * mqe2e_nonce_cache_new: its one owner is the whole cache), or
 * MQE2E_ERR_UNAVAILABLE if every owner slot is taken by a busy owner.  Fails
 * closed: a nonce that cannot be remembered is refused.
 */
int mqe2e_nonce_cache_add_owned(struct mqe2e_nonce_cache *c, const uint8_t *owner,
    size_t owner_len, const uint8_t nonce[16], uint64_t ts_ms, uint64_t now_ms) MQE2E_WUR;
/* mqe2e_nonce_cache_add_owned with the anonymous owner. */
int mqe2e_nonce_cache_add(struct mqe2e_nonce_cache *c, const uint8_t nonce[16],
    uint64_t ts_ms, uint64_t now_ms) MQE2E_WUR;
/* 1 if owner recorded this nonce and it is still live (a replay that can
 * be refused before spending anything on it), 0 otherwise.  Changes nothing. */
int mqe2e_nonce_cache_seen(struct mqe2e_nonce_cache *c, const uint8_t *owner, size_t owner_len,
    const uint8_t nonce[16], uint64_t now_ms) MQE2E_WUR;
/*
 * Take one token from owner's bucket (call once the owner is authenticated,
 * before the expensive work): MQE2E_OK, MQE2E_ERR_BUSY (*retry_ms: when
 * the next token arrives), MQE2E_ERR_UNAVAILABLE (no owner slot free;
 * *retry_ms 1000).  Always MQE2E_OK without a rate.  retry_ms may be NULL.
 */
int mqe2e_nonce_cache_charge(struct mqe2e_nonce_cache *c, const uint8_t *owner,
    size_t owner_len, uint64_t now_ms, uint32_t *retry_ms) MQE2E_WUR;

/* |ts_ms - now_ms| <= skew_ms ? MQE2E_OK : MQE2E_ERR_CLOCK_SKEW */
int mqe2e_check_skew(uint64_t ts_ms, uint64_t now_ms, uint32_t skew_ms) MQE2E_WUR;
/* Wall clock in milliseconds since the Unix epoch. */
uint64_t mqe2e_now_ms(void);

#endif
