/*
 * rest_grants.c - publish/subscribe grants (admin):
 *   POST /v1/grants, GET /v1/grants?client=&group=,
 *   DELETE /v1/grants/{client}/{group}/{right}.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "epoch.h"
#include "httpd.h"
#include "jsonutil.h"
#include "store.h"

#define GRANT_KEY_MAX (2 * KMS_NAME_MAX + 8)   /* "client/group/right" */

static int
right_valid(const char *s)
{
	return strcmp(s, "pub") == 0 || strcmp(s, "sub") == 0;
}

static void
create(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_client_row c;
	struct kms_group_row g;
	json_t *in;
	const char *client, *group, *right;
	char target[GRANT_KEY_MAX + 1];
	int64_t now = (int64_t)time(NULL);
	uint64_t version = 0;
	int e, which = 0;

	kms_req_audit(r, "grant.create", NULL);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 0)) == NULL)
		return;
	if (json_unpack(in, "{s:s,s:s,s:s}", "client", &client, "group", &group,
	    "right", &right) != 0 || !right_valid(right)) {
		kms_reply_error(r, 400, "bad_request", "expected {\"client\":\"...\",\"group\":"
		    "\"...\",\"right\":\"pub\"|\"sub\"}");
		goto done;
	}
	snprintf(target, sizeof(target), "%.64s/%.64s/%s", client, group, right);
	kms_req_audit(r, "grant.create", target);
	if (!kms_name_valid(client) || !kms_name_valid(group)) {
		kms_reply_error(r, 404, "not_found", "client '%.64s' or group '%.64s' does not "
		    "exist (invalid name)", client, group);
		goto done;
	}
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	which = 1;
	if ((e = kms_store_client_get(k->db, client, &c)) != MQE2E_OK)
		goto end;
	which = 2;
	if ((e = kms_store_group_get(k->db, group, &g)) != MQE2E_OK)
		goto end;
	which = 3;
	if (c.revoked_at != 0 || strcmp(c.kind, "broker") == 0) {
		e = MQE2E_ERR_CONFLICT;
		goto end;
	}
	which = 4;
	if ((e = kms_store_grant_add(k->db, c.id, g.id, right, now)) == MQE2E_OK)
		e = kms_store_policy_bump(k->db, &version);
 end:
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", which == 1 ? "client '%s' does not exist" :
			    "group '%s' does not exist", which == 1 ? client : group);
		else if (e == MQE2E_ERR_CONFLICT && which == 3)
			kms_reply_error(r, 409, "conflict", c.revoked_at != 0 ?
			    "client '%s' is revoked" : "client '%s' is a broker: brokers receive GK_B "
			    "of every group without grants", client);
		else if (e == MQE2E_ERR_CONFLICT)
			kms_reply_error(r, 409, "conflict", "client '%s' already has the %s grant on "
			    "group '%s'", client, right, group);
		else
			kms_reply_err(r, e, "cannot grant %s on group '%s' to client '%s'", right,
			    group, client);
		goto done;
	}
	kmsd_policy_changed(k, version);
	kms_reply_json(r, 201, json_pack("{s:s,s:s,s:s,s:o}", "client", client, "group", group,
	    "right", right, "created", kms_json_time(now)));
 done:
	json_decref(in);
}

static int
add_grant(void *arg, const struct kms_grant_row *g)
{
	char key[GRANT_KEY_MAX + 1];

	snprintf(key, sizeof(key), "%s/%s/%s", g->client, g->group, g->right);
	return kms_list_add(arg, json_pack("{s:s,s:s,s:s,s:o}", "client", g->client,
	    "group", g->group, "right", g->right, "created", kms_json_time(g->created)), key);
}

