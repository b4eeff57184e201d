/*
 * validate.c - names and MQTT topic filters (see validate.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "validate.h"

int
kms_name_valid(const char *s)
{
	size_t i, n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > KMS_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Length of the UTF-8 sequence at p (n bytes left), or 0 if it is invalid
 * (overlong, surrogate, above U+10FFFF, truncated) or a control character. */
static size_t
utf8_char(const uint8_t *p, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (p[0] < 0x80)
		return (p[0] < 0x20 || p[0] == 0x7f) ? 0 : 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

static int
fail(char *why, size_t why_len, const char *msg)
{
	if (why != NULL && why_len > 0)
		snprintf(why, why_len, "%s", msg);
	return 0;
}

int
kms_topic_filter_valid(const char *s, char *why, size_t why_len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n, i, level_start = 0, k;

	if (s == NULL || (n = strlen(s)) == 0)
		return fail(why, why_len, "the topic filter is empty");
	if (n > KMS_FILTER_MAX)
		return fail(why, why_len, "the topic filter is longer than 1024 bytes");
	if (s[0] == '$')
		return fail(why, why_len, "topic filters starting with '$' are reserved for the broker");
	for (i = 0; i < n; i += k) {
		if ((k = utf8_char(p + i, n - i)) == 0)
			return fail(why, why_len,
			    "the topic filter is not valid UTF-8 or holds a control character");
		if (p[i] == '/') {
			level_start = i + 1;
			continue;
		}
		if (p[i] == '+' || p[i] == '#') {
			int alone = i == level_start && (i + 1 == n || p[i + 1] == '/');

			if (!alone)
				return fail(why, why_len, p[i] == '+' ?
				    "'+' must fill a whole topic level (e.g. a/+/c)" :
				    "'#' must fill a whole topic level (e.g. a/#)");
			if (p[i] == '#' && i + 1 != n)
				return fail(why, why_len, "'#' must be the last topic level (e.g. a/#)");
		}
	}
	return 1;
}
