/*
 * cert.c - X.509 certificates of mqe2e entities and the trust store that
 * checks them: one Ed25519 CA, an optional CRL signed by it and a set of
 * revoked serials pushed by the KMS.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "crypto.h"

static void
set_err(char *errbuf, size_t errlen, const char *path, const char *what)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s: %s", path, what);
}

static int
is_ed25519(EVP_PKEY *key)
{
	return key != NULL && EVP_PKEY_is_a(key, "ED25519");
}

/* ---- certificates --------------------------------------------------------- */

int
mqe2e_cert_from_der(const uint8_t *der, size_t len, X509 **out)
{
	const unsigned char *p = der;
	X509 *cert = NULL;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (der == NULL || len == 0)
		return MQE2E_ERR_BAD_CERT;
	if (len > MQE2E_CERT_DER_MAX)
		return MQE2E_ERR_TOO_LONG;
	if ((cert = d2i_X509(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		return MQE2E_ERR_BAD_CERT;
	}
	if (p != der + len) {   /* bytes after the certificate */
		X509_free(cert);
		return MQE2E_ERR_BAD_CERT;
	}
	*out = cert;
	return MQE2E_OK;
}

int
mqe2e_cert_load_pem(const char *path, X509 **out, char *errbuf, size_t errlen)
{
	FILE *fp;
	X509 *cert;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (path == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((fp = fopen(path, "r")) == NULL) {
		set_err(errbuf, errlen, path, strerror(errno));
		return MQE2E_ERR_IO;
	}
	cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (cert == NULL) {
		ERR_clear_error();
		set_err(errbuf, errlen, path, "not a PEM certificate");
		return MQE2E_ERR_BAD_CERT;
	}
	*out = cert;
	return MQE2E_OK;
}

int
mqe2e_cert_to_der(X509 *cert, uint8_t **der, size_t *len)
{
	unsigned char *buf = NULL;
	int n;

	if (der == NULL || len == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*der = NULL;
	*len = 0;
	if (cert == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((n = i2d_X509(cert, &buf)) <= 0) {
		ERR_clear_error();
		return MQE2E_ERR_CRYPTO;
	}
	*der = buf;
	*len = (size_t)n;
	return MQE2E_OK;
}

void
mqe2e_cert_free(X509 *cert)
{
	X509_free(cert);
}

void
mqe2e_free_openssl(void *p)
{
	OPENSSL_free(p);
}

/*
 * The one entry of type nid in name, as UTF-8 into out.  Fails with
 * BAD_CERT if it is missing, repeated, empty, or holds control characters,
 * and with TOO_LONG if it does not fit out (with its NUL).
 */
static int
name_entry(X509_NAME *name, int nid, char *out, size_t out_len)
{
	X509_NAME_ENTRY *e;
	unsigned char *utf8 = NULL;
	int idx, n, i, r = MQE2E_ERR_BAD_CERT;

	if ((idx = X509_NAME_get_index_by_NID(name, nid, -1)) < 0 ||
	    X509_NAME_get_index_by_NID(name, nid, idx) >= 0)
		goto out;
	if ((e = X509_NAME_get_entry(name, idx)) == NULL)
		goto out;
	if ((n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e))) <= 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (utf8[i] < 0x20 || utf8[i] == 0x7f)
			goto out;
	}
	if ((size_t)n >= out_len) {
		r = MQE2E_ERR_TOO_LONG;
		goto out;
	}
	memcpy(out, utf8, (size_t)n);
	out[n] = '\0';
	r = MQE2E_OK;
 out:
	OPENSSL_free(utf8);
	ERR_clear_error();
	return r;
}

int
mqe2e_cert_identity(X509 *cert, char *out, size_t out_len, enum mqe2e_kind *kind)
{
	X509_NAME *name;
	char ou[16];
	int r;

	if (cert == NULL || out == NULL || out_len == 0)
		return MQE2E_ERR_INVALID_ARG;
	out[0] = '\0';
	if ((name = X509_get_subject_name(cert)) == NULL)
		return MQE2E_ERR_BAD_CERT;
	if ((r = name_entry(name, NID_organizationalUnitName, ou, sizeof(ou))) != MQE2E_OK)
		return MQE2E_ERR_BAD_CERT;
	if (kind != NULL) {
		if (strcmp(ou, "client") == 0)
			*kind = MQE2E_KIND_CLIENT;
		else if (strcmp(ou, "broker") == 0)
			*kind = MQE2E_KIND_BROKER;
		else if (strcmp(ou, "kms") == 0)
			*kind = MQE2E_KIND_KMS;
		else
			return MQE2E_ERR_BAD_CERT;
	} else if (strcmp(ou, "client") != 0 && strcmp(ou, "broker") != 0 &&
	    strcmp(ou, "kms") != 0)
		return MQE2E_ERR_BAD_CERT;
	if ((r = name_entry(name, NID_commonName, out, out_len)) != MQE2E_OK) {
		out[0] = '\0';
		return r;
	}
	return MQE2E_OK;
}

int
mqe2e_cert_serial_hex(X509 *cert, char *out, size_t out_len)
{
	BIGNUM *bn = NULL;
	char *hex = NULL;
	size_t n, i;
	int r = MQE2E_ERR_BAD_CERT;

	if (cert == NULL || out == NULL || out_len == 0)
		return MQE2E_ERR_INVALID_ARG;
	out[0] = '\0';
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) == NULL)
		goto out;
	if (BN_is_negative(bn))
		goto out;
	if ((hex = BN_bn2hex(bn)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	n = strlen(hex);
	if (n + 1 > MQE2E_SERIAL_HEX_MAX)
		goto out;
	if (n + 1 > out_len) {
		r = MQE2E_ERR_TOO_LONG;
		goto out;
	}
	for (i = 0; i < n; i++) {
		char c = hex[i];

		out[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	r = MQE2E_OK;
 out:
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return r;
}

int
mqe2e_cert_pubkey(X509 *cert, EVP_PKEY **out)
{
	EVP_PKEY *key;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (cert == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((key = X509_get_pubkey(cert)) == NULL) {
		ERR_clear_error();
		return MQE2E_ERR_BAD_CERT;
	}
	if (!is_ed25519(key)) {
		EVP_PKEY_free(key);
		return MQE2E_ERR_BAD_CERT;
	}
	*out = key;
	return MQE2E_OK;
}

/* ---- trust store ---------------------------------------------------------- */

/*
 * A certificate this trust has verified, keyed by SHA-256 of its DER.  An
 * entry holds what does not change while the trust lives: the certificate
 * chains to the CA, its signature and extensions are right, and it is valid
 * within [not_before, not_after] (its validity and the CA's intersected), so a
 * hit needs a time in that window.  Revocation does change - the KMS pushes a
 * new revoked set or CRL with every policy, for any grant or enrolment - so it
 * is not part of an entry: every lookup, hit or miss, checks the serial
 * against the CRL and the revoked serials held now (is_revoked).  Voiding the
 * whole table at each such push instead (until session 14) made every client
 * that connected after any policy change, and every requester after any CRL,
 * pay the full parse and verification again.
 *
 * The table starts at TRUST_CACHE_MIN slots and doubles, up to
 * TRUST_CACHE_SLOTS, while more than half of it holds entries or a set
 * overflows.  A slot is a pointer and an entry (~400 bytes) is allocated
 * when a certificate is cached, so the memory follows the certificates held,
 * not the slots: with the entries in the slots themselves, 200 clients'
 * certificates usually doubled the table to 1024 or 2048 slots (a set of 4
 * overflowing before it was half full) - 0.4-0.8 MB allocated, a page
 * touched per client - against 16 KB of slots and 80 KB of entries now
 * (issue 15).  Allocated at its maximum (8192 entries), before session 5, it
 * had been 0.8 MB of a broker's RSS.
 */
#define TRUST_CACHE_SLOTS 8192          /* power of two */
#define TRUST_CACHE_MIN 64              /* power of two, >= TRUST_CACHE_WAYS */
#define TRUST_CACHE_WAYS 4              /* a set of 4: two certificates whose
                                         * fingerprints meet in one slot do not
                                         * evict each other on every request */

struct trust_cached {
	uint8_t fp[MQE2E_SHA256_LEN];
	uint64_t used;                  /* t->ticks at the last hit or put */
	time_t not_before, not_after;
	ASN1_INTEGER *serial;           /* for the CRL lookup at each hit */
	struct mqe2e_cert_info info;    /* info.pub: the entry's reference */
};

struct mqe2e_trust {
	X509 *ca;
	X509_STORE *store;
	X509_CRL *crl;                          /* NULL: none */
	char (*revoked)[MQE2E_SERIAL_HEX_MAX];  /* sorted, canonical */
	size_t n_revoked;
	time_t ca_not_before, ca_not_after;
	pthread_mutex_t cache_mu;               /* the cache (taken alone) */
	struct trust_cached **cache;            /* nslots (NULL: empty), or NULL */
	size_t nslots;                          /* TRUST_CACHE_MIN..TRUST_CACHE_SLOTS */
	size_t nused;                           /* slots holding an entry */
	uint64_t hits, misses, ticks;
};

/* A certificate time as seconds since the epoch (0 on failure: such a
 * certificate is never cached). */
static time_t
asn1_time_t(const ASN1_TIME *a)
{
	struct tm tm;

	if (a == NULL || ASN1_TIME_to_tm(a, &tm) != 1)
		return 0;
	return timegm(&tm);
}

static int
cmp_serial(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * Canonical form of a serial given as hex: lowercase, leading zeros dropped,
 * padded to an even number of digits ("0" for zero) - what
 * mqe2e_cert_serial_hex produces.  BAD_FORMAT on anything but hex digits.
 */
static int
canon_serial(const char *in, char out[MQE2E_SERIAL_HEX_MAX])
{
	size_t n, i, o = 0;

	if (in == NULL)
		return MQE2E_ERR_BAD_FORMAT;
	while (*in == '0')
		in++;
	n = strlen(in);
	if (n == 0) {
		out[0] = '0';
		out[1] = '\0';
		return MQE2E_OK;
	}
	if (n + (n & 1) + 1 > MQE2E_SERIAL_HEX_MAX)
		return MQE2E_ERR_BAD_FORMAT;
	if (n & 1)
		out[o++] = '0';
	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return MQE2E_ERR_BAD_FORMAT;
		out[o++] = c;
	}
	out[o] = '\0';
	return MQE2E_OK;
}

static int
trust_from_cert(X509 *ca, struct mqe2e_trust **out)
{
	struct mqe2e_trust *t = NULL;
	int r = MQE2E_ERR_BAD_CERT;

	if (!is_ed25519(X509_get0_pubkey(ca)) || X509_check_ca(ca) < 1)
		goto out;
	r = MQE2E_ERR_NOMEM;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto out;
	if ((t->store = X509_STORE_new()) == NULL)
		goto out;
	r = MQE2E_ERR_CRYPTO;
	if (X509_STORE_add_cert(t->store, ca) != 1)
		goto out;
	/* Our CA is the anchor even if it is not self-signed. */
	if (X509_STORE_set_flags(t->store, X509_V_FLAG_PARTIAL_CHAIN) != 1)
		goto out;
	pthread_mutex_init(&t->cache_mu, NULL);
	t->ca_not_before = asn1_time_t(X509_get0_notBefore(ca));
	t->ca_not_after = asn1_time_t(X509_get0_notAfter(ca));
	t->ca = ca;
	ca = NULL;
	*out = t;
	t = NULL;
	r = MQE2E_OK;
 out:
	X509_free(ca);
	mqe2e_trust_free(t);
	ERR_clear_error();
	return r;
}

int
mqe2e_trust_new(const char *ca_pem_path, struct mqe2e_trust **out, char *errbuf, size_t errlen)
{
	X509 *ca = NULL;
	int r;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if ((r = mqe2e_cert_load_pem(ca_pem_path, &ca, errbuf, errlen)) != MQE2E_OK)
		return r;
	if ((r = trust_from_cert(ca, out)) != MQE2E_OK)
		set_err(errbuf, errlen, ca_pem_path,
		    "not an Ed25519 CA certificate (needs CA:TRUE)");
	return r;
}

int
mqe2e_trust_new_from_pem(const char *ca_pem, size_t len, struct mqe2e_trust **out)
{
	BIO *bio;
	X509 *ca;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if (ca_pem == NULL || len == 0)
		return MQE2E_ERR_INVALID_ARG;
	if (len > INT_MAX)
		return MQE2E_ERR_TOO_LONG;
	if ((bio = BIO_new_mem_buf(ca_pem, (int)len)) == NULL)
		return MQE2E_ERR_NOMEM;
	ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (ca == NULL) {
		ERR_clear_error();
		return MQE2E_ERR_BAD_CERT;
	}
	return trust_from_cert(ca, out);
}

/* Free what an entry holds and empty it. */
static void
entry_clear(struct trust_cached *c)
{
	EVP_PKEY_free(c->info.pub);
	ASN1_INTEGER_free(c->serial);
	memset(c, 0, sizeof(*c));
}

/* Free an entry (NULL: nothing). */
static void
entry_free(struct trust_cached *c)
{
	if (c == NULL)
		return;
	entry_clear(c);
	free(c);
}

void
mqe2e_trust_free(struct mqe2e_trust *t)
{
	if (t == NULL)
		return;
	if (t->ca != NULL) {   /* set up completely: the mutex exists */
		size_t i;

		for (i = 0; t->cache != NULL && i < t->nslots; i++)
			entry_free(t->cache[i]);
		free(t->cache);
		pthread_mutex_destroy(&t->cache_mu);
	}
	X509_STORE_free(t->store);
	X509_free(t->ca);
	X509_CRL_free(t->crl);
	free(t->revoked);
	free(t);
}

int
mqe2e_trust_set_crl(struct mqe2e_trust *t, const uint8_t *crl, size_t len)
{
	X509_CRL *c = NULL;
	EVP_PKEY *ca_key;
	int r = MQE2E_ERR_BAD_FORMAT;
	static const char pem_start[] = "-----BEGIN";

	if (t == NULL || (crl == NULL && len != 0))
		return MQE2E_ERR_INVALID_ARG;
	if (len == 0) {
		X509_CRL_free(t->crl);
		t->crl = NULL;
		return MQE2E_OK;
	}
	if (len > INT_MAX)
		return MQE2E_ERR_TOO_LONG;
	if (len >= sizeof(pem_start) - 1 &&
	    memcmp(crl, pem_start, sizeof(pem_start) - 1) == 0) {
		BIO *bio;

		if ((bio = BIO_new_mem_buf(crl, (int)len)) == NULL) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
		c = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
		if (c == NULL)
			goto out;
	} else {
		const unsigned char *p = crl;

		if ((c = d2i_X509_CRL(NULL, &p, (long)len)) == NULL)
			goto out;
		if (p != crl + len)
			goto out;
	}
	r = MQE2E_ERR_UNKNOWN_CA;
	if (X509_NAME_cmp(X509_CRL_get_issuer(c), X509_get_subject_name(t->ca)) != 0)
		goto out;
	ca_key = X509_get0_pubkey(t->ca);
	if (ca_key == NULL || X509_CRL_verify(c, ca_key) != 1) {
		r = MQE2E_ERR_BAD_SIGNATURE;
		goto out;
	}
	/* Refuse to roll back to an older CRL than the one we hold. */
	if (t->crl != NULL && ASN1_TIME_compare(X509_CRL_get0_lastUpdate(c),
	    X509_CRL_get0_lastUpdate(t->crl)) < 0) {
		r = MQE2E_ERR_CONFLICT;
		goto out;
	}
	X509_CRL_free(t->crl);
	t->crl = c;
	c = NULL;
	r = MQE2E_OK;
 out:
	X509_CRL_free(c);
	ERR_clear_error();
	return r;
}

int
mqe2e_trust_set_revoked(struct mqe2e_trust *t, const char *const *serials, size_t n)
{
	char (*set)[MQE2E_SERIAL_HEX_MAX] = NULL;
	size_t i;
	int r;

	if (t == NULL || (serials == NULL && n != 0))
		return MQE2E_ERR_INVALID_ARG;
	if (n > 0) {
		if ((set = calloc(n, sizeof(*set))) == NULL)
			return MQE2E_ERR_NOMEM;
		for (i = 0; i < n; i++) {
			if ((r = canon_serial(serials[i], set[i])) != MQE2E_OK) {
				free(set);
				return r;
			}
		}
		qsort(set, n, sizeof(*set), cmp_serial);
	}
	free(t->revoked);
	t->revoked = set;
	t->n_revoked = n;
	return MQE2E_OK;
}

static int
map_verify_error(int err)
{
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return MQE2E_ERR_CERT_EXPIRED;
	case X509_V_ERR_CERT_REVOKED:
		return MQE2E_ERR_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_AKID_SKID_MISMATCH:
	case X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
		return MQE2E_ERR_UNKNOWN_CA;
	default:
		return MQE2E_ERR_BAD_CERT;
	}
}

/* 1 if the serial (canonical hex, and as in the certificate) is in the
 * revoked set or listed in the CRL (X509_CRL_get0_by_serial: 1 listed; 2
 * listed as removeFromCRL, i.e. no longer on hold). */
static int
is_revoked(struct mqe2e_trust *t, const char *serial_hex, const ASN1_INTEGER *serial)
{
	X509_REVOKED *rev = NULL;

	if (t->n_revoked > 0 && bsearch(serial_hex, t->revoked, t->n_revoked,
	    sizeof(*t->revoked), cmp_serial) != NULL)
		return 1;
	return t->crl != NULL && X509_CRL_get0_by_serial(t->crl, &rev, serial) == 1;
}

int
mqe2e_trust_verify(struct mqe2e_trust *t, X509 *cert, time_t now)
{
	X509_STORE_CTX *ctx = NULL;
	char serial[MQE2E_SERIAL_HEX_MAX];
	int r = MQE2E_ERR_BAD_CERT;

	if (t == NULL || cert == NULL)
		return MQE2E_ERR_INVALID_ARG;
	/* Entity certificates carry an Ed25519 key, are not CAs, and may sign
	 * (if keyUsage is present it must include digitalSignature). */
	if (!is_ed25519(X509_get0_pubkey(cert)) || X509_check_ca(cert) != 0 ||
	    (X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0)
		goto out;
	if ((ctx = X509_STORE_CTX_new()) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, t->store, cert, NULL) != 1) {
		r = MQE2E_ERR_CRYPTO;
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, now);
	if (X509_verify_cert(ctx) != 1) {
		r = map_verify_error(X509_STORE_CTX_get_error(ctx));
		goto out;
	}
	if ((r = mqe2e_cert_serial_hex(cert, serial, sizeof(serial))) != MQE2E_OK) {
		r = MQE2E_ERR_BAD_CERT;
		goto out;
	}
	r = is_revoked(t, serial, X509_get0_serialNumber(cert)) ? MQE2E_ERR_REVOKED : MQE2E_OK;
 out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

/* The first of the TRUST_CACHE_WAYS slots of a fingerprint's set. */
static struct trust_cached **
set_of(struct trust_cached **cache, size_t nslots, const uint8_t fp[MQE2E_SHA256_LEN])
{
	size_t i = ((size_t)fp[0] | (size_t)fp[1] << 8 | (size_t)fp[2] << 16) &
	    (nslots / TRUST_CACHE_WAYS - 1);

	return &cache[i * TRUST_CACHE_WAYS];
}

static struct trust_cached **
cache_set(struct mqe2e_trust *t, const uint8_t fp[MQE2E_SHA256_LEN])
{
	return set_of(t->cache, t->nslots, fp);
}

/* Twice the slots (cache_mu held): the entries move over.  Stays as it was
 * without memory. */
static void
cache_grow(struct mqe2e_trust *t)
{
	size_t n = t->nslots * 2, i;
	struct trust_cached **nc, **set;
	int w;

	if (n > TRUST_CACHE_SLOTS || (nc = calloc(n, sizeof(*nc))) == NULL)
		return;
	t->nused = 0;
	for (i = 0; i < t->nslots; i++) {
		if (t->cache[i] == NULL)
			continue;
		set = set_of(nc, n, t->cache[i]->fp);
		for (w = 0; w < TRUST_CACHE_WAYS && set[w] != NULL; w++)
			;
		if (w == TRUST_CACHE_WAYS) {    /* cannot happen: set i's entries go to
		                                   i and i + nslots / WAYS only */
			entry_free(t->cache[i]);
			continue;
		}
		set[w] = t->cache[i];
		t->nused++;
	}
	free(t->cache);
	t->cache = nc;
	t->nslots = n;
}

/* A hit: out filled (new key reference), 1; a hit on a certificate revoked
 * now: 2 (out untouched); else 0. */
static int
cache_get(struct mqe2e_trust *t, const uint8_t fp[MQE2E_SHA256_LEN], time_t now,
    struct mqe2e_cert_info *out)
{
	struct trust_cached *c;
	int hit = 0, w;

	pthread_mutex_lock(&t->cache_mu);
	for (w = 0; t->cache != NULL && w < TRUST_CACHE_WAYS && !hit; w++) {
		c = cache_set(t, fp)[w];
		if (c == NULL || memcmp(c->fp, fp, MQE2E_SHA256_LEN) != 0 ||
		    now < c->not_before || now > c->not_after)
			continue;
		c->used = ++t->ticks;
		if (is_revoked(t, c->info.serial, c->serial))
			hit = 2;
		else if (EVP_PKEY_up_ref(c->info.pub) == 1) {
			*out = c->info;
			hit = 1;
		}
	}
	if (hit)
		t->hits++;
	else
		t->misses++;
	pthread_mutex_unlock(&t->cache_mu);
	return hit;
}

/* Remember a verified certificate. */
static void
cache_put(struct mqe2e_trust *t, const uint8_t fp[MQE2E_SHA256_LEN], X509 *cert,
    const struct mqe2e_cert_info *info)
{
	time_t nb = asn1_time_t(X509_get0_notBefore(cert));
	time_t na = asn1_time_t(X509_get0_notAfter(cert));
	struct trust_cached **slot, *c;
	ASN1_INTEGER *serial;

	if (nb == 0 || na == 0 || t->ca_not_before == 0 || t->ca_not_after == 0)
		return;
	if (nb < t->ca_not_before)
		nb = t->ca_not_before;
	if (na > t->ca_not_after)
		na = t->ca_not_after;
	if ((serial = ASN1_INTEGER_dup(X509_get0_serialNumber(cert))) == NULL)
		return;
	pthread_mutex_lock(&t->cache_mu);
	if (t->cache == NULL && (t->cache = calloc(TRUST_CACHE_MIN, sizeof(*t->cache))) != NULL) {
		t->nslots = TRUST_CACHE_MIN;
		t->nused = 0;
	}
	if (t->cache != NULL && t->nused > t->nslots / 2)
		cache_grow(t);
	if (t->cache != NULL && EVP_PKEY_up_ref(info->pub) == 1) {
		struct trust_cached **set;
		size_t was;
		int w;

		/* the same certificate, else an empty slot, else the least
		 * recently used - once the table cannot grow: while it can, a
		 * full set doubles it (a set's entries split over two, so the
		 * move loses none) */
		do {
			set = cache_set(t, fp);
			slot = set;
			for (w = 0; w < TRUST_CACHE_WAYS; w++) {
				if (set[w] != NULL &&
				    memcmp(set[w]->fp, fp, MQE2E_SHA256_LEN) == 0) {
					slot = &set[w];
					break;
				}
				if (*slot != NULL && (set[w] == NULL || set[w]->used < (*slot)->used))
					slot = &set[w];
			}
			was = t->nslots;
			if (w == TRUST_CACHE_WAYS && *slot != NULL)
				cache_grow(t);
		} while (t->nslots != was);
		c = *slot;
		if (c != NULL)
			entry_clear(c);         /* replaced: the count stays */
		else if ((c = calloc(1, sizeof(*c))) != NULL) {
			*slot = c;
			t->nused++;
		}
		if (c != NULL) {
			memcpy(c->fp, fp, MQE2E_SHA256_LEN);
			c->used = ++t->ticks;
			c->not_before = nb;
			c->not_after = na;
			c->serial = serial;
			serial = NULL;
			c->info = *info;
		} else
			EVP_PKEY_free(info->pub);       /* no memory: not kept */
	}
	pthread_mutex_unlock(&t->cache_mu);
	ASN1_INTEGER_free(serial);
}

int
mqe2e_trust_verify_der(struct mqe2e_trust *t, const uint8_t *der, size_t len, time_t now,
    struct mqe2e_cert_info *out)
{
	struct mqe2e_cert_info info;
	uint8_t fp[MQE2E_SHA256_LEN];
	X509 *cert = NULL;
	int r;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	memset(&info, 0, sizeof(info));
	if (t == NULL || der == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (len > MQE2E_CERT_DER_MAX)
		return MQE2E_ERR_TOO_LONG;
	if ((r = mqe2e_sha256(der, len, fp)) != MQE2E_OK)
		return r;
	switch (cache_get(t, fp, now, out)) {
	case 1:
		return MQE2E_OK;
	case 2:
		return MQE2E_ERR_REVOKED;
	default:
		break;
	}
	if ((r = mqe2e_cert_from_der(der, len, &cert)) != MQE2E_OK ||
	    (r = mqe2e_trust_verify(t, cert, now)) != MQE2E_OK)
		goto out;
	if (mqe2e_cert_identity(cert, info.id, sizeof(info.id), &info.kind) != MQE2E_OK) {
		r = MQE2E_ERR_BAD_CERT;
		goto out;
	}
	if ((r = mqe2e_cert_serial_hex(cert, info.serial, sizeof(info.serial))) != MQE2E_OK ||
	    (r = mqe2e_cert_pubkey(cert, &info.pub)) != MQE2E_OK)
		goto out;
	cache_put(t, fp, cert, &info);
	*out = info;
	info.pub = NULL;
 out:
	EVP_PKEY_free(info.pub);
	mqe2e_cert_free(cert);
	return r;
}

void
mqe2e_trust_cache_stats(struct mqe2e_trust *t, uint64_t *hits, uint64_t *misses)
{
	*hits = *misses = 0;
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->cache_mu);
	*hits = t->hits;
	*misses = t->misses;
	pthread_mutex_unlock(&t->cache_mu);
}

EVP_PKEY *
mqe2e_trust_ca_key(struct mqe2e_trust *t)
{
	if (t == NULL)
		return NULL;
	return X509_get0_pubkey(t->ca);
}

int
mqe2e_trust_ca_fingerprint(const struct mqe2e_trust *t, uint8_t out[MQE2E_SHA256_LEN])
{
	unsigned int n = 0;

	if (t == NULL || t->ca == NULL || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (X509_digest(t->ca, EVP_sha256(), out, &n) != 1 || n != MQE2E_SHA256_LEN) {
		ERR_clear_error();
		return MQE2E_ERR_CRYPTO;
	}
	return MQE2E_OK;
}
