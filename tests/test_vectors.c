/*
 * test_vectors.c - recompute the protocol test vectors byte for byte.
 *
 *   test_vectors            compare with tests/vectors.txt and check that
 *                           docs/PROTOCOL.md shows every value
 *   test_vectors --print    print vectors.txt (to regenerate it)
 *
 * Every input is fixed: keys and seeds are repeated bytes, nonces and
 * ephemerals go through the _ex seams, certificates come from the
 * deterministic test PKI (Ed25519 signatures are deterministic), and the
 * time is TP_NOW_MS (2026-01-01T00:00:00Z).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handshake.h"
#include "testpki.h"

#define MAX_VECTORS 64

struct vec {
	const char *name;
	char *hex;
};

static struct vec vecs[MAX_VECTORS];
static size_t nvecs;

static void
add(const char *name, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *h = malloc(2 * n + 1);
	size_t i;

	if (h == NULL || nvecs == MAX_VECTORS)
		abort();
	for (i = 0; i < n; i++) {
		h[2 * i] = digits[p[i] >> 4];
		h[2 * i + 1] = digits[p[i] & 15];
	}
	h[2 * n] = '\0';
	vecs[nvecs].name = name;
	vecs[nvecs].hex = h;
	nvecs++;
}

static void
seq_bytes(uint8_t *p, size_t n, uint8_t start)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

static const char topic[] = "plant/1/temp";

static void
vectors_kdf(void)
{
	static const char *const labels[] = { "mqe2e-v1 c2b", "mqe2e-v1 b2c", "mqe2e-v1 confirm",
	    "mqe2e-v1 kms resp", "mqe2e-v1 k_e2e" };
	static const char *const names[] = { "kdf.c2b", "kdf.b2c", "kdf.confirm", "kdf.kms_resp",
	    "kdf.k_e2e" };
	uint8_t th[32], shared[32], out[32], a[32], b[32], apub[32], bpub[32];
	size_t i;

	seq_bytes(th, 32, 0x00);
	seq_bytes(shared, 32, 0x20);
	for (i = 0; i < 5; i++) {
		tp_check(mqe2e_kdf(th, shared, labels[i], out), "kdf");
		add(names[i], out, 32);
	}
	/* X25519 with the ephemerals used by the CONNECT vector */
	memset(a, 0x55, 32);
	memset(b, 0x77, 32);
	tp_check(mqe2e_x25519_public(a, apub), "x25519");
	tp_check(mqe2e_x25519_public(b, bpub), "x25519");
	tp_check(mqe2e_x25519(a, bpub, shared), "x25519");
	add("x25519.client_eph_pub", apub, 32);
	add("x25519.broker_eph_pub", bpub, 32);
	add("x25519.shared", shared, 32);
}

