/*
 * stats.c - counters of the broker extension.
 *
 * Every refused handshake and every dropped message is counted under its
 * reason.  The counters are written as "name value" lines to the file named
 * by plugin_opt_stats_file (atomically: temp file + rename, at most once a
 * second, only when something changed) and summarised in the broker log at
 * most once a minute.  plugin_opt_metrics_file gets the same counters in
 * the Prometheus text format (core/prom, as mqe2e-kmsd's /metrics) for
 * node_exporter's textfile collector.  Broker thread only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "plugin.h"
#include "prom.h"

static uint64_t counters[BX_STAT__COUNT];
static uint64_t policy_version;
static uint64_t sessions;
static uint64_t cert_hits, cert_misses;
static uint64_t generation;          /* bumped on every change */
static uint64_t written_generation = (uint64_t)-1;
static uint64_t logged_generation;
static time_t last_write;
static time_t last_log;

static const char *const names[BX_STAT__COUNT] = {
	[BX_AUTH_OK] = "auth_ok",
	[BX_AUTH_BAD_SIGNATURE] = "auth_bad_signature",
	[BX_AUTH_UNKNOWN_CA] = "auth_unknown_ca",
	[BX_AUTH_REVOKED] = "auth_revoked",
	[BX_AUTH_CERT_EXPIRED] = "auth_cert_expired",
	[BX_AUTH_BAD_CERT] = "auth_bad_cert",
	[BX_AUTH_ID_MISMATCH] = "auth_id_mismatch",
	[BX_AUTH_CLOCK_SKEW] = "auth_clock_skew",
	[BX_AUTH_NONCE_REUSE] = "auth_nonce_reuse",
	[BX_AUTH_QUOTA] = "auth_quota",
	[BX_AUTH_BUSY] = "auth_busy",
	[BX_AUTH_MALFORMED] = "auth_malformed",
	[BX_AUTH_NOT_READY] = "auth_not_ready",
	[BX_AUTH_BAD_METHOD] = "auth_bad_method",
	[BX_AUTH_OTHER] = "auth_other",
	[BX_PLAIN_ACCEPTED] = "plain_accepted",
	[BX_PLAIN_REFUSED] = "plain_refused",
	[BX_PLAIN_IDENTITY] = "plain_identity_refused",
	[BX_MSG_RELAYED_1] = "msg_relayed_scheme1",
	[BX_MSG_RELAYED_2] = "msg_relayed_scheme2",
	[BX_MSG_RELAYED_3] = "msg_relayed_scheme3",
	[BX_MSG_RELAYED_4] = "msg_relayed_scheme4",
	[BX_MSG_BAD_MAC] = "drop_bad_mac",
	[BX_MSG_REPLAY] = "drop_replay",
	[BX_MSG_SENDER_MISMATCH] = "drop_sender_mismatch",
	[BX_MSG_NO_GRANT] = "drop_no_grant",
	[BX_MSG_UNKNOWN_GROUP] = "drop_unknown_group",
	[BX_MSG_MALFORMED] = "drop_malformed",
	[BX_MSG_WRONG_SCHEME] = "drop_wrong_scheme",
	[BX_MSG_NO_KEY] = "drop_no_key",
	[BX_MSG_KEY_STALE] = "drop_key_stale",
	[BX_MSG_UNKNOWN_EPOCH] = "drop_unknown_epoch",
	[BX_MSG_STAGED_DENIED] = "drop_staged_denied",
	[BX_MSG_WILL] = "drop_will",
	[BX_MSG_RETAIN_DENIED] = "drop_retain",
	[BX_PROPS_STRIPPED] = "props_stripped",
	[BX_DELIVERY_FAILED] = "delivery_failed",
	[BX_MSG_INTERNAL] = "drop_internal",
	[BX_PLAIN_PUBLISH_DENIED] = "plain_publish_denied",
	[BX_FLEET_DENIED] = "fleet_denied",
	[BX_REKEY_NOTICES] = "rekey_notices",
	[BX_SUB_DENIED] = "subscribe_denied",
	[BX_READ_DENIED] = "read_denied",
	[BX_KICKED] = "kicked",
	[BX_POLICY_UPDATES] = "policy_updates",
	[BX_KMS_ERRORS] = "kms_errors",
	[BX_RETAINED_DROPPED] = "retained_dropped",
};

void stats__inc(enum bx_stat s)
{
	if ((unsigned)s < BX_STAT__COUNT) {
		counters[s]++;
		generation++;
	}
}

uint64_t stats__get(enum bx_stat s)
{
	return (unsigned)s < BX_STAT__COUNT ? counters[s] : 0;
}

const char *stats__name(enum bx_stat s)
{
	return (unsigned)s < BX_STAT__COUNT ? names[s] : "?";
}

void stats__set_policy_version(uint64_t v)
{
	if (v != policy_version) {
		policy_version = v;
		generation++;
	}
}

void stats__set_sessions(uint64_t n)
{
	if (n != sessions) {
		sessions = n;
		generation++;
	}
}

void stats__set_cert_cache(uint64_t hits, uint64_t misses)
{
	if (hits != cert_hits || misses != cert_misses) {
		cert_hits = hits;
		cert_misses = misses;
		generation++;
	}
}

/* The counters whose names share a prefix form one Prometheus family with
 * the rest of the name as a label; every other counter is its own family. */
static const struct {
	const char *prefix, *family, *label, *help;
} families[] = {
	{ "auth_", "mqe2e_broker_handshakes_total", "result",
	  "mqe2e CONNECT handshakes: ok, or the reason of the refusal." },
	{ "msg_relayed_scheme", "mqe2e_broker_messages_relayed_total", "scheme",
	  "Group messages verified and relayed, by scheme." },
	{ "drop_", "mqe2e_broker_messages_dropped_total", "reason",
	  "Messages dropped, by reason." },
	{ "plain_", "mqe2e_broker_plain_clients_total", "result",
	  "Clients without mqe2e: accepted, refused, identity_refused (an mqe2e id), "
	  "publish_denied." },
};

