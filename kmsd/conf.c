/*
 * conf.c - settings of mqe2e-kmsd (see conf.h and mqe2e-kmsd.conf(5)).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "conf.h"
#include "conffile.h"
#include "crypto.h"

void
kmsd_config_init(struct kmsd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_connections = 1024;
	c->per_ip_connections = 32;
	c->connection_timeout_s = 30;
	c->request_timeout_s = 10;
	c->max_skew_s = 120;
	c->max_future_skew_s = 5;
	c->cert_days = 365;
	c->nonce_cache_size = 131072;
	c->client_quota = 120;
	c->tls_days = 365;
}

void
kmsd_config_clear(struct kmsd_config *c)
{
	if (c == NULL)
		return;
	free(c->data_dir);
	free(c->listen);
	free(c->audit_path);
	free(c->tls_cert_file);
	free(c->tls_key_file);
	free(c->tls_names);
	if (c->database != NULL)   /* it may hold a password */
		mqe2e_wipe(c->database, strlen(c->database));
	free(c->database);
	free(c->database_password_file);
	c->data_dir = c->listen = c->audit_path = NULL;
	c->tls_cert_file = c->tls_key_file = c->tls_names = NULL;
	c->database = c->database_password_file = NULL;
}

int
kmsd_parse_uint(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v;
	char *end = NULL;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
kmsd_parse_listen(const char *s, char *host, size_t host_len, unsigned *port)
{
	const char *colon, *h;
	size_t hl;
	unsigned long long p;

	if (s == NULL || host == NULL || host_len == 0 || port == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return MQE2E_ERR_INVALID_ARG;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return MQE2E_ERR_INVALID_ARG;
		h = s;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= host_len)
		return MQE2E_ERR_INVALID_ARG;
	if (kmsd_parse_uint(colon + 1, 1, 65535, &p) != 0)
		return MQE2E_ERR_INVALID_ARG;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (unsigned)p;
	return MQE2E_OK;
}

int
kmsd_parse_listen_url(const char *s, char *host, size_t host_len, unsigned *port, unsigned *tls,
    const char **rest)
{
	const char *p = s;

	if (s == NULL || tls == NULL || rest == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*tls = 0;
	if (strncmp(s, "https://", 8) == 0) {
		*tls = 1;
		p = s + 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		p = s + 7;
	} else if (strstr(s, "://") != NULL) {
		return MQE2E_ERR_INVALID_ARG;
	}
	*rest = p;
	return kmsd_parse_listen(p, host, host_len, port);
}

int
kmsd_parse_tls_names(const char *list, char *san, size_t san_len, char *err, size_t errlen)
{
	const char *p, *e;
	char name[256];
	size_t off = 0, n, i, count = 0;
	unsigned char ip[16];

	if (san != NULL && san_len > 0)
		san[0] = '\0';
	for (p = list; ; p = e + 1) {
		int is_ip;

		e = strchr(p, ',');
		if (e == NULL)
			e = p + strlen(p);
		while (p < e && *p == ' ')
			p++;
		n = (size_t)(e - p);
		while (n > 0 && p[n - 1] == ' ')
			n--;
		if (n == 0 || n >= sizeof(name)) {
			snprintf(err, errlen, "tls_names: an empty or too long name in '%s'", list);
			return MQE2E_ERR_INVALID_ARG;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
		for (i = 0; !is_ip && i < n; i++)
			if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' &&
			    name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9') ||
			    name[i] == '-' || name[i] == '.' || (name[i] == '*' && i == 0 &&
			    n > 2 && name[1] == '.'))) {
				snprintf(err, errlen, "tls_names: '%s' is neither a DNS name nor an IP "
				    "address", name);
				return MQE2E_ERR_INVALID_ARG;
			}
		if (++count > 32) {
			snprintf(err, errlen, "tls_names: more than 32 names");
			return MQE2E_ERR_INVALID_ARG;
		}
		if (san != NULL) {
			int w = snprintf(san + off, san_len - off, "%s%s:%s", off ? "," : "",
			    is_ip ? "IP" : "DNS", name);

			if (w < 0 || (size_t)w >= san_len - off) {
				snprintf(err, errlen, "tls_names: too long");
				return MQE2E_ERR_TOO_LONG;
			}
			off += (size_t)w;
		}
		if (*e == '\0')
			break;
	}
	return MQE2E_OK;
}

static int
set_str(char **dst, const char *value)
{
	char *v;

	if ((v = strdup(value)) == NULL)
		return MQE2E_ERR_NOMEM;
	free(*dst);
	*dst = v;
	return MQE2E_OK;
}

/* Numeric settings: key, where, bounds. */
struct num_setting {
	const char *key;
	size_t off;
	unsigned min, max;
};

static const struct num_setting num_settings[] = {
	{ "max_connections", offsetof(struct kmsd_config, max_connections), 1, 65536 },
	{ "per_ip_connections", offsetof(struct kmsd_config, per_ip_connections), 1, 65536 },
	{ "connection_timeout", offsetof(struct kmsd_config, connection_timeout_s), 1, 3600 },
	{ "request_timeout", offsetof(struct kmsd_config, request_timeout_s), 1, 3600 },
	{ "max_skew", offsetof(struct kmsd_config, max_skew_s), 1, 3600 },
	{ "max_future_skew", offsetof(struct kmsd_config, max_future_skew_s), 0, 600 },
	{ "cert_days", offsetof(struct kmsd_config, cert_days), 1, 3650 },
	{ "nonce_cache_size", offsetof(struct kmsd_config, nonce_cache_size), 16, 16777216 },
	{ "client_quota", offsetof(struct kmsd_config, client_quota), 1, 1000000 },
	{ "threads", offsetof(struct kmsd_config, threads), 0, KMSD_THREADS_MAX },
	{ "tls_days", offsetof(struct kmsd_config, tls_days), 1, 3650 },
};

int
kmsd_config_set(struct kmsd_config *c, const char *key, const char *value,
    char *err, size_t errlen)
{
	unsigned long long v;
	size_t i;

	if (c == NULL || key == NULL || value == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (value[0] == '\0') {
		snprintf(err, errlen, "setting '%s' needs a value", key);
		return MQE2E_ERR_INVALID_ARG;
	}
	if (strcmp(key, "data_dir") == 0)
		return set_str(&c->data_dir, value);
	if (strcmp(key, "log_format") == 0 || strcmp(key, "log_dest") == 0) {
		int fmt = key[4] == 'f';
		const char *a = fmt ? "text" : "stderr", *b = fmt ? "json" : "syslog";
		unsigned *dst = fmt ? &c->log_json : &c->log_syslog;

		if (strcmp(value, a) != 0 && strcmp(value, b) != 0) {
			snprintf(err, errlen, "%s must be '%s' or '%s', not '%s'", key, a, b, value);
			return MQE2E_ERR_INVALID_ARG;
		}
		*dst = strcmp(value, b) == 0;
		return MQE2E_OK;
	}
	if (strcmp(key, "audit") == 0)
		return set_str(&c->audit_path, value);
	if (strcmp(key, "database") == 0) {
		/* Never echo the value: it may hold a password. */
		if (strncmp(value, "postgresql://", 13) != 0 && strncmp(value, "postgres://", 11) != 0) {
			snprintf(err, errlen, "database must be a postgresql:// URL (for SQLite, leave "
			    "it out: the database is DATA_DIR/kms.db)");
			return MQE2E_ERR_INVALID_ARG;
		}
		if (c->database != NULL)
			mqe2e_wipe(c->database, strlen(c->database));
		return set_str(&c->database, value);
	}
	if (strcmp(key, "database_password_file") == 0)
		return set_str(&c->database_password_file, value);
	if (strcmp(key, "listen") == 0) {
		char host[256];
		const char *rest;
		unsigned port, tls;

		if (kmsd_parse_listen_url(value, host, sizeof(host), &port, &tls, &rest) !=
		    MQE2E_OK) {
			snprintf(err, errlen, "listen '%s' is not https://HOST:PORT, http://HOST:PORT "
			    "or HOST:PORT (IPv6 as [ADDR]; example: https://0.0.0.0:8443)", value);
			return MQE2E_ERR_INVALID_ARG;
		}
		c->listen_tls = tls;
		return set_str(&c->listen, rest);
	}
	if (strcmp(key, "allow_plain_http") == 0) {
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0) {
			snprintf(err, errlen, "allow_plain_http must be 'yes' or 'no', not '%s'", value);
			return MQE2E_ERR_INVALID_ARG;
		}
		c->allow_plain_http = strcmp(value, "yes") == 0;
		return MQE2E_OK;
	}
	if (strcmp(key, "tls_cert_file") == 0)
		return set_str(&c->tls_cert_file, value);
	if (strcmp(key, "tls_key_file") == 0)
		return set_str(&c->tls_key_file, value);
	if (strcmp(key, "tls_names") == 0) {
		if (kmsd_parse_tls_names(value, NULL, 0, err, errlen) != MQE2E_OK)
			return MQE2E_ERR_INVALID_ARG;
		return set_str(&c->tls_names, value);
	}
	for (i = 0; i < sizeof(num_settings) / sizeof(num_settings[0]); i++) {
		const struct num_setting *s = &num_settings[i];

		if (strcmp(key, s->key) != 0)
			continue;
		if (kmsd_parse_uint(value, s->min, s->max, &v) != 0) {
			snprintf(err, errlen, "setting '%s' must be a whole number from %u to %u, "
			    "not '%s'", key, s->min, s->max, value);
			return MQE2E_ERR_INVALID_ARG;
		}
		*(unsigned *)(void *)((char *)c + s->off) = (unsigned)v;
		return MQE2E_OK;
	}
	snprintf(err, errlen, "unknown setting '%s' (see mqe2e-kmsd.conf(5))", key);
	return MQE2E_ERR_NOT_FOUND;
}

/* mqe2e_conf_parse's setter. */
static int
set_one(void *arg, const char *key, const char *value, char *why, size_t why_len)
{
	return kmsd_config_set(arg, key, value, why, why_len);
}

int
kmsd_config_load(struct kmsd_config *c, const char *path, char *err, size_t errlen)
{
	return mqe2e_conf_load(path, KMSD_CONFIG_LINE_MAX, KMSD_CONFIG_FILE_MAX, set_one, c, err,
	    errlen);
}
