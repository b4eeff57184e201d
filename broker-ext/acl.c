/*
 * acl.c - MOSQ_EVT_ACL_CHECK: who may publish and subscribe where.
 *
 * mqe2e clients (authenticated in CONNECT):
 *   subscribe  a filter that lies within the filter of a group on which the
 *              client holds a "sub" grant, or its own pairing inboxes
 *              mqe2e/v1/pair/req/<own id> and mqe2e/v1/pair/resp/<own id>,
 *              and the roster mqe2e/v1/roster/<group> of a group on which it
 *              holds any grant (roster.c), and exactly mqe2e/v1/rekey/+ to
 *              ask for rekey notices (notice.c; delivered to it alone);
 *   receive    group topics with a "sub" grant (re-checked on every delivery,
 *              so a withdrawn grant takes effect at once), and there only
 *              payloads the broker produced (group_payload_ok: no wills, no
 *              raw client frames, no staged QoS 2 message whose publisher
 *              lost its grant); its own inbox;
 *   publish    group topics with a "pub" grant, and only messages that pass
 *              the per-message checks of the group's scheme (message.c: the
 *              channel MAC/AEAD under SK_CB, the channel replay window, the
 *              envelope sender == the authenticated client); pairing
 *              requests/responses to mqe2e/v1/pair/{req,resp}/<peer id>
 *              only between a "pub" and a "sub" grant holder of the scheme
 *              1/2 group the message names (signed end to end; the broker
 *              routes them and checks only who pairs with whom), never
 *              retained; nothing at all from a connection that another one
 *              of the same id has taken over (its will).
 * Plain clients (only with plugin_opt_allow_plain): subscribe and receive
 * anything except $-topics, publish nothing.  They see exactly the bytes the
 * broker relays: ciphertext and MACs.
 *
 * Every publish is decided here, where the payload is seen first; an ACL
 * denial drops the message cleanly (QoS 1/2: PUBACK/PUBREC 0x87).  The
 * message callback only carries out the verdict (verdict.c).
 */
#include "config.h"

#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "notice.h"
#include "plugin.h"

/* Pairing inboxes (docs/PROTOCOL.md 2.4): requests to S go to
 * mqe2e/v1/pair/req/<S>, responses to P to mqe2e/v1/pair/resp/<P>. */
static const char *const pair_prefixes[] = {
	MQE2E_OWN_TOPIC_PREFIX "pair/req/", MQE2E_OWN_TOPIC_PREFIX "pair/resp/"
};

/* 1 if topic (or filter) may be one of mqe2e's own: a pairing inbox, a
 * roster or a rekey notice.  A group topic outside MQE2E_OWN_TOPIC_PREFIX
 * needs none of the tests for them (the read check runs for every
 * delivery; its first byte alone tells most). */
static int own_topic(const char *topic)
{
	return topic[0] == MQE2E_OWN_TOPIC_PREFIX[0] &&
	    strncmp(topic, MQE2E_OWN_TOPIC_PREFIX, sizeof(MQE2E_OWN_TOPIC_PREFIX) - 1) == 0;
}

/* The id named by a pairing topic or filter, or NULL; *n its length. */
static const char *pair_owner(const char *topic, size_t *n)
{
	size_t i, plen;

	for (i = 0; i < sizeof(pair_prefixes) / sizeof(pair_prefixes[0]); i++) {
		plen = strlen(pair_prefixes[i]);
		if (strncmp(topic, pair_prefixes[i], plen) == 0) {
			topic += plen;
			*n = strlen(topic);
			return mqe2e_id_valid((const uint8_t *)topic, *n) ? topic : NULL;
		}
	}
	return NULL;
}

/* 1 if topic (or filter) is exactly one of id's own pairing inboxes. */
static int own_inbox(const char *topic, const char *id)
{
	size_t n;
	const char *owner = pair_owner(topic, &n);

	return owner != NULL && n == strlen(id) && memcmp(owner, id, n) == 0;
}

/* 1 if topic is someone's pairing inbox (no wildcards: ids exclude them). */
static int pair_topic(const char *topic)
{
	size_t n;

	return pair_owner(topic, &n) != NULL && strpbrk(topic, "+#") == NULL;
}

/*
 * A pairing message (docs/PROTOCOL.md 2.4) from s into owner's inbox: only
 * between a publisher and a subscriber of the same scheme 1/2 group, the one
 * the message names.  Requests go from a "pub" grant holder to a "sub" grant
 * holder, responses back.  The message is decoded (never verified: its
 * signatures are for the peer) to learn the group and that it names s as
 * its sender and owner as its peer.  Anyone else is refused here, so a
 * client without a grant cannot fill a subscriber's nonce cache.
 */
