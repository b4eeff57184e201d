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

/* Read the head and count of a bundle. */
static int
bundle_begin(struct mqe2e_reader *r, const uint8_t *in, size_t len, uint16_t *count)
{
	int rc;

	mqe2e_rd_init(r, in, len);
	if ((rc = wire__read_head(r, MQE2E_MSG_BUNDLE)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u16(r, count)) != MQE2E_OK)
		return rc;
	if (*count == 0)
		return MQE2E_ERR_BAD_FORMAT;
	/* each entry takes at least 2 + 1 + 4 bytes */
	if ((size_t)*count * 7 > mqe2e_rd_left(r))
		return MQE2E_ERR_TRUNCATED;
	return MQE2E_OK;
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

#define KEY_ENTRY_MIN (2 + 1 + 1 + 1 + 4 + 8 + 8 + MQE2E_KEY_LEN)

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

static int
key_entry_ok(const struct mqe2e_key_entry *e)
{
	return mqe2e_id_valid_str(e->group) &&
	    e->scheme >= MQE2E_SCHEME_1 && e->scheme <= MQE2E_SCHEME_4 &&
	    (e->kind == MQE2E_GK_P || e->kind == MQE2E_GK_B) &&
	    e->not_before_ms <= e->not_after_ms;
}

int
mqe2e_keybundle_encode(const struct mqe2e_key_entry *e, size_t n, uint8_t **out, size_t *len)
{
	struct mqe2e_writer w;
	size_t i;

	*out = NULL;
	*len = 0;
	if ((e == NULL && n > 0) || n > MQE2E_KEYS_MAX)
		return MQE2E_ERR_INVALID_ARG;
	for (i = 0; i < n; i++)
		if (!key_entry_ok(&e[i]))
			return MQE2E_ERR_INVALID_ARG;
	mqe2e_wr_init_grow(&w, 2 + n * (KEY_ENTRY_MIN + 32), 2 + n * (KEY_ENTRY_MIN + MQE2E_ID_MAX));
	mqe2e_wr_u16(&w, (uint16_t)n);
	for (i = 0; i < n; i++) {
		mqe2e_wr_vec16(&w, e[i].group, strlen(e[i].group));
		mqe2e_wr_u8(&w, e[i].scheme);
		mqe2e_wr_u8(&w, e[i].kind);
		mqe2e_wr_u32(&w, e[i].epoch);
		mqe2e_wr_u64(&w, e[i].not_before_ms);
		mqe2e_wr_u64(&w, e[i].not_after_ms);
		mqe2e_wr_bytes(&w, e[i].key, MQE2E_KEY_LEN);
	}
	return mqe2e_wr_steal(&w, out, len);
}

int
mqe2e_keybundle_decode(const uint8_t *in, size_t len, struct mqe2e_key_entry **out, size_t *n)
{
	struct mqe2e_reader r;
	struct mqe2e_key_entry *e = NULL;
	struct mqe2e_view g;
	uint16_t count = 0;
	size_t i;
	int rc;

	*out = NULL;
	*n = 0;
	mqe2e_rd_init(&r, in, len);
	if ((rc = mqe2e_rd_u16(&r, &count)) != MQE2E_OK)
		goto out;
	if (count > MQE2E_KEYS_MAX) {
		rc = MQE2E_ERR_TOO_LONG;
		goto out;
	}
	if ((size_t)count * KEY_ENTRY_MIN > mqe2e_rd_left(&r)) {
		rc = MQE2E_ERR_TRUNCATED;
		goto out;
	}
	if (count > 0 && (e = calloc(count, sizeof(*e))) == NULL) {
		rc = MQE2E_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		if ((rc = mqe2e_rd_vec16(&r, 1, MQE2E_ID_MAX, &g)) != MQE2E_OK ||
		    (rc = mqe2e_view_to_str(g, e[i].group, sizeof(e[i].group))) != MQE2E_OK ||
		    (rc = mqe2e_rd_u8(&r, &e[i].scheme)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u8(&r, &e[i].kind)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u32(&r, &e[i].epoch)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u64(&r, &e[i].not_before_ms)) != MQE2E_OK ||
		    (rc = mqe2e_rd_u64(&r, &e[i].not_after_ms)) != MQE2E_OK ||
		    (rc = mqe2e_rd_copy(&r, e[i].key, MQE2E_KEY_LEN)) != MQE2E_OK)
			goto out;
		if (!key_entry_ok(&e[i])) {
			rc = MQE2E_ERR_BAD_FORMAT;
			goto out;
		}
	}
	if ((rc = mqe2e_rd_end(&r)) != MQE2E_OK)
		goto out;
	*out = e;
	*n = count;
	e = NULL;
out:
	mqe2e_key_entries_free(e, count);
	return rc;
}
