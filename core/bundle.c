/*
 * bundle.c - BUNDLE (one part per recipient, schemes 1/2) and KEY_BUNDLE
 * (the group keys sealed in a KEY_RESPONSE).  docs/PROTOCOL.md sections 6-7.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "wire_int.h"

/* ---- BUNDLE ----------------------------------------------------------------- */

size_t
mqe2e_bundle_size(const struct mqe2e_bundle_part *parts, size_t n)
{
	size_t i, total = 2 + 2;

	if (parts == NULL || n == 0 || n > MQE2E_BUNDLE_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (!mqe2e_id_valid_str(parts[i].recipient) ||
		    (parts[i].part == NULL && parts[i].len > 0) ||
		    parts[i].len > MQE2E_PAYLOAD_MAX)
			return 0;
		total += 2 + strlen(parts[i].recipient) + 4 + parts[i].len;
		if (total > MQE2E_PAYLOAD_MAX)
			return 0;
	}
	return total;
}

int
mqe2e_bundle_build(const struct mqe2e_bundle_part *parts, size_t n,
    uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct mqe2e_writer w;
	size_t i, need;
	int r;

	*out_len = 0;
	if ((need = mqe2e_bundle_size(parts, n)) == 0 || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (out_cap < need)
		return MQE2E_ERR_TOO_LONG;
	mqe2e_wr_init_fixed(&w, out, out_cap);
	mqe2e_wr_u8(&w, MQE2E_VERSION);
	mqe2e_wr_u8(&w, MQE2E_MSG_BUNDLE);
	mqe2e_wr_u16(&w, (uint16_t)n);
	for (i = 0; i < n; i++) {
		mqe2e_wr_vec16(&w, parts[i].recipient, strlen(parts[i].recipient));
		mqe2e_wr_vec32(&w, parts[i].part, parts[i].len);
	}
	if ((r = mqe2e_wr_error(&w)) != MQE2E_OK)
		return r;
	*out_len = w.len;
	return MQE2E_OK;
}

/*
 * The prologue of a table of entries, in a BUNDLE and a KEY_BUNDLE: its u16
 * count, at most max, of entries of at least min bytes each, so that a
 * count the bytes left cannot hold is refused before anything is
 * allocated; then, if entries is not NULL, count zeroed entries of size
 * bytes (NULL for none) for the caller to free.
 */
static int
read_table(struct mqe2e_reader *r, size_t max, size_t min, uint16_t *count, size_t size,
    void **entries)
{
	int rc;

	if (entries != NULL)
		*entries = NULL;
	if ((rc = mqe2e_rd_u16(r, count)) != MQE2E_OK)
		return rc;
	if (*count > max)
		return MQE2E_ERR_TOO_LONG;
	if ((size_t)*count * min > mqe2e_rd_left(r))
		return MQE2E_ERR_TRUNCATED;
	if (entries != NULL && *count > 0 && (*entries = calloc(*count, size)) == NULL)
		return MQE2E_ERR_NOMEM;
	return MQE2E_OK;
}

/* Read the head and count of a bundle. */
static int
bundle_begin(struct mqe2e_reader *r, const uint8_t *in, size_t len, uint16_t *count)
{
	int rc;

	mqe2e_rd_init(r, in, len);
	/* each entry takes at least 2 + 1 + 4 bytes */
	if ((rc = wire__read_head(r, MQE2E_MSG_BUNDLE)) != MQE2E_OK ||
	    (rc = read_table(r, UINT16_MAX, 2 + 1 + 4, count, 0, NULL)) != MQE2E_OK)
		return rc;
	return *count > 0 ? MQE2E_OK : MQE2E_ERR_BAD_FORMAT;
}

static int
bundle_entry(struct mqe2e_reader *r, struct mqe2e_bundle_entry *e)
{
	int rc;

	if ((rc = mqe2e_rd_vec16(r, 1, MQE2E_ID_MAX, &e->recipient)) != MQE2E_OK ||
	    (rc = mqe2e_rd_vec32(r, 0, MQE2E_PAYLOAD_MAX, &e->part)) != MQE2E_OK)
		return rc;
	if (!mqe2e_id_valid(e->recipient.p, e->recipient.len))
		return MQE2E_ERR_BAD_FORMAT;
	return MQE2E_OK;
}

static int
view_cmp(const void *a, const void *b)
{
	const struct mqe2e_bundle_entry *x = *(const struct mqe2e_bundle_entry *const *)a;
	const struct mqe2e_bundle_entry *y = *(const struct mqe2e_bundle_entry *const *)b;

	if (x->recipient.len != y->recipient.len)
		return x->recipient.len < y->recipient.len ? -1 : 1;
	return memcmp(x->recipient.p, y->recipient.p, x->recipient.len);
}

int
mqe2e_bundle_decode(const uint8_t *in, size_t len, struct mqe2e_bundle_entry **entries,
    size_t *n)
{
	struct mqe2e_reader r;
	struct mqe2e_bundle_entry *e = NULL;
	const struct mqe2e_bundle_entry **idx = NULL;
	uint16_t count = 0;
	size_t i;
	int rc;

	*entries = NULL;
	*n = 0;
	if ((rc = bundle_begin(&r, in, len, &count)) != MQE2E_OK)
		goto out;
	rc = MQE2E_ERR_NOMEM;
	if ((e = calloc(count, sizeof(*e))) == NULL ||
	    (idx = calloc(count, sizeof(*idx))) == NULL)
		goto out;
	for (i = 0; i < count; i++) {
		if ((rc = bundle_entry(&r, &e[i])) != MQE2E_OK)
			goto out;
		idx[i] = &e[i];
	}
	if ((rc = mqe2e_rd_end(&r)) != MQE2E_OK)
		goto out;
	/* recipients must be distinct: sort an index, compare neighbours */
	qsort(idx, count, sizeof(*idx), view_cmp);
	for (i = 1; i < count; i++)
		if (view_cmp(&idx[i - 1], &idx[i]) == 0) {
			rc = MQE2E_ERR_BAD_FORMAT;
			goto out;
		}
	*entries = e;
	*n = count;
	e = NULL;
	rc = MQE2E_OK;
out:
	free(idx);
	free(e);
	return rc;
}

int
mqe2e_bundle_find(const uint8_t *in, size_t len, const char *recipient,
    struct mqe2e_view *part)
{
	struct mqe2e_reader r;
	struct mqe2e_bundle_entry e;
	uint16_t count = 0, i;
	int rc, found = 0;

	part->p = NULL;
	part->len = 0;
	if (recipient == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((rc = bundle_begin(&r, in, len, &count)) != MQE2E_OK)
		return rc;
	for (i = 0; i < count; i++) {
		if ((rc = bundle_entry(&r, &e)) != MQE2E_OK)
			goto fail;
		if (mqe2e_view_eq_str(e.recipient, recipient)) {
			if (found) {
				rc = MQE2E_ERR_BAD_FORMAT;
				goto fail;
			}
			found = 1;
			*part = e.part;
		}
	}
	if ((rc = mqe2e_rd_end(&r)) != MQE2E_OK)
		goto fail;
	if (!found)
		return MQE2E_ERR_NOT_FOUND;
	return MQE2E_OK;
fail:
	part->p = NULL;
	part->len = 0;
	return rc;
}

/* ---- KEY_BUNDLE --------------------------------------------------------------- */

#define KEY_ENTRY_MIN (2 + 1 + 1 + 4 + 8 + 8 + MQE2E_KEY_LEN)
#define GROUP_INFO_MIN (2 + 1 + 1 + 1 + 2 + 1)

void
mqe2e_free_secret(void *p, size_t len)
{
	if (p == NULL)
		return;
	mqe2e_wipe(p, len);
	free(p);
}

void
mqe2e_key_entries_free(struct mqe2e_key_entry *e, size_t n)
{
	if (e == NULL)
		return;
	mqe2e_free_secret(e, n * sizeof(*e));
}

void
mqe2e_keybundle_free(struct mqe2e_keybundle *kb)
{
	if (kb == NULL)
		return;
	free(kb->groups);
	mqe2e_key_entries_free(kb->keys, kb->nkeys);
	memset(kb, 0, sizeof(*kb));
}

static int
group_info_ok(const struct mqe2e_group_info *g)
{
	return mqe2e_id_valid_str(g->name) &&
	    g->scheme >= MQE2E_SCHEME_1 && g->scheme <= MQE2E_SCHEME_4 &&
	    (g->rights & ~(MQE2E_RIGHT_PUB | MQE2E_RIGHT_SUB)) == 0 &&
	    mqe2e_group_filter_check(g->filter, NULL, 0);
}

static int
key_entry_ok(const struct mqe2e_key_entry *e)
{
	return mqe2e_id_valid_str(e->group) &&
	    (e->kind == MQE2E_GK_P || e->kind == MQE2E_GK_B) &&
	    e->not_before_ms <= e->not_after_ms;
}

static int
group_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mqe2e_group_info *)a)->name,
	    ((const struct mqe2e_group_info *)b)->name);
}

