/*
 * rest_grants.c - publish/subscribe grants (admin):
 *   POST /v1/grants, GET /v1/grants?client=&group=,
 *   DELETE /v1/grants/{client}/{group}/{right}.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "httpd.h"
#include "jsonutil.h"
#include "model.h"

static int
right_valid(const char *s)
{
	return strcmp(s, "pub") == 0 || strcmp(s, "sub") == 0;
}

static void
create(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_client c;
	struct kms_group g;
	json_t *in;
	const char *client, *group, *right;
	char target[3 * KMS_NAME_MAX + 8], created[32];
	sqlite3_stmt *st = NULL;
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
	if ((e = kms_client_find(k->db, client, &c)) != MQE2E_OK)
		goto end;
	which = 2;
	if ((e = kms_group_find(k->db, group, &g)) != MQE2E_OK)
		goto end;
	which = 3;
	if (c.revoked || strcmp(c.kind, "broker") == 0) {
		e = MQE2E_ERR_CONFLICT;
		goto end;
	}
	which = 4;
	if ((e = kms_db_prepare(k->db, "INSERT INTO grants (client_id, group_id, right, created) "
	    "VALUES (?1, ?2, ?3, ?4)", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_int64(st, 1, c.id);
	sqlite3_bind_int64(st, 2, g.id);
	sqlite3_bind_text(st, 3, right, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if ((e = kms_db_run(k->db, st)) != MQE2E_OK)
		goto end;
	e = kms_policy_bump(k->db, &version);
 end:
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", which == 1 ? "client '%s' does not exist" :
			    "group '%s' does not exist", which == 1 ? client : group);
		else if (e == MQE2E_ERR_CONFLICT && which == 3)
			kms_reply_error(r, 409, "conflict", c.revoked ? "client '%s' is revoked" :
			    "client '%s' is a broker: brokers receive GK_B of every group without "
			    "grants", client);
		else if (e == MQE2E_ERR_CONFLICT)
			kms_reply_error(r, 409, "conflict", "client '%s' already has the %s grant on "
			    "group '%s'", client, right, group);
		else
			kms_reply_err(r, e, "cannot grant %s on group '%s' to client '%s'", right,
			    group, client);
		goto done;
	}
	kmsd_policy_changed(k, version);
	kms_time_str(now, created);
	kms_reply_json(r, 201, json_pack("{s:s,s:s,s:s,s:s}", "client", client, "group", group,
	    "right", right, "created", created));
 done:
	json_decref(in);
}

static void
list(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_page pg;
	const char *client = kms_req_query(r, "client"), *group = kms_req_query(r, "group");
	sqlite3_stmt *st = NULL;
	json_t *items = json_array();
	char last[3 * KMS_NAME_MAX + 8] = "";
	unsigned count = 0;
	int rc, e, more = 0;

	if (client != NULL && client[0] == '\0')
		client = NULL;
	if (group != NULL && group[0] == '\0')
		group = NULL;
	kms_req_audit(r, "grant.list", NULL);
	if (!kms_req_admin(r) || !kms_page_parse(r, &pg))
		goto fail;
	if ((client != NULL && !kms_name_valid(client)) || (group != NULL && !kms_name_valid(group))) {
		kms_reply_error(r, 400, "bad_request", "client and group filters must be valid names");
		goto fail;
	}
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto fail;
	}
	/* The cursor is "client/group/right" of the last row; names hold no '/'
	 * and sort before it (0x2f) only in ways consistent with this key. */
	if ((e = kms_db_prepare(k->db, "SELECT c.name, g.name, gr.right, gr.created, "
	    "c.name || '/' || g.name || '/' || gr.right AS k "
	    "FROM grants gr JOIN clients c ON c.id = gr.client_id "
	    "JOIN topic_groups g ON g.id = gr.group_id "
	    "WHERE (?1 IS NULL OR c.name = ?1) AND (?2 IS NULL OR g.name = ?2) AND "
	    "(c.name, g.name, gr.right) > (?3, ?4, ?5) "
	    "ORDER BY c.name, g.name, gr.right LIMIT ?6", &st)) == MQE2E_OK) {
		char a[3][KMS_NAME_MAX + 1] = { "", "", "" };
		char *p = pg.after;
		int i;

		for (i = 0; i < 3 && p != NULL; i++) {
			char *slash = strchr(p, '/');

			snprintf(a[i], sizeof(a[i]), "%.*s", slash != NULL ? (int)(slash - p) :
			    (int)strlen(p), p);
			p = slash != NULL ? slash + 1 : NULL;
		}
		if (client != NULL)
			sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
		if (group != NULL)
			sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, a[0], -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, a[1], -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, a[2], -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(st, 6, (int)pg.limit + 1);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (count == pg.limit) {
				more = 1;
				break;
			}
			if (json_array_append_new(items, json_pack("{s:o,s:o,s:o,s:o}",
			    "client", kms_json_col_text(st, 0), "group", kms_json_col_text(st, 1),
			    "right", kms_json_col_text(st, 2),
			    "created", kms_json_col_time(st, 3))) != 0) {
				e = MQE2E_ERR_NOMEM;
				break;
			}
			snprintf(last, sizeof(last), "%s", (const char *)sqlite3_column_text(st, 4));
			count++;
		}
		if (e == MQE2E_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
			e = kms_db_error(k->db, rc);
		sqlite3_finalize(st);
	}
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot list grants");
		goto fail;
	}
	kms_reply_json(r, 200, kms_page_result(items, more ? last : NULL));
	return;
 fail:
	json_decref(items);
}

static void
delete(struct kms_req *r, const char *client, const char *group, const char *right)
{
	struct kmsd *k = r->k;
	char target[3 * KMS_NAME_MAX + 8];
	sqlite3_stmt *st = NULL;
	uint64_t version = 0;
	int e;

	snprintf(target, sizeof(target), "%s/%s/%s", client, group, right);
	kms_req_audit(r, "grant.delete", target);
	if (!kms_req_admin(r))
		return;
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		return;
	}
	if ((e = kms_db_prepare(k->db, "DELETE FROM grants WHERE right = ?3 AND "
	    "client_id = (SELECT id FROM clients WHERE name = ?1) AND "
	    "group_id = (SELECT id FROM topic_groups WHERE name = ?2)", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_text(st, 1, client, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, right, -1, SQLITE_STATIC);
	if ((e = kms_db_run(k->db, st)) != MQE2E_OK)
		goto end;
	if (sqlite3_changes(kms_db_handle(k->db)) == 0) {
		e = MQE2E_ERR_NOT_FOUND;
		goto end;
	}
	e = kms_policy_bump(k->db, &version);
 end:
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "client '%s' has no %s grant on group "
			    "'%s'", client, right, group);
		else
			kms_reply_err(r, e, "cannot delete grant %s", target);
		return;
	}
	kmsd_policy_changed(k, version);
	kms_reply_json(r, 200, json_pack("{s:b}", "deleted", 1));
}

void
rest_grants(struct kms_req *r, char **seg, size_t n)
{
	const char *m = r->method;

	if (n == 1) {
		if (strcmp(m, "POST") == 0)
			create(r);
		else if (strcmp(m, "GET") == 0)
			list(r);
		else
			kms_reply_method(r, "GET, POST");
	} else if (n == 4) {
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
