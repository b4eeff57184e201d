/*
 * tls.c - the KMS's HTTPS server certificate (see tls.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files.h"
#include "tls.h"

#define TLS_PEM_MAX (64 * 1024)
#define TLS_SAN_MAX 4096

int
kms_tls_paths(const struct kmsd_config *c, char *crt, size_t crt_len, char *key, size_t key_len)
{
	if (c->tls_cert_file != NULL) {
		if ((size_t)snprintf(crt, crt_len, "%s", c->tls_cert_file) >= crt_len)
			return MQE2E_ERR_TOO_LONG;
	} else if (kms_path(crt, crt_len, c->data_dir, "tls.crt") != MQE2E_OK) {
		return MQE2E_ERR_TOO_LONG;
	}
	if (c->tls_key_file != NULL) {
		if ((size_t)snprintf(key, key_len, "%s", c->tls_key_file) >= key_len)
			return MQE2E_ERR_TOO_LONG;
	} else if (kms_path(key, key_len, c->data_dir, "tls.key") != MQE2E_OK) {
		return MQE2E_ERR_TOO_LONG;
	}
	return MQE2E_OK;
}

int
kms_tls_exists(const struct kmsd_config *c)
{
	char crt[4096], key[4096];
	int a, b;

	if (kms_tls_paths(c, crt, sizeof(crt), key, sizeof(key)) != MQE2E_OK)
		return -1;
	if ((a = kms_file_exists(crt)) < 0 || (b = kms_file_exists(key)) < 0)
		return -1;
	return a || b;
}

/* Write data to path via path.new and a rename. */
static int
replace_file(const char *path, const void *data, size_t len, unsigned mode, char *err,
    size_t errlen)
{
	char tmp[4200];
	int r;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return MQE2E_ERR_TOO_LONG;
	}
	(void)unlink(tmp);      /* left over by an interrupted renewal */
	if ((r = kms_file_create(tmp, data, len, mode, err, errlen)) != MQE2E_OK)
		return r;
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: cannot replace it: %s", path, strerror(errno));
		(void)unlink(tmp);
		return MQE2E_ERR_IO;
	}
	return MQE2E_OK;
}

int
kms_tls_issue(const struct kms_ca *ca, const struct kmsd_config *c, time_t *not_after,
    char *err, size_t errlen)
{
	const char *names = c->tls_names != NULL ? c->tls_names : KMSD_DEFAULT_TLS_NAMES;
	char crt[4096], key[4096], san[TLS_SAN_MAX], cn[64];
	struct kms_issued is;
	EVP_PKEY *k = NULL;
	char *key_pem = NULL;
	size_t key_len = 0, n;
	int r;

	memset(&is, 0, sizeof(is));
	if (kms_tls_paths(c, crt, sizeof(crt), key, sizeof(key)) != MQE2E_OK) {
		snprintf(err, errlen, "tls_cert_file or tls_key_file: path too long");
		return MQE2E_ERR_TOO_LONG;
	}
	if ((r = kmsd_parse_tls_names(names, san, sizeof(san), err, errlen)) != MQE2E_OK)
		return r;
	/* CN: the first name (clients check the subjectAltName) */
	n = strcspn(names, ",");
	snprintf(cn, sizeof(cn), "%.*s", (int)(n < sizeof(cn) - 1 ? n : sizeof(cn) - 1), names);
	if ((r = kms_ca_keygen(&k, &key_pem, &key_len)) != MQE2E_OK ||
	    (r = kms_ca_issue_tls(ca, k, cn, san, c->tls_days, time(NULL), &is)) != MQE2E_OK) {
		snprintf(err, errlen, "cannot issue the TLS server certificate: %s",
		    mqe2e_strerror(r));
		goto out;
	}
	/* the key first: a certificate is never in place without its key */
	if ((r = replace_file(key, key_pem, key_len, 0600, err, errlen)) != MQE2E_OK ||
	    (r = replace_file(crt, is.cert_pem, strlen(is.cert_pem), 0644, err, errlen)) !=
	    MQE2E_OK)
		goto out;
	*not_after = is.not_after;
	r = MQE2E_OK;
out:
	if (key_pem != NULL) {
		mqe2e_wipe(key_pem, key_len);
		free(key_pem);
	}
	mqe2e_pkey_free(k);
	kms_issued_clear(&is);
	return r;
}

int
kms_tls_load(const struct kms_ca *ca, const struct kmsd_config *c, char **cert_pem,
    char **key_pem, size_t *key_len, time_t *not_after, char *err, size_t errlen)
{
	char crt[4096], key[4096];
	uint8_t *cp = NULL, *kp = NULL;
	size_t cl = 0, kl = 0;
	int r;

	*cert_pem = *key_pem = NULL;
	*key_len = 0;
	if (kms_tls_paths(c, crt, sizeof(crt), key, sizeof(key)) != MQE2E_OK) {
		snprintf(err, errlen, "tls_cert_file or tls_key_file: path too long");
		return MQE2E_ERR_TOO_LONG;
	}
	if (kms_file_exists(crt) == 0 && kms_file_exists(key) == 0)
		return kms_file_problem(err, errlen, crt, ENOENT, "the HTTPS listener needs a "
		    "server certificate: run 'mqe2e-kmsd --renew-tls-cert' (with the same -c/-d) "
		    "to issue one from the KMS CA");
	if ((r = kms_file_read(crt, TLS_PEM_MAX, 0, &cp, &cl, err, errlen)) != MQE2E_OK ||
	    (r = kms_file_read(key, TLS_PEM_MAX, 1, &kp, &kl, err, errlen)) != MQE2E_OK)
		goto out;
	switch ((r = kms_ca_check_tls(ca, (const char *)cp, (const char *)kp, not_after))) {
	case MQE2E_OK:
		break;
	case MQE2E_ERR_BAD_CERT:
		snprintf(err, errlen, "%s does not match %s: run 'mqe2e-kmsd --renew-tls-cert' to "
		    "issue a new pair", key, crt);
		goto out;
	case MQE2E_ERR_UNKNOWN_CA:
		snprintf(err, errlen, "%s was not issued by this KMS's CA (clients would refuse it): "
		    "run 'mqe2e-kmsd --renew-tls-cert'", crt);
		goto out;
	default:
		snprintf(err, errlen, "%s or %s: not a PEM certificate and private key (%s)", crt,
		    key, mqe2e_strerror(r));
		goto out;
	}
	if (*not_after <= time(NULL)) {
		snprintf(err, errlen, "%s has expired: run 'mqe2e-kmsd --renew-tls-cert' and restart",
		    crt);
		r = MQE2E_ERR_CERT_EXPIRED;
		goto out;
	}
	*cert_pem = (char *)cp;
	*key_pem = (char *)kp;
	*key_len = kl;
	cp = kp = NULL;
	r = MQE2E_OK;
out:
	free(cp);
	if (kp != NULL) {
		mqe2e_wipe(kp, kl);
		free(kp);
	}
	return r;
}
