/*
 * kmsd_init.h - bringing struct kmsd up and down (kmsd.c), for main.c.
 */
#ifndef KMSD_INIT_H
#define KMSD_INIT_H

#include <stddef.h>
#include "kmsd.h"

/* Open everything under k->cfg.data_dir, initialising a fresh directory.
 * err names the file concerned on failure.  Call kmsd_close in any case. */
int kmsd_open(struct kmsd *k, char *err, size_t errlen) MQE2E_WUR;
/* Free everything (threads must be stopped); k is zeroed. */
void kmsd_close(struct kmsd *k);
/* Ask the daemon to stop: watchers return, the scheduler exits. */
void kmsd_request_stop(struct kmsd *k);

#endif
