/*
 * policy.c - the verified policy snapshot of the broker extension.
 *
 * A snapshot is built by the KMS thread from policy JSON whose CA signature
 * has already been checked (kms_sync.c) and the GK_B entries of a verified
 * KEY_RESPONSE, then handed to the broker thread, which only reads it (except
 * each group's re-frame sequence number).  The JSON is still treated as
 * untrusted input: every name, filter, scheme and count is checked.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <mosquitto.h>

#include "plugin.h"

#define POLICY_GROUPS_MAX 1000000
#define POLICY_GRANTS_MAX 100000
#define POLICY_REVOKED_MAX 1000000

static int str_cmp(const void *a, const void *b);
static int serial_canon(char *s);

static void grant_free(struct bx_grant *g)
{
	free(g->client);
	free(g->rights);
}

static void group_free(struct bx_group *g)
{
	size_t i;

	free(g->name);
	free(g->filter);
	for (i = 0; i < g->nkeys; i++) {
		mqe2e_mac_free(g->keys[i].mac);
		mqe2e_aead_free(g->keys[i].aead);
	}
	free(g->keys);
}

static void strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void policy__free(struct bx_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->ngroups; i++)
		group_free(&p->groups[i]);
	free(p->groups);
	free(p->by_name);
	for (i = 0; i < p->ngrants; i++)
		grant_free(&p->grants[i]);
	free(p->grants);
	strv_free(p->revoked_serials, p->nrevoked_serials);
	strv_free(p->revoked_clients, p->nrevoked_clients);
	free(p->crl);
	free(p);
}

static int grant_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bx_grant *)a)->client, ((const struct bx_grant *)b)->client);
}

/* By bisection over the name index (built once the groups are parsed). */
static int group_index(const struct bx_policy *p, const char *name, size_t *gi)
{
	size_t lo = 0, hi = p->by_name != NULL ? p->ngroups : 0, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, p->groups[p->by_name[mid]].name);
		if (c == 0) {
			*gi = p->by_name[mid];
			return MQE2E_OK;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return MQE2E_ERR_NOT_FOUND;
}

struct name_at {
	const char *name;
	size_t i;
};

static int name_at_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_at *)a)->name, ((const struct name_at *)b)->name);
}

/* The name index; a name twice is malformed. */
static int index_groups(struct bx_policy *p)
{
	struct name_at *v;
	size_t i;
	int r = MQE2E_OK;

	if (p->ngroups == 0)
		return MQE2E_OK;
	if ((p->by_name = calloc(p->ngroups, sizeof(*p->by_name))) == NULL ||
	    (v = calloc(p->ngroups, sizeof(*v))) == NULL)
		return MQE2E_ERR_NOMEM;
	for (i = 0; i < p->ngroups; i++) {
		v[i].name = p->groups[i].name;
		v[i].i = i;
	}
	qsort(v, p->ngroups, sizeof(*v), name_at_cmp);
	for (i = 0; i < p->ngroups; i++) {
		p->by_name[i] = v[i].i;
		if (i > 0 && strcmp(v[i - 1].name, v[i].name) == 0)
			r = MQE2E_ERR_BAD_FORMAT;
	}
	free(v);
	return r;
}

static int parse_strv(json_t *arr, size_t max, char ***out, size_t *n)
{
	size_t i;
	json_t *v;

	*out = NULL;
	*n = 0;
	if (arr == NULL)
		return MQE2E_OK;
	if (!json_is_array(arr) || json_array_size(arr) > max)
		return MQE2E_ERR_BAD_FORMAT;
	if (json_array_size(arr) == 0)
		return MQE2E_OK;
	if ((*out = calloc(json_array_size(arr), sizeof(char *))) == NULL)
		return MQE2E_ERR_NOMEM;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > MQE2E_ID_MAX || strlen(json_string_value(v)) != json_string_length(v))
			return MQE2E_ERR_BAD_FORMAT;
		if (((*out)[i] = strdup(json_string_value(v))) == NULL)
			return MQE2E_ERR_NOMEM;
		(*n)++;
	}
	return MQE2E_OK;
}

