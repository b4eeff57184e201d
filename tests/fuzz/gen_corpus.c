/*
 * gen_corpus.c - write the seed corpus of the fuzz harnesses:
 *   gen_corpus DIR   ->  DIR/<parser>/<name>.bin
 * Deterministic (fixed keys, nonces, timestamps), so rerunning it gives
 * the committed files back.  Built on request only (EXTRA_PROGRAMS).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "handshake.h"
#include "testpki.h"

static const char *outdir;

static void
put(const char *parser, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, parser);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s.bin", outdir, parser, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	/* the handshake servers' harness starts from the hellos too */
	if (strcmp(parser, "hello") == 0)
		put("accept", name, p, n);
}

static void
fill(uint8_t *p, size_t n, uint8_t v)
{
	memset(p, v, n);
}

int
main(int argc, char **argv)
{
	static const char topic[] = "plant/1/temp";
	static const uint8_t msg[] = "21.5";
	uint8_t key[32], nonce[12], eph[32], hn[16], buf[1024], *m1, *m2;
	size_t len, l1, l2;
	struct mqe2e_aead *a;
	struct mqe2e_mac *mac;
	struct mqe2e_envelope_params ep = { 4, MQE2E_KEY_GROUP, "plant1", 7, "alice", 1000,
	    MQE2E_ENV_RETAINED };
	struct mqe2e_frame_params fp = { MQE2E_KEY_SESSION, NULL, 0, "alice", 5 };
	struct mqe2e_bundle_part parts[2] = { { "bob", msg, 4 }, { "carol", msg, 2 } };
	struct mqe2e_key_entry ke[2];
	struct mqe2e_group_info gi[2] = { { "plant1", 4, MQE2E_RIGHT_PUB, "plant/#" },
		{ "alarms", 1, MQE2E_RIGHT_SUB, "alarm/+/#" } };
	struct mqe2e_keybundle kb = { gi, 2, ke, 2, 0 }, empty = { NULL, 0, NULL, 0, 0 };
	EVP_PKEY *ca_key;
	X509 *ca;
	struct mqe2e_trust *t;
	struct mqe2e_identity *alice, *bob, *broker;
	struct mqe2e_nonce_cache *nc;
	struct mqe2e_hs_client *hs;
	struct mqe2e_session_keys sk;
	struct mqe2e_keyreq *kst;
	struct mqe2e_keyreq_info *info;
	struct mqe2e_pair *pst;
	struct mqe2e_pair_info pi;
	const char *groups[] = { "plant1", "line2" };

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	outdir = argv[1];
	fill(key, sizeof(key), 1);
	fill(nonce, sizeof(nonce), 3);
	tp_check(mqe2e_aead_new(key, &a), "aead");
	tp_check(mqe2e_mac_new(key, sizeof(key), &mac), "mac");

	tp_check(mqe2e_envelope_seal_ex(a, &ep, nonce, topic, strlen(topic), msg, sizeof(msg),
	    buf, sizeof(buf), &len), "envelope");
	put("envelope", "group", buf, len);
	ep.scheme = 1;
	ep.key_kind = MQE2E_KEY_PAIR;
	ep.key_name = "alice|bob|plant1";
	ep.flags = 0;
	tp_check(mqe2e_envelope_seal_ex(a, &ep, nonce, topic, strlen(topic), NULL, 0, buf,
	    sizeof(buf), &len), "envelope");
	put("envelope", "pair-empty", buf, len);

	tp_check(mqe2e_frame_mac_build(mac, &fp, topic, strlen(topic), msg, sizeof(msg), buf,
	    sizeof(buf), &len), "frame");
	put("frame", "mac-session", buf, len);
	fp.key_kind = MQE2E_KEY_GROUP;
	fp.key_name = "plant1";
	fp.epoch = 7;
	fp.sender = "broker1";
	tp_check(mqe2e_frame_mac_build(mac, &fp, topic, strlen(topic), msg, sizeof(msg), buf,
	    sizeof(buf), &len), "frame");
	put("frame", "mac-group", buf, len);
	tp_check(mqe2e_frame_aead_build_ex(a, &fp, nonce, topic, strlen(topic), msg, sizeof(msg),
	    buf, sizeof(buf), &len), "frame");
	put("frame", "aead-group", buf, len);

	tp_check(mqe2e_bundle_build(parts, 2, buf, sizeof(buf), &len), "bundle");
	put("bundle", "two", buf, len);

	memset(ke, 0, sizeof(ke));
	memcpy(ke[0].group, "plant1", 7);
	ke[0].scheme = 4;
	ke[0].kind = MQE2E_GK_P;
	ke[0].epoch = 7;
	ke[0].not_before_ms = TP_NOW_MS;
	ke[0].not_after_ms = TP_NOW_MS + 86400000;
	fill(ke[0].key, 32, 0x42);
	ke[1] = ke[0];
	ke[1].kind = MQE2E_GK_B;
	tp_check(mqe2e_keybundle_encode(&kb, &m1, &l1), "keybundle");
	put("keybundle", "two", m1, l1);
	free(m1);
	tp_check(mqe2e_keybundle_encode(&empty, &m1, &l1), "keybundle");
	put("keybundle", "empty", m1, l1);
	free(m1);

	ca_key = tp_key(0xca);
	ca = tp_ca("mqe2e test CA", ca_key);
	t = tp_trust(ca);
	alice = tp_identity("alice", "client", "a1", 0xa1, ca, ca_key);
	bob = tp_identity("bob", "client", "b1", 0xb1, ca, ca_key);
	broker = tp_identity("broker1", "broker", "c1", 0xc1, ca, ca_key);
	tp_check(mqe2e_nonce_cache_new(16, MQE2E_SKEW_MS_DEFAULT, &nc), "nonce cache");
	fill(eph, 32, 0x55);
	fill(hn, 16, 0x66);

	tp_check(mqe2e_hs_client_start_ex(alice, "broker1", TP_NOW_MS, eph, hn, &hs, &m1, &l1),
	    "hello");
	put("hello", "connect", m1, l1);
	tp_check(mqe2e_hs_server_accept_ex(broker, t, nc, NULL, m1, l1, "alice", TP_NOW_MS, eph, hn,
	    &m2, &l2, &sk, NULL), "connack");
	put("reply", "connack", m2, l2);
	free(m1);
	free(m2);
	mqe2e_hs_client_free(hs);

	fill(hn, 16, 0x69);
	tp_check(mqe2e_keyreq_build_ex(alice, groups, 2, TP_NOW_MS, eph, hn, &kst, &m1, &l1),
	    "keyreq");
	put("hello", "keyreq", m1, l1);
	fill(hn, 16, 0x67);
	tp_check(mqe2e_keyreq_verify(t, nc, m1, l1, TP_NOW_MS, &info), "keyreq verify");
	tp_check(mqe2e_keyresp_build_ex(ca_key, info, &kb, TP_NOW_MS, eph, hn, nonce, &m2, &l2),
	    "keyresp");
	put("reply", "keyresp", m2, l2);
	free(m1);
	free(m2);
	mqe2e_keyreq_free(kst);
	mqe2e_keyreq_info_free(info);

	fill(hn, 16, 0x68);
	tp_check(mqe2e_pair_request_build_ex(alice, "bob", "plant1", 1, TP_NOW_MS, eph, hn, &pst,
	    &m1, &l1), "pair request");
	put("hello", "pairreq", m1, l1);
	tp_check(mqe2e_pair_respond_ex(bob, t, nc, NULL, NULL, m1, l1, TP_NOW_MS, eph, hn, &m2, &l2, &pi, key),
	    "pair response");
	put("reply", "pairresp", m2, l2);
	free(m1);
	free(m2);
	mqe2e_pair_free(pst);

	mqe2e_nonce_cache_free(nc);
	mqe2e_identity_free(alice);
	mqe2e_identity_free(bob);
	mqe2e_identity_free(broker);
	mqe2e_trust_free(t);
	mqe2e_cert_free(ca);
	mqe2e_pkey_free(ca_key);
	mqe2e_aead_free(a);
	mqe2e_mac_free(mac);
	return 0;
}
