/*
 * rest_groups.c - topic groups (admin):
 *   POST /v1/groups, GET /v1/groups, GET|PATCH /v1/groups/{name},
 *   POST /v1/groups/{name}/rotate.
 * Epochs are shown as metadata only: no admin call ever returns key bytes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "db.h"
#include "httpd.h"
#include "jsonutil.h"
#include "model.h"
#include "rotation.h"

#define PERIOD_MAX 31536000      /* one year */
#define ROTATE_MIN 10
#define GROUP_COLUMNS "g.name, g.filter, g.scheme, g.rotate_s, g.grace_s, g.created, " \
	"(SELECT epoch FROM epochs WHERE group_id = g.id AND state = 'current'), g.next_rotation"

static json_t *
group_json(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:i,s:I,s:I,s:o,s:I,s:o}",
	    "name", kms_json_col_text(st, 0),
	    "filter", kms_json_col_text(st, 1),
	    "scheme", sqlite3_column_int(st, 2),
	    "rotate_s", (json_int_t)sqlite3_column_int64(st, 3),
	    "grace_s", (json_int_t)sqlite3_column_int64(st, 4),
	    "created", kms_json_col_time(st, 5),
	    "current_epoch", (json_int_t)sqlite3_column_int64(st, 6),
	    "next_rotation", kms_json_col_time(st, 7));
}

/* The group object of name, with its epochs if with_epochs (in a tx). */
static int
group_get(struct kms_db *db, const char *name, int with_epochs, json_t **out)
{
	sqlite3_stmt *st = NULL;
	json_t *g = NULL, *epochs = NULL;
	int rc, r;

	*out = NULL;
	if ((r = kms_db_prepare(db, "SELECT " GROUP_COLUMNS ", g.id FROM topic_groups g "
	    "WHERE g.name = ?1", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? MQE2E_ERR_NOT_FOUND : kms_db_error(db, rc);
		sqlite3_finalize(st);
		return r;
	}
	g = group_json(st);
	if (with_epochs && g != NULL) {
		int64_t id = sqlite3_column_int64(st, 8);

		sqlite3_finalize(st);
		st = NULL;
		if ((epochs = json_array()) == NULL ||
		    (r = kms_db_prepare(db, "SELECT epoch, state, created, activated, expires "
		    "FROM epochs WHERE group_id = ?1 ORDER BY epoch", &st)) != MQE2E_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, id);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (json_array_append_new(epochs, json_pack("{s:I,s:o,s:o,s:o,s:o}",
			    "epoch", (json_int_t)sqlite3_column_int64(st, 0),
			    "state", kms_json_col_text(st, 1),
			    "created", kms_json_col_time(st, 2),
			    "activated", kms_json_col_time(st, 3),
			    "expires", kms_json_col_time(st, 4))) != 0) {
				r = MQE2E_ERR_NOMEM;
				goto fail;
			}
		}
		if (rc != SQLITE_DONE) {
			r = kms_db_error(db, rc);
			goto fail;
		}
		json_object_set_new(g, "epochs", epochs);
		epochs = NULL;
	}
	sqlite3_finalize(st);
	if (g == NULL)
		return MQE2E_ERR_NOMEM;
	*out = g;
	return MQE2E_OK;
 fail:
	sqlite3_finalize(st);
	json_decref(epochs);
	json_decref(g);
	return r != MQE2E_OK ? r : MQE2E_ERR_NOMEM;
}

/* Validate the optional settable fields present in in; reply 400 and
 * return 0 on a bad one. */
static int
check_fields(struct kms_req *r, json_t *in, const char **filter, json_int_t *scheme,
    json_int_t *rotate_s, json_int_t *grace_s)
{
	char why[128];

	if (json_unpack(in, "{s?s,s?I,s?I,s?I}", "filter", filter, "scheme", scheme,
	    "rotate_s", rotate_s, "grace_s", grace_s) != 0) {
		kms_reply_error(r, 400, "bad_request", "filter must be a string; scheme, rotate_s "
		    "and grace_s whole numbers");
		return 0;
	}
	if (*filter != NULL && !kms_topic_filter_valid(*filter, why, sizeof(why))) {
		kms_reply_error(r, 400, "bad_request", "topic filter '%.200s' is invalid: %s",
		    *filter, why);
		return 0;
	}
	if (*scheme != -1 && (*scheme < 1 || *scheme > 4)) {
		kms_reply_error(r, 400, "bad_request", "scheme must be 1, 2, 3 or 4");
		return 0;
	}
	if (*rotate_s != -1 && (*rotate_s < ROTATE_MIN || *rotate_s > PERIOD_MAX)) {
		kms_reply_error(r, 400, "bad_request", "rotate_s must be from %d to %d seconds",
		    ROTATE_MIN, PERIOD_MAX);
		return 0;
	}
	if (*grace_s != -1 && (*grace_s < 0 || *grace_s > PERIOD_MAX)) {
		kms_reply_error(r, 400, "bad_request", "grace_s must be from 0 to %d seconds",
		    PERIOD_MAX);
		return 0;
	}
	return 1;
}

static void
create(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_group g;
	json_t *in, *out = NULL;
	const char *name = NULL, *filter = NULL;
	json_int_t scheme = -1, rotate_s = -1, grace_s = -1;
	sqlite3_stmt *st = NULL;
	int64_t now = (int64_t)time(NULL);
	uint64_t version = 0;
	int e;

	kms_req_audit(r, "group.create", NULL);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 0)) == NULL)
		return;
	if (json_unpack(in, "{s:s}", "name", &name) != 0 || !kms_name_valid(name)) {
		kms_reply_error(r, 400, "bad_request", "a group needs a \"name\" of 1-64 letters, "
		    "digits, '.', '_' or '-' (not starting with '.' or '-')");
		goto done;
	}
	kms_req_audit(r, "group.create", name);
	if (!check_fields(r, in, &filter, &scheme, &rotate_s, &grace_s))
		goto done;
	if (filter == NULL || scheme == -1) {
		kms_reply_error(r, 400, "bad_request", "group '%s' needs a \"filter\" (MQTT topic "
		    "filter) and a \"scheme\" (1-4)", name);
		goto done;
	}
	if (rotate_s == -1)
		rotate_s = 86400;
	if (grace_s == -1)
		grace_s = 3600;
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	if ((e = kms_db_prepare(k->db, "INSERT INTO topic_groups (name, filter, scheme, "
	    "rotate_s, grace_s, created, next_rotation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	    &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, scheme);
	sqlite3_bind_int64(st, 4, rotate_s);
	sqlite3_bind_int64(st, 5, grace_s);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, now + rotate_s);
	if ((e = kms_db_run(k->db, st)) != MQE2E_OK ||
	    (e = kms_group_find(k->db, name, &g)) != MQE2E_OK ||
	    (e = kms_epochs_init_locked(k, &g, now)) != MQE2E_OK ||
	    (e = kms_policy_bump(k->db, &version)) != MQE2E_OK)
		goto end;
	e = group_get(k->db, name, 1, &out);
 end:
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_CONFLICT)
			kms_reply_error(r, 409, "conflict", "group '%s' already exists", name);
		else
			kms_reply_err(r, e, "cannot create group '%s'", name);
		goto done;
	}
	kmsd_policy_changed(k, version);
	kms_reply_json(r, 201, out);
 done:
	json_decref(in);
}

