/*
 * rows.h - one decoder per kind of row, for both backends.  A backend
 * hands each row of a result as a struct kms_row, a column reader over its
 * own result (db.c: a stepped sqlite3_stmt; pg_db.c: a row of a
 * PGresult); the decoders of rows.c turn it into the store.h row and call
 * the caller's typed callback.  So the order of a SELECT's columns, the
 * defaults for NULL and the checks of stored keys are written once; the
 * backends keep only their SQL and its parameters.  Nothing outside the
 * store includes this file.
 */
#ifndef KMS_ROWS_H
#define KMS_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "mqe2e_err.h"
#include "store.h"

struct kms_row;

/* A backend's column reader.  int_at: 0 for NULL; str_at: "" for NULL,
 * valid until the next row; blob_at: exactly len bytes into out, else
 * MQE2E_ERR_BAD_FORMAT (a NULL, or a value of another length). */
struct kms_row_ops {
	int64_t (*int_at)(const struct kms_row *r, int col);
	const char *(*str_at)(const struct kms_row *r, int col);
	int (*blob_at)(const struct kms_row *r, int col, uint8_t *out, size_t len);
};

/* The current row of a backend's result. */
struct kms_row {
	const struct kms_row_ops *ops;
	void *h;                  /* sqlite3_stmt * or PGresult * */
	int i;                    /* the row number in h (PostgreSQL) */
};

int64_t kms_row_int(const struct kms_row *r, int col);
const char *kms_row_str(const struct kms_row *r, int col);
/* Text into out[len], "" for NULL, cut to fit. */
void kms_row_text(const struct kms_row *r, int col, char *out, size_t len);
int kms_row_blob(const struct kms_row *r, int col, uint8_t *out, size_t len) MQE2E_WUR;

/* The columns the row decoders below read, in their order: select them
 * with these lists (a client's alias c, a group's g). */
#define KMS_ROW_CLIENT_COLUMNS "c.id, c.name, c.kind, c.created, c.revoked_at, " \
	"c.revoke_reason, (SELECT count(*) FROM certs WHERE client_id = c.id)"
#define KMS_ROW_GROUP_COLUMNS "g.id, g.name, g.filter, g.scheme, g.rotate_s, g.grace_s, " \
	"g.created, g.next_rotation, (SELECT epoch FROM epochs WHERE group_id = g.id AND " \
	"state = '" KMS_EPOCH_CURRENT_NAME "'), g.future_epochs, " \
	"(SELECT coalesce(min(epoch), 0) FROM epochs WHERE group_id = g.id AND state IN ('" \
	KMS_EPOCH_GRACE_NAME "', '" KMS_EPOCH_CURRENT_NAME "'))"
#define KMS_ROW_EPOCH_COLUMNS "epoch, state, created, activated, expires, " \
	"coalesce(cause, '')"

void kms_row__client(const struct kms_row *r, struct kms_client_row *row);
void kms_row__group(const struct kms_row *r, struct kms_group_row *row);
/* The epoch columns from column col on; MQE2E_ERR_BAD_FORMAT for a state
 * kms_epoch_state_parse does not know. */
int kms_row__epoch(const struct kms_row *r, int col, struct kms_epoch_row *row) MQE2E_WUR;

/*
 * A caller's typed callback and its argument, for a backend's "each row"
 * loop with the matching kms_each__NAME(r, &each) below, which decodes the
 * row and calls cb.NAME(arg, ...).  The columns each one reads:
 *   client   KMS_ROW_CLIENT_COLUMNS
 *   group    KMS_ROW_GROUP_COLUMNS
 *   epoch    KMS_ROW_EPOCH_COLUMNS
 *   ending   group_id, KMS_ROW_EPOCH_COLUMNS
 *   name     name (a client's, a group's, a serial)
 *   change   kind, name (policy_log)
 *   cert     id, serial, not_before, not_after, revoked_at, created
 *   revoked  serial, revoked_at, not_after
 *   pem      serial, cert_pem
 *   expiring client name, kind, serial, not_after
 *   rekey    epoch, client, reason ('' for NULL), at
 *   grant    client name, group name, right, created
 *   keys     group name, scheme, epoch, state, activated, expires,
 *            next_rotation, rotate_s, grace_s, gk_p, gk_b, filter, pub, sub
 *            (keys of another length than KMS_SEALED_LEN, or an unknown
 *            state, are damage: MQE2E_ERR_BAD_FORMAT; the decoded row is
 *            wiped after the call)
 */
struct kms_each {
	union {
		int (*client)(void *arg, const struct kms_client_row *row);
		int (*group)(void *arg, const struct kms_group_row *row);
		int (*epoch)(void *arg, const struct kms_epoch_row *row);
		int (*ending)(void *arg, int64_t group_id, const struct kms_epoch_row *row);
		int (*name)(void *arg, const char *name);
		int (*change)(void *arg, const char *kind, const char *name);
		int (*cert)(void *arg, const struct kms_cert_row *row);
		int (*revoked)(void *arg, const char *serial, int64_t revoked_at,
		    int64_t not_after);
		int (*pem)(void *arg, const char *serial, const char *pem);
		int (*expiring)(void *arg, const struct kms_expiring_row *row);
		int (*rekey)(void *arg, const struct kms_rekey_row *row);
		int (*grant)(void *arg, const struct kms_grant_row *row);
		int (*keys)(void *arg, const struct kms_epoch_keys_row *row);
	} cb;
	void *arg;
};

int kms_each__client(const struct kms_row *r, void *each);
int kms_each__group(const struct kms_row *r, void *each);
int kms_each__epoch(const struct kms_row *r, void *each);
int kms_each__ending(const struct kms_row *r, void *each);
int kms_each__name(const struct kms_row *r, void *each);
int kms_each__change(const struct kms_row *r, void *each);
int kms_each__cert(const struct kms_row *r, void *each);
int kms_each__revoked(const struct kms_row *r, void *each);
int kms_each__pem(const struct kms_row *r, void *each);
int kms_each__expiring(const struct kms_row *r, void *each);
int kms_each__rekey(const struct kms_row *r, void *each);
int kms_each__grant(const struct kms_row *r, void *each);
int kms_each__keys(const struct kms_row *r, void *each);

#endif
