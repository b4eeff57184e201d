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
	case MQE2E_ERR_UNAVAILABLE:
		kms_reply_error(r, 503, "unavailable", "too many key requests in the replay "
		    "window: retry shortly");
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

struct mqe2e_keyreq_info *
kms_keyauth(struct kms_req *r, uint8_t nonce[MQE2E_NONCE_LEN])
{
	struct mqe2e_keyreq_info *info = NULL;
	struct mqe2e_hello h;
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
	pthread_mutex_lock(&r->k->trust_lock);
	e = mqe2e_keyreq_verify(r->k->trust, r->k->nonces, r->body, r->body_len,
	    mqe2e_now_ms(), &info);
	pthread_mutex_unlock(&r->k->trust_lock);
	if (e != MQE2E_OK) {
		kms_keyauth_reply(r, NULL, e);
		return NULL;
	}
	/* Verified: the nonce is authentic.  Decoding cannot fail now. */
	if ((e = mqe2e_hello_decode(r->body, r->body_len, MQE2E_MSG_KEY_REQUEST, &h)) != MQE2E_OK) {
		kms_reply_err(r, e, "cannot re-read a verified KEY_REQUEST");
		mqe2e_keyreq_info_free(info);
		return NULL;
	}
	memcpy(nonce, h.nonce, MQE2E_NONCE_LEN);
	snprintf(r->actor, sizeof(r->actor), "%s:%s", kind_name(info->requester.kind),
	    info->requester.id);
	snprintf(r->target, sizeof(r->target), "%s", info->requester.id);
	return info;
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
