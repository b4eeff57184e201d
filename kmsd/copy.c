/*
 * copy.c - mqe2e-kmsd --copy-to: move a KMS to another database, e.g. from
 * the embedded SQLite file to PostgreSQL when a second instance is added
 * (see kmsd_init.h, store_copy.h).  The keys stay where they are: group
 * keys are copied sealed, under the master key of the data directory,
 * which every instance shares as a file.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "files.h"
#include "kmsd_init.h"
#include "lockfile.h"
#include "log.h"
#include "store.h"
#include "store_copy.h"

static void
progress(void *arg, const char *table, uint64_t rows, int done)
{
	uint64_t *total = arg;

	if (done)
		*total += rows;
	fprintf(stderr, "mqe2e-kmsd: %s %-12s %llu rows%s\n", done ? "copied " : "copying",
	    table, (unsigned long long)rows, done ? "" : " ...");
}

int
kmsd_copy(struct kmsd *k, const char *target, char *err, size_t errlen)
{
	struct kms_db *from = NULL, *to = NULL;
	char db_path[4096], *password = NULL;
	const char *source;
	uint64_t total = 0;
	int fd = -1, r;

	if (kms_path(db_path, sizeof(db_path), k->cfg.data_dir, "kms.db") != MQE2E_OK) {
		snprintf(err, errlen, "%s: path too long", k->cfg.data_dir);
		return MQE2E_ERR_TOO_LONG;
	}
	source = k->cfg.database != NULL ? k->cfg.database : db_path;
	if (strcmp(source, target) == 0) {
		snprintf(err, errlen, "--copy-to: the target is the KMS's own database");
		return MQE2E_ERR_INVALID_ARG;
	}
	if (kms_db_is_url(target) && kms_db_url_has_password(target)) {
		snprintf(err, errlen, "--copy-to: the URL holds a password, which other users can "
		    "read on the command line: put it in ~/.pgpass or the file PGPASSFILE names "
		    "(libpq reads it)");
		return MQE2E_ERR_INVALID_ARG;
	}
	/* No daemon on the data directory while its state is copied. */
	if ((r = kms_lockfile_take(k->cfg.data_dir, &fd, err, errlen)) != MQE2E_OK)
		return r;
	if ((r = kmsd_db_password(k, &password, err, errlen)) != MQE2E_OK ||
	    (r = kms_db_open(source, password, 0, &from, err, errlen)) != MQE2E_OK)
		goto out;
	if (!kms_db_is_url(target) && kms_file_exists(target) != 0) {
		snprintf(err, errlen, "%s: already exists: copy only into a new database", target);
		r = MQE2E_ERR_CONFLICT;
		goto out;
	}
	if ((r = kms_db_open(target, NULL, 1, &to, err, errlen)) != MQE2E_OK)
		goto out;
	fprintf(stderr, "mqe2e-kmsd: copying %s (%s) into %s (%s)\n", kms_db_name(from),
	    kms_db_backend(from), kms_db_name(to), kms_db_backend(to));
	if ((r = kms_db_copy(from, to, progress, &total, err, errlen)) != MQE2E_OK)
		goto out;
	fprintf(stderr, "mqe2e-kmsd: copied %llu rows into %s; the keys stay in %s (master.key, "
	    "ca.key, ca.crt, admin.token): to run on the copy, %s\n", (unsigned long long)total,
	    kms_db_name(to), k->cfg.data_dir, kms_db_is_url(target) ? "set database = URL in "
	    "mqe2e-kmsd.conf(5)" : "make it DATA_DIR/kms.db and remove the database setting");
 out:
	kms_db_close(to);
	kms_db_close(from);
	if (password != NULL) {
		mqe2e_wipe(password, strlen(password));
		free(password);
	}
	kms_lockfile_release(fd);
	return r;
}
