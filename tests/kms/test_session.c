/*
 * test_session.c - the notification payloads several mqe2e-kmsd exchange
 * through the database (kmsd/store/session.h): "policy N" and "crl N" with
 * N from 1 to 2^62, the highest of each kept; everything else refused and
 * leaving what was heard unchanged.
 */
#include "config.h"

#include <string.h>

#include "check.h"
#include "session.h"

int
main(void)
{
	static const char *const bad[] = {
		"", "policy", "policy ", "policy  1", " policy 1", "policy 0", "policy 01",
		"policy -1", "policy +1", "policy 1 ", "policy 1x", "policy 0x10",
		"policy 4611686018427387905", "policy 99999999999999999999999", "crl",
		"crl 0", "Policy 1", "policies 1", "policy\t1", "keys 3",
	};
	struct kms_heard h;
	size_t i;

	memset(&h, 0, sizeof(h));
	CHECK(kms_session_parse_payload("policy 12", &h) == MQE2E_OK && h.policy == 12 && h.crl == 0);
	CHECK(kms_session_parse_payload("crl 3", &h) == MQE2E_OK && h.crl == 3 && h.policy == 12);
	/* the highest of each kind is kept, whatever the order of arrival */
	CHECK(kms_session_parse_payload("policy 9", &h) == MQE2E_OK && h.policy == 12);
	CHECK(kms_session_parse_payload("policy 13", &h) == MQE2E_OK && h.policy == 13);
	CHECK(kms_session_parse_payload("policy 4611686018427387904", &h) == MQE2E_OK &&
	    h.policy == 4611686018427387904ULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kms_heard before = h;

		if (kms_session_parse_payload(bad[i], &h) != MQE2E_ERR_BAD_FORMAT) {
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
			failures++;
		}
		CHECK(memcmp(&before, &h, sizeof(h)) == 0);
	}
	CHECK(kms_session_parse_payload(NULL, &h) == MQE2E_ERR_INVALID_ARG);
	CHECK(kms_session_parse_payload("policy 1", NULL) == MQE2E_ERR_INVALID_ARG);
	return check_result("test_session");
}
