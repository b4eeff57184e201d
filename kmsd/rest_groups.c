/*
 * rest_groups.c - topic groups (admin):
 *   POST /v1/groups, GET /v1/groups, GET|PATCH|DELETE /v1/groups/{name},
 *   POST /v1/groups/{name}/rotate.
 * Epochs are shown as metadata only: no admin call ever returns key bytes.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "httpd.h"
#include "jsonutil.h"
#include "metrics.h"
#include "epoch.h"
#include "store.h"

#define REKEYS_SHOWN 100          /* newest revocation rekeys in a group object */
#define EPOCHS_SHOWN 64           /* newest epochs in a group object (all live ones) */

static json_t *
group_json(const struct kms_group_row *g)
{
	return json_pack("{s:s,s:s,s:i,s:I,s:I,s:i,s:o,s:I,s:o}",
	    "name", g->name,
	    "filter", g->filter,
	    "scheme", g->scheme,
	    "rotate_s", (json_int_t)g->rotate_s,
	    "grace_s", (json_int_t)g->grace_s,
	    "future_epochs", g->future_epochs,
	    "created", kms_json_time(g->created),
	    "current_epoch", (json_int_t)g->current_epoch,
	    "next_rotation", kms_json_time(g->next_rotation));
}

/* What group_get collects while walking the epochs. */
struct epoch_walk {
	json_t *epochs;
	int64_t last_rotation;          /* activation of the current epoch */
};

static int
add_epoch(void *arg, const struct kms_epoch_row *e)
{
	struct epoch_walk *w = arg;

	if (e->state == KMS_EPOCH_CURRENT)
		w->last_rotation = e->activated;
	return json_array_append_new(w->epochs, json_pack("{s:I,s:s,s:o,s:o,s:o,s:o}",
	    "epoch", (json_int_t)e->epoch, "state", kms_epoch_state_name(e->state),
	    "created", kms_json_time(e->created), "activated", kms_json_time(e->activated),
	    "expires", kms_json_time(e->expires),
	    "cause", e->cause[0] != '\0' ? json_string(e->cause) : json_null())) == 0 ?
	    MQE2E_OK : MQE2E_ERR_NOMEM;
}

/* Grants come sorted by client: one member object per client with its
 * rights. */
static int
add_member(void *arg, const struct kms_grant_row *gr)
{
	json_t *members = arg, *last, *rights;
	size_t n = json_array_size(members);

	last = n > 0 ? json_array_get(members, n - 1) : NULL;
	if (last == NULL || strcmp(json_string_value(json_object_get(last, "client")),
	    gr->client) != 0) {
		if ((last = json_pack("{s:s,s:[]}", "client", gr->client, "rights")) == NULL ||
		    json_array_append_new(members, last) != 0)
			return MQE2E_ERR_NOMEM;
	}
	rights = json_object_get(last, "rights");
	return json_array_append_new(rights, json_string(gr->right)) == 0 ? MQE2E_OK :
	    MQE2E_ERR_NOMEM;
}

static int
add_rekey(void *arg, const struct kms_rekey_row *rk)
{
	return json_array_append_new(arg, json_pack("{s:s,s:o,s:I,s:o}",
	    "client", rk->client,
	    "reason", rk->reason[0] != '\0' ? json_string(rk->reason) : json_null(),
	    "epoch", (json_int_t)rk->epoch, "at", kms_json_time(rk->at))) == 0 ? MQE2E_OK :
	    MQE2E_ERR_NOMEM;
}

/* The group object of name with its epochs, members (grants), last
 * rotation and the revocations that forced a rekey (in a transaction). */
