/*
 * config.c - plugin_opt_* parsing for mqe2e_plugin.so.
 *
 * Every option is checked here, once, at start: a missing required option,
 * an unreadable file or a number out of range gives one log line naming the
 * option (and the file) and the plugin refuses to initialise.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "plugin.h"

static int set_str(char **dst, const char *key, const char *value)
{
	if (value == NULL || value[0] == '\0') {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_%s is empty", key);
		return MQE2E_ERR_INVALID_ARG;
	}
	free(*dst);
	*dst = strdup(value);
	return *dst == NULL ? MQE2E_ERR_NOMEM : MQE2E_OK;
}

/* Parse a decimal number in [min, max]; no sign, no trailing bytes. */
static int parse_u32(const char *key, const char *value, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;
	const char *p;

	if (value == NULL || value[0] == '\0')
		goto bad;
	for (p = value; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			goto bad;
	}
	if (v < min)
		goto bad;
	*out = (uint32_t)v;
	return MQE2E_OK;
bad:
	plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_%s: '%s' is not a number in %u..%u",
	    key, value ? value : "", min, max);
	return MQE2E_ERR_INVALID_ARG;
}

static int parse_bool(const char *key, const char *value, bool *out)
{
	if (value != NULL && (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1"))) {
		*out = true;
		return MQE2E_OK;
	}
	if (value != NULL && (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0"))) {
		*out = false;
		return MQE2E_OK;
	}
	plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_%s: '%s' is not true or false",
	    key, value ? value : "");
	return MQE2E_ERR_INVALID_ARG;
}

static int need_file(const char *key, const char *path)
{
	if (path == NULL) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_%s is required", key);
		return MQE2E_ERR_INVALID_ARG;
	}
	if (access(path, R_OK) != 0) {
		int e = errno;

		if (e == EACCES) {
			/* Mosquitto changed to its own user before loading us. */
			struct passwd *pw = getpwuid(geteuid());
			struct group *gr = getgrgid(getegid());
			const char *user = pw != NULL ? pw->pw_name : "?", *grp = gr != NULL ?
			    gr->gr_name : "?";

			plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_%s: cannot read "
			    "'%s': %s: Mosquitto runs as user '%s' (uid %ld, group '%s') when it "
			    "loads the plugin; make the file and its directories readable by it, "
			    "e.g. chgrp %s '%s' && chmod 0640 '%s' (mqe2e_plugin(8), FILES)", key,
			    path, strerror(e), user, (long)geteuid(), grp, grp, path, path);
		} else {
			plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_%s: cannot read "
			    "'%s': %s", key, path, strerror(e));
		}
		return MQE2E_ERR_IO;
	}
	return MQE2E_OK;
}

void config__free(struct bx_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->kms_url);
	free(cfg->cert);
	free(cfg->key);
	free(cfg->cafile);
	free(cfg->policy_cache);
	free(cfg->stats_file);
	free(cfg->metrics_file);
	memset(cfg, 0, sizeof(*cfg));
}

