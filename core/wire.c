/*
 * wire.c - identifiers, the E2E envelope and the channel frame.
 * Byte layouts: docs/PROTOCOL.md sections 3-5.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "wire_int.h"

#define LABEL_E2E "mqe2e-v1 e2e"
#define LABEL_CHAN "mqe2e-v1 chan"

/* ---- identifiers ------------------------------------------------------------ */

int
mqe2e_id_valid(const uint8_t *p, size_t len)
{
	size_t i;

	if (p == NULL || len < 1 || len > MQE2E_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '|')
			return 0;
	return 1;
}

int
mqe2e_id_valid_str(const char *s)
{
	return s != NULL && mqe2e_id_valid((const uint8_t *)s, strlen(s));
}

uint8_t
mqe2e_msg_version(uint8_t type)
{
	switch (type) {
	case MQE2E_MSG_CONNECT_HELLO:
		return MQE2E_VERSION_CONNECT_HELLO;
	case MQE2E_MSG_ENVELOPE:
		return MQE2E_VERSION_ENVELOPE;
	case MQE2E_MSG_KEY_REQUEST:
		return MQE2E_VERSION_KEY_REQUEST;
	case MQE2E_MSG_KEY_BUNDLE:
		return MQE2E_VERSION_KEY_BUNDLE;
	default:
		return MQE2E_VERSION;
	}
}

/* 1 if p[0..len) is "ID|ID|ID": a pair id (publisher, subscriber, group). */
static int
pair_id_valid(const uint8_t *p, size_t len)
{
	const uint8_t *a, *b;

	if ((a = memchr(p, '|', len)) == NULL ||
	    (b = memchr(a + 1, '|', len - (size_t)(a + 1 - p))) == NULL)
		return 0;
	return mqe2e_id_valid(p, (size_t)(a - p)) &&
	    mqe2e_id_valid(a + 1, (size_t)(b - a - 1)) &&
	    mqe2e_id_valid(b + 1, len - (size_t)(b + 1 - p));
}

int
mqe2e_keyname_valid(const uint8_t *p, size_t len)
{
	if (p == NULL || len < 1 || len > MQE2E_KEYNAME_MAX)
		return 0;
	if (memchr(p, '|', len) == NULL)
		return mqe2e_id_valid(p, len);
	return pair_id_valid(p, len);
}

/* A key name fits its kind: a group name for groups, "PUB|SUB|GROUP" for
 * pairs, empty for sessions. */
int
wire__keyname_fits(uint8_t kind, const uint8_t *p, size_t len)
{
	switch (kind) {
	case MQE2E_KEY_GROUP:
		return mqe2e_id_valid(p, len);
	case MQE2E_KEY_PAIR:
		return memchr(p, '|', len) != NULL && mqe2e_keyname_valid(p, len);
	case MQE2E_KEY_SESSION:
		return len == 0;
	default:
		return 0;
	}
}

