/*
 * logline.h - one log line as a JSON object, for mqe2e-kmsd (log_format =
 * json) and the broker plugin (plugin_opt_log_format json):
 *
 *   {"time":"2026-12-05T22:51:06Z","level":"info","program":"mqe2e-kmsd",
 *    "message":"..."}
 *
 * Bytes outside printable ASCII in the message become \u00XX, so the line
 * is valid JSON whatever the message quotes.
 */
#ifndef MQE2E_LOGLINE_H
#define MQE2E_LOGLINE_H

#include <stddef.h>

/* Write the object into out[0..len) (always NUL-terminated; a message too
 * long is cut, the JSON stays valid).  time may be NULL (no "time" member,
 * e.g. when the host stamps lines itself). */
void mqe2e_log_json(char *out, size_t len, const char *time, const char *level,
    const char *program, const char *msg);

#endif
