/*
 * cache.c - plugin_opt_policy_cache: the last verified policy, GK_B keys and
 * CRL on disk, so that a broker restarted while the KMS is down still
 * admits clients and relays traffic.
 *
 * The file is JSON, written atomically (temp file + rename, mode 0600: it
 * holds the broker's group keys, exactly what the broker holds in memory):
 *
 *   {"mqe2e_policy_cache":2,
 *    "answers":[{"nonce":"<b64 nonce of the request the KMS answered>",
 *                "answer":"<the KMS's JSON answer {version, policy, sig}>"}, ...],
 *    "crl":"<b64 CRL>" | null,
 *    "keys":[{"group","scheme","kind","epoch","not_before_ms","not_after_ms","key":"<b64>"}]}
 *
 * "answers" is the chain the broker followed: a full snapshot, then the
 * policy deltas after it (at most CACHE_DELTAS_MAX; when they outgrow the
 * snapshot the KMS thread asks for a full one again, which starts a new
 * chain), so a broker with a cache takes deltas like one without.  Version
 * 1 files (one full "nonce"/"answer") still load.
 *
 * On load every answer's CA signature is checked again (for its stored
 * nonce), the deltas are applied in order (delta.c: each must follow the
 * version before it), every field is validated like a KMS answer, and keys
 * past their validity are simply never used (policy__key).  The file is
 * trusted no more
 * than the broker's own key file: whoever can write it can already read the
 * broker's memory.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "delta.h"
#include "policy.h"
#include "plugin.h"

#define CACHE_MAX (16u * 1024u * 1024u)
#define CACHE_KEYS_MAX 1000000      /* GK_B entries (bounded by CACHE_MAX too) */

int cache__open_answer(EVP_PKEY *ca, const uint8_t nonce[MQE2E_NONCE_LEN], const uint8_t *body,
    size_t len, uint8_t **policy, size_t *policy_len)
{
	json_t *root = NULL, *jp, *js;
	json_error_t jerr;
	int r = MQE2E_ERR_BAD_FORMAT;

	*policy = NULL;
	*policy_len = 0;
	if (body == NULL || ca == NULL ||
	    (root = json_loadb((const char *)body, len, 0, &jerr)) == NULL || !json_is_object(root))
		goto out;
	jp = json_object_get(root, "policy");
	js = json_object_get(root, "sig");
	if (!json_is_string(jp) || !json_is_string(js))
		goto out;
	r = mqe2e_policy_open(ca, nonce, json_string_value(jp), json_string_value(js), policy,
	    policy_len);
out:
	json_decref(root);
	return r;
}

static json_t *b64_json(const uint8_t *p, size_t len)
{
	char *s = NULL;
	json_t *j;

	if (mqe2e_base64_encode(p, len, &s) != MQE2E_OK)
		return NULL;
	j = json_string(s);
	mqe2e_wipe(s, strlen(s));
	free(s);
	return j;
}

int cache__chain_add(json_t *chain, const uint8_t nonce[MQE2E_NONCE_LEN], const uint8_t *answer,
    size_t answer_len, int full)
{
	json_t *e;

	if (full && json_array_clear(chain) != 0)
		return MQE2E_ERR_NOMEM;
	if (json_array_size(chain) > CACHE_DELTAS_MAX)
		return MQE2E_ERR_TOO_LONG;
	if ((e = json_object()) == NULL ||
	    json_object_set_new(e, "nonce", b64_json(nonce, MQE2E_NONCE_LEN)) != 0 ||
	    json_object_set_new(e, "answer", json_stringn((const char *)answer, answer_len)) != 0 ||
	    json_array_append_new(chain, e) != 0) {
		json_decref(e);
		return MQE2E_ERR_NOMEM;
	}
	return MQE2E_OK;
}

