/*
 * keys.c - the client's group keys: fetched from the KMS (POST /v1/keys,
 * a signed KEY_REQUEST answered by a KEY_RESPONSE signed with the CA key),
 * kept per (group, kind, epoch) with their crypto contexts set up once.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client_int.h"
#include "http.h"
#include "kmsreq.h"

#define KMS_ERRTEXT_MAX 160
#define KEYS_CACHE_RETRY_MS 1000    /* keys from the cache: the next KMS try */

void
keys__clear(struct keystore *ks)
{
	size_t i;

	for (i = 0; i < ks->n; i++) {
		mqe2e_aead_free(ks->slot[i].aead);
		mqe2e_mac_free(ks->slot[i].mac);
	}
	mqe2e_free_secret(ks->slot, ks->n * sizeof(*ks->slot));
	free(ks->groups);
	memset(ks, 0, sizeof(*ks));
}

/* What a delivery reads of a slot fits its first line (client_int.h). */
_Static_assert(offsetof(struct keyslot, group) == 64, "a slot's hot fields fill one line");
_Static_assert(MQE2E_ID_MAX <= UINT16_MAX, "group_len holds a group name's length");

/* n zeroed slots, aligned on cache lines; NULL if out of memory. */
static struct keyslot *
slots_alloc(size_t n)
{
	void *p;

	if (n > SIZE_MAX / sizeof(struct keyslot) ||
	    posix_memalign(&p, _Alignof(struct keyslot), n * sizeof(struct keyslot)) != 0)
		return NULL;
	return memset(p, 0, n * sizeof(struct keyslot));
}

/* Contexts for one entry: GK_P is an AEAD key; GK_B is a MAC key in scheme
 * 4 and an AEAD key in scheme 3. */
static int
slot_init(struct keyslot *s, const struct mqe2e_key_entry *e)
{
	int r;

	memset(s, 0, sizeof(*s));
	memcpy(s->group, e->group, sizeof(s->group));
	s->group[sizeof(s->group) - 1] = '\0';
	s->group_len = (uint16_t)strlen(s->group);
	s->scheme = e->scheme;
	s->kind = e->kind;
	s->epoch = e->epoch;
	s->not_before_ms = e->not_before_ms;
	s->not_after_ms = e->not_after_ms;
	memcpy(s->key, e->key, sizeof(s->key));
	if (e->kind == MQE2E_GK_B && e->scheme == MQE2E_SCHEME_4)
		r = mqe2e_mac_new(e->key, sizeof(e->key), &s->mac);
	else
		r = mqe2e_aead_new(e->key, &s->aead);
	return r;
}

/* Sanitised "code: message" from a KMS error body (JSON, untrusted). */
static void
kms_error_text(const struct mqe2e_http_response *resp, char *out, size_t outlen)
{
	json_t *root = NULL, *err;
	const char *code = NULL, *message = NULL;
	size_t i;

	out[0] = '\0';
	if (resp->body != NULL && resp->body_len <= 64 * 1024)
		root = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
	if (root != NULL && (err = json_object_get(root, "error")) != NULL) {
		code = json_string_value(json_object_get(err, "code"));
		message = json_string_value(json_object_get(err, "message"));
	}
	client__fmt(out, outlen, "%s%s%s", code != NULL ? code : "no error details",
	    message != NULL ? ": " : "", message != NULL ? message : "");
	for (i = 0; out[i] != '\0'; i++) {
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	}
	json_decref(root);
}

static int
status_to_err(int status)
{
	switch (status) {
	case 401:
		return MQE2E_ERR_UNKNOWN_CA;
	case 403:
		return MQE2E_ERR_REVOKED;
	case 404:
		return MQE2E_ERR_DENIED;
	case 400:
		return MQE2E_ERR_BAD_FORMAT;
	case 409:
		return MQE2E_ERR_NONCE_REUSE;
	default:
		return MQE2E_ERR_UNAVAILABLE;
	}
}

/* One KEY_REQUEST for wants (or, n = 0, a page of all my groups after the
 * cursor) and its verified answer in *kb.  rounds: 0 to retry within
 * kms_timeout_ms (an application waits), 1 for one pass over the KMS URLs
 * (the keys thread, which paces its next try itself).  msg says what went
 * wrong. */
