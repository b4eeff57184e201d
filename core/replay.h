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
/* The same pair for a receiver that checks and then accepts one message
 * against one table: the check records in *pos where it found the window
 * (caller-owned, nothing to free), and the accept given that pos and the
 * same arguments records seq there without building, hashing and looking
 * up the key again - if the table gained or lost no entry since the check
 * (a generation count says so) and the entry still has the key's hash;
 * otherwise, and for pos NULL or a check that found no window (a new
 * sender), it is mqe2e_replay_table_accept.  Same answers as the pair
 * above: the window itself is checked again at the accept. */
struct mqe2e_replay_pos {
	size_t i;              /* the entry found, SIZE_MAX: none */
	uint64_t gen;          /* the table's generation at the check */
	uint64_t hash;         /* the key's hash */
};
int mqe2e_replay_table_check_pos(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len, uint8_t key_kind, const uint8_t *key_name, size_t key_name_len,
    uint32_t epoch, uint64_t seq, struct mqe2e_replay_pos *pos) MQE2E_WUR;
int mqe2e_replay_table_accept_pos(struct mqe2e_replay_table *t,
    const struct mqe2e_replay_pos *pos, const uint8_t *sender, size_t sender_len,
    uint8_t key_kind, const uint8_t *key_name, size_t key_name_len, uint32_t epoch,
    uint64_t seq) MQE2E_WUR;
/* Ask the CPU to start loading the lines of t that a lookup of the key
 * found last reads (the entry; the header is read here).  A hint: it
 * changes nothing in t and t may be NULL.  A process of many clients meets
 * each client's tables cold at every message; asked for early, the loads
 * overlap the work before the lookup instead of following one another. */
void mqe2e_replay_table_prefetch(const struct mqe2e_replay_table *t);
/* Forget every window of one sender (e.g. on disconnect of a session). */
void mqe2e_replay_table_forget(struct mqe2e_replay_table *t, const uint8_t *sender,
    size_t sender_len);

/* A sender's first sequence number: its clock in microseconds since the
 * epoch, so restarts never reuse numbers without persistent state. */
uint64_t mqe2e_seq_start(void);

/* Nonce cache for handshake servers: remembers each accepted handshake
 * nonce until its timestamp leaves the skew window, at most cap of them. */
struct mqe2e_nonce_cache;
/* skew_ms: the allowed clock skew (MQE2E_SKEW_MS_DEFAULT = 120 s). */
int mqe2e_nonce_cache_new(size_t cap, uint32_t skew_ms, struct mqe2e_nonce_cache **out) MQE2E_WUR;
void mqe2e_nonce_cache_free(struct mqe2e_nonce_cache *c);
uint32_t mqe2e_nonce_cache_skew(const struct mqe2e_nonce_cache *c);
/* Limits beyond the cap (the defaults are future_ms = skew_ms, no quota):
 *   future_ms  timestamps at most this far ahead of now (<= skew_ms); a
 *              nonce lives until its timestamp + skew, so a small future
 *              allowance keeps every nonce's life near skew + future_ms;
 *   per_owner  fairness: each owner (an authenticated id) may add about
 *              per_owner nonces per lifetime (a token bucket: at most
 *              2 * per_owner live at once), so that one owner cannot fill
 *              the cache and lock the others out.  0 = no quota.
 * MQE2E_ERR_INVALID_ARG if future_ms > skew or per_owner > cap. */
int mqe2e_nonce_cache_set_limits(struct mqe2e_nonce_cache *c, uint32_t future_ms,
    size_t per_owner) MQE2E_WUR;
/* Check now - skew <= ts_ms <= now + future (MQE2E_ERR_CLOCK_SKEW), then
 * remember the nonce: MQE2E_OK, MQE2E_ERR_NONCE_REUSE if seen within the
 * window, or MQE2E_ERR_UNAVAILABLE if cap live nonces are already held (fail
 * closed).  Call it only for a request whose signature verified (the owner
 * is authenticated); a replayed nonce costs its owner nothing. */
int mqe2e_nonce_cache_add(struct mqe2e_nonce_cache *c, const uint8_t nonce[16],
    uint64_t ts_ms, uint64_t now_ms) MQE2E_WUR;
/* The same, charged to owner (owner_len bytes, e.g. the certificate CN):
 * also MQE2E_ERR_QUOTA when the owner used up its share (see
 * mqe2e_nonce_cache_set_limits); owner NULL = not charged. */
int mqe2e_nonce_cache_add_owned(struct mqe2e_nonce_cache *c, const uint8_t *owner,
    size_t owner_len, const uint8_t nonce[16], uint64_t ts_ms, uint64_t now_ms) MQE2E_WUR;
/* How many nonces the cache holds (including expired ones not yet swept)
 * and, in *cap, how many live ones it may hold (for metrics). */
size_t mqe2e_nonce_cache_fill(const struct mqe2e_nonce_cache *c, size_t *cap);

/* now - skew <= ts_ms <= now + future ? MQE2E_OK : MQE2E_ERR_CLOCK_SKEW
 * (the window _add applies; for a server that records the nonce later). */
int mqe2e_nonce_cache_check_time(const struct mqe2e_nonce_cache *c, uint64_t ts_ms,
    uint64_t now_ms) MQE2E_WUR;
/* 1 if the nonce is held (live), 0 otherwise; changes nothing.  A server
 * that records nonces only after authorising a request (the KMS) refuses a
 * replay with it before spending anything on it. */
int mqe2e_nonce_cache_seen(const struct mqe2e_nonce_cache *c, const uint8_t nonce[16],
    uint64_t now_ms) MQE2E_WUR;
/* Charge owner one nonce's share now, without recording a nonce: for a
 * server that must bound the work an authenticated requester causes before
 * it knows whether the request is worth a nonce (the KMS charges before
 * its database lookups and then records with mqe2e_nonce_cache_add, which
 * charges nothing).  MQE2E_OK, MQE2E_ERR_QUOTA (*retry_ms: until the share
 * allows one more), MQE2E_ERR_UNAVAILABLE (no room for another owner;
 * *retry_ms 1000).  MQE2E_OK without a quota.  retry_ms may be NULL. */
int mqe2e_nonce_cache_charge(struct mqe2e_nonce_cache *c, const uint8_t *owner,
    size_t owner_len, uint64_t now_ms, uint32_t *retry_ms) MQE2E_WUR;

/* |ts_ms - now_ms| <= skew_ms ? MQE2E_OK : MQE2E_ERR_CLOCK_SKEW */
int mqe2e_check_skew(uint64_t ts_ms, uint64_t now_ms, uint32_t skew_ms) MQE2E_WUR;
/* Wall clock in milliseconds since the Unix epoch. */
uint64_t mqe2e_now_ms(void);

#endif
