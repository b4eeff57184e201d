/*
 * broker_unit.c - unit tests of the broker extension's parsers and tables:
 * the policy snapshot parser (valid, malformed and every truncation), the
 * topic-filter containment used for subscriptions, GK_B validity, revoked
 * serial matching, and the session tables (by client and by id, growth,
 * takeover).  The plugin sources are compiled in; the few broker-only
 * symbols are stubbed below, topic matching comes from libmosquitto.
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

#include <mosquitto.h>

#include "plugin.h"

/* ---- broker-only symbols ------------------------------------------------------ */
void mosquitto_log_printf(int level, const char *fmt, ...);
void *mosquitto_malloc(size_t n);
void mosquitto_free(void *p);

void mosquitto_log_printf(int level, const char *fmt, ...)
{
	(void)level;
	(void)fmt;
}

void *mosquitto_malloc(size_t n)
{
	return malloc(n);
}

void mosquitto_free(void *p)
{
	free(p);
}

static const char good[] =
    "{\"version\":12,\"issued\":\"2026-11-25T08:00:00Z\","
    "\"groups\":[{\"name\":\"temps\",\"filter\":\"plant/+/temp\",\"scheme\":4,\"epoch\":3},"
    "{\"name\":\"all\",\"filter\":\"plant/#\",\"scheme\":3,\"epoch\":1}],"
    "\"grants\":{\"sensor-1\":{\"pub\":[\"temps\"],\"sub\":[]},"
    "\"display\":{\"pub\":[],\"sub\":[\"temps\",\"all\",\"gone\"]}},"
    "\"revoked_serials\":[\"4C1F\"],\"revoked_clients\":[\"mallory\"]}";

static struct bx_policy *parse(const char *json, const struct mqe2e_key_entry *k, size_t n)
{
	struct bx_policy *p = NULL;

	assert_int_equal(policy__from_json((const uint8_t *)json, strlen(json), k, n, &p), MQE2E_OK);
	assert_non_null(p);
	return p;
}

static void test_policy_good(void **state)
{
	struct mqe2e_key_entry k[3];
	struct bx_policy *p;
	struct bx_group *g;
	size_t gi = 99;

	(void)state;
	memset(k, 0, sizeof(k));
	snprintf(k[0].group, sizeof(k[0].group), "%s", "temps");
	k[0].kind = MQE2E_GK_B;
	k[0].epoch = 3;
	k[0].not_after_ms = 0;
	snprintf(k[1].group, sizeof(k[1].group), "%s", "temps");
	k[1].kind = MQE2E_GK_P;     /* never used by the broker */
	k[1].epoch = 3;
	snprintf(k[2].group, sizeof(k[2].group), "%s", "temps");
	k[2].kind = MQE2E_GK_B;
	k[2].epoch = 2;
	k[2].not_after_ms = 1000;   /* grace over */
	p = parse(good, k, 3);
	assert_int_equal(p->version, 12);
	assert_int_equal(p->ngroups, 2);
	assert_int_equal(p->ngrants, 2);
	/* first matching group wins */
	g = policy__match(p, "plant/1/temp", &gi);
	assert_non_null(g);
	assert_string_equal(g->name, "temps");
	assert_int_equal(gi, 0);
	g = policy__match(p, "plant/1/hum", &gi);
	assert_non_null(g);
	assert_string_equal(g->name, "all");
	assert_null(policy__match(p, "office/1/temp", &gi));
	/* grants; a grant on a group not in the snapshot grants nothing */
	assert_int_equal(policy__rights(p, "sensor-1", 0), BX_RIGHT_PUB);
	assert_int_equal(policy__rights(p, "sensor-1", 1), 0);
	assert_int_equal(policy__rights(p, "display", 0), BX_RIGHT_SUB);
	assert_int_equal(policy__rights(p, "display", 1), BX_RIGHT_SUB);
	assert_int_equal(policy__rights(p, "nobody", 0), 0);
	assert_int_equal(policy__rights(p, "display", 7), 0);
	/* keys: GK_B only; expired epochs are not used */
	assert_int_equal(p->groups[0].nkeys, 2);
	assert_non_null(policy__key(&p->groups[0], 3, 5000));
	assert_null(policy__key(&p->groups[0], 2, 5000));
	assert_null(policy__key(&p->groups[0], 4, 5000));
	assert_null(policy__key(&p->groups[1], 1, 5000));
	/* revocation: serials without case or leading zeros */
	assert_true(policy__is_revoked_serial(p, "4c1f"));
	assert_true(policy__is_revoked_serial(p, "004C1F"));
	assert_false(policy__is_revoked_serial(p, "4c1f00"));
	assert_false(policy__is_revoked_serial(p, "c1f"));
	assert_true(policy__is_revoked_client(p, "mallory"));
	assert_false(policy__is_revoked_client(p, "mallor"));
	policy__free(p);
	policy__free(NULL);

	/* many revocations, unsorted on the wire: every one is found */
	p = parse("{\"version\":2,\"groups\":[],\"revoked_serials\":[\"ff\",\"0A\",\"01\",\"0\","
	    "\"abc\"],\"revoked_clients\":[\"zed\",\"amy\",\"kim\"]}", NULL, 0);
	assert_true(policy__is_revoked_serial(p, "FF"));
	assert_true(policy__is_revoked_serial(p, "a"));
	assert_true(policy__is_revoked_serial(p, "1"));
	assert_true(policy__is_revoked_serial(p, "00"));
	assert_true(policy__is_revoked_serial(p, "0abc"));
	assert_false(policy__is_revoked_serial(p, "ab"));
	assert_false(policy__is_revoked_serial(p, "xyz"));
	assert_false(policy__is_revoked_serial(p, ""));
	assert_true(policy__is_revoked_client(p, "amy"));
	assert_true(policy__is_revoked_client(p, "kim"));
	assert_true(policy__is_revoked_client(p, "zed"));
	assert_false(policy__is_revoked_client(p, "bob"));
	policy__free(p);
}