static int pair_write_allowed(const struct bx_session *s, const char *topic,
    const void *payload, uint32_t payloadlen)
{
	struct mqe2e_hello h;
	struct mqe2e_reply rp;
	struct mqe2e_view sender, peer, group;
	struct bx_group *g;
	char name[MQE2E_ID_MAX + 1];
	const char *owner;
	size_t n, gi;
	unsigned mine, theirs;
	int req = strncmp(topic, pair_prefixes[0], strlen(pair_prefixes[0])) == 0;

	owner = pair_owner(topic, &n);
	if (req ? mqe2e_hello_decode(payload, payloadlen, MQE2E_MSG_PAIR_REQUEST, &h) != MQE2E_OK :
	    mqe2e_reply_decode(payload, payloadlen, MQE2E_MSG_PAIR_RESPONSE, &rp) != MQE2E_OK) {
		stats__inc(BX_MSG_MALFORMED);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': "
		    "not a pairing %s", s->id, topic, req ? "request" : "response");
		return MOSQ_ERR_ACL_DENIED;
	}
	sender = req ? h.client_id : rp.client_id;
	peer = req ? h.peer_id : rp.peer_id;
	group = req ? h.group : rp.group;
	if (!mqe2e_view_eq_str(sender, s->id) || peer.len != n || memcmp(peer.p, owner, n) != 0) {
		stats__inc(BX_MSG_SENDER_MISMATCH);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': "
		    "the pairing message names another sender or peer", s->id, topic);
		return MOSQ_ERR_ACL_DENIED;
	}
	if (mqe2e_view_to_str(group, name, sizeof(name)) != MQE2E_OK ||
	    (g = policy__find(bx.policy, name, &gi)) == NULL ||
	    (g->scheme != MQE2E_SCHEME_1 && g->scheme != MQE2E_SCHEME_2))
		goto deny;
	memcpy(name, owner, n);
	name[n] = '\0';
	mine = policy__rights(bx.policy, s->id, gi);
	theirs = policy__rights(bx.policy, name, gi);
	if (req ? (mine & BX_RIGHT_PUB) && (theirs & BX_RIGHT_SUB) :
	    (mine & BX_RIGHT_SUB) && (theirs & BX_RIGHT_PUB))
		return MOSQ_ERR_SUCCESS;
deny:
	stats__inc(BX_MSG_NO_GRANT);
	plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': pairing "
	    "only between a 'pub' and a 'sub' grant holder of the scheme 1/2 group it names",
	    s->id, topic);
	return MOSQ_ERR_ACL_DENIED;
}

/* s's rights (BX_RIGHT_*) on group gi under the policy in force: looked up
 * once per session, group and policy, then kept in s (the read check runs
 * for every delivery). */
static unsigned session_rights(struct bx_session *s, size_t gi)
{
	if (s->rights_gen != bx.policy_gen || s->rights_gi != gi) {
		s->rights = (uint8_t)policy__rights(bx.policy, s->id, gi);
		s->rights_gi = gi;
		s->rights_gen = bx.policy_gen;
	}
	return s->rights;
}

/* Roster of a scheme 1/2 group: readable with any grant on the group. */
static int roster_allowed(const struct bx_session *s, const char *topic)
{
	const char *name = roster__group(topic);
	size_t gi;

	return name != NULL && policy__find(bx.policy, name, &gi) != NULL &&
	    policy__rights(bx.policy, s->id, gi) != 0;
}

/* 1 if topic (or filter) lies under the reserved rekey notice prefix. */
static int rekey_topic(const char *topic)
{
	return strncmp(topic, MQE2E_REKEY_TOPIC_PREFIX, sizeof(MQE2E_REKEY_TOPIC_PREFIX) - 1) == 0;
}