static void
vectors_messages(void)
{
	static const uint8_t pt[] = "21.5 C";
	uint8_t key[32], nonce[12], env[256], fr[512];
	size_t env_len, fr_len, len;
	struct mqe2e_aead *a = NULL;
	struct mqe2e_mac *m = NULL;
	struct mqe2e_envelope_params ep = { MQE2E_SCHEME_4, MQE2E_KEY_GROUP, "plant1", 7, "alice",
	    0x0001020304050607ULL, MQE2E_ENV_RETAINED };
	struct mqe2e_frame_params mp = { MQE2E_KEY_SESSION, NULL, 0, "alice", 1 };
	struct mqe2e_frame_params gp = { MQE2E_KEY_GROUP, "plant1", 7, "broker1", 2 };
	struct mqe2e_bundle_part parts[2] = { { "bob", (const uint8_t *)"B", 1 },
	    { "carol", (const uint8_t *)"CC", 2 } };
	struct mqe2e_key_entry ke[2];
	/* given unsorted: the encoder puts the table in name order */
	struct mqe2e_group_info gi[2] = {
		{ "plant1", 4, MQE2E_RIGHT_PUB | MQE2E_RIGHT_SUB, "plant/#" },
		{ "alarms", 1, MQE2E_RIGHT_SUB, "alarm/+/#" } };
	struct mqe2e_keybundle bundle = { gi, 2, ke, 2, 0 };
	uint8_t *kb = NULL;

	/* E2E envelope under GK_P = 0x11 x 32, nonce 00..0b, payload "21.5 C" */
	memset(key, 0x11, 32);
	seq_bytes(nonce, 12, 0x00);
	tp_check(mqe2e_aead_new(key, &a), "aead");
	tp_check(mqe2e_envelope_seal_ex(a, &ep, nonce, topic, strlen(topic), pt, 6, env,
	    sizeof(env), &env_len), "envelope");
	add("envelope", env, env_len);
	mqe2e_aead_free(a);

	/* scheme 4, publisher -> broker: MAC(SK_CB c2b = 0x22 x 32) over the envelope */
	memset(key, 0x22, 32);
	tp_check(mqe2e_mac_new(key, 32, &m), "mac");
	tp_check(mqe2e_frame_mac_build(m, &mp, topic, strlen(topic), env, env_len, fr, sizeof(fr),
	    &fr_len), "mac frame");
	add("frame_mac", fr, fr_len);
	mqe2e_mac_free(m);

	/* scheme 3, broker -> subscribers: AEAD(GK_B = 0x33 x 32), nonce 0c..17 */
	memset(key, 0x33, 32);
	seq_bytes(nonce, 12, 0x0c);
	tp_check(mqe2e_aead_new(key, &a), "aead");
	tp_check(mqe2e_frame_aead_build_ex(a, &gp, nonce, topic, strlen(topic), env, env_len, fr,
	    sizeof(fr), &fr_len), "aead frame");
	add("frame_aead", fr, fr_len);
	mqe2e_aead_free(a);

	tp_check(mqe2e_bundle_build(parts, 2, fr, sizeof(fr), &len), "bundle");
	add("bundle", fr, len);

	memset(ke, 0, sizeof(ke));
	memcpy(ke[0].group, "plant1", 7);
	ke[0].scheme = 4;
	ke[0].kind = MQE2E_GK_P;
	ke[0].epoch = 7;
	ke[0].not_before_ms = TP_NOW_MS;
	ke[0].not_after_ms = TP_NOW_MS + 86400000;
	memset(ke[0].key, 0x44, 32);
	ke[1] = ke[0];
	ke[1].kind = MQE2E_GK_B;
	memset(ke[1].key, 0x45, 32);
	tp_check(mqe2e_keybundle_encode(&bundle, &kb, &len), "keybundle");
	add("keybundle", kb, len);
	mqe2e_free_secret(kb, len);
}

