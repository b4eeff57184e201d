/*
 * fuzz_topic.c - libFuzzer harness: core/topic.c.  The input is two strings
 * separated by the first newline; every check runs on both, and for valid
 * ones the relations must agree with each other (abort otherwise): a filter
 * lies within itself, overlap is symmetric and implied by containment, and
 * for a topic name t and a filter f, within(t, f) == overlap(t, f) ==
 * matches(f, t).
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "topic.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a, *b, *nl;
	int fa, fb, ta;

	if (size > 4096 || (a = malloc(size + 2)) == NULL)
		return 0;
	memcpy(a, data, size);
	a[size] = '\0';
	a[size + 1] = '\0';
	if ((nl = memchr(a, '\n', size)) != NULL)
		*nl = '\0';
	b = nl != NULL ? nl + 1 : a + size + 1;
	fa = mqe2e_topic_filter_check(a, 4096, 0, NULL, 0);
	fb = mqe2e_topic_filter_check(b, 4096, 0, NULL, 0);
	ta = mqe2e_topic_name_check(a, 4096, NULL, 0);
	(void)mqe2e_group_filter_check(a, NULL, 0);
	if (fa && !mqe2e_topic_filter_within(a, a))
		abort();
	if (fa && fb) {
		int ov = mqe2e_topic_filters_overlap(a, b);

		if (ov != mqe2e_topic_filters_overlap(b, a) ||
		    (mqe2e_topic_filter_within(a, b) && !ov))
			abort();
		if (ta && (mqe2e_topic_matches(b, a) != mqe2e_topic_filter_within(a, b) ||
		    mqe2e_topic_matches(b, a) != ov))
			abort();
	}
	free(a);
	return 0;
}
