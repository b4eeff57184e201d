/*
 * buf.h - the one bounds-checked reader and the one writer of the project.
 *
 * Every untrusted byte (network, file, HTTP body) is parsed through a
 * struct mqe2e_reader.  A getter consumes a whole field or fails and leaves
 * the reader where it was; mqe2e_rd_end() fails if anything is left over.
 * Readers never allocate and never copy: views point into the input, which
 * the caller keeps alive.
 *
 * A struct mqe2e_writer writes into a caller-sized buffer (fixed) or into a
 * heap buffer that grows up to a hard cap.  Errors are sticky: after the
 * first failure every put is a no-op and mqe2e_wr_error() reports it, so
 * encoders chain puts and check once.
 *
 * All integers are big-endian.
 */
#ifndef MQE2E_BUF_H
#define MQE2E_BUF_H

#include <stddef.h>
#include <stdint.h>
#include "mqe2e_err.h"

/* A borrowed byte range (never owns its memory). */
struct mqe2e_view {
	const uint8_t *p;
	size_t len;
};

/* 1 if the view holds exactly the bytes of the NUL-terminated string s. */
int mqe2e_view_eq_str(struct mqe2e_view v, const char *s);
/* Copy a view into out as a NUL-terminated string; MQE2E_ERR_TOO_LONG if it
 * (plus the NUL) does not fit in out_len, MQE2E_ERR_BAD_FORMAT if it holds a
 * NUL byte. */
int mqe2e_view_to_str(struct mqe2e_view v, char *out, size_t out_len) MQE2E_WUR;

/* ---- reader ---------------------------------------------------------------- */
struct mqe2e_reader {
	const uint8_t *p;
	size_t len;
	size_t off;
};

void mqe2e_rd_init(struct mqe2e_reader *r, const uint8_t *p, size_t len);
size_t mqe2e_rd_left(const struct mqe2e_reader *r);
/* Bytes consumed so far, as a view from the start of the input. */
struct mqe2e_view mqe2e_rd_consumed(const struct mqe2e_reader *r);
/* All getters: MQE2E_OK or MQE2E_ERR_TRUNCATED (reader unchanged). */
int mqe2e_rd_u8(struct mqe2e_reader *r, uint8_t *v) MQE2E_WUR;
int mqe2e_rd_u16(struct mqe2e_reader *r, uint16_t *v) MQE2E_WUR;
int mqe2e_rd_u32(struct mqe2e_reader *r, uint32_t *v) MQE2E_WUR;
int mqe2e_rd_u64(struct mqe2e_reader *r, uint64_t *v) MQE2E_WUR;
/* A view of the next n bytes. */
int mqe2e_rd_view(struct mqe2e_reader *r, size_t n, struct mqe2e_view *v) MQE2E_WUR;
/* Copy the next n bytes into out. */
int mqe2e_rd_copy(struct mqe2e_reader *r, void *out, size_t n) MQE2E_WUR;
/* u16/u32 length then that many bytes.  Lengths below min or above max give
 * MQE2E_ERR_TOO_LONG (above) / MQE2E_ERR_BAD_FORMAT (below); a length past
 * the end of the input gives MQE2E_ERR_TRUNCATED.  Reader unchanged on error. */
int mqe2e_rd_vec16(struct mqe2e_reader *r, size_t min, size_t max, struct mqe2e_view *v) MQE2E_WUR;
int mqe2e_rd_vec32(struct mqe2e_reader *r, size_t min, size_t max, struct mqe2e_view *v) MQE2E_WUR;
/* MQE2E_OK if the whole input was consumed, MQE2E_ERR_TRAILING otherwise. */
int mqe2e_rd_end(const struct mqe2e_reader *r) MQE2E_WUR;

/* ---- writer ---------------------------------------------------------------- */
struct mqe2e_writer {
	uint8_t *p;
	size_t len;
	size_t cap;
	size_t max;     /* hard cap for growing writers */
	int err;        /* sticky: first error */
	int owned;      /* 1 if p is our heap buffer */
};

/* Write into buf[0..cap). */
void mqe2e_wr_init_fixed(struct mqe2e_writer *w, uint8_t *buf, size_t cap);
/* Growing heap buffer; start with hint bytes, never more than max
 * (MQE2E_ERR_TOO_LONG beyond). */
void mqe2e_wr_init_grow(struct mqe2e_writer *w, size_t hint, size_t max);
/* Wipe and free a growing writer's buffer (no-op for fixed writers). */
void mqe2e_wr_free(struct mqe2e_writer *w);
int mqe2e_wr_error(const struct mqe2e_writer *w);
void mqe2e_wr_u8(struct mqe2e_writer *w, uint8_t v);
void mqe2e_wr_u16(struct mqe2e_writer *w, uint16_t v);
void mqe2e_wr_u32(struct mqe2e_writer *w, uint32_t v);
void mqe2e_wr_u64(struct mqe2e_writer *w, uint64_t v);
void mqe2e_wr_bytes(struct mqe2e_writer *w, const void *p, size_t n);
/* Length-prefixed; MQE2E_ERR_TOO_LONG if n exceeds the prefix range. */
void mqe2e_wr_vec16(struct mqe2e_writer *w, const void *p, size_t n);
void mqe2e_wr_vec32(struct mqe2e_writer *w, const void *p, size_t n);
/* Reserve n bytes and return where they start (NULL after an error); the
 * caller fills them before the next put (a later put may move a growing
 * buffer). */
uint8_t *mqe2e_wr_reserve(struct mqe2e_writer *w, size_t n);
/* Hand a growing writer's buffer to the caller (malloc'd; free() it).
 * Returns the sticky error, or MQE2E_OK with *out and *len set; on error the
 * buffer is wiped and freed and *out = NULL. */
int mqe2e_wr_steal(struct mqe2e_writer *w, uint8_t **out, size_t *len) MQE2E_WUR;

#endif
