/*
 * kmsctl_call.c - one REST call of mqe2e-kmsctl.
 *
 * HTTP goes through core/http.h.  Errors are reported here, once:
 *   transport failure       -> "cannot reach ..." from core/http, exit 3
 *   KMS error (4xx/5xx)     -> code, message and request id, exit 2
 *   2xx that is not JSON    -> the KMS speaks something else, exit 3
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "http.h"
#include "kmsctl.h"

#define LIST_PAGE 1000          /* items per page (the API maximum) */
#define LIST_MAX_PAGES 100000   /* stop a KMS that keeps paging forever */

/* Transport errors: the message from core/http already names the URL.  A
 * request refused before sending (the token for a plain http:// URL off
 * loopback) is a usage error. */
static int
transport_failed(const struct mqe2e_http_response *res, int r)
{
	kmsctl__err("%s", res->error[0] != '\0' ? res->error : mqe2e_strerror(r));
	return r == MQE2E_ERR_INVALID_ARG ? KMSCTL_EXIT_USAGE : KMSCTL_EXIT_UNREACHABLE;
}

/* A 4xx/5xx answer: print the API's error object, or what we got. */
static int
kms_failed(const struct kmsctl *k, const struct mqe2e_http_response *res, const char *what)
{
	json_t *j = NULL, *e;
	const char *code = NULL, *msg = NULL, *rid = NULL;
	char hint[96];

	if (res->body != NULL)
		j = json_loadb((const char *)res->body, res->body_len, 0, NULL);
	if (j != NULL && (e = json_object_get(j, "error")) != NULL && json_is_object(e)) {
		code = json_string_value(json_object_get(e, "code"));
		msg = json_string_value(json_object_get(e, "message"));
		rid = json_string_value(json_object_get(e, "request_id"));
	}
	if (rid == NULL && res->request_id[0] != '\0')
		rid = res->request_id;
	mqe2e_http_retry_hint(res, hint, sizeof(hint));
	if (code != NULL)
		kmsctl__err("cannot %s: the KMS answered %d %s: %s (request id %s)%s", what,
		    res->status, code, msg != NULL ? msg : "(no message)", rid != NULL ? rid : "none",
		    hint);
	else
		kmsctl__err("cannot %s: the KMS answered HTTP %d without an error object "
		    "(request id %s); is %s really mqe2e-kmsd?", what, res->status,
		    rid != NULL ? rid : "none", res->url);
	json_decref(j);
	return KMSCTL_EXIT_KMS;
}

int
kmsctl__call(struct kmsctl *k, const char *method, const char *path, json_t *body,
    const char *what, json_t **out)
{
	struct mqe2e_http_response res;
	char *text = NULL;
	size_t tlen = 0;
	json_t *j = NULL;
	json_error_t jerr;
	int r;

	*out = NULL;
	if (body != NULL) {
		tlen = json_dumpb(body, NULL, 0, JSON_COMPACT);
		if (tlen == 0 || (text = malloc(tlen)) == NULL ||
		    json_dumpb(body, text, tlen, JSON_COMPACT) != tlen) {
			free(text);
			kmsctl__err("out of memory");
			return KMSCTL_EXIT_FILE;
		}
	}
	r = mqe2e_http_request(k->http, method, path, text != NULL ? "application/json" : NULL,
	    k->token, (const uint8_t *)text, tlen, k->timeout_ms, -1, &res);
	if (text != NULL) {
		mqe2e_wipe(text, tlen);
		free(text);
	}
	if (r != MQE2E_OK) {
		r = transport_failed(&res, r);
		goto out;
	}
	if (res.status < 200 || res.status > 299) {
		r = kms_failed(k, &res, what);
		goto out;
	}
	if (res.body_len > 0) {
		j = json_loadb((const char *)res.body, res.body_len, 0, &jerr);
		if (j == NULL) {
			kmsctl__err("cannot %s: the KMS at %s answered %d with invalid JSON (%s, "
			    "request id %s)", what, res.url, res.status, jerr.text,
			    res.request_id[0] ? res.request_id : "none");
			r = KMSCTL_EXIT_UNREACHABLE;
			goto out;
		}
	}
	*out = j;
	r = KMSCTL_EXIT_OK;
out:
	mqe2e_http_response_free(&res);
	return r;
}

