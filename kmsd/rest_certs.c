/*
 * rest_certs.c - certificates one by one:
 *   POST /v1/clients/{name}/certs                   (admin) issue one
 *   POST /v1/clients/{name}/certs/{serial}/revoke   (admin) a lost key
 *   POST /v1/clients/{name}/certs/renew             (the device) a new
 *        certificate for the key of a live one, proven by the CSR's
 *        signature with that key
 *   GET  /v1/certs?expiring_within=DAYS             (admin) renew soon
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


void
rest_cert_revoke(struct kms_req *r, const char *name, const char *serial)
{
	json_t *in, *out = NULL;
	const char *reason;
	char target[KMS_NAME_MAX + MQE2E_SERIAL_HEX_MAX + 2];
	int e;

	snprintf(target, sizeof(target), "%s/%s", name, serial);
	kms_req_audit(r, "cert.revoke", target);
	if (!kms_req_admin(r) || !kms_req_reason(r, &in, &reason))
		return;
	e = kms_revoke_cert(r->k, name, serial, reason, r->id, &out);
	if (e == MQE2E_ERR_NOT_FOUND)
		kms_reply_error(r, 404, "not_found", "client '%s' has no certificate with serial "
		    "%s (see GET /v1/clients/%s/certs)", name, serial, name);
	else if (e == MQE2E_ERR_CONFLICT)
		kms_reply_error(r, 409, "conflict", "certificate %s of '%s' is already revoked",
		    serial, name);
	else if (e == MQE2E_ERR_REVOKED)
		kms_reply_error(r, 409, "conflict", "client '%s' is revoked, and all its "
		    "certificates with it", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot revoke certificate %s of '%s'", serial, name);
	else {
		snprintf(r->detail, sizeof(r->detail), "%zu certificate(s) with that key",
		    json_array_size(json_object_get(out, "revoked_serials")));
		kms_reply_json(r, 200, out);
	}
	json_decref(in);
}

/* The "days" of a request: 1 to 3650, else reply 400 and return 0. */
static int
days_ok(struct kms_req *r, json_int_t days)
{
	if (days >= 1 && days <= 3650)
		return 1;
	kms_reply_error(r, 400, "bad_request", "days must be from 1 to 3650");
	return 0;
}

/* In a write transaction: the client named, if it may be given a new
 * certificate (else MQE2E_ERR_NOT_FOUND or MQE2E_ERR_REVOKED). */
static int
live_client(struct kms_db *db, const char *name, struct kms_client_row *c)
{
	int e;

	if ((e = kms_store_client_get(db, name, c)) == MQE2E_OK && c->revoked_at != 0)
		e = MQE2E_ERR_REVOKED;
	return e;
}

/* In the same transaction: a certificate for pub issued to c for days from
 * now, and stored; *is holds it (the caller clears it either way). */
static int
issue_stored(struct kmsd *k, const struct kms_client_row *c, EVP_PKEY *pub, json_int_t days,
    time_t now, struct kms_issued *is)
{
	int e;

	if ((e = kms_ca_issue(k->ca, pub, c->name, c->kind, (unsigned)days, now, is)) != MQE2E_OK)
		return e;
	return kms_store_cert_add(k->db, c->id, is->serial, is->cert_pem,
	    (int64_t)is->not_before, (int64_t)is->not_after, (int64_t)now);
}

/* The Ed25519 public key of a CSR (PEM) sent for client name, for both the
 * admin's issue and the device's renewal: on success *pub holds it (the
 * caller frees it) and 1 is returned; else *pub is NULL, the reply is sent
 * - 400 bad_csr naming what is wrong with the CSR, with how to make a key
 * that will do, or 500 if it could not be read (no memory) - and 0 is
 * returned. */
