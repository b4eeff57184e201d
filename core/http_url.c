/*
 * http_url.c - KMS base URLs and URL lists (see http.h).
 *
 * A base URL names a server, nothing else: "http[s]://host[:port]" with an
 * optional trailing '/'.  No user info, path, query or fragment; host bytes
 * from a small alphabet; the port parsed with an explicit maximum.  The
 * loopback flag decides what may travel in clear text (http.c).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"

static int
is_hostname_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.';
}

static int
is_v6_byte(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	    c == ':' || c == '.';
}

/* 127.0.0.0/8 as a dotted quad, ::1 (any spelling of zeros), "localhost". */
static int
is_loopback(const char *host)
{
	unsigned v[4], i, n;
	const char *p = host;

	if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
		return 1;
	if (strchr(host, ':') != NULL) {
		/* ::1, 0:0:0:0:0:0:0:1, 0::1 and the like: only zeros, colons, final 1 */
		size_t len = strlen(host);

		if (len < 3 || host[len - 1] != '1' || host[len - 2] != ':')
			return 0;
		for (i = 0; i + 1 < len; i++)
			if (host[i] != '0' && host[i] != ':')
				return 0;
		return 1;
	}
	for (i = 0; i < 4; i++) {
		for (n = 0, v[i] = 0; *p >= '0' && *p <= '9' && n < 3; p++, n++)
			v[i] = v[i] * 10 + (unsigned)(*p - '0');
		if (n == 0 || v[i] > 255)
			return 0;
		if (i < 3 && *p++ != '.')
			return 0;
	}
	return *p == '\0' && v[0] == 127;
}

int
mqe2e_http_parse_url(const char *url, size_t len, struct mqe2e_http_url *out)
{
	const char *h, *hend, *p, *end;
	unsigned long v;
	size_t n, skip;
	int tls;

	if (url == NULL || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (len >= 8 && strncasecmp(url, "https://", 8) == 0) {
		tls = 1;
		skip = 8;
		v = 443;
	} else if (len >= 7 && strncasecmp(url, "http://", 7) == 0) {
		tls = 0;
		skip = 7;
		v = 80;
	} else {
		return MQE2E_ERR_INVALID_ARG;
	}
	h = url + skip;
	end = url + len;
	if (memchr(url, '\0', len) != NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (end > h && end[-1] == '/')
		end--;
	if (h < end && *h == '[') {
		h++;
		for (hend = h; hend < end && *hend != ']'; hend++)
			if (!is_v6_byte(*hend))
				return MQE2E_ERR_INVALID_ARG;
		if (hend == end || hend == h)
			return MQE2E_ERR_INVALID_ARG;
		p = hend + 1;
	} else {
		for (hend = h; hend < end && *hend != ':'; hend++)
			if (!is_hostname_byte(*hend))
				return MQE2E_ERR_INVALID_ARG;   /* also '@', '/', '?' */
		if (hend == h)
			return MQE2E_ERR_INVALID_ARG;
		p = hend;
	}
	if (p < end) {
		if (*p != ':' || p + 1 == end || end - (p + 1) > 5)
			return MQE2E_ERR_INVALID_ARG;
		for (v = 0, p++; p < end; p++) {
			if (*p < '0' || *p > '9')
				return MQE2E_ERR_INVALID_ARG;
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v == 0 || v > 65535)
			return MQE2E_ERR_INVALID_ARG;
	}
	n = (size_t)(hend - h);
	if (n >= sizeof(out->host))
		return MQE2E_ERR_INVALID_ARG;
	memcpy(out->host, h, n);
	out->host[n] = '\0';
	out->port = (uint16_t)v;
	out->tls = tls ? 1u : 0u;
	out->loopback = is_loopback(out->host) ? 1u : 0u;
	/* keep the spelling the user gave (less a trailing '/') for messages */
	n = (size_t)(end - url);
	if (n >= sizeof(out->url))
		return MQE2E_ERR_INVALID_ARG;
	memcpy(out->url, url, n);
	out->url[n] = '\0';
	return MQE2E_OK;
}

int
mqe2e_http_parse_urls(const char *list, struct mqe2e_http_url *out, size_t max, size_t *n,
    char *err, size_t errlen)
{
	const char *p, *e, *comma;
	size_t k = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (list == NULL || out == NULL || n == NULL || max == 0) {
		if (err != NULL)
			snprintf(err, errlen, "no KMS URL given");
		return MQE2E_ERR_INVALID_ARG;
	}
	*n = 0;
	for (p = list;; p = comma + 1) {
		comma = strchr(p, ',');
		e = comma != NULL ? comma : p + strlen(p);
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (k == max) {
			if (err != NULL)
				snprintf(err, errlen, "too many KMS URLs in \"%.200s\" (at most %zu)",
				    list, max);
			return MQE2E_ERR_INVALID_ARG;
		}
		if (mqe2e_http_parse_url(p, (size_t)(e - p), &out[k]) != MQE2E_OK) {
			if (err != NULL)
				snprintf(err, errlen, "bad KMS URL \"%.*s\": expected https://HOST[:PORT] "
				    "(or http://HOST[:PORT] on loopback), several separated by commas",
				    (int)((e - p) > 200 ? 200 : (e - p)), p);
			return MQE2E_ERR_INVALID_ARG;
		}
		k++;
		if (comma == NULL)
			break;
	}
	*n = k;
	return MQE2E_OK;
}
