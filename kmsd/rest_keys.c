/*
 * rest_keys.c - POST /v1/keys: group keys for a client or a broker, over
 * the signed X25519 KEY_REQUEST / KEY_RESPONSE of core/handshake.h.
 *
 * Exactly the keys the requester's grants allow:
 *   client, pub grant -> GK_P;  client, sub grant -> GK_P and GK_B;
 *   broker -> GK_B of every group, never GK_P.
 * and, in the KEY_BUNDLE's group table, the topic filter, scheme and the
 * requester's rights of each of those groups (PROTOCOL.md section 7).
 *
 * Bounded answers (PROTOCOL.md 12.1): per group a window (the current
 * epoch, every next epoch, the KMS_WINDOW_GRACE newest grace epochs) plus
 * an older grace epoch the request names; per answer at most
 * MQE2E_KEYBUNDLE_GROUPS_MAX groups and about KMS_PAGE_BYTES of bundle,
 * whole groups only.  What does not fit is left for the next page: the
 * answer says MQE2E_KEYBUNDLE_MORE and the requester asks again with the
 * last group of the table as its cursor.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "epoch.h"
#include "keyauth.h"
#include "keystore.h"
#include "metrics.h"
#include "store.h"
#include "wire.h"

#define KMS_WINDOW_GRACE 4                 /* grace epochs per group, newest first */
#define KMS_PAGE_BYTES (1024u * 1024u)     /* a page of KEY_BUNDLE, about */
#define PAGE_FULL 1                        /* collect_epoch: stop, more to come */

struct keyset {
	struct mqe2e_key_entry *e;
	size_t n, cap;
	struct mqe2e_group_info *g;
	size_t ng, gcap;
	size_t bytes;                  /* of the KEY_BUNDLE so far */
	unsigned next_rank;            /* next epochs of the last group so far */
};

static void
keyset_free(struct keyset *ks)
{
	mqe2e_key_entries_free(ks->e, ks->cap);
	free(ks->g);
	memset(ks, 0, sizeof(*ks));
}

/* The group of row in the table (rows come by group name: a new group is
 * the last one or none). */
static int
add_group(struct keyset *ks, const struct kms_epoch_keys_row *row)
{
	struct mqe2e_group_info *g;
	size_t glen = strlen(row->group), flen = strlen(row->filter);

	if (ks->ng > 0 && strcmp(ks->g[ks->ng - 1].name, row->group) == 0)
		return MQE2E_OK;
	if (ks->ng == MQE2E_KEYBUNDLE_GROUPS_MAX)
		return MQE2E_ERR_TOO_LONG;
	if (ks->ng == ks->gcap) {
		size_t cap = ks->gcap == 0 ? 8 : 2 * ks->gcap;
		struct mqe2e_group_info *ng = realloc(ks->g, cap * sizeof(*ng));

		if (ng == NULL)
			return MQE2E_ERR_NOMEM;
		ks->g = ng;
		ks->gcap = cap;
	}
	if (glen > MQE2E_ID_MAX || flen > MQE2E_FILTER_MAX)
		return MQE2E_ERR_INTERNAL;
	g = &ks->g[ks->ng];
	memset(g, 0, sizeof(*g));
	memcpy(g->name, row->group, glen + 1);
	memcpy(g->filter, row->filter, flen + 1);
	g->scheme = (uint8_t)row->scheme;
	g->rights = (uint8_t)((row->pub ? MQE2E_RIGHT_PUB : 0) | (row->sub ? MQE2E_RIGHT_SUB : 0));
	ks->ng++;
	ks->bytes += 2 + glen + 1 + 1 + 2 + flen;
	ks->next_rank = 0;
	return MQE2E_OK;
}

/* 1 if the last group already has epoch (a group named twice). */
static int
have_epoch(const struct keyset *ks, const char *group, uint32_t epoch)
{
	size_t i;

	for (i = ks->n; i > 0 && strcmp(ks->e[i - 1].group, group) == 0; i--)
		if (ks->e[i - 1].epoch == epoch)
			return 1;
	return 0;
}

