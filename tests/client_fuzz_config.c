/*
 * client_fuzz_config.c - libFuzzer harness for the client's "name value"
 * configuration-file parser (client/config.c, config__parse: the text of a
 * file the user names).  Replayed over client_fuzz_config_corpus/ in
 * `make check` (every prefix and bit flip, under the sanitizers).
 */
#include "config.h"

#include "fuzz.h"
#include "client_int.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqe2e_config *cfg = NULL, copy;
	char err[256];

	if (mqe2e_config_new(&cfg) != MQE2E_OK)
		return 0;
	(void)!config__parse(cfg, (const char *)data, size, "fuzz.conf", err, sizeof(err));
	if (config__copy(&copy, cfg) == MQE2E_OK)
		config__clear(&copy);
	mqe2e_config_free(cfg);
	return 0;
}
