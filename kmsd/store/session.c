/*
 * session.c - the backend-neutral part of session.h: the notification
 * payloads, and the single-instance (SQLite) answer.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>

#include "session.h"

/* Decimal, 1 to 2^62, nothing after it. */
static int
parse_u62(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '1' || *s > '9')
		return MQE2E_ERR_BAD_FORMAT;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > ((1ULL << 62) - (uint64_t)(*s - '0')) / 10)
			return MQE2E_ERR_BAD_FORMAT;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return MQE2E_OK;
}

int
kms_session_parse_payload(const char *payload, struct kms_heard *heard)
{
	static const struct {
		const char *prefix;
		size_t off;
	} kinds[] = {
		{ "policy ", offsetof(struct kms_heard, policy) },
		{ "crl ", offsetof(struct kms_heard, crl) },
	};
	uint64_t v, *slot;
	size_t i, n;

	if (payload == NULL || heard == NULL)
		return MQE2E_ERR_INVALID_ARG;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		n = strlen(kinds[i].prefix);
		if (strncmp(payload, kinds[i].prefix, n) != 0)
			continue;
		if (parse_u62(payload + n, &v) != MQE2E_OK)
			return MQE2E_ERR_BAD_FORMAT;
		slot = (uint64_t *)((char *)heard + kinds[i].off);
		if (v > *slot)
			*slot = v;
		return MQE2E_OK;
	}
	return MQE2E_ERR_BAD_FORMAT;
}

#ifndef HAVE_POSTGRESQL
/* Without the PostgreSQL backend every database is a single instance's
 * (pg_session.c implements these with it). */
int
kms_session_open(struct kms_db *db, struct kms_session **out, char *err, size_t errlen)
{
	(void)db;
	(void)err;
	(void)errlen;
	*out = NULL;
	return MQE2E_ERR_NOT_FOUND;
}

void
kms_session_close(struct kms_session *s)
{
	(void)s;
}

int
kms_session_lead(struct kms_session *s, int *held)
{
	(void)s;
	*held = 0;
	return MQE2E_ERR_INVALID_ARG;
}

int
kms_session_listen(struct kms_session *s)
{
	(void)s;
	return MQE2E_ERR_INVALID_ARG;
}

int
kms_session_wait(struct kms_session *s, int ms, struct kms_heard *heard)
{
	(void)s;
	(void)ms;
	memset(heard, 0, sizeof(*heard));
	return MQE2E_ERR_INVALID_ARG;
}
#endif
