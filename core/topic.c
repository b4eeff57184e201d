/*
 * topic.c - MQTT topic names and filters (see topic.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "topic.h"

/* Length of the UTF-8 sequence at p (n bytes left), or 0 if it is invalid
 * (overlong, surrogate, above U+10FFFF, truncated) or a control character
 * (C0, DEL or C1: MQTT 5 section 1.5.4 says they should not appear). */
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

/* The checks names and filters share: length and characters. */
static int
text_check(const char *s, size_t max, const char *what, char *why, size_t why_len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n, i, k;
	char msg[96];

	if (s == NULL || (n = strlen(s)) == 0) {
		snprintf(msg, sizeof(msg), "the %s is empty", what);
		return fail(why, why_len, msg);
	}
	if (n > max) {
		snprintf(msg, sizeof(msg), "the %s is longer than %zu bytes", what, max);
		return fail(why, why_len, msg);
	}
	for (i = 0; i < n; i += k) {
		if ((k = utf8_char(p + i, n - i)) == 0) {
			snprintf(msg, sizeof(msg), "the %s is not valid UTF-8 or holds a control "
			    "character", what);
			return fail(why, why_len, msg);
		}
	}
	return 1;
}

int
mqe2e_topic_name_check(const char *t, size_t max, char *why, size_t why_len)
{
	if (!text_check(t, max, "topic", why, why_len))
		return 0;
	if (strpbrk(t, "+#") != NULL)
		return fail(why, why_len, "a topic name holds no '+' or '#' (those are for "
		    "subscriptions)");
	return 1;
}

int
mqe2e_topic_filter_check(const char *f, size_t max, unsigned flags, char *why,
    size_t why_len)
{
	size_t n, i, level_start = 0;

	if (!text_check(f, max, "topic filter", why, why_len))
		return 0;
	if ((flags & MQE2E_TOPIC_NO_DOLLAR) && f[0] == '$')
		return fail(why, why_len, "topic filters starting with '$' are reserved for the "
		    "broker");
	n = strlen(f);
	for (i = 0; i < n; i++) {
		if (f[i] == '/') {
			level_start = i + 1;
			continue;
		}
		if (f[i] != '+' && f[i] != '#')
			continue;
		if (i != level_start || (i + 1 != n && f[i + 1] != '/'))
			return fail(why, why_len, f[i] == '+' ?
			    "'+' must fill a whole topic level (e.g. a/+/c)" :
			    "'#' must fill a whole topic level (e.g. a/#)");
		if (f[i] == '#' && i + 1 != n)
			return fail(why, why_len, "'#' must be the last topic level (e.g. a/#)");
	}
	return 1;
}

int
mqe2e_group_filter_check(const char *f, char *why, size_t why_len)
{
	return mqe2e_topic_filter_check(f, MQE2E_FILTER_MAX, MQE2E_TOPIC_NO_DOLLAR, why, why_len);
}

/* One level of a topic or filter. */
struct level {
	const char *p;
	size_t len;
	const char *next;       /* the rest after '/', or NULL at the last level */
};

static void
level_at(const char *s, struct level *l)
{
	const char *slash = strchr(s, '/');

	l->p = s;
	l->len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	l->next = slash != NULL ? slash + 1 : NULL;
}

static int
is_wild(const struct level *l, char w)
{
	return l->len == 1 && l->p[0] == w;
}

static int
same(const struct level *a, const struct level *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* 1 if a filter whose first level is l cannot match topics starting with
 * '$' while the other side is such a literal level (MQTT 5 4.7.2). */
static int
dollar_split(const char *wild_side, const char *literal_side)
{
	return (wild_side[0] == '+' || wild_side[0] == '#') && literal_side[0] == '$';
}

int
mqe2e_topic_matches(const char *f, const char *t)
{
	struct level fl, tl;

	if (dollar_split(f, t))
		return 0;
	for (;;) {
		level_at(f, &fl);
		level_at(t, &tl);
		if (is_wild(&fl, '#'))
			return 1;
		if (!is_wild(&fl, '+') && !same(&fl, &tl))
			return 0;
		if (fl.next == NULL && tl.next == NULL)
			return 1;
		if (fl.next == NULL)
			return 0;
		if (tl.next == NULL)
			return strcmp(fl.next, "#") == 0;   /* "a/#" matches "a" */
		f = fl.next;
		t = tl.next;
	}
}

int
mqe2e_topic_filter_within(const char *sub, const char *outer)
{
	struct level sl, ol;

	if (dollar_split(outer, sub))
		return 0;
	if (strcmp(sub, "#") == 0)          /* a topic has at least one level */
		return strcmp(outer, "#") == 0 || strcmp(outer, "+/#") == 0;
	for (;;) {
		level_at(sub, &sl);
		level_at(outer, &ol);
		if (is_wild(&ol, '#'))
			return 1;
		if (is_wild(&sl, '#'))
			return 0;                   /* sub reaches deeper than outer */
		if (!is_wild(&ol, '+') && !same(&sl, &ol))
			return 0;                   /* includes sub '+' against a literal */
		if (sl.next == NULL && ol.next == NULL)
			return 1;
		if (sl.next == NULL)
			return strcmp(ol.next, "#") == 0;
		if (ol.next == NULL)
			return 0;
		sub = sl.next;
		outer = ol.next;
	}
}

int
mqe2e_topic_filters_overlap(const char *a, const char *b)
{
	struct level al, bl;

	if (dollar_split(a, b) || dollar_split(b, a))
		return 0;
	for (;;) {
		level_at(a, &al);
		level_at(b, &bl);
		if (is_wild(&al, '#') || is_wild(&bl, '#'))
			return 1;
		if (!is_wild(&al, '+') && !is_wild(&bl, '+') && !same(&al, &bl))
			return 0;
		if (al.next == NULL && bl.next == NULL)
			return 1;
		if (al.next == NULL)
			return strcmp(bl.next, "#") == 0;
		if (bl.next == NULL)
			return strcmp(al.next, "#") == 0;
		a = al.next;
		b = bl.next;
	}
}
