/*
 * test_crypto.c - known-answer and negative tests for core/crypto.c.
 *
 * Vectors: RFC 7748 5.2 and 6.1 (X25519), RFC 8032 7.1 tests 1-3
 * (Ed25519), RFC 5869 A.1-A.3 (HKDF-SHA256), RFC 4231 test cases 1-7
 * (HMAC-SHA256), McGrew-Viega GCM spec test cases 13-16 (AES-256-GCM),
 * FIPS 180-2 (SHA-256).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "hex.h"

/* ---- helpers -------------------------------------------------------------- */

/* Decode hex into out (exactly strlen(hex)/2 bytes); returns the length. */
static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex);

	assert_true(n % 2 == 0);
	assert_true(n / 2 <= cap);
	assert_int_equal(mqe2e_unhex(hex, n, out, n / 2), 0);
	return n / 2;
}

static void
assert_hex(const uint8_t *got, size_t len, const char *want)
{
	uint8_t buf[256];
	size_t n = unhex(want, buf, sizeof(buf));

	assert_int_equal(n, len);
	assert_memory_equal(got, buf, len);
}

static int
all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	size_t i;

	for (i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* ---- wipe, compare, random ------------------------------------------------ */

static void
test_basics(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	memset(a, 0x5a, sizeof(a));
	mqe2e_wipe(a, sizeof(a));
	assert_true(all_zero(a, sizeof(a)));
	mqe2e_wipe(NULL, 10);   /* no-op */

	memset(a, 1, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_int_equal(mqe2e_ct_equal(a, b, sizeof(a)), 1);
	b[31] ^= 0x80;
	assert_int_equal(mqe2e_ct_equal(a, b, sizeof(a)), 0);
	assert_int_equal(mqe2e_ct_equal(a, b, 31), 1);

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(mqe2e_random(a, sizeof(a)), MQE2E_OK);
	assert_int_equal(mqe2e_random(b, sizeof(b)), MQE2E_OK);
	assert_false(all_zero(a, sizeof(a)));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(mqe2e_random(a, 0), MQE2E_OK);
}

/* ---- SHA-256 (FIPS 180-2 B.1, and the empty string) ----------------------- */

static void
test_sha256(void **state)
{
	uint8_t d[MQE2E_SHA256_LEN];

	(void)state;
	assert_int_equal(mqe2e_sha256((const uint8_t *)"abc", 3, d), MQE2E_OK);
	assert_hex(d, sizeof(d),
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(mqe2e_sha256(NULL, 0, d), MQE2E_OK);
	assert_hex(d, sizeof(d),
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(mqe2e_sha256(NULL, 1, d), MQE2E_ERR_INVALID_ARG);
}

/* ---- HKDF-SHA256 (RFC 5869 A.1-A.3) --------------------------------------- */

static void
test_hkdf_rfc5869(void **state)
{
	uint8_t ikm[80], salt[80], info[80], okm[82];
	size_t i;

	(void)state;
	/* A.1 */
	memset(ikm, 0x0b, 22);
	for (i = 0; i < 13; i++)
		salt[i] = (uint8_t)i;
	for (i = 0; i < 10; i++)
		info[i] = (uint8_t)(0xf0 + i);
	assert_int_equal(mqe2e_hkdf(salt, 13, ikm, 22, info, 10, okm, 42), MQE2E_OK);
	assert_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db0"
	    "2d56ecc4c5bf34007208d5b887185865");

	/* A.2 */
	for (i = 0; i < 80; i++) {
		ikm[i] = (uint8_t)i;
		salt[i] = (uint8_t)(0x60 + i);
		info[i] = (uint8_t)(0xb0 + i);
	}
	assert_int_equal(mqe2e_hkdf(salt, 80, ikm, 80, info, 80, okm, 82), MQE2E_OK);
	assert_hex(okm, 82, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050"
	    "cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9"
	    "aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87");

	/* A.3: empty salt and info; an absent salt gives the same answer. */
	memset(ikm, 0x0b, 22);
	assert_int_equal(mqe2e_hkdf(NULL, 0, ikm, 22, NULL, 0, okm, 42), MQE2E_OK);
	assert_hex(okm, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec345"
	    "4e5f3c738d2d9d201395faa4b61a96c8");
	assert_int_equal(mqe2e_hkdf(salt, 0, ikm, 22, info, 0, okm, 42), MQE2E_OK);
	assert_hex(okm, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec345"
	    "4e5f3c738d2d9d201395faa4b61a96c8");

	/* Limits: 0 and more than 255 * 32 bytes are refused. */
	assert_int_equal(mqe2e_hkdf(NULL, 0, ikm, 22, NULL, 0, okm, 0),
	    MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_hkdf(NULL, 0, ikm, 22, NULL, 0, okm, 255 * 32 + 1),
	    MQE2E_ERR_INVALID_ARG);
}

/* ---- X25519 (RFC 7748) ---------------------------------------------------- */

static void
x25519_kat(const char *scalar, const char *u, const char *want)
{
	uint8_t k[32], pt[32], out[32];

	unhex(scalar, k, sizeof(k));
	unhex(u, pt, sizeof(pt));
	assert_int_equal(mqe2e_x25519(k, pt, out), MQE2E_OK);
	assert_hex(out, sizeof(out), want);
}

static void
test_x25519_rfc7748_5_2(void **state)
{
	uint8_t k[32], u[32], out[32];
	int i;

	(void)state;
	x25519_kat("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
	    "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
	    "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
	/* The u-coordinate has its top bit set: it must be masked. */
	x25519_kat("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
	    "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
	    "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");

	/* Iterated: k = u = 9; 1 and 1000 iterations. */
	memset(k, 0, sizeof(k));
	k[0] = 9;
	memcpy(u, k, sizeof(u));
	for (i = 1; i <= 1000; i++) {
		assert_int_equal(mqe2e_x25519(k, u, out), MQE2E_OK);
		memcpy(u, k, sizeof(u));
		memcpy(k, out, sizeof(k));
		if (i == 1)
			assert_hex(k, 32, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6"
			    "854b783c60e80311ae3079");
	}
	assert_hex(k, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb9"
	    "4d99532c51");
}

static void
test_x25519_rfc7748_6_1(void **state)
{
	uint8_t a[32], b[32], pub[32], apub[32], bpub[32], s1[32], s2[32];

	(void)state;
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
	unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b, 32);
	assert_int_equal(mqe2e_x25519_public(a, apub), MQE2E_OK);
	assert_hex(apub, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	assert_int_equal(mqe2e_x25519_public(b, bpub), MQE2E_OK);
	assert_hex(bpub, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	assert_int_equal(mqe2e_x25519(a, bpub, s1), MQE2E_OK);
	assert_int_equal(mqe2e_x25519(b, apub, s2), MQE2E_OK);
	assert_hex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	assert_memory_equal(s1, s2, 32);

	/* keygen: a fresh pair agrees with x25519_public and with a peer. */
	assert_int_equal(mqe2e_x25519_keygen(a, apub), MQE2E_OK);
	assert_int_equal(mqe2e_x25519_public(a, pub), MQE2E_OK);
	assert_memory_equal(pub, apub, 32);
	assert_int_equal(mqe2e_x25519(a, bpub, s1), MQE2E_OK);
	assert_int_equal(mqe2e_x25519(b, apub, s2), MQE2E_OK);
	assert_memory_equal(s1, s2, 32);

	/* the pair imported whole: the RFC's answer, and the secret depends on
	 * the private half alone (a wrong public half changes nothing) */
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
	unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", apub, 32);
	unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bpub, 32);
	memset(s1, 0xa5, sizeof(s1));
	assert_int_equal(mqe2e_x25519_pair(a, apub, bpub, s1), MQE2E_OK);
	assert_hex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	apub[0] ^= 1;
	assert_int_equal(mqe2e_x25519_pair(a, apub, bpub, s2), MQE2E_OK);
	assert_memory_equal(s1, s2, 32);
}

/* Small-order peer keys give an all-zero secret and must be refused.
 * (OpenSSL 3's derive refuses them too; crypto.c checks again so that the
 * contract does not hang on that.) */
static void
test_x25519_small_order(void **state)
{
	static const char *const bad[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	uint8_t priv[32], pub[32], peer[32], out[32];
	size_t i;

	(void)state;
	assert_int_equal(mqe2e_x25519_keygen(priv, pub), MQE2E_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unhex(bad[i], peer, sizeof(peer));
		memset(out, 0xa5, sizeof(out));
		assert_int_equal(mqe2e_x25519(priv, peer, out), MQE2E_ERR_CRYPTO);
		assert_true(all_zero(out, sizeof(out)));
		memset(out, 0xa5, sizeof(out));
		assert_int_equal(mqe2e_x25519_pair(priv, pub, peer, out), MQE2E_ERR_CRYPTO);
		assert_true(all_zero(out, sizeof(out)));
	}
}

/* ---- Ed25519 (RFC 8032 7.1) ----------------------------------------------- */

static const struct {
	const char *secret, *public, *msg, *sig;
} ed_vectors[] = {
	{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	  "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f"
	  "b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
	  "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da08"
	  "5ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
	  "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18"
	  "ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
};

static void
test_ed25519_rfc8032(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ed_vectors) / sizeof(ed_vectors[0]); i++) {
		uint8_t seed[32], pub[32], raw[32], msg[8], sig[64], want[64];
		size_t mlen = unhex(ed_vectors[i].msg, msg, sizeof(msg));
		EVP_PKEY *priv = NULL, *vk = NULL;

		unhex(ed_vectors[i].secret, seed, sizeof(seed));
		unhex(ed_vectors[i].public, pub, sizeof(pub));
		unhex(ed_vectors[i].sig, want, sizeof(want));

		assert_int_equal(mqe2e_ed25519_from_seed(seed, &priv), MQE2E_OK);
		assert_int_equal(mqe2e_ed25519_raw_public(priv, raw), MQE2E_OK);
		assert_memory_equal(raw, pub, 32);
		assert_int_equal(mqe2e_ed25519_sign(priv, msg, mlen, sig), MQE2E_OK);
		assert_memory_equal(sig, want, 64);

		assert_int_equal(mqe2e_ed25519_from_public(pub, &vk), MQE2E_OK);
		assert_int_equal(mqe2e_ed25519_verify(vk, msg, mlen, sig), MQE2E_OK);
		/* The private key verifies too (it holds the public half). */
		assert_int_equal(mqe2e_ed25519_verify(priv, msg, mlen, sig), MQE2E_OK);

		/* A flipped bit anywhere in the signature or the message fails. */
		sig[0] ^= 0x01;
		assert_int_equal(mqe2e_ed25519_verify(vk, msg, mlen, sig),
		    MQE2E_ERR_BAD_SIGNATURE);
		sig[0] ^= 0x01;
		sig[63] ^= 0x10;
		assert_int_equal(mqe2e_ed25519_verify(vk, msg, mlen, sig),
		    MQE2E_ERR_BAD_SIGNATURE);
		sig[63] ^= 0x10;
		if (mlen > 0) {
			msg[0] ^= 0x01;
			assert_int_equal(mqe2e_ed25519_verify(vk, msg, mlen, sig),
			    MQE2E_ERR_BAD_SIGNATURE);
		} else {
			assert_int_equal(mqe2e_ed25519_verify(vk,
			    (const uint8_t *)"x", 1, sig), MQE2E_ERR_BAD_SIGNATURE);
		}
		mqe2e_pkey_free(priv);
		mqe2e_pkey_free(vk);
	}
}

static void
test_ed25519_misuse(void **state)
{
	uint8_t priv[32], pub[32], sig[64];
	EVP_PKEY *x = NULL;

	(void)state;
	assert_int_equal(mqe2e_x25519_keygen(priv, pub), MQE2E_OK);
	x = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	assert_non_null(x);
	/* An X25519 key is not a signing key. */
	assert_int_equal(mqe2e_ed25519_sign(x, pub, 32, sig), MQE2E_ERR_INVALID_ARG);
	memset(sig, 0, sizeof(sig));
	assert_int_equal(mqe2e_ed25519_verify(x, pub, 32, sig), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_ed25519_raw_public(x, pub), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_ed25519_sign(NULL, pub, 32, sig), MQE2E_ERR_INVALID_ARG);
	EVP_PKEY_free(x);
	mqe2e_pkey_free(NULL);
}

/* ---- PEM key loading ------------------------------------------------------ */

static void
write_key(const char *path, EVP_PKEY *key)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(fp), 0);
}

static void
test_key_load_pem(void **state)
{
	char dir[] = "/tmp/mqe2e-test-crypto-XXXXXX", path[256], err[512];
	uint8_t seed[32], raw1[32], raw2[32];
	EVP_PKEY *key = NULL, *loaded = NULL, *x = NULL;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(dir));

	/* A good Ed25519 key round-trips. */
	memset(seed, 7, sizeof(seed));
	assert_int_equal(mqe2e_ed25519_from_seed(seed, &key), MQE2E_OK);
	snprintf(path, sizeof(path), "%s/ed.pem", dir);
	write_key(path, key);
	assert_int_equal(mqe2e_key_load_pem(path, &loaded, err, sizeof(err)), MQE2E_OK);
	assert_int_equal(mqe2e_ed25519_raw_public(key, raw1), MQE2E_OK);
	assert_int_equal(mqe2e_ed25519_raw_public(loaded, raw2), MQE2E_OK);
	assert_memory_equal(raw1, raw2, 32);
	mqe2e_pkey_free(loaded);
	loaded = NULL;
	assert_int_equal(unlink(path), 0);

	/* An encrypted key is refused at once (no passphrase prompt). */
	{
		FILE *ef = fopen(path, "w");

		assert_non_null(ef);
		assert_int_equal(PEM_write_PrivateKey(ef, key, EVP_aes_256_cbc(),
		    (const unsigned char *)"secret", 6, NULL, NULL), 1);
		assert_int_equal(fclose(ef), 0);
		err[0] = '\0';
		assert_int_equal(mqe2e_key_load_pem(path, &loaded, err, sizeof(err)),
		    MQE2E_ERR_BAD_FORMAT);
		assert_null(loaded);
		assert_non_null(strstr(err, path));
		assert_int_equal(unlink(path), 0);
	}

	/* Missing file: IO, message names the file. */
	assert_int_equal(mqe2e_key_load_pem(path, &loaded, err, sizeof(err)), MQE2E_ERR_IO);
	assert_null(loaded);
	assert_non_null(strstr(err, path));

	/* Garbage: BAD_FORMAT, message names the file. */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n", fp);
	assert_int_equal(fclose(fp), 0);
	err[0] = '\0';
	assert_int_equal(mqe2e_key_load_pem(path, &loaded, err, sizeof(err)),
	    MQE2E_ERR_BAD_FORMAT);
	assert_null(loaded);
	assert_non_null(strstr(err, path));
	assert_int_equal(unlink(path), 0);

	/* A PEM key of another type is refused. */
	x = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, seed, 32);
	assert_non_null(x);
	write_key(path, x);
	err[0] = '\0';
	assert_int_equal(mqe2e_key_load_pem(path, &loaded, err, sizeof(err)),
	    MQE2E_ERR_BAD_FORMAT);
	assert_null(loaded);
	assert_non_null(strstr(err, "Ed25519"));
	/* errbuf may be NULL. */
	assert_int_equal(mqe2e_key_load_pem(path, &loaded, NULL, 0), MQE2E_ERR_BAD_FORMAT);
	assert_int_equal(unlink(path), 0);

	EVP_PKEY_free(x);
	mqe2e_pkey_free(key);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- AES-256-GCM (McGrew-Viega test cases 13-16) -------------------------- */

static const char gcm_k15[] =
    "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
static const char gcm_iv15[] = "cafebabefacedbaddecaf888";
static const char gcm_p15[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
static const char gcm_c15[] =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

static void
gcm_kat(struct mqe2e_aead *a, const char *iv_hex, const char *aad_hex,
    const char *pt_hex, size_t pt_len, const char *ct_hex, size_t ct_len,
    const char *tag_hex)
{
	uint8_t iv[12], aad[32], pt[64], sealed[80], want[80], back[64];
	size_t aad_len = unhex(aad_hex, aad, sizeof(aad));

	unhex(iv_hex, iv, sizeof(iv));
	if (pt_len > 0) {
		uint8_t full[64];

		unhex(pt_hex, full, sizeof(full));
		memcpy(pt, full, pt_len);
	}
	if (ct_len > 0) {
		uint8_t full[64];

		unhex(ct_hex, full, sizeof(full));
		memcpy(want, full, ct_len);
	}
	unhex(tag_hex, want + ct_len, 16);
	assert_int_equal(pt_len, ct_len);

	assert_int_equal(mqe2e_aead_seal(a, iv, aad_len ? aad : NULL, aad_len,
	    pt_len ? pt : NULL, pt_len, sealed), MQE2E_OK);
	assert_memory_equal(sealed, want, ct_len + 16);
	memset(back, 0xee, sizeof(back));
	assert_int_equal(mqe2e_aead_open(a, iv, aad_len ? aad : NULL, aad_len,
	    sealed, ct_len + 16, back), MQE2E_OK);
	if (pt_len > 0)
		assert_memory_equal(back, pt, pt_len);
}

static void
test_aead_gcm_vectors(void **state)
{
	uint8_t key[32];
	struct mqe2e_aead *a = NULL;

	(void)state;
	/* 13 and 14: zero key, zero IV. */
	memset(key, 0, sizeof(key));
	assert_int_equal(mqe2e_aead_new(key, &a), MQE2E_OK);
	gcm_kat(a, "000000000000000000000000", "", "", 0, "", 0,
	    "530f8afbc74536b9a963b4f1c4cb738b");
	gcm_kat(a, "000000000000000000000000", "",
	    "00000000000000000000000000000000", 16,
	    "cea7403d4d606b6e074ec5d3baf39d18", 16,
	    "d0d1c8a799996bf0265b98b5d48ab919");
	mqe2e_aead_free(a);

	/* 15 and 16 on one context: the key is set once, each message only
	 * sets its nonce. */
	unhex(gcm_k15, key, sizeof(key));
	assert_int_equal(mqe2e_aead_new(key, &a), MQE2E_OK);
	gcm_kat(a, gcm_iv15, "", gcm_p15, 64, gcm_c15, 64,
	    "b094dac5d93471bdec1a502270e3cc6c");
	gcm_kat(a, gcm_iv15, "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	    gcm_p15, 60, gcm_c15, 60, "76fc6ece0f4e1768cddf8853bb2d551b");
	/* and again, to show that nothing carries over between messages */
	gcm_kat(a, gcm_iv15, "", gcm_p15, 64, gcm_c15, 64,
	    "b094dac5d93471bdec1a502270e3cc6c");
	mqe2e_aead_free(a);
	mqe2e_aead_free(NULL);
}

static void
test_aead_tamper(void **state)
{
	uint8_t key[32], nonce[12], nonce2[12], aad[20], pt[60], sealed[76], out[60];
	struct mqe2e_aead *a = NULL;
	size_t pos[] = { 0, 33, 59, 60, 75 };   /* ciphertext and tag bytes */
	size_t i;

	(void)state;
	unhex(gcm_k15, key, sizeof(key));
	unhex(gcm_iv15, nonce, sizeof(nonce));
	unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad, sizeof(aad));
	{
		uint8_t full[64];

		unhex(gcm_p15, full, sizeof(full));
		memcpy(pt, full, sizeof(pt));
	}
	assert_int_equal(mqe2e_aead_new(key, &a), MQE2E_OK);
	assert_int_equal(mqe2e_aead_seal(a, nonce, aad, sizeof(aad), pt, sizeof(pt),
	    sealed), MQE2E_OK);

	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		sealed[pos[i]] ^= 0x04;
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(mqe2e_aead_open(a, nonce, aad, sizeof(aad), sealed,
		    sizeof(sealed), out), MQE2E_ERR_BAD_TAG);
		assert_true(all_zero(out, sizeof(out)));   /* no plaintext left */
		sealed[pos[i]] ^= 0x04;
	}
	/* A flipped AAD bit. */
	aad[7] ^= 0x80;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(mqe2e_aead_open(a, nonce, aad, sizeof(aad), sealed,
	    sizeof(sealed), out), MQE2E_ERR_BAD_TAG);
	assert_true(all_zero(out, sizeof(out)));
	aad[7] ^= 0x80;
	/* Missing AAD. */
	assert_int_equal(mqe2e_aead_open(a, nonce, NULL, 0, sealed, sizeof(sealed),
	    out), MQE2E_ERR_BAD_TAG);
	/* Another nonce. */
	memcpy(nonce2, nonce, sizeof(nonce2));
	nonce2[11] ^= 1;
	assert_int_equal(mqe2e_aead_open(a, nonce2, aad, sizeof(aad), sealed,
	    sizeof(sealed), out), MQE2E_ERR_BAD_TAG);
	/* A truncated message (tag cut short) and one shorter than a tag. */
	assert_int_equal(mqe2e_aead_open(a, nonce, aad, sizeof(aad), sealed,
	    sizeof(sealed) - 1, out), MQE2E_ERR_BAD_TAG);
	assert_int_equal(mqe2e_aead_open(a, nonce, aad, sizeof(aad), sealed, 15, out),
	    MQE2E_ERR_TRUNCATED);

	/* After all those failures the context still opens the real thing. */
	assert_int_equal(mqe2e_aead_open(a, nonce, aad, sizeof(aad), sealed,
	    sizeof(sealed), out), MQE2E_OK);
	assert_memory_equal(out, pt, sizeof(pt));

	/* In place: out == in. */
	assert_int_equal(mqe2e_aead_open(a, nonce, aad, sizeof(aad), sealed,
	    sizeof(sealed), sealed), MQE2E_OK);
	assert_memory_equal(sealed, pt, sizeof(pt));

	/* In-place seal (out == pt) gives the same bytes as out-of-place. */
	{
		uint8_t ref[76], buf[76];

		assert_int_equal(mqe2e_aead_seal(a, nonce, aad, sizeof(aad), pt,
		    sizeof(pt), ref), MQE2E_OK);
		memcpy(buf, pt, sizeof(pt));
		assert_int_equal(mqe2e_aead_seal(a, nonce, aad, sizeof(aad), buf,
		    sizeof(pt), buf), MQE2E_OK);
		assert_memory_equal(buf, ref, sizeof(ref));
	}

	/* A context under another key refuses it. */
	assert_int_equal(mqe2e_aead_seal(a, nonce, aad, sizeof(aad), pt, sizeof(pt),
	    sealed), MQE2E_OK);
	mqe2e_aead_free(a);
	key[0] ^= 1;
	assert_int_equal(mqe2e_aead_new(key, &a), MQE2E_OK);
	assert_int_equal(mqe2e_aead_open(a, nonce, aad, sizeof(aad), sealed,
	    sizeof(sealed), out), MQE2E_ERR_BAD_TAG);
	assert_true(all_zero(out, sizeof(out)));
	mqe2e_aead_free(a);
}

/* ---- HMAC-SHA256 (RFC 4231) ----------------------------------------------- */

static const char rfc4231_tc7_data[] =
    "This is a test using a larger than block-size key and a larger than "
    "block-size data. The key needs to be hashed before being used by the "
    "HMAC algorithm.";

static void
hmac_kat(const uint8_t *key, size_t key_len, const void *data, size_t len,
    const char *want, size_t tag_len)
{
	struct mqe2e_mac *m = NULL;
	struct mqe2e_iov iov = { data, len };
	uint8_t tag[32];

	assert_int_equal(mqe2e_mac_new(key, key_len, &m), MQE2E_OK);
	assert_int_equal(mqe2e_mac_compute(m, &iov, 1, tag, tag_len), MQE2E_OK);
	assert_hex(tag, tag_len, want);
	/* A second message on the same context gives the same tag. */
	memset(tag, 0, sizeof(tag));
	assert_int_equal(mqe2e_mac_compute(m, &iov, 1, tag, tag_len), MQE2E_OK);
	assert_hex(tag, tag_len, want);
	assert_int_equal(mqe2e_mac_verify(m, &iov, 1, tag, tag_len), MQE2E_OK);
	mqe2e_mac_free(m);
}

static void
test_hmac_rfc4231(void **state)
{
	uint8_t key[131], data[50];
	size_t i;

	(void)state;
	/* 1 */
	memset(key, 0x0b, 20);
	hmac_kat(key, 20, "Hi There", 8,
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 32);
	/* 2 */
	hmac_kat((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 32);
	/* 3 */
	memset(key, 0xaa, 20);
	memset(data, 0xdd, 50);
	hmac_kat(key, 20, data, 50,
	    "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 32);
	/* 4 */
	for (i = 0; i < 25; i++)
		key[i] = (uint8_t)(i + 1);
	memset(data, 0xcd, 50);
	hmac_kat(key, 25, data, 50,
	    "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 32);
	/* 5: truncated to 128 bits */
	memset(key, 0x0c, 20);
	hmac_kat(key, 20, "Test With Truncation", 20,
	    "a3b6167473100ee06e0c796c2955552b", 16);
	/* 6 and 7: a key longer than the block */
	memset(key, 0xaa, 131);
	hmac_kat(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54,
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 32);
	hmac_kat(key, 131, rfc4231_tc7_data, strlen(rfc4231_tc7_data),
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 32);
}

static void
test_hmac_parts_and_tamper(void **state)
{
	struct mqe2e_mac *m = NULL, *m2 = NULL;
	uint8_t key[131], whole[32], tag[32];
	char msg[200];
	size_t len = strlen(rfc4231_tc7_data);
	struct mqe2e_iov one = { rfc4231_tc7_data, len };
	struct mqe2e_iov parts[4] = {
		{ rfc4231_tc7_data, 10 },
		{ NULL, 0 },                         /* empty parts are fine */
		{ rfc4231_tc7_data + 10, 90 },
		{ rfc4231_tc7_data + 100, len - 100 },
	};
	struct mqe2e_iov mod = { msg, len };

	(void)state;
	memset(key, 0xaa, sizeof(key));
	assert_int_equal(mqe2e_mac_new(key, sizeof(key), &m), MQE2E_OK);
	assert_int_equal(mqe2e_mac_compute(m, &one, 1, whole, 32), MQE2E_OK);
	assert_int_equal(mqe2e_mac_compute(m, parts, 4, tag, 32), MQE2E_OK);
	assert_memory_equal(tag, whole, 32);
	assert_int_equal(mqe2e_mac_verify(m, parts, 4, whole, 32), MQE2E_OK);
	assert_int_equal(mqe2e_mac_verify(m, parts, 4, whole, MQE2E_MAC_TAG_LEN), MQE2E_OK);

	/* Every flipped tag bit fails, at 16 and at 32 bytes. */
	for (size_t bit = 0; bit < 32 * 8; bit += 7) {
		memcpy(tag, whole, 32);
		tag[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(mqe2e_mac_verify(m, &one, 1, tag, 32), MQE2E_ERR_BAD_TAG);
		if (bit < 16 * 8)
			assert_int_equal(mqe2e_mac_verify(m, &one, 1, tag, 16),
			    MQE2E_ERR_BAD_TAG);
	}
	/* A flipped message bit fails. */
	assert_true(len < sizeof(msg));
	memcpy(msg, rfc4231_tc7_data, len);
	msg[len - 1] ^= 0x01;
	assert_int_equal(mqe2e_mac_verify(m, &mod, 1, whole, 32), MQE2E_ERR_BAD_TAG);
	/* Moving bytes between parts does not matter (it is the concatenation),
	 * but a dropped byte does. */
	parts[3].len--;
	assert_int_equal(mqe2e_mac_verify(m, parts, 4, whole, 32), MQE2E_ERR_BAD_TAG);
	/* Tags shorter than 16 bytes are refused by verify. */
	assert_int_equal(mqe2e_mac_verify(m, &one, 1, whole, 8), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_mac_compute(m, &one, 1, tag, 33), MQE2E_ERR_INVALID_ARG);
	assert_int_equal(mqe2e_mac_compute(m, &one, 1, tag, 0), MQE2E_ERR_INVALID_ARG);
	/* Another key gives another tag. */
	key[0] ^= 1;
	assert_int_equal(mqe2e_mac_new(key, sizeof(key), &m2), MQE2E_OK);
	assert_int_equal(mqe2e_mac_verify(m2, &one, 1, whole, 32), MQE2E_ERR_BAD_TAG);
	mqe2e_mac_free(m2);
	/* An empty key is refused and the output is NULL. */
	assert_int_equal(mqe2e_mac_new(key, 0, &m2), MQE2E_ERR_INVALID_ARG);
	assert_null(m2);
	mqe2e_mac_free(m);
	mqe2e_mac_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_x25519_rfc7748_5_2),
		cmocka_unit_test(test_x25519_rfc7748_6_1),
		cmocka_unit_test(test_x25519_small_order),
		cmocka_unit_test(test_ed25519_rfc8032),
		cmocka_unit_test(test_ed25519_misuse),
		cmocka_unit_test(test_key_load_pem),
		cmocka_unit_test(test_aead_gcm_vectors),
		cmocka_unit_test(test_aead_tamper),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hmac_parts_and_tamper),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