const struct mqe2e_group_info *
mqe2e_keybundle_group(const struct mqe2e_keybundle *kb, const char *name)
{
	struct mqe2e_group_info key;
	size_t n;

	if (kb == NULL || kb->ngroups == 0 || name == NULL || (n = strlen(name)) > MQE2E_ID_MAX)
		return NULL;
	memcpy(key.name, name, n + 1);
	return bsearch(&key, kb->groups, kb->ngroups, sizeof(key), group_cmp);
}

int
mqe2e_keybundle_append(struct mqe2e_keybundle *acc, struct mqe2e_keybundle *page)
{
	const struct mqe2e_keybundle before = { acc->groups, acc->ngroups, NULL, 0, 0 };
	struct mqe2e_group_info *g;
	struct mqe2e_key_entry *e = NULL;
	uint8_t *had = NULL;           /* page->keys[i]'s group was in acc already */
	size_t i, j, ng = acc->ngroups, nk = acc->nkeys;
	int r = MQE2E_ERR_NOMEM;

	if (page->nkeys > 0 && (had = calloc(page->nkeys, 1)) == NULL)
		goto out;
	for (i = 0; i < page->nkeys; i++)
		had[i] = mqe2e_keybundle_group(&before, page->keys[i].group) != NULL;
	if (page->ngroups > 0) {
		if ((g = malloc((ng + page->ngroups) * sizeof(*g))) == NULL)
			goto out;
		if (ng > 0)
			memcpy(g, acc->groups, ng * sizeof(*g));
		for (i = 0; i < page->ngroups; i++)
			if (mqe2e_keybundle_group(&before, page->groups[i].name) == NULL)
				g[ng++] = page->groups[i];
		qsort(g, ng, sizeof(*g), group_cmp);
		free(acc->groups);
		acc->groups = g;
		acc->ngroups = ng;
	}
	if (page->nkeys > 0) {
		/* a new array: the old one holds keys and is wiped, not realloc'd */
		if ((e = calloc(nk + page->nkeys, sizeof(*e))) == NULL)
			goto out;
		if (nk > 0)
			memcpy(e, acc->keys, nk * sizeof(*e));
		for (i = 0; i < page->nkeys; i++) {
			const struct mqe2e_key_entry *k = &page->keys[i];

			/* only a group acc held before can repeat a key */
			for (j = 0; had[i] && j < acc->nkeys; j++)
				if (e[j].kind == k->kind && e[j].epoch == k->epoch &&
				    strcmp(e[j].group, k->group) == 0)
					break;
			if (!had[i] || j == acc->nkeys)
				e[nk++] = *k;
		}
		mqe2e_key_entries_free(acc->keys, acc->nkeys);
		acc->keys = e;             /* nk used of nk + page->nkeys (zeroed) */
		acc->nkeys = nk;
		e = NULL;
	}
	acc->flags = page->flags;
	r = MQE2E_OK;
out:
	free(had);
	mqe2e_keybundle_free(page);
	return r;
}

