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
#include "clock.h"
#include "jsonutil.h"
#include "keyauth.h"
#include "policy.h"
#include "store.h"

#define WATCH_MAX_S 60
#define WATCH_DEFAULT_S 30

static int
add_string(void *arg, const char *s)
{
	return json_array_append_new(arg, json_string(s)) == 0 ? MQE2E_OK : MQE2E_ERR_NOMEM;
}

static int
add_serial(void *arg, const char *serial, int64_t revoked_at, int64_t not_after)
{
	return add_string(arg, serial);
}

static int
add_group(void *arg, const struct kms_group_row *g)
{
	return json_array_append_new(arg, json_pack("{s:s,s:s,s:i,s:I,s:I}", "name", g->name,
	    "filter", g->filter, "scheme", g->scheme,
	    "epoch", (json_int_t)g->current_epoch,
	    "oldest", (json_int_t)g->oldest_epoch)) == 0 ? MQE2E_OK : MQE2E_ERR_NOMEM;
}

/* grants: {"client": {"pub": [groups], "sub": [groups]}} */
static int
add_grant(void *arg, const struct kms_grant_row *g)
{
	json_t *grants = arg, *entry = json_object_get(grants, g->client);

	if (entry == NULL) {
		if ((entry = json_pack("{s:[],s:[]}", "pub", "sub")) == NULL ||
		    json_object_set_new(grants, g->client, entry) != 0)
			return MQE2E_ERR_NOMEM;
	}
	return add_string(json_object_get(entry, g->right), g->group);
}

/* Build the policy JSON object (in a transaction).  Revoked clients hold
 * no grants (revocation deletes them). */
