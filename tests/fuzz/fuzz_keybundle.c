/* fuzz_keybundle.c - libFuzzer harness: KEY_BUNDLE decoder. */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqe2e_keybundle kb;

	if (mqe2e_keybundle_decode(data, size, &kb) == MQE2E_OK)
		mqe2e_keybundle_free(&kb);
	return 0;
}
