/*
 * broker_fuzz_policy.c - libFuzzer harness for the broker extension's policy
 * snapshot parser (broker-ext/policy.c: untrusted JSON from the KMS or the
 * policy cache).  Replayed over broker_fuzz_policy_corpus/ in `make check`
 * (every prefix and bit flip, under the sanitizers).
 */
#include "config.h"

#include "fuzz.h"
#include "plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bx_policy *p = NULL;
	size_t gi = 0;

	if (policy__from_json(data, size, NULL, 0, &p) != MQE2E_OK)
		return 0;
	(void)policy__match(p, "plant/1/temp", &gi);
	(void)policy__rights(p, "sensor-1", gi);
	(void)policy__is_revoked_serial(p, "4c1f");
	if (p->ngroups > 0)
		(void)mqe2e_topic_filter_within("plant/+/temp", p->groups[0].filter);
	policy__free(p);
	return 0;
}
