/*
 * files.h - reading and writing the files of the data directory.
 *
 * Every error message names the file and says what to do.  Secret files
 * (ca.key, master.key, admin.token) are created 0600 with O_EXCL and
 * fsync'd; reading one that group or others may access is refused.
 */
#ifndef KMS_FILES_H
#define KMS_FILES_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"

/* 1 if path exists (any type), 0 if not, -1 on another error (errno set). */
int kms_file_exists(const char *path);

/*
 * Like kms_file_exists(), and *size gets the file's size (0 if it does not
 * exist).  -1: it cannot be looked at (errno set, e.g. EACCES).
 */
int kms_file_probe(const char *path, uint64_t *size);

/*
 * Describe why path cannot be used, from errnum: a permission problem
 * (EACCES, EPERM) names the user and uid this process runs as and says to
 * fix the ownership or mode; ENOENT says "missing" followed by
 * missing_hint (what to restore); anything else gives strerror.  Returns
 * MQE2E_ERR_IO.
 */
int kms_file_problem(char *err, size_t errlen, const char *path, int errnum,
    const char *missing_hint);

/*
 * Read the whole file (at most max bytes, MQE2E_ERR_TOO_LONG beyond) into a
 * malloc'd buffer, NUL-terminated (not counted in *len).  secret = 1: refuse
 * (MQE2E_ERR_DENIED, err naming the file and the fix) if group or others have
 * any permission on it, and the caller must wipe the buffer.
 */
int kms_file_read(const char *path, size_t max, int secret, uint8_t **out, size_t *len,
    char *err, size_t errlen) MQE2E_WUR;

/* Create path (must not exist) with the given mode, write data, fsync. */
int kms_file_create(const char *path, const void *data, size_t len, unsigned mode,
    char *err, size_t errlen) MQE2E_WUR;

/* snprintf(out, "%s/%s", dir, name); MQE2E_ERR_TOO_LONG if it does not fit. */
int kms_path(char *out, size_t out_len, const char *dir, const char *name) MQE2E_WUR;

#endif