static int parse_groups(struct bx_policy *p, json_t *arr)
{
	size_t i;
	json_t *g;

	if (!json_is_array(arr) || json_array_size(arr) > POLICY_GROUPS_MAX)
		return MQE2E_ERR_BAD_FORMAT;
	if (json_array_size(arr) == 0)
		return MQE2E_OK;
	if ((p->groups = calloc(json_array_size(arr), sizeof(*p->groups))) == NULL)
		return MQE2E_ERR_NOMEM;
	json_array_foreach(arr, i, g) {
		struct bx_group *grp = &p->groups[p->ngroups];
		json_t *name = json_object_get(g, "name");
		json_t *filter = json_object_get(g, "filter");
		json_t *scheme = json_object_get(g, "scheme");
		json_t *epoch = json_object_get(g, "epoch");
		json_t *oldest = json_object_get(g, "oldest");

		if (!json_is_string(name) || !mqe2e_id_valid_str(json_string_value(name)) ||
		    !json_is_string(filter) || strlen(json_string_value(filter)) != json_string_length(filter) ||
		    !mqe2e_group_filter_check(json_string_value(filter), NULL, 0) ||
		    !json_is_integer(scheme) || json_integer_value(scheme) < 1 || json_integer_value(scheme) > 4 ||
		    !json_is_integer(epoch) || json_integer_value(epoch) < 0 ||
		    json_integer_value(epoch) > (json_int_t)UINT32_MAX ||
		    (oldest != NULL && (!json_is_integer(oldest) || json_integer_value(oldest) < 0 ||
		    json_integer_value(oldest) > json_integer_value(epoch))))
			return MQE2E_ERR_BAD_FORMAT;
		if ((grp->name = strdup(json_string_value(name))) == NULL ||
		    (grp->filter = strdup(json_string_value(filter))) == NULL) {
			p->ngroups++;
			return MQE2E_ERR_NOMEM;
		}
		grp->scheme = (uint8_t)json_integer_value(scheme);
		grp->epoch = (uint32_t)json_integer_value(epoch);
		grp->oldest = oldest != NULL ? (uint32_t)json_integer_value(oldest) : 0;
		grp->seq = mqe2e_seq_start();
		p->ngroups++;
	}
	return index_groups(p);
}

static int parse_rights(struct bx_policy *p, struct bx_grant *gr, json_t *arr, unsigned right)
{
	size_t i, gi;
	json_t *v;

	if (arr == NULL)
		return MQE2E_OK;
	if (!json_is_array(arr) || json_array_size(arr) > POLICY_GROUPS_MAX)
		return MQE2E_ERR_BAD_FORMAT;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v))
			return MQE2E_ERR_BAD_FORMAT;
		/* A grant on a group missing from the snapshot grants nothing. */
		if (group_index(p, json_string_value(v), &gi) == MQE2E_OK)
			gr->rights[gi] |= (uint8_t)right;
	}
	return MQE2E_OK;
}

static int parse_grants(struct bx_policy *p, json_t *obj)
{
	const char *client;
	json_t *v;
	int r;

	if (obj == NULL)
		return MQE2E_OK;
	if (!json_is_object(obj) || json_object_size(obj) > POLICY_GRANTS_MAX)
		return MQE2E_ERR_BAD_FORMAT;
	if (json_object_size(obj) == 0)
		return MQE2E_OK;
	if ((p->grants = calloc(json_object_size(obj), sizeof(*p->grants))) == NULL)
		return MQE2E_ERR_NOMEM;
	json_object_foreach(obj, client, v) {
		struct bx_grant *gr = &p->grants[p->ngrants];

		if (!mqe2e_id_valid_str(client) || !json_is_object(v))
			return MQE2E_ERR_BAD_FORMAT;
		if ((gr->client = strdup(client)) == NULL)
			return MQE2E_ERR_NOMEM;
		p->ngrants++;
		if ((gr->rights = calloc(p->ngroups ? p->ngroups : 1, 1)) == NULL)
			return MQE2E_ERR_NOMEM;
		if ((r = parse_rights(p, gr, json_object_get(v, "pub"), BX_RIGHT_PUB)) != MQE2E_OK ||
		    (r = parse_rights(p, gr, json_object_get(v, "sub"), BX_RIGHT_SUB)) != MQE2E_OK)
			return r;
	}
	qsort(p->grants, p->ngrants, sizeof(*p->grants), grant_cmp);
	return MQE2E_OK;
}

static int attach_keys(struct bx_policy *p, const struct mqe2e_key_entry *keys, size_t nkeys)
{
	size_t i, gi;
	int r;

	for (i = 0; i < nkeys; i++) {
		struct bx_group *g;
		struct bx_gkey *k, *nk;

		if (keys[i].kind != MQE2E_GK_B)
			continue;   /* a broker is never given GK_P; ignore if it were */
		if (group_index(p, keys[i].group, &gi) != MQE2E_OK)
			continue;
		g = &p->groups[gi];
		if ((nk = realloc(g->keys, (g->nkeys + 1) * sizeof(*g->keys))) == NULL)
			return MQE2E_ERR_NOMEM;
		g->keys = nk;
		k = &g->keys[g->nkeys];
		memset(k, 0, sizeof(*k));
		k->epoch = keys[i].epoch;
		k->not_before_ms = keys[i].not_before_ms;
		k->not_after_ms = keys[i].not_after_ms;
		g->nkeys++;
		if ((r = mqe2e_mac_new(keys[i].key, MQE2E_KEY_LEN, &k->mac)) != MQE2E_OK ||
		    (r = mqe2e_aead_new(keys[i].key, &k->aead)) != MQE2E_OK)
			return r;
	}
	return MQE2E_OK;
}

