/*
 * revoke.c - revoking a client in one action (see revoke.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "db.h"
#include "jsonutil.h"
#include "log.h"
#include "model.h"
#include "revoke.h"
#include "rotation.h"

/* Collect column 0 of every row of st (bound by the caller) into arr. */
static int
collect_strings(struct kms_db *db, sqlite3_stmt *st, json_t *arr)
{
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_array_append_new(arr, json_string((const char *)
		    sqlite3_column_text(st, 0))) != 0) {
			sqlite3_finalize(st);
			return MQE2E_ERR_NOMEM;
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? MQE2E_OK : kms_db_error(db, rc);
}

int
kms_revoke_client(struct kmsd *k, const char *name, const char *reason,
    const char *request_id, json_t **result)
{
	struct kms_client c;
	struct kms_group g;
	sqlite3_stmt *st = NULL;
	json_t *serials = json_array(), *groups = json_array(), *rotated = json_array();
	int64_t now = (int64_t)time(NULL);
	uint64_t version = 0;
	uint32_t current = 0;
	char at[32], target[KMS_NAME_MAX + 16];
	size_t i;
	int r, e;

	*result = NULL;
	if (serials == NULL || groups == NULL || rotated == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	if ((r = kms_db_begin(k->db, 1)) != MQE2E_OK)
		goto out;
	if ((r = kms_client_find(k->db, name, &c)) != MQE2E_OK)
		goto end;
	if (c.revoked) {
		r = MQE2E_ERR_CONFLICT;
		goto end;
	}
	/* The certificates that become revoked now. */
	if ((r = kms_db_prepare(k->db, "SELECT serial FROM certs WHERE client_id = ?1 AND "
	    "revoked_at IS NULL ORDER BY id", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_int64(st, 1, c.id);
	if ((r = collect_strings(k->db, st, serials)) != MQE2E_OK)
		goto end;
	/* The groups it could read: its grants, or every group for a broker. */
	if ((r = kms_db_prepare(k->db, strcmp(c.kind, "broker") == 0 ?
	    "SELECT name FROM topic_groups ORDER BY name" :
	    "SELECT DISTINCT g.name FROM grants gr JOIN topic_groups g ON g.id = gr.group_id "
	    "WHERE gr.client_id = ?1 ORDER BY g.name", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_int64(st, 1, c.id);
	if ((r = collect_strings(k->db, st, groups)) != MQE2E_OK)
		goto end;
	/* Revoke the client and its certificates, drop its grants. */
	if ((r = kms_db_prepare(k->db, "UPDATE clients SET revoked_at = ?1, revoke_reason = ?2 "
	    "WHERE id = ?3", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_int64(st, 1, now);
	if (reason != NULL)
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, c.id);
	if ((r = kms_db_run(k->db, st)) != MQE2E_OK)
		goto end;
	if ((r = kms_db_prepare(k->db, "UPDATE certs SET revoked_at = ?1, revoke_reason = ?2 "
	    "WHERE client_id = ?3 AND revoked_at IS NULL", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_int64(st, 1, now);
	if (reason != NULL)
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, c.id);
	if ((r = kms_db_run(k->db, st)) != MQE2E_OK)
		goto end;
	if ((r = kms_db_prepare(k->db, "DELETE FROM grants WHERE client_id = ?1", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_int64(st, 1, c.id);
	if ((r = kms_db_run(k->db, st)) != MQE2E_OK)
		goto end;
	/* Rekey: fresh current and next, the pre-issued next voided. */
	for (i = 0; i < json_array_size(groups); i++) {
		const char *gname = json_string_value(json_array_get(groups, i));

		if ((r = kms_group_find(k->db, gname, &g)) != MQE2E_OK ||
		    (r = kms_rotate_locked(k, &g, 1, now, &current)) != MQE2E_OK)
			goto end;
		snprintf(target, sizeof(target), "%s#%u", gname, current);
		if (json_array_append_new(rotated, json_string(target)) != 0) {
			r = MQE2E_ERR_NOMEM;
			goto end;
		}
	}
	if ((r = kms_expire_locked(k, now)) != MQE2E_OK)
		goto end;
	r = kms_policy_bump(k->db, &version);
 end:
	if ((r = kms_db_end(k->db, r)) != MQE2E_OK)
		goto out;
	/* Committed: publish the CRL and the revoked set, wake the watchers.
	 * A failure here is logged; the next scheduler pass retries the CRL. */
	if ((e = kms_crl_refresh(k)) != MQE2E_OK)
		kms_log("revocation of '%s' committed but the CRL was not re-issued: %s",
		    name, mqe2e_strerror(e));
	kmsd_policy_changed(k, version);
	for (i = 0; i < json_array_size(rotated); i++)
		kms_audit(k->audit, request_id, "admin", "epoch.rotate",
		    json_string_value(json_array_get(rotated, i)), "ok", 0,
		    "rekey after revocation");
	kms_time_str(now, at);
	*result = json_pack("{s:s,s:b,s:s,s:O,s:O}", "name", name, "revoked", 1,
	    "revoked_at", at, "revoked_serials", serials, "rekeyed_groups", groups);
	if (*result == NULL)
		r = MQE2E_ERR_NOMEM;
 out:
	json_decref(serials);
	json_decref(groups);
	json_decref(rotated);
	return r;
}
