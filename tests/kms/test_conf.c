/*
 * test_conf.c - unit tests of the config file parser and its setters.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "conf.h"


/* Write text to a temporary file; returns its path (static buffer). */
static const char *
tmpfile_with(const char *text)
{
	static char path[64];
	FILE *fp;
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_conf.XXXXXX");
	if ((fd = mkstemp(path)) < 0 || (fp = fdopen(fd, "w")) == NULL) {
		perror("mkstemp");
		exit(99);
	}
	fputs(text, fp);
	fclose(fp);
	return path;
}

static int
load(const char *text, struct kmsd_config *c, char *err, size_t errlen)
{
	const char *path = tmpfile_with(text);
	int r;

	kmsd_config_init(c);
	err[0] = '\0';
	r = kmsd_config_load(c, path, err, errlen);
	unlink(path);
	return r;
}

static void
test_file(void)
{
	struct kmsd_config c;
	char err[512];

	CHECK(load("# comment\n\ndata_dir = /var/lib/kms\n  listen=127.0.0.1:9000  \n"
	    "max_connections = 10\r\ncert_days=30\naudit = /tmp/a b.log\n", &c, err,
	    sizeof(err)) == MQE2E_OK);
	CHECK(c.data_dir != NULL && strcmp(c.data_dir, "/var/lib/kms") == 0);
	CHECK(c.listen != NULL && strcmp(c.listen, "127.0.0.1:9000") == 0);
	CHECK(c.audit_path != NULL && strcmp(c.audit_path, "/tmp/a b.log") == 0);
	CHECK(c.max_connections == 10 && c.cert_days == 30);
	CHECK(c.per_ip_connections == 32);   /* default kept */
	CHECK(c.request_timeout_s == 10 && c.max_future_skew_s == 5 && c.client_quota == 120);
	kmsd_config_clear(&c);

	/* admission settings (issue 9) */
	CHECK(load("request_timeout = 3\nmax_future_skew = 0\nclient_quota = 1000000\n", &c, err,
	    sizeof(err)) == MQE2E_OK);
	CHECK(c.request_timeout_s == 3 && c.max_future_skew_s == 0 && c.client_quota == 1000000);
	kmsd_config_clear(&c);
	CHECK(load("client_quota = 0\n", &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "client_quota") != NULL);
	kmsd_config_clear(&c);
	CHECK(load("request_timeout = 0\n", &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	kmsd_config_clear(&c);
	CHECK(load("max_future_skew = 601\n", &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	kmsd_config_clear(&c);

	/* One syntax for every mqe2e configuration file (core/conffile.h): the
	 * '=' may be left out, as in the client's files. */
	CHECK(load("data_dir /x\n", &c, err, sizeof(err)) == MQE2E_OK);
	CHECK(c.data_dir != NULL && strcmp(c.data_dir, "/x") == 0);
	kmsd_config_clear(&c);
	CHECK(load("data-dir = /x\n", &c, err, sizeof(err)) == MQE2E_ERR_BAD_FORMAT);
	CHECK(strstr(err, ":1:") != NULL);
	kmsd_config_clear(&c);
	CHECK(load("\nbogus = 1\n", &c, err, sizeof(err)) == MQE2E_ERR_NOT_FOUND);
	CHECK(strstr(err, ":2:") != NULL && strstr(err, "bogus") != NULL);
	kmsd_config_clear(&c);
	CHECK(load("max_connections = 0\n", &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	kmsd_config_clear(&c);
	CHECK(load("max_connections = 12x\n", &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	kmsd_config_clear(&c);
	CHECK(load("max_connections = -1\n", &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	kmsd_config_clear(&c);
	CHECK(load("max_connections = 99999999999999999999999\n", &c, err, sizeof(err)) ==
	    MQE2E_ERR_INVALID_ARG);
	kmsd_config_clear(&c);
	CHECK(load("listen = 127.0.0.1\n", &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	kmsd_config_clear(&c);
	CHECK(load("data_dir =\n", &c, err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	kmsd_config_clear(&c);

	kmsd_config_init(&c);
	CHECK(kmsd_config_load(&c, "/nonexistent/kmsd.conf", err, sizeof(err)) == MQE2E_ERR_IO);
	CHECK(strstr(err, "/nonexistent/kmsd.conf") != NULL);
	kmsd_config_clear(&c);
}

static void
test_listen(void)
{
	char host[64];
	unsigned port = 0;

	CHECK(kmsd_parse_listen("127.0.0.1:7780", host, sizeof(host), &port) == MQE2E_OK);
	CHECK(strcmp(host, "127.0.0.1") == 0 && port == 7780);
	CHECK(kmsd_parse_listen("[::1]:80", host, sizeof(host), &port) == MQE2E_OK);
	CHECK(strcmp(host, "::1") == 0 && port == 80);
	CHECK(kmsd_parse_listen("localhost:1", host, sizeof(host), &port) == MQE2E_OK);
	CHECK(kmsd_parse_listen("::1:80", host, sizeof(host), &port) != MQE2E_OK);
	CHECK(kmsd_parse_listen("h:0", host, sizeof(host), &port) != MQE2E_OK);
	CHECK(kmsd_parse_listen("h:65536", host, sizeof(host), &port) != MQE2E_OK);
	CHECK(kmsd_parse_listen(":80", host, sizeof(host), &port) != MQE2E_OK);
	CHECK(kmsd_parse_listen("h:", host, sizeof(host), &port) != MQE2E_OK);
	CHECK(kmsd_parse_listen("[::1]80", host, sizeof(host), &port) != MQE2E_OK);
	CHECK(kmsd_parse_listen("h:+80", host, sizeof(host), &port) != MQE2E_OK);
	CHECK(kmsd_parse_listen("a-very-long-host-name-that-does-not-fit-in-the-buffer-xx:1",
	    host, 16, &port) != MQE2E_OK);
}

/* listen with a scheme; allow_plain_http; tls_names and the SAN they make. */
static void
test_tls_settings(void)
{
	struct kmsd_config c;
	char host[64], san[256], err[256];
	const char *rest = NULL;
	unsigned port = 0, tls = 9;

	CHECK(kmsd_parse_listen_url("https://0.0.0.0:8443", host, sizeof(host), &port, &tls,
	    &rest) == MQE2E_OK);
	CHECK(tls == 1 && port == 8443 && strcmp(host, "0.0.0.0") == 0 &&
	    strcmp(rest, "0.0.0.0:8443") == 0);
	CHECK(kmsd_parse_listen_url("http://[::1]:80", host, sizeof(host), &port, &tls, &rest) ==
	    MQE2E_OK);
	CHECK(tls == 0 && strcmp(host, "::1") == 0);
	CHECK(kmsd_parse_listen_url("127.0.0.1:7780", host, sizeof(host), &port, &tls, &rest) ==
	    MQE2E_OK);
	CHECK(tls == 0 && strcmp(rest, "127.0.0.1:7780") == 0);
	CHECK(kmsd_parse_listen_url("ftp://h:1", host, sizeof(host), &port, &tls, &rest) !=
	    MQE2E_OK);
	CHECK(kmsd_parse_listen_url("https://h", host, sizeof(host), &port, &tls, &rest) !=
	    MQE2E_OK);
	CHECK(kmsd_parse_listen_url("HTTPS://h:1", host, sizeof(host), &port, &tls, &rest) !=
	    MQE2E_OK);

	kmsd_config_init(&c);
	CHECK(kmsd_config_set(&c, "data_dir", "/d", err, sizeof(err)) == MQE2E_OK);
	CHECK(kmsd_config_set(&c, "listen", "https://[::]:8443", err, sizeof(err)) == MQE2E_OK);
	CHECK(c.listen_tls == 1 && strcmp(c.listen, "[::]:8443") == 0);
	CHECK(kmsd_config_set(&c, "listen", "127.0.0.1:1", err, sizeof(err)) == MQE2E_OK);
	CHECK(c.listen_tls == 0);
	CHECK(c.allow_plain_http == 0);
	CHECK(kmsd_config_set(&c, "allow_plain_http", "yes", err, sizeof(err)) == MQE2E_OK);
	CHECK(c.allow_plain_http == 1);
	CHECK(kmsd_config_set(&c, "allow_plain_http", "true", err, sizeof(err)) ==
	    MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "'yes' or 'no'") != NULL);
	CHECK(c.tls_days == 365);
	CHECK(kmsd_config_set(&c, "tls_days", "0", err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	CHECK(kmsd_config_set(&c, "tls_names", "kms.example, 10.0.0.5,::1", err, sizeof(err)) ==
	    MQE2E_OK);
	CHECK(kmsd_config_set(&c, "tls_names", "kms example", err, sizeof(err)) ==
	    MQE2E_ERR_INVALID_ARG);
	CHECK(strstr(err, "'kms example'") != NULL);
	CHECK(kmsd_config_set(&c, "tls_names", "a,,b", err, sizeof(err)) == MQE2E_ERR_INVALID_ARG);
	CHECK(kmsd_config_set(&c, "tls_names", "DNS:evil,IP:1.2.3.4", err, sizeof(err)) ==
	    MQE2E_ERR_INVALID_ARG);   /* no SAN syntax smuggled through */
	CHECK(kmsd_config_set(&c, "tls_cert_file", "/etc/kms/tls.crt", err, sizeof(err)) ==
	    MQE2E_OK);
	kmsd_config_clear(&c);

	CHECK(kmsd_parse_tls_names("localhost,127.0.0.1,::1", san, sizeof(san), err,
	    sizeof(err)) == MQE2E_OK);
	CHECK(strcmp(san, "DNS:localhost,IP:127.0.0.1,IP:::1") == 0);
	CHECK(kmsd_parse_tls_names("*.kms.example", san, sizeof(san), err, sizeof(err)) == MQE2E_OK);
	CHECK(kmsd_parse_tls_names("a*.example", san, sizeof(san), err, sizeof(err)) != MQE2E_OK);
	CHECK(kmsd_parse_tls_names("localhost,127.0.0.1", san, 12, err, sizeof(err)) ==
	    MQE2E_ERR_TOO_LONG);
}

int
main(void)
{
	test_file();
	test_listen();
	test_tls_settings();
	return check_result("test_conf");
}
