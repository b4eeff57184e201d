/* fuzz_envelope.c - libFuzzer harness: E2E envelope decoder and opener. */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[MQE2E_KEY_LEN] = { 1 };
	struct mqe2e_envelope e;
	struct mqe2e_aead *a = NULL;
	uint8_t pt[512];

	if (mqe2e_envelope_decode(data, size, &e) == MQE2E_OK && e.ct.len <= sizeof(pt) + 16 &&
	    mqe2e_aead_new(key, &a) == MQE2E_OK) {
		(void)!mqe2e_envelope_open(a, &e, "t", 1, pt);
		mqe2e_aead_free(a);
	}
	return 0;
}
