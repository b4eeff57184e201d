/*
 * test_buf.c - the bounds-checked reader and the capped writer (core/buf.c).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void
test_reader_ints(void **state)
{
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	struct mqe2e_reader r;
	uint8_t a;
	uint16_t b;
	uint32_t c;
	uint64_t d;

	(void)state;
	mqe2e_rd_init(&r, in, sizeof(in));
	assert_int_equal(mqe2e_rd_u8(&r, &a), MQE2E_OK);
	assert_int_equal(a, 0x01);
	assert_int_equal(mqe2e_rd_u16(&r, &b), MQE2E_OK);
	assert_int_equal(b, 0x0203);
	assert_int_equal(mqe2e_rd_u32(&r, &c), MQE2E_OK);
	assert_int_equal(c, 0x04050607);
	assert_int_equal(mqe2e_rd_end(&r), MQE2E_ERR_TRAILING);
	assert_int_equal(mqe2e_rd_u64(&r, &d), MQE2E_OK);
	assert_true(d == 0x08090a0b0c0d0e0fULL);
	assert_int_equal(mqe2e_rd_end(&r), MQE2E_OK);
	/* at the end every getter fails and consumes nothing */
	assert_int_equal(mqe2e_rd_u8(&r, &a), MQE2E_ERR_TRUNCATED);
	assert_int_equal(mqe2e_rd_left(&r), 0);
}

static void
test_reader_truncation_leaves_reader(void **state)
{
	static const uint8_t in[] = { 0xaa, 0xbb, 0xcc };
	struct mqe2e_reader r;
	uint32_t c;
	uint64_t d;
	uint16_t b;
	struct mqe2e_view v;

	(void)state;
	mqe2e_rd_init(&r, in, sizeof(in));
	assert_int_equal(mqe2e_rd_u32(&r, &c), MQE2E_ERR_TRUNCATED);
	assert_int_equal(mqe2e_rd_u64(&r, &d), MQE2E_ERR_TRUNCATED);
	assert_int_equal(mqe2e_rd_view(&r, 4, &v), MQE2E_ERR_TRUNCATED);
	assert_int_equal(r.off, 0);
	assert_int_equal(mqe2e_rd_u16(&r, &b), MQE2E_OK);
	assert_int_equal(mqe2e_rd_view(&r, (size_t)-1, &v), MQE2E_ERR_TRUNCATED);
	assert_int_equal(r.off, 2);
	mqe2e_rd_init(&r, NULL, 5);
	assert_int_equal(mqe2e_rd_left(&r), 0);
}

static void
test_reader_vec(void **state)
{
	static const uint8_t in[] = { 0x00, 0x03, 'a', 'b', 'c', 0x00, 0x00, 0x00, 0x02, 'x', 'y',
	    0x00, 0x05, 'z' };
	struct mqe2e_reader r;
	struct mqe2e_view v;

	(void)state;
	mqe2e_rd_init(&r, in, sizeof(in));
	/* too long for the cap, too short for the minimum: reader unchanged */
	assert_int_equal(mqe2e_rd_vec16(&r, 0, 2, &v), MQE2E_ERR_TOO_LONG);
	assert_int_equal(mqe2e_rd_vec16(&r, 4, 9, &v), MQE2E_ERR_BAD_FORMAT);
	assert_int_equal(r.off, 0);
	assert_int_equal(mqe2e_rd_vec16(&r, 1, 3, &v), MQE2E_OK);
	assert_int_equal(v.len, 3);
	assert_memory_equal(v.p, "abc", 3);
	assert_true(mqe2e_view_eq_str(v, "abc"));
	assert_false(mqe2e_view_eq_str(v, "ab"));
	assert_int_equal(mqe2e_rd_vec32(&r, 0, 100, &v), MQE2E_OK);
	assert_true(mqe2e_view_eq_str(v, "xy"));
	/* length past the end */
	assert_int_equal(mqe2e_rd_vec16(&r, 0, 100, &v), MQE2E_ERR_TRUNCATED);
	assert_int_equal(r.off, 11);
	assert_int_equal(mqe2e_rd_consumed(&r).len, 11);
}

static void
test_view_to_str(void **state)
{
	static const uint8_t nul[] = { 'a', 0, 'b' };
	struct mqe2e_view v = { (const uint8_t *)"hello", 5 };
	char out[6];

	(void)state;
	assert_int_equal(mqe2e_view_to_str(v, out, sizeof(out)), MQE2E_OK);
	assert_string_equal(out, "hello");
	assert_int_equal(mqe2e_view_to_str(v, out, 5), MQE2E_ERR_TOO_LONG);
	v.p = nul;
	v.len = 3;
	assert_int_equal(mqe2e_view_to_str(v, out, sizeof(out)), MQE2E_ERR_BAD_FORMAT);
}

