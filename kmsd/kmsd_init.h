/*
 * kmsd_init.h - bringing struct kmsd up and down (kmsd.c), for main.c.
 */
#ifndef KMSD_INIT_H
#define KMSD_INIT_H

#include <stddef.h>
#include "kmsd.h"

/* Open everything under k->cfg.data_dir, initialising a fresh (empty)
 * directory; init = 1 also makes a new, empty database next to an existing
 * master key and CA (never over an existing database).  Refuses a missing
 * or empty database, a missing key and a master key that is not the
 * database's.  Writes nothing to an initialised directory (but the one-time
 * key-check value of an old database).  err names the file concerned on
 * failure.  Call kmsd_close in any case. */
int kmsd_open(struct kmsd *k, int init, char *err, size_t errlen) MQE2E_WUR;
/* Copy the KMS's database (k->cfg: DATA_DIR/kms.db or `database`) into
 * target, a new database (mqe2e-kmsd --copy-to): all rows, counters and
 * sealed keys as they are, with progress on stderr; refused if target is
 * not empty.  Holds the data directory's lock, so no daemon runs on it
 * meanwhile.  err names the database concerned on failure. */
int kmsd_copy(struct kmsd *k, const char *target, char *err, size_t errlen) MQE2E_WUR;
/* The password of k->cfg.database_password_file (malloc'd; the caller
 * wipes and frees it), or *out = NULL without one. */
int kmsd_db_password(struct kmsd *k, char **out, char *err, size_t errlen) MQE2E_WUR;
/* Free everything (threads must be stopped); k is zeroed. */
void kmsd_close(struct kmsd *k);
/* Ask the daemon to stop: watchers return, the scheduler exits. */
void kmsd_request_stop(struct kmsd *k);

#endif
