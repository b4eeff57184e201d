/*
 * rest_clients.c - clients and their certificates (admin):
 *   POST /v1/clients, GET /v1/clients, GET /v1/clients/{name},
 *   GET /v1/clients/{name}/certs, POST /v1/clients/{name}/revoke
 *   (POST /v1/clients/{name}/certs issues one: rest_certs.c).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca.h"
#include "httpd.h"
#include "jsonutil.h"
#include "revoke.h"
#include "store.h"

static json_t *
client_json(const struct kms_client_row *c)
{
	return json_pack("{s:s,s:s,s:o,s:b,s:o,s:o,s:I}",
	    "name", c->name,
	    "kind", c->kind,
	    "created", kms_json_time(c->created),
	    "revoked", c->revoked_at != 0,
	    "revoked_at", kms_json_time(c->revoked_at),
	    "revoke_reason", c->revoke_reason[0] != '\0' ? json_string(c->revoke_reason) :
	    json_null(),
	    "certs", (json_int_t)c->certs);
}

static void
create(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_client_row c;
	json_t *in;
	const char *name, *kind = "client";
	int e;

	kms_req_audit(r, "client.create", NULL);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 0)) == NULL)
		return;
	if (json_unpack(in, "{s:s,s?s}", "name", &name, "kind", &kind) != 0) {
		kms_reply_error(r, 400, "bad_request", "expected {\"name\":\"...\",\"kind\":"
		    "\"client\"|\"broker\"}");
		goto done;
	}
	kms_req_audit(r, "client.create", name);
	if (!kms_name_valid(name)) {
		kms_reply_error(r, 400, "bad_request", "client name '%.64s' is invalid: use 1-64 "
		    "letters, digits, '.', '_' or '-', not starting with '.' or '-'", name);
		goto done;
	}
	if (strcmp(kind, "client") != 0 && strcmp(kind, "broker") != 0) {
		kms_reply_error(r, 400, "bad_request", "kind must be \"client\" or \"broker\", "
		    "not \"%.32s\"", kind);
		goto done;
	}
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	if ((e = kms_store_client_add(k->db, name, kind, (int64_t)time(NULL))) == MQE2E_OK)
		e = kms_store_client_get(k->db, name, &c);
	e = kms_db_end(k->db, e);
	if (e == MQE2E_ERR_CONFLICT)
		kms_reply_error(r, 409, "conflict", "client '%s' already exists (names are never "
		    "reused, even after revocation): choose another name", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot create client '%s'", name);
	else
		kms_reply_json(r, 201, client_json(&c));
 done:
	json_decref(in);
}

static int
add_client(void *arg, const struct kms_client_row *c)
{
	return kms_list_add(arg, client_json(c), c->name);
}

static void
list(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_page req;
	struct kms_list l;
	int e;

	kms_req_audit(r, "client.list", NULL);
	if (!kms_req_admin(r) || !kms_page_parse(r, &req))
		return;
	if ((e = kms_list_begin(&l, r, req.limit)) == MQE2E_OK)
		e = kms_store_client_list(k->db, req.after, req.limit + 1, add_client, &l);
	if ((e = kms_list_end(&l, r, e)) != MQE2E_OK)
		kms_reply_err(r, e, "cannot list clients");
}

static void
show(struct kms_req *r, const char *name)
{
	struct kms_client_row c;
	int e;

	kms_req_audit(r, "client.show", name);
	if (!kms_req_admin(r))
		return;
	if ((e = kms_db_begin(r->k->db, 0)) == MQE2E_OK)
		e = kms_db_end(r->k->db, kms_store_client_get(r->k->db, name, &c));
	if (e == MQE2E_ERR_NOT_FOUND)
		kms_reply_error(r, 404, "not_found", "client '%s' does not exist", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot read client '%s'", name);
	else
		kms_reply_json(r, 200, client_json(&c));
}

static int
add_cert(void *arg, const struct kms_cert_row *c)
{
	char key[32];

	snprintf(key, sizeof(key), "%lld", (long long)c->id);
	return kms_list_add(arg, json_pack("{s:s,s:o,s:o,s:b,s:o,s:o}",
	    "serial", c->serial, "not_before", kms_json_time(c->not_before),
	    "not_after", kms_json_time(c->not_after), "revoked", c->revoked_at != 0,
	    "revoked_at", kms_json_time(c->revoked_at),
	    "created", kms_json_time(c->created)), key);
}

static void
certs(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_page req;
	struct kms_client_row c;
	struct kms_list l;
	unsigned long long after = 0;
	int e;

	kms_req_audit(r, "cert.list", name);
	if (!kms_req_admin(r) || !kms_page_parse(r, &req))
		return;
	if (req.after[0] != '\0' && kmsd_parse_uint(req.after, 1, (1ULL << 62), &after) != 0) {
		kms_reply_error(r, 400, "bad_request", "cursor is not one returned as next_cursor "
		    "by this endpoint");
		return;
	}
	if ((e = kms_list_begin(&l, r, req.limit)) == MQE2E_OK &&
	    (e = kms_store_client_get(k->db, name, &c)) == MQE2E_OK)
		e = kms_store_cert_list(k->db, c.id, (int64_t)after, req.limit + 1, add_cert, &l);
	if ((e = kms_list_end(&l, r, e)) == MQE2E_ERR_NOT_FOUND)
		kms_reply_error(r, 404, "not_found", "client '%s' does not exist", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot list the certificates of client '%s'", name);
}

static void
revoke(struct kms_req *r, const char *name)
{
	json_t *in, *out = NULL;
	const char *reason;
	int e;

	kms_req_audit(r, "client.revoke", name);
	if (!kms_req_admin(r) || !kms_req_reason(r, &in, &reason))
		return;
	e = kms_revoke_client(r->k, name, reason, r->id, &out);
	if (e == MQE2E_ERR_NOT_FOUND)
		kms_reply_error(r, 404, "not_found", "client '%s' does not exist", name);
	else if (e == MQE2E_ERR_CONFLICT)
		kms_reply_error(r, 409, "conflict", "client '%s' is already revoked", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot revoke client '%s'", name);
	else
		kms_reply_json(r, 200, out);
	json_decref(in);
}

void
rest_clients(struct kms_req *r, char **seg, size_t n)
{
	int get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;

	if (n == 1) {
		kms_route_collection(r, create, list);
		return;
	}
	if (!kms_name_valid(seg[1])) {
		kms_reply_error(r, 404, "not_found", "client '%.64s' does not exist (invalid name)",
		    seg[1]);
		return;
	}
	if (n == 2) {
		if (get)
			show(r, seg[1]);
		else
			kms_reply_method(r, "GET");
	} else if (n == 3 && strcmp(seg[2], "certs") == 0) {
		if (post)
			rest_cert_issue(r, seg[1]);
		else if (get)
			certs(r, seg[1]);
		else
			kms_reply_method(r, "GET, POST");
	} else if (n == 4 && strcmp(seg[2], "certs") == 0 && strcmp(seg[3], "renew") == 0) {
		if (post)
			rest_cert_renew(r, seg[1]);
		else
			kms_reply_method(r, "POST");
	} else if (n == 5 && strcmp(seg[2], "certs") == 0 && strcmp(seg[4], "revoke") == 0) {
		if (post)
			rest_cert_revoke(r, seg[1], seg[3]);
		else
			kms_reply_method(r, "POST");
	} else if (n == 3 && strcmp(seg[2], "revoke") == 0) {
		if (post)
			revoke(r, seg[1]);
		else
			kms_reply_method(r, "POST");
	} else
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
}