static int check_subscribe(struct bx_session *s, const char *filter)
{
	size_t gi, n;

	if (own_inbox(filter, s->id)) {
		/* subscribed to its request inbox now: a publisher that finds
		 * it on a roster can reach it (roster.c) */
		if (!s->pairable && strncmp(filter, pair_prefixes[0], strlen(pair_prefixes[0])) == 0) {
			s->pairable = true;
			roster__mark_dirty();
		}
		return MOSQ_ERR_SUCCESS;
	}
	if (roster_allowed(s, filter))
		return MOSQ_ERR_SUCCESS;
	if (strcmp(filter, MQE2E_REKEY_FILTER) == 0) {
		s->wants_rekey = true;
		return MOSQ_ERR_SUCCESS;
	}
	if (rekey_topic(filter))
		goto deny;
	/* Someone else's inbox or a roster without a grant: never, even if a
	 * group filter covers it (wider filters are narrowed by the read check). */
	if (pair_owner(filter, &n) != NULL || roster__group(filter) != NULL)
		goto deny;
	if (bx.policy != NULL) {
		for (gi = 0; gi < bx.policy->ngroups; gi++) {
			if ((policy__rights(bx.policy, s->id, gi) & BX_RIGHT_SUB) &&
			    mqe2e_topic_filter_within(filter, bx.policy->groups[gi].filter))
				return MOSQ_ERR_SUCCESS;
		}
	}
deny:
	stats__inc(BX_SUB_DENIED);
	plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "denied subscription of '%s' to '%s': "
	    "no sub grant on a group covering it", s->id, filter);
	return MOSQ_ERR_ACL_DENIED;
}

/*
 * On a group topic a reader gets only what the broker itself produced
 * (issue 9.12): schemes 3/4 the broker's GK_B frame of this group (sender =
 * the broker's id), and - if it was a QoS 2 message staged before PUBREL -
 * only while its publisher still may publish (staged.c); schemes 1/2 only
 * the reader's own part (scheme 1: the pairwise envelope for the reader;
 * scheme 2: a session frame from the broker).  Anything else - a will
 * released at a session takeover, a raw client frame, a whole bundle, the
 * emptied original of a routed bundle - is refused.  Parsing only; the
 * reader verifies the MACs.  The per-recipient parts themselves are handed
 * to Mosquitto with mosquitto_broker_publish and pass here only when they
 * were queued for a persistent session that reconnects.
 */
/*
 * The answer for the last scheme 3/4 frame judged (group_frame_ok): one
 * message is checked once per reader, N times in a row with the same bytes.
 * The answer depends on the frame's header (which ends with the body's
 * length) and its length, the group, the policy and the staged records:
 * a frame with the same header and length under the same policy and staged
 * state gets the same answer, so only the header is compared again.
 */
#define MEMO_HEADER_MAX 600     /* > the longest frame header (two 255-byte ids) */

enum { MEMO_OK = 1, MEMO_BAD, MEMO_STAGED_DENIED };

static struct {
	int answer;                     /* MEMO_*, 0: nothing memoised */
	uint64_t policy_gen, staged_gen;
	size_t gi;
	uint32_t len;
	size_t header_len;
	uint64_t seq;
	uint8_t header[MEMO_HEADER_MAX];
} memo;

static int group_frame_answer(const struct bx_group *g, size_t gi, const void *payload,
    uint32_t len)
{
	struct mqe2e_frame f;
	int answer;

	if (memo.answer != 0 && memo.len == len && memo.gi == gi &&
	    memo.policy_gen == bx.policy_gen && memo.staged_gen == staged__gen() &&
	    memcmp(memo.header, payload, memo.header_len) == 0)
		return memo.answer;
	memo.answer = 0;
	if (mqe2e_frame_decode(payload, len, &f) != MQE2E_OK)
		return MEMO_BAD;        /* no header to key a memo by */
	if (f.type != (g->scheme == MQE2E_SCHEME_4 ? MQE2E_MSG_FRAME_MAC : MQE2E_MSG_FRAME_AEAD) ||
	    f.key_kind != MQE2E_KEY_GROUP || !mqe2e_view_eq_str(f.key_name, g->name) ||
	    !mqe2e_view_eq_str(f.sender, bx.self->id))
		answer = MEMO_BAD;
	else if (staged__check(f.key_name.p, f.key_name.len, f.seq, gi) != 0)
		answer = MEMO_STAGED_DENIED;
	else
		answer = MEMO_OK;
	if (f.header.len <= sizeof(memo.header)) {
		memcpy(memo.header, payload, f.header.len);
		memo.header_len = f.header.len;
		memo.len = len;
		memo.gi = gi;
		memo.seq = f.seq;
		memo.policy_gen = bx.policy_gen;
		memo.staged_gen = staged__gen();    /* after the check: it may refuse */
		memo.answer = answer;
	}
	return answer;
}

static int group_frame_ok(const struct bx_group *g, size_t gi, const char *reader,
    const void *payload, uint32_t len)
{
	switch (group_frame_answer(g, gi, payload, len)) {
	case MEMO_OK:
		return 1;
	case MEMO_STAGED_DENIED:
		stats__inc(BX_MSG_STAGED_DENIED);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "QoS 2 message %llu of group '%s' "
		    "not delivered to '%s': staged before PUBREL and its publisher may no longer "
		    "publish (drop_staged_denied)", (unsigned long long)memo.seq, g->name,
		    reader ? reader : "?");
		return 0;
	default:
		return 0;
	}
}

