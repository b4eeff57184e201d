/*
 * crypto.c - primitives of the mqe2e crypto suite over OpenSSL 3 EVP:
 * wiping, constant-time compare, randomness, SHA-256, HKDF-SHA256, X25519,
 * Ed25519, AES-256-GCM and HMAC-SHA256 contexts.
 *
 * Certificates and the trust store live in cert.c.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "crypto.h"

/* ---- process set-up -------------------------------------------------------- */

/*
 * By default OpenSSL tears its global state down from an atexit handler, and
 * that includes deleting the thread-local key under which every thread keeps
 * its error state.  paho's background threads are detached and mark
 * themselves stopped just before they return, so MQTTAsync_destroy() of the
 * last client can let exit() run that handler while such a thread is still
 * unwinding.  Its error state then hangs on a deleted key: its destructor never
 * runs and the memory is orphaned (904 bytes, reported by LeakSanitizer in
 * short-lived TLS clients).  Tearing down process-wide state at exit is what
 * races with those threads, so it is switched off here, before any other
 * OpenSSL call of a program linking the core: the operating system takes the
 * memory back at exit, and a thread that ends earlier still frees its own
 * state.  Where OpenSSL was initialised first (the broker loading the plugin,
 * an application that used it already) this changes nothing.
 */
__attribute__((constructor)) static void
crypto_process_init(void)
{
	(void)OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

/* ---- wiping and comparison ------------------------------------------------ */

void
mqe2e_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

int
mqe2e_ct_equal(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return 1;
	return CRYPTO_memcmp(a, b, n) == 0;
}

int
mqe2e_random(void *out, size_t n)
{
	if (n == 0)
		return MQE2E_OK;
	if (out == NULL || n > INT_MAX)
		return MQE2E_ERR_INVALID_ARG;
	if (RAND_bytes(out, (int)n) != 1)
		return MQE2E_ERR_CRYPTO;
	return MQE2E_OK;
}

/* ---- hashing / KDF -------------------------------------------------------- */

/*
 * The algorithms fetched once per process.  OpenSSL 3 otherwise fetches
 * (looks up by name in the provider store, under its lock) on every
 * EVP_Digest with EVP_sha256(), every cipher init with EVP_aes_256_gcm(),
 * every EVP_MAC_init naming its digest, and twice in every HKDF (its HMAC
 * and that HMAC's digest): a measurable share of a KMS key answer, which
 * hashes, derives and seals several times.  So SHA-256 and AES-256-GCM are
 * fetched once, and HMAC-SHA256 contexts are copies of one template;
 * HKDF (RFC 5869) is written over them.  The fetched objects live as long
 * as the process (reachable, never freed).
 */
static EVP_MD *fetched_sha256;
static EVP_CIPHER *fetched_aes256gcm;
static EVP_MAC_CTX *hmac_sha256;        /* a template: HMAC with SHA-256 set */
static pthread_once_t fetched_once = PTHREAD_ONCE_INIT;

static void
fetch_algorithms(void)
{
	EVP_MAC *mac;
	OSSL_PARAM params[2];

	fetched_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	fetched_aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((hmac_sha256 = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_CTX_set_params(hmac_sha256, params) != 1) {
		EVP_MAC_CTX_free(hmac_sha256);
		hmac_sha256 = NULL;
	}
	EVP_MAC_free(mac);      /* the context holds its own reference */
}

/* A new HMAC-SHA256 context keyed with key (a copy of the template: no
 * fetch), or NULL. */
static EVP_MAC_CTX *
hmac_new(const uint8_t *key, size_t key_len)
{
	static const uint8_t none[1];
	EVP_MAC_CTX *c;

	pthread_once(&fetched_once, fetch_algorithms);
	if (hmac_sha256 == NULL || (c = EVP_MAC_CTX_dup(hmac_sha256)) == NULL)
		return NULL;
	if (EVP_MAC_init(c, key_len ? key : none, key_len, NULL) != 1) {
		EVP_MAC_CTX_free(c);
		return NULL;
	}
	return c;
}

int
mqe2e_sha256(const uint8_t *msg, size_t len, uint8_t out[MQE2E_SHA256_LEN])
{
	unsigned int olen = 0;

	if ((msg == NULL && len != 0) || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	pthread_once(&fetched_once, fetch_algorithms);
	if (fetched_sha256 == NULL)
		return MQE2E_ERR_CRYPTO;
	if (EVP_Digest(len ? msg : (const uint8_t *)"", len, out, &olen,
	    fetched_sha256, NULL) != 1 || olen != MQE2E_SHA256_LEN)
		return MQE2E_ERR_CRYPTO;
	return MQE2E_OK;
}

int
mqe2e_hkdf(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
    const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	uint8_t prk[MQE2E_SHA256_LEN], t[MQE2E_SHA256_LEN], ctr;
	EVP_MAC_CTX *c = NULL;
	size_t done = 0, tlen = 0, n;
	int r = MQE2E_ERR_CRYPTO;

	if ((salt == NULL && salt_len != 0) || (ikm == NULL && ikm_len != 0) ||
	    (info == NULL && info_len != 0) || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (out_len == 0 || out_len > 255 * MQE2E_SHA256_LEN)
		return MQE2E_ERR_INVALID_ARG;
	/* RFC 5869 2.2: PRK = HMAC(salt, IKM); an absent salt is HashLen zero
	 * bytes, which HMAC pads to the same key as an empty one. */
	if ((c = hmac_new(salt, salt_len)) == NULL ||
	    (ikm_len > 0 && EVP_MAC_update(c, ikm, ikm_len) != 1) ||
	    EVP_MAC_final(c, prk, &n, sizeof(prk)) != 1 || n != sizeof(prk))
		goto out;
	EVP_MAC_CTX_free(c);
	c = NULL;
	/* 2.3: T(i) = HMAC(PRK, T(i-1) || info || i) */
	for (ctr = 1; done < out_len; ctr++) {
		if ((c = hmac_new(prk, sizeof(prk))) == NULL ||
		    (tlen > 0 && EVP_MAC_update(c, t, tlen) != 1) ||
		    (info_len > 0 && EVP_MAC_update(c, info, info_len) != 1) ||
		    EVP_MAC_update(c, &ctr, 1) != 1 ||
		    EVP_MAC_final(c, t, &tlen, sizeof(t)) != 1 || tlen != sizeof(t))
			goto out;
		EVP_MAC_CTX_free(c);
		c = NULL;
		n = out_len - done < tlen ? out_len - done : tlen;
		memcpy(out + done, t, n);
		done += n;
	}
	r = MQE2E_OK;
 out:
	EVP_MAC_CTX_free(c);    /* clears the key pads */
	if (r != MQE2E_OK)
		mqe2e_wipe(out, out_len);
	mqe2e_wipe(prk, sizeof(prk));
	mqe2e_wipe(t, sizeof(t));
	return r;
}

/* ---- X25519 (RFC 7748) ---------------------------------------------------- */

/* A fresh X25519 key pair, its public half into pub; NULL on failure. */
static EVP_PKEY *
x25519_generate(uint8_t pub[MQE2E_X25519_LEN])
{
	EVP_PKEY *key;
	size_t plen = MQE2E_X25519_LEN;

	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519")) != NULL &&
	    (EVP_PKEY_get_raw_public_key(key, pub, &plen) != 1 || plen != MQE2E_X25519_LEN)) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	return key;
}

int
mqe2e_x25519_keygen(uint8_t priv[MQE2E_X25519_LEN], uint8_t pub[MQE2E_X25519_LEN])
{
	EVP_PKEY *key;
	size_t plen = MQE2E_X25519_LEN;
	int r = MQE2E_OK;

	if (priv == NULL || pub == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((key = x25519_generate(pub)) == NULL)
		return MQE2E_ERR_CRYPTO;
	if (EVP_PKEY_get_raw_private_key(key, priv, &plen) != 1 || plen != MQE2E_X25519_LEN) {
		mqe2e_wipe(priv, MQE2E_X25519_LEN);
		r = MQE2E_ERR_CRYPTO;
	}
	EVP_PKEY_free(key);
	return r;
}

/* shared = X25519(mine, peer_pub); an all-zero result (a small-order peer
 * key, RFC 7748 6.1) fails, and so does mine NULL (a key that could not be
 * made).  shared is wiped on failure. */
static int
derive(EVP_PKEY *mine, const uint8_t peer_pub[MQE2E_X25519_LEN],
    uint8_t shared[MQE2E_X25519_LEN])
{
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t slen = MQE2E_X25519_LEN, i;
	uint8_t acc = 0;
	int r = MQE2E_ERR_CRYPTO;

	if (mine == NULL)
		goto out;
	if ((peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL,
	    peer_pub, MQE2E_X25519_LEN)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL)) == NULL)
		goto out;
	if (EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
	    EVP_PKEY_derive(ctx, shared, &slen) != 1 ||
	    slen != MQE2E_X25519_LEN)
		goto out;
	for (i = 0; i < MQE2E_X25519_LEN; i++)
		acc |= shared[i];
	if (acc == 0)
		goto out;
	r = MQE2E_OK;
 out:
	if (r != MQE2E_OK)
		mqe2e_wipe(shared, MQE2E_X25519_LEN);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return r;
}

int
mqe2e_x25519(const uint8_t priv[MQE2E_X25519_LEN], const uint8_t peer_pub[MQE2E_X25519_LEN],
    uint8_t shared[MQE2E_X25519_LEN])
{
	EVP_PKEY *mine;
	int r;

	if (priv == NULL || peer_pub == NULL || shared == NULL)
		return MQE2E_ERR_INVALID_ARG;
	mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, MQE2E_X25519_LEN);
	r = derive(mine, peer_pub, shared);
	EVP_PKEY_free(mine);
	return r;
}

int
mqe2e_x25519_pair(const uint8_t priv[MQE2E_X25519_LEN], const uint8_t pub[MQE2E_X25519_LEN],
    const uint8_t peer_pub[MQE2E_X25519_LEN], uint8_t shared[MQE2E_X25519_LEN])
{
	uint8_t sk[MQE2E_X25519_LEN], pk[MQE2E_X25519_LEN];
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *mine = NULL;
	int r = MQE2E_ERR_CRYPTO;

	if (priv == NULL || pub == NULL || peer_pub == NULL || shared == NULL)
		return MQE2E_ERR_INVALID_ARG;
	/* OSSL_PARAM takes non-const buffers: copies (OpenSSL only reads them) */
	memcpy(sk, priv, sizeof(sk));
	memcpy(pk, pub, sizeof(pk));
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PRIV_KEY, sk, sizeof(sk));
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pk, sizeof(pk));
	params[2] = OSSL_PARAM_construct_end();
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &mine, EVP_PKEY_KEYPAIR, params) == 1)
		r = derive(mine, peer_pub, shared);
	else
		mqe2e_wipe(shared, MQE2E_X25519_LEN);
	EVP_PKEY_free(mine);
	EVP_PKEY_CTX_free(ctx);
	mqe2e_wipe(sk, sizeof(sk));
	return r;
}