static int
fetch_page(struct mqe2e_client *c, unsigned rounds, const struct mqe2e_keyreq_want *want,
    size_t n, const char *after, struct mqe2e_keybundle *kb, char *msg, size_t msglen)
{
	struct mqe2e_kmsreq kr;
	struct mqe2e_http_req rq;
	struct mqe2e_http_response resp;
	struct kms_lease *lease;
	char why[KMS_ERRTEXT_MAX];
	int r;

	memset(&resp, 0, sizeof(resp));
	memset(&kr, 0, sizeof(kr));
	memset(&rq, 0, sizeof(rq));
	kr.id = c->ident;
	kr.want = want;
	kr.n = n;
	kr.after = after;
	rq.path = "/v1/keys";
	rq.timeout_ms = c->cfg.kms_timeout_ms;
	rq.cancel_fd = -1;
	rq.max_rounds = rounds;
	if (!c->kms_warned && mqe2e_http_warning(c->kms) != NULL) {
		c->kms_warned = 1;
		client__report(c, MQE2E_OK, NULL, NULL, NULL, 0, "warning: %s",
		    mqe2e_http_warning(c->kms));
	}
	/* a connection shared with the process's other fetches (kmspool.c) */
	lease = kmspool__get(c);
	r = mqe2e_kmsreq_post(lease != NULL ? kmspool__http(lease) : c->kms, &rq, &kr, &resp);
	kmspool__put(lease);
	if (r != MQE2E_OK) {
		client__fmt(msg, msglen, "cannot fetch the keys of client '%s': %s", c->id,
		    resp.error);
		if (r != MQE2E_ERR_INVALID_ARG)
			r = MQE2E_ERR_UNAVAILABLE;
		goto out;
	}
	if (resp.status != 200) {
		char hint[96];

		kms_error_text(&resp, why, sizeof(why));
		mqe2e_http_retry_hint(&resp, hint, sizeof(hint));
		r = status_to_err(resp.status);
		if (resp.retry_after_s > 0) {
			pthread_mutex_lock(&c->mu);
			c->kms_retry_after_ms = client__mono_ms() +
			    (uint64_t)resp.retry_after_s * 1000u;
			pthread_mutex_unlock(&c->mu);
		}
		client__fmt(msg, msglen, "the KMS at %s refused the key request of client "
		    "'%s': HTTP %d (%s)%s%s", resp.url, c->id, resp.status, why,
		    r == MQE2E_ERR_REVOKED ? "; this client has been revoked" :
		    r == MQE2E_ERR_UNKNOWN_CA ? "; was its certificate issued by this KMS?" :
		    r == MQE2E_ERR_DENIED ? "; enrol it with 'mqe2e-kmsctl client add'" : "", hint);
		goto out;
	}
	pthread_mutex_lock(&c->mu);
	r = mqe2e_keyresp_open(kr.st, c->trust, resp.body, resp.body_len, mqe2e_now_ms(), kb);
	pthread_mutex_unlock(&c->mu);
	if (r != MQE2E_OK)
		client__fmt(msg, msglen, "the key response of the KMS at %s does not verify "
		    "against CA %s: %s", resp.url, c->cfg.cafile, mqe2e_strerror(r));
out:
	mqe2e_http_response_free(&resp);
	mqe2e_kmsreq_clear(&kr);
	return r;
}

/* Every page of my groups' windows, then the old epochs messages asked for
 * (c->want), into *all. */
