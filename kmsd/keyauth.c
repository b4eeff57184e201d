/*
 * keyauth.c - KEY_REQUEST authentication of HTTP requests (see keyauth.h).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "keyauth.h"

static const char *
kind_name(enum mqe2e_kind kind)
{
	return kind == MQE2E_KIND_BROKER ? "broker" : kind == MQE2E_KIND_CLIENT ? "client" : "kms";
}

void
kms_keyauth_reply(struct kms_req *r, const struct mqe2e_keyreq_info *info, int err)
{
	const char *id = info != NULL ? info->requester.id : "?";

	switch (err) {
	case MQE2E_ERR_UNKNOWN_CA:
		kms_reply_error(r, 401, "unknown_ca", "the requester's certificate was not issued "
		    "by this KMS's CA: enrol it with this KMS");
		break;
	case MQE2E_ERR_CERT_EXPIRED:
		kms_reply_error(r, 401, "cert_expired", "the requester's certificate is expired "
		    "or not yet valid: enrol a new one");
		break;
	case MQE2E_ERR_REVOKED:
		if (info != NULL)
			kms_reply_error(r, 403, "revoked", "client '%s' or its certificate is revoked",
			    id);
		else
			kms_reply_error(r, 403, "revoked", "the requester's certificate is revoked");
		break;
	case MQE2E_ERR_BAD_SIGNATURE:
		kms_reply_error(r, 401, "bad_signature", "the KEY_REQUEST signature does not "
		    "verify against its certificate");
		break;
	case MQE2E_ERR_CLOCK_SKEW:
		kms_reply_error(r, 400, "clock_skew", "the KEY_REQUEST time stamp is too far "
		    "from the KMS clock (%u s allowed): synchronise the clocks (NTP)",
		    r->k->cfg.max_skew_s);
		break;
	case MQE2E_ERR_NONCE_REUSE:
		kms_reply_error(r, 409, "nonce_reused", "this KEY_REQUEST was seen before "
		    "(replay): build a fresh one for every call");
		break;
	case MQE2E_ERR_BAD_CERT:
	case MQE2E_ERR_ID_MISMATCH:
		kms_reply_error(r, 401, "bad_cert", "the requester's certificate is unusable "
		    "here (wrong kind, or its identity does not match the request)");
		break;
	case MQE2E_ERR_NOT_FOUND:
		/* Not "revoked": nothing says it was; the database does not know it. */
		kms_reply_error(r, 403, "unknown_client", "client '%s' with certificate serial %s "
		    "is not known to this KMS: it was never enrolled here, or the KMS database "
		    "is older than its enrolment (restored from a backup, or re-initialised); "
		    "enrol it again", id, info != NULL ? info->requester.serial : "?");
		break;
	case MQE2E_ERR_QUOTA:
		kms_reply_error(r, 429, "rate_limited", "%s '%s' sent more key requests than "
		    "its share (%u per %u s; client_quota in mqe2e-kmsd.conf): retry after the "
		    "Retry-After delay", info != NULL ? kind_name(info->requester.kind) :
		    "requester", id, info != NULL && info->requester.kind == MQE2E_KIND_BROKER ?
		    KMSD_BROKER_QUOTA : r->k->cfg.client_quota,
		    r->k->cfg.max_skew_s + r->k->cfg.max_future_skew_s);
		break;
	case MQE2E_ERR_UNAVAILABLE:
		kms_reply_error(r, 503, "busy", "too many %ss are requesting keys at once "
		    "(nonce_cache_size in mqe2e-kmsd.conf): retry after the Retry-After delay",
		    info != NULL ? kind_name(info->requester.kind) : "requester");
		break;
	case MQE2E_ERR_BAD_FORMAT:
	case MQE2E_ERR_TRUNCATED:
	case MQE2E_ERR_TRAILING:
	case MQE2E_ERR_TOO_LONG:
	case MQE2E_ERR_BAD_VERSION:
	case MQE2E_ERR_BAD_TYPE:
	case MQE2E_ERR_INVALID_ARG:
		kms_reply_error(r, 400, "malformed", "the body is not a valid KEY_REQUEST (%s)",
		    mqe2e_strerror(err));
		break;
	default:
		kms_reply_err(r, err, "key request of '%s' failed", id);
		break;
	}
}