int
mqe2e_keybundle_encode(const struct mqe2e_keybundle *kb, uint8_t **out, size_t *len)
{
	struct mqe2e_writer w;
	struct mqe2e_group_info *g = NULL;
	const struct mqe2e_group_info *gi;
	size_t i, ng, nk;
	int r = MQE2E_ERR_INVALID_ARG;

	*out = NULL;
	*len = 0;
	if (kb == NULL)
		return MQE2E_ERR_INVALID_ARG;
	ng = kb->ngroups;
	nk = kb->nkeys;
	if ((kb->groups == NULL && ng > 0) || (kb->keys == NULL && nk > 0) ||
	    ng > MQE2E_KEYBUNDLE_GROUPS_MAX || nk > MQE2E_KEYS_MAX ||
	    (kb->flags & ~MQE2E_KEYBUNDLE_MORE) != 0)
		return MQE2E_ERR_INVALID_ARG;
	/* the table goes out sorted by name, so that the reader can check that
	 * names are distinct in one pass and look them up by bisection */
	if (ng > 0) {
		if ((g = malloc(ng * sizeof(*g))) == NULL)
			return MQE2E_ERR_NOMEM;
		memcpy(g, kb->groups, ng * sizeof(*g));
		qsort(g, ng, sizeof(*g), group_cmp);
	}
	for (i = 0; i < ng; i++)
		if (!group_info_ok(&g[i]) || (i > 0 && group_cmp(&g[i - 1], &g[i]) == 0))
			goto out;
	for (i = 0; i < nk; i++) {
		struct mqe2e_keybundle sorted = { g, ng, NULL, 0, 0 };

		if (!key_entry_ok(&kb->keys[i]) ||
		    (gi = mqe2e_keybundle_group(&sorted, kb->keys[i].group)) == NULL ||
		    gi->scheme != kb->keys[i].scheme)
			goto out;
	}
	mqe2e_wr_init_grow(&w, 6 + nk * (KEY_ENTRY_MIN + 32), MQE2E_KEYBUNDLE_MAX);
	mqe2e_wr_u8(&w, MQE2E_VERSION_KEY_BUNDLE);
	mqe2e_wr_u8(&w, MQE2E_MSG_KEY_BUNDLE);
	mqe2e_wr_u8(&w, kb->flags);
	mqe2e_wr_u16(&w, (uint16_t)ng);
	for (i = 0; i < ng; i++) {
		mqe2e_wr_vec16(&w, g[i].name, strlen(g[i].name));
		mqe2e_wr_u8(&w, g[i].scheme);
		mqe2e_wr_u8(&w, g[i].rights);
		mqe2e_wr_vec16(&w, g[i].filter, strlen(g[i].filter));
	}
	mqe2e_wr_u16(&w, (uint16_t)nk);
	for (i = 0; i < nk; i++) {
		const struct mqe2e_key_entry *e = &kb->keys[i];

		mqe2e_wr_vec16(&w, e->group, strlen(e->group));
		mqe2e_wr_u8(&w, e->kind);
		mqe2e_wr_u32(&w, e->epoch);
		mqe2e_wr_u64(&w, e->not_before_ms);
		mqe2e_wr_u64(&w, e->not_after_ms);
		mqe2e_wr_bytes(&w, e->key, MQE2E_KEY_LEN);
	}
	r = mqe2e_wr_steal(&w, out, len);
out:
	free(g);
	return r;
}