static void
vectors_handshakes(void)
{
	EVP_PKEY *ca_key = tp_key(0xca);
	X509 *ca = tp_ca("mqe2e test CA", ca_key);
	struct mqe2e_trust *t = tp_trust(ca);
	struct mqe2e_identity *alice = tp_identity("alice", "client", "a1", 0xa1, ca, ca_key);
	struct mqe2e_identity *broker = tp_identity("broker1", "broker", "c1", 0xc1, ca, ca_key);
	struct mqe2e_identity *bob = tp_identity("bob", "client", "b1", 0xb1, ca, ca_key);
	struct mqe2e_nonce_cache *nc = NULL;
	struct mqe2e_pair *pst = NULL;
	struct mqe2e_pair_info pi;
	uint8_t k_pub[32], k_sub[32];
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_session_keys ck, sk;
	struct mqe2e_keyreq *kst = NULL;
	struct mqe2e_keyreq_info *info = NULL;
	struct mqe2e_key_entry ke;
	struct mqe2e_group_info gi = { "plant1", 4, MQE2E_RIGHT_PUB, "plant/#" };
	struct mqe2e_keybundle kb = { &gi, 1, &ke, 1, 0 }, out;
	uint8_t eph[32], n16[16], gcm[12], *hello = NULL, *reply = NULL, *der = NULL;
	size_t hl, rl, dl;
	const char *groups[] = { "plant1" };
	struct mqe2e_hs_bind bind = { TP_NOW_MS, 1 };   /* broker started at TP_NOW_MS */
	struct mqe2e_envelope_params ep = { MQE2E_SCHEME_1, MQE2E_KEY_PAIR, "alice|bob|plant1", 1,
	    "alice", 1, 0 };
	struct mqe2e_aead *pk = NULL;
	uint8_t penv[128];
	size_t pel;

	tp_check(mqe2e_nonce_cache_new(16, MQE2E_SKEW_MS_DEFAULT, &nc), "nonce cache");
	tp_check(mqe2e_cert_to_der(ca, &der, &dl), "der");
	add("pki.ca_der", der, dl);
	mqe2e_free_openssl(der);
	add("pki.alice_der", alice->cert_der, alice->cert_der_len);
	add("pki.broker_der", broker->cert_der, broker->cert_der_len);
	add("pki.bob_der", bob->cert_der, bob->cert_der_len);

	memset(eph, 0x55, 32);
	memset(n16, 0x66, 16);
	/* the hello is for broker1 (version 2: it names the broker) */
	tp_check(mqe2e_hs_client_start_ex(alice, "broker1", TP_NOW_MS, eph, n16, &hs, &hello, &hl),
	    "hello");
	add("connect.hello", hello, hl);
	memset(eph, 0x77, 32);
	memset(n16, 0x88, 16);
	tp_check(mqe2e_hs_server_accept_ex(broker, t, nc, &bind, hello, hl, "alice",
	    TP_NOW_MS + 250, eph, n16, &reply, &rl, &sk, NULL), "accept");
	add("connect.reply", reply, rl);
	tp_check(mqe2e_hs_client_finish(hs, t, reply, rl, TP_NOW_MS + 500, &ck, NULL), "finish");
	if (memcmp(&ck, &sk, sizeof(ck)) != 0) {
		fprintf(stderr, "client and broker keys differ\n");
		abort();
	}
	add("connect.c2b", ck.c2b, 32);
	add("connect.b2c", ck.b2c, 32);
	free(hello);
	free(reply);
	mqe2e_hs_client_free(hs);

	memset(eph, 0x99, 32);
	memset(n16, 0x9a, 16);
	tp_check(mqe2e_keyreq_build_ex(alice, groups, 1, TP_NOW_MS, eph, n16, &kst, &hello, &hl),
	    "keyreq");
	add("keyreq", hello, hl);
	tp_check(mqe2e_keyreq_verify(t, nc, hello, hl, TP_NOW_MS, &info), "keyreq verify");
	memset(&ke, 0, sizeof(ke));
	memcpy(ke.group, "plant1", 7);
	ke.scheme = 4;
	ke.kind = MQE2E_GK_P;
	ke.epoch = 7;
	ke.not_before_ms = TP_NOW_MS;
	ke.not_after_ms = TP_NOW_MS + 86400000;
	memset(ke.key, 0x44, 32);
	memset(eph, 0x9b, 32);
	memset(n16, 0x9c, 16);
	memset(gcm, 0x9d, 12);
	tp_check(mqe2e_keyresp_build_ex(ca_key, info, &kb, TP_NOW_MS, eph, n16, gcm, &reply,
	    &rl), "keyresp");
	add("keyresp", reply, rl);
	tp_check(mqe2e_keyresp_open(kst, t, reply, rl, TP_NOW_MS, &out), "keyresp open");
	if (out.nkeys != 1 || memcmp(out.keys, &ke, sizeof(ke)) != 0 || out.ngroups != 1 ||
	    memcmp(out.groups, &gi, sizeof(gi)) != 0) {
		fprintf(stderr, "key response does not round-trip\n");
		abort();
	}
	mqe2e_keybundle_free(&out);
	free(hello);
	free(reply);
	mqe2e_keyreq_free(kst);
	mqe2e_keyreq_info_free(info);

	/* pairwise: alice -> bob, group plant1, generation 1 */
	memset(eph, 0xaa, 32);
	memset(n16, 0xab, 16);
	tp_check(mqe2e_pair_request_build_ex(alice, "bob", "plant1", 1, TP_NOW_MS, eph, n16, &pst,
	    &hello, &hl), "pair request");
	add("pair.request", hello, hl);
	memset(eph, 0xac, 32);
	memset(n16, 0xad, 16);
	tp_check(mqe2e_pair_respond_ex(bob, t, NULL, NULL, NULL, hello, hl, TP_NOW_MS + 100, eph, n16, &reply,
	    &rl, &pi, k_sub), "pair respond");
	add("pair.response", reply, rl);
	tp_check(mqe2e_pair_finish(pst, t, reply, rl, TP_NOW_MS + 200, &pi, k_pub), "pair finish");
	if (memcmp(k_pub, k_sub, 32) != 0) {
		fprintf(stderr, "pair keys differ\n");
		abort();
	}
	add("pair.k_e2e", k_pub, 32);
	/* an envelope under that K_E2E: the pair id names the group, the epoch
	 * is the generation (scheme 1, seq 1, nonce 18..23, "21.5 C") */
	seq_bytes(gcm, 12, 0x18);
	tp_check(mqe2e_aead_new(k_pub, &pk), "pair aead");
	tp_check(mqe2e_envelope_seal_ex(pk, &ep, gcm, topic, strlen(topic),
	    (const uint8_t *)"21.5 C", 6, penv, sizeof(penv), &pel), "pair envelope");
	add("pair.envelope", penv, pel);
	mqe2e_aead_free(pk);
	free(hello);
	free(reply);
	mqe2e_pair_free(pst);
	mqe2e_identity_free(bob);

	mqe2e_nonce_cache_free(nc);
	mqe2e_identity_free(alice);
	mqe2e_identity_free(broker);
	mqe2e_trust_free(t);
	mqe2e_cert_free(ca);
	mqe2e_pkey_free(ca_key);
}