int policy__from_json(const uint8_t *json, size_t len, const struct mqe2e_key_entry *keys,
    size_t nkeys, struct bx_policy **out)
{
	struct bx_policy *p = NULL;
	json_t *root = NULL, *ver;
	json_error_t jerr;
	size_t i;
	int r = MQE2E_ERR_BAD_FORMAT;

	*out = NULL;
	if ((root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(root))
		goto out;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	ver = json_object_get(root, "version");
	if (!json_is_integer(ver) || json_integer_value(ver) < 0)
		goto out;
	p->version = (uint64_t)json_integer_value(ver);
	if ((r = parse_groups(p, json_object_get(root, "groups"))) != MQE2E_OK ||
	    (r = parse_grants(p, json_object_get(root, "grants"))) != MQE2E_OK ||
	    (r = parse_strv(json_object_get(root, "revoked_serials"), POLICY_REVOKED_MAX,
		&p->revoked_serials, &p->nrevoked_serials)) != MQE2E_OK ||
	    (r = parse_strv(json_object_get(root, "revoked_clients"), POLICY_REVOKED_MAX,
		&p->revoked_clients, &p->nrevoked_clients)) != MQE2E_OK ||
	    (r = attach_keys(p, keys, nkeys)) != MQE2E_OK)
		goto out;
	/* Revocation lookups are binary searches over canonical, sorted lists. */
	for (i = 0; i < p->nrevoked_serials; i++) {
		if (!serial_canon(p->revoked_serials[i])) {
			r = MQE2E_ERR_BAD_FORMAT;
			goto out;
		}
	}
	if (p->nrevoked_serials > 1)
		qsort(p->revoked_serials, p->nrevoked_serials, sizeof(char *), str_cmp);
	if (p->nrevoked_clients > 1)
		qsort(p->revoked_clients, p->nrevoked_clients, sizeof(char *), str_cmp);
	*out = p;
	p = NULL;
	r = MQE2E_OK;
out:
	json_decref(root);
	policy__free(p);
	return r;
}

struct bx_group *policy__find(struct bx_policy *p, const char *name, size_t *index)
{
	size_t gi;

	if (p == NULL || group_index(p, name, &gi) != MQE2E_OK)
		return NULL;
	if (index != NULL)
		*index = gi;
	return &p->groups[gi];
}

struct bx_group *policy__match(struct bx_policy *p, const char *topic, size_t *index)
{
	size_t i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < p->ngroups; i++) {
		if (mqe2e_topic_matches(p->groups[i].filter, topic)) {
			if (index != NULL)
				*index = i;
			return &p->groups[i];
		}
	}
	return NULL;
}

unsigned policy__rights(const struct bx_policy *p, const char *client, size_t gi)
{
	size_t lo = 0, hi, mid;
	int c;

	if (p == NULL || gi >= p->ngroups)
		return 0;
	hi = p->ngrants;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(client, p->grants[mid].client);
		if (c == 0)
			return p->grants[mid].rights[gi];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

struct bx_gkey *policy__key(struct bx_group *g, uint32_t epoch, uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < g->nkeys; i++) {
		struct bx_gkey *k = &g->keys[i];

		if (k->epoch != epoch)
			continue;
		if (k->not_after_ms != 0 && now_ms > k->not_after_ms)
			return NULL;
		return k;
	}
	return NULL;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Binary search of a sorted string vector. */
static int strv_has(char *const *v, size_t n, const char *key)
{
	return n > 0 && bsearch(&key, v, n, sizeof(*v), str_cmp) != NULL;
}

int policy__is_revoked_client(const struct bx_policy *p, const char *client)
{
	return p != NULL && strv_has(p->revoked_clients, p->nrevoked_clients, client);
}

/* Canonical serial: lowercase hex without leading zeros ("0" for zero), in
 * place.  0 if s is not hex. */
static int serial_canon(char *s)
{
	size_t i, j = 0, len = strlen(s);

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
		if (j == 0 && c == '0' && i + 1 < len)
			continue;
		s[j++] = c;
	}
	s[j] = '\0';
	return j > 0;
}

int policy__is_revoked_serial(const struct bx_policy *p, const char *serial)
{
	char buf[MQE2E_ID_MAX + 1];
	size_t n = strlen(serial);

	if (p == NULL || n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, serial, n + 1);
	return serial_canon(buf) && strv_has(p->revoked_serials, p->nrevoked_serials, buf);
}
