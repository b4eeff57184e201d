/*
 * conn15_trust - libmqe2e clients of one process, each with its own CA file,
 * connected one after another and kept up, for conn15_trust.sh:
 *
 *   conn15_trust BROKER_URI KMS_URL PKI_DIR ID:CAFILE:EXPECT[:cache|:nokms]...
 *
 * Client ID (PKI_DIR/ID.crt, ID.key) with `cafile` CAFILE connects; EXPECT
 * is "up" (mqe2e_connect must succeed) or "refused" (it must fail).  No key
 * cache, unless "cache" (the default file beside the key: written when the
 * client is freed) or "nokms" (the same file, and a KMS URL where nothing
 * listens, NOKMS_URL, so that the keys come from the cache and only the
 * broker's certificate is checked against CAFILE).  The
 * clients that came up stay up until the end, so every later client shares
 * the process with them (and with the CA trust libmqe2e shares between
 * clients of the same CA certificate).  stdout, one line per client:
 *   up ID
 *   refused ID: <the client's error message>
 * Exit 0 when every client did as expected, 1 otherwise.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqe2e.h"

#define MAX_CLIENTS 16
#define NOKMS_URL "http://127.0.0.1:1"

/* One client from its arguments: 0 as expected, 1 not, 2 set-up failure. */
static int
one(const char *broker, const char *kms, const char *pki, const char *spec,
    struct mqe2e_client **out)
{
	struct mqe2e_config *cfg = NULL;
	char id[64], cafile[1024], expect[32], path[1200], err[512], *opt;
	const char *a, *b;
	int r, up, cache = 0, nokms = 0;

	*out = NULL;
	/* ID:CAFILE:EXPECT[:OPT]: the CA file path holds no ':' here */
	if ((a = strchr(spec, ':')) == NULL || (b = strchr(a + 1, ':')) == NULL ||
	    (size_t)(a - spec) >= sizeof(id) || (size_t)(b - a - 1) >= sizeof(cafile) ||
	    strlen(b + 1) >= sizeof(expect)) {
		fprintf(stderr, "bad client spec '%s' (ID:CAFILE:up|refused[:cache|:nokms])\n",
		    spec);
		return 2;
	}
	memcpy(id, spec, (size_t)(a - spec));
	id[a - spec] = '\0';
	memcpy(cafile, a + 1, (size_t)(b - a - 1));
	cafile[b - a - 1] = '\0';
	strcpy(expect, b + 1);
	if ((opt = strchr(expect, ':')) != NULL) {
		*opt++ = '\0';
		cache = strcmp(opt, "cache") == 0;
		nokms = strcmp(opt, "nokms") == 0;
		if (!cache && !nokms) {
			fprintf(stderr, "bad option '%s' for %s\n", opt, id);
			return 2;
		}
	}
	if (strcmp(expect, "up") != 0 && strcmp(expect, "refused") != 0) {
		fprintf(stderr, "bad expectation '%s' for %s\n", expect, id);
		return 2;
	}
	if (mqe2e_config_new(&cfg) != MQE2E_OK)
		return 2;
	snprintf(path, sizeof(path), "%s/%s.crt", pki, id);
	r = mqe2e_config_set(cfg, "cert", path);
	snprintf(path, sizeof(path), "%s/%s.key", pki, id);
	if (r != MQE2E_OK || mqe2e_config_set(cfg, "key", path) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "cafile", cafile) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "broker", broker) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "kms", nokms ? NOKMS_URL : kms) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "kms_timeout_ms", "1500") != MQE2E_OK ||
	    mqe2e_config_set(cfg, "key_cache", cache || nokms ? "1" : "0") != MQE2E_OK) {
		mqe2e_config_free(cfg);
		return 2;
	}
	r = mqe2e_client_new(cfg, out, err, sizeof(err));
	mqe2e_config_free(cfg);
	if (r != MQE2E_OK) {
		fprintf(stderr, "%s: %s\n", id, err);
		return 2;
	}
	up = mqe2e_connect(*out, 15000) == MQE2E_OK;
	if (up)
		printf("up %s\n", id);
	else
		printf("refused %s: %s\n", id, mqe2e_client_errmsg(*out, err, sizeof(err)));
	fflush(stdout);
	return up == (strcmp(expect, "up") == 0) ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct mqe2e_client *c[MAX_CLIENTS];
	int i, n, bad = 0, r;

	if (argc < 5 || argc - 4 > MAX_CLIENTS) {
		fprintf(stderr, "usage: conn15_trust BROKER_URI KMS_URL PKI_DIR "
		    "ID:CAFILE:up|refused... (at most %d)\n", MAX_CLIENTS);
		return 2;
	}
	n = argc - 4;
	memset(c, 0, sizeof(c));
	for (i = 0; i < n; i++) {
		if ((r = one(argv[1], argv[2], argv[3], argv[4 + i], &c[i])) == 2) {
			bad = 1;
			break;
		}
		bad |= r;
	}
	for (i = 0; i < n; i++)
		mqe2e_client_free(c[i]);
	return bad ? 1 : 0;
}