/* Whole file into a NUL-terminated buffer, or NULL. */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 4097) {
			char *nb = realloc(buf, cap + 65536);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap += 65536;
		}
		if ((n = fread(buf + len, 1, 4096, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* Remove every whitespace character in place. */
static void
squeeze(char *s)
{
	char *d = s;

	for (; *s != '\0'; s++)
		if (*s != ' ' && *s != '\n' && *s != '\t' && *s != '\r')
			*d++ = *s;
	*d = '\0';
}

/* The value of "name = hex" in the vectors file text (hex may wrap over
 * following lines indented by whitespace), squeezed; malloc'd or NULL. */
static char *
lookup(const char *text, const char *name)
{
	size_t nl = strlen(name);
	const char *p = text, *v, *end;
	char *out;

	while ((p = strstr(p, name)) != NULL) {
		if ((p == text || p[-1] == '\n') && strncmp(p + nl, " = ", 3) == 0)
			break;
		p += nl;
	}
	if (p == NULL)
		return NULL;
	v = p + nl + 3;
	/* the value runs until a line that does not start with whitespace */
	for (end = v; *end != '\0'; end++)
		if (end[0] == '\n' && end[1] != ' ' && end[1] != '\t')
			break;
	if ((out = malloc((size_t)(end - v) + 1)) == NULL)
		return NULL;
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = '\0';
	squeeze(out);
	return out;
}

static void
print_vectors(void)
{
	size_t i, j, len;

	printf("# mqe2e protocol test vectors (generated by tests/test_vectors --print;\n"
	    "# inputs in docs/PROTOCOL.md, section 10).  Long values wrap at 64 digits.\n");
	for (i = 0; i < nvecs; i++) {
		len = strlen(vecs[i].hex);
		printf("%s =", vecs[i].name);
		for (j = 0; j < len; j += 64)
			printf("%s%.64s\n", j == 0 ? " " : "    ", vecs[i].hex + j);
		if (len == 0)
			printf("\n");
	}
}

int
main(int argc, char **argv)
{
	const char *srcdir = getenv("top_srcdir");
	char path[4096], *text, *doc, *v;
	size_t i;
	int fails = 0;

	vectors_kdf();
	vectors_messages();
	vectors_handshakes();
	if (argc > 1 && strcmp(argv[1], "--print") == 0) {
		print_vectors();
		return 0;
	}
	if (srcdir == NULL)
		srcdir = TOP_SRCDIR;
	snprintf(path, sizeof(path), "%s/tests/vectors.txt", srcdir);
	if ((text = slurp(path)) == NULL) {
		fprintf(stderr, "%s: cannot read\n", path);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/docs/PROTOCOL.md", srcdir);
	if ((doc = slurp(path)) != NULL)
		squeeze(doc);
	else
		fprintf(stderr, "note: %s not found, not checking the document\n", path);
	for (i = 0; i < nvecs; i++) {
		v = lookup(text, vecs[i].name);
		if (v == NULL || strcmp(v, vecs[i].hex) != 0) {
			fprintf(stderr, "MISMATCH %s\n  computed %s\n  expected %s\n", vecs[i].name,
			    vecs[i].hex, v == NULL ? "(missing)" : v);
			fails++;
		} else if (doc != NULL && strstr(doc, vecs[i].hex) == NULL) {
			fprintf(stderr, "docs/PROTOCOL.md does not show vector %s\n", vecs[i].name);
			fails++;
		} else {
			printf("ok %s (%zu bytes)\n", vecs[i].name, strlen(vecs[i].hex) / 2);
		}
		free(v);
	}
	for (i = 0; i < nvecs; i++)
		free(vecs[i].hex);
	free(text);
	free(doc);
	return fails == 0 ? 0 : 1;
}
