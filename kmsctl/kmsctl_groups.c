/*
 * kmsctl_groups.c - the "group" and "grant" nouns of mqe2e-kmsctl: topic
 * groups (filter, scheme, key schedule), manual rotation, and the
 * publish/subscribe grants of clients on groups.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmsctl.h"
#include "validate.h"

#define PATH_MAX_LEN 512

static const char *const group_keys[] = {
	"name", "filter", "scheme", "rotate_s", "grace_s", "future_epochs", "created",
	"current_epoch", "last_rotation", "next_rotation", NULL
};

/* A table under a blank line, if obj has a non-empty array under key. */
static void
show_table(const json_t *obj, const char *key, const char *const *cols)
{
	const json_t *a = json_object_get(obj, key);

	if (json_is_array(a) && json_array_size(a) > 0) {
		putchar('\n');
		kmsctl__print_table(a, cols);
	}
}

/* One group: key/value lines, then its epochs, members (grants) and the
 * revocations that forced a rekey, as tables when present. */
static void
show_group(const struct kmsctl *k, const json_t *obj)
{
	static const char *const epoch_cols[] = {
		"epoch", "state", "cause", "created", "activated", "expires", NULL
	};
	static const char *const member_cols[] = { "client", "rights", NULL };
	static const char *const rekey_cols[] = { "epoch", "client", "at", "reason", NULL };

	if (k->json) {
		kmsctl__print_json(obj);
		return;
	}
	kmsctl__print_object(obj, group_keys);
	show_table(obj, "epochs", epoch_cols);
	show_table(obj, "members", member_cols);
	show_table(obj, "revocations", rekey_cols);
}

/* Add the schedule/filter/scheme options that were given to body. */
static int
group_fields(const struct kmsctl_args *a, json_t *body)
{
	const char *filter = kmsctl__opt(a, "filter"), *scheme = kmsctl__opt(a, "scheme");
	const char *rotate = kmsctl__opt(a, "rotate"), *grace = kmsctl__opt(a, "grace");
	const char *future = kmsctl__opt(a, "future-epochs");
	long long v;
	int r = 0;

	if (filter != NULL) {
		char why[128];

		if (!mqe2e_group_filter_check(filter, why, sizeof(why))) {
			kmsctl__err("--filter \"%s\": %s", filter, why);
			return KMSCTL_EXIT_USAGE;
		}
		r |= json_object_set_new(body, "filter", json_string(filter));
	}
	if (scheme != NULL) {
		if (kmsctl__number("--scheme", scheme, 1, 4, &v) != 0)
			return KMSCTL_EXIT_USAGE;
		r |= json_object_set_new(body, "scheme", json_integer(v));
	}
	if (rotate != NULL) {
		if (kmsctl__number("--rotate", rotate, KMS_ROTATE_MIN_S, KMS_PERIOD_MAX_S, &v) != 0)
			return KMSCTL_EXIT_USAGE;
		r |= json_object_set_new(body, "rotate_s", json_integer(v));
	}
	if (grace != NULL) {
		if (kmsctl__number("--grace", grace, 0, KMS_PERIOD_MAX_S, &v) != 0)
			return KMSCTL_EXIT_USAGE;
		r |= json_object_set_new(body, "grace_s", json_integer(v));
	}
	if (future != NULL) {
		if (kmsctl__number("--future-epochs", future, 0, KMS_FUTURE_EPOCHS_MAX, &v) != 0)
			return KMSCTL_EXIT_USAGE;
		r |= json_object_set_new(body, "future_epochs", json_integer(v));
	}
	if (r != 0) {
		kmsctl__err("--filter must be UTF-8 text");
		return KMSCTL_EXIT_USAGE;
	}
	return KMSCTL_EXIT_OK;
}

#define IMPORT_BATCH 400              /* groups per request */
#define IMPORT_BODY_MAX (48u * 1024u)  /* bytes per request (the KMS takes 64 KiB) */
#define IMPORT_LINE_MAX 4096

/* POST one batch of group objects; empties it. */
static int
import_send(struct kmsctl *k, json_t *batch, size_t *created)
{
	json_t *body = json_pack("{s:O}", "groups", batch), *res = NULL;
	char what[96];
	int r;

	if (body == NULL) {
		kmsctl__err("out of memory");
		return KMSCTL_EXIT_FILE;
	}
	snprintf(what, sizeof(what), "create %zu groups (after %zu)", json_array_size(batch),
	    *created);
	if ((r = kmsctl__call(k, "POST", "/v1/groups", body, what, &res)) == KMSCTL_EXIT_OK)
		*created += (size_t)json_integer_value(json_object_get(res, "created"));
	json_decref(body);
	json_decref(res);
	json_array_clear(batch);
	return r;
}