static int
group_get(struct kms_db *db, const char *name, json_t **out)
{
	struct kms_group_row g;
	struct epoch_walk w = { NULL, 0 };
	json_t *o = NULL, *members = NULL, *rekeys = NULL;
	int64_t total = 0;
	int r;

	*out = NULL;
	if ((r = kms_store_group_get(db, name, &g)) != MQE2E_OK)
		return r;
	if ((o = group_json(&g)) == NULL || (w.epochs = json_array()) == NULL ||
	    (members = json_array()) == NULL || (rekeys = json_array()) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	/* a group rekeyed thousands of times: the newest epochs (every
	 * current, next and recent grace one), and how many there are */
	if ((r = kms_store_epoch_list_newest(db, g.id, EPOCHS_SHOWN, add_epoch, &w)) != MQE2E_OK ||
	    (r = kms_store_epoch_max(db, g.id, &total)) != MQE2E_OK ||
	    (r = kms_store_grant_list(db, NULL, name, NULL, NULL, NULL, 0, add_member,
	    members)) != MQE2E_OK ||
	    (r = kms_store_rekey_list(db, g.id, REKEYS_SHOWN, add_rekey, rekeys)) != MQE2E_OK)
		goto out;
	if (json_object_set_new(o, "last_rotation", kms_json_time(w.last_rotation)) != 0 ||
	    json_object_set_new(o, "epochs_total", json_integer(total)) != 0 ||
	    json_object_set(o, "members", members) != 0 ||
	    json_object_set(o, "revocations", rekeys) != 0 ||
	    json_object_set(o, "epochs", w.epochs) != 0) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	*out = o;
	o = NULL;
 out:
	json_decref(w.epochs);
	json_decref(members);
	json_decref(rekeys);
	json_decref(o);
	return r;
}

/* Topic filters of different groups may not overlap: a topic must belong to
 * one group, so that its scheme and keys are never in doubt (the client and
 * the broker map a topic to its group by filter; PROTOCOL.md section 7.1).
 * The first other group whose filter some topic matches along with ours. */
struct overlap {
	const char *self, *filter;
	char other[KMS_NAME_MAX + 1];
	char other_filter[KMS_FILTER_MAX + 1];
};

/* Say in o that group self (with filter) overlaps group other: CONFLICT. */
static int
overlap_found(struct overlap *o, const char *self, const char *filter, const char *other,
    const char *other_filter)
{
	memset(o, 0, sizeof(*o));
	o->self = self;
	o->filter = filter;
	snprintf(o->other, sizeof(o->other), "%s", other);
	snprintf(o->other_filter, sizeof(o->other_filter), "%s", other_filter);
	return MQE2E_ERR_CONFLICT;
}

static int
overlap_cb(void *arg, const struct kms_group_row *g)
{
	struct overlap *o = arg;

	if (strcmp(g->name, o->self) == 0 || !mqe2e_topic_filters_overlap(o->filter, g->filter))
		return MQE2E_OK;
	return overlap_found(o, o->self, o->filter, g->name, g->filter);
}

/* MQE2E_ERR_CONFLICT (o->other set) if filter overlaps the filter of a
 * group other than self; in the caller's transaction. */
static int
filter_overlap_locked(struct kms_db *db, const char *self, const char *filter,
    struct overlap *o)
{
	memset(o, 0, sizeof(*o));
	o->self = self;
	o->filter = filter;
	return kms_store_group_list(db, NULL, 0, overlap_cb, o);
}

static void
reply_overlap(struct kms_req *r, const char *name, const struct overlap *o)
{
	kms_reply_error(r, 409, "conflict", "the topic filter '%.200s' of group '%s' overlaps "
	    "the filter '%.200s' of group '%s' (a topic would belong to both): choose a "
	    "filter no topic of '%s' matches, or change or delete '%s'", o->filter, name,
	    o->other_filter, o->other, o->other, o->other);
}

/* The settable fields of a group, as given in a request body. */
struct group_fields {
	const char *filter;            /* NULL: not given */
	json_int_t scheme, rotate_s, grace_s, future_epochs;
	int has_scheme, has_rotate_s, has_grace_s, has_future_epochs;
};

/* An optional integer field: absent, or an integer in [min, max]. */
static int
int_field(struct kms_req *r, json_t *in, const char *key, json_int_t min, json_int_t max,
    json_int_t *v, int *has)
{
	json_t *f = json_object_get(in, key);

	*has = f != NULL;
	if (f == NULL)
		return 1;
	if (!json_is_integer(f) || (*v = json_integer_value(f)) < min || *v > max) {
		kms_reply_error(r, 400, "bad_request", "%s must be a whole number from %lld to %lld",
		    key, (long long)min, (long long)max);
		return 0;
	}
	return 1;
}

/* Parse and validate the settable fields present in in; reply 400 and
 * return 0 on a bad one. */
static int
check_fields(struct kms_req *r, json_t *in, struct group_fields *f)
{
	json_t *filter = json_object_get(in, "filter");
	char why[128];

	memset(f, 0, sizeof(*f));
	if (filter != NULL) {
		if (!json_is_string(filter)) {
			kms_reply_error(r, 400, "bad_request", "filter must be a string");
			return 0;
		}
		f->filter = json_string_value(filter);
		if (!mqe2e_group_filter_check(f->filter, why, sizeof(why))) {
			kms_reply_error(r, 400, "bad_request", "topic filter '%.200s' is invalid: %s",
			    f->filter, why);
			return 0;
		}
	}
	return int_field(r, in, "scheme", 1, 4, &f->scheme, &f->has_scheme) &&
	    int_field(r, in, "rotate_s", KMS_ROTATE_MIN_S, KMS_PERIOD_MAX_S, &f->rotate_s,
	    &f->has_rotate_s) &&
	    int_field(r, in, "grace_s", 0, KMS_PERIOD_MAX_S, &f->grace_s, &f->has_grace_s) &&
	    int_field(r, in, "future_epochs", 0, KMS_FUTURE_EPOCHS_MAX, &f->future_epochs,
	    &f->has_future_epochs);
}

/* A group to create, as given in a request body (points into it). */
struct group_spec {
	const char *name;
	struct group_fields f;
};

/* Parse one group object with the defaults of what it leaves out; reply
 * 400 and return 0 if it is bad. */
static int
parse_spec(struct kms_req *r, json_t *in, struct group_spec *s)
{
	memset(s, 0, sizeof(*s));
	if (!json_is_object(in) || json_unpack(in, "{s:s}", "name", &s->name) != 0 ||
	    !kms_name_valid(s->name)) {
		kms_reply_error(r, 400, "bad_request", "a group needs a \"name\" of 1-64 letters, "
		    "digits, '.', '_' or '-' (not starting with '.' or '-')");
		return 0;
	}
	if (!check_fields(r, in, &s->f))
		return 0;
	if (s->f.filter == NULL || !s->f.has_scheme) {
		kms_reply_error(r, 400, "bad_request", "group '%s' needs a \"filter\" (MQTT topic "
		    "filter) and a \"scheme\" (1-4)", s->name);
		return 0;
	}
	if (!s->f.has_rotate_s)
		s->f.rotate_s = KMS_ROTATE_DEFAULT_S;
	if (!s->f.has_grace_s)
		s->f.grace_s = KMS_GRACE_DEFAULT_S;
	if (!s->f.has_future_epochs)
		s->f.future_epochs = KMS_FUTURE_EPOCHS_DEFAULT;
	return 1;
}

/*
 * The overlap check of new groups against every group, without comparing
 * every pair: two filters whose first two levels are both literal can only
 * overlap if those levels are equal (every topic either matches starts with
 * them), so filters are bucketed by that prefix; a filter without such a
 * prefix ("#", "a/#", "+/x", "a") is compared with all.
 */
struct ovl_ent {
	const char *name, *filter;
	size_t klen;                   /* the literal two-level prefix, 0: none */
	int fresh;                     /* one of the new groups */
};

struct ovl {
	struct ovl_ent *v;
	size_t n, cap;
	json_t *own;                   /* copies of the stored names and filters */
};

static size_t
literal_prefix(const char *f)
{
	const char *a = strchr(f, '/'), *b;
	size_t l2;

	if (a == NULL || (a - f == 1 && (f[0] == '+' || f[0] == '#')))
		return 0;
	b = strchr(a + 1, '/');
	l2 = b != NULL ? (size_t)(b - a - 1) : strlen(a + 1);
	if (l2 == 1 && (a[1] == '+' || a[1] == '#'))
		return 0;
	return b != NULL ? (size_t)(b - f) : strlen(f);
}

static int
ovl_add(struct ovl *o, const char *name, const char *filter, int fresh)
{
	if (o->n == o->cap) {
		size_t cap = o->cap == 0 ? 256 : 2 * o->cap;
		struct ovl_ent *v = realloc(o->v, cap * sizeof(*v));

		if (v == NULL)
			return MQE2E_ERR_NOMEM;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n].name = name;
	o->v[o->n].filter = filter;
	o->v[o->n].klen = literal_prefix(filter);
	o->v[o->n].fresh = fresh;
	o->n++;
	return MQE2E_OK;
}

static int
ovl_stored(void *arg, const struct kms_group_row *g)
{
	struct ovl *o = arg;
	json_t *pair = json_pack("[s,s]", g->name, g->filter);

	if (pair == NULL || json_array_append_new(o->own, pair) != 0)
		return MQE2E_ERR_NOMEM;
	return ovl_add(o, json_string_value(json_array_get(pair, 0)),
	    json_string_value(json_array_get(pair, 1)), 0);
}

/* Wild filters first, then by prefix. */
static int
ovl_cmp(const void *a, const void *b)
{
	const struct ovl_ent *x = a, *y = b;
	int c;

	if ((x->klen == 0) != (y->klen == 0))
		return x->klen == 0 ? -1 : 1;
	c = memcmp(x->filter, y->filter, x->klen < y->klen ? x->klen : y->klen);
	return c != 0 ? c : x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* MQE2E_ERR_CONFLICT (ov set for the new group concerned) if the filter of a
 * new group overlaps another group's; o holds the stored groups and the new
 * ones. */
static int
ovl_check(struct ovl *o, struct overlap *ov)
{
	size_t i, j, wild = 0, lo, hi, mid;

	qsort(o->v, o->n, sizeof(*o->v), ovl_cmp);
	while (wild < o->n && o->v[wild].klen == 0)
		wild++;
	for (i = 0; i < o->n; i++) {
		const struct ovl_ent *s = &o->v[i];

		if (!s->fresh)
			continue;
		lo = s->klen == 0 ? 0 : wild;
		hi = o->n;
		if (s->klen != 0) {
			/* the first entry of s's bucket */
			while (lo < hi) {
				mid = lo + (hi - lo) / 2;
				if (ovl_cmp(&o->v[mid], s) < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
		}
		for (j = s->klen == 0 ? 0 : lo; j < o->n; j++) {
			const struct ovl_ent *c = &o->v[j];

			if (s->klen != 0 && j >= wild && ovl_cmp(c, s) != 0)
				break;
			if (j != i && mqe2e_topic_filters_overlap(s->filter, c->filter))
				return overlap_found(ov, s->name, s->filter, c->name, c->filter);
		}
		for (j = 0; s->klen != 0 && j < wild; j++) {
			const struct ovl_ent *c = &o->v[j];

			if (mqe2e_topic_filters_overlap(s->filter, c->filter))
				return overlap_found(ov, s->name, s->filter, c->name, c->filter);
		}
	}
	return MQE2E_OK;
}

/* Create the groups of specs in the caller's write transaction: the
 * overlap check over all of them at once, then each group with its epochs.
 * *dup names a group that exists already (or is named twice). */
static int
create_locked(struct kmsd *k, const struct group_spec *specs, size_t n, int64_t now,
    struct overlap *ov, const char **dup)
{
	struct ovl o;
	struct kms_group_row g;
	size_t i;
	int e;

	memset(&o, 0, sizeof(o));
	*dup = NULL;
	if ((o.own = json_array()) == NULL)
		return MQE2E_ERR_NOMEM;
	e = kms_store_group_list(k->db, NULL, 0, ovl_stored, &o);
	for (i = 0; i < n && e == MQE2E_OK; i++) {
		struct kms_group_row existing;

		if ((e = kms_store_group_get(k->db, specs[i].name, &existing)) == MQE2E_OK) {
			*dup = specs[i].name;
			e = MQE2E_ERR_CONFLICT;
		} else if (e == MQE2E_ERR_NOT_FOUND)
			e = ovl_add(&o, specs[i].name, specs[i].f.filter, 1);
	}
	if (e == MQE2E_OK)
		e = ovl_check(&o, ov);
	for (i = 0; i < n && e == MQE2E_OK; i++) {
		const struct group_fields *f = &specs[i].f;

		if ((e = kms_store_group_add(k->db, specs[i].name, f->filter, (int)f->scheme,
		    f->rotate_s, f->grace_s, (int)f->future_epochs, now,
		    kms_epoch_next_rotation(f->rotate_s, now))) == MQE2E_ERR_CONFLICT)
			*dup = specs[i].name;     /* named twice in one batch */
		if (e == MQE2E_OK && (e = kms_store_group_get(k->db, specs[i].name, &g)) == MQE2E_OK)
			e = kms_epoch_create_locked(k, &g, now);
	}
	free(o.v);
	json_decref(o.own);
	return e;
}

#define BATCH_MAX 1000      /* groups in one POST /v1/groups {"groups": [...]} */

/* POST /v1/groups: one group object, or {"groups": [objects]} for a batch
 * created all or nothing in one transaction (one policy change). */
static void
create(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct group_spec one, *specs = &one;
	json_t *in, *out = NULL, *batch;
	struct overlap ov;
	const char *dup = NULL;
	int64_t now = (int64_t)time(NULL);
	uint64_t version = 0;
	size_t i, n = 1;
	int e;

	memset(&ov, 0, sizeof(ov));
	kms_req_audit(r, "group.create", NULL);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 0)) == NULL)
		return;
	if ((batch = json_object_get(in, "groups")) != NULL) {
		if (!json_is_array(batch) || (n = json_array_size(batch)) == 0 || n > BATCH_MAX ||
		    json_object_size(in) != 1) {
			kms_reply_error(r, 400, "bad_request", "\"groups\" must be an array of 1 to %d "
			    "group objects, alone in the body", BATCH_MAX);
			goto done;
		}
		if ((specs = calloc(n, sizeof(*specs))) == NULL) {
			kms_reply_err(r, MQE2E_ERR_NOMEM, "cannot create groups");
			goto done;
		}
		for (i = 0; i < n; i++)
			if (!parse_spec(r, json_array_get(batch, i), &specs[i]))
				goto done;
		kms_req_audit(r, "group.create", specs[0].name);
		snprintf(r->detail, sizeof(r->detail), "a batch of %zu groups", n);
	} else {
		if (!parse_spec(r, in, &one))
			goto done;
		kms_req_audit(r, "group.create", one.name);
	}
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	if ((e = create_locked(k, specs, n, now, &ov, &dup)) == MQE2E_OK &&
	    (e = kms_store_policy_bump(k->db, &version)) == MQE2E_OK && batch == NULL)
		e = group_get(k->db, one.name, &out);
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		json_decref(out);
		if (e == MQE2E_ERR_CONFLICT && ov.other[0] != '\0')
			reply_overlap(r, ov.self, &ov);
		else if (e == MQE2E_ERR_CONFLICT && dup != NULL)
			kms_reply_error(r, 409, "conflict", "group '%s' already exists%s", dup,
			    batch != NULL ? " (or is named twice in the batch)" : "");
		else
			kms_reply_err(r, e, "cannot create group '%s'", specs[0].name);
		goto done;
	}
	kmsd_policy_changed(k, version);
	if (batch != NULL)
		out = json_pack("{s:I,s:I}", "created", (json_int_t)n, "policy_version",
		    (json_int_t)version);
	kms_reply_json(r, 201, out);
 done:
	if (specs != &one)
		free(specs);
	json_decref(in);
}