int
mqe2e_x25519_ephemeral(const uint8_t peer_pub[MQE2E_X25519_LEN], uint8_t pub[MQE2E_X25519_LEN],
    uint8_t shared[MQE2E_X25519_LEN])
{
	EVP_PKEY *mine;
	int r;

	if (peer_pub == NULL || pub == NULL || shared == NULL)
		return MQE2E_ERR_INVALID_ARG;
	/* The key pair stays one OpenSSL object from generation to derivation:
	 * re-importing the private key would compute its public key again. */
	mine = x25519_generate(pub);
	r = derive(mine, peer_pub, shared);
	EVP_PKEY_free(mine);
	return r;
}

/*
 * A responder's key that serves the answers of a bounded window (time and
 * count), then is replaced; OpenSSL clears a freed X25519 private key.
 */
struct mqe2e_x25519_share {
	pthread_mutex_t mu;
	EVP_PKEY *key;               /* NULL until the first answer */
	uint8_t pub[MQE2E_X25519_LEN];
	uint64_t until_ms;           /* replaced at or after */
	uint32_t left;               /* answers it may still serve */
	uint32_t max_ms, max_uses;
};

int
mqe2e_x25519_share_new(uint32_t max_ms, uint32_t max_uses, struct mqe2e_x25519_share **out)
{
	struct mqe2e_x25519_share *s;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (max_uses == 0)
		return MQE2E_ERR_INVALID_ARG;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return MQE2E_ERR_NOMEM;
	pthread_mutex_init(&s->mu, NULL);
	s->max_ms = max_ms;
	s->max_uses = max_uses;
	*out = s;
	return MQE2E_OK;
}

