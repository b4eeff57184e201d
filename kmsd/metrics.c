/*
 * metrics.c - counters of mqe2e-kmsd and their Prometheus exposition
 * (see metrics.h; the names are documented in mqe2e-kmsd(8), METRICS).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fleet.h"
#include "kmsd.h"
#include "metrics.h"
#include "prom.h"
#include "replay.h"
#include "store.h"

/* The first path segment of each route; the last one catches the rest. */
static const char *const endpoints[] = {
	"health", "ca", "crl", "clients", "groups", "grants", "keys", "policy", "certs", "metrics",
	"other",
};
#define N_EP (sizeof(endpoints) / sizeof(endpoints[0]))
#define STATUS_MIN 100
#define STATUS_MAX 599
#define N_STATUS (STATUS_MAX - STATUS_MIN + 1)

/* Latency buckets in seconds: a key request takes milliseconds, a policy
 * long poll up to its timeout. */
static const double bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
};
#define N_BOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static const char *const rotation_causes[] = { "scheduled", "manual", "revocation",
	"grant-removal", "other" };
#define N_CAUSES (sizeof(rotation_causes) / sizeof(rotation_causes[0]))
static const char *const revocation_kinds[] = { "client", "certificate" };
#define N_REVOKE (sizeof(revocation_kinds) / sizeof(revocation_kinds[0]))

static struct {
	pthread_mutex_t lock;
	uint64_t requests[N_EP][N_STATUS];
	uint64_t latency[N_EP][N_BOUNDS + 1];
	double latency_sum[N_EP];
	uint64_t key_responses[2];             /* client, broker */
	uint64_t keys_served[2];
	uint64_t rotations[N_CAUSES];
	uint64_t revocations[N_REVOKE];
	uint64_t db_errors;
	uint64_t connections;                  /* accepted */
	time_t started;
} m = { .lock = PTHREAD_MUTEX_INITIALIZER };

uint64_t
kms_metrics_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static size_t
index_of(const char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < n - 1; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return n - 1;
}

void
kms_metrics_request(const char *endpoint, unsigned status, uint64_t usec)
{
	size_t ep = index_of(endpoints, N_EP, endpoint), b;
	double s = (double)usec / 1e6;

	if (status < STATUS_MIN || status > STATUS_MAX)
		status = 500;
	for (b = 0; b < N_BOUNDS && s > bounds[b]; b++)
		;
	pthread_mutex_lock(&m.lock);
	m.requests[ep][status - STATUS_MIN]++;
	m.latency[ep][b]++;
	m.latency_sum[ep] += s;
	pthread_mutex_unlock(&m.lock);
}

void
kms_metrics_keys_served(int broker, size_t n)
{
	pthread_mutex_lock(&m.lock);
	m.key_responses[broker ? 1 : 0]++;
	m.keys_served[broker ? 1 : 0] += n;
	pthread_mutex_unlock(&m.lock);
}

void
kms_metrics_rotation(const char *cause)
{
	size_t i = index_of(rotation_causes, N_CAUSES, cause);

	pthread_mutex_lock(&m.lock);
	m.rotations[i]++;
	pthread_mutex_unlock(&m.lock);
}

void
kms_metrics_revocation(const char *what)
{
	size_t i = index_of(revocation_kinds, N_REVOKE, what);

	pthread_mutex_lock(&m.lock);
	m.revocations[i]++;
	pthread_mutex_unlock(&m.lock);
}

void
kms_metrics_db_error(void)
{
	pthread_mutex_lock(&m.lock);
	m.db_errors++;
	pthread_mutex_unlock(&m.lock);
}

void
kms_metrics_connection(void)
{
	pthread_mutex_lock(&m.lock);
	m.connections++;
	pthread_mutex_unlock(&m.lock);
}

void
kms_metrics_init(void)
{
	m.started = time(NULL);
}

