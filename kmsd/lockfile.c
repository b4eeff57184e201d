/*
 * lockfile.c - one mqe2e-kmsd per data directory (see lockfile.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "lockfile.h"

/* Open file description locks belong to the open file, not the process:
 * no other open() of the file in this process can drop them.  Older
 * kernels have only the process-wide kind. */
#ifdef F_OFD_SETLK
#define LOCK_CMD F_OFD_SETLK
#else
#define LOCK_CMD F_SETLK
#endif

/* The PID the holder wrote (decimal, one line), or 0 if unreadable. */
static long
holder_pid(int fd)
{
	char buf[32];
	ssize_t n;
	long pid = 0;
	int i;

	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (pid > 99999999)
			return 0;
		pid = pid * 10 + (buf[i] - '0');
	}
	return i > 0 && (i == n || buf[i] == '\n') ? pid : 0;
}

int
kms_lockfile_take(const char *dir, int *fd_out, char *err, size_t errlen)
{
	struct flock fl;
	char path[4096], line[32];
	long pid;
	int fd, n, e;

	*fd_out = -1;
	if (kms_path(path, sizeof(path), dir, KMS_LOCKFILE_NAME) != MQE2E_OK) {
		snprintf(err, errlen, "%s: path too long", dir);
		return MQE2E_ERR_TOO_LONG;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
		e = errno;
		snprintf(err, errlen, "%s: cannot open the instance lock file: %s", path,
		    strerror(e));
		return e == ENOSPC || e == EDQUOT ? MQE2E_ERR_NO_SPACE : MQE2E_ERR_IO;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, LOCK_CMD, &fl) != 0) {
		e = errno;
		if (e == EAGAIN || e == EACCES) {
			/* The holder writes its PID right after locking: a
			 * start racing it may read nothing yet. */
			if ((pid = holder_pid(fd)) == 0) {
				usleep(100 * 1000);
				pid = holder_pid(fd);
			}
			close(fd);
			if (pid > 0)
				snprintf(err, errlen, "%s is in use by another mqe2e-kmsd (pid %ld, "
				    "holding %s): stop it first, or give this one a data directory "
				    "of its own; several instances share one KMS only on "
				    "PostgreSQL (database = postgresql://...)", dir, pid, path);
			else
				snprintf(err, errlen, "%s is in use by another mqe2e-kmsd (it holds "
				    "%s; its pid is not readable there): stop it first, or give this "
				    "one a data directory of its own", dir, path);
			return MQE2E_ERR_CONFLICT;
		}
		close(fd);
		snprintf(err, errlen, "%s: cannot lock the instance lock file: %s", path,
		    strerror(e));
		return MQE2E_ERR_IO;
	}
	/* Ours now: record the PID for whoever is refused.  The lock, not the
	 * text, is what counts: a failed write (full disk) is not fatal. */
	n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, line, (size_t)n, 0) != n &&
	    ftruncate(fd, 0) != 0) {
		/* a torn PID: the refused one says it cannot read it */
	}
	*fd_out = fd;
	return MQE2E_OK;
}

void
kms_lockfile_release(int fd)
{
	if (fd >= 0)
		close(fd);
}
