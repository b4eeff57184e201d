/*
 * rest_keys.c - POST /v1/keys: group keys for a client or a broker, over
 * the signed X25519 KEY_REQUEST / KEY_RESPONSE of core/handshake.h.
 *
 * Exactly the keys the requester's grants allow, for every deliverable
 * epoch (current, next or grace: epoch.h):
 *   client, pub grant -> GK_P;  client, sub grant -> GK_P and GK_B;
 *   broker -> GK_B of every group, never GK_P.
 * and, in the KEY_BUNDLE's group table, the topic filter, scheme and the
 * requester's rights of each of those groups (PROTOCOL.md section 7).
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

struct keyset {
	struct mqe2e_key_entry *e;
	size_t n, cap;
	struct mqe2e_group_info *g;
	size_t ng, gcap;
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
	return MQE2E_OK;
}

/* 1 if group is among the requested ones (all when none were named). */
static int
requested(const struct mqe2e_keyreq_info *info, const char *group)
{
	size_t i;

	if (info->ngroups == 0)
		return 1;
	for (i = 0; i < info->ngroups; i++) {
		if (strcmp(info->groups[i], group) == 0)
			return 1;
	}
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
	kms_epoch_validity(row, &e->not_before_ms, &e->not_after_ms);
	if (kms_keystore_open_key(k->ks, row->group, row->epoch, kind,
	    kind == MQE2E_GK_P ? row->gk_p : row->gk_b, KMS_SEALED_LEN, e->key) != MQE2E_OK)
		return MQE2E_ERR_BAD_TAG;   /* tampered database or wrong master key */
	ks->n++;
	return MQE2E_OK;
}

struct collect {
	struct kmsd *k;
	const struct mqe2e_keyreq_info *info;
	struct keyset *ks;
	char bad_group[KMS_NAME_MAX + 1];   /* the key that did not open */
	uint32_t bad_epoch;
};

/* Store callback: the keys of one epoch the requester may have. */
static int
collect_epoch(void *arg, const struct kms_epoch_keys_row *row)
{
	struct collect *c = arg;
	int broker = c->info->requester.kind == MQE2E_KIND_BROKER;
	int r;

	if (!requested(c->info, row->group))
		return MQE2E_OK;
	if ((r = add_group(c->ks, row)) != MQE2E_OK)
		return r;
	if (!broker && (row->pub || row->sub))
		r = add_key(c->k, c->ks, row, MQE2E_GK_P);
	if (r == MQE2E_OK && (broker || row->sub))
		r = add_key(c->k, c->ks, row, MQE2E_GK_B);
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
	int e;

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
		e = kms_store_epoch_keys(k->db, info->requester.kind == MQE2E_KIND_BROKER ? 0 :
		    client_id, collect_epoch, &c);
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_TOO_LONG)
			kms_reply_error(r, 400, "bad_request", "more than %d keys: name fewer groups "
			    "in the KEY_REQUEST", MQE2E_KEYS_MAX);
		else
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
		struct mqe2e_keybundle kb = { ks.g, ks.ng, ks.e, ks.n };

		e = mqe2e_keyresp_build(kms_ca_key(k->ca), info, &kb, mqe2e_now_ms(), &resp,
		    &resp_len);
	}
	if (e != MQE2E_OK) {
		kms_reply_err(r, e, "cannot build the KEY_RESPONSE for '%s'", info->requester.id);
		goto out;
	}
	snprintf(r->detail, sizeof(r->detail), "%zu keys of %zu groups", ks.n, ks.ng);
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
