/*
 * kms_keyreq.c - test tool: ask mqe2e-kmsd for group keys (or a broker's
 * policy) over the signed DH channel, the way the client library and the
 * broker extension do, and print what came back.
 *
 *   kms_keyreq --kms URL --cert F --key F --ca F [--group G[@EPOCH]]... [--replay]
 *              [--after G] [--ts-offset-ms N]
 *              [--groups | --policy | --watch SINCE [--timeout S] [--delta]]
 *              [--json [--base FILE]] [--tamper]
 *
 * Keys: one line per delivered key,
 *     GROUP GK_P|GK_B EPOCH NOT_BEFORE_MS NOT_AFTER_MS HASH
 * where HASH is the first 8 hex digits of SHA-256(key) (never the key), so
 * two requesters can compare keys; an answer that is one page of several
 * (KEY_BUNDLE flag MORE) ends with a line "more LAST" (LAST: the last group
 * of its table, the cursor of the next page, --after).  G@EPOCH asks for
 * that epoch of G besides its window.  --groups prints the key bundle's group
 * table instead, one line per group: "GROUP SCHEME RIGHTS FILTER" with
 * RIGHTS one of -, pub, sub, pub+sub.  --policy / --watch check the CA's
 * signature over the policy and print "version N", then one line
 * "revoked_serial S" / "revoked_client C" per revoked certificate / client.
 * --delta asks the watch for what changed since SINCE; --json prints the
 * verified policy as canonical JSON (a delta applied to --base FILE, the
 * way the plugin applies it: broker-ext/delta.c); --tamper alters one
 * character of the signed policy before checking it (exit 5 expected).
 * A refused request prints "error STATUS CODE" on stdout and the message on
 * stderr.  --replay sends the identical request bytes twice and reports the
 * second answer.  --count N sends N fresh requests one after another (a
 * flood from one requester; with --watch SINCE, N watches on one kept-alive
 * connection, as a broker makes them) and prints one
 * line per HTTP status seen,
 * "status S N", then "errors N" (requests without an HTTP answer: reset,
 * refused, timed out; the first is described on stderr), "retry_after MIN
 * MAX" over the 429/503 answers (or "retry_after - -") and "elapsed_ms T";
 * it exits 0.
 *
 * Exit: 0 ok, 1 usage, 2 the KMS refused (4xx/5xx), 3 cannot reach it,
 * 4 local file error, 5 the answer did not verify.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "crypto.h"
#include "delta.h"
#include "handshake.h"
#include "http.h"
#include "policy.h"
#include "wire.h"

#define MAX_GROUPS 16

enum { EX_OK = 0, EX_USAGE = 1, EX_REFUSED = 2, EX_UNREACHABLE = 3, EX_FILE = 4, EX_VERIFY = 5 };

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
usage(void)
{
	fprintf(stderr, "usage: kms_keyreq --kms URL --cert F --key F --ca F [--group G[@E]]... "
	    "[--after G] "
	    "[--replay] [--ts-offset-ms N] [--count N] [--groups | --policy | --watch SINCE "
	    "[--timeout S]]\n");
	return EX_USAGE;
}

/* A refused request: "error STATUS CODE" on stdout, the message on stderr. */
static int
refused(const struct mqe2e_http_response *res)
{
	json_t *j = NULL;
	const char *code = NULL, *msg = NULL;
	char hint[96];

	if (res->body != NULL && (j = json_loadb((const char *)res->body, res->body_len, 0, NULL))) {
		code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
		msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	}
	mqe2e_http_retry_hint(res, hint, sizeof(hint));
	printf("error %d %s\n", res->status, code != NULL ? code : "-");
	fprintf(stderr, "kms_keyreq: the KMS refused: %d %s: %s (request id %s)%s\n", res->status,
	    code != NULL ? code : "-", msg != NULL ? msg : "-",
	    res->request_id[0] ? res->request_id : "-", hint);
	json_decref(j);
	return EX_REFUSED;
}

