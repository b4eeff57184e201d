/*
 * jsonutil.h - small helpers to turn database values into JSON, and the
 * paging of list endpoints (limit + opaque cursor).
 */
#ifndef KMS_JSONUTIL_H
#define KMS_JSONUTIL_H

#include <stdint.h>
#include <jansson.h>

#include "jsonwipe.h"

struct kms_req;

/*
 * Make jansson wipe every block it frees (jsonwipe.h) and seed its hash
 * function.  Call once at start, before any JSON is made and before any
 * thread starts.  Strings from json_dumps() must then be freed with
 * kms_json_free(), never free().
 */
void kms_json_init(void);

/* RFC 3339 UTC ("2026-11-25T08:00:00Z") into out (>= 32 bytes). */
void kms_time_str(int64_t t, char out[32]);
/* t as an RFC 3339 string, or JSON null for 0 ("not set"). */
json_t *kms_json_time(int64_t t);

#define KMS_LIMIT_DEFAULT 100
#define KMS_LIMIT_MAX 1000
#define KMS_CURSOR_MAX 256      /* decoded cursor bytes */

/* Paging request: limit and the decoded cursor ("" = from the start). */
struct kms_page {
	unsigned limit;
	char after[KMS_CURSOR_MAX + 1];
};

/* The body of a revocation: none, or {"reason":"..."} with at most
 * KMS_REASON_MAX bytes of reason.  On success return 1 with *in the body
 * (the caller's to json_decref) and *reason in it (NULL: none); otherwise
 * the error is answered and 0 returned. */
int kms_req_reason(struct kms_req *r, json_t **in, const char **reason);

/* Parse ?limit=&cursor=; on failure reply 400 and return 0. */
int kms_page_parse(struct kms_req *r, struct kms_page *pg);
/* Wrap items into {"items":[...],"next_cursor":cursor-of(last_key)|null}.
 * Steals items.  last_key NULL: no further page. */
json_t *kms_page_result(json_t *items, const char *last_key);

/*
 * A page being filled, in one read transaction: every list endpoint is
 *
 *	if ((e = kms_list_begin(&l, r, req.limit)) == MQE2E_OK)
 *		e = kms_store_..._list(..., req.limit + 1, add_row, &l);
 *	if ((e = kms_list_end(&l, r, e)) != MQE2E_OK)
 *		kms_reply_err(r, e, "cannot list ...");
 *
 * asking the store for limit + 1 rows and adding them all with
 * kms_list_add: the one past the limit only records that there is a next
 * page.
 */
struct kms_list {
	json_t *items;
	unsigned limit, count;
	int more;
	char last[KMS_CURSOR_MAX + 1];
	struct kms_db *db;        /* its read transaction, while one is open */
};
/* Start the list (at most limit items) and a read transaction of r's
 * database.  An error (MQE2E_ERR_NOMEM, the store's) is for kms_list_end. */
int kms_list_begin(struct kms_list *l, struct kms_req *r, unsigned limit);
/* Add item (stolen; NULL gives MQE2E_ERR_NOMEM) whose sort key is key. */
int kms_list_add(struct kms_list *l, json_t *item, const char *key);
/* End the transaction with e, the result of filling the list: on success
 * reply 200 with the page {"items":[...],"next_cursor":...}; otherwise
 * drop the list and return the error, for the caller to reply.  l is
 * cleared either way. */
int kms_list_end(struct kms_list *l, struct kms_req *r, int e);

#endif