void
mqe2e_x25519_share_free(struct mqe2e_x25519_share *s)
{
	if (s == NULL)
		return;
	EVP_PKEY_free(s->key);
	pthread_mutex_destroy(&s->mu);
	mqe2e_wipe(s, sizeof(*s));
	free(s);
}

int
mqe2e_x25519_share_dh(struct mqe2e_x25519_share *s, uint64_t now_ms,
    const uint8_t peer_pub[MQE2E_X25519_LEN], uint8_t pub[MQE2E_X25519_LEN],
    uint8_t shared[MQE2E_X25519_LEN])
{
	EVP_PKEY *mine = NULL, *fresh;
	int r;

	if (s == NULL || peer_pub == NULL || pub == NULL || shared == NULL)
		return MQE2E_ERR_INVALID_ARG;
	pthread_mutex_lock(&s->mu);
	if (s->key == NULL || s->left == 0 || now_ms >= s->until_ms ||
	    now_ms + s->max_ms < s->until_ms /* the clock went back */) {
		if ((fresh = x25519_generate(s->pub)) == NULL) {
			pthread_mutex_unlock(&s->mu);
			mqe2e_wipe(shared, MQE2E_X25519_LEN);
			return MQE2E_ERR_CRYPTO;
		}
		EVP_PKEY_free(s->key);
		s->key = fresh;
		s->until_ms = now_ms + s->max_ms;
		s->left = s->max_uses;
	}
	if (EVP_PKEY_up_ref(s->key) == 1) {
		mine = s->key;
		s->left--;
		memcpy(pub, s->pub, MQE2E_X25519_LEN);
	}
	pthread_mutex_unlock(&s->mu);
	r = derive(mine, peer_pub, shared);
	EVP_PKEY_free(mine);
	return r;
}