static int
print_keys(struct mqe2e_keyreq *st, struct mqe2e_trust *trust,
    const struct mqe2e_http_response *res, int groups)
{
	static const char *const rights[] = { "-", "pub", "sub", "pub+sub" };
	struct mqe2e_keybundle kb;
	size_t i;
	int r;

	r = mqe2e_keyresp_open(st, trust, res->body, res->body_len, wall_ms(), &kb);
	if (r != MQE2E_OK) {
		fprintf(stderr, "kms_keyreq: KEY_RESPONSE does not verify: %s\n", mqe2e_strerror(r));
		return EX_VERIFY;
	}
	for (i = 0; groups && i < kb.ngroups; i++)
		printf("%s %u %s %s\n", kb.groups[i].name, kb.groups[i].scheme,
		    rights[kb.groups[i].rights & 3], kb.groups[i].filter);
	for (i = 0; !groups && i < kb.nkeys; i++) {
		const struct mqe2e_key_entry *e = &kb.keys[i];
		uint8_t h[MQE2E_SHA256_LEN];

		if (mqe2e_sha256(e->key, sizeof(e->key), h) != MQE2E_OK) {
			mqe2e_keybundle_free(&kb);
			return EX_VERIFY;
		}
		printf("%s %s %lu %llu %llu %02x%02x%02x%02x\n", e->group,
		    e->kind == MQE2E_GK_P ? "GK_P" : e->kind == MQE2E_GK_B ? "GK_B" : "?",
		    (unsigned long)e->epoch, (unsigned long long)e->not_before_ms,
		    (unsigned long long)e->not_after_ms, h[0], h[1], h[2], h[3]);
	}
	if ((kb.flags & MQE2E_KEYBUNDLE_MORE) != 0)
		printf("more %s\n", kb.ngroups > 0 ? kb.groups[kb.ngroups - 1].name : "-");
	mqe2e_keybundle_free(&kb);
	return EX_OK;
}

/* Verify the CA's signature over the policy for our request nonce, then
 * print "version N", "revoked_serial S" and "revoked_client C" lines. */
/* --json: the policy as canonical JSON (sorted keys, sorted lists, no
 * "issued"/"since"), the full one or, --base FILE, FILE's with the delta
 * applied: what a broker following deltas holds. */
static const char *json_base;
static int json_out, tamper;

static int
canon_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

static void
canon_sort(json_t *arr)
{
	size_t n = json_array_size(arr), i;
	json_t **v;

	if (n < 2 || (v = calloc(n, sizeof(*v))) == NULL)
		return;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), canon_str);
	json_array_clear(arr);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

static int
print_json(json_t *p)
{
	json_t *doc = NULL, *e;
	const char *k;
	char *out;
	int r = EX_VERIFY;

	if (delta__is(p)) {
		json_error_t jerr;

		if (json_base == NULL || (doc = json_load_file(json_base, 0, &jerr)) == NULL) {
			fprintf(stderr, "kms_keyreq: a delta needs --base FILE (a full policy)\n");
			return EX_USAGE;
		}
		if (delta__apply(doc, p) != MQE2E_OK) {
			fprintf(stderr, "kms_keyreq: the delta does not apply to %s\n", json_base);
			json_decref(doc);
			return EX_VERIFY;
		}
	} else {
		doc = json_incref(p);
	}
	json_object_del(doc, "issued");
	json_object_del(doc, "since");
	canon_sort(json_object_get(doc, "revoked_serials"));
	canon_sort(json_object_get(doc, "revoked_clients"));
	json_object_foreach(json_object_get(doc, "grants"), k, e) {
		canon_sort(json_object_get(e, "pub"));
		canon_sort(json_object_get(e, "sub"));
	}
	if ((out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) != NULL) {
		printf("%s\n", out);
		free(out);
		r = EX_OK;
	}
	json_decref(doc);
	return r;
}

