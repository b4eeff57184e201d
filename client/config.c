/*
 * config.c - client configuration: named options with checked values,
 * optionally read from a file in the syntax of core/conffile.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "conffile.h"

#define CONFIG_FILE_MAX (64u * 1024u)
#define CONFIG_LINE_MAX 4096

int
mqe2e_config_new(struct mqe2e_config **out)
{
	struct mqe2e_config *cfg;
	const char *kms;

	if (out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return MQE2E_ERR_NOMEM;
	/* The one variable for the KMS address of every mqe2e program; a "kms"
	 * setting (file or flag) overrides it. */
	if ((kms = getenv("MQE2E_KMS_URL")) == NULL || *kms == '\0')
		kms = "http://127.0.0.1:7780";
	if ((cfg->broker = strdup("tcp://localhost:1883")) == NULL ||
	    (cfg->kms = strdup(kms)) == NULL) {
		mqe2e_config_free(cfg);
		return MQE2E_ERR_NOMEM;
	}
	cfg->keepalive = 60;
	cfg->kms_timeout_ms = 5000;
	cfg->reconnect_min_ms = 500;
	cfg->reconnect_max_ms = 30000;
	cfg->key_refresh_s = 300;
	cfg->pair_refresh_s = 600;
	cfg->clean_start = 1;
	cfg->hold_max = 1000;
	cfg->hold_s = 30;
	cfg->rekey_jitter_ms = 1000;
	cfg->key_cache = 1;
	*out = cfg;
	return MQE2E_OK;
}

#define CONFIG_STRINGS(X) X(broker) X(client_id) X(cert) X(key) X(cafile) X(kms) \
	X(group) X(recipients) X(broker_id) X(tls_cafile) X(tls_capath) X(tls_cert) X(tls_key) \
	X(key_cache_file)

void
config__clear(struct mqe2e_config *cfg)
{
#define FREE_ONE(f) free(cfg->f); cfg->f = NULL;
	CONFIG_STRINGS(FREE_ONE)
#undef FREE_ONE
}

int
config__copy(struct mqe2e_config *dst, const struct mqe2e_config *src)
{
	*dst = *src;
#define NULL_ONE(f) dst->f = NULL;
	CONFIG_STRINGS(NULL_ONE)
#undef NULL_ONE
#define DUP_ONE(f) if (src->f != NULL && (dst->f = strdup(src->f)) == NULL) goto nomem;
	CONFIG_STRINGS(DUP_ONE)
#undef DUP_ONE
	return MQE2E_OK;
nomem:
	config__clear(dst);
	return MQE2E_ERR_NOMEM;
}

void
mqe2e_config_free(struct mqe2e_config *cfg)
{
	if (cfg == NULL)
		return;
	config__clear(cfg);
	free(cfg);
}

/* Decimal in [min, max]; no sign, no spaces, no trailing bytes. */
static int
parse_num(const char *s, long min, long max, long *out)
{
	long v = 0;

	if (*s == '\0')
		return MQE2E_ERR_INVALID_ARG;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return MQE2E_ERR_INVALID_ARG;
		if (v > max / 10 || v * 10 > max - (*s - '0'))
			return MQE2E_ERR_INVALID_ARG;
		v = v * 10 + (*s - '0');
	}
	if (v < min)
		return MQE2E_ERR_INVALID_ARG;
	*out = v;
	return MQE2E_OK;
}

static int
set_str(char **slot, const char *value)
{
	char *copy;

	if (*value == '\0')
		return MQE2E_ERR_INVALID_ARG;
	if ((copy = strdup(value)) == NULL)
		return MQE2E_ERR_NOMEM;
	free(*slot);
	*slot = copy;
	return MQE2E_OK;
}

