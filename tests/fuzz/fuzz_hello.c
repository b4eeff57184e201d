/* fuzz_hello.c - libFuzzer harness: the signed hello decoders (all types). */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t types[] = { MQE2E_MSG_CONNECT_HELLO, MQE2E_MSG_KEY_REQUEST,
	    MQE2E_MSG_PAIR_REQUEST };
	struct mqe2e_hello h;
	struct mqe2e_view g;
	uint32_t epoch;
	size_t i, off = 0;

	for (i = 0; i < sizeof(types); i++)
		if (mqe2e_hello_decode(data, size, types[i], &h) == MQE2E_OK &&
		    h.type == MQE2E_MSG_KEY_REQUEST)
			while (mqe2e_hello_next_group(&h, &off, &g, &epoch) == MQE2E_OK)
				;
	return 0;
}
