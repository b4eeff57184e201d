/*
 * audit.c - the audit trail (see audit.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "jsonutil.h"
#include "log.h"

struct kms_audit {
	pthread_mutex_t lock;
	int fd;
	char *path;
	unsigned long lost;       /* lines not written since the last log line */
	time_t fail_logged;       /* when a write failure was last logged */
	int fail_errno;
};

int
kms_audit_open(const char *path, struct kms_audit **out, char *err, size_t errlen)
{
	struct kms_audit *a;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL || (a->path = strdup(path)) == NULL) {
		free(a);
		snprintf(err, errlen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	if ((a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) < 0) {
		snprintf(err, errlen, "%s: cannot open the audit log: %s", path, strerror(errno));
		free(a->path);
		free(a);
		return MQE2E_ERR_IO;
	}
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return MQE2E_OK;
}

void
kms_audit_close(struct kms_audit *a)
{
	if (a == NULL)
		return;
	(void)fsync(a->fd);
	close(a->fd);
	pthread_mutex_destroy(&a->lock);
	free(a->path);
	free(a);
}

void
kms_audit_reopen(struct kms_audit *a)
{
	int fd;

	if (a == NULL)
		return;
	if ((fd = open(a->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) < 0) {
		kms_log("%s: cannot reopen the audit log, still writing to the old file: %s",
		    a->path, strerror(errno));
		return;
	}
	pthread_mutex_lock(&a->lock);
	(void)fsync(a->fd);
	close(a->fd);
	a->fd = fd;
	pthread_mutex_unlock(&a->lock);
}

static void
set_str(json_t *o, const char *key, const char *v)
{
	if (v != NULL)
		json_object_set_new(o, key, json_string(v));
}

void
kms_audit(struct kms_audit *a, const char *request_id, const char *actor,
    const char *action, const char *target, const char *result, unsigned status,
    const char *detail)
{
	char stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	json_t *o;
	char *line = NULL;
	size_t len, done = 0;
	ssize_t n;
	off_t end;
	int e;

	if (a == NULL)
		return;
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		stamp[0] = '\0';
	if ((o = json_object()) == NULL) {
		kms_log("%s: cannot write the audit log: out of memory", a->path);
		return;
	}
	set_str(o, "time", stamp);
	set_str(o, "request_id", request_id);
	set_str(o, "actor", actor);
	set_str(o, "action", action);
	set_str(o, "target", target);
	set_str(o, "result", result);
	if (status != 0)
		json_object_set_new(o, "status", json_integer(status));
	set_str(o, "detail", detail);
	/* Names are validated ASCII, but escape anyway: one object per line. */
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(o);
	if (line == NULL) {
		kms_log("%s: cannot write the audit log: out of memory", a->path);
		return;
	}
	len = strlen(line);
	line[len++] = '\n';   /* replaces the NUL; write() takes a length */
	pthread_mutex_lock(&a->lock);
	end = lseek(a->fd, 0, SEEK_END);
	e = 0;
	while (done < len) {
		n = write(a->fd, line + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : ENOSPC;
			break;
		}
		done += (size_t)n;
	}
	if (done == len) {
		if (a->lost > 0)
			kms_log("%s: the audit log is written again (%lu lines were lost)", a->path,
			    a->lost);
		a->lost = 0;
	} else {
		/* No torn line for the next one to be glued to.  On a full disk
		 * every line fails alike: log when it starts or changes, and
		 * once a minute meanwhile. */
		if (done > 0 && end >= 0 && ftruncate(a->fd, end) != 0)
			kms_log("%s: cannot cut a partly written line: %s", a->path,
			    strerror(errno));
		if (a->lost++ == 0 || e != a->fail_errno || now - a->fail_logged >= 60) {
			kms_log_at(LOG_ERR, "%s: cannot write the audit log: %s (%lu lines lost so far)%s",
			    a->path, strerror(e), a->lost, e == ENOSPC || e == EDQUOT ?
			    ": free space on its disk" : "");
			a->fail_logged = now;
			a->fail_errno = e;
		}
	}
	pthread_mutex_unlock(&a->lock);
	kms_json_free(line);
}
