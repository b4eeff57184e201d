/*
 * keycache.h - the sealed key cache file of a client (docs/PROTOCOL.md
 * section 13): the group keys and group table a client last got from the
 * KMS, sealed under a key only its own private key derives, so that a
 * device restarted while the KMS is down works with what it held.
 *
 *   file   = magic "MQE2E-KC", u8 version (1), vec16 client_id,
 *            vec16 cert_serial (lowercase hex), u64 written_ms, nonce[12],
 *            vec32 sealed
 *   sealed = AES-256-GCM(K_cache, nonce, aad = every byte before sealed's
 *            length, plaintext = a KEY_BUNDLE, PROTOCOL.md section 7)
 *   K_cache = HKDF-SHA256(ikm = the Ed25519 private seed, no salt,
 *            info = "mqe2e-v1 key cache" || 0x00 || client_id)
 *
 * The header is the file's identity: whose it is, for which certificate,
 * when it was written.  It is readable without the key (so a refusal can
 * say whose file it is) and authenticated by the tag.
 */
#ifndef MQE2E_KEYCACHE_H
#define MQE2E_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "handshake.h"
#include "wire.h"

#define MQE2E_KEYCACHE_MAGIC "MQE2E-KC"
#define MQE2E_KEYCACHE_VERSION 1
#define MQE2E_KEYCACHE_LABEL "mqe2e-v1 key cache"
/* the largest file a reader accepts */
#define MQE2E_KEYCACHE_MAX (8 + 1 + 2 + MQE2E_ID_MAX + 2 + MQE2E_SERIAL_MAX + 8 + \
	MQE2E_GCM_NONCE_LEN + 4 + MQE2E_KEYBUNDLE_MAX + MQE2E_GCM_TAG_LEN)

/* The header of a cache file. */
struct mqe2e_keycache_info {
	char id[MQE2E_ID_MAX + 1];        /* the client it was written for */
	char serial[MQE2E_SERIAL_MAX];    /* and that client's certificate */
	uint64_t written_ms;              /* wall clock of the KMS answer the keys
	                                     came from (libmqe2e before session 16:
	                                     of the write) */
};

/* Seal kb for identity id, stamped now_ms (the time of the KMS answer kb
 * came from), into a malloc'd file image *out (free
 * with mqe2e_free_secret(*out, *len)). */
int mqe2e_keycache_seal(const struct mqe2e_identity *id, const struct mqe2e_keybundle *kb,
    uint64_t now_ms, uint8_t **out, size_t *len) MQE2E_WUR;

/*
 * Open a file image for identity id into *kb (mqe2e_keybundle_free it; left
 * empty on failure).  info (may be NULL) gets the header whenever it parses,
 * also on failure.  MQE2E_ERR_ID_MISMATCH: written for another client id or
 * certificate serial; MQE2E_ERR_BAD_TAG: the seal does not open (the file
 * was altered, or sealed under another private key); MQE2E_ERR_BAD_VERSION,
 * _BAD_FORMAT, _TRUNCATED, _TRAILING, _TOO_LONG: not a cache file this
 * version reads.  Nothing of kb is filled before the tag verifies.
 */
int mqe2e_keycache_open(const struct mqe2e_identity *id, const uint8_t *in, size_t len,
    struct mqe2e_keybundle *kb, struct mqe2e_keycache_info *info) MQE2E_WUR;

#endif
