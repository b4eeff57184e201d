/*
 * jsonutil.c - database values to JSON, paging (see jsonutil.h).
 *
 * A cursor is the hex encoding of the sort key of the last item returned:
 * opaque to clients, trivially validated here.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "crypto.h"
#include "hex.h"
#include "httpd.h"
#include "jsonutil.h"
#include "kmsd.h"
#include "store.h"

void
kms_json_init(void)
{
	kms_json_wiping_alloc();
	json_object_seed(0);   /* seed the hash function before any thread starts */
}

void
kms_time_str(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

json_t *
kms_json_time(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	kms_time_str(t, buf);
	return json_string(buf);
}

int
kms_req_reason(struct kms_req *r, json_t **in, const char **reason)
{
	*reason = NULL;
	if ((*in = kms_req_json(r, 1)) == NULL)
		return 0;
	if (json_unpack(*in, "{s?s}", "reason", reason) == 0 &&
	    (*reason == NULL || strlen(*reason) <= KMS_REASON_MAX))
		return 1;
	kms_reply_error(r, 400, "bad_request", "expected {\"reason\":\"...\"} with at most %d "
	    "bytes of reason", KMS_REASON_MAX);
	json_decref(*in);
	*in = NULL;
	*reason = NULL;
	return 0;
}

int
kms_page_parse(struct kms_req *r, struct kms_page *pg)
{
	const char *limit = kms_req_query(r, "limit");
	const char *cursor = kms_req_query(r, "cursor");
	unsigned long long v;
	size_t n;

	pg->limit = KMS_LIMIT_DEFAULT;
	pg->after[0] = '\0';
	if (limit != NULL) {
		if (kmsd_parse_uint(limit, 1, KMS_LIMIT_MAX, &v) != 0) {
			kms_reply_error(r, 400, "bad_request", "limit must be a whole number from "
			    "1 to %d", KMS_LIMIT_MAX);
			return 0;
		}
		pg->limit = (unsigned)v;
	}
	if (cursor != NULL && cursor[0] != '\0') {
		n = strlen(cursor);
		if (n % 2 != 0 || n / 2 > KMS_CURSOR_MAX)
			goto bad;
		/* the sort key is a name: no NUL inside */
		if (mqe2e_unhex(cursor, n, (uint8_t *)pg->after, n / 2) != 0 ||
		    memchr(pg->after, '\0', n / 2) != NULL)
			goto bad;
		pg->after[n / 2] = '\0';
	}
	return 1;
 bad:
	kms_reply_error(r, 400, "bad_request", "cursor is not one returned as next_cursor by "
	    "this endpoint");
	return 0;
}

json_t *
kms_page_result(json_t *items, const char *last_key)
{
	char cur[2 * KMS_CURSOR_MAX + 1];
	size_t n;

	if (items == NULL)
		return NULL;
	if (last_key == NULL || (n = strlen(last_key)) > KMS_CURSOR_MAX)
		return json_pack("{s:o,s:n}", "items", items, "next_cursor");
	mqe2e_hex(last_key, n, cur);
	return json_pack("{s:o,s:s}", "items", items, "next_cursor", cur);
}

int
kms_list_begin(struct kms_list *l, struct kms_req *r, unsigned limit)
{
	int e;

	memset(l, 0, sizeof(*l));
	l->limit = limit;
	if ((l->items = json_array()) == NULL)
		return MQE2E_ERR_NOMEM;
	if ((e = kms_db_begin(r->k->db, 0)) != MQE2E_OK)
		return e;
	l->db = r->k->db;
	return MQE2E_OK;
}

int
kms_list_add(struct kms_list *l, json_t *item, const char *key)
{
	if (item == NULL)
		return MQE2E_ERR_NOMEM;
	if (l->count == l->limit) {
		l->more = 1;
		json_decref(item);
		return MQE2E_OK;
	}
	if (json_array_append_new(l->items, item) != 0)
		return MQE2E_ERR_NOMEM;
	snprintf(l->last, sizeof(l->last), "%s", key);
	l->count++;
	return MQE2E_OK;
}

int
kms_list_end(struct kms_list *l, struct kms_req *r, int e)
{
	json_t *items = l->items;

	l->items = NULL;
	if (l->db != NULL)
		e = kms_db_end(l->db, e);
	l->db = NULL;
	if (e != MQE2E_OK) {
		json_decref(items);
		return e;
	}
	kms_reply_json(r, 200, kms_page_result(items, l->more ? l->last : NULL));
	return MQE2E_OK;
}