static void
list(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_page pg;
	sqlite3_stmt *st = NULL;
	json_t *items = json_array();
	char last[KMS_NAME_MAX + 1] = "";
	unsigned count = 0;
	int rc, e, more = 0;

	kms_req_audit(r, "group.list", NULL);
	if (!kms_req_admin(r) || !kms_page_parse(r, &pg))
		goto fail;
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto fail;
	}
	if ((e = kms_db_prepare(k->db, "SELECT " GROUP_COLUMNS " FROM topic_groups g "
	    "WHERE g.name > ?1 ORDER BY g.name LIMIT ?2", &st)) == MQE2E_OK) {
		sqlite3_bind_text(st, 1, pg.after, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)pg.limit + 1);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (count == pg.limit) {
				more = 1;
				break;
			}
			if (json_array_append_new(items, group_json(st)) != 0) {
				e = MQE2E_ERR_NOMEM;
				break;
			}
			snprintf(last, sizeof(last), "%s", (const char *)sqlite3_column_text(st, 0));
			count++;
		}
		if (e == MQE2E_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
			e = kms_db_error(k->db, rc);
		sqlite3_finalize(st);
	}
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot list groups");
		goto fail;
	}
	kms_reply_json(r, 200, kms_page_result(items, more ? last : NULL));
	return;
 fail:
	json_decref(items);
}