int
mqe2e_x25519_public(const uint8_t priv[MQE2E_X25519_LEN], uint8_t pub[MQE2E_X25519_LEN])
{
	EVP_PKEY *key = NULL;
	size_t qlen = MQE2E_X25519_LEN;
	int r = MQE2E_ERR_CRYPTO;

	if (priv == NULL || pub == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL,
	    priv, MQE2E_X25519_LEN)) == NULL)
		goto out;
	if (EVP_PKEY_get_raw_public_key(key, pub, &qlen) != 1 ||
	    qlen != MQE2E_X25519_LEN)
		goto out;
	r = MQE2E_OK;
 out:
	EVP_PKEY_free(key);
	return r;
}

/* ---- Ed25519 (RFC 8032) --------------------------------------------------- */

static int
is_ed25519(EVP_PKEY *key)
{
	return key != NULL && EVP_PKEY_is_a(key, "ED25519");
}

/* The arguments of a signature or its check, and a digest context set up
 * for it with key (to sign if sign, else to verify); *md is the caller's to
 * free on success. */
static int
ed25519_begin(EVP_PKEY *key, int sign, const uint8_t *msg, size_t len, const uint8_t *sig,
    EVP_MD_CTX **md)
{
	int ok;

	*md = NULL;
	if (!is_ed25519(key) || (msg == NULL && len != 0) || sig == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((*md = EVP_MD_CTX_new()) == NULL)
		return MQE2E_ERR_NOMEM;
	if (sign)
		ok = EVP_DigestSignInit_ex(*md, NULL, NULL, NULL, NULL, key, NULL);
	else
		ok = EVP_DigestVerifyInit_ex(*md, NULL, NULL, NULL, NULL, key, NULL);
	if (ok != 1) {
		EVP_MD_CTX_free(*md);
		*md = NULL;
		return MQE2E_ERR_CRYPTO;
	}
	return MQE2E_OK;
}

int
mqe2e_ed25519_sign(EVP_PKEY *priv, const uint8_t *msg, size_t len,
    uint8_t sig[MQE2E_ED25519_SIG_LEN])
{
	EVP_MD_CTX *md;
	size_t slen = MQE2E_ED25519_SIG_LEN;
	int r;

	if ((r = ed25519_begin(priv, 1, msg, len, sig, &md)) != MQE2E_OK)
		return r;
	if (EVP_DigestSign(md, sig, &slen, len ? msg : (const uint8_t *)"", len) != 1 ||
	    slen != MQE2E_ED25519_SIG_LEN)
		r = MQE2E_ERR_CRYPTO;
	EVP_MD_CTX_free(md);
	return r;
}

int
mqe2e_ed25519_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len,
    const uint8_t sig[MQE2E_ED25519_SIG_LEN])
{
	EVP_MD_CTX *md;
	int r;

	if ((r = ed25519_begin(pub, 0, msg, len, sig, &md)) != MQE2E_OK)
		return r;
	/* 1 is valid; 0 (bad) and <0 (malformed signature) both reject. */
	if (EVP_DigestVerify(md, sig, MQE2E_ED25519_SIG_LEN,
	    len ? msg : (const uint8_t *)"", len) != 1)
		r = MQE2E_ERR_BAD_SIGNATURE;
	EVP_MD_CTX_free(md);
	return r;
}

