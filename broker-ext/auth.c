/*
 * auth.c - the mqe2e handshake inside MQTT 5 CONNECT/CONNACK.
 *
 * MOSQ_EVT_EXT_AUTH_START with method "mqe2e-v1": the CONNECT Authentication
 * Data is a CONNECT_HELLO; mqe2e_hs_server_accept() checks it in the order
 * of PROTOCOL.md section 2.1 (format, clock skew, chain to the KMS CA, CRL
 * and revoked serials, validity, kind, client id == certificate CN,
 * signature, and last nonce reuse) and yields the CONNACK_REPLY, which goes back as
 * the CONNACK Authentication Data, and the session keys SK_CB.
 *
 * Refusals: MOSQ_ERR_AUTH, which Mosquitto 2.0.11 answers with CONNACK
 * reason 0x87 Not authorized and no reason string (the plugin API has no
 * way to set one); the precise reason is in one broker log line and in the
 * auth_* counters.  Another method gives MOSQ_ERR_NOT_SUPPORTED (0x8C Bad
 * authentication method).
 *
 * A CONNECT without an authentication method arrives as MOSQ_EVT_BASIC_AUTH:
 * refused unless plugin_opt_allow_plain is true.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "plugin.h"

static enum bx_stat auth_stat(int err)
{
	switch (err) {
	case MQE2E_ERR_BAD_SIGNATURE: return BX_AUTH_BAD_SIGNATURE;
	case MQE2E_ERR_UNKNOWN_CA: return BX_AUTH_UNKNOWN_CA;
	case MQE2E_ERR_REVOKED: return BX_AUTH_REVOKED;
	case MQE2E_ERR_CERT_EXPIRED: return BX_AUTH_CERT_EXPIRED;
	case MQE2E_ERR_BAD_CERT: return BX_AUTH_BAD_CERT;
	case MQE2E_ERR_ID_MISMATCH: return BX_AUTH_ID_MISMATCH;
	case MQE2E_ERR_CLOCK_SKEW: return BX_AUTH_CLOCK_SKEW;
	case MQE2E_ERR_NONCE_REUSE: return BX_AUTH_NONCE_REUSE;
	case MQE2E_ERR_QUOTA: return BX_AUTH_QUOTA;
	case MQE2E_ERR_UNAVAILABLE: return BX_AUTH_BUSY;
	case MQE2E_ERR_TRUNCATED:
	case MQE2E_ERR_TRAILING:
	case MQE2E_ERR_TOO_LONG:
	case MQE2E_ERR_BAD_VERSION:
	case MQE2E_ERR_BAD_TYPE:
	case MQE2E_ERR_BAD_FORMAT:
		return BX_AUTH_MALFORMED;
	default:
		return BX_AUTH_OTHER;
	}
}

static const char *peer_addr(struct mosquitto *client)
{
	const char *a = mosquitto_client_address(client);

	return a ? a : "?";
}

/* What a refusal of hello by mqe2e_hs_server_accept() was about, when the
 * error code alone would mislead: the broker it names, its date. */
static const char *refusal_detail(int r, const uint8_t *hello, size_t len, char *buf,
    size_t buflen)
{
	struct mqe2e_hello h;
	char name[MQE2E_ID_MAX + 1];

	if (r == MQE2E_ERR_QUOTA)
		return " (more handshakes than plugin_opt_nonce_per_client allows; the client "
		    "should back off)";
	if (r == MQE2E_ERR_UNAVAILABLE)
		return " (handshake nonce cache full: raise plugin_opt_nonce_cache)";
	if ((r != MQE2E_ERR_ID_MISMATCH && r != MQE2E_ERR_CLOCK_SKEW) ||
	    mqe2e_hello_decode(hello, len, MQE2E_MSG_CONNECT_HELLO, &h) != MQE2E_OK)
		return "";
	if (r == MQE2E_ERR_CLOCK_SKEW && h.ts_ms < bx.start_ms &&
	    mqe2e_check_skew(h.ts_ms, clock__now_us() / 1000u, bx.cfg.max_skew_ms) == MQE2E_OK) {
		snprintf(buf, buflen, " (the hello is dated %llu ms before this broker started: "
		    "a replay from before a restart, or a client clock behind)",
		    (unsigned long long)(bx.start_ms - h.ts_ms));
		return buf;
	}
	if (r == MQE2E_ERR_ID_MISMATCH && h.broker_id.len == 0 && bx.cfg.require_broker_id)
		return " (the hello names no broker and plugin_opt_require_broker_id is true: "
		    "set broker_id on the client)";
	if (r == MQE2E_ERR_ID_MISMATCH && h.broker_id.len > 0 &&
	    mqe2e_view_to_str(h.broker_id, name, sizeof(name)) == MQE2E_OK &&
	    strcmp(name, bx.self->id) != 0) {
		snprintf(buf, buflen, " (the hello is for broker '%s', this is '%s')", name,
		    bx.self->id);
		return buf;
	}
	return "";
}

