/*
 * rows.c - the row decoders both backends share (rows.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "rows.h"

int64_t
kms_row_int(const struct kms_row *r, int col)
{
	return r->ops->int_at(r, col);
}

const char *
kms_row_str(const struct kms_row *r, int col)
{
	return r->ops->str_at(r, col);
}

void
kms_row_text(const struct kms_row *r, int col, char *out, size_t len)
{
	snprintf(out, len, "%s", kms_row_str(r, col));
}

int
kms_row_blob(const struct kms_row *r, int col, uint8_t *out, size_t len)
{
	return r->ops->blob_at(r, col, out, len);
}

void
kms_row__client(const struct kms_row *r, struct kms_client_row *row)
{
	memset(row, 0, sizeof(*row));
	row->id = kms_row_int(r, 0);
	kms_row_text(r, 1, row->name, sizeof(row->name));
	kms_row_text(r, 2, row->kind, sizeof(row->kind));
	row->created = kms_row_int(r, 3);
	row->revoked_at = kms_row_int(r, 4);
	kms_row_text(r, 5, row->revoke_reason, sizeof(row->revoke_reason));
	row->certs = kms_row_int(r, 6);
}

void
kms_row__group(const struct kms_row *r, struct kms_group_row *row)
{
	memset(row, 0, sizeof(*row));
	row->id = kms_row_int(r, 0);
	kms_row_text(r, 1, row->name, sizeof(row->name));
	kms_row_text(r, 2, row->filter, sizeof(row->filter));
	row->scheme = (int)kms_row_int(r, 3);
	row->rotate_s = kms_row_int(r, 4);
	row->grace_s = kms_row_int(r, 5);
	row->created = kms_row_int(r, 6);
	row->next_rotation = kms_row_int(r, 7);
	row->current_epoch = (uint32_t)kms_row_int(r, 8);
	row->future_epochs = (int)kms_row_int(r, 9);
	row->oldest_epoch = (uint32_t)kms_row_int(r, 10);
}

/* The state column: the one mapping is kms_epoch_state_name/_parse. */
int
kms_row__epoch(const struct kms_row *r, int col, struct kms_epoch_row *row)
{
	memset(row, 0, sizeof(*row));
	row->epoch = (uint32_t)kms_row_int(r, col);
	row->created = kms_row_int(r, col + 2);
	row->activated = kms_row_int(r, col + 3);
	row->expires = kms_row_int(r, col + 4);
	kms_row_text(r, col + 5, row->cause, sizeof(row->cause));
	return kms_epoch_state_parse(kms_row_str(r, col + 1), &row->state);
}

/* ---- rows to typed callbacks ---------------------------------------------------- */

int
kms_each__client(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_client_row row;

	kms_row__client(r, &row);
	return e->cb.client(e->arg, &row);
}

int
kms_each__group(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_group_row row;

	kms_row__group(r, &row);
	return e->cb.group(e->arg, &row);
}

int
kms_each__epoch(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_epoch_row row;
	int rc;

	if ((rc = kms_row__epoch(r, 0, &row)) != MQE2E_OK)
		return rc;
	return e->cb.epoch(e->arg, &row);
}

int
kms_each__ending(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_epoch_row row;
	int rc;

	if ((rc = kms_row__epoch(r, 1, &row)) != MQE2E_OK)
		return rc;
	return e->cb.ending(e->arg, kms_row_int(r, 0), &row);
}

int
kms_each__name(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;

	return e->cb.name(e->arg, kms_row_str(r, 0));
}

int
kms_each__change(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;

	return e->cb.change(e->arg, kms_row_str(r, 0), kms_row_str(r, 1));
}

int
kms_each__cert(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_cert_row row;

	memset(&row, 0, sizeof(row));
	row.id = kms_row_int(r, 0);
	kms_row_text(r, 1, row.serial, sizeof(row.serial));
	row.not_before = kms_row_int(r, 2);
	row.not_after = kms_row_int(r, 3);
	row.revoked_at = kms_row_int(r, 4);
	row.created = kms_row_int(r, 5);
	return e->cb.cert(e->arg, &row);
}

int
kms_each__revoked(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;

	return e->cb.revoked(e->arg, kms_row_str(r, 0), kms_row_int(r, 1), kms_row_int(r, 2));
}

int
kms_each__pem(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;

	return e->cb.pem(e->arg, kms_row_str(r, 0), kms_row_str(r, 1));
}

int
kms_each__expiring(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_expiring_row row;

	memset(&row, 0, sizeof(row));
	kms_row_text(r, 0, row.client, sizeof(row.client));
	kms_row_text(r, 1, row.kind, sizeof(row.kind));
	kms_row_text(r, 2, row.serial, sizeof(row.serial));
	row.not_after = kms_row_int(r, 3);
	return e->cb.expiring(e->arg, &row);
}

int
kms_each__rekey(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_rekey_row row;

	memset(&row, 0, sizeof(row));
	row.epoch = (uint32_t)kms_row_int(r, 0);
	kms_row_text(r, 1, row.client, sizeof(row.client));
	kms_row_text(r, 2, row.reason, sizeof(row.reason));
	row.at = kms_row_int(r, 3);
	return e->cb.rekey(e->arg, &row);
}

int
kms_each__grant(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_grant_row row;

	memset(&row, 0, sizeof(row));
	kms_row_text(r, 0, row.client, sizeof(row.client));
	kms_row_text(r, 1, row.group, sizeof(row.group));
	kms_row_text(r, 2, row.right, sizeof(row.right));
	row.created = kms_row_int(r, 3);
	return e->cb.grant(e->arg, &row);
}

int
kms_each__keys(const struct kms_row *r, void *each)
{
	const struct kms_each *e = each;
	struct kms_epoch_keys_row row;
	int rc = MQE2E_ERR_BAD_FORMAT;

	memset(&row, 0, sizeof(row));
	/* A deliverable epoch without keys, or an unknown state, is damage. */
	if (kms_row_blob(r, 9, row.gk_p, KMS_SEALED_LEN) != MQE2E_OK ||
	    kms_row_blob(r, 10, row.gk_b, KMS_SEALED_LEN) != MQE2E_OK ||
	    kms_epoch_state_parse(kms_row_str(r, 3), &row.state) != MQE2E_OK)
		goto out;
	kms_row_text(r, 0, row.group, sizeof(row.group));
	row.scheme = (int)kms_row_int(r, 1);
	row.epoch = (uint32_t)kms_row_int(r, 2);
	row.activated = kms_row_int(r, 4);
	row.expires = kms_row_int(r, 5);
	row.next_rotation = kms_row_int(r, 6);
	row.rotate_s = kms_row_int(r, 7);
	row.grace_s = kms_row_int(r, 8);
	kms_row_text(r, 11, row.filter, sizeof(row.filter));
	row.pub = (int)kms_row_int(r, 12);
	row.sub = (int)kms_row_int(r, 13);
	rc = e->cb.keys(e->arg, &row);
 out:
	mqe2e_wipe(&row, sizeof(row));
	return rc;
}