int
mqe2e_pair_id(const char *pub, const char *sub, const char *group, char *out, size_t out_len)
{
	size_t a, b, g;

	if (!mqe2e_id_valid_str(pub) || !mqe2e_id_valid_str(sub) ||
	    !mqe2e_id_valid_str(group) || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	a = strlen(pub);
	b = strlen(sub);
	g = strlen(group);
	if (out_len < a + b + g + 3)
		return MQE2E_ERR_TOO_LONG;
	memcpy(out, pub, a);
	out[a] = '|';
	memcpy(out + a + 1, sub, b);
	out[a + b + 1] = '|';
	memcpy(out + a + b + 2, group, g);
	out[a + b + g + 2] = '\0';
	return MQE2E_OK;
}

/* ---- AAD assembly ----------------------------------------------------------- */

#define AAD_STACK 1024

/* label || u16 len topic || topic || header into a buffer: the stack
 * buffer if it fits, else the heap (*heap set; free it). */
static int
aad_build(const char *label, const char *topic, size_t topic_len, struct mqe2e_view header,
    uint8_t *stack, size_t stack_len, uint8_t **heap, uint8_t **aad, size_t *aad_len)
{
	size_t ll = strlen(label), n;
	uint8_t *p;

	*heap = NULL;
	if (topic_len > MQE2E_TOPIC_MAX || (topic == NULL && topic_len > 0))
		return MQE2E_ERR_INVALID_ARG;
	n = ll + 2 + topic_len + header.len;
	if (n <= stack_len)
		p = stack;
	else if ((p = *heap = malloc(n)) == NULL)
		return MQE2E_ERR_NOMEM;
	memcpy(p, label, ll);
	p[ll] = (uint8_t)(topic_len >> 8);
	p[ll + 1] = (uint8_t)topic_len;
	if (topic_len > 0)
		memcpy(p + ll + 2, topic, topic_len);
	memcpy(p + ll + 2 + topic_len, header.p, header.len);
	*aad = p;
	*aad_len = n;
	return MQE2E_OK;
}

/* AES-GCM under key and nonce with the AAD label || u16 topic length ||
 * topic || header, for the envelope and the AEAD frame alike: seal (in is
 * the plaintext, out gets in_len + tag bytes) or open (in is ciphertext ||
 * tag, checked before out keeps anything; see mqe2e_aead_open). */
static int
aead_with_aad(struct mqe2e_aead *key, int seal, const char *label,
    const uint8_t nonce[MQE2E_GCM_NONCE_LEN], const char *topic, size_t topic_len,
    struct mqe2e_view header, const uint8_t *in, size_t in_len, uint8_t *out)
{
	uint8_t stack[AAD_STACK], *heap, *aad;
	size_t aad_len;
	int r;

	if ((r = aad_build(label, topic, topic_len, header, stack, sizeof(stack), &heap, &aad,
	    &aad_len)) != MQE2E_OK)
		return r;
	if (seal)
		r = mqe2e_aead_seal(key, nonce, aad, aad_len, in, in_len, out);
	else
		r = mqe2e_aead_open(key, nonce, aad, aad_len, in, in_len, out);
	free(heap);
	return r;
}

/* Start writing a message of need bytes (0: its parameters are invalid)
 * into out[cap]: INVALID_ARG, TOO_LONG or OK with w set up. */
static int
wr_begin(struct mqe2e_writer *w, size_t need, uint8_t *out, size_t cap)
{
	if (need == 0)
		return MQE2E_ERR_INVALID_ARG;
	if (cap < need)
		return MQE2E_ERR_TOO_LONG;
	mqe2e_wr_init_fixed(w, out, cap);
	return MQE2E_OK;
}

/* ---- envelope ---------------------------------------------------------------- */

static int
envelope_params_ok(const struct mqe2e_envelope_params *p)
{
	if (p == NULL || p->key_name == NULL || p->sender == NULL)
		return 0;
	if (p->scheme < MQE2E_SCHEME_1 || p->scheme > MQE2E_SCHEME_4)
		return 0;
	if ((p->key_kind == MQE2E_KEY_GROUP) != (p->scheme >= MQE2E_SCHEME_3))
		return 0;
	if ((p->flags & ~MQE2E_ENV_FLAGS_ALL) != 0)
		return 0;
	return wire__keyname_fits(p->key_kind, (const uint8_t *)p->key_name,
	    strlen(p->key_name)) && mqe2e_id_valid_str(p->sender);
}

static size_t
envelope_header_size(const struct mqe2e_envelope_params *p)
{
	return 2 + 1 + 1 + 2 + strlen(p->key_name) + 4 + 2 + strlen(p->sender) + 8 + 1 +
	    MQE2E_GCM_NONCE_LEN;
}

size_t
mqe2e_envelope_size(const struct mqe2e_envelope_params *p, size_t pt_len)
{
	if (!envelope_params_ok(p) || pt_len > MQE2E_PAYLOAD_MAX)
		return 0;
	return envelope_header_size(p) + 4 + pt_len + MQE2E_GCM_TAG_LEN;
}

int
mqe2e_envelope_seal_ex(struct mqe2e_aead *key, const struct mqe2e_envelope_params *p,
    const uint8_t nonce[MQE2E_GCM_NONCE_LEN], const char *topic, size_t topic_len,
    const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct mqe2e_writer w;
	struct mqe2e_view hdr;
	uint8_t *ct;
	int r;

	*out_len = 0;
	if (key == NULL || (pt == NULL && pt_len > 0) || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = wr_begin(&w, mqe2e_envelope_size(p, pt_len), out, out_cap)) != MQE2E_OK)
		return r;
	mqe2e_wr_u8(&w, MQE2E_VERSION_ENVELOPE);
	mqe2e_wr_u8(&w, MQE2E_MSG_ENVELOPE);
	mqe2e_wr_u8(&w, p->scheme);
	mqe2e_wr_u8(&w, p->key_kind);
	mqe2e_wr_vec16(&w, p->key_name, strlen(p->key_name));
	mqe2e_wr_u32(&w, p->epoch);
	mqe2e_wr_vec16(&w, p->sender, strlen(p->sender));
	mqe2e_wr_u64(&w, p->seq);
	mqe2e_wr_u8(&w, p->flags);
	mqe2e_wr_bytes(&w, nonce, MQE2E_GCM_NONCE_LEN);
	hdr.p = out;
	hdr.len = w.len;
	mqe2e_wr_u32(&w, (uint32_t)(pt_len + MQE2E_GCM_TAG_LEN));
	ct = mqe2e_wr_reserve(&w, pt_len + MQE2E_GCM_TAG_LEN);
	if ((r = mqe2e_wr_error(&w)) != MQE2E_OK ||
	    (r = aead_with_aad(key, 1, LABEL_E2E, nonce, topic, topic_len, hdr, pt, pt_len,
	    ct)) != MQE2E_OK)
		return r;
	*out_len = w.len;
	return MQE2E_OK;
}

