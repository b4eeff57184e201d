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
/* Free everything (threads must be stopped); k is zeroed. */
void kmsd_close(struct kmsd *k);
/* Ask the daemon to stop: watchers return, the scheduler exits. */
void kmsd_request_stop(struct kmsd *k);

#endif