static void
show(struct kms_req *r, const char *name)
{
	json_t *out = NULL;
	int e;

	kms_req_audit(r, "group.show", name);
	if (!kms_req_admin(r))
		return;
	if ((e = kms_db_begin(r->k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		return;
	}
	e = kms_db_end(r->k->db, group_get(r->k->db, name, 1, &out));
	if (e == MQE2E_ERR_NOT_FOUND)
		kms_reply_error(r, 404, "not_found", "group '%s' does not exist", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot read group '%s'", name);
	else {
		kms_reply_json(r, 200, out);
		out = NULL;
	}
	json_decref(out);
}

static void
update(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_group g;
	json_t *in, *out = NULL;
	const char *filter = NULL;
	json_int_t scheme = -1, rotate_s = -1, grace_s = -1;
	sqlite3_stmt *st = NULL;
	uint64_t version = 0;
	int64_t now = (int64_t)time(NULL);
	const char *key;
	json_t *v;
	int e;

	kms_req_audit(r, "group.update", name);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 0)) == NULL)
		return;
	json_object_foreach(in, key, v) {
		if (strcmp(key, "filter") != 0 && strcmp(key, "scheme") != 0 &&
		    strcmp(key, "rotate_s") != 0 && strcmp(key, "grace_s") != 0) {
			kms_reply_error(r, 400, "bad_request", "field '%.64s' cannot be changed: "
			    "only filter, scheme, rotate_s and grace_s", key);
			goto done;
		}
	}
	if (!check_fields(r, in, &filter, &scheme, &rotate_s, &grace_s))
		goto done;
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	if ((e = kms_group_find(k->db, name, &g)) != MQE2E_OK)
		goto end;
	if ((e = kms_db_prepare(k->db, "UPDATE topic_groups SET filter = ?1, scheme = ?2, "
	    "rotate_s = ?3, grace_s = ?4, next_rotation = ?5 WHERE id = ?6", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_text(st, 1, filter != NULL ? filter : g.filter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, scheme != -1 ? scheme : g.scheme);
	sqlite3_bind_int64(st, 3, rotate_s != -1 ? rotate_s : g.rotate_s);
	sqlite3_bind_int64(st, 4, grace_s != -1 ? grace_s : g.grace_s);
	/* A new period starts counting now. */
	sqlite3_bind_int64(st, 5, rotate_s != -1 ? now + rotate_s : g.next_rotation);
	sqlite3_bind_int64(st, 6, g.id);
	if ((e = kms_db_run(k->db, st)) != MQE2E_OK ||
	    (e = kms_policy_bump(k->db, &version)) != MQE2E_OK)
		goto end;
	e = group_get(k->db, name, 1, &out);
 end:
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "group '%s' does not exist", name);
		else
			kms_reply_err(r, e, "cannot update group '%s'", name);
		goto done;
	}
	kmsd_policy_changed(k, version);
	kms_reply_json(r, 200, out);
 done:
	json_decref(in);
}

static void
rotate(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_group g;
	json_t *in, *out = NULL;
	uint64_t version = 0;
	uint32_t current = 0;
	int64_t now = (int64_t)time(NULL);
	char target[KMS_NAME_MAX + 32];
	int e;

	kms_req_audit(r, "group.rotate", name);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 1)) == NULL)
		return;
	json_decref(in);
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		return;
	}
	if ((e = kms_group_find(k->db, name, &g)) != MQE2E_OK ||
	    (e = kms_rotate_locked(k, &g, 0, now, &current)) != MQE2E_OK ||
	    (e = kms_expire_locked(k, now)) != MQE2E_OK ||
	    (e = kms_policy_bump(k->db, &version)) != MQE2E_OK)
		goto end;
	e = group_get(k->db, name, 1, &out);
 end:
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "group '%s' does not exist", name);
		else
			kms_reply_err(r, e, "cannot rotate group '%s'", name);
		return;
	}
	kmsd_policy_changed(k, version);
	snprintf(target, sizeof(target), "%s#%u", name, current);
	kms_audit(k->audit, r->id, "admin", "epoch.rotate", target, "ok", 0, "manual");
	kms_reply_json(r, 200, out);
}

void
rest_groups(struct kms_req *r, char **seg, size_t n)
{
	const char *m = r->method;

	if (n == 1) {
		if (strcmp(m, "POST") == 0)
			create(r);
		else if (strcmp(m, "GET") == 0)
			list(r);
		else
			kms_reply_method(r, "GET, POST");
		return;
	}
	if (!kms_name_valid(seg[1])) {
		kms_reply_error(r, 404, "not_found", "group '%.64s' does not exist (invalid name)",
		    seg[1]);
		return;
	}
	if (n == 2) {
		if (strcmp(m, "GET") == 0)
			show(r, seg[1]);
		else if (strcmp(m, "PATCH") == 0)
			update(r, seg[1]);
		else
			kms_reply_method(r, "GET, PATCH");
	} else if (n == 3 && strcmp(seg[2], "rotate") == 0) {
		if (strcmp(m, "POST") == 0)
			rotate(r, seg[1]);
		else
			kms_reply_method(r, "POST");
	} else
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
}