static void
test_writer_fixed(void **state)
{
	uint8_t buf[16];
	struct mqe2e_writer w;
	static const uint8_t expect[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x00, 0x02,
	    'h', 'i' };

	(void)state;
	mqe2e_wr_init_fixed(&w, buf, sizeof(buf));
	mqe2e_wr_u8(&w, 0x01);
	mqe2e_wr_u16(&w, 0x0203);
	mqe2e_wr_u32(&w, 0x04050607);
	mqe2e_wr_vec16(&w, "hi", 2);
	assert_int_equal(mqe2e_wr_error(&w), MQE2E_OK);
	assert_int_equal(w.len, sizeof(expect));
	assert_memory_equal(buf, expect, sizeof(expect));
	/* overflow is sticky; later puts are no-ops */
	mqe2e_wr_u64(&w, 1);
	assert_int_equal(mqe2e_wr_error(&w), MQE2E_ERR_TOO_LONG);
	mqe2e_wr_u8(&w, 1);
	assert_int_equal(w.len, sizeof(expect));
	assert_null(mqe2e_wr_reserve(&w, 1));
	mqe2e_wr_free(&w);
}

static void
test_writer_grow(void **state)
{
	struct mqe2e_writer w;
	uint8_t *out = NULL, big[300];
	size_t len = 0, i;

	(void)state;
	memset(big, 0x5a, sizeof(big));
	mqe2e_wr_init_grow(&w, 1, 1000);
	for (i = 0; i < 3; i++)
		mqe2e_wr_bytes(&w, big, sizeof(big));
	mqe2e_wr_u64(&w, 0x0102030405060708ULL);
	assert_int_equal(mqe2e_wr_steal(&w, &out, &len), MQE2E_OK);
	assert_int_equal(len, 908);
	assert_int_equal(out[907], 0x08);
	free(out);

	/* past the hard cap */
	mqe2e_wr_init_grow(&w, 0, 10);
	mqe2e_wr_bytes(&w, big, 11);
	assert_int_equal(mqe2e_wr_steal(&w, &out, &len), MQE2E_ERR_TOO_LONG);
	assert_null(out);
	/* empty message */
	mqe2e_wr_init_grow(&w, 0, 10);
	assert_int_equal(mqe2e_wr_steal(&w, &out, &len), MQE2E_OK);
	assert_non_null(out);
	assert_int_equal(len, 0);
	free(out);
	/* vec16 beyond u16 */
	mqe2e_wr_init_grow(&w, 0, 1u << 20);
	mqe2e_wr_vec16(&w, big, 70000);
	assert_int_equal(mqe2e_wr_error(&w), MQE2E_ERR_TOO_LONG);
	mqe2e_wr_free(&w);
	mqe2e_wr_free(&w);
}

static void
test_writer_reader_roundtrip(void **state)
{
	struct mqe2e_writer w;
	struct mqe2e_reader r;
	uint8_t *out = NULL;
	size_t len = 0;
	uint64_t v64;
	uint32_t v32;
	struct mqe2e_view v;

	(void)state;
	mqe2e_wr_init_grow(&w, 0, 1000);
	mqe2e_wr_u64(&w, UINT64_MAX);
	mqe2e_wr_u32(&w, UINT32_MAX);
	mqe2e_wr_vec32(&w, "", 0);
	assert_int_equal(mqe2e_wr_steal(&w, &out, &len), MQE2E_OK);
	mqe2e_rd_init(&r, out, len);
	assert_int_equal(mqe2e_rd_u64(&r, &v64), MQE2E_OK);
	assert_true(v64 == UINT64_MAX);
	assert_int_equal(mqe2e_rd_u32(&r, &v32), MQE2E_OK);
	assert_true(v32 == UINT32_MAX);
	assert_int_equal(mqe2e_rd_vec32(&r, 0, 0, &v), MQE2E_OK);
	assert_int_equal(v.len, 0);
	assert_int_equal(mqe2e_rd_end(&r), MQE2E_OK);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_ints),
		cmocka_unit_test(test_reader_truncation_leaves_reader),
		cmocka_unit_test(test_reader_vec),
		cmocka_unit_test(test_view_to_str),
		cmocka_unit_test(test_writer_fixed),
		cmocka_unit_test(test_writer_grow),
		cmocka_unit_test(test_writer_reader_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