/* An Ed25519 key from 32 raw bytes: the private seed if is_seed, else the
 * public key. */
static int
ed25519_from_raw(const uint8_t raw[32], int is_seed, EVP_PKEY **out)
{
	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (raw == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = is_seed ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, 32) :
	    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	return *out != NULL ? MQE2E_OK : MQE2E_ERR_CRYPTO;
}

int
mqe2e_ed25519_from_seed(const uint8_t seed[32], EVP_PKEY **out)
{
	return ed25519_from_raw(seed, 1, out);
}

int
mqe2e_ed25519_from_public(const uint8_t pub[32], EVP_PKEY **out)
{
	return ed25519_from_raw(pub, 0, out);
}

int
mqe2e_ed25519_raw_public(EVP_PKEY *key, uint8_t pub[32])
{
	size_t len = 32;

	if (!is_ed25519(key) || pub == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != 32)
		return MQE2E_ERR_CRYPTO;
	return MQE2E_OK;
}

int
mqe2e_ed25519_derive_key(EVP_PKEY *priv, const uint8_t *info, size_t info_len,
    uint8_t out[MQE2E_KEY_LEN])
{
	uint8_t seed[32];
	size_t len = sizeof(seed);
	int r;

	if (!is_ed25519(priv) || out == NULL || info == NULL || info_len == 0)
		return MQE2E_ERR_INVALID_ARG;
	if (EVP_PKEY_get_raw_private_key(priv, seed, &len) != 1 || len != sizeof(seed)) {
		mqe2e_wipe(seed, sizeof(seed));
		return MQE2E_ERR_INVALID_ARG;   /* a public key: no private half */
	}
	r = mqe2e_hkdf(NULL, 0, seed, sizeof(seed), info, info_len, out, MQE2E_KEY_LEN);
	mqe2e_wipe(seed, sizeof(seed));
	return r;
}

/* Encrypted keys are refused instead of prompting on the terminal. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int
mqe2e_key_load_pem(const char *path, EVP_PKEY **out, char *errbuf, size_t errlen)
{
	FILE *fp = NULL;
	EVP_PKEY *key = NULL;
	int r = MQE2E_ERR_INTERNAL;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (path == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((fp = fopen(path, "r")) == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: cannot open: %s", path,
			    strerror(errno));
		r = MQE2E_ERR_IO;
		goto out;
	}
	if ((key = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL)) == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: not a PEM private key "
			    "(or encrypted)", path);
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	if (!is_ed25519(key)) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s: not an Ed25519 key", path);
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	*out = key;
	key = NULL;
	r = MQE2E_OK;
 out:
	EVP_PKEY_free(key);
	if (fp != NULL)
		fclose(fp);
	ERR_clear_error();
	return r;
}

void
mqe2e_pkey_free(EVP_PKEY *key)
{
	EVP_PKEY_free(key);
}

/* ---- AES-256-GCM ---------------------------------------------------------- */

/*
 * One encryption and one decryption context, each keyed once in _new; per
 * message only the nonce is set.  OpenSSL keeps the expanded key inside the
 * contexts and clears it in EVP_CIPHER_CTX_free.
 */
struct mqe2e_aead {
	EVP_CIPHER_CTX *enc;
	EVP_CIPHER_CTX *dec;
};