int config__parse(struct bx_config *cfg, const struct mosquitto_opt *opts, int n)
{
	int r = MQE2E_OK;
	int i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->max_skew_ms = MQE2E_SKEW_MS_DEFAULT;
	cfg->watch_s = 5;
	cfg->nonce_cap = 65536;
	cfg->nonce_per_client = 32;
	cfg->max_future_ms = 10000;

	/* The log format first, so that every line about the options has it. */
	for (i = 0; i < n; i++)
		if (opts[i].key != NULL && !strcmp(opts[i].key, "log_format") &&
		    opts[i].value != NULL && !strcmp(opts[i].value, "json"))
			plugin__log_json(true);
	for (i = 0; i < n && r == MQE2E_OK; i++) {
		const char *k = opts[i].key, *v = opts[i].value;

		if (k == NULL)
			continue;
		if (!strcmp(k, "log_format")) {
			if (v == NULL || (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)) {
				plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_log_format: '%s' is not "
				    "text or json", v ? v : "");
				r = MQE2E_ERR_INVALID_ARG;
			}
		} else if (!strcmp(k, "role")) {
			if (v != NULL && !strcmp(v, "mqe2e"))
				cfg->role = BX_ROLE_MQE2E;
			else if (v != NULL && !strcmp(v, "guard"))
				cfg->role = BX_ROLE_GUARD;
			else {
				plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_role: '%s' is "
				    "not mqe2e or guard", v ? v : "");
				r = MQE2E_ERR_INVALID_ARG;
			}
		} else if (!strcmp(k, "fleet")) {
			if (v != NULL && !strcmp(v, "allow"))
				cfg->fleet = BX_FLEET_ALLOW;
			else if (v != NULL && !strcmp(v, "acl_file"))
				cfg->fleet = BX_FLEET_ACL_FILE;
			else {
				plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_fleet: '%s' is "
				    "not allow or acl_file", v ? v : "");
				r = MQE2E_ERR_INVALID_ARG;
			}
		} else if (!strcmp(k, "kms_url"))
			r = set_str(&cfg->kms_url, k, v);
		else if (!strcmp(k, "cert"))
			r = set_str(&cfg->cert, k, v);
		else if (!strcmp(k, "key"))
			r = set_str(&cfg->key, k, v);
		else if (!strcmp(k, "cafile"))
			r = set_str(&cfg->cafile, k, v);
		else if (!strcmp(k, "allow_plain"))
			r = parse_bool(k, v, &cfg->allow_plain);
		else if (!strcmp(k, "max_skew_ms"))
			r = parse_u32(k, v, 1000, 3600000, &cfg->max_skew_ms);
		else if (!strcmp(k, "policy_cache"))
			r = set_str(&cfg->policy_cache, k, v);
		else if (!strcmp(k, "stats_file"))
			r = set_str(&cfg->stats_file, k, v);
		else if (!strcmp(k, "metrics_file"))
			r = set_str(&cfg->metrics_file, k, v);
		else if (!strcmp(k, "kms_watch_s"))
			r = parse_u32(k, v, 1, 60, &cfg->watch_s);
		else if (!strcmp(k, "require_broker_id"))
			r = parse_bool(k, v, &cfg->require_broker_id);
		else if (!strcmp(k, "nonce_cache"))
			r = parse_u32(k, v, 16, 16777216, &cfg->nonce_cap);
		else if (!strcmp(k, "nonce_per_client"))
			r = parse_u32(k, v, 1, 16777216, &cfg->nonce_per_client);
		else if (!strcmp(k, "max_future_ms"))
			r = parse_u32(k, v, 0, 3600000, &cfg->max_future_ms);
		else
			plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "ignoring unknown option plugin_opt_%s", k);
	}
	if (r != MQE2E_OK)
		goto out;
	if (cfg->fleet != BX_FLEET_NONE && cfg->allow_plain) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_fleet and "
		    "plugin_opt_allow_plain exclude each other: fleet keeps plain clients as they "
		    "were (password_file, acl_file), allow_plain makes them read-only");
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if (cfg->role == BX_ROLE_GUARD) {
		/* A guard holds no keys: it only keeps this listener's clients away
		 * from what mqe2e reserves. */
		if (cfg->fleet == BX_FLEET_NONE) {
			plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_role guard needs "
			    "plugin_opt_fleet: 'acl_file' if this listener has an acl_file, 'allow' "
			    "if its clients may use every topic (see mqe2e_plugin(8), section Shared broker)");
			r = MQE2E_ERR_INVALID_ARG;
		} else if (cfg->kms_url != NULL || cfg->cert != NULL || cfg->key != NULL) {
			plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_role guard takes "
			    "no kms_url, cert or key: those go to the plugin on the mqe2e listener");
			r = MQE2E_ERR_INVALID_ARG;
		}
		goto out;
	}
	if (cfg->kms_url == NULL) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_kms_url is required");
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if (cfg->max_future_ms > cfg->max_skew_ms)
		cfg->max_future_ms = cfg->max_skew_ms;
	if (cfg->nonce_per_client > cfg->nonce_cap) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_nonce_per_client (%u) is "
		    "larger than plugin_opt_nonce_cache (%u)", cfg->nonce_per_client, cfg->nonce_cap);
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = need_file("cert", cfg->cert)) != MQE2E_OK ||
	    (r = need_file("key", cfg->key)) != MQE2E_OK ||
	    (r = need_file("cafile", cfg->cafile)) != MQE2E_OK)
		goto out;
	r = MQE2E_OK;
out:
	if (r != MQE2E_OK)
		config__free(cfg);
	return r;
}