/* The group table: sorted, distinct names, valid fields. */
static int
read_groups(struct mqe2e_reader *r, struct mqe2e_keybundle *kb)
{
	struct mqe2e_view v;
	uint16_t count;
	void *table;
	size_t i;
	int rc;

	if ((rc = read_table(r, MQE2E_KEYBUNDLE_GROUPS_MAX, GROUP_INFO_MIN, &count,
	    sizeof(*kb->groups), &table)) != MQE2E_OK)
		return rc;
	kb->groups = table;
	for (i = 0; i < count; i++) {
		struct mqe2e_group_info *g = &kb->groups[i];

		if ((rc = mqe2e_rd_vec16(r, 1, MQE2E_ID_MAX, &v)) != MQE2E_OK ||
		    (rc = mqe2e_view_to_str(v, g->name, sizeof(g->name))) != MQE2E_OK ||
		    (rc = mqe2e_rd_u8(r, &g->scheme)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u8(r, &g->rights)) != MQE2E_OK ||
		    (rc = mqe2e_rd_vec16(r, 1, MQE2E_FILTER_MAX, &v)) != MQE2E_OK ||
		    (rc = mqe2e_view_to_str(v, g->filter, sizeof(g->filter))) != MQE2E_OK)
			return rc;
		kb->ngroups = i + 1;
		if (!group_info_ok(g) || (i > 0 && group_cmp(&kb->groups[i - 1], g) >= 0))
			return MQE2E_ERR_BAD_FORMAT;
	}
	return MQE2E_OK;
}