static int group_payload_ok(const struct bx_group *g, size_t gi, const char *reader,
    const void *payload, uint32_t len)
{
	struct mqe2e_frame f;
	struct mqe2e_envelope env;
	char pid[MQE2E_KEYNAME_MAX + 1];

	if (payload == NULL || len == 0)
		return 0;
	switch (g->scheme) {
	case MQE2E_SCHEME_3:
	case MQE2E_SCHEME_4:
		return group_frame_ok(g, gi, reader, payload, len);
	case MQE2E_SCHEME_2:
		return mqe2e_frame_decode(payload, len, &f) == MQE2E_OK &&
		    f.type == MQE2E_MSG_FRAME_AEAD && f.key_kind == MQE2E_KEY_SESSION &&
		    mqe2e_view_eq_str(f.sender, bx.self->id);
	case MQE2E_SCHEME_1:
		if (reader == NULL || mqe2e_envelope_decode(payload, len, &env) != MQE2E_OK ||
		    env.key_kind != MQE2E_KEY_PAIR)
			return 0;
		{
			char sender[MQE2E_ID_MAX + 1];

			return mqe2e_view_to_str(env.sender, sender, sizeof(sender)) == MQE2E_OK &&
			    mqe2e_pair_id(sender, reader, g->name, pid, sizeof(pid)) == MQE2E_OK &&
			    mqe2e_view_eq_str(env.key_name, pid);
		}
	default:
		return 0;
	}
}

static int check_read(struct bx_session *s, const char *topic, const void *payload,
    uint32_t payloadlen)
{
	struct bx_group *g;
	size_t gi, n;

	/* Control topics first, whatever group filter may also cover them:
	 * pairing inboxes only to their owner, rosters only with a grant. */
	if (own_topic(topic)) {
		if (pair_owner(topic, &n) != NULL) {
			if (s->plain || own_inbox(topic, s->id))
				return MOSQ_ERR_SUCCESS;
			stats__inc(BX_READ_DENIED);
			return MOSQ_ERR_ACL_DENIED;
		}
		if (rekey_topic(topic)) {
			/* Only the broker's own per-client notices go there. */
			if (!s->plain && s->wants_rekey)
				return MOSQ_ERR_SUCCESS;
			stats__inc(BX_READ_DENIED);
			return MOSQ_ERR_ACL_DENIED;
		}
		if (roster__group(topic) != NULL) {
			if (s->plain || roster_allowed(s, topic))
				return MOSQ_ERR_SUCCESS;
			stats__inc(BX_READ_DENIED);
			return MOSQ_ERR_ACL_DENIED;
		}
	}
	g = plugin__group_of(topic, &gi);
	if (g != NULL && !group_payload_ok(g, gi, s->plain ? NULL : s->id, payload, payloadlen)) {
		if (payloadlen != 0)   /* the emptied original of a routed bundle is no news */
			stats__inc(BX_READ_DENIED);
		return MOSQ_ERR_ACL_DENIED;
	}
	if (s->plain)
		return MOSQ_ERR_SUCCESS;
	if (g != NULL && (session_rights(s, gi) & BX_RIGHT_SUB))
		return MOSQ_ERR_SUCCESS;
	stats__inc(BX_READ_DENIED);
	return MOSQ_ERR_ACL_DENIED;
}

