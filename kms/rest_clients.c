/*
 * rest_clients.c - clients and their certificates (admin):
 *   POST /v1/clients, GET /v1/clients, GET /v1/clients/{name},
 *   POST|GET /v1/clients/{name}/certs, POST /v1/clients/{name}/revoke.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca.h"
#include "db.h"
#include "httpd.h"
#include "jsonutil.h"
#include "model.h"
#include "revoke.h"

#define CLIENT_COLUMNS "c.name, c.kind, c.created, c.revoked_at, c.revoke_reason, " \
	"(SELECT count(*) FROM certs WHERE client_id = c.id)"
#define REASON_MAX 256

static json_t *
client_json(sqlite3_stmt *st)
{
	return json_pack("{s:o,s:o,s:o,s:b,s:o,s:o,s:I}",
	    "name", kms_json_col_text(st, 0),
	    "kind", kms_json_col_text(st, 1),
	    "created", kms_json_col_time(st, 2),
	    "revoked", sqlite3_column_type(st, 3) != SQLITE_NULL,
	    "revoked_at", kms_json_col_time(st, 3),
	    "revoke_reason", kms_json_col_text(st, 4),
	    "certs", (json_int_t)sqlite3_column_int64(st, 5));
}

/* The client object of name (in a transaction). */
static int
client_get(struct kms_db *db, const char *name, json_t **out)
{
	sqlite3_stmt *st = NULL;
	int rc, r;

	*out = NULL;
	if ((r = kms_db_prepare(db, "SELECT " CLIENT_COLUMNS " FROM clients c WHERE c.name = ?1",
	    &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		r = (*out = client_json(st)) != NULL ? MQE2E_OK : MQE2E_ERR_NOMEM;
	else
		r = rc == SQLITE_DONE ? MQE2E_ERR_NOT_FOUND : kms_db_error(db, rc);
	sqlite3_finalize(st);
	return r;
}

static void
create(struct kms_req *r)
{
	struct kmsd *k = r->k;
	json_t *in, *out = NULL;
	const char *name, *kind = "client";
	sqlite3_stmt *st = NULL;
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
	if ((e = kms_db_prepare(k->db, "INSERT INTO clients (name, kind, created) "
	    "VALUES (?1, ?2, ?3)", &st)) == MQE2E_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
		if ((e = kms_db_run(k->db, st)) == MQE2E_OK)
			e = client_get(k->db, name, &out);
	}
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		json_decref(out);
		if (e == MQE2E_ERR_CONFLICT)
			kms_reply_error(r, 409, "conflict", "client '%s' already exists (names are "
			    "never reused, even after revocation): choose another name", name);
		else
			kms_reply_err(r, e, "cannot create client '%s'", name);
		goto done;
	}
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

	kms_req_audit(r, "client.list", NULL);
	if (!kms_req_admin(r) || !kms_page_parse(r, &pg))
		goto fail;
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto fail;
	}
	if ((e = kms_db_prepare(k->db, "SELECT " CLIENT_COLUMNS " FROM clients c "
	    "WHERE c.name > ?1 ORDER BY c.name LIMIT ?2", &st)) == MQE2E_OK) {
		sqlite3_bind_text(st, 1, pg.after, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)pg.limit + 1);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (count == pg.limit) {
				more = 1;
				break;
			}
			if (json_array_append_new(items, client_json(st)) != 0) {
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
		kms_reply_err(r, e, "cannot list clients");
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

	kms_req_audit(r, "client.show", name);
	if (!kms_req_admin(r))
		return;
	if ((e = kms_db_begin(r->k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		return;
	}
	e = kms_db_end(r->k->db, client_get(r->k->db, name, &out));
	if (e == MQE2E_ERR_NOT_FOUND)
		kms_reply_error(r, 404, "not_found", "client '%s' does not exist", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot read client '%s'", name);
	else {
		kms_reply_json(r, 200, out);
		out = NULL;
	}
	json_decref(out);
}

static void
enrol(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_client c;
	struct kms_issued is;
	json_t *in, *out = NULL;
	const char *csr = NULL;
	int generate = 0, days = (int)k->cfg.cert_days, e;
	EVP_PKEY *pub = NULL;
	char *key_pem = NULL, nb[32], na[32];
	size_t key_pem_len = 0;
	sqlite3_stmt *st = NULL;
	time_t now = time(NULL);

	memset(&is, 0, sizeof(is));
	kms_req_audit(r, "cert.issue", name);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 0)) == NULL)
		return;
	if (json_unpack(in, "{s?s,s?b,s?i}", "csr", &csr, "generate", &generate,
	    "days", &days) != 0 || (csr == NULL) == !generate) {
		kms_reply_error(r, 400, "bad_request", "expected {\"csr\":\"PEM\"} or "
		    "{\"generate\":true}, optionally with \"days\"");
		goto done;
	}
	if (days < 1 || days > 3650) {
		kms_reply_error(r, 400, "bad_request", "days must be from 1 to 3650");
		goto done;
	}
	if (csr != NULL) {
		if ((e = kms_ca_csr_pubkey(csr, strlen(csr), &pub)) != MQE2E_OK) {
			kms_reply_error(r, 400, "bad_csr", "the CSR for client '%s' %s", name,
			    e == MQE2E_ERR_BAD_CERT ? "does not hold an Ed25519 key (make one "
			    "with: openssl genpkey -algorithm ed25519)" :
			    e == MQE2E_ERR_BAD_SIGNATURE ? "has an invalid signature" :
			    "is not a PEM certificate request");
			goto done;
		}
	} else if ((e = kms_ca_keygen(&pub, &key_pem, &key_pem_len)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot generate a key for client '%s'", name);
		goto done;
	}
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	if ((e = kms_client_find(k->db, name, &c)) != MQE2E_OK)
		goto end;
	if (c.revoked) {
		e = MQE2E_ERR_CONFLICT;
		goto end;
	}
	if ((e = kms_ca_issue(k->ca, pub, c.name, c.kind, (unsigned)days, now, &is)) != MQE2E_OK)
		goto end;
	if ((e = kms_db_prepare(k->db, "INSERT INTO certs (serial, client_id, cert_pem, "
	    "not_before, not_after, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_text(st, 1, is.serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c.id);
	sqlite3_bind_text(st, 3, is.cert_pem, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)is.not_before);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)is.not_after);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)now);
	e = kms_db_run(k->db, st);
 end:
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "client '%s' does not exist: create it "
			    "first (POST /v1/clients)", name);
		else if (e == MQE2E_ERR_CONFLICT)
			kms_reply_error(r, 409, "conflict", "client '%s' is revoked and can never "
			    "be enrolled again: create a client with a new name", name);
		else
			kms_reply_err(r, e, "cannot issue a certificate for client '%s'", name);
		goto done;
	}
	snprintf(r->detail, sizeof(r->detail), "serial %s%s", is.serial,
	    generate ? " (server-generated key)" : "");
	kms_time_str((int64_t)is.not_before, nb);
	kms_time_str((int64_t)is.not_after, na);
	out = json_pack("{s:s,s:s,s:s,s:s,s:s}", "serial", is.serial, "cert_pem", is.cert_pem,
	    "ca_pem", kms_ca_pem(k->ca), "not_before", nb, "not_after", na);
	if (out != NULL && key_pem != NULL)
		json_object_set_new(out, "key_pem", json_string(key_pem));
	/* The response copies the key; jansson's copy is freed with the object.
	 * It is never stored or logged. */
	kms_reply_json(r, 201, out);
 done:
	if (key_pem != NULL) {
		mqe2e_wipe(key_pem, key_pem_len);
		free(key_pem);
	}
	mqe2e_pkey_free(pub);
	kms_issued_clear(&is);
	json_decref(in);
}