/* Open one sealed key of the row into a new entry. */
static int
add_key(struct kmsd *k, struct keyset *ks, const struct kms_epoch_keys_row *row, uint8_t kind)
{
	struct mqe2e_key_entry *e;
	size_t glen = strlen(row->group);

	if (ks->n == MQE2E_KEYS_MAX)
		return MQE2E_ERR_TOO_LONG;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap == 0 ? 16 : 2 * ks->cap;
		struct mqe2e_key_entry *ne = calloc(cap, sizeof(*ne));

		if (ne == NULL)
			return MQE2E_ERR_NOMEM;
		if (ks->e != NULL)
			memcpy(ne, ks->e, ks->n * sizeof(*ne));
		mqe2e_key_entries_free(ks->e, ks->cap);
		ks->e = ne;
		ks->cap = cap;
	}
	e = &ks->e[ks->n];
	if (glen > MQE2E_ID_MAX || row->epoch == 0)
		return MQE2E_ERR_INTERNAL;
	memcpy(e->group, row->group, glen + 1);
	e->scheme = (uint8_t)row->scheme;
	e->kind = kind;
	e->epoch = row->epoch;
	kms_epoch_validity(row, ks->next_rank, &e->not_before_ms, &e->not_after_ms);
	if (kms_keystore_open_key(k->ks, row->group, row->epoch, kind,
	    kind == MQE2E_GK_P ? row->gk_p : row->gk_b, KMS_SEALED_LEN, e->key) != MQE2E_OK)
		return MQE2E_ERR_BAD_TAG;   /* tampered database or wrong master key */
	ks->n++;
	ks->bytes += 2 + glen + 1 + 4 + 8 + 8 + MQE2E_KEY_LEN;
	return MQE2E_OK;
}

struct collect {
	struct kmsd *k;
	const struct mqe2e_keyreq_info *info;
	struct keyset *ks;
	char bad_group[KMS_NAME_MAX + 1];   /* the key that did not open */
	uint32_t bad_epoch;
};

/* Store callback: the keys of one epoch the requester may have.  A group
 * starts only while the page has room (PAGE_FULL otherwise). */
static int
collect_epoch(void *arg, const struct kms_epoch_keys_row *row)
{
	struct collect *c = arg;
	struct keyset *ks = c->ks;
	int broker = c->info->requester.kind == MQE2E_KIND_BROKER;
	int r = MQE2E_OK;

	if (ks->ng == 0 || strcmp(ks->g[ks->ng - 1].name, row->group) != 0) {
		if (ks->ng == MQE2E_KEYBUNDLE_GROUPS_MAX || ks->bytes >= KMS_PAGE_BYTES)
			return PAGE_FULL;
		if ((r = add_group(ks, row)) != MQE2E_OK)
			return r;
	} else if (have_epoch(ks, row->group, row->epoch))
		return MQE2E_OK;
	if (!broker && (row->pub || row->sub))
		r = add_key(c->k, ks, row, MQE2E_GK_P);
	if (r == MQE2E_OK && (broker || row->sub))
		r = add_key(c->k, ks, row, MQE2E_GK_B);
	if (row->state == KMS_EPOCH_NEXT)
		ks->next_rank++;
	if (r == MQE2E_ERR_BAD_TAG) {
		/* A damaged row must not cost the other groups their keys:
		 * leave it out, and mark the daemon unhealthy (below). */
		if (c->bad_group[0] == '\0') {
			snprintf(c->bad_group, sizeof(c->bad_group), "%s", row->group);
			c->bad_epoch = row->epoch;
		}
		r = MQE2E_OK;
	}
	return r;
}

struct want {
	const char *group;
	uint32_t epoch;
};

static int
want_cmp(const void *a, const void *b)
{
	const struct want *x = a, *y = b;
	int c = strcmp(x->group, y->group);

	return c != 0 ? c : x->epoch < y->epoch ? -1 : x->epoch > y->epoch;
}

/* Walk what the request asks for, in group-name order, into c->ks (in the
 * caller's transaction): the named groups after the cursor, each with its
 * window and the epoch named, or a page of all the requester's groups.
 * *more = 1 if the page filled up before the end. */
