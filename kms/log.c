/*
 * log.c - diagnostic lines on stderr (see log.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

void
kms_log(const char *fmt, ...)
{
	char stamp[32], msg[1024];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		stamp[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One fprintf per line so that threads do not interleave inside it. */
	fprintf(stderr, "%s mqe2e-kmsd: %s\n", stamp, msg);
}
