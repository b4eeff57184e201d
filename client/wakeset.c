/*
 * wakeset.c - whom the waker sends its wake-up through (see wakeset.h).
 */
#include "config.h"

#include "wakeset.h"

size_t
wakeset__pick(const struct wake_slot *v, size_t n, size_t from)
{
	size_t k, i;

	for (k = 0; k < n; k++) {
		i = (from + k) % n;
		if (v[i].up && !v[i].connecting)
			return i;
	}
	return n;
}
