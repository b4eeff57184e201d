/*
 * rest_policy.c - the signed policy snapshot for broker extensions:
 *   POST /v1/policy, POST /v1/policy/watch?since=N&timeout=S (long poll).
 *
 * The body of both is a KEY_REQUEST from a broker certificate; the answer
 * {"version","policy","sig"} is signed for that request's nonce
 * (core/policy.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca.h"
#include "db.h"
#include "jsonutil.h"
#include "keyauth.h"
#include "policy.h"

#define WATCH_MAX_S 60
#define WATCH_DEFAULT_S 30

/* Run st and append column 0 (text) of each row to arr. */
static int
strings(struct kms_db *db, sqlite3_stmt *st, json_t *arr)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_array_append_new(arr, kms_json_col_text(st, 0)) != 0) {
			sqlite3_finalize(st);
			return MQE2E_ERR_NOMEM;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? MQE2E_OK : kms_db_error(db, rc);
}

/* Build the policy JSON object (in a transaction). */
static int
snapshot(struct kms_db *db, json_t **out, int64_t *version)
{
	sqlite3_stmt *st = NULL;
	json_t *p = NULL, *groups, *grants, *serials, *clients;
	char now[32];
	int rc, r;

	*out = NULL;
	if ((r = kms_db_meta_get(db, "policy_version", version)) != MQE2E_OK)
		return r;
	kms_time_str((int64_t)time(NULL), now);
	if ((p = json_pack("{s:I,s:s,s:[],s:{},s:[],s:[]}", "version", (json_int_t)*version,
	    "issued", now, "groups", "grants", "revoked_serials", "revoked_clients")) == NULL)
		return MQE2E_ERR_NOMEM;
	groups = json_object_get(p, "groups");
	grants = json_object_get(p, "grants");
	serials = json_object_get(p, "revoked_serials");
	clients = json_object_get(p, "revoked_clients");

	if ((r = kms_db_prepare(db, "SELECT g.name, g.filter, g.scheme, e.epoch "
	    "FROM topic_groups g LEFT JOIN epochs e ON e.group_id = g.id AND "
	    "e.state = 'current' ORDER BY g.name", &st)) != MQE2E_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_array_append_new(groups, json_pack("{s:o,s:o,s:i,s:I}",
		    "name", kms_json_col_text(st, 0), "filter", kms_json_col_text(st, 1),
		    "scheme", sqlite3_column_int(st, 2),
		    "epoch", (json_int_t)sqlite3_column_int64(st, 3))) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		r = rc == SQLITE_NOMEM ? MQE2E_ERR_NOMEM : kms_db_error(db, rc);
		goto fail;
	}

	if ((r = kms_db_prepare(db, "SELECT c.name, g.name, gr.right FROM grants gr "
	    "JOIN clients c ON c.id = gr.client_id JOIN topic_groups g ON g.id = gr.group_id "
	    "WHERE c.revoked_at IS NULL ORDER BY c.name, g.name, gr.right", &st)) != MQE2E_OK)
		goto fail;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *client = (const char *)sqlite3_column_text(st, 0);
		const char *right = (const char *)sqlite3_column_text(st, 2);
		json_t *entry = json_object_get(grants, client);

		if (entry == NULL) {
			if ((entry = json_pack("{s:[],s:[]}", "pub", "sub")) == NULL ||
			    json_object_set_new(grants, client, entry) != 0) {
				rc = SQLITE_NOMEM;
				break;
			}
		}
		if (json_array_append_new(json_object_get(entry, right),
		    kms_json_col_text(st, 1)) != 0) {
			rc = SQLITE_NOMEM;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		r = rc == SQLITE_NOMEM ? MQE2E_ERR_NOMEM : kms_db_error(db, rc);
		goto fail;
	}

	if ((r = kms_db_prepare(db, "SELECT serial FROM certs WHERE revoked_at IS NOT NULL "
	    "ORDER BY serial", &st)) != MQE2E_OK || (r = strings(db, st, serials)) != MQE2E_OK)
		goto fail;
	if ((r = kms_db_prepare(db, "SELECT name FROM clients WHERE revoked_at IS NOT NULL "
	    "ORDER BY name", &st)) != MQE2E_OK || (r = strings(db, st, clients)) != MQE2E_OK)
		goto fail;
	*out = p;
	return MQE2E_OK;
 fail:
	json_decref(p);
	return r;
}

