/*
 * subfmt.h - mqe2e-sub -F: print a message by a format string, as
 * mosquitto_sub -F does (the conversions both share mean the same).
 *
 *   %%  a percent sign         %t  topic              %p  payload
 *   %l  payload length         %q  QoS                %r  retained (0/1)
 *   %x  payload in hex         %X  payload in HEX     %I  ISO 8601 local time
 *   %U  Unix time, seconds.nanoseconds
 * and those of mqe2e:
 *   %s  sender (authenticated publisher id)   %g  group
 *   %e  key epoch                              %k  scheme (1-4)
 * Escapes: \\ \0 \a \e \n \r \t \v.
 */
#ifndef MQE2E_SUBFMT_H
#define MQE2E_SUBFMT_H

#include <stdio.h>
#include "mqe2e.h"

/* 0 if fmt is valid; otherwise -1 and *bad points at the offending
 * character. */
int subfmt_check(const char *fmt, const char **bad);
/* Print m to f by fmt (checked before). */
void subfmt_print(FILE *f, const char *fmt, const struct mqe2e_message *m);

#endif
