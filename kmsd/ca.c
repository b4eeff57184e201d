/*
 * ca.c - the KMS certificate authority (see ca.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "files.h"

#define PEM_MAX (64 * 1024)

struct kms_ca {
	EVP_PKEY *key;
	X509 *cert;
	char *pem;
};

const char *
kms_ca_pem(const struct kms_ca *ca)
{
	return ca->pem;
}

EVP_PKEY *
kms_ca_key(const struct kms_ca *ca)
{
	return ca->key;
}

void
kms_ca_free(struct kms_ca *ca)
{
	if (ca == NULL)
		return;
	mqe2e_pkey_free(ca->key);
	mqe2e_cert_free(ca->cert);
	free(ca->pem);
	free(ca);
}

void
kms_issued_clear(struct kms_issued *is)
{
	if (is == NULL)
		return;
	free(is->cert_pem);
	memset(is, 0, sizeof(*is));
}

/* Free a memory BIO that held a private key, wiping its contents first;
 * NULL is a no-op. */
static void
bio_free_wiped(BIO *bio)
{
	char *data;
	long n;

	if (bio == NULL)
		return;
	if ((n = BIO_get_mem_data(bio, &data)) > 0)
		mqe2e_wipe(data, (size_t)n);
	BIO_free(bio);
}

/* The contents of a memory BIO as a malloc'd NUL-terminated string. */
static int
bio_to_str(BIO *bio, char **out, size_t *out_len)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	char *s;

	if (n <= 0)
		return MQE2E_ERR_CRYPTO;
	if ((s = malloc((size_t)n + 1)) == NULL)
		return MQE2E_ERR_NOMEM;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*out = s;
	if (out_len != NULL)
		*out_len = (size_t)n;
	return MQE2E_OK;
}

static int
cert_to_pem(X509 *cert, char **out)
{
	BIO *bio;
	int r = MQE2E_ERR_CRYPTO;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return MQE2E_ERR_NOMEM;
	if (PEM_write_bio_X509(bio, cert) == 1)
		r = bio_to_str(bio, out, NULL);
	BIO_free(bio);
	return r;
}

static int
add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int ok;

	if ((ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value)) == NULL)
		return MQE2E_ERR_CRYPTO;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? MQE2E_OK : MQE2E_ERR_CRYPTO;
}

/* A random positive 128-bit serial with its top byte non-zero. */
static int
random_serial(X509 *cert)
{
	uint8_t raw[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;
	int r;

	if ((r = mqe2e_random(raw, sizeof(raw))) != MQE2E_OK)
		return r;
	raw[0] = (uint8_t)((raw[0] & 0x7f) | 0x40);
	r = MQE2E_ERR_CRYPTO;
	if ((bn = BN_bin2bn(raw, sizeof(raw), NULL)) == NULL ||
	    (ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    X509_set_serialNumber(cert, ai) != 1)
		goto out;
	r = MQE2E_OK;
 out:
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return r;
}

/*
 * The common part of every certificate: v3, serial, subject, issuer,
 * validity, public key, subject key identifier.
 */
static int
build_cert(X509 *cert, X509 *issuer, EVP_PKEY *pub, const char *cn, const char *ou,
    time_t now, unsigned days)
{
	X509_NAME *name = NULL;
	int r = MQE2E_ERR_CRYPTO;

	if (X509_set_version(cert, X509_VERSION_3) != 1 || random_serial(cert) != MQE2E_OK)
		goto out;
	if ((name = X509_NAME_new()) == NULL)
		goto out;
	if (ou != NULL && X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8,
	    (const unsigned char *)ou, -1, -1, 0) != 1)
		goto out;
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(cert, name) != 1 ||
	    X509_set_issuer_name(cert, issuer != NULL ? X509_get_subject_name(issuer) : name) != 1)
		goto out;
	if (X509_time_adj_ex(X509_getm_notBefore(cert), 0, -60, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, &now) == NULL ||
	    X509_set_pubkey(cert, pub) != 1)
		goto out;
	r = MQE2E_OK;
 out:
	X509_NAME_free(name);
	return r;
}

