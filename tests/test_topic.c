/*
 * test_topic.c - core/topic.c: topic name and filter validation, matching,
 * containment and overlap.  Known cases from MQTT 5 section 4.7, then every
 * pair of small filters checked against brute force over all small topics.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "topic.h"

static int
filter_ok(const char *f)
{
	return mqe2e_topic_filter_check(f, MQE2E_FILTER_MAX, 0, NULL, 0);
}

static void
test_filter_check(void **state)
{
	static const char *good[] = { "a", "a/b", "#", "+", "a/#", "a/+/c", "+/+", "/", "//",
		"a//b", "/#", "caf\xc3\xa9/+", "$SYS/#", "+/#" };
	static const char *bad[] = { "", "a#", "a/b#", "#/a", "a/#/b", "a+", "a/+b", "+a/b",
		"a/\x01", "a\x7f", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc2\x85",
		"\xe2\x82" };
	char why[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(filter_ok(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		assert_false(mqe2e_topic_filter_check(bad[i], MQE2E_FILTER_MAX, 0, why,
		    sizeof(why)));
		assert_true(why[0] != '\0');
	}
	assert_false(mqe2e_topic_filter_check(NULL, 10, 0, NULL, 0));
	assert_false(mqe2e_topic_filter_check("$SYS/#", 100, MQE2E_TOPIC_NO_DOLLAR, why,
	    sizeof(why)));
	assert_non_null(strstr(why, "'$'"));
	assert_true(mqe2e_topic_filter_check("abcd", 4, 0, NULL, 0));
	assert_false(mqe2e_topic_filter_check("abcde", 4, 0, why, sizeof(why)));
	assert_non_null(strstr(why, "longer than 4"));
	/* the reasons name the rule */
	assert_false(mqe2e_topic_filter_check("a/#/b", 100, 0, why, sizeof(why)));
	assert_non_null(strstr(why, "last"));
	assert_false(mqe2e_topic_filter_check("a/b+", 100, 0, why, sizeof(why)));
	assert_non_null(strstr(why, "'+'"));
}

static void
test_name_check(void **state)
{
	char why[128];

	(void)state;
	assert_true(mqe2e_topic_name_check("plant/1/temp", 65535, NULL, 0));
	assert_true(mqe2e_topic_name_check("/", 65535, NULL, 0));
	assert_true(mqe2e_topic_name_check("$SYS/x", 65535, NULL, 0));
	assert_false(mqe2e_topic_name_check("", 65535, why, sizeof(why)));
	assert_non_null(strstr(why, "empty"));
	assert_false(mqe2e_topic_name_check("plant/+/temp", 65535, why, sizeof(why)));
	assert_non_null(strstr(why, "'+' or '#'"));
	assert_false(mqe2e_topic_name_check("plant/#", 65535, NULL, 0));
	assert_false(mqe2e_topic_name_check("a\xff", 65535, why, sizeof(why)));
	assert_non_null(strstr(why, "UTF-8"));
	assert_false(mqe2e_topic_name_check("abc", 2, NULL, 0));
}