static int
snapshot(struct kms_db *db, json_t **out, int64_t *version)
{
	json_t *p;
	int r;

	*out = NULL;
	if ((r = kms_store_counter_get(db, "policy_version", version)) != MQE2E_OK)
		return r;
	if ((p = json_pack("{s:I,s:o,s:[],s:{},s:[],s:[]}", "version", (json_int_t)*version,
	    "issued", kms_json_time((int64_t)time(NULL)), "groups", "grants", "revoked_serials",
	    "revoked_clients")) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((r = kms_store_group_list(db, "", 0, add_group, json_object_get(p, "groups"))) != MQE2E_OK ||
	    (r = kms_store_grant_list(db, NULL, NULL, NULL, NULL, NULL, 0, add_grant,
	    json_object_get(p, "grants"))) != MQE2E_OK ||
	    /* the certificates the CRL lists: expired ones leave (crl.c) */
	    (r = kms_store_revoked_certs(db, kms_crl_cutoff((int64_t)time(NULL)), add_serial,
	    json_object_get(p, "revoked_serials"))) != MQE2E_OK ||
	    (r = kms_store_revoked_clients(db, add_string,
	    json_object_get(p, "revoked_clients"))) != MQE2E_OK) {
		json_decref(p);
		return r;
	}
	*out = p;
	return MQE2E_OK;
}

/*
 * A delta: what changed after version since (docs/API.md), from the change
 * log (store.h kms_store_policy_changes).  Each group, client and serial
 * named there goes out as it is now: a group's entry or its name under
 * "groups_removed"; a client's whole grant entry (empty lists: none left)
 * and its revocation; a serial under "revoked_serials" if the policy lists
 * it now, else under "revoked_serials_removed", which also names the
 * revoked certificates that expired since (they leave the list with no
 * change logged).  MQE2E_ERR_NOT_FOUND if the log does not reach back to
 * since: the caller sends a full snapshot.
 */
struct changes {
	json_t *groups, *clients, *serials;   /* sets: name -> null */
};

static int
add_change(void *arg, const char *kind, const char *name)
{
	struct changes *c = arg;
	json_t *set = strcmp(kind, "group") == 0 ? c->groups : strcmp(kind, "client") == 0 ?
	    c->clients : c->serials;

	return json_object_set_new(set, name, json_null()) == 0 ? MQE2E_OK : MQE2E_ERR_NOMEM;
}

/* revoked_certs callback: the set of serials (listed: not expired) */
static int
add_serial_set(void *arg, const char *serial, int64_t revoked_at, int64_t not_after)
{
	return json_object_set_new(arg, serial, json_integer(not_after)) == 0 ? MQE2E_OK :
	    MQE2E_ERR_NOMEM;
}

static int
delta(struct kms_db *db, int64_t since, json_t **out, int64_t *version)
{
	struct changes c = { json_object(), json_object(), json_object() };
	json_t *p = NULL, *listed = json_object(), *was = json_object(), *v;
	struct kms_group_row g;
	struct kms_client_row cl;
	int64_t since_at = 0, now = (int64_t)time(NULL);
	const char *name;
	int r = MQE2E_ERR_NOMEM;

	*out = NULL;
	if (c.groups == NULL || c.clients == NULL || c.serials == NULL || listed == NULL ||
	    was == NULL)
		goto out;
	if ((r = kms_store_counter_get(db, "policy_version", version)) != MQE2E_OK ||
	    (r = kms_store_policy_changes(db, since, add_change, &c, &since_at)) != MQE2E_OK)
		goto out;
	if (since_at == 0 || since > *version) {
		r = MQE2E_ERR_NOT_FOUND;
		goto out;
	}
	r = MQE2E_ERR_NOMEM;
	if ((p = json_pack("{s:I,s:I,s:o,s:[],s:[],s:{},s:[],s:[],s:[]}", "version",
	    (json_int_t)*version, "since", (json_int_t)since, "issued", kms_json_time(now),
	    "groups", "groups_removed", "grants", "revoked_serials", "revoked_serials_removed",
	    "revoked_clients")) == NULL)
		goto out;
	json_object_foreach(c.groups, name, v) {
		if ((r = kms_store_group_get(db, name, &g)) == MQE2E_OK)
			r = add_group(json_object_get(p, "groups"), &g);
		else if (r == MQE2E_ERR_NOT_FOUND)
			r = add_string(json_object_get(p, "groups_removed"), name);
		if (r != MQE2E_OK)
			goto out;
	}
	json_object_foreach(c.clients, name, v) {
		json_t *grants = json_object_get(p, "grants");

		if ((r = kms_store_grant_list(db, name, NULL, NULL, NULL, NULL, 0, add_grant,
		    grants)) != MQE2E_OK)
			goto out;
		if (json_object_get(grants, name) == NULL &&
		    json_object_set_new(grants, name, json_pack("{s:[],s:[]}", "pub", "sub")) != 0) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
		if ((r = kms_store_client_get(db, name, &cl)) == MQE2E_OK && cl.revoked_at != 0)
			r = add_string(json_object_get(p, "revoked_clients"), name);
		if (r != MQE2E_OK && r != MQE2E_ERR_NOT_FOUND)
			goto out;
	}
	/* serials: listed now or not; and those that expired since */
	if ((r = kms_store_revoked_certs(db, kms_crl_cutoff(now), add_serial_set, listed)) !=
	    MQE2E_OK ||
	    (r = kms_store_revoked_certs(db, kms_crl_cutoff(since_at), add_serial_set, was)) !=
	    MQE2E_OK)
		goto out;
	json_object_foreach(c.serials, name, v) {
		r = add_string(json_object_get(p, json_object_get(listed, name) != NULL ?
		    "revoked_serials" : "revoked_serials_removed"), name);
		if (r != MQE2E_OK)
			goto out;
	}
	json_object_foreach(was, name, v) {
		if (json_object_get(listed, name) == NULL && json_object_get(c.serials, name) == NULL &&
		    (r = add_string(json_object_get(p, "revoked_serials_removed"), name)) != MQE2E_OK)
			goto out;
	}
	*out = p;
	p = NULL;
	r = MQE2E_OK;
 out:
	json_decref(c.groups);
	json_decref(c.clients);
	json_decref(c.serials);
	json_decref(listed);
	json_decref(was);
	json_decref(p);
	return r;
}

/* Wait until the policy version exceeds since, the timeout passes or the
 * daemon stops. */
static void
wait_for_change(struct kmsd *k, uint64_t since, unsigned timeout_s)
{
	struct timespec deadline;

	mqe2e_mono_deadline(&deadline, (int64_t)timeout_s * 1000);
	pthread_mutex_lock(&k->state_lock);
	while (k->policy_version <= since && !k->stopping) {
		if (mqe2e_cond_wait_until(&k->state_cond, &k->state_lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&k->state_lock);
}

void
rest_policy(struct kms_req *r, char **seg, size_t n)
{
	struct kmsd *k = r->k;
	struct mqe2e_keyreq_info *info = NULL;
	uint8_t sig[MQE2E_ED25519_SIG_LEN];
	unsigned long long since = 0, timeout = WATCH_DEFAULT_S, want_delta = 0;
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
	/* Every broker watches all the time: only a refused watch is an event. */
	r->audit_failures_only = watch;
	if (watch) {
		const char *s = kms_req_query(r, "since"), *t = kms_req_query(r, "timeout");
		const char *d = kms_req_query(r, "delta");

		if (d != NULL && kmsd_parse_uint(d, 0, 1, &want_delta) != 0) {
			kms_reply_error(r, 400, "bad_request", "delta must be 0 or 1");
			return;
		}

		if ((s != NULL && kmsd_parse_uint(s, 0, (1ULL << 62), &since) != 0) ||
		    (t != NULL && kmsd_parse_uint(t, 1, WATCH_MAX_S, &timeout) != 0)) {
			kms_reply_error(r, 400, "bad_request", "since must be a policy version "
			    "(0 or more) and timeout from 1 to %d seconds", WATCH_MAX_S);
			return;
		}
	}
	if ((info = kms_keyauth(r)) == NULL)
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
	/* Recorded before a watch waits: a replayed watch cannot hold a slot. */
	if (!kms_keyauth_record(r, info))
		goto out;
	if (watch)
		wait_for_change(k, since, (unsigned)timeout);
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto out;
	}
	/* Re-check: the broker may have been revoked while it waited. */
	/* A delta when asked for and the change log reaches back to since. */
	if ((e = kms_keyauth_check_locked(k->db, info, &client_id)) == MQE2E_OK &&
	    (!want_delta || since == 0 ||
	    (e = delta(k->db, (int64_t)since, &p, &version)) == MQE2E_ERR_NOT_FOUND))
		e = snapshot(k->db, &p, &version);
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		kms_keyauth_reply(r, info, e);
		goto out;
	}
	if ((bytes = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		kms_reply_err(r, MQE2E_ERR_NOMEM, "cannot encode the policy");
		goto out;
	}
	if ((e = mqe2e_policy_sign(kms_ca_key(k->ca), info->nonce, (const uint8_t *)bytes,
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
