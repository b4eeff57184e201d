/*
 * prom.c - Prometheus text exposition writer (see prom.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "prom.h"

static void
put_str(struct mqe2e_writer *w, const char *s)
{
	mqe2e_wr_bytes(w, s, strlen(s));
}

/* HELP text: backslash and newline escaped. */
static void
put_help(struct mqe2e_writer *w, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			put_str(w, "\\\\");
		else if (*s == '\n')
			put_str(w, "\\n");
		else
			mqe2e_wr_u8(w, (uint8_t)*s);
	}
}

/* Label value: backslash, double quote and newline escaped. */
static void
put_label_value(struct mqe2e_writer *w, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"')
			put_str(w, "\\\"");
		else if (*s == '\\')
			put_str(w, "\\\\");
		else if (*s == '\n')
			put_str(w, "\\n");
		else
			mqe2e_wr_u8(w, (uint8_t)*s);
	}
}

void
mqe2e_prom_family(struct mqe2e_writer *w, const char *name, const char *type,
    const char *help)
{
	put_str(w, "# HELP ");
	put_str(w, name);
	mqe2e_wr_u8(w, ' ');
	put_help(w, help);
	put_str(w, "\n# TYPE ");
	put_str(w, name);
	mqe2e_wr_u8(w, ' ');
	put_str(w, type);
	mqe2e_wr_u8(w, '\n');
}

/* name{a="x",b="y"[,extra="v"]} - extra may be NULL. */
static void
put_series(struct mqe2e_writer *w, const char *name, const char *suffix,
    const char *const *labels, const char *extra_name, const char *extra_value)
{
	int first = 1;

	put_str(w, name);
	put_str(w, suffix);
	if ((labels == NULL || labels[0] == NULL) && extra_name == NULL)
		return;
	mqe2e_wr_u8(w, '{');
	for (; labels != NULL && labels[0] != NULL && labels[1] != NULL; labels += 2) {
		if (!first)
			mqe2e_wr_u8(w, ',');
		first = 0;
		put_str(w, labels[0]);
		put_str(w, "=\"");
		put_label_value(w, labels[1]);
		mqe2e_wr_u8(w, '"');
	}
	if (extra_name != NULL) {
		if (!first)
			mqe2e_wr_u8(w, ',');
		put_str(w, extra_name);
		put_str(w, "=\"");
		put_label_value(w, extra_value);
		mqe2e_wr_u8(w, '"');
	}
	mqe2e_wr_u8(w, '}');
}

static void
put_u64_line(struct mqe2e_writer *w, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), " %llu\n", (unsigned long long)v);
	put_str(w, num);
}

static void
put_double_line(struct mqe2e_writer *w, double v)
{
	char num[40];

	snprintf(num, sizeof(num), " %.17g\n", v);
	put_str(w, num);
}

void
mqe2e_prom_u64(struct mqe2e_writer *w, const char *name, const char *const *labels, uint64_t v)
{
	put_series(w, name, "", labels, NULL, NULL);
	put_u64_line(w, v);
}

void
mqe2e_prom_double(struct mqe2e_writer *w, const char *name, const char *const *labels,
    double v)
{
	put_series(w, name, "", labels, NULL, NULL);
	put_double_line(w, v);
}

void
mqe2e_prom_histogram(struct mqe2e_writer *w, const char *name, const char *const *labels,
    const double *bounds, const uint64_t *counts, size_t n, double sum)
{
	char le[32];
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= n; i++) {
		cum += counts[i];
		if (i < n)
			snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		put_series(w, name, "_bucket", labels, "le", le);
		put_u64_line(w, cum);
	}
	put_series(w, name, "_sum", labels, NULL, NULL);
	put_double_line(w, sum);
	put_series(w, name, "_count", labels, NULL, NULL);
	put_u64_line(w, cum);
}