int
mqe2e_envelope_seal(struct mqe2e_aead *key, const struct mqe2e_envelope_params *p,
    const char *topic, size_t topic_len, const uint8_t *pt, size_t pt_len,
    uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t nonce[MQE2E_GCM_NONCE_LEN];
	int r;

	*out_len = 0;
	if ((r = mqe2e_random(nonce, sizeof(nonce))) != MQE2E_OK)
		return r;
	return mqe2e_envelope_seal_ex(key, p, nonce, topic, topic_len, pt, pt_len, out,
	    out_cap, out_len);
}

/* Common start of every message: the version of the expected type, then
 * that type, a or b (which share a version); *type says which. */
int
wire__read_head_either(struct mqe2e_reader *r, uint8_t a, uint8_t b, uint8_t *type)
{
	uint8_t ver;
	int rc;

	if ((rc = mqe2e_rd_u8(r, &ver)) != MQE2E_OK)
		return rc;
	if (ver != mqe2e_msg_version(a))
		return MQE2E_ERR_BAD_VERSION;
	if ((rc = mqe2e_rd_u8(r, type)) != MQE2E_OK)
		return rc;
	if (*type != a && *type != b)
		return MQE2E_ERR_BAD_TYPE;
	return MQE2E_OK;
}

int
wire__read_head(struct mqe2e_reader *r, uint8_t expect_type)
{
	uint8_t type;

	return wire__read_head_either(r, expect_type, expect_type, &type);
}

int
mqe2e_envelope_decode(const uint8_t *in, size_t len, struct mqe2e_envelope *env)
{
	struct mqe2e_reader r;
	struct mqe2e_view nonce;
	int rc;

	memset(env, 0, sizeof(*env));
	mqe2e_rd_init(&r, in, len);
	if ((rc = wire__read_head(&r, MQE2E_MSG_ENVELOPE)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u8(&r, &env->scheme)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u8(&r, &env->key_kind)) != MQE2E_OK ||
	    (rc = mqe2e_rd_vec16(&r, 1, MQE2E_KEYNAME_MAX, &env->key_name)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u32(&r, &env->epoch)) != MQE2E_OK ||
	    (rc = mqe2e_rd_vec16(&r, 1, MQE2E_ID_MAX, &env->sender)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u64(&r, &env->seq)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u8(&r, &env->flags)) != MQE2E_OK ||
	    (rc = mqe2e_rd_view(&r, MQE2E_GCM_NONCE_LEN, &nonce)) != MQE2E_OK)
		goto out;
	env->nonce = nonce.p;
	env->header = mqe2e_rd_consumed(&r);
	if ((rc = mqe2e_rd_vec32(&r, MQE2E_GCM_TAG_LEN, MQE2E_PAYLOAD_MAX + MQE2E_GCM_TAG_LEN,
	    &env->ct)) != MQE2E_OK ||
	    (rc = mqe2e_rd_end(&r)) != MQE2E_OK)
		goto out;
	rc = MQE2E_ERR_BAD_FORMAT;
	if (env->scheme < MQE2E_SCHEME_1 || env->scheme > MQE2E_SCHEME_4)
		goto out;
	if (env->key_kind != MQE2E_KEY_GROUP && env->key_kind != MQE2E_KEY_PAIR)
		goto out;
	if ((env->flags & ~MQE2E_ENV_FLAGS_ALL) != 0)
		goto out;
	if ((env->key_kind == MQE2E_KEY_GROUP) != (env->scheme >= MQE2E_SCHEME_3))
		goto out;
	if (!wire__keyname_fits(env->key_kind, env->key_name.p, env->key_name.len) ||
	    !mqe2e_id_valid(env->sender.p, env->sender.len))
		goto out;
	rc = MQE2E_OK;
out:
	if (rc != MQE2E_OK)
		memset(env, 0, sizeof(*env));
	return rc;
}