static int
create_ca(const char *key_path, const char *crt_path, char *err, size_t errlen)
{
	uint8_t seed[32];
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	X509V3_CTX ctx;
	BIO *bio = NULL;
	char *key_pem = NULL, *crt_pem = NULL;
	size_t key_len = 0;
	time_t now = time(NULL);
	int r;

	if ((r = mqe2e_random(seed, sizeof(seed))) != MQE2E_OK ||
	    (r = mqe2e_ed25519_from_seed(seed, &key)) != MQE2E_OK)
		goto fail;
	r = MQE2E_ERR_NOMEM;
	if ((cert = X509_new()) == NULL)
		goto fail;
	if ((r = build_cert(cert, NULL, key, KMS_CA_CN, NULL, now, KMS_CA_DAYS)) != MQE2E_OK)
		goto fail;
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	if ((r = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE")) != MQE2E_OK ||
	    (r = add_ext(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign")) != MQE2E_OK ||
	    (r = add_ext(cert, &ctx, NID_subject_key_identifier, "hash")) != MQE2E_OK)
		goto fail;
	r = MQE2E_ERR_CRYPTO;
	if (X509_sign(cert, key, NULL) <= 0)
		goto fail;
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (r = bio_to_str(bio, &key_pem, &key_len)) != MQE2E_OK)
		goto fail;
	if ((r = cert_to_pem(cert, &crt_pem)) != MQE2E_OK)
		goto fail;
	if ((r = kms_file_create(key_path, key_pem, key_len, 0600, err, errlen)) != MQE2E_OK)
		goto out;
	if ((r = kms_file_create(crt_path, crt_pem, strlen(crt_pem), 0644, err, errlen)) != MQE2E_OK) {
		(void)remove(key_path);
		goto out;
	}
	r = MQE2E_OK;
	goto out;
 fail:
	snprintf(err, errlen, "cannot create the CA (%s): %s", key_path, mqe2e_strerror(r));
 out:
	mqe2e_wipe(seed, sizeof(seed));
	if (key_pem != NULL) {
		mqe2e_wipe(key_pem, key_len);
		free(key_pem);
	}
	free(crt_pem);
	bio_free_wiped(bio);
	X509_free(cert);
	mqe2e_pkey_free(key);
	ERR_clear_error();
	return r;
}

int
kms_ca_open(const char *dir, int create, struct kms_ca **out, char *err, size_t errlen)
{
	char key_path[4096], crt_path[4096];
	struct kms_ca *ca = NULL;
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	int have_key, have_crt, r;

	*out = NULL;
	if (kms_path(key_path, sizeof(key_path), dir, "ca.key") != MQE2E_OK ||
	    kms_path(crt_path, sizeof(crt_path), dir, "ca.crt") != MQE2E_OK) {
		snprintf(err, errlen, "%s: path too long", dir);
		return MQE2E_ERR_TOO_LONG;
	}
	if ((have_key = kms_file_exists(key_path)) < 0)
		return kms_file_problem(err, errlen, key_path, errno, NULL);
	if ((have_crt = kms_file_exists(crt_path)) < 0)
		return kms_file_problem(err, errlen, crt_path, errno, NULL);
	if (have_key == 0 && have_crt == 0 && create) {
		if ((r = create_ca(key_path, crt_path, err, errlen)) != MQE2E_OK)
			return r;
	} else if (have_key != 1 || have_crt != 1)
		return kms_file_problem(err, errlen, have_key != 1 ? key_path : crt_path, ENOENT,
		    "the CA needs both ca.key and ca.crt: restore them from a backup (without "
		    "them no certificate or key response can be signed)");
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return MQE2E_ERR_NOMEM;
	/* Warn about loose permissions before the core loader reads it. */
	if ((r = kms_file_read(key_path, PEM_MAX, 1, &pem, &pem_len, err, errlen)) != MQE2E_OK)
		goto out;
	mqe2e_wipe(pem, pem_len);
	free(pem);
	pem = NULL;
	if ((r = mqe2e_key_load_pem(key_path, &ca->key, err, errlen)) != MQE2E_OK ||
	    (r = mqe2e_cert_load_pem(crt_path, &ca->cert, err, errlen)) != MQE2E_OK)
		goto out;
	r = MQE2E_ERR_BAD_CERT;
	if (X509_check_ca(ca->cert) == 0) {
		snprintf(err, errlen, "%s: not a CA certificate", crt_path);
		goto out;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		snprintf(err, errlen, "%s does not match %s: restore the pair from a backup",
		    key_path, crt_path);
		goto out;
	}
	if ((r = cert_to_pem(ca->cert, &ca->pem)) != MQE2E_OK) {
		snprintf(err, errlen, "%s: cannot encode: %s", crt_path, mqe2e_strerror(r));
		goto out;
	}
	*out = ca;
	ca = NULL;
	r = MQE2E_OK;
 out:
	kms_ca_free(ca);
	ERR_clear_error();
	return r;
}

int
kms_ca_csr_pubkey(const char *csr_pem, size_t len, EVP_PKEY **pub)
{
	BIO *bio = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *key = NULL;
	int r = MQE2E_ERR_BAD_FORMAT;

	*pub = NULL;
	if (csr_pem == NULL || len == 0 || len > KMS_CSR_MAX)
		return MQE2E_ERR_BAD_FORMAT;
	if ((bio = BIO_new_mem_buf(csr_pem, (int)len)) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL)) == NULL)
		goto out;
	r = MQE2E_ERR_BAD_CERT;
	if ((key = X509_REQ_get_pubkey(req)) == NULL || !EVP_PKEY_is_a(key, "ED25519"))
		goto out;
	r = MQE2E_ERR_BAD_SIGNATURE;
	if (X509_REQ_verify(req, key) != 1)
		goto out;
	*pub = key;
	key = NULL;
	r = MQE2E_OK;
 out:
	EVP_PKEY_free(key);
	X509_REQ_free(req);
	BIO_free(bio);
	ERR_clear_error();
	return r;
}

