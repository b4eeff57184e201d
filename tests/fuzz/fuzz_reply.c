/* fuzz_reply.c - libFuzzer harness: the signed reply decoders (all types). */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t types[] = { MQE2E_MSG_CONNACK_REPLY, MQE2E_MSG_KEY_RESPONSE,
	    MQE2E_MSG_PAIR_RESPONSE };
	struct mqe2e_reply r;
	size_t i;

	for (i = 0; i < sizeof(types); i++)
		(void)!mqe2e_reply_decode(data, size, types[i], &r);
	return 0;
}
