/*
 * delta.c - apply a verified broker policy delta to the full policy (see
 * delta.h).  Every field of the delta is checked for its type here; names,
 * filters and schemes are checked when the snapshot is built (policy.c).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "delta.h"

#define DELTA_LIST_MAX 1000000

int
delta__is(const json_t *policy)
{
	return json_is_object(policy) && json_object_get(policy, "since") != NULL;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	    json_string_value(*(json_t *const *)b));
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
	    json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

/* Rebuild arr sorted by cmp without repeats (by cmp). */
static int
sort_unique(json_t *arr, int (*cmp)(const void *, const void *))
{
	size_t n = json_array_size(arr), i, k = 0;
	json_t **v;
	int r = MQE2E_OK;

	if (n < 2)
		return MQE2E_OK;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return MQE2E_ERR_NOMEM;
	for (i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp);
	json_array_clear(arr);
	for (i = 0; i < n; i++) {
		if (k > 0 && cmp(&v[i], &v[i - 1]) == 0) {
			json_decref(v[i]);
			continue;
		}
		if (json_array_append_new(arr, v[i]) != 0)
			r = MQE2E_ERR_NOMEM;
		k++;
	}
	free(v);
	return r;
}

/* An array of strings (or absent: NULL is fine). */
static int
strings_ok(const json_t *a)
{
	size_t i;
	json_t *v;

	if (a == NULL)
		return 1;
	if (!json_is_array(a) || json_array_size(a) > DELTA_LIST_MAX)
		return 0;
	json_array_foreach(a, i, v)
		if (!json_is_string(v))
			return 0;
	return 1;
}

/* Remove from arr (of strings, or of objects with "name") every element
 * named in gone (strings). */
static void
remove_named(json_t *arr, const json_t *gone, int objects)
{
	size_t i, j;
	json_t *g;

	json_array_foreach(gone, j, g) {
		for (i = json_array_size(arr); i > 0; i--) {
			json_t *e = json_array_get(arr, i - 1);
			const char *s = json_string_value(objects ? json_object_get(e, "name") : e);

			if (s != NULL && strcmp(s, json_string_value(g)) == 0)
				json_array_remove(arr, i - 1);
		}
	}
}

int
delta__apply(json_t *base, const json_t *delta)
{
	json_t *bgroups = json_object_get(base, "groups"), *bgrants = json_object_get(base, "grants");
	json_t *bserials = json_object_get(base, "revoked_serials");
	json_t *bclients = json_object_get(base, "revoked_clients");
	const json_t *groups = json_object_get(delta, "groups");
	const json_t *removed = json_object_get(delta, "groups_removed");
	const json_t *grants = json_object_get(delta, "grants");
	const json_t *serials = json_object_get(delta, "revoked_serials");
	const json_t *unrevoked = json_object_get(delta, "revoked_serials_removed");
	const json_t *clients = json_object_get(delta, "revoked_clients");
	const json_t *since = json_object_get(delta, "since");
	const json_t *version = json_object_get(delta, "version");
	const char *client;
	json_t *g, *e;
	size_t i;
	int r;

	if (!json_is_object(base) || !json_is_object(delta) || !json_is_integer(since) ||
	    !json_is_integer(version) || json_integer_value(version) <= json_integer_value(since))
		return MQE2E_ERR_BAD_FORMAT;
	if (!json_is_integer(json_object_get(base, "version")) ||
	    json_integer_value(json_object_get(base, "version")) != json_integer_value(since))
		return MQE2E_ERR_CONFLICT;
	if (!json_is_array(bgroups) || !json_is_object(bgrants) || !json_is_array(bserials) ||
	    !json_is_array(bclients) ||
	    (groups != NULL && (!json_is_array(groups) || json_array_size(groups) > DELTA_LIST_MAX)) ||
	    !strings_ok(removed) || !strings_ok(serials) || !strings_ok(unrevoked) ||
	    !strings_ok(clients) || (grants != NULL && !json_is_object(grants)))
		return MQE2E_ERR_BAD_FORMAT;
	json_array_foreach(groups, i, g)
		if (!json_is_object(g) || !json_is_string(json_object_get(g, "name")))
			return MQE2E_ERR_BAD_FORMAT;
	json_object_foreach((json_t *)grants, client, e) {
		if (!json_is_object(e) || !strings_ok(json_object_get(e, "pub")) ||
		    !strings_ok(json_object_get(e, "sub")))
			return MQE2E_ERR_BAD_FORMAT;
	}
	/* groups: a changed group replaces its entry, a new one is added */
	if (groups != NULL) {
		json_t *names = json_array();

		if (names == NULL)
			return MQE2E_ERR_NOMEM;
		json_array_foreach(groups, i, g)
			json_array_append(names, json_object_get(g, "name"));
		remove_named(bgroups, names, 1);
		json_decref(names);
		json_array_foreach(groups, i, g)
			if (json_array_append_new(bgroups, json_deep_copy(g)) != 0)
				return MQE2E_ERR_NOMEM;
	}
	if (removed != NULL)
		remove_named(bgroups, removed, 1);
	if ((r = sort_unique(bgroups, name_cmp)) != MQE2E_OK)
		return r;
	/* grants: each client named gets its entry as a whole */
	json_object_foreach((json_t *)grants, client, e) {
		if (json_array_size(json_object_get(e, "pub")) == 0 &&
		    json_array_size(json_object_get(e, "sub")) == 0)
			json_object_del(bgrants, client);
		else if (json_object_set_new(bgrants, client, json_deep_copy(e)) != 0)
			return MQE2E_ERR_NOMEM;
	}
	/* revocations */
	if ((serials != NULL && json_array_extend(bserials, (json_t *)serials) != 0) ||
	    (clients != NULL && json_array_extend(bclients, (json_t *)clients) != 0))
		return MQE2E_ERR_NOMEM;
	if (unrevoked != NULL)
		remove_named(bserials, unrevoked, 0);
	if ((r = sort_unique(bserials, str_cmp)) != MQE2E_OK ||
	    (r = sort_unique(bclients, str_cmp)) != MQE2E_OK)
		return r;
	if (json_object_set(base, "version", (json_t *)version) != 0 ||
	    (json_object_get(delta, "issued") != NULL &&
	    json_object_set(base, "issued", json_object_get(delta, "issued")) != 0))
		return MQE2E_ERR_NOMEM;
	return MQE2E_OK;
}
