/*
 * handshake.c - shared pieces of the signed X25519 handshakes and the
 * CONNECT/CONNACK handshake that yields SK_CB.  docs/PROTOCOL.md section 2.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "wire_int.h"

/* ---- shared helpers ------------------------------------------------------------ */

int
mqe2e_kdf(const uint8_t th[MQE2E_SHA256_LEN], const uint8_t shared[MQE2E_X25519_LEN],
    const char *label, uint8_t out[MQE2E_KEY_LEN])
{
	return mqe2e_hkdf(th, MQE2E_SHA256_LEN, shared, MQE2E_X25519_LEN,
	    (const uint8_t *)label, strlen(label), out, MQE2E_KEY_LEN);
}

void
hs__write_hello_head(struct mqe2e_writer *w, uint8_t type, const struct mqe2e_identity *id,
    const uint8_t eph_pub[32], uint64_t ts_ms, const uint8_t nonce[16])
{
	mqe2e_wr_u8(w, mqe2e_msg_version(type));
	mqe2e_wr_u8(w, type);
	mqe2e_wr_vec16(w, id->id, strlen(id->id));
	mqe2e_wr_vec16(w, id->cert_der, id->cert_der_len);
	mqe2e_wr_bytes(w, eph_pub, MQE2E_X25519_LEN);
	mqe2e_wr_u64(w, ts_ms);
	mqe2e_wr_bytes(w, nonce, MQE2E_NONCE_LEN);
}

/* label || [req_hash] || body into one malloc'd buffer (Ed25519 is one-shot). */
static int
sig_input(const char *label, const uint8_t *req_hash, const uint8_t *body, size_t body_len,
    uint8_t **out, size_t *out_len)
{
	size_t ll = strlen(label), hl = req_hash == NULL ? 0 : MQE2E_SHA256_LEN;
	uint8_t *p;

	if ((p = malloc(ll + hl + body_len)) == NULL)
		return MQE2E_ERR_NOMEM;
	memcpy(p, label, ll);
	if (hl > 0)
		memcpy(p + ll, req_hash, hl);
	memcpy(p + ll + hl, body, body_len);
	*out = p;
	*out_len = ll + hl + body_len;
	return MQE2E_OK;
}

int
hs__sign_append(struct mqe2e_writer *w, EVP_PKEY *key, const char *label,
    const uint8_t *req_hash)
{
	uint8_t sig[MQE2E_ED25519_SIG_LEN], *msg = NULL;
	size_t msg_len;
	int r;

	if ((r = mqe2e_wr_error(w)) != MQE2E_OK)
		return r;
	if ((r = sig_input(label, req_hash, w->p, w->len, &msg, &msg_len)) != MQE2E_OK)
		return r;
	r = mqe2e_ed25519_sign(key, msg, msg_len, sig);
	free(msg);
	if (r != MQE2E_OK)
		return r;
	mqe2e_wr_bytes(w, sig, sizeof(sig));
	return mqe2e_wr_error(w);
}

int
hs__verify(EVP_PKEY *pub, const char *label, const uint8_t *req_hash,
    struct mqe2e_view signed_part, const uint8_t *sig)
{
	uint8_t *msg = NULL;
	size_t msg_len;
	int r;

	if (pub == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = sig_input(label, req_hash, signed_part.p, signed_part.len, &msg,
	    &msg_len)) != MQE2E_OK)
		return r;
	r = mqe2e_ed25519_verify(pub, msg, msg_len, sig);
	free(msg);
	return r == MQE2E_OK ? MQE2E_OK : MQE2E_ERR_BAD_SIGNATURE;
}

_Static_assert(MQE2E_CERT_ID_MAX == MQE2E_ID_MAX, "identity sizes differ");
_Static_assert(MQE2E_SERIAL_MAX >= MQE2E_SERIAL_HEX_MAX, "serial sizes differ");

