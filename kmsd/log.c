/*
 * log.c - the daemon's diagnostic log (see log.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "logline.h"

#define LOG_PROG "mqe2e-kmsd"

static enum kms_log_format log_format = KMS_LOG_TEXT;
static enum kms_log_dest log_dest = KMS_LOG_STDERR;

void
kms_log_setup(enum kms_log_format format, enum kms_log_dest dest)
{
	log_format = format;
	if (dest == KMS_LOG_SYSLOG && log_dest != KMS_LOG_SYSLOG)
		openlog(LOG_PROG, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_dest = dest;
}

static const char *
level_name(int priority)
{
	switch (priority) {
	case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_DEBUG: return "debug";
	default: return "info";
	}
}

static void
vlog(int priority, const char *fmt, va_list ap)
{
	char stamp[32], msg[1024], line[2048];
	struct tm tm;
	time_t now = time(NULL);

	if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		stamp[0] = '\0';
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_format == KMS_LOG_JSON) {
		mqe2e_log_json(line, sizeof(line), stamp, level_name(priority), LOG_PROG, msg);
	} else if (log_dest == KMS_LOG_SYSLOG) {
		snprintf(line, sizeof(line), "%s", msg);      /* syslog stamps it */
	} else {
		snprintf(line, sizeof(line), "%s " LOG_PROG ": %s", stamp, msg);
	}
	if (log_dest == KMS_LOG_SYSLOG)
		syslog(priority, "%s", line);
	else
		fprintf(stderr, "%s\n", line);   /* one call per line: threads do not interleave */
}

void
kms_log_at(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(priority, fmt, ap);
	va_end(ap);
}

void
kms_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}
