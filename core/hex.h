/*
 * hex.h - bytes as hexadecimal digits and back: the KMS's admin token and
 * list cursors, PostgreSQL's bytea output, the bench's secrets and tags.
 */
#ifndef MQE2E_HEX_H
#define MQE2E_HEX_H

#include <stddef.h>
#include <stdint.h>

/* in[0..len) as lowercase digits into out[0..2*len], NUL-terminated. */
void mqe2e_hex(const void *in, size_t len, char *out);

/* The 2*len digits s[0..slen) (either case) into out[0..len).  0, or -1
 * when slen is not 2*len or s holds anything but digits (out is then
 * unspecified). */
int mqe2e_unhex(const char *s, size_t slen, uint8_t *out, size_t len);

#endif
