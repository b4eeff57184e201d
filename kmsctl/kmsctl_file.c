/*
 * kmsctl_file.c - the local files of mqe2e-kmsctl: the admin token, CSRs,
 * and the certificate and key files written by "cert issue".
 *
 * Output files are written to a temporary file in the same directory,
 * fsync'd and then renamed (or linked, to refuse replacing a private key),
 * so a crash never leaves half a key.  Keys are created 0600 from the start.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "crypto.h"
#include "kmsctl.h"

int
kmsctl__read_file(const char *path, const char *what, char **out, size_t *out_len)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r = KMSCTL_EXIT_FILE;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		kmsctl__err("cannot read %s %s: %s", what, path, strerror(errno));
		return KMSCTL_EXIT_FILE;
	}
	if ((buf = malloc(KMSCTL_FILE_MAX + 1)) == NULL) {
		kmsctl__err("out of memory");
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, KMSCTL_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kmsctl__err("cannot read %s %s: %s", what, path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KMSCTL_FILE_MAX) {
			kmsctl__err("%s %s is larger than %u bytes: is it the right file?", what, path,
			    KMSCTL_FILE_MAX);
			goto out;
		}
	}
	if (memchr(buf, '\0', len) != NULL) {
		kmsctl__err("%s %s holds NUL bytes: expected text (PEM)", what, path);
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	r = KMSCTL_EXIT_OK;
out:
	if (buf != NULL) {
		mqe2e_wipe(buf, KMSCTL_FILE_MAX + 1);
		free(buf);
	}
	close(fd);
	return r;
}

int
kmsctl__read_token(const char *path, char **out)
{
	char *buf = NULL;
	size_t len = 0, i;
	int r;

	*out = NULL;
	if ((r = kmsctl__read_file(path, "the admin token file", &buf, &len)) != KMSCTL_EXIT_OK)
		return r;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
	    buf[len - 1] == '\t'))
		buf[--len] = '\0';
	for (i = 0; i < len; i++)
		if (buf[i] <= 0x20 || buf[i] >= 0x7f)
			break;
	if (len == 0 || i != len) {
		kmsctl__err("the admin token file %s must hold the token on one line (it is "
		    "DATA_DIR/admin.token on the KMS host)", path);
		mqe2e_wipe(buf, len);
		free(buf);
		return KMSCTL_EXIT_FILE;
	}
	*out = buf;
	return KMSCTL_EXIT_OK;
}

int
kmsctl__check_out_dir(const char *dir, const char *name)
{
	struct stat st;
	char path[4096];

	if (stat(dir, &st) != 0 && errno == ENOENT) {
		/* The last component only: a mistyped parent stays an error. */
		if (mkdir(dir, 0750) != 0) {
			kmsctl__err("cannot create the output directory %s: %s", dir,
			    strerror(errno));
			return KMSCTL_EXIT_FILE;
		}
		fprintf(stderr, KMSCTL_PROG ": created %s (mode 0750)\n", dir);
	}
	if (stat(dir, &st) != 0) {
		kmsctl__err("output directory %s: %s", dir, strerror(errno));
		return KMSCTL_EXIT_FILE;
	}
	if (!S_ISDIR(st.st_mode)) {
		kmsctl__err("output directory %s is not a directory", dir);
		return KMSCTL_EXIT_FILE;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		kmsctl__err("output directory %s is not writable: %s", dir, strerror(errno));
		return KMSCTL_EXIT_FILE;
	}
	if (name != NULL) {
		if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
			kmsctl__err("output directory %s: path too long", dir);
			return KMSCTL_EXIT_FILE;
		}
		if (lstat(path, &st) == 0) {
			kmsctl__err("%s already exists: move it away or choose another --out-dir "
			    "(a private key is never overwritten)", path);
			return KMSCTL_EXIT_FILE;
		}
	}
	return KMSCTL_EXIT_OK;
}

int
kmsctl__group_ok(const char *group)
{
	if (getgrnam(group) == NULL) {
		kmsctl__err("--key-group: there is no group \"%s\" on this system", group);
		return KMSCTL_EXIT_USAGE;
	}
	return KMSCTL_EXIT_OK;
}

int
kmsctl__write_file(const char *dir, const char *name, const char *data, size_t len,
    unsigned mode, int exclusive, const char *group)
{
	struct group *gr = NULL;

	char path[4096], tmp[4096 + 32];
	size_t off = 0;
	int fd = -1, r = KMSCTL_EXIT_FILE, tmp_made = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >= (int)sizeof(tmp)) {
		kmsctl__err("output path %s/%s is too long", dir, name);
		return KMSCTL_EXIT_FILE;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		kmsctl__err("cannot create a file in %s: %s", dir, strerror(errno));
		return KMSCTL_EXIT_FILE;
	}
	tmp_made = 1;
	if (group != NULL && ((gr = getgrnam(group)) == NULL || fchown(fd, (uid_t)-1, gr->gr_gid) != 0))
		goto fail;
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (exclusive) {
		if (link(tmp, path) != 0)
			goto fail;
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		goto fail;
	}
	tmp_made = 0;
	r = KMSCTL_EXIT_OK;
	goto out;
fail:
	kmsctl__err("cannot write %s: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	return r;
}