/* Key c (new) to encrypt if enc, else to decrypt, with 12-byte nonces. */
static int
gcm_key(EVP_CIPHER_CTX *c, const uint8_t key[MQE2E_KEY_LEN], int enc)
{
	/* 12 bytes is the default IV length of GCM; say so anyway. */
	if (EVP_CipherInit_ex(c, fetched_aes256gcm, NULL, key, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, MQE2E_GCM_NONCE_LEN, NULL) != 1)
		return MQE2E_ERR_CRYPTO;
	return MQE2E_OK;
}

int
mqe2e_aead_new(const uint8_t key[MQE2E_KEY_LEN], struct mqe2e_aead **out)
{
	struct mqe2e_aead *a = NULL;
	int r;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (key == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return MQE2E_ERR_NOMEM;
	a->enc = EVP_CIPHER_CTX_new();
	a->dec = EVP_CIPHER_CTX_new();
	pthread_once(&fetched_once, fetch_algorithms);
	if (a->enc == NULL || a->dec == NULL)
		r = MQE2E_ERR_NOMEM;
	else if (fetched_aes256gcm == NULL)
		r = MQE2E_ERR_CRYPTO;
	else if ((r = gcm_key(a->enc, key, 1)) == MQE2E_OK)
		r = gcm_key(a->dec, key, 0);
	if (r == MQE2E_OK) {
		*out = a;
		a = NULL;
	}
	mqe2e_aead_free(a);
	return r;
}

void
mqe2e_aead_free(struct mqe2e_aead *a)
{
	if (a == NULL)
		return;
	EVP_CIPHER_CTX_free(a->enc);
	EVP_CIPHER_CTX_free(a->dec);
	free(a);
}

/* One message through c (keyed by gcm_key): the nonce, the AAD, then in
 * (in_len bytes) into out, *len the bytes written.  0 on failure. */
static int
gcm_update(EVP_CIPHER_CTX *c, const uint8_t nonce[MQE2E_GCM_NONCE_LEN], const uint8_t *aad,
    size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out, int *len)
{
	int n = 0;

	*len = 0;
	return EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, -1) == 1 &&
	    (aad_len == 0 || EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1) &&
	    (in_len == 0 || EVP_CipherUpdate(c, out, len, in, (int)in_len) == 1);
}

int
mqe2e_aead_seal(struct mqe2e_aead *a, const uint8_t nonce[MQE2E_GCM_NONCE_LEN],
    const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *out)
{
	int len = 0, flen = 0;

	if (a == NULL || nonce == NULL || out == NULL ||
	    (aad == NULL && aad_len != 0) || (pt == NULL && pt_len != 0))
		return MQE2E_ERR_INVALID_ARG;
	if (aad_len > INT_MAX || pt_len > INT_MAX - MQE2E_GCM_TAG_LEN)
		return MQE2E_ERR_TOO_LONG;
	if (!gcm_update(a->enc, nonce, aad, aad_len, pt, pt_len, out, &len))
		goto fail;
	if (EVP_EncryptFinal_ex(a->enc, out + len, &flen) != 1 ||
	    (size_t)len + (size_t)flen != pt_len)
		goto fail;
	if (EVP_CIPHER_CTX_ctrl(a->enc, EVP_CTRL_GCM_GET_TAG, MQE2E_GCM_TAG_LEN,
	    out + pt_len) != 1)
		goto fail;
	return MQE2E_OK;
 fail:
	mqe2e_wipe(out, pt_len + MQE2E_GCM_TAG_LEN);
	return MQE2E_ERR_CRYPTO;
}