static void
list(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_page req;
	struct kms_list l;
	const char *client = kms_req_query(r, "client"), *group = kms_req_query(r, "group");
	char after[3][KMS_NAME_MAX + 1] = { "", "", "" };
	char *p;
	int e, i;

	if (client != NULL && client[0] == '\0')
		client = NULL;
	if (group != NULL && group[0] == '\0')
		group = NULL;
	kms_req_audit(r, "grant.list", NULL);
	if (!kms_req_admin(r) || !kms_page_parse(r, &req))
		return;
	if ((client != NULL && !kms_name_valid(client)) || (group != NULL && !kms_name_valid(group))) {
		kms_reply_error(r, 400, "bad_request", "client and group filters must be valid names");
		return;
	}
	/* The cursor is the "client/group/right" key of the last row (names
	 * hold no '/'). */
	for (i = 0, p = req.after; i < 3 && p != NULL && *p != '\0'; i++) {
		char *slash = strchr(p, '/');
		int len = slash != NULL ? (int)(slash - p) : (int)strlen(p);

		snprintf(after[i], sizeof(after[i]), "%.*s", len, p);
		p = slash != NULL ? slash + 1 : NULL;
	}
	if ((e = kms_list_begin(&l, r, req.limit)) == MQE2E_OK)
		e = kms_store_grant_list(k->db, client, group, after[0], after[1], after[2],
		    req.limit + 1, add_grant, &l);
	if ((e = kms_list_end(&l, r, e)) != MQE2E_OK)
		kms_reply_err(r, e, "cannot list grants");
}

/* Store callback: note that the client still holds a sub grant. */
static int
note_sub(void *arg, const struct kms_grant_row *g)
{
	if (strcmp(g->right, "sub") == 0)
		*(int *)arg = 1;
	return MQE2E_OK;
}

/*
 * Removing a grant takes keys away: a pub grant gives GK_P, a sub grant
 * GK_P and GK_B, and the client already holds the pre-issued next epoch.
 * So unless the client keeps every key it had (a pub grant removed while
 * it still subscribes), the group is rekeyed exactly as for a revocation
 * (a kms_rotation rekey, epoch.h): next voided, fresh current and next, now.
 */
static void
delete(struct kms_req *r, const char *client, const char *group, const char *right)
{
	struct kmsd *k = r->k;
	struct kms_rotation t;
	char target[GRANT_KEY_MAX + 1], reason[64];
	int e, still_sub = 0;

	memset(&t, 0, sizeof(t));
	snprintf(target, sizeof(target), "%s/%s/%s", client, group, right);
	kms_req_audit(r, "grant.delete", target);
	if (!kms_req_admin(r))
		goto out;
	snprintf(reason, sizeof(reason), "%s grant removed", right);
	if ((e = kms_rotation_begin(&t, k, "grant-removal", client, reason,
	    (int64_t)time(NULL))) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto out;
	}
	if ((e = kms_store_grant_delete(k->db, client, group, right)) == MQE2E_OK &&
	    (e = kms_store_grant_list(k->db, client, group, NULL, NULL, NULL, 2, note_sub,
	    &still_sub)) == MQE2E_OK && !still_sub)
		e = kms_rotation_named(&t, group, NULL);
	t.policy_changed = 1;
	if ((e = kms_rotation_commit(&t, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "client '%s' has no %s grant on group "
			    "'%s'", client, right, group);
		else
			kms_reply_err(r, e, "cannot delete grant %s", target);
		goto out;
	}
	kms_rotation_announce(&t, r->id, "rekey after grant removal");
	kms_reply_json(r, 200, json_pack("{s:b,s:o}", "deleted", 1, "rekeyed",
	    json_array_size(t.rotated) > 0 ? json_pack("[s]", group) : json_array()));
 out:
	kms_rotation_free(&t);
}

void
rest_grants(struct kms_req *r, char **seg, size_t n)
{
	const char *m = r->method;

	if (n == 1)
		kms_route_collection(r, create, list);
	else if (n == 4) {
		if (strcmp(m, "DELETE") != 0)
			kms_reply_method(r, "DELETE");
		else if (!kms_name_valid(seg[1]) || !kms_name_valid(seg[2]) || !right_valid(seg[3]))
			kms_reply_error(r, 404, "not_found", "no such grant (names must be valid, "
			    "right 'pub' or 'sub')");
		else
			delete(r, seg[1], seg[2], seg[3]);
	} else
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
}
