/*
 * kms_sync.c - the broker extension's KMS thread.
 *
 * The broker thread never talks to the KMS.  This thread does, with the
 * blocking HTTP client of the core (docs/API.md):
 *
 *   POST /v1/policy                   signed KEY_REQUEST -> signed policy
 *   POST /v1/policy/watch?since=V     the same, long poll for a newer one
 *   POST /v1/keys                     signed KEY_REQUEST -> KEY_RESPONSE with
 *                                     GK_B of every group
 *   GET  /v1/crl                      the CA's CRL
 *
 * Each policy answer carries the CA's Ed25519 signature over
 * "mqe2e-v1 policy" || nonce of our request || policy bytes (checked with
 * mqe2e_policy_open, core/policy.h), so a stale or replayed answer cannot
 * pass; a version lower than the one held is refused.
 * On every new version the keys and the CRL are fetched again, a complete
 * snapshot (policy.c) is built here and handed to the broker thread under
 * the lock; the broker thread installs it in its tick.  If the KMS is down
 * the last snapshot stays in force (live traffic never waits for the KMS)
 * and the thread retries with a growing delay (1 s .. 10 s).
 *
 * The thread owns its own identity and trust objects (never shared with the
 * broker thread) and does not call mosquitto_log_printf: its log lines are
 * queued and printed by the broker thread (kms_sync__take).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "clock.h"
#include "delta.h"
#include "http.h"
#include "kmsreq.h"
#include "policy.h"
#include "plugin.h"

#define HTTP_TIMEOUT_MS 10000
#define GO_FALLBACK_MS 2000   /* no tick or client event by then: start anyway */
/* After a round that found a burst of changes going on (BURST_CHANGES or
 * more policy versions since the round before), the next one starts no
 * sooner than this after it began: a burst (thousands of rekeys) costs the
 * KMS about one round a second, each taking in every change so far, instead
 * of one per change (and the broker's share of KEY_REQUESTs).  A round that
 * found one or a few changes (an administrator's grant, a revocation) is
 * followed at once, so such a change reaches the broker in one watch round
 * trip even right after another (and the first round, from nothing, is
 * no burst). */
#define BURST_PACE_MS 1000
#define BURST_CHANGES 4
/* Between failed rounds.  Retries against an unreachable or overloaded KMS
 * (failover over plugin_opt_kms_url, jittered exponential backoff,
 * Retry-After) happen inside each request, in core/http; this pause only
 * keeps a round that fails at once (a refusal, an answer that does not
 * verify) from spinning. */
#define SYNC_PAUSE_MS 1000
#define LOGQ_LEN 32
#define LOGQ_LINE 512

struct bx_kms_sync {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	/* under lock */
	bool stop;
	bool go;                         /* the broker serves: see kms_sync__run */
	bool kick;                       /* a publisher is ahead: no burst pace */
	uint64_t last_ok_ms;             /* last answer from the KMS */
	struct bx_policy *pending;
	unsigned errors;                 /* new failures since the last take */
	char logq[LOGQ_LEN][LOGQ_LINE];
	int loglevel[LOGQ_LEN];
	size_t nlog;
	/* kms_sync__stop writes to wake[1]: a request in flight (the policy long
	 * poll) ends at once instead of at its deadline, so Mosquitto stops
	 * without waiting for plugin_opt_kms_watch_s. */
	int wake[2];
	/* thread only */
	struct mqe2e_http *http;         /* the KMS URLs, CA, connection */
	char *cache_path;                /* plugin_opt_policy_cache, may be NULL */
	json_t *chain;                   /* its answers: a full snapshot + deltas */
	size_t chain_full_bytes;         /* of the full snapshot */
	size_t chain_delta_bytes;        /* of the deltas after it */
	uint32_t watch_s;
	struct mqe2e_identity *self;
	struct mqe2e_trust *trust;
	uint64_t version;
	bool have;
	json_t *base;                    /* the full policy of version (deltas apply) */
	struct mqe2e_key_entry *keys;    /* the GK_B entries of version (secret) */
	size_t nkeys;
	uint8_t *crl;                    /* the CRL of version */
	size_t crl_len;
	uint64_t policy_bytes, rounds;   /* policy answers taken in */
	bool failing;
};

