/*
 * policy.c - signing and verifying KMS policy snapshots (see policy.h).
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "policy.h"

/* label || nonce || policy in one malloc'd buffer (Ed25519 is one-shot). */
static int
message(const uint8_t nonce[16], const uint8_t *policy, size_t len, uint8_t **out,
    size_t *out_len)
{
	size_t ll = sizeof(MQE2E_POLICY_LABEL) - 1;
	uint8_t *m;

	if (len > MQE2E_POLICY_MAX || (policy == NULL && len != 0) || nonce == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if ((m = malloc(ll + 16 + len + 1)) == NULL)
		return MQE2E_ERR_NOMEM;
	memcpy(m, MQE2E_POLICY_LABEL, ll);
	memcpy(m + ll, nonce, 16);
	if (len > 0)
		memcpy(m + ll + 16, policy, len);
	*out = m;
	*out_len = ll + 16 + len;
	return MQE2E_OK;
}

int
mqe2e_policy_sign(EVP_PKEY *ca_key, const uint8_t nonce[16], const uint8_t *policy,
    size_t len, uint8_t sig[MQE2E_ED25519_SIG_LEN])
{
	uint8_t *m = NULL;
	size_t mlen = 0;
	int r;

	if ((r = message(nonce, policy, len, &m, &mlen)) != MQE2E_OK)
		return r;
	r = mqe2e_ed25519_sign(ca_key, m, mlen, sig);
	free(m);
	return r;
}

int
mqe2e_policy_verify(EVP_PKEY *ca_pub, const uint8_t nonce[16], const uint8_t *policy,
    size_t len, const uint8_t sig[MQE2E_ED25519_SIG_LEN])
{
	uint8_t *m = NULL;
	size_t mlen = 0;
	int r;

	if ((r = message(nonce, policy, len, &m, &mlen)) != MQE2E_OK)
		return r;
	r = mqe2e_ed25519_verify(ca_pub, m, mlen, sig);
	free(m);
	return r;
}

int
mqe2e_base64_encode(const uint8_t *in, size_t len, char **out)
{
	size_t n;
	char *s;

	*out = NULL;
	if (len > (size_t)INT_MAX / 4 * 3 - 3)
		return MQE2E_ERR_TOO_LONG;
	n = 4 * ((len + 2) / 3);
	if ((s = malloc(n + 1)) == NULL)
		return MQE2E_ERR_NOMEM;
	if (EVP_EncodeBlock((unsigned char *)s, in, (int)len) != (int)n) {
		free(s);
		return MQE2E_ERR_CRYPTO;
	}
	s[n] = '\0';
	*out = s;
	return MQE2E_OK;
}

static int
b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/';
}

int
mqe2e_base64_decode(const char *in, size_t max, uint8_t **out, size_t *len)
{
	size_t n, i, pad = 0, dlen;
	uint8_t *d;

	*out = NULL;
	*len = 0;
	if (in == NULL)
		return MQE2E_ERR_INVALID_ARG;
	n = strlen(in);
	if (n % 4 != 0)
		return MQE2E_ERR_BAD_FORMAT;
	if (n / 4 * 3 > max + 2)
		return MQE2E_ERR_TOO_LONG;
	if (n > (size_t)INT_MAX)
		return MQE2E_ERR_TOO_LONG;
	/* EVP_DecodeBlock skips white space and does not report padding:
	 * validate strictly first. */
	if (n >= 1 && in[n - 1] == '=')
		pad++;
	if (n >= 2 && in[n - 2] == '=')
		pad++;
	for (i = 0; i < n - pad; i++) {
		if (!b64_char(in[i]))
			return MQE2E_ERR_BAD_FORMAT;
	}
	dlen = n / 4 * 3 - pad;
	if (dlen > max)
		return MQE2E_ERR_TOO_LONG;
	if ((d = malloc(n / 4 * 3 + 1)) == NULL)
		return MQE2E_ERR_NOMEM;
	if (n > 0 && EVP_DecodeBlock(d, (const unsigned char *)in, (int)n) != (int)(n / 4 * 3)) {
		free(d);
		return MQE2E_ERR_BAD_FORMAT;
	}
	d[dlen] = '\0';
	*out = d;
	*len = dlen;
	return MQE2E_OK;
}

int
mqe2e_policy_open(EVP_PKEY *ca_pub, const uint8_t nonce[16], const char *policy_b64,
    const char *sig_b64, uint8_t **policy, size_t *len)
{
	uint8_t *p = NULL, *sig = NULL;
	size_t plen = 0, slen = 0;
	int r;

	*policy = NULL;
	*len = 0;
	if ((r = mqe2e_base64_decode(sig_b64, MQE2E_ED25519_SIG_LEN, &sig, &slen)) != MQE2E_OK)
		goto out;
	if (slen != MQE2E_ED25519_SIG_LEN) {
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	if ((r = mqe2e_base64_decode(policy_b64, MQE2E_POLICY_MAX, &p, &plen)) != MQE2E_OK ||
	    (r = mqe2e_policy_verify(ca_pub, nonce, p, plen, sig)) != MQE2E_OK)
		goto out;
	*policy = p;
	*len = plen;
	p = NULL;
 out:
	free(p);
	free(sig);
	return r;
}