/* Keep the raw session keys; their contexts are made at first use
 * (session__mac_c2b() ...), so a connection pays only for what it uses. */
static int session_keys(struct bx_session *s, const struct mqe2e_session_keys *k)
{
	memcpy(s->key_c2b, k->c2b, MQE2E_KEY_LEN);
	memcpy(s->key_b2c, k->b2c, MQE2E_KEY_LEN);
	s->has_keys = true;
	s->tx_seq = mqe2e_seq_start();
	return MQE2E_OK;
}

int auth__ext_start(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_extended_auth *ed = event_data;
	struct mqe2e_session_keys keys;
	struct mqe2e_hs_bind bind;
	struct mqe2e_peer peer;
	struct bx_session *s = NULL;
	const char *cid = mosquitto_client_id(ed->client);
	uint8_t *reply = NULL;
	void *out = NULL;
	size_t reply_len = 0;
	char detail[2 * MQE2E_ID_MAX + 64];
	int r;

	(void)event;
	(void)userdata;
	memset(&keys, 0, sizeof(keys));
	memset(&peer, 0, sizeof(peer));
	if (ed->auth_method == NULL || strcmp(ed->auth_method, MQE2E_AUTH_METHOD) != 0) {
		stats__inc(BX_AUTH_BAD_METHOD);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "refused client '%s' from %s: "
		    "unknown authentication method '%s'", cid ? cid : "", peer_addr(ed->client),
		    ed->auth_method ? ed->auth_method : "");
		return MOSQ_ERR_NOT_SUPPORTED;
	}
	if (bx.policy == NULL) {
		/* Fail closed: without a verified policy we know no revocations. */
		stats__inc(BX_AUTH_NOT_READY);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "refused client '%s' from %s: "
		    "no verified policy from the KMS yet", cid ? cid : "", peer_addr(ed->client));
		return MOSQ_ERR_AUTH;
	}
	if (cid == NULL || ed->data_in == NULL || ed->data_in_len == 0) {
		r = MQE2E_ERR_TRUNCATED;
		goto refuse;
	}
	/* bound to this broker: by its id, and to this process by its start time */
	bind.not_before_ms = bx.start_ms;
	bind.require_broker_id = bx.cfg.require_broker_id;
	r = mqe2e_hs_server_accept(bx.self, bx.trust, bx.nonces, &bind, ed->data_in,
	    ed->data_in_len, cid, clock__now_us() / 1000u, &reply, &reply_len, &keys, &peer);
	if (r != MQE2E_OK)
		goto refuse;
	/* The CRL and the revoked-serial set live in bx.trust; the policy may
	 * also name the client itself as revoked (all its certificates). */
	if (policy__is_revoked_client(bx.policy, peer.id) ||
	    policy__is_revoked_serial(bx.policy, peer.serial)) {
		r = MQE2E_ERR_REVOKED;
		goto refuse;
	}
	if (reply_len > UINT16_MAX) {
		r = MQE2E_ERR_TOO_LONG;
		goto refuse;
	}
	if ((out = mosquitto_malloc(reply_len)) == NULL) {
		r = MQE2E_ERR_NOMEM;
		goto refuse;
	}
	memcpy(out, reply, reply_len);
	if ((r = session__add(ed->client, &s)) != MQE2E_OK)
		goto refuse;
	memcpy(s->id, peer.id, sizeof(s->id));
	memcpy(s->serial, peer.serial, sizeof(s->serial));
	session__index_id(s);
	session__remember_id(s->id);
	s->pairable = !mosquitto_client_clean_session(ed->client);
	if ((r = session_keys(s, &keys)) != MQE2E_OK) {
		session__remove(ed->client);
		goto refuse;
	}
	ed->data_out = out;
	ed->data_out_len = (uint16_t)reply_len;
	out = NULL;
	stats__inc(BX_AUTH_OK);
	stats__set_sessions(session__count());
	roster__mark_dirty();
	plugin__log(MOSQ_LOG_INFO, BX_LOG_PREFIX "client '%s' from %s authenticated "
	    "(certificate serial %s)", peer.id, peer_addr(ed->client), peer.serial);
	r = MQE2E_OK;
	goto out;