static void
certs(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_page pg;
	struct kms_client c;
	sqlite3_stmt *st = NULL;
	json_t *items = json_array();
	char last[32] = "";
	long long after = 0;
	unsigned count = 0;
	int rc, e, more = 0;

	kms_req_audit(r, "cert.list", name);
	if (!kms_req_admin(r) || !kms_page_parse(r, &pg))
		goto fail;
	if (pg.after[0] != '\0') {
		unsigned long long v;

		if (kmsd_parse_uint(pg.after, 1, (1ULL << 62), &v) != 0) {
			kms_reply_error(r, 400, "bad_request", "cursor is not one returned as "
			    "next_cursor by this endpoint");
			goto fail;
		}
		after = (long long)v;
	}
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto fail;
	}
	if ((e = kms_client_find(k->db, name, &c)) != MQE2E_OK)
		goto end;
	if ((e = kms_db_prepare(k->db, "SELECT id, serial, not_before, not_after, revoked_at, "
	    "created FROM certs WHERE client_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	    &st)) != MQE2E_OK)
		goto end;
	sqlite3_bind_int64(st, 1, c.id);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int(st, 3, (int)pg.limit + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == pg.limit) {
			more = 1;
			break;
		}
		if (json_array_append_new(items, json_pack("{s:o,s:o,s:o,s:b,s:o,s:o}",
		    "serial", kms_json_col_text(st, 1), "not_before", kms_json_col_time(st, 2),
		    "not_after", kms_json_col_time(st, 3),
		    "revoked", sqlite3_column_type(st, 4) != SQLITE_NULL,
		    "revoked_at", kms_json_col_time(st, 4),
		    "created", kms_json_col_time(st, 5))) != 0) {
			e = MQE2E_ERR_NOMEM;
			break;
		}
		snprintf(last, sizeof(last), "%lld", (long long)sqlite3_column_int64(st, 0));
		count++;
	}
	if (e == MQE2E_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		e = kms_db_error(k->db, rc);
	sqlite3_finalize(st);
 end:
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "client '%s' does not exist", name);
		else
			kms_reply_err(r, e, "cannot list the certificates of client '%s'", name);
		goto fail;
	}
	kms_reply_json(r, 200, kms_page_result(items, more ? last : NULL));
	return;
 fail:
	json_decref(items);
}

