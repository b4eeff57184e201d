/* testpki.c - deterministic test PKI (see testpki.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "testpki.h"

#define YEAR_2025 ((time_t)1735689600)
#define YEAR_2036 ((time_t)2082758400)

void
tp_check(int r, const char *what)
{
	if (r != MQE2E_OK) {
		fprintf(stderr, "testpki: %s: %s\n", what, mqe2e_strerror(r));
		abort();
	}
}

static void
need(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "testpki: %s failed\n", what);
		abort();
	}
}

EVP_PKEY *
tp_key(uint8_t seed_byte)
{
	uint8_t seed[32];
	EVP_PKEY *k = NULL;

	memset(seed, seed_byte, sizeof(seed));
	tp_check(mqe2e_ed25519_from_seed(seed, &k), "ed25519 from seed");
	return k;
}

static void
ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	need((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) != NULL, "extension");
	need(X509_add_ext(cert, e, -1) == 1, "add extension");
	X509_EXTENSION_free(e);
}

static X509 *
build(const char *cn, const char *ou, const char *serial, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *issuer_key, time_t nb, time_t na, int is_ca)
{
	X509 *c = X509_new();
	X509_NAME *name;
	BIGNUM *bn = NULL;

	need(c != NULL, "X509_new");
	need(X509_set_version(c, 2) == 1, "version");
	need(BN_hex2bn(&bn, serial) > 0, "serial");
	need(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) != NULL, "serial");
	BN_free(bn);
	need(ASN1_TIME_set(X509_getm_notBefore(c), nb) != NULL, "notBefore");
	need(ASN1_TIME_set(X509_getm_notAfter(c), na) != NULL, "notAfter");
	name = X509_get_subject_name(c);
	need(X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const unsigned char *)ou,
	    -1, -1, 0) == 1, "OU");
	need(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn,
	    -1, -1, 0) == 1, "CN");
	need(X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name) == 1,
	    "issuer");
	need(X509_set_pubkey(c, key) == 1, "pubkey");
	ext(c, issuer != NULL ? issuer : c, NID_subject_key_identifier, "hash");
	ext(c, issuer != NULL ? issuer : c, NID_authority_key_identifier, "keyid:always");
	ext(c, issuer != NULL ? issuer : c, NID_basic_constraints,
	    is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	ext(c, issuer != NULL ? issuer : c, NID_key_usage,
	    is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	need(X509_sign(c, issuer_key, NULL) > 0, "sign");
	return c;
}

X509 *
tp_ca(const char *cn, EVP_PKEY *ca_key)
{
	return build(cn, "kms", "1000", ca_key, NULL, ca_key, YEAR_2025, YEAR_2036, 1);
}

X509 *
tp_leaf(const char *cn, const char *ou, const char *serial, EVP_PKEY *key, X509 *ca,
    EVP_PKEY *ca_key, time_t nb, time_t na)
{
	return build(cn, ou, serial, key, ca, ca_key, nb, na, 0);
}

struct mqe2e_trust *
tp_trust(X509 *ca)
{
	BIO *b = BIO_new(BIO_s_mem());
	struct mqe2e_trust *t = NULL;
	char *p;
	long l;

	need(b != NULL && PEM_write_bio_X509(b, ca) == 1, "PEM");
	l = BIO_get_mem_data(b, &p);
	tp_check(mqe2e_trust_new_from_pem(p, (size_t)l, &t), "trust");
	BIO_free(b);
	return t;
}

struct mqe2e_identity *
tp_identity(const char *cn, const char *ou, const char *serial, uint8_t seed_byte, X509 *ca,
    EVP_PKEY *ca_key)
{
	EVP_PKEY *k = tp_key(seed_byte);
	X509 *c = tp_leaf(cn, ou, serial, k, ca, ca_key, YEAR_2025, YEAR_2036);
	struct mqe2e_identity *id = NULL;

	tp_check(mqe2e_identity_new(c, k, &id), "identity");
	return id;
}
