/*
 * test_validate.c - unit tests of names and MQTT topic filters.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "check.h"
#include "validate.h"


static void
test_names(void)
{
	char longname[KMS_NAME_MAX + 2];

	CHECK(kms_name_valid("sensor-1"));
	CHECK(kms_name_valid("a"));
	CHECK(kms_name_valid("A.b_c-9"));
	CHECK(!kms_name_valid(""));
	CHECK(!kms_name_valid(NULL));
	CHECK(!kms_name_valid(".hidden"));
	CHECK(!kms_name_valid("-opt"));
	CHECK(!kms_name_valid("a/b"));
	CHECK(!kms_name_valid("a b"));
	CHECK(!kms_name_valid("a|b"));
	CHECK(!kms_name_valid("caf\xc3\xa9"));
	memset(longname, 'x', KMS_NAME_MAX);
	longname[KMS_NAME_MAX] = '\0';
	CHECK(kms_name_valid(longname));
	longname[KMS_NAME_MAX] = 'x';
	longname[KMS_NAME_MAX + 1] = '\0';
	CHECK(!kms_name_valid(longname));
}

static void
test_filters(void)
{
	static const char *const good[] = {
		"a", "a/b/c", "#", "+", "+/+", "a/+/c", "a/#", "+/#", "/", "a//b", "/a",
		"plant/+/temp", "caf\xc3\xa9/\xe2\x82\xac", "a/b/",
	};
	static const char *const bad[] = {
		"", "a#", "a/b#", "#/a", "a/#/b", "a+", "+a", "a/b+/c", "$SYS/#", "$x",
		"a\001b", "a\x7f", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xff", "a/\xe2\x82", "##", "++",
	};
	char why[128], big[KMS_FILTER_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!mqe2e_group_filter_check(good[i], why, sizeof(why))) {
			fprintf(stderr, "good filter %zu rejected: %s\n", i, why);
			failures++;
		}
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (mqe2e_group_filter_check(bad[i], why, sizeof(why))) {
			fprintf(stderr, "bad filter %zu accepted\n", i);
			failures++;
		}
		CHECK(why[0] != '\0');
	}
	CHECK(!mqe2e_group_filter_check(NULL, NULL, 0));
	memset(big, 'a', KMS_FILTER_MAX);
	big[KMS_FILTER_MAX] = '\0';
	CHECK(mqe2e_group_filter_check(big, NULL, 0));
	big[KMS_FILTER_MAX] = 'a';
	big[KMS_FILTER_MAX + 1] = '\0';
	CHECK(!mqe2e_group_filter_check(big, NULL, 0));
}

int
main(void)
{
	test_names();
	test_filters();
	return check_result("test_validate");
}
