/*
 * jsonwipe.c - the wiping jansson allocator (see jsonwipe.h).
 *
 * Each block carries its size in a header in front of it, so that free can
 * wipe the whole block (header included) before handing it back.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "crypto.h"
#include "jsonwipe.h"

#define WIPE_HDR 16   /* keeps the block's alignment of malloc's */

static void *
wiping_malloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - WIPE_HDR || (p = malloc(n + WIPE_HDR)) == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + WIPE_HDR;
}

void
kms_json_free(void *q)
{
	unsigned char *p;
	size_t n;

	if (q == NULL)
		return;
	p = (unsigned char *)q - WIPE_HDR;
	memcpy(&n, p, sizeof(n));
	mqe2e_wipe(p, n + WIPE_HDR);
	free(p);
}

void
kms_json_wiping_alloc(void)
{
	json_set_alloc_funcs(wiping_malloc, kms_json_free);
}
