/*
 * log.c - the daemon's diagnostic log (see log.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

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

/* s as the body of a JSON string into out (always terminated; cut short
 * rather than overflow).  Bytes outside printable ASCII become \u00XX, so
 * the line is valid JSON whatever a message quotes. */
static void
json_escape(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		} else {
			esc[0] = (char)c;
			n = 1;
		}
		if (o + n >= len)
			break;
		memcpy(out + o, esc, n);
		o += n;
	}
	out[o] = '\0';
}

static void
vlog(int priority, const char *fmt, va_list ap)
{
	char stamp[32], msg[1024], esc[6 * sizeof(msg)], line[sizeof(esc) + 128];
	struct tm tm;
	time_t now = time(NULL);

	if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		stamp[0] = '\0';
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_format == KMS_LOG_JSON) {
		json_escape(msg, esc, sizeof(esc));
		snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"program\":\""
		    LOG_PROG "\",\"message\":\"%s\"}", stamp, level_name(priority), esc);
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
