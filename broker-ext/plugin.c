/*
 * plugin.c - mqe2e_plugin.so: the Mosquitto 2.0 extension of mqe2e.
 *
 * Three exports (mosquitto_plugin_version, _init, _cleanup) and a table of
 * callbacks.  See mqe2e_plugin(8) for the options and the behaviour, and
 * plugin.h for the files behind each callback.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "logline.h"
#include "plugin.h"

struct bx_state bx;

static mosquitto_plugin_id_t *plugin_id;
static bool initialised;   /* one mqe2e instance per broker: the state is global */

/* ---- the periodic work, with or without MOSQ_EVT_TICK ------------------------- */
/* Mosquitto 2.0 sends MOSQ_EVT_TICK only to plugins loaded globally
 * (plugin__handle_tick: "FIXME - iterate over all listeners"), so with
 * per_listener_settings true the work also runs from the callbacks: from an
 * outermost one only (depth 1: nothing of ours is on the stack), at most
 * every 200 ms, and only when no real tick came for 2 s.
 * Real ticks, when they come, end every pass of Mosquitto's loop, so a
 * callback within REAL_TICK_CALLS of one does not read the clock at all:
 * the read check is a callback for every delivery. */
#define EVENT_TICK_MS 200
#define REAL_TICK_GAP_MS 2000
#define REAL_TICK_CALLS 4096

static unsigned cb_depth;
static unsigned calls_since_real_tick = REAL_TICK_CALLS;
static uint64_t last_tick_ms, last_real_tick_ms;
static void tick_work(void);

void plugin__enter(int may_tick)
{
	uint64_t now;

	if (cb_depth++ != 0 || !may_tick || !initialised)
		return;
	if (calls_since_real_tick < REAL_TICK_CALLS) {
		calls_since_real_tick++;
		return;
	}
	now = mqe2e_now_ms();
	if (now - last_real_tick_ms >= REAL_TICK_GAP_MS && now - last_tick_ms >= EVENT_TICK_MS)
		tick_work();
}

void plugin__leave(void)
{
	cb_depth--;
}

int plugin__mqe2e_loaded(void)
{
	return initialised;
}

#define BX_WRAP(name, fn, may_tick) \
	static int name(int event, void *event_data, void *userdata) \
	{ \
		int r; \
		plugin__enter(may_tick); \
		r = fn(event, event_data, userdata); \
		plugin__leave(); \
		return r; \
	}
BX_WRAP(cb_ext_auth, auth__ext_start, 1)
BX_WRAP(cb_basic_auth, auth__basic, 1)
BX_WRAP(cb_acl, acl__check, 1)
/* Never between the ACL write check and the message it verified. */
BX_WRAP(cb_message, message__handle, 0)
BX_WRAP(cb_retained, retained__on_message, 0)
BX_WRAP(cb_disconnect, auth__disconnect, 1)

static const struct {
	int event;
	MOSQ_FUNC_generic_callback cb;
} callbacks[] = {
	{ MOSQ_EVT_EXT_AUTH_START, cb_ext_auth },
	{ MOSQ_EVT_BASIC_AUTH, cb_basic_auth },
	{ MOSQ_EVT_ACL_CHECK, cb_acl },
	{ MOSQ_EVT_MESSAGE, cb_message },
	{ MOSQ_EVT_MESSAGE, cb_retained },   /* after message__handle */
	{ MOSQ_EVT_DISCONNECT, cb_disconnect },
};

static int on_tick(int event, void *event_data, void *userdata);

/* ---- rate-limited logging ---------------------------------------------------- */
#define LOG_BURST 20   /* lines per second before suppressing */

static time_t log_second;
static unsigned log_count;
static unsigned log_suppressed;

static bool log_json;      /* plugin_opt_log_format json (any instance) */

void plugin__log_json(bool on)
{
	log_json = on;
}

static const char *level_name(int level)
{
	switch (level) {
	case MOSQ_LOG_ERR: return "error";
	case MOSQ_LOG_WARNING: return "warning";
	case MOSQ_LOG_NOTICE: return "notice";
	case MOSQ_LOG_DEBUG: return "debug";
	default: return "info";
	}
}

