/*
 * jsonutil.h - small helpers to turn database values into JSON, and the
 * paging of list endpoints (limit + opaque cursor).
 */
#ifndef KMS_JSONUTIL_H
#define KMS_JSONUTIL_H

#include <stdint.h>
#include <sqlite3.h>
#include <jansson.h>

struct kms_req;

/*
 * Make jansson wipe every block it frees (JSON values may carry secrets,
 * e.g. a generated private key on its way out).  Call once at start,
 * before any JSON is made.  Strings from json_dumps() must then be freed
 * with kms_json_free(), never free().
 */
void kms_json_init(void);
void kms_json_free(void *p);

/* RFC 3339 UTC ("2026-11-25T08:00:00Z") into out (>= 32 bytes). */
void kms_time_str(int64_t t, char out[32]);
/* A time column as an RFC 3339 string, or JSON null if NULL. */
json_t *kms_json_col_time(sqlite3_stmt *st, int col);
/* A text column as a string, or JSON null if NULL. */
json_t *kms_json_col_text(sqlite3_stmt *st, int col);

#define KMS_LIMIT_DEFAULT 100
#define KMS_LIMIT_MAX 1000
#define KMS_CURSOR_MAX 256      /* decoded cursor bytes */

/* Paging request: limit and the decoded cursor ("" = from the start). */
struct kms_page {
	unsigned limit;
	char after[KMS_CURSOR_MAX + 1];
};

/* Parse ?limit=&cursor=; on failure reply 400 and return 0. */
int kms_page_parse(struct kms_req *r, struct kms_page *pg);
/* Wrap items into {"items":[...],"next_cursor":cursor-of(last_key)|null}.
 * Steals items.  last_key NULL: no further page. */
json_t *kms_page_result(json_t *items, const char *last_key);

#endif
