/*
 * test_crypto_fuzz_cert.c - fuzz harness for the certificate and CRL
 * parsers of core/cert.c.
 *
 * Built with -DMQE2E_LIBFUZZER (--enable-fuzzing) it is a libFuzzer target;
 * otherwise main() replays the seed corpus in tests/data/crypto/ together
 * with every truncation and every single-bit flip of each seed, so that
 * make check runs it too.
 */
#include "config.h"

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A trust store for the CRL path: the seed CA, loaded once. */
static struct mqe2e_trust *trust;
/* Results we do not judge still go somewhere (warn_unused_result). */
static volatile int sink;
/* How many inputs verified against the seed CA (replay checks it). */
static unsigned long verified;
#ifndef MQE2E_LIBFUZZER
static unsigned long seeds_verified;
#endif

static const char seed_ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBXzCCARGgAwIBAgICEAAwBQYDK2VwMCYxDDAKBgNVBAsMA2ttczEWMBQGA1UE\n"
    "AwwNbXFlMmUgc2VlZCBDQTAeFw0yNjExMjUwODA4NDlaFw0zNjExMjIwODA4NDla\n"
    "MCYxDDAKBgNVBAsMA2ttczEWMBQGA1UEAwwNbXFlMmUgc2VlZCBDQTAqMAUGAytl\n"
    "cAMhAO7Fokxxh1y2DBnCwtBcvhzkYQZOuv9AV8qOBCASWNuVo2MwYTAdBgNVHQ4E\n"
    "FgQUObq2jg/nv8/z/hr8cyLwZUzwW20wHwYDVR0jBBgwFoAUObq2jg/nv8/z/hr8\n"
    "cyLwZUzwW20wDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwBQYDK2Vw\n"
    "A0EA120OlOvgr4VbyIYmmD2HAN5N+fd/FRLumEtQ8kq2U6WF8eymF/XfF6CHFlTD\n"
    "I1zjuUfodsxZQaKRjRnVMAwEDQ==\n"
    "-----END CERTIFICATE-----\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509 *cert = NULL;
	char id[256], serial[MQE2E_SERIAL_HEX_MAX];
	enum mqe2e_kind kind;
	EVP_PKEY *key = NULL;
	uint8_t *der = NULL;
	size_t len = 0;

	if (trust == NULL && mqe2e_trust_new_from_pem(seed_ca_pem,
	    sizeof(seed_ca_pem) - 1, &trust) != MQE2E_OK)
		abort();

	if (mqe2e_cert_from_der(data, size, &cert) == MQE2E_OK) {
		sink += mqe2e_cert_identity(cert, id, sizeof(id), &kind);
		sink += mqe2e_cert_serial_hex(cert, serial, sizeof(serial));
		if (mqe2e_cert_pubkey(cert, &key) == MQE2E_OK)
			mqe2e_pkey_free(key);
		if (mqe2e_trust_verify(trust, cert, (time_t)1800000000) == MQE2E_OK)
			verified++;
		/* Re-encoding need not give back the input (OpenSSL accepts some
		 * non-DER, e.g. a BOOLEAN TRUE other than 0xff), but the result
		 * must parse again. */
		if (mqe2e_cert_to_der(cert, &der, &len) == MQE2E_OK) {
			X509 *again = NULL;

			if (mqe2e_cert_from_der(der, len, &again) != MQE2E_OK)
				abort();
			mqe2e_cert_free(again);
			mqe2e_free_openssl(der);
		}
		mqe2e_cert_free(cert);
	}
	if (mqe2e_trust_set_crl(trust, data, size) == MQE2E_OK)
		sink += mqe2e_trust_set_crl(trust, NULL, 0);
	return 0;
}

#ifndef MQE2E_LIBFUZZER
static int
replay(const uint8_t *seed, size_t n)
{
	uint8_t *buf = malloc(n ? n : 1);
	size_t i;
	int bit;

	if (buf == NULL)
		return -1;
	verified = 0;
	LLVMFuzzerTestOneInput(seed, n);
	/* The seed leaf verifies; no truncation or bit flip of it may. */
	seeds_verified += verified;
	verified = 0;
	for (i = 0; i < n; i++)
		LLVMFuzzerTestOneInput(seed, i);
	memcpy(buf, seed, n);
	for (i = 0; i < n; i++) {
		for (bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			LLVMFuzzerTestOneInput(buf, n);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	free(buf);
	if (verified != 0) {
		fprintf(stderr, "%lu altered inputs verified\n", verified);
		return -1;
	}
	return 0;
}

int
main(void)
{
	const char *top = getenv("top_srcdir");
	char dir[4096], path[4352];
	struct dirent *de;
	DIR *d;
	int seeds = 0;

	if (top == NULL)
		top = "..";
	snprintf(dir, sizeof(dir), "%s/tests/data/crypto", top);
	if ((d = opendir(dir)) == NULL) {
		perror(dir);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		uint8_t buf[65536];
		size_t n;
		FILE *fp;

		if (strstr(de->d_name, ".der") == NULL)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((fp = fopen(path, "rb")) == NULL) {
			perror(path);
			closedir(d);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		if (replay(buf, n) != 0) {
			closedir(d);
			return 1;
		}
		printf("replayed %s (%zu bytes)\n", de->d_name, n);
		seeds++;
	}
	closedir(d);
	mqe2e_trust_free(trust);
	if (seeds == 0) {
		fprintf(stderr, "no seeds in %s\n", dir);
		return 1;
	}
	if (seeds_verified == 0) {
		fprintf(stderr, "no seed verified against the seed CA\n");
		return 1;
	}
	return 0;
}
#endif
