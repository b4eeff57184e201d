/*
 * conffile.h - the one configuration-file syntax of mqe2e: mqe2e-kmsd.conf
 * (mqe2e-kmsd.conf(5)) and the client library's files (libmqe2e(3),
 * mqe2e-pub --config) are read by the same parser.
 *
 *   # a comment
 *   key = value
 *   key value            (the '=' may be left out)
 *
 * One setting per line.  The key is the first word (letters, digits, '_');
 * the value is the rest of the line after the optional '=', without the
 * white space around it (it may contain spaces).  Blank lines and lines
 * starting with '#' are skipped; CR LF line ends are accepted; a NUL byte,
 * an over-long line or an over-large file is an error.
 */
#ifndef MQE2E_CONFFILE_H
#define MQE2E_CONFFILE_H

#include <stddef.h>
#include "mqe2e_err.h"

/*
 * Called for each setting; returns MQE2E_OK or an error, with a sentence in
 * why (why_len bytes) naming the key and what is wrong (or "" to get the
 * default "unknown setting 'KEY'" / "bad value for 'KEY'").
 */
typedef int (*mqe2e_conf_set_fn)(void *arg, const char *key, const char *value, char *why,
    size_t why_len);

/*
 * Parse text[0..len) (not NUL-terminated).  Errors go to err as
 * "PATH:LINE: why"; settings before a bad line stay applied.
 * MQE2E_ERR_TOO_LONG (line or file), MQE2E_ERR_BAD_FORMAT (NUL byte, no
 * key), or what set returned.
 */
int mqe2e_conf_parse(const char *text, size_t len, const char *path, size_t line_max,
    size_t file_max, mqe2e_conf_set_fn set, void *arg, char *err, size_t errlen) MQE2E_WUR;

/* The same for a file; MQE2E_ERR_IO (err names the file) if it cannot be
 * read. */
int mqe2e_conf_load(const char *path, size_t line_max, size_t file_max, mqe2e_conf_set_fn set,
    void *arg, char *err, size_t errlen) MQE2E_WUR;

#endif