static int
csr_key(struct kms_req *r, const char *name, const char *csr, EVP_PKEY **pub)
{
	int e;

	if ((e = kms_ca_csr_pubkey(csr, strlen(csr), pub)) == MQE2E_OK)
		return 1;
	if (e != MQE2E_ERR_BAD_FORMAT && e != MQE2E_ERR_BAD_CERT && e != MQE2E_ERR_BAD_SIGNATURE)
		kms_reply_err(r, e, "cannot read the CSR for client '%s'", name);
	else
		kms_reply_error(r, 400, "bad_csr", "the CSR for client '%s' %s", name,
		    e == MQE2E_ERR_BAD_CERT ? "does not hold an Ed25519 key (make one with: "
		    "openssl genpkey -algorithm ed25519)" :
		    e == MQE2E_ERR_BAD_SIGNATURE ? "has an invalid signature" :
		    "is not a PEM certificate request");
	return 0;
}

/* POST /v1/clients/{name}/certs (admin): a certificate for a CSR's key, or
 * for a key generated here and handed out once. */
void
rest_cert_issue(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_client_row c;
	struct kms_issued is;
	json_t *in, *out = NULL;
	const char *csr = NULL;
	int generate = 0, e;
	json_int_t days = (json_int_t)k->cfg.cert_days;
	EVP_PKEY *pub = NULL;
	char *key_pem = NULL;
	size_t key_pem_len = 0;
	time_t now = time(NULL);

	memset(&is, 0, sizeof(is));
	kms_req_audit(r, "cert.issue", name);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 0)) == NULL)
		return;
	/* "I": the full JSON integer, so 2^32 + 10 is out of range, not 10. */
	if (json_unpack(in, "{s?s,s?b,s?I}", "csr", &csr, "generate", &generate,
	    "days", &days) != 0 || (csr == NULL) == !generate) {
		kms_reply_error(r, 400, "bad_request", "expected {\"csr\":\"PEM\"} or "
		    "{\"generate\":true}, optionally with \"days\"");
		goto done;
	}
	if (!days_ok(r, days))
		goto done;
	if (csr != NULL) {
		if (!csr_key(r, name, csr, &pub))
			goto done;
	} else if ((e = kms_ca_keygen(&pub, &key_pem, &key_pem_len)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot generate a key for client '%s'", name);
		goto done;
	}
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	if ((e = live_client(k->db, name, &c)) == MQE2E_OK)
		e = issue_stored(k, &c, pub, days, now, &is);
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "client '%s' does not exist: create it "
			    "first (POST /v1/clients)", name);
		else if (e == MQE2E_ERR_REVOKED)
			kms_reply_error(r, 409, "conflict", "client '%s' is revoked and can never "
			    "be enrolled again: create a client with a new name", name);
		else
			kms_reply_err(r, e, "cannot issue a certificate for client '%s'", name);
		goto done;
	}
	snprintf(r->detail, sizeof(r->detail), "serial %s%s", is.serial,
	    generate ? " (server-generated key)" : "");
	out = json_pack("{s:s,s:s,s:s,s:o,s:o}", "serial", is.serial, "cert_pem", is.cert_pem,
	    "ca_pem", kms_ca_pem(k->ca), "not_before", kms_json_time((int64_t)is.not_before),
	    "not_after", kms_json_time((int64_t)is.not_after));
	/* The private key goes out once; jansson's copies are wiped on free
	 * (kms_json_init) and it is never stored or logged. */
	if (out != NULL && key_pem != NULL)
		json_object_set_new(out, "key_pem", json_string(key_pem));
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

/* Whether a live certificate of the client holds the CSR's key. */
struct renew_match {
	uint8_t key[32];
	char from[MQE2E_SERIAL_HEX_MAX];
};

static int
match_key(void *arg, const char *serial, const char *pem)
{
	struct renew_match *m = arg;
	uint8_t key[32];

	if (m->from[0] == '\0' && kms_ca_cert_raw_key(pem, key) == MQE2E_OK &&
	    memcmp(key, m->key, sizeof(key)) == 0)
		snprintf(m->from, sizeof(m->from), "%s", serial);
	return MQE2E_OK;
}