/* One line to Mosquitto's log (and so to its log_dest: file, stderr,
 * syslog, ...), as text or as a JSON object. */
static void vlog_line(int level, const char *fmt, va_list ap)
{
	char msg[1024], line[2048];
	const char *m = msg;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_json) {
		mosquitto_log_printf(level, "%s", msg);
		return;
	}
	if (strncmp(m, BX_LOG_PREFIX, sizeof(BX_LOG_PREFIX) - 1) == 0)
		m += sizeof(BX_LOG_PREFIX) - 1;
	/* No time: Mosquitto stamps its lines (log_timestamp). */
	mqe2e_log_json(line, sizeof(line), NULL, level_name(level), "mqe2e_plugin", m);
	mosquitto_log_printf(level, "%s", line);
}

void plugin__log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_line(level, fmt, ap);
	va_end(ap);
}

void plugin__logf(int level, const char *fmt, ...)
{
	va_list ap;
	time_t now = time(NULL);

	if (now != log_second) {
		if (log_suppressed > 0)
			plugin__log(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "%u more log lines suppressed "
			    "(see the counters)", log_suppressed);
		log_second = now;
		log_count = 0;
		log_suppressed = 0;
	}
	if (++log_count > LOG_BURST) {
		log_suppressed++;
		return;
	}
	va_start(ap, fmt);
	vlog_line(level, fmt, ap);
	va_end(ap);
}

/* ---- topic -> group, cached for the fan-out of one message ------------------- */
struct bx_group *plugin__group_of(const char *topic, size_t *gi)
{
	if (bx.policy == NULL)
		return NULL;
	if (bx.topic_cache != NULL && bx.topic_cache_version == bx.policy->version &&
	    !strcmp(bx.topic_cache, topic)) {
		*gi = bx.topic_gi;
		return bx.topic_group;
	}
	free(bx.topic_cache);
	bx.topic_cache = strdup(topic);
	bx.topic_group = policy__match(bx.policy, topic, &bx.topic_gi);
	bx.topic_cache_version = bx.policy->version;
	if (bx.topic_cache == NULL)
		bx.topic_group = policy__match(bx.policy, topic, &bx.topic_gi);
	*gi = bx.topic_gi;
	return bx.topic_group;
}

/* ---- installing a new policy snapshot (broker thread) ------------------------ */
struct kick_list {
	char **ids;
	size_t n, cap;
};

static void collect_revoked(struct bx_session *s, void *arg)
{
	struct kick_list *kl = arg;
	char **nids;

	if (s->plain)
		return;
	if (!policy__is_revoked_client(bx.policy, s->id) && !policy__is_revoked_serial(bx.policy, s->serial))
		return;
	if (kl->n == kl->cap) {
		size_t cap = kl->cap ? kl->cap * 2 : 8;

		if ((nids = realloc(kl->ids, cap * sizeof(*nids))) == NULL)
			return;
		kl->ids = nids;
		kl->cap = cap;
	}
	if ((kl->ids[kl->n] = strdup(s->id)) != NULL)
		kl->n++;
}

static void install_policy(struct bx_policy *p)
{
	struct kick_list kl = { NULL, 0, 0 };
	struct bx_policy *old;
	size_t i, j;
	int r;

	if (bx.policy != NULL && p->version < bx.policy->version) {
		plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "policy version %llu is older than "
		    "version %llu in force: ignored", (unsigned long long)p->version,
		    (unsigned long long)bx.policy->version);
		policy__free(p);
		return;
	}
	/* Keep the broker's re-frame sequence numbers moving forward. */
	for (i = 0; bx.policy != NULL && i < p->ngroups; i++) {
		for (j = 0; j < bx.policy->ngroups; j++) {
			if (!strcmp(p->groups[i].name, bx.policy->groups[j].name) &&
			    bx.policy->groups[j].seq > p->groups[i].seq)
				p->groups[i].seq = bx.policy->groups[j].seq;
		}
	}
	if ((r = mqe2e_trust_set_revoked(bx.trust, (const char *const *)p->revoked_serials,
	    p->nrevoked_serials)) != MQE2E_OK)
		plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "revoked serials not applied: %s",
		    mqe2e_strerror(r));
	if (p->crl != NULL && (r = mqe2e_trust_set_crl(bx.trust, p->crl, p->crl_len)) != MQE2E_OK &&
	    r != MQE2E_ERR_CONFLICT)
		plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "CRL not applied: %s",
		    mqe2e_strerror(r));
	old = bx.policy;
	bx.policy = p;
	bx.policy_gen++;
	free(bx.topic_cache);
	bx.topic_cache = NULL;
	stats__inc(BX_POLICY_UPDATES);
	stats__set_policy_version(p->version);
	roster__mark_dirty();

	/* Cut off every connected client that is now revoked. */
	session__foreach(collect_revoked, &kl);
	for (i = 0; i < kl.n; i++) {
		plugin__log(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "disconnecting revoked client '%s'",
		    kl.ids[i]);
		mosquitto_kick_client_by_clientid(kl.ids[i], false);
		stats__inc(BX_KICKED);
		free(kl.ids[i]);
	}
	free(kl.ids);
	/* The members still here: fetch the new epoch now. */
	notice__policy_changed(old, p);
	retained__policy_changed(old, p);
	policy__free(old);
}