static void
test_matches_known(void **state)
{
	(void)state;
	/* MQTT 5 section 4.7.1 examples */
	assert_true(mqe2e_topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
	assert_true(mqe2e_topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
	assert_true(mqe2e_topic_matches("sport/tennis/player1/#",
	    "sport/tennis/player1/score/wimbledon"));
	assert_true(mqe2e_topic_matches("sport/#", "sport"));
	assert_true(mqe2e_topic_matches("sport/tennis/+", "sport/tennis/player1"));
	assert_false(mqe2e_topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
	assert_false(mqe2e_topic_matches("sport/+", "sport"));
	assert_true(mqe2e_topic_matches("sport/+", "sport/"));
	assert_true(mqe2e_topic_matches("+/+", "/finance"));
	assert_true(mqe2e_topic_matches("/+", "/finance"));
	assert_false(mqe2e_topic_matches("+", "/finance"));
	/* 4.7.2: wildcards at the first level skip $-topics */
	assert_false(mqe2e_topic_matches("#", "$SYS/x"));
	assert_false(mqe2e_topic_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
	assert_true(mqe2e_topic_matches("$SYS/#", "$SYS/monitor/Clients"));
	assert_true(mqe2e_topic_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
	assert_false(mqe2e_topic_matches("plant", "plant2"));
	assert_false(mqe2e_topic_matches("plant2", "plant"));
	assert_true(mqe2e_topic_matches("a//b", "a//b"));
	assert_false(mqe2e_topic_matches("a/b", "a//b"));
}

static void
test_within_overlap_known(void **state)
{
	(void)state;
	assert_true(mqe2e_topic_filter_within("plant/1/#", "plant/#"));
	assert_true(mqe2e_topic_filter_within("plant/+/temp", "plant/#"));
	assert_true(mqe2e_topic_filter_within("plant", "plant/#"));
	assert_false(mqe2e_topic_filter_within("plant/#", "plant/+"));
	assert_false(mqe2e_topic_filter_within("#", "plant/#"));
	assert_false(mqe2e_topic_filter_within("$SYS/x", "#"));
	assert_true(mqe2e_topic_filters_overlap("plant/#", "plant/#"));
	assert_true(mqe2e_topic_filters_overlap("plant/#", "plant"));
	assert_true(mqe2e_topic_filters_overlap("a/+/c", "a/b/#"));
	assert_true(mqe2e_topic_filters_overlap("+/x", "y/+"));
	assert_false(mqe2e_topic_filters_overlap("plant/#", "plant2/#"));
	assert_false(mqe2e_topic_filters_overlap("a/+", "a/b/c"));
	assert_false(mqe2e_topic_filters_overlap("#", "$SYS/#"));
	assert_false(mqe2e_topic_filters_overlap("s1/t", "s3/t"));
}

/* Brute force: every filter of up to 3 levels over {a, b, $s, +, #} and
 * every topic of up to 4 levels over {a, b, c, $s, ""} ("c" and "" stand
 * for every level no filter names). */
#define NF 200
#define NT 1200

static const char *flev[] = { "a", "b", "$s", "+", "#" };
static const char *tlev[] = { "a", "b", "c", "$s", "" };

static size_t
gen(const char **lev, size_t nlev, size_t depth, int filters, char out[][32], size_t max)
{
	size_t n = 0, d, i, start = 0, end;

	/* level 1 */
	for (i = 0; i < nlev; i++)
		snprintf(out[n++], 32, "%s", lev[i]);
	for (d = 2; d <= depth; d++) {
		end = n;
		for (; start < end; start++) {
			size_t len = strlen(out[start]);

			if (filters && len > 0 && out[start][len - 1] == '#')
				continue;
			for (i = 0; i < nlev; i++) {
				if (!strcmp(lev[i], "$s"))
					continue;   /* '$' only leads */
				assert_true(n < max);
				snprintf(out[n++], 32, "%s/%s", out[start], lev[i]);
			}
		}
	}
	return n;
}

static void
test_brute_force(void **state)
{
	static char f[NF][32], t[NT][32];
	size_t nf, nt, i, j, k, checked = 0;

	(void)state;
	nf = gen(flev, 5, 3, 1, f, NF);
	nt = gen(tlev, 5, 4, 0, t, NT);
	for (i = 0; i < nf; i++)
		assert_true(filter_ok(f[i]));
	for (i = 0; i < nf; i++) {
		for (j = 0; j < nf; j++) {
			int within = 1, overlap = 0;

			for (k = 0; k < nt; k++) {
				int mi = mqe2e_topic_matches(f[i], t[k]);
				int mj = mqe2e_topic_matches(f[j], t[k]);

				if (mi && !mj)
					within = 0;
				if (mi && mj)
					overlap = 1;
			}
			if (mqe2e_topic_filter_within(f[i], f[j]) != within ||
			    mqe2e_topic_filters_overlap(f[i], f[j]) != overlap)
				fail_msg("'%s' vs '%s': within %d (expected %d), overlap %d "
				    "(expected %d)", f[i], f[j],
				    mqe2e_topic_filter_within(f[i], f[j]), within,
				    mqe2e_topic_filters_overlap(f[i], f[j]), overlap);
			assert_int_equal(mqe2e_topic_filters_overlap(f[j], f[i]), overlap);
			checked++;
		}
	}
	assert_true(checked > 4000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_filter_check),
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_matches_known),
		cmocka_unit_test(test_within_overlap_known),
		cmocka_unit_test(test_brute_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