int
mqe2e_envelope_open(struct mqe2e_aead *key, const struct mqe2e_envelope *env,
    const char *topic, size_t topic_len, uint8_t *pt)
{
	if (key == NULL || env == NULL || env->nonce == NULL ||
	    env->ct.len < MQE2E_GCM_TAG_LEN || (pt == NULL && env->ct.len > MQE2E_GCM_TAG_LEN))
		return MQE2E_ERR_INVALID_ARG;
	return aead_with_aad(key, 0, LABEL_E2E, env->nonce, topic, topic_len, env->header,
	    env->ct.p, env->ct.len, pt);
}

/* ---- channel frame ------------------------------------------------------------ */

static int
frame_params_ok(const struct mqe2e_frame_params *p)
{
	const char *name;

	if (p == NULL || p->sender == NULL || !mqe2e_id_valid_str(p->sender))
		return 0;
	name = p->key_name == NULL ? "" : p->key_name;
	if (p->key_kind == MQE2E_KEY_SESSION && p->epoch != 0)
		return 0;
	if (p->key_kind != MQE2E_KEY_SESSION && p->key_kind != MQE2E_KEY_GROUP)
		return 0;
	return wire__keyname_fits(p->key_kind, (const uint8_t *)name, strlen(name));
}

static size_t
frame_header_size(const struct mqe2e_frame_params *p)
{
	return 2 + 1 + 2 + (p->key_name == NULL ? 0 : strlen(p->key_name)) + 4 + 2 +
	    strlen(p->sender) + 8;
}

size_t
mqe2e_frame_mac_size(const struct mqe2e_frame_params *p, size_t body_len)
{
	if (!frame_params_ok(p) || body_len > MQE2E_PAYLOAD_MAX + 1024)
		return 0;
	return frame_header_size(p) + 4 + body_len + MQE2E_MAC_TAG_LEN;
}

size_t
mqe2e_frame_aead_size(const struct mqe2e_frame_params *p, size_t pt_len)
{
	if (!frame_params_ok(p) || pt_len > MQE2E_PAYLOAD_MAX + 1024)
		return 0;
	return frame_header_size(p) + MQE2E_GCM_NONCE_LEN + 4 + pt_len + MQE2E_GCM_TAG_LEN;
}

static void
frame_write_header(struct mqe2e_writer *w, uint8_t type, const struct mqe2e_frame_params *p)
{
	const char *name = p->key_name == NULL ? "" : p->key_name;

	mqe2e_wr_u8(w, MQE2E_VERSION);
	mqe2e_wr_u8(w, type);
	mqe2e_wr_u8(w, p->key_kind);
	mqe2e_wr_vec16(w, name, strlen(name));
	mqe2e_wr_u32(w, p->epoch);
	mqe2e_wr_vec16(w, p->sender, strlen(p->sender));
	mqe2e_wr_u64(w, p->seq);
}

