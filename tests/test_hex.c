/*
 * test_hex.c - core/hex.c: every byte value there and back, either case in,
 * lowercase out, and what is refused (odd or wrong length, a non-digit).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hex.h"

static void
test_round_trip(void **state)
{
	uint8_t in[256], out[256];
	char hex[2 * sizeof(in) + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	mqe2e_hex(in, sizeof(in), hex);
	assert_int_equal(strlen(hex), 2 * sizeof(in));
	assert_memory_equal(hex, "000102", 6);
	assert_memory_equal(hex + 2 * 0xab, "abacad", 6);
	assert_string_equal(hex + 2 * 0xfe, "feff");
	assert_int_equal(mqe2e_unhex(hex, strlen(hex), out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	mqe2e_hex(in, 0, hex);
	assert_string_equal(hex, "");
	assert_int_equal(mqe2e_unhex("", 0, out, 0), 0);
}

static void
test_upper_case(void **state)
{
	uint8_t out[4];

	(void)state;
	assert_int_equal(mqe2e_unhex("DEADbeef", 8, out, 4), 0);
	assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
}

static void
test_refused(void **state)
{
	static const char *bad[] = { "0g", "g0", " 0", "0 ", "-1", "0x", "\x80" "0", "0:",
		"/0", "@0", "`0", "G0" };
	uint8_t out[4];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mqe2e_unhex(bad[i], 2, out, 1), -1);
	assert_int_equal(mqe2e_unhex("abc", 3, out, 1), -1);     /* odd */
	assert_int_equal(mqe2e_unhex("abcd", 4, out, 1), -1);    /* longer than asked */
	assert_int_equal(mqe2e_unhex("ab", 2, out, 2), -1);      /* shorter */
	assert_int_equal(mqe2e_unhex("ab", 2, out, SIZE_MAX), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_upper_case),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
