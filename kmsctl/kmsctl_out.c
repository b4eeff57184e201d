/*
 * kmsctl_out.c - how mqe2e-kmsctl prints: aligned tables for lists,
 * "key  value" lines for one object, or the KMS's JSON with --json.
 * Values come from the KMS and are printed as text only (control bytes are
 * replaced so that a hostile answer cannot drive the terminal).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsctl.h"

#define CELL_MAX 256
#define TABLE_MAX_COLS 12

void
kmsctl__print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

/* Copy s into buf, replacing control bytes with '?'. */
static const char *
safe_text(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

const char *
kmsctl__cell(const json_t *v, char *buf, size_t len)
{
	if (v == NULL || json_is_null(v))
		return "-";
	if (json_is_true(v))
		return "yes";
	if (json_is_false(v))
		return "no";
	if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	if (json_is_string(v))
		return safe_text(json_string_value(v), buf, len);
	if (json_is_array(v)) {
		size_t i, o = 0;
		json_t *e;

		buf[0] = '\0';
		json_array_foreach(v, i, e) {
			char tmp[CELL_MAX];
			int n;

			n = snprintf(buf + o, len - o, "%s%s", i ? "," : "",
			    kmsctl__cell(e, tmp, sizeof(tmp)));
			if (n < 0 || (size_t)n >= len - o)
				break;
			o += (size_t)n;
		}
		return o ? buf : "-";
	}
	return "?";
}

void
kmsctl__print_object(const json_t *obj, const char *const *keys)
{
	char buf[CELL_MAX * 4];
	size_t i;

	for (i = 0; keys[i] != NULL; i++)
		printf("%-15s %s\n", keys[i],
		    kmsctl__cell(json_object_get(obj, keys[i]), buf, sizeof(buf)));
}

void
kmsctl__print_answer(const struct kmsctl *k, const json_t *res, const char *const *keys)
{
	if (k->json)
		kmsctl__print_json(res);
	else
		kmsctl__print_object(res, keys);
}

void
kmsctl__print_items(const struct kmsctl *k, const json_t *res, const char *const *cols)
{
	if (k->json)
		kmsctl__print_json(res);
	else
		kmsctl__print_table(json_object_get(res, "items"), cols);
}

void
kmsctl__print_table(const json_t *items, const char *const *keys)
{
	size_t ncols, w[TABLE_MAX_COLS], i, c;
	char buf[CELL_MAX];
	json_t *it;

	for (ncols = 0; keys[ncols] != NULL && ncols < TABLE_MAX_COLS; ncols++)
		w[ncols] = strlen(keys[ncols]);
	json_array_foreach(items, i, it)
		for (c = 0; c < ncols; c++) {
			size_t n = strlen(kmsctl__cell(json_object_get(it, keys[c]), buf, sizeof(buf)));

			if (n > w[c])
				w[c] = n;
		}
	for (c = 0; c < ncols; c++) {
		const char *k = keys[c];
		size_t j;

		for (j = 0; k[j] != '\0'; j++)
			putchar(toupper((unsigned char)k[j]));
		if (c + 1 < ncols)
			printf("%*s", (int)(w[c] - j + 2), "");
	}
	putchar('\n');
	json_array_foreach(items, i, it) {
		for (c = 0; c < ncols; c++) {
			const char *s = kmsctl__cell(json_object_get(it, keys[c]), buf, sizeof(buf));

			if (c + 1 < ncols)
				printf("%-*s  ", (int)w[c], s);
			else
				fputs(s, stdout);
		}
		putchar('\n');
	}
}