void
rest_cert_renew(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_client_row c;
	struct kms_issued is;
	struct renew_match m;
	json_t *in, *out = NULL;
	const char *csr = NULL;
	json_int_t days = (json_int_t)k->cfg.cert_days;
	EVP_PKEY *pub = NULL;
	time_t now = time(NULL);
	int e;

	memset(&is, 0, sizeof(is));
	memset(&m, 0, sizeof(m));
	kms_req_audit(r, "cert.renew", name);
	snprintf(r->actor, sizeof(r->actor), "%s", name);
	/* No admin token: the CSR's self-signature proves possession of the key
	 * of a live certificate of this client, which is the authority here. */
	if ((in = kms_req_json(r, 0)) == NULL)
		return;
	if (json_unpack(in, "{s:s,s?I}", "csr", &csr, "days", &days) != 0) {
		kms_reply_error(r, 400, "bad_request", "expected {\"csr\":\"PEM\"}, optionally "
		    "with \"days\"");
		goto done;
	}
	if (!days_ok(r, days))
		goto done;
	if (!csr_key(r, name, csr, &pub))
		goto done;
	if ((e = mqe2e_ed25519_raw_public(pub, m.key)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot read the key of the CSR for client '%s'", name);
		goto done;
	}
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	if ((e = live_client(k->db, name, &c)) == MQE2E_OK &&
	    (e = kms_store_cert_pems(k->db, c.id, (int64_t)now, match_key, &m)) == MQE2E_OK)
		e = m.from[0] == '\0' ? MQE2E_ERR_DENIED : issue_stored(k, &c, pub, days, now, &is);
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "client '%s' does not exist", name);
		else if (e == MQE2E_ERR_REVOKED)
			kms_reply_error(r, 403, "revoked", "client '%s' is revoked", name);
		else if (e == MQE2E_ERR_DENIED)
			kms_reply_error(r, 403, "forbidden", "the CSR's key is not the key of a live "
			    "certificate of '%s' (revoked, expired, or never issued): renew before "
			    "the certificate expires, or ask an administrator for "
			    "'mqe2e-kmsctl cert issue'", name);
		else
			kms_reply_err(r, e, "cannot renew the certificate of '%s'", name);
		goto done;
	}
	snprintf(r->detail, sizeof(r->detail), "serial %s renews %s", is.serial, m.from);
	out = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "serial", is.serial, "renews", m.from,
	    "cert_pem", is.cert_pem, "ca_pem", kms_ca_pem(k->ca),
	    "not_before", kms_json_time((int64_t)is.not_before),
	    "not_after", kms_json_time((int64_t)is.not_after));
	kms_reply_json(r, 201, out);
 done:
	mqe2e_pkey_free(pub);
	kms_issued_clear(&is);
	json_decref(in);
}

static int
add_expiring(void *arg, const struct kms_expiring_row *row)
{
	return kms_list_add(arg, json_pack("{s:s,s:s,s:s,s:o}", "client", row->client,
	    "kind", row->kind, "serial", row->serial, "not_after",
	    kms_json_time(row->not_after)), row->serial);
}

/* GET /v1/certs?expiring_within=DAYS (default 30; 0: expired already). */
void
rest_certs(struct kms_req *r, char **seg, size_t n)
{
	struct kmsd *k = r->k;
	const char *within = kms_req_query(r, "expiring_within");
	unsigned long long days = 30;
	struct kms_list l;
	int e;

	(void)seg;
	if (n != 1) {
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
		return;
	}
	if (strcmp(r->method, "GET") != 0) {
		kms_reply_method(r, "GET");
		return;
	}
	kms_req_audit(r, "cert.expiring", NULL);
	if (!kms_req_admin(r))
		return;
	if (within != NULL && kmsd_parse_uint(within, 0, 3650, &days) != 0) {
		kms_reply_error(r, 400, "bad_request", "expiring_within must be a number of days "
		    "from 0 to 3650");
		return;
	}
	/* One page of at most KMS_LIMIT_MAX, the soonest (no next_cursor). */
	if ((e = kms_list_begin(&l, r, KMS_LIMIT_MAX)) == MQE2E_OK)
		e = kms_store_certs_expiring(k->db, (int64_t)time(NULL) + (int64_t)days * 86400,
		    KMS_LIMIT_MAX, add_expiring, &l);
	if ((e = kms_list_end(&l, r, e)) != MQE2E_OK)
		kms_reply_err(r, e, "cannot list expiring certificates");
}