int
kmsctl__get_text(struct kmsctl *k, const char *path, const char *what, char **out,
    size_t *out_len)
{
	struct mqe2e_http_response res;
	int r;

	*out = NULL;
	*out_len = 0;
	r = mqe2e_http_request(k->http, "GET", path, NULL, NULL, NULL, 0, k->timeout_ms, -1, &res);
	if (r != MQE2E_OK) {
		r = transport_failed(&res, r);
		goto out;
	}
	if (res.status != 200) {
		r = kms_failed(k, &res, what);
		goto out;
	}
	if (res.body == NULL) {
		kmsctl__err("cannot %s: the KMS at %s answered with an empty body", what, res.url);
		r = KMSCTL_EXIT_UNREACHABLE;
		goto out;
	}
	*out = (char *)res.body;     /* NUL-terminated by core/http */
	*out_len = res.body_len;
	res.body = NULL;
	r = KMSCTL_EXIT_OK;
out:
	mqe2e_http_response_free(&res);
	return r;
}

/* Percent-encode an opaque cursor for a query string. */
static int
pct_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			if (o + 1 >= cap)
				return -1;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= cap)
				return -1;
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

int
kmsctl__list_all(struct kmsctl *k, const char *path, const char *what, json_t **out)
{
	json_t *all = NULL, *page = NULL, *items, *next;
	char url[2048], cur[1024] = "";
	const char *sep = strchr(path, '?') != NULL ? "&" : "?";
	int r, pages;

	*out = NULL;
	if ((all = json_array()) == NULL) {
		kmsctl__err("out of memory");
		return KMSCTL_EXIT_FILE;
	}
	for (pages = 0; pages < LIST_MAX_PAGES; pages++) {
		int n;

		if (cur[0] != '\0')
			n = snprintf(url, sizeof(url), "%s%slimit=%d&cursor=%s", path, sep, LIST_PAGE, cur);
		else
			n = snprintf(url, sizeof(url), "%s%slimit=%d", path, sep, LIST_PAGE);
		if (n < 0 || (size_t)n >= sizeof(url)) {
			kmsctl__err("cannot %s: request path too long", what);
			r = KMSCTL_EXIT_UNREACHABLE;
			goto out;
		}
		if ((r = kmsctl__call(k, "GET", url, NULL, what, &page)) != KMSCTL_EXIT_OK)
			goto out;
		items = json_object_get(page, "items");
		next = json_object_get(page, "next_cursor");
		if (!json_is_array(items) || (next != NULL && !json_is_null(next) &&
		    !json_is_string(next))) {
			kmsctl__err("cannot %s: the KMS answered without an \"items\" list", what);
			r = KMSCTL_EXIT_UNREACHABLE;
			goto out;
		}
		if (json_array_extend(all, items) != 0) {
			kmsctl__err("out of memory");
			r = KMSCTL_EXIT_FILE;
			goto out;
		}
		if (next == NULL || json_is_null(next) || json_string_value(next)[0] == '\0')
			break;
		if (pct_encode(json_string_value(next), cur, sizeof(cur)) != 0) {
			kmsctl__err("cannot %s: the KMS sent an overlong cursor", what);
			r = KMSCTL_EXIT_UNREACHABLE;
			goto out;
		}
		json_decref(page);
		page = NULL;
	}
	*out = json_pack("{s:o,s:n}", "items", all, "next_cursor");
	all = NULL;
	if (*out == NULL) {
		kmsctl__err("out of memory");
		r = KMSCTL_EXIT_FILE;
		goto out;
	}
	r = KMSCTL_EXIT_OK;
out:
	json_decref(page);
	json_decref(all);
	return r;
}

int
kmsctl__list_print(struct kmsctl *k, const char *path, const char *what,
    const char *const *cols)
{
	json_t *res = NULL;
	int r;

	if ((r = kmsctl__list_all(k, path, what, &res)) != KMSCTL_EXIT_OK)
		return r;
	kmsctl__print_items(k, res, cols);
	json_decref(res);
	return KMSCTL_EXIT_OK;
}

int
kmsctl__call_print(struct kmsctl *k, const char *method, const char *path, json_t *body,
    const char *what, const char *const *keys)
{
	json_t *res = NULL;
	int r;

	if ((r = kmsctl__call(k, method, path, body, what, &res)) != KMSCTL_EXIT_OK)
		return r;
	kmsctl__print_answer(k, res, keys);
	json_decref(res);
	return KMSCTL_EXIT_OK;
}