static int
fetch_all(struct mqe2e_client *c, unsigned rounds, struct mqe2e_keybundle *all, char *msg,
    size_t msglen)
{
	struct mqe2e_keybundle page;
	struct mqe2e_keyreq_want w[KEYS_WANT_MAX];
	char wg[KEYS_WANT_MAX][MQE2E_ID_MAX + 1];
	char after[MQE2E_ID_MAX + 1] = "";
	size_t i, n = 0, pages = 0;
	int r;

	do {
		if ((r = fetch_page(c, rounds, NULL, 0, after, &page, msg, msglen)) != MQE2E_OK)
			return r;
		if ((page.flags & MQE2E_KEYBUNDLE_MORE) != 0 && (page.ngroups == 0 ||
		    strcmp(page.groups[page.ngroups - 1].name, after) <= 0 ||
		    ++pages == KEYS_PAGES_MAX)) {
			mqe2e_keybundle_free(&page);
			client__fmt(msg, msglen, "the KMS at %s pages its key answers without "
			    "moving on (after group '%s')", c->cfg.kms, after);
			return MQE2E_ERR_BAD_FORMAT;
		}
		if (page.ngroups > 0)
			memcpy(after, page.groups[page.ngroups - 1].name, sizeof(after));
		if ((r = mqe2e_keybundle_append(all, &page)) != MQE2E_OK) {
			client__fmt(msg, msglen, "out of memory");
			return r;
		}
	} while ((all->flags & MQE2E_KEYBUNDLE_MORE) != 0);
	/* old epochs of groups I still hold, by number (a small list) */
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->nwant; i++) {
		if (c->want[i].gone || mqe2e_keybundle_group(all, c->want[i].group) == NULL)
			continue;
		memcpy(wg[n], c->want[i].group, sizeof(wg[n]));
		w[n].group = wg[n];
		w[n++].epoch = c->want[i].epoch;
	}
	pthread_mutex_unlock(&c->mu);
	if (n == 0)
		return MQE2E_OK;
	if ((r = fetch_page(c, rounds, w, n, NULL, &page, msg, msglen)) != MQE2E_OK ||
	    (r = mqe2e_keybundle_append(all, &page)) != MQE2E_OK)
		return r;
	/* What the KMS did not give is gone: no fetch for it again.  What it
	 * gave stays wanted: every fetch replaces the store, so the next one
	 * asks again (the KMS, not a memory of ours, says what is still
	 * deliverable: never a key voided since). */
	pthread_mutex_lock(&c->mu);
	for (i = 0; i < c->nwant; i++) {
		size_t j, asked;

		for (asked = 0; asked < n; asked++)
			if (w[asked].epoch == c->want[i].epoch &&
			    strcmp(w[asked].group, c->want[i].group) == 0)
				break;
		if (asked == n)
			continue;
		for (j = 0; j < all->nkeys; j++)
			if (all->keys[j].epoch == c->want[i].epoch &&
			    strcmp(all->keys[j].group, c->want[i].group) == 0)
				break;
		c->want[i].gone = j == all->nkeys;
	}
	pthread_mutex_unlock(&c->mu);
	return MQE2E_OK;
}

int
keys__want(struct mqe2e_client *c, const char *group, size_t group_len, uint32_t epoch)
{
	struct keys_want *w;
	size_t i;

	if (group_len == 0 || group_len > MQE2E_ID_MAX)
		return 0;
	for (i = 0; i < c->nwant; i++) {
		w = &c->want[i];
		if (w->epoch == epoch && strlen(w->group) == group_len &&
		    memcmp(w->group, group, group_len) == 0)
			return w->gone ? 0 : 1;
	}
	/* full: the oldest entry makes room */
	if (c->nwant == KEYS_WANT_MAX) {
		memmove(&c->want[0], &c->want[1], (KEYS_WANT_MAX - 1) * sizeof(c->want[0]));
		c->nwant--;
	}
	w = &c->want[c->nwant++];
	memcpy(w->group, group, group_len);
	w->group[group_len] = '\0';
	w->epoch = epoch;
	w->gone = 0;
	return 2;
}

/* keys__fetch (rounds 0: retries within the deadline) or keys__refresh
 * (rounds 1). */