/* Wait until the policy version exceeds since, the timeout passes or the
 * daemon stops. */
static void
wait_for_change(struct kmsd *k, uint64_t since, unsigned timeout_s)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_s;
	pthread_mutex_lock(&k->state_lock);
	while (k->policy_version <= since && !k->stopping) {
		if (pthread_cond_timedwait(&k->state_cond, &k->state_lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&k->state_lock);
}

void
rest_policy(struct kms_req *r, char **seg, size_t n)
{
	struct kmsd *k = r->k;
	struct mqe2e_keyreq_info *info = NULL;
	uint8_t nonce[MQE2E_NONCE_LEN], sig[MQE2E_ED25519_SIG_LEN];
	unsigned long long since = 0, timeout = WATCH_DEFAULT_S;
	int watch = n == 2 && strcmp(seg[1], "watch") == 0;
	json_t *p = NULL;
	char *bytes = NULL, *b64 = NULL, *sig64 = NULL;
	int64_t version = 0, client_id = 0;
	int e;

	if (n != 1 && !watch) {
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
		return;
	}
	if (strcmp(r->method, "POST") != 0) {
		kms_reply_method(r, "POST");
		return;
	}
	kms_req_audit(r, watch ? "policy.watch" : "policy.fetch", NULL);
	if (watch) {
		const char *s = kms_req_query(r, "since"), *t = kms_req_query(r, "timeout");

		if ((s != NULL && kmsd_parse_uint(s, 0, (1ULL << 62), &since) != 0) ||
		    (t != NULL && kmsd_parse_uint(t, 1, WATCH_MAX_S, &timeout) != 0)) {
			kms_reply_error(r, 400, "bad_request", "since must be a policy version "
			    "(0 or more) and timeout from 1 to %d seconds", WATCH_MAX_S);
			return;
		}
	}
	if ((info = kms_keyauth(r, nonce)) == NULL)
		return;
	if (info->requester.kind != MQE2E_KIND_BROKER) {
		kms_reply_error(r, 400, "wrong_kind", "only broker certificates may fetch the "
		    "policy; '%s' is a %s", info->requester.id, "client");
		goto out;
	}
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto out;
	}
	e = kms_db_end(k->db, kms_keyauth_check_locked(k->db, info, &client_id));
	if (e != MQE2E_OK) {
		kms_keyauth_reply(r, info, e);
		goto out;
	}
	if (watch)
		wait_for_change(k, since, (unsigned)timeout);
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto out;
	}
	/* Re-check: the broker may have been revoked while it waited. */
	if ((e = kms_keyauth_check_locked(k->db, info, &client_id)) == MQE2E_OK)
		e = snapshot(k->db, &p, &version);
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		kms_keyauth_reply(r, info, e);
		goto out;
	}
	if ((bytes = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		kms_reply_err(r, MQE2E_ERR_NOMEM, "cannot encode the policy");
		goto out;
	}
	if ((e = mqe2e_policy_sign(kms_ca_key(k->ca), nonce, (const uint8_t *)bytes,
	    strlen(bytes), sig)) != MQE2E_OK ||
	    (e = mqe2e_base64_encode((const uint8_t *)bytes, strlen(bytes), &b64)) != MQE2E_OK ||
	    (e = mqe2e_base64_encode(sig, sizeof(sig), &sig64)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot sign the policy");
		goto out;
	}
	snprintf(r->detail, sizeof(r->detail), "version %lld", (long long)version);
	kms_reply_json(r, 200, json_pack("{s:I,s:s,s:s}", "version", (json_int_t)version,
	    "policy", b64, "sig", sig64));
 out:
	kms_json_free(bytes);
	free(b64);
	free(sig64);
	json_decref(p);
	mqe2e_keyreq_info_free(info);
}