static int in_family(const char *name)
{
	size_t f;

	for (f = 0; f < sizeof(families) / sizeof(families[0]); f++)
		if (strncmp(name, families[f].prefix, strlen(families[f].prefix)) == 0)
			return 1;
	return 0;
}

/* The exposition into w (see mqe2e_plugin(8), METRICS). */
static void render_prom(struct mqe2e_writer *w)
{
	char family[96], help[160];
	size_t f;
	int i;

	mqe2e_prom_family(w, "mqe2e_broker_policy_version", "gauge",
	    "Version of the KMS policy the broker enforces.");
	mqe2e_prom_u64(w, "mqe2e_broker_policy_version", NULL, policy_version);
	mqe2e_prom_family(w, "mqe2e_broker_sessions", "gauge",
	    "Connections the plugin holds state for (mqe2e and plain).");
	mqe2e_prom_u64(w, "mqe2e_broker_sessions", NULL, sessions);
	mqe2e_prom_family(w, "mqe2e_broker_cert_cache_lookups_total", "counter",
	    "Client certificates checked at CONNECT: hit (answered from the cache of "
	    "verified certificates; revocation still checked), or miss (parsed and verified).");
	mqe2e_prom_u64(w, "mqe2e_broker_cert_cache_lookups_total",
	    (const char *const[]){ "result", "hit", NULL }, cert_hits);
	mqe2e_prom_u64(w, "mqe2e_broker_cert_cache_lookups_total",
	    (const char *const[]){ "result", "miss", NULL }, cert_misses);
	for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		size_t plen = strlen(families[f].prefix);

		mqe2e_prom_family(w, families[f].family, "counter", families[f].help);
		for (i = 0; i < BX_STAT__COUNT; i++)
			if (strncmp(names[i], families[f].prefix, plen) == 0)
				mqe2e_prom_u64(w, families[f].family, (const char *const[]){
				    families[f].label, names[i] + plen, NULL }, counters[i]);
	}
	for (i = 0; i < BX_STAT__COUNT; i++) {
		if (in_family(names[i]))
			continue;
		snprintf(family, sizeof(family), "mqe2e_broker_%s_total", names[i]);
		snprintf(help, sizeof(help), "Counter %s of mqe2e_plugin(8), COUNTERS.", names[i]);
		mqe2e_prom_family(w, family, "counter", help);
		mqe2e_prom_u64(w, family, NULL, counters[i]);
	}
}

/* One "name value" line of the stats file. */
static void put_line(struct mqe2e_writer *w, const char *name, uint64_t v)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s %llu\n", name, (unsigned long long)v);

	if (n > 0 && (size_t)n < sizeof(line))
		mqe2e_wr_bytes(w, line, (size_t)n);
}

/* path replaced atomically by "name value" lines or the Prometheus text. */
static void write_file(const char *path, int prom)
{
	struct mqe2e_writer w;
	char tmp[4096];
	FILE *f = NULL;
	int i, n, ok;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return;
	mqe2e_wr_init_grow(&w, 4096, 1u << 20);
	if (prom) {
		render_prom(&w);
	} else {
		const struct { const char *name; uint64_t v; } gauges[] = {
			{ "policy_version", policy_version }, { "sessions", sessions },
			{ "cert_cache_hits", cert_hits }, { "cert_cache_misses", cert_misses },
		};
		size_t g;

		for (g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++)
			put_line(&w, gauges[g].name, gauges[g].v);
		for (i = 0; i < BX_STAT__COUNT; i++)
			put_line(&w, names[i], counters[i]);
	}
	if (mqe2e_wr_error(&w) != MQE2E_OK || (f = fopen(tmp, "w")) == NULL) {
		mqe2e_wr_free(&w);
		return;
	}
	ok = fwrite(w.p, 1, w.len, f) == w.len;
	mqe2e_wr_free(&w);
	if (fclose(f) != 0 || !ok || rename(tmp, path) != 0)
		remove(tmp);
}

static void write_files(void)
{
	if (bx.cfg.stats_file != NULL)
		write_file(bx.cfg.stats_file, 0);
	if (bx.cfg.metrics_file != NULL)
		write_file(bx.cfg.metrics_file, 1);
}

void stats__flush(const char *stats_file)
{
	(void)stats_file;
	write_files();
	written_generation = generation;
}

static void log_summary(void)
{
	char line[2048];
	size_t off = 0;
	int i, n;

	for (i = 0; i < BX_STAT__COUNT; i++) {
		if (counters[i] == 0)
			continue;
		n = snprintf(line + off, sizeof(line) - off, "%s%s=%llu", off ? " " : "", names[i],
		    (unsigned long long)counters[i]);
		if (n < 0 || (size_t)n >= sizeof(line) - off)
			break;
		off += (size_t)n;
	}
	plugin__log(MOSQ_LOG_INFO, BX_LOG_PREFIX "stats: policy=%llu sessions=%llu %s",
	    (unsigned long long)policy_version, (unsigned long long)sessions, off ? line : "(no events)");
}

void stats__tick(const char *stats_file, time_t now)
{
	(void)stats_file;
	if (generation != written_generation && now != last_write) {
		write_files();
		written_generation = generation;
		last_write = now;
	}
	if (generation != logged_generation && now - last_log >= 60) {
		log_summary();
		logged_generation = generation;
		last_log = now;
	}
}