int
mqe2e_aead_open(struct mqe2e_aead *a, const uint8_t nonce[MQE2E_GCM_NONCE_LEN],
    const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out)
{
	uint8_t tag[MQE2E_GCM_TAG_LEN];
	size_t ct_len;
	int len = 0, flen = 0, r = MQE2E_ERR_CRYPTO;

	if (a == NULL || nonce == NULL || in == NULL ||
	    (aad == NULL && aad_len != 0))
		return MQE2E_ERR_INVALID_ARG;
	if (in_len < MQE2E_GCM_TAG_LEN)
		return MQE2E_ERR_TRUNCATED;
	ct_len = in_len - MQE2E_GCM_TAG_LEN;
	if (out == NULL && ct_len != 0)
		return MQE2E_ERR_INVALID_ARG;
	if (aad_len > INT_MAX || in_len > INT_MAX)
		return MQE2E_ERR_TOO_LONG;
	/* Copy the tag first: out may alias in (in-place decryption). */
	memcpy(tag, in + ct_len, sizeof(tag));
	if (!gcm_update(a->dec, nonce, aad, aad_len, in, ct_len, out, &len))
		goto out;
	if (EVP_CIPHER_CTX_ctrl(a->dec, EVP_CTRL_GCM_SET_TAG, MQE2E_GCM_TAG_LEN,
	    tag) != 1)
		goto out;
	/* GCM's final step writes no bytes; it only checks the tag. */
	if (EVP_DecryptFinal_ex(a->dec, ct_len ? out + len : tag, &flen) != 1) {
		r = MQE2E_ERR_BAD_TAG;
		goto out;
	}
	if ((size_t)len + (size_t)flen != ct_len)
		goto out;
	r = MQE2E_OK;
 out:
	/* Unverified plaintext never survives a failure. */
	if (r != MQE2E_OK && ct_len > 0)
		mqe2e_wipe(out, ct_len);
	mqe2e_wipe(tag, sizeof(tag));
	return r;
}

/* ---- HMAC-SHA256 ---------------------------------------------------------- */

/*
 * The key is set once in _new; each message re-initialises the same
 * EVP_MAC_CTX without a key, which restarts HMAC with the stored key.
 */
struct mqe2e_mac {
	EVP_MAC_CTX *ctx;
};

int
mqe2e_mac_new(const uint8_t *key, size_t key_len, struct mqe2e_mac **out)
{
	struct mqe2e_mac *m = NULL;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (key == NULL || key_len == 0)
		return MQE2E_ERR_INVALID_ARG;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((m->ctx = hmac_new(key, key_len)) == NULL) {
		free(m);
		return MQE2E_ERR_CRYPTO;
	}
	*out = m;
	return MQE2E_OK;
}

void
mqe2e_mac_free(struct mqe2e_mac *m)
{
	if (m == NULL)
		return;
	EVP_MAC_CTX_free(m->ctx);   /* HMAC_CTX_free clears the key pads */
	free(m);
}

/* Full 32-byte HMAC over the parts into full[]. */
static int
mac_full(struct mqe2e_mac *m, const struct mqe2e_iov *parts, size_t n,
    uint8_t full[MQE2E_SHA256_LEN])
{
	size_t i, olen = 0;

	if (EVP_MAC_init(m->ctx, NULL, 0, NULL) != 1)
		return MQE2E_ERR_CRYPTO;
	for (i = 0; i < n; i++) {
		if (parts[i].len == 0)
			continue;
		if (parts[i].p == NULL)
			return MQE2E_ERR_INVALID_ARG;
		if (EVP_MAC_update(m->ctx, parts[i].p, parts[i].len) != 1)
			return MQE2E_ERR_CRYPTO;
	}
	if (EVP_MAC_final(m->ctx, full, &olen, MQE2E_SHA256_LEN) != 1 ||
	    olen != MQE2E_SHA256_LEN)
		return MQE2E_ERR_CRYPTO;
	return MQE2E_OK;
}

int
mqe2e_mac_compute(struct mqe2e_mac *m, const struct mqe2e_iov *parts, size_t n,
    uint8_t *tag, size_t tag_len)
{
	uint8_t full[MQE2E_SHA256_LEN];
	int r;

	if (m == NULL || (parts == NULL && n != 0) || tag == NULL ||
	    tag_len == 0 || tag_len > MQE2E_SHA256_LEN)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mac_full(m, parts, n, full)) == MQE2E_OK)
		memcpy(tag, full, tag_len);
	mqe2e_wipe(full, sizeof(full));
	return r;
}

int
mqe2e_mac_verify(struct mqe2e_mac *m, const struct mqe2e_iov *parts, size_t n,
    const uint8_t *tag, size_t tag_len)
{
	uint8_t full[MQE2E_SHA256_LEN];
	int r;

	if (m == NULL || (parts == NULL && n != 0) || tag == NULL ||
	    tag_len < MQE2E_MAC_TAG_LEN || tag_len > MQE2E_SHA256_LEN)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mac_full(m, parts, n, full)) == MQE2E_OK &&
	    CRYPTO_memcmp(full, tag, tag_len) != 0)
		r = MQE2E_ERR_BAD_TAG;
	mqe2e_wipe(full, sizeof(full));
	return r;
}