int
kms_metrics_render(struct kmsd *k, char **out, size_t *len)
{
	static const char *const kinds[] = { "client", "broker" };
	struct mqe2e_writer w;
	uint64_t policy_version;
	int64_t full_since;
	size_t fill[2], cap[2], i, j;
	uint64_t cert_hits, cert_misses;
	int healthy;
	uint8_t *buf = NULL;
	int r;

	*out = NULL;
	*len = 0;
	policy_version = kmsd_policy_version(k);
	healthy = !kmsd_faulty(k, NULL, 0);
	full_since = kms_db_full_since(k->db);
	pthread_mutex_lock(&k->nonce_lock);
	fill[0] = mqe2e_nonce_cache_fill(k->nonces, &cap[0]);
	fill[1] = mqe2e_nonce_cache_fill(k->broker_nonces, &cap[1]);
	pthread_mutex_unlock(&k->nonce_lock);
	mqe2e_trust_cache_stats(k->trust, &cert_hits, &cert_misses);

	mqe2e_wr_init_grow(&w, 8192, 4u << 20);
	mqe2e_prom_family(&w, "mqe2e_kms_build_info", "gauge",
	    "Version of the running mqe2e-kmsd (always 1).");
	mqe2e_prom_u64(&w, "mqe2e_kms_build_info",
	    (const char *const[]){ "version", PACKAGE_VERSION, NULL }, 1);
	mqe2e_prom_family(&w, "mqe2e_kms_start_time_seconds", "gauge",
	    "When the daemon started, seconds since the Unix epoch.");
	mqe2e_prom_u64(&w, "mqe2e_kms_start_time_seconds", NULL, (uint64_t)m.started);
	mqe2e_prom_family(&w, "mqe2e_kms_policy_version", "gauge",
	    "Version of the broker policy; it moves on every grant, revocation and rotation.");
	mqe2e_prom_u64(&w, "mqe2e_kms_policy_version", NULL, policy_version);
	mqe2e_prom_family(&w, "mqe2e_kms_healthy", "gauge",
	    "1, or 0 once a stored group key did not open under the master key (health 503, "
	    "rotation paused until a restart).");
	mqe2e_prom_u64(&w, "mqe2e_kms_healthy", NULL, healthy ? 1 : 0);
	mqe2e_prom_family(&w, "mqe2e_kms_scheduler_leader", "gauge",
	    "1 while this instance runs the rotation scheduler: always with SQLite; with "
	    "several instances on one PostgreSQL database, the one holding its scheduler lock.");
	mqe2e_prom_u64(&w, "mqe2e_kms_scheduler_leader", NULL, kms_fleet_leader(k) ? 1 : 0);
	mqe2e_prom_family(&w, "mqe2e_kms_scheduler_takeovers_total", "counter",
	    "How many times this instance became the scheduler's leader.");
	mqe2e_prom_u64(&w, "mqe2e_kms_scheduler_takeovers_total", NULL, kms_fleet_takeovers(k));
	mqe2e_prom_family(&w, "mqe2e_kms_disk_full_since_seconds", "gauge",
	    "When a write first failed for lack of space on the data directory's disk, "
	    "seconds since the Unix epoch; 0 while writes work.");
	mqe2e_prom_u64(&w, "mqe2e_kms_disk_full_since_seconds", NULL,
	    full_since > 0 ? (uint64_t)full_since : 0);
	mqe2e_prom_family(&w, "mqe2e_kms_nonce_cache_entries", "gauge",
	    "KEY_REQUEST nonces held by the replay caches (one for clients, one for brokers), "
	    "including expired ones not yet swept.");
	for (i = 0; i < 2; i++)
		mqe2e_prom_u64(&w, "mqe2e_kms_nonce_cache_entries",
		    (const char *const[]){ "cache", i == 0 ? "client" : "broker", NULL }, fill[i]);
	mqe2e_prom_family(&w, "mqe2e_kms_nonce_cache_capacity", "gauge",
	    "Live nonces each replay cache may hold; when full, key requests get 503.");
	for (i = 0; i < 2; i++)
		mqe2e_prom_u64(&w, "mqe2e_kms_nonce_cache_capacity",
		    (const char *const[]){ "cache", i == 0 ? "client" : "broker", NULL }, cap[i]);
	mqe2e_prom_family(&w, "mqe2e_kms_cert_cache_lookups_total", "counter",
	    "Requesters' certificates checked: hit (answered from the cache of verified "
	    "certificates; revocation is checked either way) or miss (parsed and verified).");
	mqe2e_prom_u64(&w, "mqe2e_kms_cert_cache_lookups_total",
	    (const char *const[]){ "result", "hit", NULL }, cert_hits);
	mqe2e_prom_u64(&w, "mqe2e_kms_cert_cache_lookups_total",
	    (const char *const[]){ "result", "miss", NULL }, cert_misses);

	pthread_mutex_lock(&m.lock);
	mqe2e_prom_family(&w, "mqe2e_kms_http_requests_total", "counter",
	    "HTTP requests answered, by endpoint (first path segment under /v1) and status code.");
	for (i = 0; i < N_EP; i++) {
		for (j = 0; j < N_STATUS; j++) {
			char code[8];

			if (m.requests[i][j] == 0)
				continue;
			snprintf(code, sizeof(code), "%zu", j + STATUS_MIN);
			mqe2e_prom_u64(&w, "mqe2e_kms_http_requests_total",
			    (const char *const[]){ "endpoint", endpoints[i], "code", code, NULL },
			    m.requests[i][j]);
		}
	}
	mqe2e_prom_family(&w, "mqe2e_kms_http_connections_total", "counter",
	    "TCP connections accepted (a client that keeps its connection sends several "
	    "requests on one).");
	mqe2e_prom_u64(&w, "mqe2e_kms_http_connections_total", NULL, m.connections);
	mqe2e_prom_family(&w, "mqe2e_kms_http_request_duration_seconds", "histogram",
	    "Time from a request's arrival to its queued answer, by endpoint (policy long "
	    "polls wait for a change by design).");
	for (i = 0; i < N_EP; i++)
		mqe2e_prom_histogram(&w, "mqe2e_kms_http_request_duration_seconds",
		    (const char *const[]){ "endpoint", endpoints[i], NULL }, bounds,
		    m.latency[i], N_BOUNDS, m.latency_sum[i]);
	mqe2e_prom_family(&w, "mqe2e_kms_key_responses_total", "counter",
	    "KEY_RESPONSEs sent (verified key requests that got keys), by requester kind.");
	for (i = 0; i < 2; i++)
		mqe2e_prom_u64(&w, "mqe2e_kms_key_responses_total",
		    (const char *const[]){ "kind", kinds[i], NULL }, m.key_responses[i]);
	mqe2e_prom_family(&w, "mqe2e_kms_keys_served_total", "counter",
	    "Epoch keys delivered in KEY_RESPONSEs, by requester kind.");
	for (i = 0; i < 2; i++)
		mqe2e_prom_u64(&w, "mqe2e_kms_keys_served_total",
		    (const char *const[]){ "kind", kinds[i], NULL }, m.keys_served[i]);
	mqe2e_prom_family(&w, "mqe2e_kms_rotations_total", "counter",
	    "Group key rotations committed, by cause.");
	for (i = 0; i < N_CAUSES; i++)
		mqe2e_prom_u64(&w, "mqe2e_kms_rotations_total",
		    (const char *const[]){ "cause", rotation_causes[i], NULL }, m.rotations[i]);
	mqe2e_prom_family(&w, "mqe2e_kms_revocations_total", "counter",
	    "Revocations committed: whole clients, or single certificates.");
	for (i = 0; i < N_REVOKE; i++)
		mqe2e_prom_u64(&w, "mqe2e_kms_revocations_total",
		    (const char *const[]){ "what", revocation_kinds[i], NULL }, m.revocations[i]);
	mqe2e_prom_family(&w, "mqe2e_kms_db_errors_total", "counter",
	    "SQLite errors other than constraint violations (each is also in the daemon log).");
	mqe2e_prom_u64(&w, "mqe2e_kms_db_errors_total", NULL, m.db_errors);
	pthread_mutex_unlock(&m.lock);

	if ((r = mqe2e_wr_steal(&w, &buf, len)) != MQE2E_OK)
		return r;
	*out = (char *)buf;
	return MQE2E_OK;
}