refuse:
	stats__inc(auth_stat(r));
	plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "refused client '%s' from %s: %s%s",
	    cid ? cid : "", peer_addr(ed->client), mqe2e_strerror(r),
	    refusal_detail(r, ed->data_in, ed->data_in != NULL ? ed->data_in_len : 0, detail,
	    sizeof(detail)));
out:
	mqe2e_wipe(&keys, sizeof(keys));
	if (reply != NULL)
		mqe2e_free_secret(reply, reply_len);
	if (out != NULL)
		mosquitto_free(out);
	return r == MQE2E_OK ? MOSQ_ERR_SUCCESS : MOSQ_ERR_AUTH;
}

/* 1 if a plain client may not use id: the policy names it (a grant or a
 * revocation), or it authenticated with mqe2e since the broker started
 * (connected now or not).  Without a policy nothing more can be told:
 * strict refuses every id then (allow_plain), otherwise only those seen
 * (plugin_opt_fleet: an existing fleet keeps working while the KMS is
 * away). */
int auth__id_reserved(const char *id, int strict)
{
	size_t gi;

	if (session__known_id(id) || session__find_id(id) != NULL)
		return 1;
	if (bx.policy == NULL)
		return strict;
	if (policy__is_revoked_client(bx.policy, id))
		return 1;
	for (gi = 0; gi < bx.policy->ngroups; gi++)
		if (policy__rights(bx.policy, id, gi) != 0)
			return 1;
	return 0;
}

int auth__basic(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *cid = mosquitto_client_id(ed->client);
	struct bx_session *s;

	(void)event;
	(void)userdata;
	/* A stale session at this address must not give a plain client keys. */
	session__remove(ed->client);
	if (bx.cfg.fleet != BX_FLEET_NONE)
		return fleet__basic(ed->client, bx.cfg.fleet);
	if (!bx.cfg.allow_plain) {
		stats__inc(BX_PLAIN_REFUSED);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "refused client '%s' from %s: "
		    "no mqe2e authentication (plugin_opt_allow_plain is false)",
		    cid ? cid : "", peer_addr(ed->client));
		return MOSQ_ERR_AUTH;
	}
	/* Refused before Mosquitto looks at the id: an accepted CONNECT would
	 * take over the connection of that id and, with clean_start 0, its
	 * persistent session and queued messages. */
	if (cid == NULL || auth__id_reserved(cid, 1)) {
		stats__inc(BX_PLAIN_IDENTITY);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "refused plain client '%s' from %s: %s",
		    cid ? cid : "", peer_addr(ed->client), bx.policy == NULL ?
		    "no verified policy from the KMS yet (cannot tell mqe2e ids apart)" :
		    "the client id belongs to an mqe2e client; plain clients must use ids that "
		    "no enrolled client has (plain_identity_refused)");
		return MOSQ_ERR_AUTH;
	}
	if (session__add(ed->client, &s) != MQE2E_OK)
		return MOSQ_ERR_AUTH;
	s->plain = true;
	if (cid != NULL && mqe2e_view_to_str((struct mqe2e_view){ (const uint8_t *)cid, strlen(cid) },
	    s->id, sizeof(s->id)) != MQE2E_OK)
		s->id[0] = '\0';
	stats__inc(BX_PLAIN_ACCEPTED);
	stats__set_sessions(session__count());
	plugin__log(MOSQ_LOG_INFO, BX_LOG_PREFIX "plain client '%s' from %s accepted "
	    "(read-only, plugin_opt_allow_plain)", cid ? cid : "", peer_addr(ed->client));
	return MOSQ_ERR_SUCCESS;
}

int auth__disconnect(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_disconnect *ed = event_data;

	(void)event;
	(void)userdata;
	if (session__find(ed->client) != NULL) {
		session__remove(ed->client);
		roster__mark_dirty();
	}
	stats__set_sessions(session__count());
	return MOSQ_ERR_SUCCESS;
}
