/*
 * wakeset.h - whom the waker (wake.c) sends its wake-up through.  Pure
 * bookkeeping over the waker's registry - no locks, no paho - so that the
 * rule is unit-tested alone (tests/client12_unit.c).
 */
#ifndef MQE2E_WAKESET_H
#define MQE2E_WAKESET_H

#include <stddef.h>

/* One client of the process, as the waker sees it. */
struct wake_slot {
	void *client;
	unsigned char up;               /* its link is up (a verified CONNACK) */
	unsigned char connecting;       /* a connect attempt of its is under way */
};

/* The slot to send the next wake-up through: the first of v[from], v[from
 * + 1], ... (wrapping around, every slot looked at once) whose link is up
 * and that is not connecting itself; n if no slot is.  A client whose link
 * is not up can send nothing, so however many of those (clients made but
 * not connected yet) lie between from and an up client, that one is found. */
size_t wakeset__pick(const struct wake_slot *v, size_t n, size_t from);

#endif