int
mqe2e_config_set(struct mqe2e_config *cfg, const char *name, const char *value)
{
	static const struct {
		const char *name;
		size_t off;
	} strs[] = {
		{ "broker", offsetof(struct mqe2e_config, broker) },
		{ "client_id", offsetof(struct mqe2e_config, client_id) },
		{ "cert", offsetof(struct mqe2e_config, cert) },
		{ "key", offsetof(struct mqe2e_config, key) },
		{ "cafile", offsetof(struct mqe2e_config, cafile) },
		{ "kms", offsetof(struct mqe2e_config, kms) },
		{ "group", offsetof(struct mqe2e_config, group) },
		{ "recipients", offsetof(struct mqe2e_config, recipients) },
		{ "broker_id", offsetof(struct mqe2e_config, broker_id) },
		{ "key_cache_file", offsetof(struct mqe2e_config, key_cache_file) },
		{ "tls_cafile", offsetof(struct mqe2e_config, tls_cafile) },
		{ "tls_capath", offsetof(struct mqe2e_config, tls_capath) },
		{ "tls_cert", offsetof(struct mqe2e_config, tls_cert) },
		{ "tls_key", offsetof(struct mqe2e_config, tls_key) },
	};
	static const struct {
		const char *name;
		size_t off;
		long min, max;
	} nums[] = {
		{ "keepalive", offsetof(struct mqe2e_config, keepalive), 5, 65535 },
		{ "kms_timeout_ms", offsetof(struct mqe2e_config, kms_timeout_ms), 100, 600000 },
		{ "reconnect_min_ms", offsetof(struct mqe2e_config, reconnect_min_ms), 10, 3600000 },
		{ "reconnect_max_ms", offsetof(struct mqe2e_config, reconnect_max_ms), 10, 3600000 },
		{ "key_refresh_s", offsetof(struct mqe2e_config, key_refresh_s), 1, 86400 },
		{ "pair_refresh_s", offsetof(struct mqe2e_config, pair_refresh_s), 1, 86400 },
		{ "clean_start", offsetof(struct mqe2e_config, clean_start), 0, 1 },
		{ "session_expiry_s", offsetof(struct mqe2e_config, session_expiry_s), 0,
		    2147483647 },
		{ "hold_max", offsetof(struct mqe2e_config, hold_max), 0, 100000 },
		{ "hold_s", offsetof(struct mqe2e_config, hold_s), 1, 3600 },
		{ "rekey_jitter_ms", offsetof(struct mqe2e_config, rekey_jitter_ms), 0, 60000 },
		{ "key_cache", offsetof(struct mqe2e_config, key_cache), 0, 1 },
		{ "tls_insecure", offsetof(struct mqe2e_config, tls_insecure), 0, 1 },
	};
	size_t i;
	long v;
	int r;

	if (cfg == NULL || name == NULL || value == NULL)
		return MQE2E_ERR_INVALID_ARG;
	/* the broker's certificate CN: an id (PROTOCOL.md section 1) */
	if (strcmp(name, "broker_id") == 0 && !mqe2e_id_valid_str(value))
		return MQE2E_ERR_INVALID_ARG;
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (strcmp(name, strs[i].name) == 0)
			return set_str((char **)((char *)cfg + strs[i].off), value);
	}
	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(name, nums[i].name) != 0)
			continue;
		if ((r = parse_num(value, nums[i].min, nums[i].max, &v)) != MQE2E_OK)
			return r;
		*(int *)((char *)cfg + nums[i].off) = (int)v;
		return MQE2E_OK;
	}
	return MQE2E_ERR_NOT_FOUND;
}

/* mqe2e_conf_parse's setter: one option, in the library's words. */
static int
set_one(void *arg, const char *key, const char *value, char *why, size_t why_len)
{
	int r = mqe2e_config_set(arg, key, value);

	if (r != MQE2E_OK)
		(void)snprintf(why, why_len, "%s option '%s'%s", r == MQE2E_ERR_NOT_FOUND ?
		    "unknown" : "bad value for", key, r == MQE2E_ERR_NOT_FOUND ?
		    " (see libmqe2e(3))" : "");
	return r;
}

/*
 * Apply the settings in text (len bytes, not NUL-terminated; NUL bytes
 * refused) to cfg, in the syntax of every mqe2e configuration file
 * (core/conffile.h: "name = value", the '=' optional).  path names the
 * source in errbuf (may be NULL).  Options before a bad line stay set.
 * Shared with the fuzz harness (tests/client_fuzz_config.c).
 */
int
config__parse(struct mqe2e_config *cfg, const char *text, size_t len, const char *path,
    char *errbuf, size_t errlen)
{
	if (cfg == NULL || (text == NULL && len > 0) || path == NULL)
		return MQE2E_ERR_INVALID_ARG;
	return mqe2e_conf_parse(text, len, path, CONFIG_LINE_MAX - 2, CONFIG_FILE_MAX, set_one,
	    cfg, errbuf, errlen);
}

int
mqe2e_config_load(struct mqe2e_config *cfg, const char *path, char *errbuf, size_t errlen)
{
	if (cfg == NULL || path == NULL)
		return MQE2E_ERR_INVALID_ARG;
	return mqe2e_conf_load(path, CONFIG_LINE_MAX - 2, CONFIG_FILE_MAX, set_one, cfg, errbuf,
	    errlen);
}