int
hs__check_cert(struct mqe2e_trust *trust, struct mqe2e_view der, uint64_t now_ms,
    unsigned kinds, struct mqe2e_view claimed, EVP_PKEY **pub, struct mqe2e_peer *peer)
{
	struct mqe2e_cert_info ci;
	int r;

	*pub = NULL;
	if (trust == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((r = mqe2e_trust_verify_der(trust, der.p, der.len, (time_t)(now_ms / 1000), &ci)) !=
	    MQE2E_OK)
		return r;
	if ((unsigned)ci.kind > 31 || (kinds & HS_KIND_BIT(ci.kind)) == 0 ||
	    !mqe2e_id_valid_str(ci.id)) {
		r = MQE2E_ERR_BAD_CERT;
		goto out;
	}
	if (claimed.p != NULL && !mqe2e_view_eq_str(claimed, ci.id)) {
		r = MQE2E_ERR_ID_MISMATCH;
		goto out;
	}
	if (peer != NULL) {
		memset(peer, 0, sizeof(*peer));
		memcpy(peer->id, ci.id, sizeof(ci.id));
		peer->kind = ci.kind;
		memcpy(peer->serial, ci.serial, sizeof(ci.serial));
	}
	*pub = ci.pub;
	ci.pub = NULL;
out:
	mqe2e_pkey_free(ci.pub);
	return r;
}

int
hs__th(const uint8_t a[32], struct mqe2e_view b, uint8_t th[32])
{
	uint8_t *buf;
	int r;

	if ((buf = malloc(MQE2E_SHA256_LEN + b.len)) == NULL)
		return MQE2E_ERR_NOMEM;
	memcpy(buf, a, MQE2E_SHA256_LEN);
	memcpy(buf + MQE2E_SHA256_LEN, b.p, b.len);
	r = mqe2e_sha256(buf, MQE2E_SHA256_LEN + b.len, th);
	free(buf);
	return r;
}

int
hs__th_written(struct mqe2e_writer *w, const uint8_t req_hash[32], uint8_t th[32])
{
	struct mqe2e_view prefix;
	int r;

	if ((r = mqe2e_wr_error(w)) != MQE2E_OK)
		return r;
	prefix.p = w->p;
	prefix.len = w->len;
	return hs__th(req_hash, prefix, th);
}

int
hs__eph(const uint8_t *eph_in, uint8_t priv[32], uint8_t pub[32])
{
	if (eph_in == NULL)
		return mqe2e_x25519_keygen(priv, pub);
	memcpy(priv, eph_in, MQE2E_X25519_LEN);
	return mqe2e_x25519_public(priv, pub);
}

int
hs__eph_dh(const uint8_t *eph_in, const uint8_t peer_pub[32], uint8_t pub[32],
    uint8_t shared[32])
{
	uint8_t priv[MQE2E_X25519_LEN];
	int r;

	if (eph_in == NULL)
		return mqe2e_x25519_ephemeral(peer_pub, pub, shared);
	memcpy(priv, eph_in, sizeof(priv));
	if ((r = mqe2e_x25519_public(priv, pub)) == MQE2E_OK)
		r = mqe2e_x25519(priv, peer_pub, shared);
	mqe2e_wipe(priv, sizeof(priv));
	return r;
}

int
hs__nonce(const uint8_t *in, uint8_t out[16])
{
	if (in == NULL)
		return mqe2e_random(out, MQE2E_NONCE_LEN);
	memcpy(out, in, MQE2E_NONCE_LEN);
	return MQE2E_OK;
}

int
hs__hello_begin(struct mqe2e_writer *w, uint8_t type, const struct mqe2e_identity *id,
    uint64_t now_ms, const uint8_t *eph_in, const uint8_t *nonce_in, struct hs_hello *h)
{
	uint8_t nonce[MQE2E_NONCE_LEN];
	int r;

	if ((r = hs__eph(eph_in, h->eph, h->eph_pub)) != MQE2E_OK ||
	    (r = hs__nonce(nonce_in, nonce)) != MQE2E_OK)
		return r;
	hs__write_hello_head(w, type, id, h->eph_pub, now_ms, nonce);
	return MQE2E_OK;
}

int
hs__hello_end(struct mqe2e_writer *w, const struct mqe2e_identity *id, const char *label,
    struct hs_hello *h, uint8_t **out, size_t *out_len)
{
	int r;

	if ((r = hs__sign_append(w, id->key, label, NULL)) != MQE2E_OK ||
	    (r = mqe2e_sha256(w->p, w->len, h->hash)) != MQE2E_OK)
		return r;
	return mqe2e_wr_steal(w, out, out_len);
}

int
hs__hello_answer(const struct hs_hello *h, const uint8_t peer_eph[32],
    struct mqe2e_view signed_part, uint8_t shared[32], uint8_t th[32])
{
	int r;

	if ((r = mqe2e_x25519_pair(h->eph, h->eph_pub, peer_eph, shared)) != MQE2E_OK)
		return r;
	return hs__th(h->hash, signed_part, th);
}

/* The keys of one CONNECT transcript: c2b, b2c and the confirmation tag. */
static int
connect_keys(const uint8_t th[32], const uint8_t shared[32], struct mqe2e_session_keys *keys,
    uint8_t confirm[MQE2E_SHA256_LEN])
{
	uint8_t kc[MQE2E_KEY_LEN];
	struct mqe2e_mac *mac = NULL;
	struct mqe2e_iov part = { th, MQE2E_SHA256_LEN };
	int r;

	if ((r = mqe2e_kdf(th, shared, KDF_LABEL_C2B, keys->c2b)) != MQE2E_OK ||
	    (r = mqe2e_kdf(th, shared, KDF_LABEL_B2C, keys->b2c)) != MQE2E_OK ||
	    (r = mqe2e_kdf(th, shared, KDF_LABEL_CONFIRM, kc)) != MQE2E_OK ||
	    (r = mqe2e_mac_new(kc, sizeof(kc), &mac)) != MQE2E_OK ||
	    (r = mqe2e_mac_compute(mac, &part, 1, confirm, MQE2E_SHA256_LEN)) != MQE2E_OK)
		goto out;
out:
	mqe2e_mac_free(mac);
	mqe2e_wipe(kc, sizeof(kc));
	if (r != MQE2E_OK)
		mqe2e_wipe(keys, sizeof(*keys));
	return r;
}

/* ---- client side ----------------------------------------------------------------- */

struct mqe2e_hs_client {
	const struct mqe2e_identity *id;
	char broker_id[MQE2E_ID_MAX + 1];  /* the broker the hello names, or "" */
	struct hs_hello hello;
	int spent;             /* a reply was processed: the ephemeral is gone */
};

void
mqe2e_hs_client_free(struct mqe2e_hs_client *hs)
{
	mqe2e_free_secret(hs, sizeof(*hs));
}

static int
client_start(const struct mqe2e_identity *id, const char *broker_id, uint64_t now_ms,
    const uint8_t *eph_in, const uint8_t *nonce_in, struct mqe2e_hs_client **hsp,
    uint8_t **hello, size_t *hello_len)
{
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_writer w;
	int r;

	*hsp = NULL;
	*hello = NULL;
	*hello_len = 0;
	mqe2e_wr_init_grow(&w, 0, 65535);
	if (broker_id == NULL)
		broker_id = "";
	if (id == NULL || id->key == NULL || id->cert_der == NULL ||
	    (broker_id[0] != '\0' && !mqe2e_id_valid_str(broker_id))) {
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if ((hs = calloc(1, sizeof(*hs))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	hs->id = id;
	memcpy(hs->broker_id, broker_id, strlen(broker_id) + 1);
	if ((r = hs__hello_begin(&w, MQE2E_MSG_CONNECT_HELLO, id, now_ms, eph_in, nonce_in,
	    &hs->hello)) != MQE2E_OK)
		goto out;
	mqe2e_wr_vec16(&w, broker_id, strlen(broker_id));
	if ((r = hs__hello_end(&w, id, HS_LABEL_CONNECT, &hs->hello, hello, hello_len)) !=
	    MQE2E_OK)
		goto out;
	*hsp = hs;
	hs = NULL;
out:
	mqe2e_wr_free(&w);
	mqe2e_hs_client_free(hs);
	return r;
}

int
mqe2e_hs_client_start(const struct mqe2e_identity *id, const char *broker_id,
    uint64_t now_ms, struct mqe2e_hs_client **hs, uint8_t **hello, size_t *hello_len)
{
	return client_start(id, broker_id, now_ms, NULL, NULL, hs, hello, hello_len);
}

int
mqe2e_hs_client_start_ex(const struct mqe2e_identity *id, const char *broker_id,
    uint64_t now_ms, const uint8_t eph_priv[MQE2E_X25519_LEN],
    const uint8_t nonce[MQE2E_NONCE_LEN], struct mqe2e_hs_client **hs, uint8_t **hello,
    size_t *hello_len)
{
	if (eph_priv == NULL || nonce == NULL)
		return MQE2E_ERR_INVALID_ARG;
	return client_start(id, broker_id, now_ms, eph_priv, nonce, hs, hello, hello_len);
}

int
mqe2e_hs_client_finish(struct mqe2e_hs_client *hs, struct mqe2e_trust *trust,
    const uint8_t *reply, size_t reply_len, uint64_t now_ms,
    struct mqe2e_session_keys *keys, struct mqe2e_peer *broker)
{
	struct mqe2e_reply rp;
	struct mqe2e_peer peer;
	struct mqe2e_view none = { NULL, 0 }, want;
	struct mqe2e_session_keys k;
	EVP_PKEY *pub = NULL;
	uint8_t shared[MQE2E_X25519_LEN], th[MQE2E_SHA256_LEN], confirm[MQE2E_SHA256_LEN];
	int r;

	memset(&k, 0, sizeof(k));
	if (hs == NULL || keys == NULL || hs->spent) {
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	/* the broker the hello named must be the one that answers */
	want.p = (const uint8_t *)hs->broker_id;
	want.len = strlen(hs->broker_id);
	if ((r = mqe2e_reply_decode(reply, reply_len, MQE2E_MSG_CONNACK_REPLY, &rp)) != MQE2E_OK ||
	    (r = mqe2e_check_skew(rp.ts_ms, now_ms, MQE2E_SKEW_MS_DEFAULT)) != MQE2E_OK ||
	    (r = hs__check_cert(trust, rp.cert_der, now_ms, HS_KIND_BIT(MQE2E_KIND_BROKER),
	    hs->broker_id[0] != '\0' ? want : none, &pub, &peer)) != MQE2E_OK ||
	    (r = hs__verify(pub, HS_LABEL_CONNACK, hs->hello.hash, rp.signed_part, rp.sig)) !=
	    MQE2E_OK)
		goto out;
	if ((r = hs__hello_answer(&hs->hello, rp.eph_pub, rp.signed_part, shared, th)) !=
	    MQE2E_OK ||
	    (r = connect_keys(th, shared, &k, confirm)) != MQE2E_OK)
		goto out;
	if (!mqe2e_ct_equal(confirm, rp.confirm, MQE2E_SHA256_LEN)) {
		r = MQE2E_ERR_BAD_TAG;
		goto out;
	}
	peer.ts_ms = rp.ts_ms;
	*keys = k;
	if (broker != NULL)
		*broker = peer;
out:
	mqe2e_pkey_free(pub);
	mqe2e_wipe(&k, sizeof(k));
	mqe2e_wipe(shared, sizeof(shared));
	mqe2e_wipe(confirm, sizeof(confirm));
	/* one reply per hello: the ephemeral key is spent either way */
	if (hs != NULL && !hs->spent) {
		mqe2e_wipe(hs->hello.eph, sizeof(hs->hello.eph));
		hs->spent = 1;
	}
	return r;
}

/* ---- server side -------------------------------------------------------------------- */

static int
server_accept(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, const struct mqe2e_hs_bind *bind, const uint8_t *hello,
    size_t hello_len,
    const char *mqtt_client_id, uint64_t now_ms, const uint8_t *eph_in, const uint8_t *nonce_in,
    uint8_t **reply, size_t *reply_len, struct mqe2e_session_keys *keys, struct mqe2e_peer *peer)
{
	struct mqe2e_hello h;
	struct mqe2e_peer client;
	struct mqe2e_writer w;
	struct mqe2e_session_keys k;
	EVP_PKEY *pub = NULL;
	uint8_t hh[MQE2E_SHA256_LEN], th[MQE2E_SHA256_LEN], confirm[MQE2E_SHA256_LEN];
	uint8_t eph_pub[MQE2E_X25519_LEN], shared[MQE2E_X25519_LEN];
	uint8_t nonce[MQE2E_NONCE_LEN];
	int r;

	*reply = NULL;
	*reply_len = 0;
	memset(&k, 0, sizeof(k));
	memset(shared, 0, sizeof(shared));
	mqe2e_wr_init_grow(&w, 0, 65535);
	if (self == NULL || self->key == NULL || nc == NULL || keys == NULL ||
	    mqtt_client_id == NULL) {
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = mqe2e_hello_decode(hello, hello_len, MQE2E_MSG_CONNECT_HELLO, &h)) != MQE2E_OK ||
	    (r = mqe2e_check_skew(h.ts_ms, now_ms, mqe2e_nonce_cache_skew(nc))) != MQE2E_OK)
		goto out;
	/* Dated before this broker started: its nonce cache cannot know whether
	 * the hello was accepted before the restart, so refuse it. */
	if (bind != NULL && h.ts_ms < bind->not_before_ms) {
		r = MQE2E_ERR_CLOCK_SKEW;
		goto out;
	}
	if ((r = hs__check_cert(trust, h.cert_der, now_ms, HS_KIND_BIT(MQE2E_KIND_CLIENT),
	    h.client_id, &pub, &client)) != MQE2E_OK)
		goto out;
	if (!mqe2e_view_eq_str(h.client_id, mqtt_client_id)) {
		r = MQE2E_ERR_ID_MISMATCH;
		goto out;
	}
	/* For this broker: a hello for a sibling broker of the same KMS is not
	 * ours to accept. */
	if (h.broker_id.len > 0 ? !mqe2e_view_eq_str(h.broker_id, self->id) :
	    bind != NULL && bind->require_broker_id) {
		r = MQE2E_ERR_ID_MISMATCH;
		goto out;
	}
	if ((r = hs__verify(pub, HS_LABEL_CONNECT, NULL, h.signed_part, h.sig)) != MQE2E_OK ||
	    (r = mqe2e_nonce_cache_add_owned(nc, (const uint8_t *)client.id, strlen(client.id),
	    h.nonce, h.ts_ms, now_ms)) != MQE2E_OK)
		goto out;
	client.ts_ms = h.ts_ms;

	/* reply: ver, type, vec16 cert, eph_pub, ts, nonce, sig, confirm */
	if ((r = hs__eph_dh(eph_in, h.eph_pub, eph_pub, shared)) != MQE2E_OK ||
	    (r = hs__nonce(nonce_in, nonce)) != MQE2E_OK ||
	    (r = mqe2e_sha256(hello, hello_len, hh)) != MQE2E_OK)
		goto out;
	mqe2e_wr_u8(&w, MQE2E_VERSION);
	mqe2e_wr_u8(&w, MQE2E_MSG_CONNACK_REPLY);
	mqe2e_wr_vec16(&w, self->cert_der, self->cert_der_len);
	mqe2e_wr_bytes(&w, eph_pub, sizeof(eph_pub));
	mqe2e_wr_u64(&w, now_ms);
	mqe2e_wr_bytes(&w, nonce, sizeof(nonce));
	if ((r = hs__th_written(&w, hh, th)) != MQE2E_OK ||
	    (r = connect_keys(th, shared, &k, confirm)) != MQE2E_OK ||
	    (r = hs__sign_append(&w, self->key, HS_LABEL_CONNACK, hh)) != MQE2E_OK)
		goto out;
	mqe2e_wr_bytes(&w, confirm, sizeof(confirm));
	if ((r = mqe2e_wr_steal(&w, reply, reply_len)) != MQE2E_OK)
		goto out;
	*keys = k;
	if (peer != NULL)
		*peer = client;
out:
	mqe2e_wr_free(&w);
	mqe2e_pkey_free(pub);
	mqe2e_wipe(&k, sizeof(k));
	mqe2e_wipe(shared, sizeof(shared));
	return r;
}

int
mqe2e_hs_server_accept(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, const struct mqe2e_hs_bind *bind, const uint8_t *hello,
    size_t hello_len, const char *mqtt_client_id, uint64_t now_ms, uint8_t **reply,
    size_t *reply_len, struct mqe2e_session_keys *keys, struct mqe2e_peer *peer)
{
	return server_accept(self, trust, nc, bind, hello, hello_len, mqtt_client_id, now_ms,
	    NULL, NULL, reply, reply_len, keys, peer);
}

int
mqe2e_hs_server_accept_ex(const struct mqe2e_identity *self, struct mqe2e_trust *trust,
    struct mqe2e_nonce_cache *nc, const struct mqe2e_hs_bind *bind, const uint8_t *hello,
    size_t hello_len, const char *mqtt_client_id, uint64_t now_ms,
    const uint8_t eph_priv[MQE2E_X25519_LEN], const uint8_t nonce[MQE2E_NONCE_LEN],
    uint8_t **reply, size_t *reply_len,
    struct mqe2e_session_keys *keys, struct mqe2e_peer *peer)
{
	if (eph_priv == NULL || nonce == NULL) {
		*reply = NULL;
		*reply_len = 0;
		return MQE2E_ERR_INVALID_ARG;
	}
	return server_accept(self, trust, nc, bind, hello, hello_len, mqtt_client_id, now_ms,
	    eph_priv, nonce, reply, reply_len, keys, peer);
}