static int
fetch(struct mqe2e_client *c, unsigned rounds, char *msg, size_t msglen)
{
	struct mqe2e_keybundle kb = { NULL, 0, NULL, 0, 0 };
	char own[CLIENT_ERRMSG_MAX], note[CLIENT_ERRMSG_MAX] = "";
	char cache_msg[CLIENT_ERRMSG_MAX];
	int first;
	uint64_t seq;
	int r;

	if (msg == NULL || msglen == 0) {
		msg = own;
		msglen = sizeof(own);
	}
	msg[0] = '\0';
	pthread_mutex_lock(&c->kms_mu);
	/* a message held before this point is settled by this fetch's answer */
	pthread_mutex_lock(&c->mu);
	seq = ++c->fetch_started;
	pthread_mutex_unlock(&c->mu);
	if ((r = fetch_all(c, rounds, &kb, msg, msglen)) != MQE2E_OK)
		goto out;
	if ((r = keys__install(c, &kb, &seq, 0, msg, msglen)) != MQE2E_OK)
		goto out;
	r = MQE2E_OK;
out:
	pthread_mutex_lock(&c->mu);
	if (r == MQE2E_OK && c->cache_path != NULL) {
		/* written by the process's cache writer: nobody waits for the
		 * file.  It is told once kms_mu is free (below): the write takes
		 * it, and woken now it would only wait for this fetch to end.
		 * Set here, under kms_mu, so that a revocation's fetch after
		 * this one clears it before the write can run. */
		c->cache_dirty = 1;
	} else if (r == MQE2E_ERR_REVOKED || r == MQE2E_ERR_DENIED) {
		/* the KMS says this client is revoked or unknown: what it held
		 * must not outlive that (nor be written again after) */
		c->cache_dirty = 0;
		pthread_mutex_unlock(&c->mu);
		cache__forget(c);
		pthread_mutex_lock(&c->mu);
	}
	first = c->keys_fetched_ms == 0;
	if (r != MQE2E_OK) {
		if (c->fetch_failing_ms == 0)
			c->fetch_failing_ms = client__mono_ms();
		client__fmt(c->kms_err, sizeof(c->kms_err), "%s", msg);
	}
	pthread_mutex_unlock(&c->mu);
	if (r == MQE2E_ERR_UNAVAILABLE && first) {
		/* a device started while the KMS is down works with the keys it
		 * held (docs/CLIENT.md, "Key cache") */
		int cr = cache__load(c, 0, cache_msg, sizeof(cache_msg));

		if (cr == MQE2E_OK) {
			client__fmt(note, sizeof(note), "%s; %s", msg, cache_msg);
			r = MQE2E_OK;
		} else if (cr != MQE2E_ERR_NOT_FOUND) {
			size_t at = strlen(msg);

			client__fmt(msg + at, msglen - at, "; %s", cache_msg);
		}
	}
	mqe2e_keybundle_free(&kb);
	pthread_mutex_unlock(&c->kms_mu);
	if (r == MQE2E_OK && c->cache_path != NULL)
		cache__queue(c);        /* the cache write, if still due */
	if (note[0] != '\0')
		client__report(c, MQE2E_ERR_UNAVAILABLE, NULL, NULL, NULL, 0, "%s", note);
	if (r == MQE2E_OK)
		roster__sync(c);        /* the rosters of groups new to this client */
	return r;
}

/* The pause slot of group (NULL if none). */
static struct keys_ahead *
ahead_slot(struct mqe2e_client *c, const char *group, size_t group_len)
{
	size_t i;

	for (i = 0; i < KEYS_AHEAD_GROUPS; i++)
		if (c->ahead[i].pause_ms != 0 && strlen(c->ahead[i].group) == group_len &&
		    memcmp(c->ahead[i].group, group, group_len) == 0)
			return &c->ahead[i];
	return NULL;
}

int
keys__ahead_allowed(struct mqe2e_client *c, const char *group, size_t group_len,
    uint64_t now_ms)
{
	struct keys_ahead *a = ahead_slot(c, group, group_len);

	if (a == NULL)
		return 1;
	if (now_ms < a->next_ms)
		return 0;
	a->next_ms = now_ms + a->pause_ms;
	return 1;
}

void
keys__ahead_bogus(struct mqe2e_client *c, const char *group, size_t group_len,
    uint64_t now_ms)
{
	struct keys_ahead *a = ahead_slot(c, group, group_len);
	size_t i;

	if (group_len == 0 || group_len > MQE2E_ID_MAX)
		return;
	if (a == NULL) {
		/* a free slot, else the one whose pause ends first */
		for (i = 0; i < KEYS_AHEAD_GROUPS && a == NULL; i++)
			if (c->ahead[i].pause_ms == 0)
				a = &c->ahead[i];
		if (a == NULL) {
			a = &c->ahead[0];
			for (i = 1; i < KEYS_AHEAD_GROUPS; i++)
				if (c->ahead[i].next_ms < a->next_ms)
					a = &c->ahead[i];
		}
		memcpy(a->group, group, group_len);
		a->group[group_len] = '\0';
		a->pause_ms = 0;
	}
	if (a->pause_ms == 0)
		a->pause_ms = KEYS_AHEAD_PAUSE_MIN_MS;
	else if (a->pause_ms < KEYS_AHEAD_PAUSE_MAX_MS / 2)
		a->pause_ms *= 2;
	else
		a->pause_ms = KEYS_AHEAD_PAUSE_MAX_MS;
	a->next_ms = now_ms + a->pause_ms;
}

void
keys__ahead_legit(struct mqe2e_client *c, const char *group, size_t group_len)
{
	struct keys_ahead *a = ahead_slot(c, group, group_len);

	if (a != NULL)
		memset(a, 0, sizeof(*a));
}

int
keys__fetch(struct mqe2e_client *c, char *msg, size_t msglen)
{
	return fetch(c, 0, msg, msglen);
}