static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event;
	(void)event_data;
	(void)userdata;
	last_real_tick_ms = mqe2e_now_ms();
	calls_since_real_tick = 0;
	cb_depth++;          /* kicks and publishes below call back into us */
	tick_work();
	cb_depth--;
	return MOSQ_ERR_SUCCESS;
}

static void tick_work(void)
{
	struct bx_policy *p;
	uint64_t hits, misses;

	last_tick_ms = mqe2e_now_ms();
	if (bx.sync != NULL)
		kms_sync__run(bx.sync);   /* the broker serves now: see kms_sync.c */
	if (bx.sync != NULL && (p = kms_sync__take(bx.sync)) != NULL)
		install_policy(p);
	roster__tick();
	staged__tick(time(NULL));
	stats__set_sessions(session__count());
	mqe2e_trust_cache_stats(bx.trust, &hits, &misses);
	stats__set_cert_cache(hits, misses);
	stats__tick(bx.cfg.stats_file, time(NULL));
}

/* plugin_opt_policy_cache: start from the last policy if the file is there
 * and verifies; the KMS thread replaces it as soon as the KMS answers. */
static void load_cache(void)
{
	struct bx_policy *p = NULL;
	char err[512] = "";

	if (bx.cfg.policy_cache == NULL)
		return;
	if (access(bx.cfg.policy_cache, F_OK) != 0) {
		plugin__log(MOSQ_LOG_INFO, BX_LOG_PREFIX "plugin_opt_policy_cache: no '%s' yet",
		    bx.cfg.policy_cache);
		return;
	}
	if (cache__load(bx.cfg.policy_cache, mqe2e_trust_ca_key(bx.trust), &p, err, sizeof(err))
	    != MQE2E_OK) {
		plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "plugin_opt_policy_cache: %s", err);
		return;
	}
	plugin__log(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "policy version %llu loaded from '%s' "
	    "(until the KMS answers)", (unsigned long long)p->version, bx.cfg.policy_cache);
	install_policy(p);
}

/* ---- the three exports ---------------------------------------------------------- */
int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	int i;

	for (i = 0; i < supported_version_count; i++)
		if (supported_versions[i] == 5)
			return 5;
	return -1;
}

static void teardown(void)
{
	kms_sync__stop(bx.sync);
	session__cleanup();
	staged__cleanup();
	roster__cleanup();
	retained__cleanup();
	policy__free(bx.policy);
	mqe2e_nonce_cache_free(bx.nonces);
	mqe2e_trust_free(bx.trust);
	mqe2e_identity_free(bx.self);
	free(bx.topic_cache);
	config__free(&bx.cfg);
	memset(&bx, 0, sizeof(bx));
}

static void unregister_all(void)
{
	size_t i;

	for (i = 0; i < sizeof(callbacks) / sizeof(callbacks[0]); i++)
		mosquitto_callback_unregister(plugin_id, callbacks[i].event, callbacks[i].cb, NULL);
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK, on_tick, NULL);
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
    struct mosquitto_opt *options, int option_count)
{
	struct bx_config cfg;
	char err[256] = "";
	size_t i;
	int r;

