/*
 * lockfile.h - one mqe2e-kmsd per data directory.
 *
 * An SQLite KMS is one process: a second daemon on the same directory
 * would run a second scheduler and a second set of caches over the same
 * file.  The daemon holds a write lock (fcntl, open file description) on
 * DIR/kmsd.lock for its whole run, with its PID written in the file for
 * the message of the one that is refused.  The kernel drops the lock when
 * the process ends in any way (kill -9 included), so a stale file never
 * blocks a start.
 */
#ifndef KMS_LOCKFILE_H
#define KMS_LOCKFILE_H

#include <stddef.h>

#include "mqe2e_err.h"

#define KMS_LOCKFILE_NAME "kmsd.lock"

/*
 * Take the lock of data directory dir (which exists).  On success *fd is
 * the open lock file (keep it open; kms_lockfile_release closes it).
 * MQE2E_ERR_CONFLICT when another process holds it: err names that PID (as
 * it wrote it), the lock file and what to do.  Other failures name the
 * file and the error.
 */
int kms_lockfile_take(const char *dir, int *fd, char *err, size_t errlen) MQE2E_WUR;

/* Drop the lock (close fd); fd < 0 is a no-op.  The file stays. */
void kms_lockfile_release(int fd);

#endif