static void qlog(struct bx_kms_sync *ks, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void qlog(struct bx_kms_sync *ks, int level, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&ks->lock);
	if (ks->nlog < LOGQ_LEN) {
		va_start(ap, fmt);
		vsnprintf(ks->logq[ks->nlog], LOGQ_LINE, fmt, ap);
		va_end(ap);
		ks->loglevel[ks->nlog] = level;
		ks->nlog++;
	}
	pthread_mutex_unlock(&ks->lock);
}

/* Check the CA signature of a policy answer to the request req; nonce
 * receives the request's nonce (for the cache). */
static int policy_verify(struct bx_kms_sync *ks, const uint8_t *req, size_t req_len,
    const uint8_t *body, size_t body_len, uint8_t nonce[MQE2E_NONCE_LEN], uint8_t **policy,
    size_t *policy_len)
{
	struct mqe2e_hello h;
	int r;

	*policy = NULL;
	*policy_len = 0;
	if ((r = mqe2e_hello_decode(req, req_len, MQE2E_MSG_KEY_REQUEST, &h)) != MQE2E_OK)
		return r;
	memcpy(nonce, h.nonce, MQE2E_NONCE_LEN);
	return cache__open_answer(mqe2e_trust_ca_key(ks->trust), nonce, body, body_len, policy,
	    policy_len);
}

/* POST a KEY_REQUEST per kr (its wants, or none) to path, signed afresh
 * for every attempt (core/kmsreq.h); on 200 *resp holds the answer to the
 * request kr->st, kr->req. */
static int post_keyreq(struct bx_kms_sync *ks, const char *path, int timeout_ms,
    struct mqe2e_kmsreq *kr, struct mqe2e_http_response *resp)
{
	struct mqe2e_http_req rq;
	int r;

	memset(&rq, 0, sizeof(rq));
	rq.path = path;
	rq.timeout_ms = timeout_ms;
	rq.cancel_fd = ks->wake[0];
	kr->id = ks->self;
	r = mqe2e_kmsreq_post(ks->http, &rq, kr, resp);
	if (r != MQE2E_OK) {
		if (!ks->failing)
			qlog(ks, MOSQ_LOG_WARNING, BX_LOG_PREFIX "KMS %s: %s", path, resp->error);
		return r;
	}
	if (resp->status != 200) {
		char hint[96];

		mqe2e_http_retry_hint(resp, hint, sizeof(hint));
		qlog(ks, MOSQ_LOG_WARNING, BX_LOG_PREFIX "KMS %s%s answered HTTP %d%s: %.200s", resp->url,
		    path, resp->status, hint, resp->body ? (const char *)resp->body : "");
		return MQE2E_ERR_UNAVAILABLE;
	}
	return MQE2E_OK;
}

/* One answer of the KMS to a KEY_REQUEST for want (n) after the cursor,
 * moved into *acc. */