int cache__save(const char *path, const json_t *chain, const struct mqe2e_key_entry *keys,
    size_t nkeys, const uint8_t *crl, size_t crl_len, char *err, size_t err_len)
{
	json_t *root = NULL, *arr, *k;
	char *text = NULL, tmp[4096];
	size_t i, tlen, off;
	int fd = -1, n, r = MQE2E_ERR_NOMEM;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, err_len, "path too long");
		return MQE2E_ERR_TOO_LONG;
	}
	if ((root = json_object()) == NULL || (arr = json_array()) == NULL ||
	    json_object_set_new(root, "keys", arr) != 0 ||
	    json_object_set_new(root, "mqe2e_policy_cache", json_integer(2)) != 0 ||
	    json_object_set(root, "answers", (json_t *)chain) != 0 ||
	    json_object_set_new(root, "crl", crl ? b64_json(crl, crl_len) : json_null()) != 0)
		goto out;
	for (i = 0; i < nkeys; i++) {
		if ((k = json_pack("{s:s,s:i,s:i,s:I,s:I,s:I}", "group", keys[i].group,
		    "scheme", (int)keys[i].scheme, "kind", (int)keys[i].kind,
		    "epoch", (json_int_t)keys[i].epoch, "not_before_ms", (json_int_t)keys[i].not_before_ms,
		    "not_after_ms", (json_int_t)keys[i].not_after_ms)) == NULL ||
		    json_object_set_new(k, "key", b64_json(keys[i].key, MQE2E_KEY_LEN)) != 0 ||
		    json_array_append_new(arr, k) != 0)
			goto out;
	}
	if ((text = json_dumps(root, JSON_COMPACT)) == NULL)
		goto out;
	tlen = strlen(text);
	r = MQE2E_ERR_IO;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, err_len, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	for (off = 0; off < tlen;) {
		ssize_t w = write(fd, text + off, tlen - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, err_len, "cannot write '%s': %s", tmp, strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		snprintf(err, err_len, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		snprintf(err, err_len, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		goto out;
	}
	r = MQE2E_OK;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	} else if (r != MQE2E_OK) {
		unlink(tmp);
	}
	if (text != NULL) {
		mqe2e_wipe(text, strlen(text));
		free(text);
	}
	json_decref(root);   /* (jansson frees its copies of the key strings unwiped) */
	if (r == MQE2E_ERR_NOMEM)
		snprintf(err, err_len, "out of memory");
	return r;
}

/* One key entry from the cache. */
static int load_key(json_t *k, struct mqe2e_key_entry *e)
{
	json_t *g = json_object_get(k, "group"), *s = json_object_get(k, "scheme");
	json_t *kd = json_object_get(k, "kind"), *ep = json_object_get(k, "epoch");
	json_t *nb = json_object_get(k, "not_before_ms"), *na = json_object_get(k, "not_after_ms");
	json_t *key = json_object_get(k, "key");
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	int r;

	if (!json_is_string(g) || !mqe2e_id_valid_str(json_string_value(g)) ||
	    !json_is_integer(s) || json_integer_value(s) < 1 || json_integer_value(s) > 4 ||
	    !json_is_integer(kd) || json_integer_value(kd) != MQE2E_GK_B ||
	    !json_is_integer(ep) || json_integer_value(ep) < 0 || json_integer_value(ep) > (json_int_t)UINT32_MAX ||
	    !json_is_integer(nb) || json_integer_value(nb) < 0 ||
	    !json_is_integer(na) || json_integer_value(na) < 0 || !json_is_string(key))
		return MQE2E_ERR_BAD_FORMAT;
	if ((r = mqe2e_base64_decode(json_string_value(key), MQE2E_KEY_LEN, &raw, &raw_len)) != MQE2E_OK)
		return r;
	if (raw_len != MQE2E_KEY_LEN) {
		mqe2e_free_secret(raw, raw_len);
		return MQE2E_ERR_BAD_FORMAT;
	}
	memset(e, 0, sizeof(*e));
	memcpy(e->group, json_string_value(g), strlen(json_string_value(g)) + 1);
	e->scheme = (uint8_t)json_integer_value(s);
	e->kind = MQE2E_GK_B;
	e->epoch = (uint32_t)json_integer_value(ep);
	e->not_before_ms = (uint64_t)json_integer_value(nb);
	e->not_after_ms = (uint64_t)json_integer_value(na);
	memcpy(e->key, raw, MQE2E_KEY_LEN);
	mqe2e_free_secret(raw, raw_len);
	return MQE2E_OK;
}

/* One stored answer, verified for its nonce: its policy JSON in *doc. */
static int open_stored(EVP_PKEY *ca, const json_t *jn, const json_t *ja, json_t **doc)
{
	uint8_t *nonce = NULL, *pol = NULL;
	size_t nonce_len = 0, pol_len = 0;
	json_error_t jerr;
	int r = MQE2E_ERR_BAD_FORMAT;

	*doc = NULL;
	if (!json_is_string(jn) || !json_is_string(ja))
		return MQE2E_ERR_BAD_FORMAT;
	if ((r = mqe2e_base64_decode(json_string_value(jn), MQE2E_NONCE_LEN, &nonce, &nonce_len)) !=
	    MQE2E_OK || nonce_len != MQE2E_NONCE_LEN) {
		r = MQE2E_ERR_BAD_FORMAT;
		goto out;
	}
	if ((r = cache__open_answer(ca, nonce, (const uint8_t *)json_string_value(ja),
	    json_string_length(ja), &pol, &pol_len)) != MQE2E_OK)
		goto out;
	if ((*doc = json_loadb((const char *)pol, pol_len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		r = MQE2E_ERR_BAD_FORMAT;
out:
	free(nonce);
	free(pol);
	return r;
}

int cache__load(const char *path, EVP_PKEY *ca, struct bx_policy **out, char *err, size_t err_len)
{
	json_t *root = NULL, *jc, *jk, *k, *chain, *doc = NULL, *d = NULL;
	json_error_t jerr;
	struct mqe2e_key_entry *keys = NULL;
	struct bx_policy *p = NULL;
	uint8_t *crl = NULL;
	char *pol = NULL;
	size_t crl_len = 0, nkeys = 0, cap = 0, i;
	json_int_t fmt;
	int r = MQE2E_ERR_BAD_FORMAT;

	*out = NULL;
	if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(err, err_len, "cannot load '%s': %s", path, jerr.text);
		return MQE2E_ERR_IO;
	}
	jc = json_object_get(root, "crl");
	jk = json_object_get(root, "keys");
	fmt = json_integer_value(json_object_get(root, "mqe2e_policy_cache"));
	chain = json_object_get(root, "answers");
	if (!json_is_integer(json_object_get(root, "mqe2e_policy_cache")) ||
	    (fmt != 1 && fmt != 2) || (fmt == 2 && (!json_is_array(chain) ||
	    json_array_size(chain) == 0 || json_array_size(chain) > CACHE_DELTAS_MAX + 1)) ||
	    !json_is_array(jk) || json_array_size(jk) > CACHE_KEYS_MAX ||
	    (jc != NULL && !json_is_null(jc) && !json_is_string(jc)))
		goto bad;
	/* the full snapshot, then each delta on top of it */
	r = fmt == 1 ? open_stored(ca, json_object_get(root, "nonce"), json_object_get(root, "answer"),
	    &doc) : open_stored(ca, json_object_get(json_array_get(chain, 0), "nonce"),
	    json_object_get(json_array_get(chain, 0), "answer"), &doc);
	if (r == MQE2E_OK && delta__is(doc))
		r = MQE2E_ERR_BAD_FORMAT;       /* the chain must start with a full one */
	for (i = 1; r == MQE2E_OK && fmt == 2 && i < json_array_size(chain); i++) {
		const json_t *e = json_array_get(chain, i);

		if ((r = open_stored(ca, json_object_get(e, "nonce"), json_object_get(e, "answer"),
		    &d)) == MQE2E_OK)
			r = !delta__is(d) ? MQE2E_ERR_BAD_FORMAT : delta__apply(doc, d);
		json_decref(d);
		d = NULL;
	}
	if (r != MQE2E_OK) {
		snprintf(err, err_len, "'%s': the policy does not verify: %s", path, mqe2e_strerror(r));
		goto out;
	}
	if ((pol = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto bad;
	}
	if (json_is_string(jc) &&
	    (r = mqe2e_base64_decode(json_string_value(jc), CACHE_MAX, &crl, &crl_len)) != MQE2E_OK)
		goto bad;
	cap = json_array_size(jk);
	if (cap > 0 && (keys = calloc(cap, sizeof(*keys))) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto bad;
	}
	json_array_foreach(jk, i, k) {
		if ((r = load_key(k, &keys[nkeys])) != MQE2E_OK)
			goto bad;
		nkeys++;
	}
	if ((r = policy__from_json((const uint8_t *)pol, strlen(pol), keys, nkeys, &p)) != MQE2E_OK)
		goto bad;
	p->crl = crl;
	p->crl_len = crl_len;
	crl = NULL;
	*out = p;
	r = MQE2E_OK;
	goto out;
bad:
	snprintf(err, err_len, "'%s' is not a valid policy cache: %s", path, mqe2e_strerror(r));
out:
	json_decref(root);
	json_decref(doc);
	free(pol);
	free(crl);
	mqe2e_key_entries_free(keys, cap);
	return r;
}