static int
print_policy(struct mqe2e_trust *trust, const uint8_t *req, size_t req_len,
    const struct mqe2e_http_response *res)
{
	struct mqe2e_hello h;
	json_t *j = NULL, *p = NULL, *v, *e;
	uint8_t *pol = NULL;
	size_t plen = 0, i;
	int r = EX_VERIFY;

	if (res->body == NULL ||
	    (j = json_loadb((const char *)res->body, res->body_len, 0, NULL)) == NULL) {
		fprintf(stderr, "kms_keyreq: policy answer is not JSON\n");
		return EX_VERIFY;
	}
	v = json_object_get(j, "version");
	if (!json_is_integer(v) || !json_is_string(json_object_get(j, "policy")) ||
	    !json_is_string(json_object_get(j, "sig"))) {
		fprintf(stderr, "kms_keyreq: policy answer lacks version/policy/sig\n");
		goto out;
	}
	if (tamper) {
		/* a network attacker changes one character of the signed policy */
		char *t = strdup(json_string_value(json_object_get(j, "policy")));

		if (t == NULL)
			goto out;
		t[strlen(t) / 2] = t[strlen(t) / 2] == 'A' ? 'B' : 'A';
		json_object_set_new(j, "policy", json_string(t));
		free(t);
	}
	if (mqe2e_hello_decode(req, req_len, MQE2E_MSG_KEY_REQUEST, &h) != MQE2E_OK ||
	    mqe2e_policy_open(mqe2e_trust_ca_key(trust), h.nonce,
	    json_string_value(json_object_get(j, "policy")),
	    json_string_value(json_object_get(j, "sig")), &pol, &plen) != MQE2E_OK) {
		fprintf(stderr, "kms_keyreq: the policy signature does not verify\n");
		goto out;
	}
	if ((p = json_loadb((const char *)pol, plen, 0, NULL)) == NULL ||
	    !json_equal(json_object_get(p, "version"), v)) {
		fprintf(stderr, "kms_keyreq: signed policy is not JSON or its version differs\n");
		goto out;
	}
	if (json_out) {
		fprintf(stderr, "kms_keyreq: policy %zu bytes (%s)\n", plen,
		    delta__is(p) ? "delta" : "full");
		r = print_json(p);
		goto out;
	}
	printf("version %" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
	json_array_foreach(json_object_get(p, "revoked_serials"), i, e)
		printf("revoked_serial %s\n", json_string_value(e) ? json_string_value(e) : "?");
	json_array_foreach(json_object_get(p, "revoked_clients"), i, e)
		printf("revoked_client %s\n", json_string_value(e) ? json_string_value(e) : "?");
	r = EX_OK;
out:
	free(pol);
	json_decref(p);
	json_decref(j);
	return r;
}

/* --count: n fresh requests to path; a tally of the statuses. */
static int
flood(struct mqe2e_http *http, const char *path, const struct mqe2e_identity *id, const char **groups,
    size_t ngroups, long long offset, long long n)
{
	static unsigned long counts[600];
	struct mqe2e_http_response res;
	struct mqe2e_keyreq *st = NULL;
	uint8_t *req = NULL;
	size_t req_len = 0;
	long long i, ra_min = -1, ra_max = -1, errors = 0;
	uint64_t t0 = wall_ms();
	int s;

	for (i = 0; i < n; i++) {
		memset(&res, 0, sizeof(res));
		if (mqe2e_keyreq_build(id, groups, ngroups, (uint64_t)((long long)wall_ms() + offset),
		    &st, &req, &req_len) != MQE2E_OK) {
			fprintf(stderr, "kms_keyreq: cannot build the KEY_REQUEST\n");
			return EX_VERIFY;
		}
		if (mqe2e_http_request(http, "POST", path, "application/octet-stream", NULL, req,
		    req_len, 10000, -1, &res) != MQE2E_OK) {
			if (errors++ == 0)
				fprintf(stderr, "kms_keyreq: request %lld: %s\n", i, res.error);
			res.status = 0;
		}
		counts[res.status]++;
		if ((res.status == 429 || res.status == 503) && res.retry_after_s >= 0) {
			if (ra_min < 0 || res.retry_after_s < ra_min)
				ra_min = res.retry_after_s;
			if (res.retry_after_s > ra_max)
				ra_max = res.retry_after_s;
		}
		mqe2e_http_response_free(&res);
		free(req);
		req = NULL;
		mqe2e_keyreq_free(st);
		st = NULL;
	}
	for (s = 100; s < 600; s++) {
		if (counts[s] > 0)
			printf("status %d %lu\n", s, counts[s]);
	}
	printf("errors %lld\n", errors);
	if (ra_min >= 0)
		printf("retry_after %lld %lld\n", ra_min, ra_max);
	else
		printf("retry_after - -\n");
	printf("elapsed_ms %llu\n", (unsigned long long)(wall_ms() - t0));
	return EX_OK;
}

static int
parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *cert = NULL, *key = NULL, *ca = NULL, *groups[MAX_GROUPS];
	const char *after = NULL;
	struct mqe2e_keyreq_want want[MAX_GROUPS];
	char wname[MAX_GROUPS][MQE2E_ID_MAX + 1];
	struct mqe2e_identity *id = NULL;
	struct mqe2e_trust *trust = NULL;
	struct mqe2e_keyreq *st = NULL;
	struct mqe2e_http_response res;
	struct mqe2e_http *http = NULL;
	uint8_t *req = NULL;
	size_t req_len = 0, ngroups = 0;
	long long offset = 0, since = -1, wait_s = 30, count = 0;
	int replay = 0, policy = 0, groups_only = 0, i, r = EX_USAGE, tries, timeout_ms = 10000;
	int want_delta = 0;
	char err[512], path[128];

	memset(&res, 0, sizeof(res));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--replay") == 0) {
			replay = 1;
			continue;
		}
		if (strcmp(a, "--policy") == 0) {
			policy = 1;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			json_out = 1;
			continue;
		}
		if (strcmp(a, "--tamper") == 0) {
			tamper = 1;
			continue;
		}
		if (strcmp(a, "--delta") == 0) {
			want_delta = 1;
			continue;
		}
		if (strcmp(a, "--groups") == 0) {
			groups_only = 1;
			continue;
		}
		if (v == NULL)
			return usage();
		i++;
		if (strcmp(a, "--kms") == 0)
			url = v;
		else if (strcmp(a, "--cert") == 0)
			cert = v;
		else if (strcmp(a, "--key") == 0)
			key = v;
		else if (strcmp(a, "--ca") == 0)
			ca = v;
		else if (strcmp(a, "--group") == 0 && ngroups < MAX_GROUPS) {
			const char *at = strchr(v, '@');
			long long e = 0;

			if (strlen(v) > MQE2E_ID_MAX || (at != NULL &&
			    parse_num(at + 1, 1, UINT32_MAX, &e) != 0))
				return usage();
			snprintf(wname[ngroups], sizeof(wname[ngroups]), "%.*s",
			    (int)(at != NULL ? (size_t)(at - v) : strlen(v)), v);
			want[ngroups].group = wname[ngroups];
			want[ngroups].epoch = (uint32_t)e;
			groups[ngroups] = wname[ngroups];
			ngroups++;
		} else if (strcmp(a, "--after") == 0)
			after = v;
		else if (strcmp(a, "--base") == 0)
			json_base = v;
		else if (strcmp(a, "--ts-offset-ms") == 0) {
			if (parse_num(v, -86400000LL * 365, 86400000LL * 365, &offset) != 0)
				return usage();
		} else if (strcmp(a, "--watch") == 0) {
			if (parse_num(v, 0, 1LL << 53, &since) != 0)
				return usage();
		} else if (strcmp(a, "--count") == 0) {
			if (parse_num(v, 1, 10000000, &count) != 0)
				return usage();
		} else if (strcmp(a, "--timeout") == 0) {
			if (parse_num(v, 1, 60, &wait_s) != 0)
				return usage();
		} else
			return usage();
	}
	if (url == NULL || cert == NULL || key == NULL || ca == NULL)
		return usage();

	if (mqe2e_identity_load(cert, key, &id, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "kms_keyreq: %s\n", err);
		r = EX_FILE;
		goto out;
	}
	if (mqe2e_trust_new(ca, &trust, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "kms_keyreq: %s\n", err);
		r = EX_FILE;
		goto out;
	}
	/* one attempt per request: this tool shows what the KMS answers; a
	 * --watch --count loop keeps its connection, as a broker's watch does */
	if (mqe2e_http_new(url, ca, MQE2E_HTTP_ONCE | (count > 0 && since >= 0 ? MQE2E_HTTP_REUSE : 0u),
	    &http, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "kms_keyreq: %s\n", err);
		r = EX_USAGE;
		goto out;
	}
	if (count > 0) {
		/* --watch SINCE --count N: N watches, one after another */
		if (since >= 0)
			snprintf(path, sizeof(path), "/v1/policy/watch?since=%lld&timeout=%lld", since,
			    wait_s);
		else
			snprintf(path, sizeof(path), "%s", policy ? "/v1/policy" : "/v1/keys");
		r = flood(http, path, id, groups, ngroups, offset, count);
		goto out;
	}
	if (mqe2e_keyreq_build_want(id, want, ngroups, after,
	    (uint64_t)((long long)wall_ms() + offset), &st, &req, &req_len) != MQE2E_OK) {
		fprintf(stderr, "kms_keyreq: cannot build the KEY_REQUEST\n");
		r = EX_VERIFY;
		goto out;
	}
	if (since >= 0) {
		snprintf(path, sizeof(path), "/v1/policy/watch?since=%lld&timeout=%lld%s", since,
		    wait_s, want_delta ? "&delta=1" : "");
		timeout_ms = (int)wait_s * 1000 + 10000;
	} else {
		snprintf(path, sizeof(path), "%s", policy ? "/v1/policy" : "/v1/keys");
	}
	for (tries = replay ? 2 : 1; tries > 0; tries--) {
		mqe2e_http_response_free(&res);
		if (mqe2e_http_request(http, "POST", path, "application/octet-stream", NULL, req,
		    req_len, timeout_ms, -1, &res) != MQE2E_OK) {
			fprintf(stderr, "kms_keyreq: %s\n", res.error);
			r = EX_UNREACHABLE;
			goto out;
		}
	}
	if (res.status != 200)
		r = refused(&res);
	else if (policy || since >= 0)
		r = print_policy(trust, req, req_len, &res);
	else
		r = print_keys(st, trust, &res, groups_only);
out:
	mqe2e_http_response_free(&res);
	mqe2e_http_free(http);
	free(req);
	mqe2e_keyreq_free(st);
	mqe2e_trust_free(trust);
	mqe2e_identity_free(id);
	return r;
}