static int check_write(struct bx_session *s, const struct mosquitto_evt_acl_check *ed)
{
	struct bx_group *g;
	size_t gi;

	if (s->plain) {
		stats__inc(BX_PLAIN_PUBLISH_DENIED);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from plain client '%s' "
		    "to '%s': plain clients are read-only", s->id, ed->topic);
		return MOSQ_ERR_ACL_DENIED;
	}
	/* A connection that another one with the same id has taken over is
	 * being closed: Mosquitto 2.0.11 sends its will now, through this check
	 * and without MOSQ_EVT_MESSAGE, so it would bypass the broker's
	 * re-framing.  (Wills of connections that simply end arrive after their
	 * DISCONNECT event, without a session: refused below in acl__check.) */
	if (session__find_id(s->id) != s) {
		stats__inc(BX_MSG_WILL);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped will of '%s' to '%s': wills are "
		    "not relayed (only what the broker frames reaches group topics; drop_will)",
		    s->id, ed->topic);
		return MOSQ_ERR_ACL_DENIED;
	}
	if (pair_topic(ed->topic)) {
		/* A retained pairing message would be planted in the inbox for
		 * whoever subscribes next. */
		if (ed->retain) {
			stats__inc(BX_MSG_RETAIN_DENIED);
			plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': "
			    "pairing messages may not be retained (drop_retain)", s->id, ed->topic);
			return MOSQ_ERR_ACL_DENIED;
		}
		return pair_write_allowed(s, ed->topic, ed->payload, ed->payloadlen);
	}
	if (rekey_topic(ed->topic)) {
		stats__inc(BX_MSG_NO_GRANT);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': "
		    "only the broker writes rekey notices", s->id, ed->topic);
		return MOSQ_ERR_ACL_DENIED;
	}
	if (roster__group(ed->topic) != NULL) {
		stats__inc(BX_MSG_NO_GRANT);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': "
		    "only the broker writes rosters", s->id, ed->topic);
		return MOSQ_ERR_ACL_DENIED;
	}
	if ((g = plugin__group_of(ed->topic, &gi)) == NULL) {
		stats__inc(BX_MSG_UNKNOWN_GROUP);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': "
		    "no topic group covers it", s->id, ed->topic);
		return MOSQ_ERR_ACL_DENIED;
	}
	if (!(session_rights(s, gi) & BX_RIGHT_PUB)) {
		stats__inc(BX_MSG_NO_GRANT);
		plugin__logf(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "dropped publish from '%s' to '%s': "
		    "no pub grant on group '%s'", s->id, ed->topic, g->name);
		return MOSQ_ERR_ACL_DENIED;
	}
	if (message__verify(s, g, gi, ed->topic, ed->payload, ed->payloadlen) != MQE2E_OK)
		return MOSQ_ERR_ACL_DENIED;
	return MOSQ_ERR_SUCCESS;
}

/*
 * Delivery to a client that is not connected: Mosquitto checks READ when it
 * queues a message for an offline persistent session.  Such a client has no
 * session here, but it was authenticated as its certificate's CN when it
 * connected (the client id is the CN), so its grants under the current
 * policy decide: group topics with a "sub" grant, unless it is revoked.
 * Control topics (pairing, rosters, notices) are live only.
 */
static int check_read_offline(const struct mosquitto_evt_acl_check *ed)
{
	const char *id = mosquitto_client_id(ed->client);
	struct bx_group *g;
	size_t gi, n;

	if (id == NULL || bx.policy == NULL || pair_owner(ed->topic, &n) != NULL ||
	    roster__group(ed->topic) != NULL || rekey_topic(ed->topic) ||
	    policy__is_revoked_client(bx.policy, id))
		return MOSQ_ERR_ACL_DENIED;
	if ((g = plugin__group_of(ed->topic, &gi)) == NULL ||
	    g->scheme == MQE2E_SCHEME_1 || g->scheme == MQE2E_SCHEME_2 ||
	    !(policy__rights(bx.policy, id, gi) & BX_RIGHT_SUB) ||
	    !group_payload_ok(g, gi, id, ed->payload, ed->payloadlen))
		return MOSQ_ERR_ACL_DENIED;
	return MOSQ_ERR_SUCCESS;
}

int acl__check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	struct bx_session *s;

	(void)event;
	(void)userdata;
	s = session__find(ed->client);
	/* Clients of an existing fleet (plugin_opt_fleet), connected or queued
	 * for while offline: their own rules, mqe2e's topics kept from them. */
	if (bx.cfg.fleet != BX_FLEET_NONE && ed->topic != NULL &&
	    (s != NULL ? s->fleet : (mosquitto_client_id(ed->client) != NULL &&
	    !auth__id_reserved(mosquitto_client_id(ed->client), 0))))
		return fleet__acl(ed, bx.cfg.fleet);
	if (ed->access == MOSQ_ACL_UNSUBSCRIBE)
		return MOSQ_ERR_SUCCESS;
	if (ed->topic == NULL || ed->topic[0] == '$')
		return MOSQ_ERR_ACL_DENIED;   /* no $SYS, no $share for anyone */
	if (s == NULL)
		return ed->access == MOSQ_ACL_READ ? check_read_offline(ed) : MOSQ_ERR_ACL_DENIED;
	switch (ed->access) {
	case MOSQ_ACL_SUBSCRIBE:
		if (s->plain)
			return MOSQ_ERR_SUCCESS;
		return check_subscribe(s, ed->topic);
	case MOSQ_ACL_READ:
		if (ed->retain)
			retained__seen(ed->topic, ed->payloadlen);   /* also those loaded at start */
		return check_read(s, ed->topic, ed->payload, ed->payloadlen);
	case MOSQ_ACL_WRITE:
		return check_write(s, ed);
	default:
		return MOSQ_ERR_ACL_DENIED;
	}
}