/* The MAC input parts: label, u16 topic length, topic, header, body. */
static void
frame_mac_parts(struct mqe2e_iov parts[5], uint8_t tl[2], const char *topic, size_t topic_len,
    struct mqe2e_view header, const uint8_t *body, size_t body_len)
{
	tl[0] = (uint8_t)(topic_len >> 8);
	tl[1] = (uint8_t)topic_len;
	parts[0].p = LABEL_CHAN;
	parts[0].len = strlen(LABEL_CHAN);
	parts[1].p = tl;
	parts[1].len = 2;
	parts[2].p = topic;
	parts[2].len = topic_len;
	parts[3].p = header.p;
	parts[3].len = header.len;
	parts[4].p = body;
	parts[4].len = body_len;
}

int
mqe2e_frame_mac_build(struct mqe2e_mac *key, const struct mqe2e_frame_params *p,
    const char *topic, size_t topic_len, const uint8_t *body, size_t body_len,
    uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct mqe2e_writer w;
	struct mqe2e_iov parts[5];
	struct mqe2e_view hdr;
	uint8_t tl[2], *tag;
	int r;

	*out_len = 0;
	if (key == NULL || (body == NULL && body_len > 0) || out == NULL ||
	    topic_len > MQE2E_TOPIC_MAX || (topic == NULL && topic_len > 0))
		return MQE2E_ERR_INVALID_ARG;
	if ((r = wr_begin(&w, mqe2e_frame_mac_size(p, body_len), out, out_cap)) != MQE2E_OK)
		return r;
	frame_write_header(&w, MQE2E_MSG_FRAME_MAC, p);
	mqe2e_wr_u32(&w, (uint32_t)body_len);
	hdr.p = out;
	hdr.len = w.len;
	mqe2e_wr_bytes(&w, body, body_len);
	tag = mqe2e_wr_reserve(&w, MQE2E_MAC_TAG_LEN);
	if ((r = mqe2e_wr_error(&w)) != MQE2E_OK)
		return r;
	frame_mac_parts(parts, tl, topic, topic_len, hdr, hdr.p + hdr.len, body_len);
	if ((r = mqe2e_mac_compute(key, parts, 5, tag, MQE2E_MAC_TAG_LEN)) != MQE2E_OK)
		return r;
	*out_len = w.len;
	return MQE2E_OK;
}

int
mqe2e_frame_aead_build_ex(struct mqe2e_aead *key, const struct mqe2e_frame_params *p,
    const uint8_t nonce[MQE2E_GCM_NONCE_LEN], const char *topic, size_t topic_len,
    const uint8_t *pt, size_t pt_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct mqe2e_writer w;
	struct mqe2e_view hdr;
	uint8_t *ct;
	int r;

	*out_len = 0;
	if (key == NULL || (pt == NULL && pt_len > 0) || out == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = wr_begin(&w, mqe2e_frame_aead_size(p, pt_len), out, out_cap)) != MQE2E_OK)
		return r;
	frame_write_header(&w, MQE2E_MSG_FRAME_AEAD, p);
	mqe2e_wr_bytes(&w, nonce, MQE2E_GCM_NONCE_LEN);
	mqe2e_wr_u32(&w, (uint32_t)(pt_len + MQE2E_GCM_TAG_LEN));
	hdr.p = out;
	hdr.len = w.len;
	ct = mqe2e_wr_reserve(&w, pt_len + MQE2E_GCM_TAG_LEN);
	if ((r = mqe2e_wr_error(&w)) != MQE2E_OK ||
	    (r = aead_with_aad(key, 1, LABEL_CHAN, nonce, topic, topic_len, hdr, pt, pt_len,
	    ct)) != MQE2E_OK)
		return r;
	*out_len = w.len;
	return MQE2E_OK;
}

int
mqe2e_frame_aead_build(struct mqe2e_aead *key, const struct mqe2e_frame_params *p,
    const char *topic, size_t topic_len, const uint8_t *pt, size_t pt_len,
    uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t nonce[MQE2E_GCM_NONCE_LEN];
	int r;

	*out_len = 0;
	if ((r = mqe2e_random(nonce, sizeof(nonce))) != MQE2E_OK)
		return r;
	return mqe2e_frame_aead_build_ex(key, p, nonce, topic, topic_len, pt, pt_len, out,
	    out_cap, out_len);
}