static int
add_group(void *arg, const struct kms_group_row *g)
{
	return kms_list_add(arg, group_json(g), g->name);
}

static void
list(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct kms_page req;
	struct kms_list l;
	int e;

	kms_req_audit(r, "group.list", NULL);
	if (!kms_req_admin(r) || !kms_page_parse(r, &req))
		return;
	if ((e = kms_list_begin(&l, r, req.limit)) == MQE2E_OK)
		e = kms_store_group_list(k->db, req.after, req.limit + 1, add_group, &l);
	if ((e = kms_list_end(&l, r, e)) != MQE2E_OK)
		kms_reply_err(r, e, "cannot list groups");
}

static void
show(struct kms_req *r, const char *name)
{
	json_t *out = NULL;
	int e;

	kms_req_audit(r, "group.show", name);
	if (!kms_req_admin(r))
		return;
	if ((e = kms_db_begin(r->k->db, 0)) == MQE2E_OK)
		e = kms_db_end(r->k->db, group_get(r->k->db, name, &out));
	if (e == MQE2E_ERR_NOT_FOUND)
		kms_reply_error(r, 404, "not_found", "group '%s' does not exist", name);
	else if (e != MQE2E_OK)
		kms_reply_err(r, e, "cannot read group '%s'", name);
	else {
		kms_reply_json(r, 200, out);
		out = NULL;
	}
	json_decref(out);
}