/* group import FILE: one group object per line (as the body of POST
 * /v1/groups), created in batches of one transaction each. */
static int
cmd_group_import(struct kmsctl *k, const struct kmsctl_args *a)
{
	const char *path = a->pos[0];
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	json_t *batch = json_array(), *g;
	json_error_t jerr;
	char line[IMPORT_LINE_MAX + 2];
	size_t lineno = 0, created = 0, bytes = 0, len;
	int r = KMSCTL_EXIT_OK;

	if (f == NULL || batch == NULL) {
		kmsctl__err("group import: cannot open '%s': %s", path, strerror(errno));
		json_decref(batch);
		return KMSCTL_EXIT_FILE;
	}
	while (r == KMSCTL_EXIT_OK && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((len = strlen(line)) > IMPORT_LINE_MAX) {
			kmsctl__err("%s:%zu: a line longer than %u bytes", path, lineno,
			    IMPORT_LINE_MAX);
			r = KMSCTL_EXIT_USAGE;
			break;
		}
		if (strspn(line, " \t\r\n") == len)
			continue;
		if ((g = json_loads(line, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
		    !json_is_object(g)) {
			kmsctl__err("%s:%zu: not a JSON group object (%s); expected e.g. "
			    "{\"name\":\"temps\",\"filter\":\"plant/+/temp\",\"scheme\":4}", path, lineno,
			    g == NULL ? jerr.text : "another JSON value");
			json_decref(g);
			r = KMSCTL_EXIT_USAGE;
			break;
		}
		if (json_array_size(batch) > 0 && (json_array_size(batch) == IMPORT_BATCH ||
		    bytes + len > IMPORT_BODY_MAX)) {
			r = import_send(k, batch, &created);
			bytes = 0;
		}
		bytes += len;
		if (json_array_append_new(batch, g) != 0) {
			kmsctl__err("out of memory");
			r = KMSCTL_EXIT_FILE;
		}
	}
	if (r == KMSCTL_EXIT_OK && ferror(f)) {
		kmsctl__err("group import: cannot read '%s': %s", path, strerror(errno));
		r = KMSCTL_EXIT_FILE;
	}
	if (r == KMSCTL_EXIT_OK && json_array_size(batch) > 0)
		r = import_send(k, batch, &created);
	if (f != stdin)
		fclose(f);
	json_decref(batch);
	if (r == KMSCTL_EXIT_OK)
		printf("created %zu groups\n", created);
	else if (created > 0)
		kmsctl__err("group import: %zu groups were created before the failure", created);
	return r;
}

static int
cmd_group_add(struct kmsctl *k, const struct kmsctl_args *a)
{
	const char *name = a->pos[0];
	json_t *body = NULL, *res = NULL;
	char what[128];
	int r;

	if (!kmsctl__name_ok("group", name))
		return KMSCTL_EXIT_USAGE;
	if (kmsctl__opt(a, "filter") == NULL || kmsctl__opt(a, "scheme") == NULL) {
		kmsctl__err("group add: --filter F and --scheme N are required "
		    "(e.g. group add temps --filter 'plant/+/temp' --scheme 4)");
		return KMSCTL_EXIT_USAGE;
	}
	if ((body = json_pack("{s:s}", "name", name)) == NULL) {
		kmsctl__err("out of memory");
		return KMSCTL_EXIT_FILE;
	}
	if ((r = group_fields(a, body)) != KMSCTL_EXIT_OK)
		goto out;
	snprintf(what, sizeof(what), "create group '%s'", name);
	if ((r = kmsctl__call(k, "POST", "/v1/groups", body, what, &res)) == KMSCTL_EXIT_OK)
		show_group(k, res);
out:
	json_decref(body);
	json_decref(res);
	return r;
}

static int
cmd_group_list(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const cols[] = {
		"name", "filter", "scheme", "rotate_s", "grace_s", "current_epoch", NULL
	};

	(void)a;
	return kmsctl__list_print(k, "/v1/groups", "list groups", cols);
}

/* show, update and rotate: one group by name. */
static int
one_group(struct kmsctl *k, const struct kmsctl_args *a, const char *method,
    const char *suffix, json_t *body, const char *verb)
{
	const char *name = a->pos[0];
	char path[PATH_MAX_LEN], what[128];
	json_t *res = NULL;
	int r;

	if (!kmsctl__name_ok("group", name))
		return KMSCTL_EXIT_USAGE;
	snprintf(path, sizeof(path), "/v1/groups/%s%s", name, suffix);
	snprintf(what, sizeof(what), "%s group '%s'", verb, name);
	if ((r = kmsctl__call(k, method, path, body, what, &res)) != KMSCTL_EXIT_OK)
		return r;
	show_group(k, res);
	json_decref(res);
	return KMSCTL_EXIT_OK;
}

static int
cmd_group_show(struct kmsctl *k, const struct kmsctl_args *a)
{
	return one_group(k, a, "GET", "", NULL, "show");
}

static int
cmd_group_rotate(struct kmsctl *k, const struct kmsctl_args *a)
{
	json_t *body = json_object();
	int r;

	if (body == NULL) {
		kmsctl__err("out of memory");
		return KMSCTL_EXIT_FILE;
	}
	r = one_group(k, a, "POST", "/rotate", body, "rotate");
	json_decref(body);
	return r;
}

static int
cmd_group_update(struct kmsctl *k, const struct kmsctl_args *a)
{
	json_t *body = json_object();
	int r;

	if (body == NULL) {
		kmsctl__err("out of memory");
		return KMSCTL_EXIT_FILE;
	}
	if ((r = group_fields(a, body)) != KMSCTL_EXIT_OK)
		goto out;
	if (json_object_size(body) == 0) {
		kmsctl__err("group update: nothing to change; give --filter, --scheme, --rotate, "
		    "--grace or --future-epochs");
		r = KMSCTL_EXIT_USAGE;
		goto out;
	}
	r = one_group(k, a, "PATCH", "", body, "update");
out:
	json_decref(body);
	return r;
}

static int
cmd_group_delete(struct kmsctl *k, const struct kmsctl_args *a)
{
	const char *name = a->pos[0];
	int force = kmsctl__opt(a, "force") != NULL;
	char path[PATH_MAX_LEN], what[128];
	json_t *res = NULL;
	int r;

	if (!kmsctl__name_ok("group", name))
		return KMSCTL_EXIT_USAGE;
	snprintf(path, sizeof(path), "/v1/groups/%s%s", name, force ? "?force=true" : "");
	snprintf(what, sizeof(what), "delete group '%s'", name);
	if ((r = kmsctl__call(k, "DELETE", path, NULL, what, &res)) != KMSCTL_EXIT_OK)
		return r;
	if (k->json)
		kmsctl__print_json(res);
	else
		printf("deleted: group %s, its keys destroyed, %lld grant(s) removed; the broker "
		    "drops its retained messages\n", name,
		    (long long)json_integer_value(json_object_get(res, "grants_removed")));
	json_decref(res);
	return KMSCTL_EXIT_OK;
}

/* ---- grants ------------------------------------------------------------------------ */

static int
right_ok(const char *right)
{
	if (strcmp(right, "pub") == 0 || strcmp(right, "sub") == 0)
		return 1;
	kmsctl__err("the right must be pub or sub, not \"%s\"", right);
	return 0;
}

static int
cmd_grant_add(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const keys[] = { "client", "group", "right", "created", NULL };
	const char *client = a->pos[0], *group = a->pos[1], *right = a->pos[2];
	json_t *body = NULL;
	char what[200];
	int r;

	if (!kmsctl__name_ok("client", client) || !kmsctl__name_ok("group", group) ||
	    !right_ok(right))
		return KMSCTL_EXIT_USAGE;
	body = json_pack("{s:s,s:s,s:s}", "client", client, "group", group, "right", right);
	if (body == NULL) {
		kmsctl__err("out of memory");
		return KMSCTL_EXIT_FILE;
	}
	snprintf(what, sizeof(what), "grant %s on '%s' to '%s'", right, group, client);
	r = kmsctl__call_print(k, "POST", "/v1/grants", body, what, keys);
	json_decref(body);
	return r;
}

static int
cmd_grant_rm(struct kmsctl *k, const struct kmsctl_args *a)
{
	const char *client = a->pos[0], *group = a->pos[1], *right = a->pos[2];
	char path[PATH_MAX_LEN], what[200];
	json_t *res = NULL;
	int r;

	if (!kmsctl__name_ok("client", client) || !kmsctl__name_ok("group", group) ||
	    !right_ok(right))
		return KMSCTL_EXIT_USAGE;
	snprintf(path, sizeof(path), "/v1/grants/%s/%s/%s", client, group, right);
	snprintf(what, sizeof(what), "remove the %s grant on '%s' from '%s'", right, group, client);
	if ((r = kmsctl__call(k, "DELETE", path, NULL, what, &res)) != KMSCTL_EXIT_OK)
		return r;
	if (k->json)
		kmsctl__print_json(res);
	else
		printf("removed: %s may no longer %s on %s (keys already held stay valid until the "
		    "group rotates)\n", client, strcmp(right, "pub") == 0 ? "publish" : "subscribe",
		    group);
	json_decref(res);
	return KMSCTL_EXIT_OK;
}

static int
cmd_grant_list(struct kmsctl *k, const struct kmsctl_args *a)
{
	static const char *const cols[] = { "client", "group", "right", "created", NULL };
	const char *client = kmsctl__opt(a, "client"), *group = kmsctl__opt(a, "group");
	char path[PATH_MAX_LEN];

	if ((client != NULL && !kmsctl__name_ok("client", client)) ||
	    (group != NULL && !kmsctl__name_ok("group", group)))
		return KMSCTL_EXIT_USAGE;
	if (client != NULL && group != NULL)
		snprintf(path, sizeof(path), "/v1/grants?client=%s&group=%s", client, group);
	else if (client != NULL)
		snprintf(path, sizeof(path), "/v1/grants?client=%s", client);
	else if (group != NULL)
		snprintf(path, sizeof(path), "/v1/grants?group=%s", group);
	else
		snprintf(path, sizeof(path), "/v1/grants");
	return kmsctl__list_print(k, path, "list grants", cols);
}

static const struct kmsctl_opt group_opts[] = {
	{ "filter", "F", "MQTT topic filter, e.g. 'plant/+/temp' ('+' and a final '#')" },
	{ "scheme", "N", "1-4 (4: group E2E key + MAC on the broker links; the usual choice)" },
	{ "rotate", "SECS", "rotate the group key every SECS seconds" },
	{ "grace", "SECS", "keep delivering an old epoch for SECS seconds after rotation" },
	{ "future-epochs", "K", "pre-issue and deliver K epochs ahead (0-16, default 1): "
	  "members ride out a KMS outage of K periods" },
	{ NULL, NULL, NULL }
};
static const struct kmsctl_opt group_delete_opts[] = {
	{ "force", NULL, "delete even while clients hold grants on the group (removes them)" },
	{ NULL, NULL, NULL }
};
static const struct kmsctl_opt grant_list_opts[] = {
	{ "client", "C", "only the grants of client C" },
	{ "group", "G", "only the grants on group G" },
	{ NULL, NULL, NULL }
};

const struct kmsctl_cmd kmsctl_group_cmds[] = {
	{ "group", "add", "NAME --filter F --scheme N [--rotate SECS] [--grace SECS] "
	  "[--future-epochs K]",
	  "create a topic group (epoch 1 and K next epochs are made at once)", 1, 1, 1, group_opts,
	  cmd_group_add },
	{ "group", "import", "FILE", "create many groups, one JSON object per line of FILE "
	  "('-': stdin), in batches of one transaction", 1, 1, 1, NULL, cmd_group_import },
	{ "group", "list", "", "list topic groups", 0, 0, 1, NULL, cmd_group_list },
	{ "group", "show", "NAME", "show a group and its epochs", 1, 1, 1, NULL, cmd_group_show },
	{ "group", "update", "NAME [--filter F] [--scheme N] [--rotate SECS] [--grace SECS] "
	  "[--future-epochs K]",
	  "change a group", 1, 1, 1, group_opts, cmd_group_update },
	{ "group", "rotate", "NAME", "rotate the group key now", 1, 1, 1, NULL, cmd_group_rotate },
	{ "group", "delete", "NAME [--force]", "delete a group and destroy its keys (refused "
	  "while grants exist, unless --force)", 1, 1, 1, group_delete_opts, cmd_group_delete },
	{ "grant", "add", "CLIENT GROUP pub|sub", "let a client publish or subscribe on a group",
	  3, 3, 1, NULL, cmd_grant_add },
	{ "grant", "rm", "CLIENT GROUP pub|sub", "remove a grant", 3, 3, 1, NULL, cmd_grant_rm },
	{ "grant", "list", "[--client C] [--group G]", "list grants", 0, 0, 1, grant_list_opts,
	  cmd_grant_list },
	{ NULL, NULL, NULL, NULL, 0, 0, 0, NULL, NULL }
};