int
mqe2e_frame_decode(const uint8_t *in, size_t len, struct mqe2e_frame *f)
{
	struct mqe2e_reader r;
	struct mqe2e_view v;
	int rc;

	memset(f, 0, sizeof(*f));
	mqe2e_rd_init(&r, in, len);
	if ((rc = wire__read_head_either(&r, MQE2E_MSG_FRAME_MAC, MQE2E_MSG_FRAME_AEAD,
	    &f->type)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u8(&r, &f->key_kind)) != MQE2E_OK ||
	    (rc = mqe2e_rd_vec16(&r, 0, MQE2E_ID_MAX, &f->key_name)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u32(&r, &f->epoch)) != MQE2E_OK ||
	    (rc = mqe2e_rd_vec16(&r, 1, MQE2E_ID_MAX, &f->sender)) != MQE2E_OK ||
	    (rc = mqe2e_rd_u64(&r, &f->seq)) != MQE2E_OK)
		goto out;
	if (f->type == MQE2E_MSG_FRAME_AEAD) {
		if ((rc = mqe2e_rd_view(&r, MQE2E_GCM_NONCE_LEN, &v)) != MQE2E_OK)
			goto out;
		f->nonce = v.p;
	}
	/* the header ends with the body length: include it */
	if ((rc = mqe2e_rd_vec32(&r, f->type == MQE2E_MSG_FRAME_AEAD ? MQE2E_GCM_TAG_LEN : 0,
	    MQE2E_PAYLOAD_MAX + 1024 + MQE2E_GCM_TAG_LEN, &f->body)) != MQE2E_OK)
		goto out;
	f->header.p = in;
	f->header.len = (size_t)(f->body.p - in);
	if (f->type == MQE2E_MSG_FRAME_MAC) {
		if ((rc = mqe2e_rd_view(&r, MQE2E_MAC_TAG_LEN, &v)) != MQE2E_OK)
			goto out;
		f->tag = v.p;
	}
	if ((rc = mqe2e_rd_end(&r)) != MQE2E_OK)
		goto out;
	rc = MQE2E_ERR_BAD_FORMAT;
	if (f->key_kind != MQE2E_KEY_SESSION && f->key_kind != MQE2E_KEY_GROUP)
		goto out;
	if (f->key_kind == MQE2E_KEY_SESSION && f->epoch != 0)
		goto out;
	if (!wire__keyname_fits(f->key_kind, f->key_name.p, f->key_name.len) ||
	    !mqe2e_id_valid(f->sender.p, f->sender.len))
		goto out;
	rc = MQE2E_OK;
out:
	if (rc != MQE2E_OK)
		memset(f, 0, sizeof(*f));
	return rc;
}

int
mqe2e_frame_mac_verify(struct mqe2e_mac *key, const struct mqe2e_frame *f,
    const char *topic, size_t topic_len)
{
	struct mqe2e_iov parts[5];
	uint8_t tl[2];

	if (key == NULL || f == NULL || topic_len > MQE2E_TOPIC_MAX ||
	    (topic == NULL && topic_len > 0))
		return MQE2E_ERR_INVALID_ARG;
	if (f->type != MQE2E_MSG_FRAME_MAC || f->tag == NULL)
		return MQE2E_ERR_BAD_TYPE;
	frame_mac_parts(parts, tl, topic, topic_len, f->header, f->body.p, f->body.len);
	return mqe2e_mac_verify(key, parts, 5, f->tag, MQE2E_MAC_TAG_LEN);
}

int
mqe2e_frame_aead_open(struct mqe2e_aead *key, const struct mqe2e_frame *f,
    const char *topic, size_t topic_len, uint8_t *pt)
{
	if (key == NULL || f == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (f->type != MQE2E_MSG_FRAME_AEAD || f->nonce == NULL ||
	    f->body.len < MQE2E_GCM_TAG_LEN)
		return MQE2E_ERR_BAD_TYPE;
	if (pt == NULL && f->body.len > MQE2E_GCM_TAG_LEN)
		return MQE2E_ERR_INVALID_ARG;
	return aead_with_aad(key, 0, LABEL_CHAN, f->nonce, topic, topic_len, f->header,
	    f->body.p, f->body.len, pt);
}