static void
update(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_group_row g;
	struct group_fields f;
	struct overlap ov;
	json_t *in, *out = NULL, *v;
	const char *key;
	uint64_t version = 0;
	int64_t now = (int64_t)time(NULL);
	int e;

	memset(&ov, 0, sizeof(ov));
	kms_req_audit(r, "group.update", name);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 0)) == NULL)
		return;
	json_object_foreach(in, key, v) {
		if (strcmp(key, "filter") != 0 && strcmp(key, "scheme") != 0 &&
		    strcmp(key, "rotate_s") != 0 && strcmp(key, "grace_s") != 0 &&
		    strcmp(key, "future_epochs") != 0) {
			kms_reply_error(r, 400, "bad_request", "field '%.64s' cannot be changed: "
			    "only filter, scheme, rotate_s, grace_s and future_epochs", key);
			goto done;
		}
	}
	if (!check_fields(r, in, &f))
		goto done;
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto done;
	}
	if ((e = kms_store_group_get(k->db, name, &g)) == MQE2E_OK) {
		if (f.filter != NULL)
			snprintf(g.filter, sizeof(g.filter), "%s", f.filter);
		if (f.has_scheme)
			g.scheme = (int)f.scheme;
		if (f.has_grace_s)
			g.grace_s = f.grace_s;
		if (f.has_rotate_s) {
			g.rotate_s = f.rotate_s;
			/* a new period starts now */
			g.next_rotation = kms_epoch_next_rotation(f.rotate_s, now);
		}
		if (f.has_future_epochs)
			g.future_epochs = (int)f.future_epochs;
		/* more future epochs are issued at once; fewer void the highest */
		if ((f.filter == NULL ||
		    (e = filter_overlap_locked(k->db, name, f.filter, &ov)) == MQE2E_OK) &&
		    (e = kms_store_group_update(k->db, &g)) == MQE2E_OK &&
		    (!f.has_future_epochs || (e = kms_epoch_fit_locked(k, &g, now)) == MQE2E_OK) &&
		    (e = kms_store_policy_bump(k->db, &version)) == MQE2E_OK)
			e = group_get(k->db, name, &out);
	}
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		json_decref(out);
		if (e == MQE2E_ERR_CONFLICT && ov.other[0] != '\0')
			reply_overlap(r, name, &ov);
		else if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "group '%s' does not exist", name);
		else
			kms_reply_err(r, e, "cannot update group '%s'", name);
		goto done;
	}
	kmsd_policy_changed(k, version);
	kms_reply_json(r, 200, out);
 done:
	json_decref(in);
}

