/*
 * conffile.c - the configuration-file parser of mqe2e (see conffile.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"

#define CONF_KEY_MAX 64

static int
blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int
key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_';
}

/* One line p[0..n): 0 if nothing to do, 1 with key/value set, -1 if bad. */
static int
split(const char *p, size_t n, char *key, const char **value, size_t *vlen)
{
	size_t i = 0, k = 0, e;

	while (i < n && blank(p[i]))
		i++;
	if (i == n || p[i] == '#')
		return 0;
	while (i < n && key_char(p[i])) {
		if (k == CONF_KEY_MAX)
			return -1;
		key[k++] = p[i++];
	}
	key[k] = '\0';
	if (k == 0 || (i < n && !blank(p[i]) && p[i] != '='))
		return -1;
	while (i < n && blank(p[i]))
		i++;
	if (i < n && p[i] == '=')
		i++;
	while (i < n && blank(p[i]))
		i++;
	for (e = n; e > i && blank(p[e - 1]); e--)
		;
	*value = p + i;
	*vlen = e - i;
	return 1;
}

int
mqe2e_conf_parse(const char *text, size_t len, const char *path, size_t line_max,
    size_t file_max, mqe2e_conf_set_fn set, void *arg, char *err, size_t errlen)
{
	char key[CONF_KEY_MAX + 1], why[512], *value = NULL;
	const char *p = text, *end = text + len, *nl, *v;
	unsigned lineno = 0;
	size_t n, vlen;
	int r, s;

	if (err == NULL)
		errlen = 0;
	if (len > file_max) {
		(void)snprintf(err, errlen, "%s: file larger than %zu bytes", path, file_max);
		return MQE2E_ERR_TOO_LONG;
	}
	if ((value = malloc(line_max + 1)) == NULL)
		return MQE2E_ERR_NOMEM;
	r = MQE2E_OK;
	while (p < end) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (n > line_max) {
			(void)snprintf(err, errlen, "%s:%u: line longer than %zu bytes", path, lineno,
			    line_max);
			r = MQE2E_ERR_TOO_LONG;
			break;
		}
		if (memchr(p, '\0', n) != NULL) {
			(void)snprintf(err, errlen, "%s:%u: NUL byte in the line", path, lineno);
			r = MQE2E_ERR_BAD_FORMAT;
			break;
		}
		s = split(p, n, key, &v, &vlen);
		p += n + (nl != NULL ? 1 : 0);
		if (s == 0)
			continue;
		if (s < 0) {
			(void)snprintf(err, errlen, "%s:%u: expected 'key = value' (a key is "
			    "letters, digits and '_')", path, lineno);
			r = MQE2E_ERR_BAD_FORMAT;
			break;
		}
		memcpy(value, v, vlen);
		value[vlen] = '\0';
		why[0] = '\0';
		if ((r = set(arg, key, value, why, sizeof(why))) != MQE2E_OK) {
			if (why[0] != '\0')
				(void)snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			else
				(void)snprintf(err, errlen, "%s:%u: %s '%s'", path, lineno,
				    r == MQE2E_ERR_NOT_FOUND ? "unknown setting" : "bad value for", key);
			break;
		}
	}
	free(value);
	return r;
}

int
mqe2e_conf_load(const char *path, size_t line_max, size_t file_max, mqe2e_conf_set_fn set,
    void *arg, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (err == NULL)
		errlen = 0;
	if ((f = fopen(path, "r")) == NULL) {
		(void)snprintf(err, errlen, "%s: cannot open the configuration file: %s", path,
		    strerror(errno));
		return MQE2E_ERR_IO;
	}
	/* one byte more than allowed, to tell a file that is too large */
	if ((text = malloc(file_max + 1)) == NULL) {
		fclose(f);
		return MQE2E_ERR_NOMEM;
	}
	len = fread(text, 1, file_max + 1, f);
	if (ferror(f)) {
		(void)snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		r = MQE2E_ERR_IO;
	} else {
		r = mqe2e_conf_parse(text, len, path, line_max, file_max, set, arg, err, errlen);
	}
	fclose(f);
	free(text);
	return r;
}