static void
revoke(struct kms_req *r, const char *name)
{
	json_t *in, *out = NULL;
	const char *reason = NULL;
	int e;

	kms_req_audit(r, "client.revoke", name);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 1)) == NULL)
		return;
	if (json_unpack(in, "{s?s}", "reason", &reason) != 0 ||
	    (reason != NULL && strlen(reason) > REASON_MAX)) {
		kms_reply_error(r, 400, "bad_request", "expected {\"reason\":\"...\"} with at "
		    "most %d bytes of reason", REASON_MAX);
		goto done;
	}
	e = kms_revoke_client(r->k, name, reason, r->id, &out);
	if (e == MQE2E_ERR_NOT_FOUND)
		kms_reply_error(r, 404, "not_found", "client '%s' does not exist", name);
	else if (e == MQE2E_ERR_CONFLICT)
		kms_reply_error(r, 409, "conflict", "client '%s' is already revoked", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot revoke client '%s'", name);
	else
		kms_reply_json(r, 200, out);
 done:
	json_decref(in);
}

void
rest_clients(struct kms_req *r, char **seg, size_t n)
{
	int get = strcmp(r->method, "GET") == 0, post = strcmp(r->method, "POST") == 0;

	if (n == 1) {
		if (post)
			create(r);
		else if (get)
			list(r);
		else
			kms_reply_method(r, "GET, POST");
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
			enrol(r, seg[1]);
		else if (get)
			certs(r, seg[1]);
		else
			kms_reply_method(r, "GET, POST");
	} else if (n == 3 && strcmp(seg[2], "revoke") == 0) {
		if (post)
			revoke(r, seg[1]);
		else
			kms_reply_method(r, "POST");
	} else
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
}