int
kms_ca_cert_raw_key(const char *cert_pem, uint8_t raw[32])
{
	BIO *bio = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int r = MQE2E_ERR_BAD_FORMAT;
	size_t len = strlen(cert_pem);

	if (len == 0 || len > KMS_CSR_MAX)
		return MQE2E_ERR_BAD_FORMAT;
	if ((bio = BIO_new_mem_buf(cert_pem, (int)len)) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL &&
	    (r = mqe2e_cert_pubkey(cert, &key)) == MQE2E_OK)
		r = mqe2e_ed25519_raw_public(key, raw);
	mqe2e_pkey_free(key);
	X509_free(cert);
	BIO_free(bio);
	ERR_clear_error();
	return r;
}

int
kms_ca_keygen(EVP_PKEY **key, char **pem, size_t *pem_len)
{
	uint8_t seed[32];
	EVP_PKEY *k = NULL;
	BIO *bio = NULL;
	int r;

	*key = NULL;
	*pem = NULL;
	*pem_len = 0;
	if ((r = mqe2e_random(seed, sizeof(seed))) != MQE2E_OK ||
	    (r = mqe2e_ed25519_from_seed(seed, &k)) != MQE2E_OK)
		goto out;
	r = MQE2E_ERR_CRYPTO;
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (r = bio_to_str(bio, pem, pem_len)) != MQE2E_OK)
		goto out;
	*key = k;
	k = NULL;
	r = MQE2E_OK;
 out:
	mqe2e_wipe(seed, sizeof(seed));
	bio_free_wiped(bio);
	mqe2e_pkey_free(k);
	ERR_clear_error();
	return r;
}

/* The part of kms_ca_issue and kms_ca_issue_tls after the subject: the
 * extensions (san: a TLS server certificate's names, or NULL), the
 * signature, the PEM. */