	*userdata = NULL;
	if (config__parse(&cfg, options, option_count) != MQE2E_OK)
		return MOSQ_ERR_INVAL;
	if (cfg.role == BX_ROLE_GUARD) {
		r = fleet__guard_init(identifier, userdata, &cfg);
		config__free(&cfg);
		return r;
	}
	if (initialised) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "loaded twice with role mqe2e: load "
		    "it once for the mqe2e listener(s) and with plugin_opt_role guard on the "
		    "listeners of other clients (mqe2e_plugin(8), section Shared broker)");
		config__free(&cfg);
		return MOSQ_ERR_INVAL;
	}
	memset(&bx, 0, sizeof(bx));
	bx.cfg = cfg;
	bx.start_ms = clock__now_us() / 1000u;
	plugin_id = identifier;
	if ((r = mqe2e_identity_load(bx.cfg.cert, bx.cfg.key, &bx.self, err, sizeof(err))) != MQE2E_OK) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_cert/plugin_opt_key: %s", err);
		goto fail;
	}
	if (bx.self->kind != MQE2E_KIND_BROKER) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_cert: '%s' is not a broker "
		    "certificate (subject OU must be \"broker\")", bx.cfg.cert);
		goto fail;
	}
	if ((r = mqe2e_trust_new(bx.cfg.cafile, &bx.trust, err, sizeof(err))) != MQE2E_OK) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_cafile: %s", err);
		goto fail;
	}
	if ((r = mqe2e_nonce_cache_new(bx.cfg.nonce_cap, bx.cfg.max_skew_ms, &bx.nonces)) != MQE2E_OK ||
	    (r = mqe2e_nonce_cache_set_limits(bx.nonces, bx.cfg.max_future_ms,
	    bx.cfg.nonce_per_client)) != MQE2E_OK ||
	    (r = session__init()) != MQE2E_OK) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "initialisation failed: %s",
		    mqe2e_strerror(r));
		goto fail;
	}
	load_cache();
	if (kms_sync__new(&bx.cfg, &bx.sync) != MQE2E_OK || kms_sync__start(bx.sync) != MQE2E_OK)
		goto fail;
	for (i = 0; i < sizeof(callbacks) / sizeof(callbacks[0]); i++) {
		if (mosquitto_callback_register(identifier, callbacks[i].event, callbacks[i].cb, NULL,
		    NULL) != MOSQ_ERR_SUCCESS)
			goto fail_cb;
	}
	if (mosquitto_callback_register(identifier, MOSQ_EVT_TICK, on_tick, NULL, NULL) != MOSQ_ERR_SUCCESS)
		goto fail_cb;
	plugin__log(MOSQ_LOG_INFO, BX_LOG_PREFIX "broker '%s' (serial %s), KMS %s, "
	    "%s, max skew %u ms (%u ms ahead), %u handshakes per client per %u s, "
	    "require_broker_id %s",
	    bx.self->id, bx.self->serial, bx.cfg.kms_url, bx.cfg.fleet == BX_FLEET_ALLOW ?
	    "other clients: fleet, allow" : bx.cfg.fleet == BX_FLEET_ACL_FILE ?
	    "other clients: fleet, acl_file" : bx.cfg.allow_plain ? "allow_plain true" :
	    "allow_plain false",
	    bx.cfg.max_skew_ms, bx.cfg.max_future_ms, bx.cfg.nonce_per_client,
	    (bx.cfg.max_skew_ms + bx.cfg.max_future_ms) / 1000,
	    bx.cfg.require_broker_id ? "true" : "false");
	stats__flush(bx.cfg.stats_file);
	initialised = true;
	last_real_tick_ms = last_tick_ms = 0;
	return MOSQ_ERR_SUCCESS;
fail_cb:
	plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "cannot register callbacks");
	unregister_all();
fail:
	teardown();
	return MOSQ_ERR_INVAL;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)options;
	(void)option_count;
	if (userdata != NULL) {          /* a guard (fleet.c) */
		fleet__guard_cleanup(userdata);
		return MOSQ_ERR_SUCCESS;
	}
	unregister_all();
	stats__set_sessions(0);
	stats__flush(bx.cfg.stats_file);
	teardown();
	initialised = false;
	return MOSQ_ERR_SUCCESS;
}