static void test_policy_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{}",
		"{\"version\":-1,\"groups\":[]}",
		"{\"version\":\"1\",\"groups\":[]}",
		"{\"version\":1}",
		"{\"version\":1,\"groups\":{}}",
		"{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"a\",\"scheme\":5,\"epoch\":1}]}",
		"{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"a\",\"scheme\":0,\"epoch\":1}]}",
		"{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"a/#/b\",\"scheme\":4,\"epoch\":1}]}",
		"{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"a/b+\",\"scheme\":4,\"epoch\":1}]}",
		"{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"$SYS/#\",\"scheme\":4,\"epoch\":1}]}",
		"{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"\",\"scheme\":4,\"epoch\":1}]}",
		"{\"version\":1,\"groups\":[{\"name\":\"a|b\",\"filter\":\"a\",\"scheme\":4,\"epoch\":1}]}",
		"{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"a\",\"scheme\":4,\"epoch\":-1}]}",
		"{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"a\",\"scheme\":4,\"epoch\":4294967296}]}",
		("{\"version\":1,\"groups\":[{\"name\":\"g\",\"filter\":\"a\",\"scheme\":4,\"epoch\":1},"
		    "{\"name\":\"g\",\"filter\":\"b\",\"scheme\":4,\"epoch\":1}]}"),
		"{\"version\":1,\"groups\":[],\"grants\":[]}",
		"{\"version\":1,\"groups\":[],\"grants\":{\"a b\":{}}}",
		"{\"version\":1,\"groups\":[],\"grants\":{\"a\":[]}}",
		"{\"version\":1,\"groups\":[],\"grants\":{\"a\":{\"pub\":\"x\"}}}",
		"{\"version\":1,\"groups\":[],\"grants\":{\"a\":{\"pub\":[1]}}}",
		"{\"version\":1,\"groups\":[],\"revoked_serials\":\"x\"}",
		"{\"version\":1,\"groups\":[],\"revoked_serials\":[\"\"]}",
		"{\"version\":1,\"groups\":[],\"revoked_serials\":[\"4g\"]}",
		"{\"version\":1,\"groups\":[],\"revoked_clients\":[7]}",
		"{\"version\":1,\"version\":2,\"groups\":[]}",
		"{\"version\":1,\"groups\":[]} x",
	};
	struct bx_policy *p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = (struct bx_policy *)&p;   /* must be reset to NULL */
		if (policy__from_json((const uint8_t *)bad[i], strlen(bad[i]), NULL, 0, &p) == MQE2E_OK)
			fail_msg("accepted: %s", bad[i]);
		assert_null(p);
	}
}

