/*
 * fuzz_replay.c - runs a harness in `make check` without libFuzzer: every
 * seed, each of its prefixes, and deterministic byte mutations of it.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const seeds[] = {
	"a/+/c", "a/#", "#", "+/+/#", "plant/+/temp", "$SYS/#", "a#", "caf\xc3\xa9/x",
	"sensor-1", ".x", "127.0.0.1:7780", "[::1]:80", "[::1", "h:65536", "18446744073709551616",
	"listen=127.0.0.1:1", "max_connections=7", "cert_days=0", "data_dir=", "nonce=1",
	"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "",
};

int
main(void)
{
	uint8_t buf[256];
	uint32_t x = 2463534242u;    /* xorshift32: the same run every time */
	size_t i, n, k;

	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		n = strlen(seeds[i]);
		if (n > sizeof(buf))
			n = sizeof(buf);
		for (k = 0; k <= n; k++)
			LLVMFuzzerTestOneInput((const uint8_t *)seeds[i], k);
		for (k = 0; k < 2000; k++) {
			memcpy(buf, seeds[i], n);
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			if (n > 0)
				buf[x % n] = (uint8_t)(x >> 8);
			LLVMFuzzerTestOneInput(buf, n == 0 ? 0 : 1 + (x >> 16) % n);
		}
	}
	return 0;
}