static int
collect(struct collect *c, int64_t client_id, int *more)
{
	const struct mqe2e_keyreq_info *info = c->info;
	struct kms_keys_query q;
	struct want *w = NULL;
	size_t i;
	int r = MQE2E_OK;

	*more = 0;
	memset(&q, 0, sizeof(q));
	q.client_id = client_id;
	q.grace = KMS_WINDOW_GRACE;
	if (info->ngroups == 0) {
		/* one group more than a page holds tells whether more follow */
		q.after = info->after;
		q.max_groups = MQE2E_KEYBUNDLE_GROUPS_MAX + 1;
		r = kms_store_epoch_keys(c->k->db, &q, collect_epoch, c);
	} else {
		if ((w = calloc(info->ngroups, sizeof(*w))) == NULL)
			return MQE2E_ERR_NOMEM;
		for (i = 0; i < info->ngroups; i++) {
			w[i].group = info->groups[i];
			w[i].epoch = info->epochs[i];
		}
		qsort(w, info->ngroups, sizeof(*w), want_cmp);
		for (i = 0; i < info->ngroups && r == MQE2E_OK; i++) {
			if (strcmp(w[i].group, info->after) <= 0)
				continue;
			q.group = w[i].group;
			q.epoch = w[i].epoch;
			r = kms_store_epoch_keys(c->k->db, &q, collect_epoch, c);
		}
		free(w);
	}
	if (r == PAGE_FULL) {
		*more = 1;
		r = MQE2E_OK;
	}
	return r;
}

void
rest_keys(struct kms_req *r, char **seg, size_t n)
{
	struct kmsd *k = r->k;
	struct mqe2e_keyreq_info *info = NULL;
	struct keyset ks;
	struct collect c;
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	int64_t client_id = 0;
	int e, more = 0;

	memset(&ks, 0, sizeof(ks));
	if (n != 1) {
		kms_reply_error(r, 404, "not_found", "no such endpoint (see docs/API.md)");
		return;
	}
	if (strcmp(r->method, "POST") != 0) {
		kms_reply_method(r, "POST");
		return;
	}
	kms_req_audit(r, "keys.fetch", NULL);
	if ((info = kms_keyauth(r)) == NULL)
		return;
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.k = k;
	c.info = info;
	c.ks = &ks;
	if ((e = kms_keyauth_check_locked(k->db, info, &client_id)) == MQE2E_OK)
		e = collect(&c, info->requester.kind == MQE2E_KIND_BROKER ? 0 : client_id, &more);
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		kms_keyauth_reply(r, info, e);
		goto out;
	}
	/* The master key was checked at start: the row was altered. */
	if (c.bad_group[0] != '\0')
		kmsd_fault(k, "the group key of '%s' epoch %u in kms.db does not open under the "
		    "master key (left out of key responses): the database was altered or is "
		    "not the one of master.key; restore kms.db and master.key together from "
		    "one backup, then restart", c.bad_group, c.bad_epoch);
	/* Replay protection where it buys something: an answer that carries
	 * keys.  A requester with no grants gets an empty answer and leaves
	 * nothing in the nonce cache (docs/PROTOCOL.md section 9). */
	if (ks.n > 0 && !kms_keyauth_record(r, info))
		goto out;
	{
		struct mqe2e_keybundle kb = { ks.g, ks.ng, ks.e, ks.n,
		    (uint8_t)(more ? MQE2E_KEYBUNDLE_MORE : 0) };

		e = mqe2e_keyresp_build_shared(kms_ca_key(k->ca), k->resp_key, info, &kb,
		    mqe2e_now_ms(), &resp, &resp_len);
	}
	if (e != MQE2E_OK) {
		kms_reply_err(r, e, "cannot build the KEY_RESPONSE for '%s'", info->requester.id);
		goto out;
	}
	snprintf(r->detail, sizeof(r->detail), "%zu keys of %zu groups, %zu bytes%s", ks.n, ks.ng,
	    resp_len, more ? " (a page: more follow)" : "");
	kms_metrics_keys_served(info->requester.kind == MQE2E_KIND_BROKER, ks.n);
	kms_reply_bytes(r, 200, "application/octet-stream", resp, resp_len);
 out:
	if (resp != NULL) {
		mqe2e_wipe(resp, resp_len);
		free(resp);
	}
	keyset_free(&ks);
	mqe2e_keyreq_info_free(info);
}
