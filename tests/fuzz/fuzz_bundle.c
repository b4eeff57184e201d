/* fuzz_bundle.c - libFuzzer harness: BUNDLE decoder and per-recipient lookup. */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "fuzz.h"
#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqe2e_bundle_entry *e = NULL;
	struct mqe2e_view part;
	size_t n = 0;

	if (mqe2e_bundle_decode(data, size, &e, &n) == MQE2E_OK)
		free(e);
	(void)!mqe2e_bundle_find(data, size, "bob", &part);
	return 0;
}
