/*
 * client_unit.c - libmqe2e without a network: configuration parsing, the
 * checks of mqe2e_client_new (and that its messages name the file and what
 * to do), argument checks of publish/subscribe, and a connect to a KMS that
 * is not there.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "mqe2e.h"
#include "testpki.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "%s:%d: check failed: %s\n", \
	__FILE__, __LINE__, #cond); failures++; } } while (0)

static char dir[] = "/tmp/client_unit.XXXXXX";
static char path_buf[4][512];

static const char *
path(int slot, const char *name)
{
	snprintf(path_buf[slot], sizeof(path_buf[slot]), "%s/%s", dir, name);
	return path_buf[slot];
}

static void
write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(p);
		exit(1);
	}
}

static void
write_cert(const char *p, X509 *x)
{
	FILE *f = fopen(p, "w");

	if (f == NULL || !PEM_write_X509(f, x) || fclose(f) != 0) {
		perror(p);
		exit(1);
	}
}

static void
write_key(const char *p, EVP_PKEY *k)
{
	FILE *f = fopen(p, "w");

	if (f == NULL || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f) != 0) {
		perror(p);
		exit(1);
	}
}

static void
test_config(void)
{
	struct mqe2e_config *cfg = NULL;
	char err[512];

	CHECK(mqe2e_config_new(&cfg) == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "broker", "tcp://127.0.0.1:1") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "keepalive", "30") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "keepalive", "3") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "keepalive", "65535") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "keepalive", "65536") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "keepalive", "70000") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "key_refresh_s", "86400") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "key_refresh_s", "86401") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "key_refresh_s", "9") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "pair_refresh_s", "0") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "pair_refresh_s", "600") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "hold_max", "0") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "hold_max", "100000") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "hold_max", "100001") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "hold_s", "0") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "hold_s", "3600") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "hold_s", "3601") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "recipients", "a,b") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "keepalive", "99999999999999999999") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "keepalive", "-5") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "keepalive", "12x") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "keepalive", "") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "cert", "") == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_config_set(cfg, "no_such_option", "1") == MQE2E_ERR_NOT_FOUND);

	write_file(path(0, "good.conf"), "# a comment\n\n  broker   tcp://h:2  \n"
	    "kms http://127.0.0.1:9\r\nkey_refresh_s 60\n");
	CHECK(mqe2e_config_load(cfg, path(0, "good.conf"), err, sizeof(err)) == MQE2E_OK);

	write_file(path(0, "bad.conf"), "broker tcp://h:2\nbogus 1\n");
	CHECK(mqe2e_config_load(cfg, path(0, "bad.conf"), err, sizeof(err)) == MQE2E_ERR_NOT_FOUND);
	CHECK(strstr(err, "bad.conf:2") != NULL && strstr(err, "bogus") != NULL);

	write_file(path(0, "badval.conf"), "keepalive many\n");
	CHECK(mqe2e_config_load(cfg, path(0, "badval.conf"), err, sizeof(err)) ==
	    MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "badval.conf:1") != NULL && strstr(err, "keepalive") != NULL);

	CHECK(mqe2e_config_load(cfg, path(0, "missing.conf"), err, sizeof(err)) == MQE2E_ERR_IO);
	CHECK(strstr(err, "missing.conf") != NULL);
	mqe2e_config_free(cfg);
	mqe2e_config_free(NULL);
}

static void
noop_cb(void *arg, const struct mqe2e_message *m)
{
	(void)arg;
	(void)m;
}

static void
client_unit(void)
{
	EVP_PKEY *ca_key = tp_key(1), *key = tp_key(2), *other = tp_key(3);
	time_t now = time(NULL);
	X509 *ca = tp_ca("test CA", ca_key);
	X509 *leaf = tp_leaf("alice", "client", "0a", key, ca, ca_key, now - 3600, now + 3600);
	struct mqe2e_config *cfg = NULL;
	struct mqe2e_client *c = NULL;
	char err[512], msg[512];
	int r;

	write_cert(path(1, "ca.crt"), ca);
	write_cert(path(2, "alice.crt"), leaf);
	write_key(path(3, "alice.key"), key);

	CHECK(mqe2e_config_new(&cfg) == MQE2E_OK);
	/* nothing configured: says which option is missing */
	CHECK(mqe2e_client_new(cfg, &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG && c == NULL);
	CHECK(strstr(err, "--cert") != NULL);

	CHECK(mqe2e_config_set(cfg, "cert", path(0, "nope.crt")) == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "key", path(3, "alice.key")) == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "cafile", path(1, "ca.crt")) == MQE2E_OK);
	CHECK(mqe2e_client_new(cfg, &c, err, sizeof(err)) != MQE2E_OK && c == NULL);
	CHECK(strstr(err, "nope.crt") != NULL);

	/* a key that does not belong to the certificate */
	write_key(path(0, "other.key"), other);
	CHECK(mqe2e_config_set(cfg, "cert", path(2, "alice.crt")) == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "key", path(0, "other.key")) == MQE2E_OK);
	CHECK(mqe2e_client_new(cfg, &c, err, sizeof(err)) != MQE2E_OK && c == NULL);
	CHECK(mqe2e_config_set(cfg, "key", path(3, "alice.key")) == MQE2E_OK);

	/* client id other than the certificate's */
	CHECK(mqe2e_config_set(cfg, "client_id", "bob") == MQE2E_OK);
	CHECK(mqe2e_client_new(cfg, &c, err, sizeof(err)) == MQE2E_ERR_ID_MISMATCH);
	CHECK(strstr(err, "alice") != NULL && strstr(err, "bob") != NULL);
	CHECK(mqe2e_config_set(cfg, "client_id", "alice") == MQE2E_OK);

	/* a recipient that is not a client id */
	CHECK(mqe2e_config_set(cfg, "recipients", "good,bad id") == MQE2E_OK);
	CHECK(mqe2e_client_new(cfg, &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "bad id") != NULL);
	CHECK(mqe2e_config_set(cfg, "recipients", "s1,,s2,s1") == MQE2E_OK);

	/* a bad broker URI */
	CHECK(mqe2e_config_set(cfg, "broker", "gopher://x") == MQE2E_OK);
	CHECK(mqe2e_client_new(cfg, &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "gopher://x") != NULL);

	/* good: nothing listens on port 9 of loopback */
	CHECK(mqe2e_config_set(cfg, "broker", "tcp://127.0.0.1:9") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "kms", "http://127.0.0.1:9") == MQE2E_OK);
	CHECK(mqe2e_config_set(cfg, "kms_timeout_ms", "2000") == MQE2E_OK);
	r = mqe2e_client_new(cfg, &c, err, sizeof(err));
	CHECK(r == MQE2E_OK && c != NULL);
	mqe2e_config_free(cfg);
	if (c == NULL) {
		fprintf(stderr, "mqe2e_client_new: %s\n", err);
		goto out;
	}
	CHECK(strcmp(mqe2e_client_id(c), "alice") == 0);
	CHECK(!mqe2e_is_connected(c));

	/* no KMS: a clear error naming the URL */
	CHECK(mqe2e_connect(c, 3000) == MQE2E_ERR_UNAVAILABLE);
	mqe2e_client_errmsg(c, msg, sizeof(msg));
	CHECK(strstr(msg, "http://127.0.0.1:9") != NULL && strstr(msg, "KMS") != NULL);

	/* argument checks */
	CHECK(mqe2e_publish(c, "a/+/b", "x", 1, 0, 0, 100) == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_publish(c, "", "x", 1, 0, 0, 100) == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_publish(c, "a", "x", 1, 3, 0, 100) == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_subscribe(c, "a/#/b", 0, noop_cb, NULL, 100) == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_subscribe(c, "a/b+", 0, noop_cb, NULL, 100) == MQE2E_ERR_INVALID_ARG);
	CHECK(mqe2e_subscribe(c, "a/+", 5, noop_cb, NULL, 100) == MQE2E_ERR_INVALID_ARG);
	/* valid, but never connected */
	CHECK(mqe2e_subscribe(c, "a/+/#", 0, noop_cb, NULL, 100) == MQE2E_ERR_UNAVAILABLE);
	mqe2e_client_errmsg(c, msg, sizeof(msg));
	CHECK(strstr(msg, "a/+/#") != NULL);
	CHECK(mqe2e_disconnect(c, 100) == MQE2E_OK);
out:
	mqe2e_client_free(c);
	mqe2e_client_free(NULL);
	mqe2e_cert_free(leaf);
	mqe2e_cert_free(ca);
	mqe2e_pkey_free(key);
	mqe2e_pkey_free(other);
	mqe2e_pkey_free(ca_key);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_config();
	client_unit();
	unlink(path(0, "good.conf"));
	unlink(path(0, "bad.conf"));
	unlink(path(0, "badval.conf"));
	unlink(path(0, "other.key"));
	unlink(path(1, "ca.crt"));
	unlink(path(2, "alice.crt"));
	unlink(path(3, "alice.key"));
	rmdir(dir);
	if (failures != 0) {
		fprintf(stderr, "client_unit: %d checks failed\n", failures);
		return 1;
	}
	printf("client_unit: all checks passed\n");
	return 0;
}
