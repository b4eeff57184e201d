/*
 * check.h - the check macro of the kmsd unit tests (tests/kms/): a failed
 * check prints its file, line and expression and is counted; main ends
 * with `return check_result("test_name");` (0, or 1 after any failure).
 */
#ifndef KMS_TEST_CHECK_H
#define KMS_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		failures++; \
	} \
} while (0)

static inline int
check_result(const char *test)
{
	if (failures == 0)
		return 0;
	fprintf(stderr, "%s: %d failures\n", test, failures);
	return 1;
}

#endif
