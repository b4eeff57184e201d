/*
 * stats.c - counters of the broker extension.
 *
 * Every refused handshake and every dropped message is counted under its
 * reason.  The counters are written as "name value" lines to the file named
 * by plugin_opt_stats_file (atomically: temp file + rename, at most once a
 * second, only when something changed) and summarised in the broker log at
 * most once a minute.  Broker thread only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "plugin.h"

static uint64_t counters[BX_STAT__COUNT];
static uint64_t policy_version;
static uint64_t sessions;
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

static void write_file(const char *path)
{
	char tmp[4096];
	FILE *f = NULL;
	int i, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return;
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "policy_version %llu\n", (unsigned long long)policy_version);
	fprintf(f, "sessions %llu\n", (unsigned long long)sessions);
	for (i = 0; i < BX_STAT__COUNT; i++)
		fprintf(f, "%s %llu\n", names[i], (unsigned long long)counters[i]);
	if (fclose(f) != 0) {
		remove(tmp);
		return;
	}
	if (rename(tmp, path) != 0)
		remove(tmp);
}

void stats__flush(const char *stats_file)
{
	if (stats_file != NULL) {
		write_file(stats_file);
		written_generation = generation;
	}
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
	mosquitto_log_printf(MOSQ_LOG_INFO, BX_LOG_PREFIX "stats: policy=%llu sessions=%llu %s",
	    (unsigned long long)policy_version, (unsigned long long)sessions, off ? line : "(no events)");
}

void stats__tick(const char *stats_file, time_t now)
{
	if (stats_file != NULL && generation != written_generation && now != last_write) {
		write_file(stats_file);
		written_generation = generation;
		last_write = now;
	}
	if (generation != logged_generation && now - last_log >= 60) {
		log_summary();
		logged_generation = generation;
		last_log = now;
	}
}