static int fetch_key_page(struct bx_kms_sync *ks, const struct mqe2e_keyreq_want *want,
    size_t n, const char *after, struct mqe2e_keybundle *acc)
{
	struct mqe2e_keybundle kb = { NULL, 0, NULL, 0, 0 };
	struct mqe2e_kmsreq kr;
	struct mqe2e_http_response resp;
	int r;

	memset(&kr, 0, sizeof(kr));
	kr.want = want;
	kr.n = n;
	kr.after = after;
	if ((r = post_keyreq(ks, "/v1/keys", HTTP_TIMEOUT_MS, &kr, &resp)) != MQE2E_OK)
		goto out;
	if ((r = mqe2e_keyresp_open(kr.st, ks->trust, resp.body, resp.body_len, mqe2e_now_ms(), &kb))
	    != MQE2E_OK) {
		qlog(ks, MOSQ_LOG_ERR, BX_LOG_PREFIX "KMS key response refused: %s", mqe2e_strerror(r));
		goto out;
	}
	if ((kb.flags & MQE2E_KEYBUNDLE_MORE) != 0 && (kb.ngroups == 0 ||
	    strcmp(kb.groups[kb.ngroups - 1].name, after != NULL ? after : "") <= 0)) {
		qlog(ks, MOSQ_LOG_ERR, BX_LOG_PREFIX "KMS pages its key answer without moving on");
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	r = mqe2e_keybundle_append(acc, &kb);
out:
	mqe2e_keybundle_free(&kb);
	mqe2e_http_response_free(&resp);
	mqe2e_kmsreq_clear(&kr);
	return r;
}

/* GK_B of every group: page after page (PROTOCOL.md 2.3). */
static int fetch_keys(struct bx_kms_sync *ks, struct mqe2e_key_entry **e, size_t *n)
{
	struct mqe2e_keybundle all = { NULL, 0, NULL, 0, 0 };
	char after[MQE2E_ID_MAX + 1] = "";
	int r;

	*e = NULL;
	*n = 0;
	do {
		if ((r = fetch_key_page(ks, NULL, 0, after, &all)) != MQE2E_OK)
			goto out;
		/* the table stays sorted: its last name is this page's last */
		if (all.ngroups > 0)
			memcpy(after, all.groups[all.ngroups - 1].name, sizeof(after));
	} while ((all.flags & MQE2E_KEYBUNDLE_MORE) != 0);
	/* the groups' filters and schemes come with the signed policy */
	*e = all.keys;
	*n = all.nkeys;
	all.keys = NULL;
	all.nkeys = 0;
out:
	mqe2e_keybundle_free(&all);
	return r;
}

static int fetch_crl(struct bx_kms_sync *ks, uint8_t **crl, size_t *len)
{
	struct mqe2e_http_response resp;
	int r;

	*crl = NULL;
	*len = 0;
	memset(&resp, 0, sizeof(resp));
	r = mqe2e_http_request(ks->http, "GET", "/v1/crl", NULL, NULL, NULL, 0,
	    HTTP_TIMEOUT_MS, ks->wake[0], &resp);
	if (r == MQE2E_OK && resp.status == 200 && resp.body != NULL) {
		*crl = resp.body;
		*len = resp.body_len;
		resp.body = NULL;
	} else if (r == MQE2E_OK) {
		qlog(ks, MOSQ_LOG_WARNING, BX_LOG_PREFIX "KMS %s/v1/crl answered HTTP %d", resp.url, resp.status);
		r = MQE2E_ERR_UNAVAILABLE;
	}
	mqe2e_http_response_free(&resp);
	return r;
}

/* Replace in *held the keys of the groups a delta names (changed or
 * removed) with freshly fetched ones of the changed groups, named in
 * KEY_REQUESTs of up to MQE2E_GROUPS_MAX groups, each paged. */
static int fetch_changed_keys(struct bx_kms_sync *ks, const json_t *delta,
    struct mqe2e_keybundle *held)
{
	const json_t *groups = json_object_get(delta, "groups");
	const json_t *removed = json_object_get(delta, "groups_removed");
	struct mqe2e_keybundle fresh = { NULL, 0, NULL, 0, 0 };
	struct mqe2e_keyreq_want w[MQE2E_GROUPS_MAX];
	struct mqe2e_key_entry *keep = NULL;
	size_t i, j, n = 0, nkeep = 0, total = json_array_size(groups);
	int r = MQE2E_OK;

	for (i = 0; i < total && r == MQE2E_OK; i++) {
		w[n].group = json_string_value(json_object_get(json_array_get(groups, i), "name"));
		w[n++].epoch = 0;
		if (n == MQE2E_GROUPS_MAX || i + 1 == total) {
			char after[MQE2E_ID_MAX + 1] = "";
			size_t before;

			do {
				before = fresh.ngroups;
				if ((r = fetch_key_page(ks, w, n, after, &fresh)) != MQE2E_OK)
					break;
				if (fresh.ngroups > before)
					snprintf(after, sizeof(after), "%s",
					    fresh.groups[fresh.ngroups - 1].name);
			} while ((fresh.flags & MQE2E_KEYBUNDLE_MORE) != 0);
			n = 0;
		}
	}
	if (r != MQE2E_OK)
		goto out;
	/* keep the held keys of every group the delta does not name */
	if (held->nkeys > 0 && (keep = calloc(held->nkeys + fresh.nkeys, sizeof(*keep))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < held->nkeys; i++) {
		const char *g = held->keys[i].group;
		int named = 0;

		for (j = 0; j < total && !named; j++)
			named = strcmp(g, json_string_value(json_object_get(
			    json_array_get(groups, j), "name"))) == 0;
		for (j = 0; j < json_array_size(removed) && !named; j++)
			named = strcmp(g, json_string_value(json_array_get(removed, j))) == 0;
		if (!named)
			keep[nkeep++] = held->keys[i];
	}
	if (keep == NULL && fresh.nkeys > 0 &&
	    (keep = calloc(fresh.nkeys, sizeof(*keep))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < fresh.nkeys; i++)
		keep[nkeep++] = fresh.keys[i];
	mqe2e_key_entries_free(held->keys, held->nkeys);
	held->keys = keep;
	held->nkeys = nkeep;
	keep = NULL;
out:
	mqe2e_keybundle_free(&fresh);
	mqe2e_key_entries_free(keep, nkeep);
	return r;
}

/* A copy of n key entries (the snapshot and the thread keep their own). */
static int keys_dup(const struct mqe2e_key_entry *e, size_t n, struct mqe2e_key_entry **out)
{
	*out = NULL;
	if (n == 0)
		return MQE2E_OK;
	if ((*out = calloc(n, sizeof(**out))) == NULL)
		return MQE2E_ERR_NOMEM;
	memcpy(*out, e, n * sizeof(**out));
	return MQE2E_OK;
}

/* One round: get the policy (long poll if we hold one); on a new version
 * take the full policy or apply the delta (delta.c), fetch the keys (all of
 * them, or a delta's groups') and the CRL (unless a delta shows no
 * revocation) and hand a snapshot over.  Returns MQE2E_OK, also when
 * nothing changed. */
static int sync_once(struct bx_kms_sync *ks)
{
	struct mqe2e_kmsreq kr;
	struct mqe2e_http_response resp;
	struct mqe2e_key_entry *keys = NULL;
	struct mqe2e_keybundle held = { NULL, 0, NULL, 0, 0 };
	struct bx_policy *snap = NULL;
	json_t *doc = NULL, *merged = NULL;
	json_error_t jerr;
	uint8_t *pol = NULL, *crl = NULL, nonce[MQE2E_NONCE_LEN];
	size_t pol_len = 0, nkeys = 0, crl_len = 0;
	char path[160], err[512], *bytes = NULL;
	int timeout_ms = HTTP_TIMEOUT_MS, r, is_delta = 0;
	uint64_t version;

	memset(&resp, 0, sizeof(resp));
	memset(&kr, 0, sizeof(kr));
	if (ks->have) {
		/* deltas, unless the cache's chain of them outgrew its full
		 * snapshot (then a full one starts a new chain) */
		bool full = ks->base == NULL || (ks->cache_path != NULL &&
		    (json_array_size(ks->chain) == 0 || json_array_size(ks->chain) > CACHE_DELTAS_MAX ||
		    ks->chain_delta_bytes > ks->chain_full_bytes));

		snprintf(path, sizeof(path), "/v1/policy/watch?since=%llu&timeout=%u%s",
		    (unsigned long long)ks->version, ks->watch_s, full ? "" : "&delta=1");
		timeout_ms += (int)ks->watch_s * 1000;
	} else {
		snprintf(path, sizeof(path), "/v1/policy");
	}
	if ((r = post_keyreq(ks, path, timeout_ms, &kr, &resp)) != MQE2E_OK)
		goto out;
	if ((r = policy_verify(ks, kr.req, kr.req_len, resp.body, resp.body_len, nonce, &pol,
	    &pol_len))
	    != MQE2E_OK) {
		qlog(ks, MOSQ_LOG_ERR, BX_LOG_PREFIX "KMS policy refused: %s", mqe2e_strerror(r));
		goto out;
	}
	r = MQE2E_ERR_BAD_FORMAT;
	if ((doc = json_loadb((const char *)pol, pol_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_integer(json_object_get(doc, "version"))) {
		qlog(ks, MOSQ_LOG_ERR, BX_LOG_PREFIX "KMS policy unusable: %s", mqe2e_strerror(r));
		goto out;
	}
	version = (uint64_t)json_integer_value(json_object_get(doc, "version"));
	if (ks->have && version <= ks->version) {
		if (version < ks->version)
			qlog(ks, MOSQ_LOG_WARNING, BX_LOG_PREFIX "KMS policy version %llu older than "
			    "%llu held: ignored", (unsigned long long)version,
			    (unsigned long long)ks->version);
		r = MQE2E_OK;
		goto out;
	}
	if ((is_delta = delta__is(doc))) {
		if (ks->base == NULL || (merged = json_deep_copy(ks->base)) == NULL ||
		    (r = delta__apply(merged, doc)) != MQE2E_OK) {
			qlog(ks, MOSQ_LOG_ERR, BX_LOG_PREFIX "KMS policy delta to version %llu "
			    "unusable (%s): asking for a full snapshot", (unsigned long long)version,
			    mqe2e_strerror(r == MQE2E_OK ? MQE2E_ERR_NOMEM : r));
			json_decref(ks->base);
			ks->base = NULL;
			r = MQE2E_ERR_BAD_FORMAT;
			goto out;
		}
	} else {
		merged = json_incref(doc);
	}
	if ((bytes = json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	/* keys: a delta's groups only, else all of them */
	if (is_delta) {
		if ((r = keys_dup(ks->keys, ks->nkeys, &held.keys)) != MQE2E_OK)
			goto out;
		held.nkeys = ks->nkeys;
		if ((r = fetch_changed_keys(ks, doc, &held)) != MQE2E_OK)
			goto out;
		keys = held.keys;
		nkeys = held.nkeys;
		held.keys = NULL;
		held.nkeys = 0;
	} else if ((r = fetch_keys(ks, &keys, &nkeys)) != MQE2E_OK)
		goto out;
	/* the CRL: again only when revocations moved */
	if (is_delta && ks->crl != NULL &&
	    json_array_size(json_object_get(doc, "revoked_serials")) == 0 &&
	    json_array_size(json_object_get(doc, "revoked_serials_removed")) == 0 &&
	    json_array_size(json_object_get(doc, "revoked_clients")) == 0) {
		if ((crl = malloc(ks->crl_len)) == NULL) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
		memcpy(crl, ks->crl, ks->crl_len);
		crl_len = ks->crl_len;
	} else if ((r = fetch_crl(ks, &crl, &crl_len)) != MQE2E_OK)
		goto out;
	if ((r = policy__from_json((const uint8_t *)bytes, strlen(bytes), keys, nkeys, &snap)) !=
	    MQE2E_OK) {
		qlog(ks, MOSQ_LOG_ERR, BX_LOG_PREFIX "KMS policy unusable: %s", mqe2e_strerror(r));
		json_decref(ks->base);
		ks->base = NULL;
		goto out;
	}
	if (ks->cache_path != NULL) {
		/* the chain: this answer after the ones it applies to */
		if ((r = cache__chain_add(ks->chain, nonce, resp.body, resp.body_len, !is_delta)) !=
		    MQE2E_OK) {
			json_array_clear(ks->chain);    /* the next round asks for a full one */
			qlog(ks, MOSQ_LOG_WARNING, BX_LOG_PREFIX "plugin_opt_policy_cache: %s",
			    mqe2e_strerror(r));
		} else {
			if (!is_delta) {
				ks->chain_full_bytes = resp.body_len;
				ks->chain_delta_bytes = 0;
			} else {
				ks->chain_delta_bytes += resp.body_len;
			}
			if (cache__save(ks->cache_path, ks->chain, keys, nkeys, crl, crl_len, err,
			    sizeof(err)) != MQE2E_OK)
				qlog(ks, MOSQ_LOG_WARNING, BX_LOG_PREFIX "plugin_opt_policy_cache: %s",
				    err);
		}
	}
	/* what the next delta applies to */
	free(ks->crl);
	if ((ks->crl = malloc(crl_len > 0 ? crl_len : 1)) != NULL)
		memcpy(ks->crl, crl, crl_len);
	ks->crl_len = ks->crl != NULL ? crl_len : 0;
	json_decref(ks->base);
	ks->base = merged;
	merged = NULL;
	mqe2e_key_entries_free(ks->keys, ks->nkeys);
	ks->keys = keys;
	ks->nkeys = nkeys;
	keys = NULL;
	snap->crl = crl;
	snap->crl_len = crl_len;
	crl = NULL;
	ks->version = snap->version;
	ks->have = true;
	ks->policy_bytes += pol_len;
	ks->rounds++;
	qlog(ks, MOSQ_LOG_INFO, BX_LOG_PREFIX "KMS policy version %llu%s: %zu groups, %zu clients "
	    "with grants, %zu revoked serials, %zu group keys (%zu policy bytes)",
	    (unsigned long long)snap->version, is_delta ? " (a delta)" : "",
	    snap->ngroups, snap->ngrants, snap->nrevoked_serials, ks->nkeys, pol_len);
	pthread_mutex_lock(&ks->lock);
	policy__free(ks->pending);
	ks->pending = snap;
	snap = NULL;
	pthread_mutex_unlock(&ks->lock);
	r = MQE2E_OK;
out:
	mqe2e_http_response_free(&resp);
	mqe2e_kmsreq_clear(&kr);
	mqe2e_keybundle_free(&held);
	json_decref(doc);
	json_decref(merged);
	free(bytes);
	free(pol);
	free(crl);
	mqe2e_key_entries_free(keys, nkeys);
	policy__free(snap);
	return r;
}

/* Sleep up to ms unless stopped (or, pace = true, kicked); returns true if
 * stopped. */
static bool wait_pace(struct bx_kms_sync *ks, unsigned ms, bool pace)
{
	struct timespec ts;
	bool stop;

	mqe2e_mono_deadline(&ts, ms);
	pthread_mutex_lock(&ks->lock);
	while (!ks->stop && !(pace && ks->kick) &&
	    mqe2e_cond_wait_until(&ks->cond, &ks->lock, &ts) == 0)
		;
	ks->kick = false;
	stop = ks->stop;
	pthread_mutex_unlock(&ks->lock);
	return stop;
}

static bool wait_stop(struct bx_kms_sync *ks, unsigned ms)
{
	return wait_pace(ks, ms, false);
}

static void *sync_main(void *arg)
{
	struct bx_kms_sync *ks = arg;
	uint64_t start, before;
	struct timespec ts;

	/* Nothing of OpenSSL until the broker serves (kms_sync__run). */
	mqe2e_mono_deadline(&ts, GO_FALLBACK_MS);
	pthread_mutex_lock(&ks->lock);
	while (!ks->go && !ks->stop && mqe2e_cond_wait_until(&ks->cond, &ks->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&ks->lock);
	for (;;) {
		pthread_mutex_lock(&ks->lock);
		if (ks->stop) {
			pthread_mutex_unlock(&ks->lock);
			break;
		}
		pthread_mutex_unlock(&ks->lock);
		start = mqe2e_now_ms();
		before = ks->version;
		if (sync_once(ks) == MQE2E_OK) {
			uint64_t now = mqe2e_now_ms();

			pthread_mutex_lock(&ks->lock);
			ks->last_ok_ms = now;
			pthread_mutex_unlock(&ks->lock);
			if (ks->failing)
				qlog(ks, MOSQ_LOG_NOTICE, BX_LOG_PREFIX "KMS %s reachable again",
				    mqe2e_http_current_url(ks->http));
			ks->failing = false;
			if (before != 0 && ks->version >= before + BURST_CHANGES &&
			    now - start < BURST_PACE_MS &&
			    wait_pace(ks, (unsigned)(BURST_PACE_MS - (now - start)), true))
				break;
			continue;
		}
		pthread_mutex_lock(&ks->lock);
		ks->errors++;
		pthread_mutex_unlock(&ks->lock);
		ks->failing = true;
		if (wait_stop(ks, SYNC_PAUSE_MS))
			break;
	}
	return NULL;
}

static void ks_free(struct bx_kms_sync *ks)
{
	if (ks == NULL)
		return;
	policy__free(ks->pending);
	json_decref(ks->base);
	mqe2e_key_entries_free(ks->keys, ks->nkeys);
	free(ks->crl);
	mqe2e_identity_free(ks->self);
	mqe2e_trust_free(ks->trust);
	mqe2e_http_free(ks->http);
	free(ks->cache_path);
	json_decref(ks->chain);
	if (ks->wake[0] >= 0)
		close(ks->wake[0]);
	if (ks->wake[1] >= 0)
		close(ks->wake[1]);
	pthread_cond_destroy(&ks->cond);
	pthread_mutex_destroy(&ks->lock);
	free(ks);
}

int kms_sync__new(const struct bx_config *cfg, struct bx_kms_sync **out)
{
	struct bx_kms_sync *ks;
	char err[512] = "";
	int r;

	*out = NULL;
	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return MQE2E_ERR_NOMEM;
	pthread_mutex_init(&ks->lock, NULL);
	(void)mqe2e_cond_init_mono(&ks->cond);
	ks->wake[0] = ks->wake[1] = -1;
	if (pipe2(ks->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "cannot create a pipe: %s", strerror(errno));
		r = MQE2E_ERR_IO;
		goto fail;
	}
	ks->watch_s = cfg->watch_s;
	if ((r = mqe2e_http_new(cfg->kms_url, cfg->cafile, MQE2E_HTTP_REUSE, &ks->http, err,
	    sizeof(err))) != MQE2E_OK) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "plugin_opt_kms_url: %s", err);
		goto fail;
	}
	if (mqe2e_http_warning(ks->http) != NULL)
		plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "warning: %s", mqe2e_http_warning(ks->http));
	if (cfg->policy_cache != NULL && ((ks->cache_path = strdup(cfg->policy_cache)) == NULL ||
	    (ks->chain = json_array()) == NULL)) {
		r = MQE2E_ERR_NOMEM;
		goto fail;
	}
	if ((r = mqe2e_identity_load(cfg->cert, cfg->key, &ks->self, err, sizeof(err))) != MQE2E_OK ||
	    (r = mqe2e_trust_new(cfg->cafile, &ks->trust, err, sizeof(err))) != MQE2E_OK) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "%s", err);
		goto fail;
	}
	*out = ks;
	return MQE2E_OK;
fail:
	ks_free(ks);
	return r;
}

/*
 * Mosquitto 2.0.11 initialises plugins before it opens its listeners, and
 * when a listener cannot be opened (port taken) it exits without calling
 * mosquitto_plugin_cleanup.  A thread that talked to the KMS straight from
 * mosquitto_plugin_init was then sometimes still in OpenSSL (X25519 key
 * generation of its first KEY_REQUEST) while the exit handlers tore OpenSSL
 * down: SIGSEGV in about one start in twenty.  So the thread, created in
 * init, first waits on its condition variable (harmless at exit) until the
 * broker serves: the first MOSQ_EVT_TICK or client callback, which come only
 * from the main loop, after the listeners are open; from then on every exit
 * goes through mosquitto_plugin_cleanup, which joins the thread.  With
 * per_listener_settings true Mosquitto 2.0.11 sends no tick at all, so the
 * thread also goes after GO_FALLBACK_MS without any event (a listener that
 * cannot be opened ends the process within milliseconds of init).
 */
int kms_sync__start(struct bx_kms_sync *ks)
{
	int e;

	if ((e = pthread_create(&ks->thread, NULL, sync_main, ks)) != 0) {
		plugin__log(MOSQ_LOG_ERR, BX_LOG_PREFIX "cannot start the KMS thread: %s",
		    strerror(e));
		return MQE2E_ERR_INTERNAL;
	}
	ks->started = true;
	return MQE2E_OK;
}

void kms_sync__run(struct bx_kms_sync *ks)
{
	if (ks == NULL || ks->go)   /* go only ever turns true, on this thread */
		return;
	pthread_mutex_lock(&ks->lock);
	ks->go = true;
	pthread_cond_broadcast(&ks->cond);
	pthread_mutex_unlock(&ks->lock);
}

void kms_sync__stop(struct bx_kms_sync *ks)
{
	if (ks == NULL)
		return;
	if (ks->started) {
		pthread_mutex_lock(&ks->lock);
		ks->stop = true;
		pthread_cond_broadcast(&ks->cond);
		pthread_mutex_unlock(&ks->lock);
		/* A request in flight ends now (it polls wake[0]). */
		(void)!write(ks->wake[1], "x", 1);
		pthread_join(ks->thread, NULL);
	}
	ks_free(ks);
}

void kms_sync__kick(struct bx_kms_sync *ks)
{
	if (ks == NULL)
		return;
	pthread_mutex_lock(&ks->lock);
	ks->kick = true;
	pthread_cond_broadcast(&ks->cond);
	pthread_mutex_unlock(&ks->lock);
}

uint64_t kms_sync__last_ok(struct bx_kms_sync *ks)
{
	uint64_t t;

	if (ks == NULL)
		return 0;
	pthread_mutex_lock(&ks->lock);
	t = ks->last_ok_ms;
	pthread_mutex_unlock(&ks->lock);
	return t;
}

struct bx_policy *kms_sync__take(struct bx_kms_sync *ks)
{
	struct bx_policy *p;
	char lines[LOGQ_LEN][LOGQ_LINE];
	int levels[LOGQ_LEN];
	size_t n, i;
	unsigned errors;

	pthread_mutex_lock(&ks->lock);
	p = ks->pending;
	ks->pending = NULL;
	n = ks->nlog;
	memcpy(lines, ks->logq, n * LOGQ_LINE);
	memcpy(levels, ks->loglevel, n * sizeof(int));
	ks->nlog = 0;
	errors = ks->errors;
	ks->errors = 0;
	pthread_mutex_unlock(&ks->lock);
	for (i = 0; i < n; i++)
		plugin__log(levels[i], "%s", lines[i]);
	while (errors-- > 0)
		stats__inc(BX_KMS_ERRORS);
	return p;
}
