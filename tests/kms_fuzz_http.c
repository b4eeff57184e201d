/* kms_fuzz_http.c - libFuzzer harness: the HTTP response parser and the URL
 * parser of core/http.c (run by `make check` through fuzz/replay_main.c). */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "http.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqe2e_http_response res;
	char host[MQE2E_HTTP_MAX_HOST], *s;
	uint16_t port;
	int eof, head;

	for (eof = 0; eof < 2; eof++)
		for (head = 0; head < 2; head++) {
			memset(&res, 0, sizeof(res));
			(void)!mqe2e_http_parse_response(data, size, eof, head, 1024, &res);
			mqe2e_http_response_free(&res);
		}
	if (size < 4096 && (s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		(void)!mqe2e_http_parse_url(s, host, sizeof(host), &port);
		free(s);
	}
	return 0;
}
