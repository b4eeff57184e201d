/*
 * fuzz_input.c - libFuzzer harness for the administrator-input parsers of
 * mqe2e-kmsd: names, MQTT topic filters, listen addresses, numbers and
 * config settings ("key=value").
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmsd_config c;
	char *s, *eq, host[64], err[256];
	unsigned long long v;
	unsigned port;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)kms_name_valid(s);
	(void)mqe2e_group_filter_check(s, err, sizeof(err));
	(void)kmsd_parse_uint(s, 0, 65535, &v);
	if (kmsd_parse_listen(s, host, sizeof(host), &port) == MQE2E_OK && (port == 0 || port > 65535))
		abort();
	{
		const char *rest;
		unsigned tls;
		char san[512];

		if (kmsd_parse_listen_url(s, host, sizeof(host), &port, &tls, &rest) == MQE2E_OK &&
		    (port == 0 || port > 65535 || tls > 1))
			abort();
		(void)!kmsd_parse_tls_names(s, san, sizeof(san), err, sizeof(err));
	}
	kmsd_config_init(&c);
	if ((eq = strchr(s, '=')) != NULL) {
		*eq = '\0';
		/* Whatever is accepted stays within the documented bounds. */
		if (kmsd_config_set(&c, s, eq + 1, err, sizeof(err)) == MQE2E_OK &&
		    (c.max_connections == 0 || c.cert_days == 0 || c.cert_days > 3650))
			abort();
	}
	kmsd_config_clear(&c);
	free(s);
	return 0;
}
