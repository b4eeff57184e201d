/*
 * test_keyclient.c - a minimal KMS key client for kms/test_kmsd.sh.
 *
 *   test_keyclient keys   URL CERT KEY CA [GROUP...]
 *       POST /v1/keys; prints "group kind epoch not_before_s not_after_s" per key
 *   test_keyclient policy URL CERT KEY CA [SINCE TIMEOUT]
 *       POST /v1/policy (or /v1/policy/watch); verifies the signature and
 *       prints the policy JSON
 *   test_keyclient replay URL CERT KEY CA
 *       sends one KEY_REQUEST twice; prints both HTTP statuses
 *   test_keyclient tamper URL CERT KEY CA
 *       flips a bit of the signature; prints the HTTP status and body
 *
 * KC_SKEW_S=N in the environment dates the request N seconds ahead.
 *
 * On an HTTP error it prints "HTTP <status> <body>" and exits 3.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "handshake.h"
#include "http.h"
#include "policy.h"

/* One attempt (no retry: a replay must reach the KMS exactly twice). */
static int
post(const char *url, const char *path, const uint8_t *body, size_t len,
    struct mqe2e_http_response *resp)
{
	struct mqe2e_http *h = NULL;
	int r;

	memset(resp, 0, sizeof(*resp));
	if ((r = mqe2e_http_new(url, NULL, MQE2E_HTTP_ONCE, &h, resp->error,
	    sizeof(resp->error))) == MQE2E_OK)
		r = mqe2e_http_request(h, "POST", path, "application/octet-stream", NULL, body, len,
		    70000, -1, resp);
	mqe2e_http_free(h);
	if (r != MQE2E_OK) {
		fprintf(stderr, "request failed: %s\n", resp->error);
		exit(2);
	}
	return resp->status;
}

int
main(int argc, char **argv)
{
	struct mqe2e_identity *id = NULL;
	struct mqe2e_trust *trust = NULL;
	struct mqe2e_keyreq *st = NULL;
	struct mqe2e_http_response resp;
	struct mqe2e_keybundle kb = { NULL, 0, NULL, 0, 0 };
	struct mqe2e_hello h;
	uint8_t *req = NULL, *policy = NULL;
	size_t req_len = 0, plen = 0, i;
	char err[512], path[128];
	long long skew_ms = 0;
	int status, rc = 1;

	memset(&resp, 0, sizeof(resp));
	if (argc < 6) {
		fprintf(stderr, "usage: test_keyclient keys|policy|replay URL CERT KEY CA [...]\n");
		return 2;
	}
	if (mqe2e_identity_load(argv[3], argv[4], &id, err, sizeof(err)) != MQE2E_OK ||
	    mqe2e_trust_new(argv[5], &trust, err, sizeof(err)) != MQE2E_OK) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	if (getenv("KC_SKEW_S") != NULL)
		skew_ms = 1000 * strtoll(getenv("KC_SKEW_S"), NULL, 10);
	if (mqe2e_keyreq_build(id, strcmp(argv[1], "keys") == 0 ? (const char *const *)argv + 6 :
	    NULL, strcmp(argv[1], "keys") == 0 ? (size_t)(argc - 6) : 0,
	    (uint64_t)((long long)mqe2e_now_ms() + skew_ms), &st, &req, &req_len) != MQE2E_OK) {
		fprintf(stderr, "cannot build the KEY_REQUEST\n");
		goto out;
	}
	if (strcmp(argv[1], "tamper") == 0)
		req[req_len - 1] ^= 1;   /* the last byte of the Ed25519 signature */
	if (strcmp(argv[1], "replay") == 0) {
		printf("%d ", post(argv[2], "/v1/keys", req, req_len, &resp));
		mqe2e_http_response_free(&resp);
		printf("%d\n", post(argv[2], "/v1/keys", req, req_len, &resp));
		rc = 0;
		goto out;
	}
	if (strcmp(argv[1], "policy") == 0 && argc >= 8)
		snprintf(path, sizeof(path), "/v1/policy/watch?since=%s&timeout=%s", argv[6], argv[7]);
	else
		snprintf(path, sizeof(path), "/v1/%s", strcmp(argv[1], "keys") == 0 ? "keys" : "policy");
	status = post(argv[2], path, req, req_len, &resp);
	if (status != 200) {
		printf("HTTP %d %s", status, resp.body != NULL ? (const char *)resp.body : "");
		rc = 3;
		goto out;
	}
	if (strcmp(argv[1], "keys") == 0) {
		const struct mqe2e_key_entry *e;
		static const char *const rights[] = { "-", "pub", "sub", "pub+sub" };

		if (mqe2e_keyresp_open(st, trust, resp.body, resp.body_len, mqe2e_now_ms(),
		    &kb) != MQE2E_OK) {
			fprintf(stderr, "KEY_RESPONSE does not verify\n");
			goto out;
		}
		for (i = 0; i < kb.ngroups; i++)
			printf("group %s %u %s %s\n", kb.groups[i].name, kb.groups[i].scheme,
			    rights[kb.groups[i].rights & 3], kb.groups[i].filter);
		for (i = 0; i < kb.nkeys; i++) {
			e = &kb.keys[i];
			printf("%s %s %u %llu %llu\n", e->group, e->kind == MQE2E_GK_P ? "P" : "B",
			    e->epoch, (unsigned long long)(e->not_before_ms / 1000),
			    (unsigned long long)(e->not_after_ms / 1000));
		}
		printf("keys: %zu\n", kb.nkeys);
	} else {
		json_t *o = json_loadb((const char *)resp.body, resp.body_len, 0, NULL);
		const char *p64 = NULL, *s64 = NULL;

		if (o == NULL || json_unpack(o, "{s:s,s:s}", "policy", &p64, "sig", &s64) != 0 ||
		    mqe2e_hello_decode(req, req_len, MQE2E_MSG_KEY_REQUEST, &h) != MQE2E_OK ||
		    mqe2e_policy_open(mqe2e_trust_ca_key(trust), h.nonce, p64, s64, &policy,
		    &plen) != MQE2E_OK) {
			fprintf(stderr, "policy does not verify\n");
			json_decref(o);
			goto out;
		}
		printf("%s\n", (const char *)policy);
		json_decref(o);
	}
	rc = 0;
 out:
	mqe2e_keybundle_free(&kb);
	free(policy);
	free(req);
	mqe2e_http_response_free(&resp);
	mqe2e_keyreq_free(st);
	mqe2e_trust_free(trust);
	mqe2e_identity_free(id);
	return rc;
}
