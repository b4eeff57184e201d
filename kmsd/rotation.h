/*
 * rotation.h - the scheduler thread that rotates each group on its period
 * (the life cycle itself is epoch.h's).
 */
#ifndef KMS_ROTATION_H
#define KMS_ROTATION_H

#include "kmsd.h"

/* The scheduler thread: rotates due groups, expires epochs, re-issues the
 * CRL before it goes stale.  Wakes every second and on kmsd_policy_changed. */
int kms_scheduler_start(struct kmsd *k) MQE2E_WUR;
void kms_scheduler_stop(struct kmsd *k);

#endif
