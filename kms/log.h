/*
 * log.h - the daemon's diagnostic log (stderr, one line per event, with a
 * UTC time stamp).  Never pass secrets.  The audit trail is audit.h.
 */
#ifndef KMS_LOG_H
#define KMS_LOG_H

#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void kms_log(const char *fmt, ...);

#endif