/* The key entries; each names a group of the table and takes its scheme. */
static int
read_keys(struct mqe2e_reader *r, struct mqe2e_keybundle *kb)
{
	const struct mqe2e_group_info *gi;
	struct mqe2e_view v;
	uint16_t count;
	void *table;
	size_t i;
	int rc;

	if ((rc = read_table(r, MQE2E_KEYS_MAX, KEY_ENTRY_MIN, &count, sizeof(*kb->keys),
	    &table)) != MQE2E_OK)
		return rc;
	kb->keys = table;
	kb->nkeys = count;   /* wiped as a whole by mqe2e_keybundle_free */
	for (i = 0; i < count; i++) {
		struct mqe2e_key_entry *e = &kb->keys[i];

		if ((rc = mqe2e_rd_vec16(r, 1, MQE2E_ID_MAX, &v)) != MQE2E_OK ||
		    (rc = mqe2e_view_to_str(v, e->group, sizeof(e->group))) != MQE2E_OK ||
		    (rc = mqe2e_rd_u8(r, &e->kind)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u32(r, &e->epoch)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u64(r, &e->not_before_ms)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u64(r, &e->not_after_ms)) != MQE2E_OK ||
		    (rc = mqe2e_rd_copy(r, e->key, MQE2E_KEY_LEN)) != MQE2E_OK)
			return rc;
		if (!key_entry_ok(e) || (gi = mqe2e_keybundle_group(kb, e->group)) == NULL)
			return MQE2E_ERR_BAD_FORMAT;
		e->scheme = gi->scheme;
	}
	return MQE2E_OK;
}

int
mqe2e_keybundle_decode(const uint8_t *in, size_t len, struct mqe2e_keybundle *kb)
{
	struct mqe2e_reader r;
	struct mqe2e_keybundle out;
	int rc;

	memset(&out, 0, sizeof(out));
	if (kb == NULL)
		return MQE2E_ERR_INVALID_ARG;
	memset(kb, 0, sizeof(*kb));
	mqe2e_rd_init(&r, in, len);
	if ((rc = wire__read_head(&r, MQE2E_MSG_KEY_BUNDLE)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u8(&r, &out.flags)) != MQE2E_OK ||
	    ((out.flags & ~MQE2E_KEYBUNDLE_MORE) != 0 && (rc = MQE2E_ERR_BAD_FORMAT)) ||
	    (rc = read_groups(&r, &out)) != MQE2E_OK ||
	    (rc = read_keys(&r, &out)) != MQE2E_OK ||
	    (rc = mqe2e_rd_end(&r)) != MQE2E_OK) {
		mqe2e_keybundle_free(&out);
		return rc;
	}
	*kb = out;
	return MQE2E_OK;
}
