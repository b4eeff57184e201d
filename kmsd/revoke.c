/*
 * revoke.c - revoking a client, or one key of it, in one action (see revoke.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ca.h"
#include "epoch.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "revoke.h"
#include "store.h"

/* Append a name to a JSON array (a store callback). */
static int
add_string(void *arg, const char *s)
{
	return json_array_append_new(arg, json_string(s)) == 0 ? MQE2E_OK : MQE2E_ERR_NOMEM;
}

static int
add_group_name(void *arg, const struct kms_group_row *g)
{
	return add_string(arg, g->name);
}

/* The live certificates of a client that carry the public key of one of
 * them (serial): a lost key is revoked in every certificate that holds it,
 * renewed ones included. */
struct same_key {
	const char *serial;
	uint8_t key[32];
	int found;
	json_t *pems;                 /* [[serial, pem], ...] */
};

static int
collect_pem(void *arg, const char *serial, const char *pem)
{
	struct same_key *sk = arg;
	json_t *pair = json_pack("[s,s]", serial, pem);

	if (pair == NULL || json_array_append_new(sk->pems, pair) != 0)
		return MQE2E_ERR_NOMEM;
	if (strcmp(serial, sk->serial) == 0 && kms_ca_cert_raw_key(pem, sk->key) == MQE2E_OK)
		sk->found = 1;
	return MQE2E_OK;
}

/* Revoke, inside the transaction, the certificates of client c holding the
 * key of serial; each revoked serial is appended to serials. */
static int
revoke_key_locked(struct kmsd *k, const struct kms_client_row *c, const char *serial,
    const char *reason, int64_t now, json_t *serials)
{
	struct same_key sk;
	uint8_t key[32];
	size_t i;
	int r;

	memset(&sk, 0, sizeof(sk));
	sk.serial = serial;
	if ((sk.pems = json_array()) == NULL)
		return MQE2E_ERR_NOMEM;
	/* now = 0: expired certificates too, they may still be renewed from. */
	if ((r = kms_store_cert_pems(k->db, c->id, 0, collect_pem, &sk)) != MQE2E_OK)
		goto out;
	if (!sk.found) {
		r = kms_store_cert_check(k->db, c->id, serial);
		r = r == MQE2E_ERR_REVOKED ? MQE2E_ERR_CONFLICT : r == MQE2E_OK ?
		    MQE2E_ERR_INTERNAL : r;
		goto out;
	}
	for (i = 0; i < json_array_size(sk.pems); i++) {
		const char *s = json_string_value(json_array_get(json_array_get(sk.pems, i), 0));
		const char *pem = json_string_value(json_array_get(json_array_get(sk.pems, i), 1));

		if (kms_ca_cert_raw_key(pem, key) != MQE2E_OK || memcmp(key, sk.key, 32) != 0)
			continue;
		if ((r = kms_store_cert_revoke(k->db, c->id, s, reason, now)) != MQE2E_OK ||
		    (r = add_string(serials, s)) != MQE2E_OK)
			goto out;
	}
	r = MQE2E_OK;
 out:
	json_decref(sk.pems);
	return r;
}

/* One revocation: the whole client (serial NULL) or the certificates of
 * one key; either way the groups it could read are rekeyed. */
static int
revoke(struct kmsd *k, const char *name, const char *serial, const char *reason,
    const char *request_id, json_t **result)
{
	struct kms_client_row c;
	struct kms_rotation t;
	json_t *serials = json_array(), *groups = json_array();
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int r, e;

	*result = NULL;
	memset(&t, 0, sizeof(t));
	if (serials == NULL || groups == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if ((r = kms_rotation_begin(&t, k, "revocation", name, reason, now)) != MQE2E_OK)
		goto out;
	if ((r = kms_store_client_get(k->db, name, &c)) != MQE2E_OK)
		goto end;
	if (c.revoked_at != 0) {
		r = serial != NULL ? MQE2E_ERR_REVOKED : MQE2E_ERR_CONFLICT;
		goto end;
	}
	/* The groups it could read: its grants, or every group for a broker
	 * (which holds GK_B of all of them).  Before its grants go. */
	r = strcmp(c.kind, "broker") == 0 ?
	    kms_store_group_list(k->db, "", 0, add_group_name, groups) :
	    kms_store_groups_of_client(k->db, c.id, add_string, groups);
	if (r != MQE2E_OK)
		goto end;
	if (serial != NULL)
		r = revoke_key_locked(k, &c, serial, reason, now, serials);
	else
		r = kms_store_client_revoke(k->db, c.id, reason, now, add_string, serials);
	if (r != MQE2E_OK)
		goto end;
	t.policy_changed = 1;
	/* Rekey: fresh current and next, the pre-issued next voided. */
	for (i = 0; i < json_array_size(groups) && r == MQE2E_OK; i++)
		r = kms_rotation_named(&t, json_string_value(json_array_get(groups, i)), NULL);
 end:
	if ((r = kms_rotation_commit(&t, r)) != MQE2E_OK)
		goto out;
	/* Committed: publish the CRL and the revoked set, wake the watchers.
	 * A CRL failure is logged and retried by the scheduler; key delivery
	 * checks revocation in the database in any case. */
	if ((e = kms_crl_refresh(k)) != MQE2E_OK)
		kms_log("revocation of '%s' committed but the CRL was not re-issued: %s",
		    name, mqe2e_strerror(e));
	kms_rotation_announce(&t, request_id, serial != NULL ?
	    "rekey after certificate revocation" : "rekey after revocation");
	kms_metrics_revocation(serial != NULL ? "certificate" : "client");
	if (serial != NULL)
		*result = json_pack("{s:s,s:s,s:o,s:O,s:O}", "name", name, "serial", serial,
		    "revoked_at", kms_json_time(now), "revoked_serials", serials,
		    "rekeyed_groups", groups);
	else
		*result = json_pack("{s:s,s:b,s:o,s:O,s:O}", "name", name, "revoked", 1,
		    "revoked_at", kms_json_time(now), "revoked_serials", serials,
		    "rekeyed_groups", groups);
	if (*result == NULL)
		r = MQE2E_ERR_NOMEM;
 out:
	kms_rotation_free(&t);
	json_decref(serials);
	json_decref(groups);
	return r;
}

int
kms_revoke_client(struct kmsd *k, const char *name, const char *reason,
    const char *request_id, json_t **result)
{
	return revoke(k, name, NULL, reason, request_id, result);
}

int
kms_revoke_cert(struct kmsd *k, const char *name, const char *serial, const char *reason,
    const char *request_id, json_t **result)
{
	return revoke(k, name, serial, reason, request_id, result);
}