int
keys__first(struct mqe2e_client *c, int *from_cache, char *msg, size_t msglen)
{
	char cmsg[CLIENT_ERRMSG_MAX];
	int r = MQE2E_ERR_NOT_FOUND, have;

	*from_cache = 0;
	pthread_mutex_lock(&c->kms_mu);
	pthread_mutex_lock(&c->mu);
	have = c->keys_fetched_ms != 0;         /* another thread was first */
	pthread_mutex_unlock(&c->mu);
	if (!have)
		r = cache__load(c, 1, cmsg, sizeof(cmsg));
	pthread_mutex_unlock(&c->kms_mu);
	if (have)
		return MQE2E_OK;
	if (r == MQE2E_OK) {
		*from_cache = 1;
		roster__sync(c);        /* as after a fetch */
		return r;
	}
	if (r != MQE2E_ERR_NOT_FOUND && r != MQE2E_ERR_EXPIRED_KEY)
		client__report(c, r, NULL, NULL, NULL, 0, "%s; asking the KMS", cmsg);
	return keys__fetch(c, msg, msglen);
}

int
keys__refresh(struct mqe2e_client *c, char *msg, size_t msglen)
{
	return fetch(c, 1, msg, msglen);
}

int
keys__install(struct mqe2e_client *c, struct mqe2e_keybundle *kb, const uint64_t *seq,
    uint64_t answer_ms, char *msg, size_t msglen)
{
	struct keystore fresh, old;
	uint64_t now = mqe2e_now_ms();
	size_t i;
	int r = MQE2E_OK;

	memset(&fresh, 0, sizeof(fresh));
	if (kb->nkeys > 0 && (fresh.slot = slots_alloc(kb->nkeys)) == NULL) {
		client__fmt(msg, msglen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	for (i = 0; i < kb->nkeys; i++) {
		const struct mqe2e_key_entry *e = &kb->keys[i];

		/* an epoch past its grace period opens nothing any more */
		if (e->not_after_ms != 0 && e->not_after_ms <= now)
			continue;
		r = slot_init(&fresh.slot[fresh.n], e);
		fresh.n++;
		if (r != MQE2E_OK) {
			client__fmt(msg, msglen, "cannot set up the key of group '%s': %s",
			    e->group, mqe2e_strerror(r));
			keys__clear(&fresh);
			return r;
		}
	}
	/* the group table moves over as it is (sorted by name) */
	fresh.groups = kb->groups;
	fresh.ngroups = kb->ngroups;
	kb->groups = NULL;
	kb->ngroups = 0;
	pthread_mutex_lock(&c->mu);
	old = c->keys;
	c->keys = fresh;
	c->keys_fetched_ms = client__mono_ms();
	c->keys_from_cache = seq == NULL;
	c->keys_answer_ms = seq != NULL ? now : answer_ms;
	if (seq != NULL) {
		c->next_refresh_ms = c->keys_fetched_ms + (uint64_t)c->cfg.key_refresh_s * 1000u;
		c->keys_seq = *seq;
		c->fetch_failing_ms = 0;
		backoff__reset(&c->kms_retry);
	} else if (answer_ms != 0) {
		/* a restart from a cache the KMS answered less than key_refresh_s
		 * ago: the keys are as old as that answer, as a running client's
		 * would be, and are refreshed when that client's would (a second
		 * after a miss, as any, since they are older than that) */
		uint64_t age = now > answer_ms ? now - answer_ms : 0;

		c->keys_fetched_ms = c->keys_fetched_ms > age ? c->keys_fetched_ms - age : 1;
		c->next_refresh_ms = c->keys_fetched_ms + (uint64_t)c->cfg.key_refresh_s * 1000u;
	} else {
		/* from the cache: the KMS did not answer; ask it again soon */
		c->next_refresh_ms = c->keys_fetched_ms + KEYS_CACHE_RETRY_MS;
	}
	c->held_dirty = 1;
	session__changed(c);
	pthread_mutex_unlock(&c->mu);
	keys__clear(&old);
	return MQE2E_OK;
}

uint32_t
keys__oldest_epoch(struct keystore *ks, const char *group, size_t group_len)
{
	uint32_t e = 0;
	size_t i;

	for (i = 0; i < ks->n; i++) {
		struct keyslot *s = &ks->slot[i];

		if ((e == 0 || s->epoch < e) && s->group_len == group_len &&
		    memcmp(s->group, group, group_len) == 0)
			e = s->epoch;
	}
	return e;
}

static int
slot_is(const struct keyslot *s, const char *group, size_t group_len, uint8_t kind,
    uint32_t epoch)
{
	return s->kind == kind && s->epoch == epoch && s->group_len == group_len &&
	    memcmp(s->group, group, group_len) == 0;
}

/* The slot found last for this kind is tried first: a delivery looks up
 * one GK_B and one GK_P slot, mostly the same ones as the copy before,
 * and each slot passed is a cache line read (hundreds of clients' stores
 * in one process).  The hint is compared in full like any slot. */
struct keyslot *
keys__find(struct keystore *ks, const char *group, size_t group_len, uint8_t kind,
    uint32_t epoch)
{
	size_t i, *hint = kind < sizeof(ks->hint) / sizeof(ks->hint[0]) ? &ks->hint[kind] : NULL;

	if (hint != NULL && *hint < ks->n && slot_is(&ks->slot[*hint], group, group_len, kind,
	    epoch))
		return &ks->slot[*hint];
	for (i = 0; i < ks->n; i++) {
		if (slot_is(&ks->slot[i], group, group_len, kind, epoch)) {
			if (hint != NULL)
				*hint = i;
			return &ks->slot[i];
		}
	}
	return NULL;
}

struct keyslot *
keys__current(struct keystore *ks, const char *group, uint64_t now_ms)
{
	struct keyslot *best = NULL;
	size_t i;

	for (i = 0; i < ks->n; i++) {
		struct keyslot *s = &ks->slot[i];

		if (s->kind != MQE2E_GK_P || strcmp(s->group, group) != 0)
			continue;
		if (s->not_before_ms > now_ms || (s->not_after_ms != 0 && s->not_after_ms <= now_ms))
			continue;
		if (best == NULL || s->epoch > best->epoch)
			best = s;
	}
	return best;
}

uint32_t
keys__epoch_at(struct keystore *ks, const char *group, size_t group_len, uint64_t wall_ms)
{
	uint32_t e = 0;
	size_t i;

	for (i = 0; i < ks->n; i++) {
		struct keyslot *s = &ks->slot[i];

		if (s->epoch > e && s->not_before_ms <= wall_ms && s->group_len == group_len &&
		    memcmp(s->group, group, group_len) == 0)
			e = s->epoch;
	}
	return e;
}

uint32_t
keys__newest_epoch(struct keystore *ks, const char *group, size_t group_len)
{
	uint32_t e = 0;
	size_t i;

	for (i = 0; i < ks->n; i++) {
		struct keyslot *s = &ks->slot[i];

		if (s->epoch > e && s->group_len == group_len &&
		    memcmp(s->group, group, group_len) == 0)
			e = s->epoch;
	}
	return e;
}

const struct mqe2e_group_info *
keys__group(const struct keystore *ks, const char *name)
{
	const struct mqe2e_keybundle table = { ks->groups, ks->ngroups, NULL, 0, 0 };

	return mqe2e_keybundle_group(&table, name);
}

const struct mqe2e_group_info *
keys__topic_group(const struct keystore *ks, const char *topic)
{
	size_t i;

	for (i = 0; i < ks->ngroups; i++)
		if (mqe2e_topic_matches(ks->groups[i].filter, topic))
			return &ks->groups[i];
	return NULL;
}

void
keys__describe(const struct keystore *ks, char *buf, size_t len)
{
	static const char *const rights[] = { "no grant", "pub", "sub", "pub+sub" };
	size_t i, at = 0;

	client__fmt(buf, len, "%s", ks->ngroups == 0 ? "none" : "");
	for (i = 0; i < ks->ngroups && at < len; i++) {
		const struct mqe2e_group_info *g = &ks->groups[i];

		client__fmt(buf + at, len - at, "%s'%s' (%s, %s)", i > 0 ? ", " : "", g->name,
		    g->filter, rights[g->rights & 3]);
		at += strlen(buf + at);
	}
}

int
keys__kms_failing(struct mqe2e_client *c, char *out, size_t len)
{
	uint64_t s;

	if (c->fetch_failing_ms == 0) {
		client__fmt(out, len, "%s", "");
		return 0;
	}
	s = (client__mono_ms() - c->fetch_failing_ms) / 1000u;
	if (s > 0)
		client__fmt(out, len, "%s (failing for %llu s)", c->kms_err, (unsigned long long)s);
	else
		client__fmt(out, len, "%s", c->kms_err);
	return 1;
}

int
mqe2e_refresh_keys(struct mqe2e_client *c)
{
	char msg[CLIENT_ERRMSG_MAX];
	int r;

	if ((r = keys__fetch(c, msg, sizeof(msg))) != MQE2E_OK)
		return client__fail(c, r, "%s", msg);
	return MQE2E_OK;
}
