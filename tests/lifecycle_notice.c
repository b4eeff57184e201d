/*
 * lifecycle_notice.c - REKEY_NOTICE (core/notice.h, docs/PROTOCOL.md
 * section 12): the known-answer vector, round trips, every truncation, bad
 * version/type/trailing bytes, every flipped bit of the framed notice, a
 * notice moved to another group's topic, another sender, a wrong key and a
 * stale timestamp.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "notice.h"
#include "wire.h"

#define TS 1767225600000ull      /* 2026-01-01T00:00:00Z */

/* The vector of docs/PROTOCOL.md 12.3: b2c = 32 x 0x22, broker "broker1",
 * seq 5, group "plant1", epoch 8, policy version 12, ts TS. */
static const char vector_hex[] =
    "012003000000000000000762726f6b65723100000000000000050000001e0160"
    "0006706c616e743100000008000000000000000c0000019b76daa800"
    "39f249f42e02be3cc9203fa616412db5";

static struct mqe2e_mac *
b2c_key(uint8_t fill)
{
	uint8_t k[32];
	struct mqe2e_mac *m = NULL;

	memset(k, fill, sizeof(k));
	assert_int_equal(mqe2e_mac_new(k, sizeof(k), &m), MQE2E_OK);
	return m;
}

static void
notice_init(struct mqe2e_rekey_notice *n, const char *group)
{
	memset(n, 0, sizeof(*n));
	memcpy(n->group, group, strlen(group) + 1);
	n->epoch = 8;
	n->policy_version = 12;
	n->ts_ms = TS;
}

static void
to_hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static void
test_vector_and_open(void **state)
{
	struct mqe2e_mac *k = b2c_key(0x22);
	struct mqe2e_rekey_notice n, got;
	uint8_t buf[512];
	char hex[1100], topic[MQE2E_REKEY_TOPIC_MAX];
	size_t len = 0;
	uint64_t seq = 0;

	(void)state;
	notice_init(&n, "plant1");
	assert_int_equal(mqe2e_rekey_notice_seal(k, "broker1", 5, &n, buf, sizeof(buf), &len),
	    MQE2E_OK);
	assert_int_equal(len, mqe2e_rekey_notice_size(&n, "broker1"));
	to_hex(buf, len, hex);
	if (getenv("PRINT") != NULL)
		printf("rekey_notice = %s\n", hex);
	assert_string_equal(hex, vector_hex);
	assert_int_equal(mqe2e_rekey_topic("plant1", topic, sizeof(topic)), MQE2E_OK);
	assert_string_equal(topic, "mqe2e/v1/rekey/plant1");
	assert_string_equal(mqe2e_rekey_topic_group(topic), "plant1");
	assert_null(mqe2e_rekey_topic_group("mqe2e/v1/rekey/"));
	assert_null(mqe2e_rekey_topic_group("mqe2e/v1/rekey/a b"));
	assert_null(mqe2e_rekey_topic_group("mqe2e/v1/roster/plant1"));
	assert_int_equal(mqe2e_rekey_notice_open(k, "broker1", topic, buf, len, TS + 1000,
	    120000, &got, &seq), MQE2E_OK);
	assert_string_equal(got.group, "plant1");
	assert_int_equal(got.epoch, 8);
	assert_int_equal(got.policy_version, 12);
	assert_int_equal(got.ts_ms, TS);
	assert_int_equal(seq, 5);
	mqe2e_mac_free(k);
}