/* The admission state of the requester's kind: brokers have their own. */
static struct mqe2e_nonce_cache *
admission(struct kmsd *k, const struct mqe2e_keyreq_info *info)
{
	return info->requester.kind == MQE2E_KIND_BROKER ? k->broker_nonces : k->nonces;
}

struct mqe2e_keyreq_info *
kms_keyauth(struct kms_req *r)
{
	struct kmsd *k = r->k;
	struct mqe2e_keyreq_info *info = NULL;
	struct mqe2e_nonce_cache *nc;
	uint32_t retry_ms = 0;
	uint64_t now;
	int e;

	if (!kms_req_content_type_is(r, "application/octet-stream")) {
		kms_reply_error(r, 415, "unsupported_media_type", "send the KEY_REQUEST with "
		    "'Content-Type: application/octet-stream'");
		return NULL;
	}
	if (r->body_len == 0) {
		kms_reply_error(r, 400, "malformed", "the body must be a KEY_REQUEST");
		return NULL;
	}
	/* Stateless checks first (format, time, chain, revoked serials, kind,
	 * signature): nothing is stored for what fails them. */
	now = mqe2e_now_ms();
	/* Verifications run side by side (the nonce cache is only read for
	 * its time window); a change of the revoked serials waits for them. */
	pthread_rwlock_rdlock(&k->trust_rw);
	e = mqe2e_keyreq_verify(k->trust, k->nonces, r->body, r->body_len, now, &info);
	pthread_rwlock_unlock(&k->trust_rw);
	if (e == MQE2E_OK) {
		const uint8_t *id = (const uint8_t *)info->requester.id;
		size_t idlen = strlen(info->requester.id);

		nc = admission(k, info);
		pthread_mutex_lock(&k->nonce_lock);
		/* A replay is refused before it costs its owner anything. */
		if (mqe2e_nonce_cache_seen(nc, info->nonce, now))
			e = MQE2E_ERR_NONCE_REUSE;
		else
			e = mqe2e_nonce_cache_charge(nc, id, idlen, now, &retry_ms);
		pthread_mutex_unlock(&k->nonce_lock);
	}
	if (info != NULL) {
		snprintf(r->actor, sizeof(r->actor), "%s:%s", kind_name(info->requester.kind),
		    info->requester.id);
		snprintf(r->target, sizeof(r->target), "%s", info->requester.id);
	}
	if (e != MQE2E_OK) {
		kms_keyauth_reply(r, info, e);
		if (retry_ms > 0)
			kms_reply_retry_after(r, (retry_ms + 999) / 1000);
		/* Counted in the metrics (status 429), not audited one by one: a
		 * flood must not be able to fill the disk through the audit log. */
		if (e == MQE2E_ERR_QUOTA)
			r->action = NULL;
		mqe2e_keyreq_info_free(info);
		return NULL;
	}
	return info;
}

int
kms_keyauth_record(struct kms_req *r, const struct mqe2e_keyreq_info *info)
{
	struct kmsd *k = r->k;
	int e;

	pthread_mutex_lock(&k->nonce_lock);
	/* Already charged to its owner by kms_keyauth: recorded uncharged. */
	e = mqe2e_nonce_cache_add(admission(k, info), info->nonce, info->requester.ts_ms,
	    mqe2e_now_ms());
	pthread_mutex_unlock(&k->nonce_lock);
	if (e != MQE2E_OK) {
		kms_keyauth_reply(r, info, e);
		if (e == MQE2E_ERR_UNAVAILABLE)
			kms_reply_retry_after(r, 1);
		return 0;
	}
	return 1;
}

int
kms_keyauth_check_locked(struct kms_db *db, const struct mqe2e_keyreq_info *info,
    int64_t *client_id)
{
	struct kms_client_row c;
	int r;

	if ((r = kms_store_client_get(db, info->requester.id, &c)) != MQE2E_OK)
		return r;
	if (c.revoked_at != 0)
		return MQE2E_ERR_REVOKED;
	if (strcmp(c.kind, kind_name(info->requester.kind)) != 0)
		return MQE2E_ERR_BAD_CERT;
	*client_id = c.id;
	return kms_store_cert_check(db, c.id, info->requester.serial);
}
