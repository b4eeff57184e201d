/*
 * ca.h - the KMS certificate authority: an Ed25519 CA, certificate
 * issuance (from a CSR or a server-generated key) and the CRL.
 *
 * The one place in kms/ that uses OpenSSL directly, for the X509 and
 * X509_CRL builders; every check of a certificate goes through core's
 * crypto.h.  The CA key never leaves this module except to sign through
 * core (kms_ca_key()).
 */
#ifndef KMS_CA_H
#define KMS_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "crypto.h"

#define KMS_CA_CN "mqe2e CA"
#define KMS_CA_DAYS 3650
#define KMS_CRL_DAYS 7
#define KMS_CSR_MAX (16 * 1024)

struct kms_ca;

/*
 * Load DIR/ca.key and DIR/ca.crt, or create both when neither exists
 * (create must then be 1).  One without the other, a key that does not
 * match the certificate, or a certificate that is not a CA is an error
 * naming the file.
 */
int kms_ca_open(const char *dir, int create, struct kms_ca **out, char *err,
    size_t errlen) MQE2E_WUR;
void kms_ca_free(struct kms_ca *ca);

/* Borrowed: the CA certificate as PEM (NUL-terminated), its private key. */
const char *kms_ca_pem(const struct kms_ca *ca);
EVP_PKEY *kms_ca_key(const struct kms_ca *ca);

/*
 * The public key of a PEM CSR after checking it is Ed25519 and its
 * self-signature verifies.  MQE2E_ERR_BAD_FORMAT (unparsable),
 * MQE2E_ERR_BAD_CERT (not Ed25519), MQE2E_ERR_BAD_SIGNATURE.  Caller frees
 * *pub with mqe2e_pkey_free.
 */
int kms_ca_csr_pubkey(const char *csr_pem, size_t len, EVP_PKEY **pub) MQE2E_WUR;

/* The raw Ed25519 public key of a PEM certificate we issued (a stored one):
 * to tell which certificates carry the same key.  MQE2E_ERR_BAD_FORMAT,
 * MQE2E_ERR_BAD_CERT. */
int kms_ca_cert_raw_key(const char *cert_pem, uint8_t raw[32]) MQE2E_WUR;

/* A fresh Ed25519 key and its PKCS#8 PEM (malloc'd, NUL-terminated; wipe
 * and free it: mqe2e_wipe(pem, *pem_len), free(pem)). */
int kms_ca_keygen(EVP_PKEY **key, char **pem, size_t *pem_len) MQE2E_WUR;

/* An issued certificate (strings malloc'd). */
struct kms_issued {
	char serial[MQE2E_SERIAL_HEX_MAX];
	char *cert_pem;
	time_t not_before;
	time_t not_after;
};
void kms_issued_clear(struct kms_issued *is);

/*
 * Issue a certificate for pub with subject CN=name, OU=kind ("client" or
 * "broker"), a random 128-bit serial, valid from now - 60 s for days days.
 */
int kms_ca_issue(const struct kms_ca *ca, EVP_PKEY *pub, const char *name, const char *kind,
    unsigned days, time_t now, struct kms_issued *out) MQE2E_WUR;

/*
 * Issue the KMS's own HTTPS server certificate for pub: subject CN=cn,
 * OU=tls-server (no mqe2e identity: core refuses it as a client, broker or
 * KMS certificate), extended key usage serverAuth only, subjectAltName san
 * in OpenSSL's syntax ("DNS:localhost,IP:127.0.0.1,IP:::1").
 */
int kms_ca_issue_tls(const struct kms_ca *ca, EVP_PKEY *pub, const char *cn, const char *san,
    unsigned days, time_t now, struct kms_issued *out) MQE2E_WUR;

/*
 * Check a TLS server certificate and key (PEM) before serving with them:
 * the key matches the certificate, the certificate is signed by this CA.
 * *not_after gets its expiry.  MQE2E_ERR_BAD_FORMAT (unparsable),
 * MQE2E_ERR_BAD_CERT (key does not match), MQE2E_ERR_UNKNOWN_CA (another
 * CA signed it).
 */
int kms_ca_check_tls(const struct kms_ca *ca, const char *cert_pem, const char *key_pem,
    time_t *not_after) MQE2E_WUR;

/* One revoked certificate for a CRL. */
struct kms_crl_entry {
	const char *serial;   /* lowercase hex */
	time_t revoked_at;
};

/* Build and sign a CRL (number crl_number, lastUpdate now, nextUpdate
 * now + KMS_CRL_DAYS) listing n entries; *pem malloc'd, NUL-terminated. */
int kms_ca_make_crl(const struct kms_ca *ca, const struct kms_crl_entry *e, size_t n,
    int64_t crl_number, time_t now, char **pem, size_t *pem_len) MQE2E_WUR;

#endif
