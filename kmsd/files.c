/*
 * files.c - data directory files (see files.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "files.h"
#include "log.h"

int
kms_file_exists(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

int
kms_file_probe(const char *path, uint64_t *size)
{
	struct stat st;

	*size = 0;
	if (lstat(path, &st) == 0) {
		*size = (uint64_t)st.st_size;
		return 1;
	}
	return errno == ENOENT ? 0 : -1;
}

int
kms_file_problem(char *err, size_t errlen, const char *path, int errnum,
    const char *missing_hint)
{
	struct passwd pw, *pwp = NULL;
	char buf[1024];
	uid_t uid = geteuid();

	if (errnum == EACCES || errnum == EPERM) {
		if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0)
			pwp = NULL;
		snprintf(err, errlen, "%s: permission denied to user '%s' (uid %u), which "
		    "mqe2e-kmsd runs as: give that user access to the data directory and its "
		    "files (chown -R, chmod 700 on the directory, 600 on the files), or run "
		    "mqe2e-kmsd as their owner", path, pwp != NULL ? pwp->pw_name : "?",
		    (unsigned)uid);
	} else if (errnum == ENOENT)
		snprintf(err, errlen, "%s: missing: %s", path,
		    missing_hint != NULL ? missing_hint : "restore it from a backup");
	else
		snprintf(err, errlen, "%s: %s", path, strerror(errnum));
	return MQE2E_ERR_IO;
}

int
kms_path(char *out, size_t out_len, const char *dir, const char *name)
{
	int n = snprintf(out, out_len, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= out_len)
		return MQE2E_ERR_TOO_LONG;
	return MQE2E_OK;
}

int
kms_file_read(const char *path, size_t max, int secret, uint8_t **out, size_t *len,
    char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, r = MQE2E_ERR_IO;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return kms_file_problem(err, errlen, path, errno, NULL);
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (secret && (st.st_mode & 077) != 0) {
		/* Refuse rather than fix: whoever could read it may have a copy. */
		snprintf(err, errlen, "%s: this secret file is accessible by group or others "
		    "(mode %03o): run 'chmod 600 %s', and if someone else may have read it "
		    "replace the secret (see mqe2e-kmsd(8), FILES)", path,
		    (unsigned)(st.st_mode & 0777), path);
		r = MQE2E_ERR_DENIED;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s: file is larger than %zu bytes: is it the right file?",
		    path, max);
		r = MQE2E_ERR_TOO_LONG;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: read failed: %s", path,
			    n < 0 ? strerror(errno) : "file shrank while reading");
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
	r = MQE2E_OK;
 out:
	if (buf != NULL) {
		mqe2e_wipe(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	close(fd);
	return r;
}

int
kms_file_create(const char *path, const void *data, size_t len, unsigned mode,
    char *err, size_t errlen)
{
	const uint8_t *p = data;
	size_t done = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    (mode_t)mode)) < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return MQE2E_ERR_IO;
	}
	if (fchmod(fd, (mode_t)mode) != 0)   /* exactly mode, whatever the umask */
		goto fail;
	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	return MQE2E_OK;
 fail:
	snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	(void)unlink(path);
	return MQE2E_ERR_IO;
}
