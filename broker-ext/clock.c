/*
 * clock.c - the broker's clock (docs/PROTOCOL.md 8): microseconds since the
 * Unix epoch, strictly increasing within this process even if the wall
 * clock steps back.  CONNACK replies are dated by it (/ 1000) and every
 * GK_B frame takes it as its sequence number, so a subscriber can tell a
 * frame made after its connection from one made before.  Broker thread only.
 */
#include "config.h"

#include <time.h>

#include "plugin.h"

uint64_t clock__now_us(void)
{
	static uint64_t last;
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	last = now > last ? now : last + 1;
	return last;
}
