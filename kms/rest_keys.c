/*
 * rest_keys.c - POST /v1/keys: group keys for a client or a broker, over
 * the signed X25519 KEY_REQUEST / KEY_RESPONSE of core/handshake.h.
 *
 * Exactly the keys the requester's grants allow, for every epoch in state
 * current, next or grace:
 *   client, pub grant -> GK_P;  client, sub grant -> GK_P and GK_B;
 *   broker -> GK_B of every group, never GK_P.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "db.h"
#include "keyauth.h"
#include "keystore.h"
#include "wire.h"

#define EPOCH_COLUMNS "g.name, g.scheme, e.epoch, e.state, e.activated, e.expires, " \
	"g.next_rotation, g.rotate_s, g.grace_s, e.gk_p, e.gk_b"

struct keyset {
	struct mqe2e_key_entry *e;
	size_t n, cap;
};

static void
keyset_free(struct keyset *ks)
{
	mqe2e_key_entries_free(ks->e, ks->cap);
	memset(ks, 0, sizeof(*ks));
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

/* Validity window of an epoch row, in ms (see docs/API.md). */
static void
validity(sqlite3_stmt *st, uint64_t *nb, uint64_t *na)
{
	const char *state = (const char *)sqlite3_column_text(st, 3);
	int64_t activated = sqlite3_column_int64(st, 4), expires = sqlite3_column_int64(st, 5);
	int64_t next_rot = sqlite3_column_int64(st, 6), rotate_s = sqlite3_column_int64(st, 7);
	int64_t grace_s = sqlite3_column_int64(st, 8);

	if (strcmp(state, "next") == 0) {
		*nb = (uint64_t)next_rot * 1000;
		*na = (uint64_t)(next_rot + rotate_s + grace_s) * 1000;
	} else if (strcmp(state, "current") == 0) {
		*nb = (uint64_t)activated * 1000;
		*na = (uint64_t)(next_rot + grace_s) * 1000;
	} else {
		*nb = (uint64_t)activated * 1000;
		*na = (uint64_t)expires * 1000;
	}
}

/* Open one sealed key of the row into a new entry. */
static int
add_key(struct kmsd *k, struct keyset *ks, sqlite3_stmt *st, uint8_t kind)
{
	struct mqe2e_key_entry *e;
	const char *group = (const char *)sqlite3_column_text(st, 0);
	int col = kind == MQE2E_GK_P ? 9 : 10;
	int64_t epoch = sqlite3_column_int64(st, 2);

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
	if (strlen(group) > MQE2E_ID_MAX || epoch <= 0 || epoch > (int64_t)UINT32_MAX)
		return MQE2E_ERR_INTERNAL;
	memcpy(e->group, group, strlen(group) + 1);
	e->scheme = (uint8_t)sqlite3_column_int(st, 1);
	e->kind = kind;
	e->epoch = (uint32_t)epoch;
	validity(st, &e->not_before_ms, &e->not_after_ms);
	if (kms_keystore_open_key(k->ks, group, e->epoch, kind, sqlite3_column_blob(st, col),
	    (size_t)sqlite3_column_bytes(st, col), e->key) != MQE2E_OK)
		return MQE2E_ERR_BAD_TAG;   /* tampered database or wrong master key */
	ks->n++;
	return MQE2E_OK;
}

/* Collect the keys of the requester (in a transaction). */
static int
collect(struct kmsd *k, const struct mqe2e_keyreq_info *info, int64_t client_id,
    struct keyset *ks)
{
	int broker = info->requester.kind == MQE2E_KIND_BROKER;
	sqlite3_stmt *st = NULL;
	int rc, r;

	if ((r = kms_db_prepare(k->db, broker ?
	    "SELECT " EPOCH_COLUMNS ", 0, 1 FROM topic_groups g "
	    "JOIN epochs e ON e.group_id = g.id "
	    "WHERE e.state IN ('current', 'next', 'grace') "
	    "ORDER BY g.name, e.epoch" :
	    "SELECT " EPOCH_COLUMNS ", max(gr.right = 'pub'), max(gr.right = 'sub') "
	    "FROM grants gr JOIN topic_groups g ON g.id = gr.group_id "
	    "JOIN epochs e ON e.group_id = g.id "
	    "WHERE gr.client_id = ?1 AND e.state IN ('current', 'next', 'grace') "
	    "GROUP BY g.id, e.epoch ORDER BY g.name, e.epoch", &st)) != MQE2E_OK)
		return r;
	sqlite3_bind_int64(st, 1, client_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int pub = sqlite3_column_int(st, 11), sub = sqlite3_column_int(st, 12);

		if (!requested(info, (const char *)sqlite3_column_text(st, 0)))
			continue;
		if (!broker && (pub || sub) && (r = add_key(k, ks, st, MQE2E_GK_P)) != MQE2E_OK)
			goto out;
		if ((broker || sub) && (r = add_key(k, ks, st, MQE2E_GK_B)) != MQE2E_OK)
			goto out;
	}
	r = rc == SQLITE_DONE ? MQE2E_OK : kms_db_error(k->db, rc);
 out:
	sqlite3_finalize(st);
	return r;
}

void
rest_keys(struct kms_req *r, char **seg, size_t n)
{
	struct kmsd *k = r->k;
	struct mqe2e_keyreq_info *info = NULL;
	struct keyset ks;
	uint8_t nonce[MQE2E_NONCE_LEN], *resp = NULL;
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
	if ((info = kms_keyauth(r, nonce)) == NULL)
		return;
	if ((e = kms_db_begin(k->db, 0)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot start a transaction");
		goto out;
	}
	if ((e = kms_keyauth_check_locked(k->db, info, &client_id)) == MQE2E_OK)
		e = collect(k, info, client_id, &ks);
	if ((e = kms_db_end(k->db, e)) != MQE2E_OK) {
		if (e == MQE2E_ERR_TOO_LONG)
			kms_reply_error(r, 400, "bad_request", "more than %d keys: name fewer groups "
			    "in the KEY_REQUEST", MQE2E_KEYS_MAX);
		else if (e == MQE2E_ERR_BAD_TAG)
			kms_reply_err(r, MQE2E_ERR_INTERNAL, "a stored group key does not open under "
			    "the master key (tampered database or wrong master.key)");
		else
			kms_keyauth_reply(r, info, e);
		goto out;
	}
	if ((e = mqe2e_keyresp_build(kms_ca_key(k->ca), info, ks.e, ks.n, mqe2e_now_ms(),
	    &resp, &resp_len)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot build the KEY_RESPONSE for '%s'", info->requester.id);
		goto out;
	}
	snprintf(r->detail, sizeof(r->detail), "%zu keys", ks.n);
	kms_reply_bytes(r, 200, "application/octet-stream", resp, resp_len);
 out:
	if (resp != NULL) {
		mqe2e_wipe(resp, resp_len);
		free(resp);
	}
	keyset_free(&ks);
	mqe2e_keyreq_info_free(info);
}
