/*
 * tls.h - the KMS's HTTPS server certificate.
 *
 * Issued by the KMS's own CA (ca.c) when the data directory is initialised
 * and by `mqe2e-kmsd --renew-tls-cert`, for the names of tls_names (DNS
 * names and IP addresses; default localhost, 127.0.0.1, ::1), kept in
 * tls_cert_file / tls_key_file (default DATA_DIR/tls.crt, tls.key).
 * Clients, brokers and mqe2e-kmsctl verify it with the CA certificate they
 * already hold.  The key is a fresh Ed25519 key: GnuTLS (libmicrohttpd's
 * TLS) serves it and OpenSSL (libcurl's) verifies it, in TLS 1.3 and 1.2.
 */
#ifndef KMS_TLS_H
#define KMS_TLS_H

#include <stddef.h>
#include "ca.h"
#include "conf.h"

/* The certificate and key paths: the settings or DATA_DIR/tls.{crt,key}. */
int kms_tls_paths(const struct kmsd_config *c, char *crt, size_t crt_len, char *key,
    size_t key_len) MQE2E_WUR;

/* 1 if the certificate or the key file exists, 0 if neither does, -1 if
 * they cannot be looked at. */
int kms_tls_exists(const struct kmsd_config *c);

/*
 * Issue a new key and certificate and put them in place of the old ones
 * (written next to them, then renamed).  *not_after gets the expiry.
 */
int kms_tls_issue(const struct kms_ca *ca, const struct kmsd_config *c, time_t *not_after,
    char *err, size_t errlen) MQE2E_WUR;

/*
 * Read and check them for serving: the key matches, this CA signed the
 * certificate, it has not expired.  *cert_pem and *key_pem are malloc'd and
 * NUL-terminated; the caller wipes key_pem (key_len bytes) and frees both.
 * Errors name the file and the command that fixes it.
 */
int kms_tls_load(const struct kms_ca *ca, const struct kmsd_config *c, char **cert_pem,
    char **key_pem, size_t *key_len, time_t *not_after, char *err, size_t errlen) MQE2E_WUR;

#endif
