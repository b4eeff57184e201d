/* lifecycle_fuzz_notice.c - libFuzzer harness: REKEY_NOTICE, bare and framed. */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include "fuzz.h"
#include "notice.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[MQE2E_KEY_LEN] = { 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
		0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
		0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22 };
	struct mqe2e_rekey_notice n;
	struct mqe2e_mac *m = NULL;

	(void)!mqe2e_rekey_notice_decode(data, size, &n);
	if (mqe2e_mac_new(key, sizeof(key), &m) == MQE2E_OK)
		(void)!mqe2e_rekey_notice_open(m, "broker1", "mqe2e/v1/rekey/plant1", data, size,
		    1767225600000ull, 120000, &n, NULL);
	mqe2e_mac_free(m);
	return 0;
}