/* Every proper prefix of a valid policy is refused (and nothing leaks). */
static void test_policy_truncated(void **state)
{
	struct bx_policy *p;
	size_t n;

	(void)state;
	for (n = 0; n < strlen(good); n++) {
		p = NULL;
		assert_int_not_equal(policy__from_json((const uint8_t *)good, n, NULL, 0, &p), MQE2E_OK);
		assert_null(p);
	}
}

static void test_filter_within(void **state)
{
	static const struct { const char *sub, *grp; int want; } t[] = {
		{ "plant/1/temp", "plant/+/temp", 1 },
		{ "plant/+/temp", "plant/+/temp", 1 },
		{ "plant/#", "plant/+/temp", 0 },
		{ "plant/+/#", "plant/+/temp", 0 },
		{ "#", "plant/+/temp", 0 },
		{ "+/+/temp", "plant/+/temp", 0 },
		{ "plant/1", "plant/+/temp", 0 },
		{ "plant/1/temp/x", "plant/+/temp", 0 },
		{ "plant/1/temp", "plant/#", 1 },
		{ "plant", "plant/#", 1 },
		{ "plant/#", "plant/#", 1 },
		{ "plant/+", "plant/#", 1 },
		{ "plantx/1", "plant/#", 0 },
		{ "plan", "plant/#", 0 },
		{ "anything/at/all", "#", 1 },
		{ "#", "#", 1 },
		{ "$SYS/x", "#", 0 },
		{ "a", "a", 1 },
		{ "a/", "a", 0 },
		{ "a/", "a/+", 1 },
		{ "a//b", "a/+/b", 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (mqe2e_topic_filter_within(t[i].sub, t[i].grp) != t[i].want)
			fail_msg("filter_within(%s, %s) != %d", t[i].sub, t[i].grp, t[i].want);
	}
}

static void test_sessions(void **state)
{
	struct bx_session *s, *s2;
	static char clients[2000];   /* distinct addresses as client pointers */
	size_t i;

	(void)state;
	assert_int_equal(session__init(), MQE2E_OK);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(session__add((struct mosquitto *)&clients[i], &s), MQE2E_OK);
		snprintf(s->id, sizeof(s->id), "c%zu", i);
		session__index_id(s);
	}
	assert_int_equal(session__count(), 1000);
	for (i = 0; i < 1000; i++) {
		char id[32];

		s = session__find((struct mosquitto *)&clients[i]);
		assert_non_null(s);
		snprintf(id, sizeof(id), "c%zu", i);
		assert_string_equal(s->id, id);
		assert_ptr_equal(session__find_id(id), s);
	}
	assert_null(session__find((struct mosquitto *)&clients[1500]));
	assert_null(session__find_id("c1000"));
	/* takeover: a second connection with the same id wins the id index */
	assert_int_equal(session__add((struct mosquitto *)&clients[1500], &s2), MQE2E_OK);
	snprintf(s2->id, sizeof(s2->id), "%s", "c7");
	session__index_id(s2);
	assert_ptr_equal(session__find_id("c7"), s2);
	session__remove((struct mosquitto *)&clients[7]);     /* old one's DISCONNECT */
	assert_ptr_equal(session__find_id("c7"), s2);
	session__remove((struct mosquitto *)&clients[1500]);
	assert_null(session__find_id("c7"));
	/* re-adding replaces */
	assert_int_equal(session__add((struct mosquitto *)&clients[3], &s), MQE2E_OK);
	assert_null(session__find_id("c3"));
	assert_int_equal(session__count(), 999);
	for (i = 0; i < 1000; i++)
		session__remove((struct mosquitto *)&clients[i]);
	assert_int_equal(session__count(), 0);
	session__cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_good),
		cmocka_unit_test(test_policy_malformed),
		cmocka_unit_test(test_policy_truncated),
		cmocka_unit_test(test_filter_within),
		cmocka_unit_test(test_sessions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
