/*
 * fuzz_accept.c - libFuzzer harness: the server side of every handshake
 * (CONNECT_HELLO, KEY_REQUEST, PAIR_REQUEST) against a fixed test PKI, so
 * that certificate parsing, trust checks and signature checks see fuzzed
 * input too.
 */
#include "config.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "fuzz.h"
#include "handshake.h"
#include "testpki.h"

static struct mqe2e_trust *trust;
static struct mqe2e_identity *broker, *bob;
static struct mqe2e_nonce_cache *nc;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mqe2e_keyreq_info *info = NULL;
	struct mqe2e_session_keys k;
	struct mqe2e_pair_info pi;
	uint8_t *out = NULL, ke[MQE2E_KEY_LEN];
	size_t len;

	if (trust == NULL) {
		EVP_PKEY *ca_key = tp_key(0xca);
		X509 *ca = tp_ca("mqe2e test CA", ca_key);

		trust = tp_trust(ca);
		broker = tp_identity("broker1", "broker", "c1", 0xc1, ca, ca_key);
		bob = tp_identity("bob", "client", "b1", 0xb1, ca, ca_key);
		tp_check(mqe2e_nonce_cache_new(1u << 16, MQE2E_SKEW_MS_DEFAULT, &nc), "nc");
		mqe2e_cert_free(ca);
		mqe2e_pkey_free(ca_key);
	}
	if (mqe2e_hs_server_accept(broker, trust, nc, NULL, data, size, "alice", TP_NOW_MS, &out, &len,
	    &k, NULL) == MQE2E_OK)
		free(out);
	if (mqe2e_keyreq_verify(trust, nc, data, size, TP_NOW_MS, &info) == MQE2E_OK)
		mqe2e_keyreq_info_free(info);
	if (mqe2e_pair_respond(bob, trust, NULL, NULL, NULL, data, size, TP_NOW_MS, &out, &len, &pi, ke) ==
	    MQE2E_OK)
		free(out);
	return 0;
}
