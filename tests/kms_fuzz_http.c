/* kms_fuzz_http.c - libFuzzer harness: what core/http.c parses itself (the
 * rest of an answer is libcurl's): each response header line as libcurl
 * hands it over, and KMS URL lists (run by `make check` through
 * fuzz/replay_main.c). */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "http.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqe2e_http_response res;
	struct mqe2e_http_url urls[MQE2E_HTTP_MAX_URLS];
	const uint8_t *p = data, *nl;
	size_t n, left = size;
	char err[256], *s;

	memset(&res, 0, sizeof(res));
	while (left > 0) {
		nl = memchr(p, '\n', left);
		n = nl != NULL ? (size_t)(nl - p) + 1 : left;
		(void)!mqe2e_http_parse_header((const char *)p, n, &res);
		p += n;
		left -= n;
	}
	mqe2e_http_response_free(&res);
	if (size < 4096 && (s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		(void)!mqe2e_http_parse_urls(s, urls, MQE2E_HTTP_MAX_URLS, &n, err, sizeof(err));
		free(s);
	}
	return 0;
}
