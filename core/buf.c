/* buf.c - the bounds-checked reader and the capped writer. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"

int
mqe2e_view_eq_str(struct mqe2e_view v, const char *s)
{
	size_t n = strlen(s);

	return n == v.len && (n == 0 || memcmp(v.p, s, n) == 0);
}

int
mqe2e_view_to_str(struct mqe2e_view v, char *out, size_t out_len)
{
	if (out_len == 0 || v.len > out_len - 1)
		return MQE2E_ERR_TOO_LONG;
	if (v.len > 0 && memchr(v.p, 0, v.len) != NULL)
		return MQE2E_ERR_BAD_FORMAT;
	if (v.len > 0)
		memcpy(out, v.p, v.len);
	out[v.len] = '\0';
	return MQE2E_OK;
}

/* ---- reader ---------------------------------------------------------------- */

void
mqe2e_rd_init(struct mqe2e_reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = p == NULL ? 0 : len;
	r->off = 0;
}

size_t
mqe2e_rd_left(const struct mqe2e_reader *r)
{
	return r->len - r->off;
}

struct mqe2e_view
mqe2e_rd_consumed(const struct mqe2e_reader *r)
{
	struct mqe2e_view v = { r->p, r->off };

	return v;
}

/* Pointer to the next n bytes, consumed; NULL (nothing consumed) if short. */
static const uint8_t *
rd_take(struct mqe2e_reader *r, size_t n)
{
	const uint8_t *p;

	if (n > r->len - r->off)
		return NULL;
	p = r->p + r->off;
	r->off += n;
	return p;
}

int
mqe2e_rd_u8(struct mqe2e_reader *r, uint8_t *v)
{
	const uint8_t *p = rd_take(r, 1);

	if (p == NULL)
		return MQE2E_ERR_TRUNCATED;
	*v = p[0];
	return MQE2E_OK;
}

int
mqe2e_rd_u16(struct mqe2e_reader *r, uint16_t *v)
{
	const uint8_t *p = rd_take(r, 2);

	if (p == NULL)
		return MQE2E_ERR_TRUNCATED;
	*v = (uint16_t)((unsigned)p[0] << 8 | p[1]);
	return MQE2E_OK;
}

int
mqe2e_rd_u32(struct mqe2e_reader *r, uint32_t *v)
{
	const uint8_t *p = rd_take(r, 4);

	if (p == NULL)
		return MQE2E_ERR_TRUNCATED;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return MQE2E_OK;
}

int
mqe2e_rd_u64(struct mqe2e_reader *r, uint64_t *v)
{
	const uint8_t *p = rd_take(r, 8);
	uint64_t x = 0;
	size_t i;

	if (p == NULL)
		return MQE2E_ERR_TRUNCATED;
	for (i = 0; i < 8; i++)
		x = x << 8 | p[i];
	*v = x;
	return MQE2E_OK;
}

int
mqe2e_rd_view(struct mqe2e_reader *r, size_t n, struct mqe2e_view *v)
{
	const uint8_t *p = rd_take(r, n);

	if (p == NULL)
		return MQE2E_ERR_TRUNCATED;
	v->p = p;
	v->len = n;
	return MQE2E_OK;
}

int
mqe2e_rd_copy(struct mqe2e_reader *r, void *out, size_t n)
{
	const uint8_t *p = rd_take(r, n);

	if (p == NULL)
		return MQE2E_ERR_TRUNCATED;
	if (n > 0)
		memcpy(out, p, n);
	return MQE2E_OK;
}

/* Shared tail of the vec getters: length already read at r->off - width. */
static int
rd_vec_body(struct mqe2e_reader *r, size_t save, size_t n, size_t min, size_t max,
    struct mqe2e_view *v)
{
	int rc;

	if (n > max) {
		r->off = save;
		return MQE2E_ERR_TOO_LONG;
	}
	if (n < min) {
		r->off = save;
		return MQE2E_ERR_BAD_FORMAT;
	}
	if ((rc = mqe2e_rd_view(r, n, v)) != MQE2E_OK)
		r->off = save;
	return rc;
}

int
mqe2e_rd_vec16(struct mqe2e_reader *r, size_t min, size_t max, struct mqe2e_view *v)
{
	size_t save = r->off;
	uint16_t n;
	int rc;

	if ((rc = mqe2e_rd_u16(r, &n)) != MQE2E_OK)
		return rc;
	return rd_vec_body(r, save, n, min, max, v);
}

int
mqe2e_rd_vec32(struct mqe2e_reader *r, size_t min, size_t max, struct mqe2e_view *v)
{
	size_t save = r->off;
	uint32_t n;
	int rc;

	if ((rc = mqe2e_rd_u32(r, &n)) != MQE2E_OK)
		return rc;
	return rd_vec_body(r, save, n, min, max, v);
}

int
mqe2e_rd_end(const struct mqe2e_reader *r)
{
	return r->off == r->len ? MQE2E_OK : MQE2E_ERR_TRAILING;
}

/* ---- writer ---------------------------------------------------------------- */

void
mqe2e_wr_init_fixed(struct mqe2e_writer *w, uint8_t *buf, size_t cap)
{
	w->p = buf;
	w->len = 0;
	w->cap = buf == NULL ? 0 : cap;
	w->max = w->cap;
	w->err = MQE2E_OK;
	w->owned = 0;
}