static void
rotate(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_rotation t;
	json_t *in, *out = NULL;
	int e;

	kms_req_audit(r, "group.rotate", name);
	if (!kms_req_admin(r) || (in = kms_req_json(r, 1)) == NULL)
		return;
	json_decref(in);
	if ((e = kms_rotation_begin(&t, k, "manual", NULL, NULL, (int64_t)time(NULL))) !=
	    MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto out;
	}
	if ((e = kms_rotation_named(&t, name, NULL)) == MQE2E_OK)
		e = group_get(k->db, name, &out);
	if ((e = kms_rotation_commit(&t, e)) != MQE2E_OK) {
		json_decref(out);
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "group '%s' does not exist", name);
		else
			kms_reply_err(r, e, "cannot rotate group '%s'", name);
		goto out;
	}
	kms_rotation_announce(&t, r->id, NULL);
	kms_reply_json(r, 200, out);
 out:
	kms_rotation_free(&t);
}

/* The grants of a group being deleted: how many, and who (the first few). */
struct grant_names {
	int n;
	char who[256];
};

static int
count_grant(void *arg, const struct kms_grant_row *gr)
{
	struct grant_names *g = arg;
	size_t at = strlen(g->who);

	if (g->n < 5 && at + strlen(gr->client) + strlen(gr->right) + 8 < sizeof(g->who))
		snprintf(g->who + at, sizeof(g->who) - at, "%s%s %s", at > 0 ? ", " : "",
		    gr->client, gr->right);
	g->n++;
	return MQE2E_OK;
}