static int
issue(const struct kms_ca *ca, EVP_PKEY *pub, const char *name, const char *ou, const char *san,
    unsigned days, time_t now, struct kms_issued *out)
{
	X509 *cert = NULL;
	X509V3_CTX ctx;
	int r = MQE2E_ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	if ((cert = X509_new()) == NULL)
		goto out;
	if ((r = build_cert(cert, ca->cert, pub, name, ou, now, days)) != MQE2E_OK)
		goto out;
	X509V3_set_ctx(&ctx, ca->cert, cert, NULL, NULL, 0);
	if ((r = add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE")) != MQE2E_OK ||
	    (r = add_ext(cert, &ctx, NID_key_usage, "critical,digitalSignature")) != MQE2E_OK ||
	    (r = add_ext(cert, &ctx, NID_subject_key_identifier, "hash")) != MQE2E_OK ||
	    (r = add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always")) != MQE2E_OK)
		goto out;
	if (san != NULL &&
	    ((r = add_ext(cert, &ctx, NID_ext_key_usage, "serverAuth")) != MQE2E_OK ||
	    (r = add_ext(cert, &ctx, NID_subject_alt_name, san)) != MQE2E_OK))
		goto out;
	r = MQE2E_ERR_CRYPTO;
	if (X509_sign(cert, ca->key, NULL) <= 0)
		goto out;
	if ((r = mqe2e_cert_serial_hex(cert, out->serial, sizeof(out->serial))) != MQE2E_OK ||
	    (r = cert_to_pem(cert, &out->cert_pem)) != MQE2E_OK)
		goto out;
	out->not_before = now - 60;
	out->not_after = now + (time_t)days * 86400;
	r = MQE2E_OK;
 out:
	if (r != MQE2E_OK)
		kms_issued_clear(out);
	X509_free(cert);
	ERR_clear_error();
	return r;
}

int
kms_ca_issue(const struct kms_ca *ca, EVP_PKEY *pub, const char *name, const char *kind,
    unsigned days, time_t now, struct kms_issued *out)
{
	return issue(ca, pub, name, kind, NULL, days, now, out);
}

int
kms_ca_issue_tls(const struct kms_ca *ca, EVP_PKEY *pub, const char *cn, const char *san,
    unsigned days, time_t now, struct kms_issued *out)
{
	if (san == NULL || *san == '\0')
		return MQE2E_ERR_INVALID_ARG;
	return issue(ca, pub, cn, "tls-server", san, days, now, out);
}

int
kms_ca_make_crl(const struct kms_ca *ca, const struct kms_crl_entry *e, size_t n,
    int64_t crl_number, time_t now, char **pem, size_t *pem_len)
{
	X509_CRL *crl = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *ext = NULL;
	X509V3_CTX ctx;
	BIO *bio = NULL;
	size_t i;
	int r = MQE2E_ERR_NOMEM;

	*pem = NULL;
	if ((crl = X509_CRL_new()) == NULL || (t = ASN1_TIME_new()) == NULL ||
	    (num = ASN1_INTEGER_new()) == NULL)
		goto out;
	r = MQE2E_ERR_CRYPTO;
	if (X509_CRL_set_version(crl, X509_CRL_VERSION_2) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) != 1 ||
	    ASN1_TIME_set(t, now) == NULL || X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    ASN1_TIME_adj(t, now, KMS_CRL_DAYS, 0) == NULL || X509_CRL_set1_nextUpdate(crl, t) != 1)
		goto out;
	for (i = 0; i < n; i++) {
		X509_REVOKED *rv = NULL;
		BIGNUM *bn = NULL;
		ASN1_INTEGER *ai = NULL;
		int ok = 0;

		if (BN_hex2bn(&bn, e[i].serial) > 0 && (ai = BN_to_ASN1_INTEGER(bn, NULL)) != NULL &&
		    (rv = X509_REVOKED_new()) != NULL && X509_REVOKED_set_serialNumber(rv, ai) == 1 &&
		    ASN1_TIME_set(t, e[i].revoked_at) != NULL &&
		    X509_REVOKED_set_revocationDate(rv, t) == 1 && X509_CRL_add0_revoked(crl, rv) == 1)
			ok = 1;
		if (!ok)
			X509_REVOKED_free(rv);
		ASN1_INTEGER_free(ai);
		BN_free(bn);
		if (!ok)
			goto out;
	}
	if (ASN1_INTEGER_set_int64(num, crl_number) != 1 ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1)
		goto out;
	X509V3_set_ctx(&ctx, ca->cert, NULL, NULL, crl, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier,
	    "keyid:always")) == NULL || X509_CRL_add_ext(crl, ext, -1) != 1)
		goto out;
	if (X509_CRL_sort(crl) != 1 || X509_CRL_sign(crl, ca->key, NULL) <= 0)
		goto out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509_CRL(bio, crl) != 1)
		goto out;
	r = bio_to_str(bio, pem, pem_len);
 out:
	BIO_free(bio);
	X509_EXTENSION_free(ext);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	ERR_clear_error();
	return r;
}

int
kms_ca_check_tls(const struct kms_ca *ca, const char *cert_pem, const char *key_pem,
    time_t *not_after)
{
	BIO *cb = NULL, *kb = NULL;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	struct tm tm;
	int r = MQE2E_ERR_BAD_FORMAT;

	if ((cb = BIO_new_mem_buf(cert_pem, -1)) == NULL ||
	    (kb = BIO_new_mem_buf(key_pem, -1)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if ((cert = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL ||
	    (key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL)
		goto out;
	r = MQE2E_ERR_BAD_CERT;
	if (X509_check_private_key(cert, key) != 1)
		goto out;
	r = MQE2E_ERR_UNKNOWN_CA;
	if (X509_verify(cert, ca->key) != 1)
		goto out;
	r = MQE2E_ERR_BAD_FORMAT;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		goto out;
	*not_after = timegm(&tm);
	r = MQE2E_OK;
 out:
	mqe2e_pkey_free(key);
	X509_free(cert);
	BIO_free(cb);
	BIO_free(kb);
	ERR_clear_error();
	return r;
}