void
mqe2e_wr_init_grow(struct mqe2e_writer *w, size_t hint, size_t max)
{
	w->p = NULL;
	w->len = 0;
	w->cap = 0;
	w->max = max;
	w->err = MQE2E_OK;
	w->owned = 1;
	if (hint > max)
		hint = max;
	if (hint > 0) {
		if ((w->p = malloc(hint)) == NULL)
			w->err = MQE2E_ERR_NOMEM;
		else
			w->cap = hint;
	}
}

void
mqe2e_wr_free(struct mqe2e_writer *w)
{
	if (w->owned && w->p != NULL) {
		mqe2e_wipe(w->p, w->cap);
		free(w->p);
	}
	w->p = NULL;
	w->len = w->cap = 0;
}

int
mqe2e_wr_error(const struct mqe2e_writer *w)
{
	return w->err;
}

/* Make room for n more bytes; sets the sticky error and returns NULL if
 * that is impossible. */
uint8_t *
mqe2e_wr_reserve(struct mqe2e_writer *w, size_t n)
{
	uint8_t *np;
	size_t want;

	if (w->err != MQE2E_OK)
		return NULL;
	if (n > w->max - w->len) {
		w->err = MQE2E_ERR_TOO_LONG;
		return NULL;
	}
	if (n > w->cap - w->len) {
		if (!w->owned) {
			w->err = MQE2E_ERR_TOO_LONG;
			return NULL;
		}
		want = w->cap < 64 ? 64 : w->cap;
		if (want > w->max)
			want = w->max;
		while (want - w->len < n)
			want = want > w->max / 2 ? w->max : want * 2;
		if ((np = malloc(want)) == NULL) {
			w->err = MQE2E_ERR_NOMEM;
			return NULL;
		}
		/* copy by hand so that the old buffer can be wiped */
		if (w->len > 0)
			memcpy(np, w->p, w->len);
		if (w->p != NULL) {
			mqe2e_wipe(w->p, w->cap);
			free(w->p);
		}
		w->p = np;
		w->cap = want;
	}
	np = w->p + w->len;
	w->len += n;
	return np;
}

void
mqe2e_wr_u8(struct mqe2e_writer *w, uint8_t v)
{
	uint8_t *p = mqe2e_wr_reserve(w, 1);

	if (p != NULL)
		p[0] = v;
}

void
mqe2e_wr_u16(struct mqe2e_writer *w, uint16_t v)
{
	uint8_t *p = mqe2e_wr_reserve(w, 2);

	if (p != NULL) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

void
mqe2e_wr_u32(struct mqe2e_writer *w, uint32_t v)
{
	uint8_t *p = mqe2e_wr_reserve(w, 4);

	if (p != NULL) {
		p[0] = (uint8_t)(v >> 24);
		p[1] = (uint8_t)(v >> 16);
		p[2] = (uint8_t)(v >> 8);
		p[3] = (uint8_t)v;
	}
}

void
mqe2e_wr_u64(struct mqe2e_writer *w, uint64_t v)
{
	uint8_t *p = mqe2e_wr_reserve(w, 8);
	int i;

	if (p != NULL)
		for (i = 7; i >= 0; i--, v >>= 8)
			p[i] = (uint8_t)v;
}

void
mqe2e_wr_bytes(struct mqe2e_writer *w, const void *src, size_t n)
{
	uint8_t *p = mqe2e_wr_reserve(w, n);

	if (p != NULL && n > 0)
		memcpy(p, src, n);
}

void
mqe2e_wr_vec16(struct mqe2e_writer *w, const void *src, size_t n)
{
	if (n > UINT16_MAX) {
		if (w->err == MQE2E_OK)
			w->err = MQE2E_ERR_TOO_LONG;
		return;
	}
	mqe2e_wr_u16(w, (uint16_t)n);
	mqe2e_wr_bytes(w, src, n);
}

void
mqe2e_wr_vec32(struct mqe2e_writer *w, const void *src, size_t n)
{
	if (n > UINT32_MAX) {
		if (w->err == MQE2E_OK)
			w->err = MQE2E_ERR_TOO_LONG;
		return;
	}
	mqe2e_wr_u32(w, (uint32_t)n);
	mqe2e_wr_bytes(w, src, n);
}

int
mqe2e_wr_steal(struct mqe2e_writer *w, uint8_t **out, size_t *len)
{
	int rc = w->err;

	*out = NULL;
	*len = 0;
	if (!w->owned)
		rc = rc != MQE2E_OK ? rc : MQE2E_ERR_INTERNAL;
	if (rc != MQE2E_OK) {
		mqe2e_wr_free(w);
		return rc;
	}
	if (w->p == NULL) {
		/* empty message: hand out a valid pointer all the same */
		if ((w->p = malloc(1)) == NULL) {
			w->err = MQE2E_ERR_NOMEM;
			return MQE2E_ERR_NOMEM;
		}
		w->cap = 1;
	}
	*out = w->p;
	*len = w->len;
	w->p = NULL;
	w->len = w->cap = 0;
	return MQE2E_OK;
}