/* DELETE /v1/groups/{name}[?force=true]: refused while grants exist unless
 * forced; destroys every epoch key (secure_delete overwrites them), bumps
 * the policy so that the broker forgets the group and drops its retained
 * messages, and members stop getting its keys at their next refresh. */
static void
delete_group(struct kms_req *r, const char *name)
{
	struct kmsd *k = r->k;
	struct kms_group_row g;
	struct grant_names gn;
	const char *force = kms_req_query(r, "force");
	uint64_t version = 0;
	char detail[64];
	int forced, e;

	kms_req_audit(r, "group.delete", name);
	if (!kms_req_admin(r))
		return;
	if (force != NULL && strcmp(force, "true") != 0 && strcmp(force, "false") != 0) {
		kms_reply_error(r, 400, "bad_request", "force must be true or false");
		return;
	}
	forced = force != NULL && strcmp(force, "true") == 0;
	memset(&gn, 0, sizeof(gn));
	if ((e = kms_db_begin(k->db, 1)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		return;
	}
	if ((e = kms_store_group_get(k->db, name, &g)) == MQE2E_OK &&
	    (e = kms_store_grant_list(k->db, NULL, name, NULL, NULL, NULL, 0, count_grant,
	    &gn)) == MQE2E_OK) {
		if (gn.n > 0 && !forced)
			e = MQE2E_ERR_CONFLICT;
		else if ((e = kms_store_group_delete(k->db, g.id)) == MQE2E_OK)
			e = kms_store_policy_bump(k->db, &version);
	}
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_NOT_FOUND)
			kms_reply_error(r, 404, "not_found", "group '%s' does not exist", name);
		else if (e == MQE2E_ERR_CONFLICT)
			kms_reply_error(r, 409, "conflict", "group '%s' still has %d grant%s (%s%s): "
			    "remove them first, or delete with force=true (mqe2e-kmsctl group "
			    "delete %s --force)", name, gn.n, gn.n == 1 ? "" : "s", gn.who,
			    gn.n > 5 ? ", ..." : "", name);
		else
			kms_reply_err(r, e, "cannot delete group '%s'", name);
		return;
	}
	kmsd_policy_changed(k, version);
	snprintf(detail, sizeof(detail), "%d grants removed%s", gn.n, forced ? ", forced" : "");
	kms_audit(k->audit, r->id, "admin", "group.keys_destroyed", name, "ok", 0, detail);
	kms_reply_json(r, 200, json_pack("{s:s,s:b,s:i,s:I}", "deleted", name, "forced", forced,
	    "grants_removed", gn.n, "policy_version", (json_int_t)version));
}

void
rest_groups(struct kms_req *r, char **seg, size_t n)
{
	const char *m = r->method;

	if (n == 1) {
		kms_route_collection(r, create, list);
		return;
	}
	if (!kms_name_valid(seg[1])) {
		kms_reply_error(r, 404, "not_found", "group '%.64s' does not exist (invalid name)",
		    seg[1]);
		return;
	}
	if (n == 2) {
		if (strcmp(m, "GET") == 0)
			show(r, seg[1]);
		else if (strcmp(m, "PATCH") == 0)
			update(r, seg[1]);
		else if (strcmp(m, "DELETE") == 0)
			delete_group(r, seg[1]);
		else
			kms_reply_method(r, "GET, PATCH, DELETE");
	} else if (n == 3 && strcmp(seg[2], "rotate") == 0) {
		if (strcmp(m, "POST") == 0)
			rotate(r, seg[1]);
		else
			kms_reply_method(r, "POST");
	} else
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
}
