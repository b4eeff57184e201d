/* identity.c - who I am: certificate, DER copy, private key. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"

void
mqe2e_identity_free(struct mqe2e_identity *id)
{
	if (id == NULL)
		return;
	mqe2e_cert_free(id->cert);
	mqe2e_pkey_free(id->key);
	free(id->cert_der);
	mqe2e_wipe(id, sizeof(*id));
	free(id);
}

/* MQE2E_OK if key is the private half of cert's public key;
 * MQE2E_ERR_ID_MISMATCH if it is another Ed25519 key; MQE2E_ERR_BAD_CERT if
 * either is not Ed25519. */
static int
key_matches(X509 *cert, EVP_PKEY *key)
{
	EVP_PKEY *cert_pub = NULL;
	uint8_t a[32], b[32];
	int r;

	if ((r = mqe2e_cert_pubkey(cert, &cert_pub)) == MQE2E_OK &&
	    (r = mqe2e_ed25519_raw_public(cert_pub, a)) == MQE2E_OK &&
	    (r = mqe2e_ed25519_raw_public(key, b)) == MQE2E_OK)
		r = memcmp(a, b, sizeof(a)) == 0 ? MQE2E_OK : MQE2E_ERR_ID_MISMATCH;
	else
		r = MQE2E_ERR_BAD_CERT;
	mqe2e_pkey_free(cert_pub);
	return r;
}

int
mqe2e_identity_new(X509 *cert, EVP_PKEY *key, struct mqe2e_identity **out)
{
	struct mqe2e_identity *id = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	int r;

	*out = NULL;
	if (cert == NULL || key == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((id = calloc(1, sizeof(*id))) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((r = key_matches(cert, key)) != MQE2E_OK) {
		r = MQE2E_ERR_BAD_CERT;
		goto out;
	}
	if ((r = mqe2e_cert_identity(cert, id->id, sizeof(id->id), &id->kind)) != MQE2E_OK ||
	    (r = mqe2e_cert_serial_hex(cert, id->serial, sizeof(id->serial))) != MQE2E_OK ||
	    (r = mqe2e_cert_to_der(cert, &der, &der_len)) != MQE2E_OK)
		goto out;
	if (!mqe2e_id_valid_str(id->id) || der_len == 0 || der_len > MQE2E_CERT_MAX) {
		r = MQE2E_ERR_BAD_CERT;
		goto out;
	}
	if ((id->cert_der = malloc(der_len)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	memcpy(id->cert_der, der, der_len);
	id->cert_der_len = der_len;
	id->cert = cert;
	id->key = key;
	*out = id;
	id = NULL;
out:
	mqe2e_free_openssl(der);
	if (id != NULL) {
		free(id->cert_der);
		free(id);
	}
	return r;
}

int
mqe2e_identity_load(const char *cert_pem_path, const char *key_pem_path,
    struct mqe2e_identity **out, char *errbuf, size_t errlen)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	int r;

	*out = NULL;
	if ((r = mqe2e_cert_load_pem(cert_pem_path, &cert, errbuf, errlen)) != MQE2E_OK ||
	    (r = mqe2e_key_load_pem(key_pem_path, &key, errbuf, errlen)) != MQE2E_OK)
		goto out;
	if (key_matches(cert, key) == MQE2E_ERR_ID_MISMATCH) {
		r = MQE2E_ERR_BAD_CERT;
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "the private key %s does not match the certificate "
			    "%s (the certificate was issued for another key): give the key the "
			    "certificate was issued for, or issue a certificate for this key "
			    "(mqe2e-kmsctl cert issue --csr)", key_pem_path, cert_pem_path);
		goto out;
	}
	if ((r = mqe2e_identity_new(cert, key, out)) != MQE2E_OK) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s and %s: %s", cert_pem_path, key_pem_path,
			    mqe2e_strerror(r));
		goto out;
	}
	cert = NULL;
	key = NULL;
out:
	mqe2e_cert_free(cert);
	mqe2e_pkey_free(key);
	return r;
}
