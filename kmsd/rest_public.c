/*
 * rest_public.c - the endpoints without authentication:
 * GET /v1/health, GET /v1/ca, GET /v1/crl.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca.h"
#include "fleet.h"
#include "httpd.h"
#include "jsonutil.h"
#include "store.h"

/* 200 {"status":"ok"|"stopping",...}; 200 {"status":"degraded","problem":...}
 * while the disk is full; 503 {"status":"unhealthy","problem":...,
 * "error":{...}} after a fault (kmsd_fault). */
static void
health(struct kms_req *r)
{
	char now[32], problem[sizeof(r->k->fault)];
	int faulty = kmsd_faulty(r->k, problem, sizeof(problem));
	json_t *body;

	int64_t full = kms_db_full_since(r->k->db);
	char since[32];

	kms_time_str((int64_t)time(NULL), now);
	/* A full disk leaves key delivery working: 200 "degraded", with the
	 * problem, for monitoring. */
	if (!faulty && full != 0) {
		char place[600];

		kms_time_str(full, since);
		snprintf(problem, sizeof(problem), "the disk of the %s is full (since %s): every "
		    "write fails with 507 until space is freed; keys are served",
		    kmsd_store_place(r->k, place, sizeof(place)), since);
	}
	body = json_pack("{s:s,s:s,s:I,s:s,s:s}", "status", faulty ? "unhealthy" :
	    kmsd_stopping(r->k) ? "stopping" : full != 0 ? "degraded" : "ok", "version",
	    PACKAGE_VERSION, "policy_version", (json_int_t)kmsd_policy_version(r->k), "time", now,
	    "scheduler", kms_fleet_leader(r->k) ? "leader" : "standby");
	if (!faulty && full != 0 && body != NULL &&
	    json_object_set_new(body, "problem", json_string(problem)) != 0) {
		json_decref(body);
		body = NULL;
	}
	/* Unhealthy: also the API's error object, so that every client of the
	 * API (mqe2e-kmsctl status) shows the problem. */
	if (faulty && body != NULL && (json_object_set_new(body, "problem",
	    json_string(problem)) != 0 || json_object_set_new(body, "error",
	    json_pack("{s:s,s:s,s:s}", "code", "unhealthy", "message", problem,
	    "request_id", r->id)) != 0)) {
		json_decref(body);
		body = NULL;
	}
	kms_reply_json(r, faulty ? 503 : 200, body);
}

void
rest_public(struct kms_req *r, char **seg, size_t n)
{
	if (n != 1) {
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
		return;
	}
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
		kms_reply_method(r, "GET");
		return;
	}
	if (strcmp(seg[0], "health") == 0)
		health(r);
	else if (strcmp(seg[0], "ca") == 0) {
		const char *pem = kms_ca_pem(r->k->ca);

		kms_reply_bytes(r, 200, "application/x-pem-file", pem, strlen(pem));
	} else {
		char *pem = NULL;
		size_t len = 0;
		int e;

		if ((e = kms_crl_get(r->k, &pem, &len)) != MQE2E_OK) {
			kms_reply_err(r, e, "the CRL is not available yet");
			return;
		}
		kms_reply_bytes(r, 200, "application/x-pem-file", pem, len);
		free(pem);
	}
}