static void
test_attacks(void **state)
{
	struct mqe2e_mac *k = b2c_key(0x22), *other = b2c_key(0x23);
	struct mqe2e_frame_params fp;
	struct mqe2e_rekey_notice n, got;
	uint8_t buf[512], body[300];
	const char *topic = "mqe2e/v1/rekey/plant1";
	size_t len = 0, blen = 0, i;
	int bit;

	(void)state;
	notice_init(&n, "plant1");
	assert_int_equal(mqe2e_rekey_notice_seal(k, "broker1", 5, &n, buf, sizeof(buf), &len),
	    MQE2E_OK);
	/* every flipped bit is refused */
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			assert_int_not_equal(mqe2e_rekey_notice_open(k, "broker1", topic, buf, len,
			    TS, 120000, &got, NULL), MQE2E_OK);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* every truncation is refused */
	for (i = 0; i < len; i++)
		assert_int_not_equal(mqe2e_rekey_notice_open(k, "broker1", topic, buf, i, TS,
		    120000, &got, NULL), MQE2E_OK);
	/* another group's topic, another sender, another key, stale */
	assert_int_equal(mqe2e_rekey_notice_open(k, "broker1", "mqe2e/v1/rekey/plant2", buf, len,
	    TS, 120000, &got, NULL), MQE2E_ERR_BAD_TAG);
	assert_int_equal(mqe2e_rekey_notice_open(k, "broker2", topic, buf, len, TS, 120000, &got,
	    NULL), MQE2E_ERR_BAD_FORMAT);
	assert_int_equal(mqe2e_rekey_notice_open(other, "broker1", topic, buf, len, TS, 120000,
	    &got, NULL), MQE2E_ERR_BAD_TAG);
	assert_int_equal(mqe2e_rekey_notice_open(k, "broker1", topic, buf, len, TS + 120001,
	    120000, &got, NULL), MQE2E_ERR_CLOCK_SKEW);
	assert_int_equal(mqe2e_rekey_notice_open(k, "broker1", "e2e/x", buf, len, TS, 120000,
	    &got, NULL), MQE2E_ERR_BAD_FORMAT);
	/* a genuine MAC over a notice of group plant1 on plant2's topic */
	assert_int_equal(mqe2e_rekey_notice_encode(&n, body, sizeof(body), &blen), MQE2E_OK);
	memset(&fp, 0, sizeof(fp));
	fp.key_kind = MQE2E_KEY_SESSION;
	fp.key_name = "";
	fp.sender = "broker1";
	fp.seq = 6;
	assert_int_equal(mqe2e_frame_mac_build(k, &fp, "mqe2e/v1/rekey/plant2", 21, body, blen,
	    buf, sizeof(buf), &len), MQE2E_OK);
	assert_int_equal(mqe2e_rekey_notice_open(k, "broker1", "mqe2e/v1/rekey/plant2", buf, len,
	    TS, 120000, &got, NULL), MQE2E_ERR_BAD_FORMAT);
	/* a group-key frame is not a notice */
	fp.key_kind = MQE2E_KEY_GROUP;
	fp.key_name = "plant2";
	fp.epoch = 8;
	assert_int_equal(mqe2e_frame_mac_build(k, &fp, "mqe2e/v1/rekey/plant2", 21, body, blen,
	    buf, sizeof(buf), &len), MQE2E_OK);
	assert_int_equal(mqe2e_rekey_notice_open(k, "broker1", "mqe2e/v1/rekey/plant2", buf, len,
	    TS, 120000, &got, NULL), MQE2E_ERR_BAD_FORMAT);
	mqe2e_mac_free(k);
	mqe2e_mac_free(other);
}

static void
test_body_parser(void **state)
{
	struct mqe2e_rekey_notice n, got;
	uint8_t body[300], big[300];
	size_t blen = 0, i;

	(void)state;
	notice_init(&n, "g");
	assert_int_equal(mqe2e_rekey_notice_encode(&n, body, sizeof(body), &blen), MQE2E_OK);
	assert_int_equal(blen, mqe2e_rekey_notice_body_size("g"));
	assert_int_equal(mqe2e_rekey_notice_decode(body, blen, &got), MQE2E_OK);
	for (i = 0; i < blen; i++)
		assert_int_equal(mqe2e_rekey_notice_decode(body, i, &got), MQE2E_ERR_TRUNCATED);
	memcpy(big, body, blen);
	big[blen] = 0;
	assert_int_equal(mqe2e_rekey_notice_decode(big, blen + 1, &got), MQE2E_ERR_TRAILING);
	big[0] = 2;
	assert_int_equal(mqe2e_rekey_notice_decode(big, blen, &got), MQE2E_ERR_BAD_VERSION);
	big[0] = 1;
	big[1] = 0x50;
	assert_int_equal(mqe2e_rekey_notice_decode(big, blen, &got), MQE2E_ERR_BAD_TYPE);
	memcpy(big, body, blen);
	big[4] = ' ';                   /* the group "g" becomes " " */
	assert_int_equal(mqe2e_rekey_notice_decode(big, blen, &got), MQE2E_ERR_BAD_FORMAT);
	big[3] = 0;                     /* empty group */
	assert_int_not_equal(mqe2e_rekey_notice_decode(big, blen, &got), MQE2E_OK);
	assert_int_equal(mqe2e_rekey_notice_encode(&n, body, blen - 1, &blen), MQE2E_ERR_TOO_LONG);
	notice_init(&n, "bad group");
	assert_int_equal(mqe2e_rekey_notice_encode(&n, body, sizeof(body), &blen),
	    MQE2E_ERR_INVALID_ARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_and_open),
		cmocka_unit_test(test_attacks),
		cmocka_unit_test(test_body_parser),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
