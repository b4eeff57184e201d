/* fuzz_frame.c - libFuzzer harness: channel frame decoder, MAC and AEAD checks. */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "wire.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[MQE2E_KEY_LEN] = { 2 };
	struct mqe2e_frame f;
	struct mqe2e_mac *m = NULL;
	struct mqe2e_aead *a = NULL;
	uint8_t pt[512];

	if (mqe2e_frame_decode(data, size, &f) != MQE2E_OK)
		return 0;
	if (f.type == MQE2E_MSG_FRAME_MAC && mqe2e_mac_new(key, sizeof(key), &m) == MQE2E_OK)
		(void)!mqe2e_frame_mac_verify(m, &f, "t", 1);
	if (f.type == MQE2E_MSG_FRAME_AEAD && f.body.len <= sizeof(pt) + 16 &&
	    mqe2e_aead_new(key, &a) == MQE2E_OK)
		(void)!mqe2e_frame_aead_open(a, &f, "t", 1, pt);
	mqe2e_mac_free(m);
	mqe2e_aead_free(a);
	return 0;
}
