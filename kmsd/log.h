/*
 * log.h - the daemon's diagnostic log: one line per event, to stderr (the
 * journal under systemd) or to syslog, as text or as one JSON object per
 * line (log_format, log_dest in mqe2e-kmsd.conf(5)).  Never pass secrets.
 * The audit trail is audit.h.
 */
#ifndef KMS_LOG_H
#define KMS_LOG_H

#include <syslog.h>

enum kms_log_format { KMS_LOG_TEXT = 0, KMS_LOG_JSON = 1 };
enum kms_log_dest { KMS_LOG_STDERR = 0, KMS_LOG_SYSLOG = 1 };

/* Where and how to log from now on (main, before the threads start).
 * Text to stderr until then. */
void kms_log_setup(enum kms_log_format format, enum kms_log_dest dest);

/* One line at a syslog(3) priority (LOG_ERR, LOG_WARNING, LOG_NOTICE,
 * LOG_INFO). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void kms_log_at(int priority, const char *fmt, ...);

/* One line at LOG_INFO. */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void kms_log(const char *fmt, ...);

#endif
