/*
 * notice.c - rekey notices (docs/PROTOCOL.md section 12).
 *
 * When a new policy snapshot moves a group to another epoch (a scheduled or
 * manual rotation, or the rekey after a revocation), every connected mqe2e
 * client that asked for notices (it subscribed to exactly
 * MQE2E_REKEY_FILTER, see acl.c) and holds a pub or sub grant on the group
 * gets one REKEY_NOTICE on mqe2e/v1/rekey/<group>, MAC'd under its own
 * SK_CB.b2c and delivered to it alone (mosquitto_broker_publish with its
 * client id).  The notice carries no key: the client fetches from the KMS,
 * which answers only what its grants allow.  Publishers learn in this way
 * to leave an epoch that a revoked client could read, without waiting for
 * their next periodic key refresh.
 *
 * Broker thread only.  Cost: one HMAC and one queued message per member
 * per rotation.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "notice.h"
#include "plugin.h"
#include "replay.h"

/* What one walk over the sessions sends. */
struct notice_walk {
	const struct bx_policy *p;
	const uint8_t *moved;            /* per group of p: 1 if its epoch moved */
};

/* The old epoch of group name, or 0 if old did not have it. */
static uint32_t old_epoch(const struct bx_policy *old, const char *name)
{
	size_t i;

	for (i = 0; old != NULL && i < old->ngroups; i++)
		if (strcmp(old->groups[i].name, name) == 0)
			return old->groups[i].epoch;
	return 0;
}

static void send_one(struct bx_session *s, const struct bx_policy *p, size_t gi)
{
	struct mqe2e_rekey_notice n;
	char topic[MQE2E_REKEY_TOPIC_MAX];
	size_t need, len = 0;
	uint8_t *buf;
	int r;

	memset(&n, 0, sizeof(n));
	if (strlen(p->groups[gi].name) >= sizeof(n.group))
		return;
	memcpy(n.group, p->groups[gi].name, strlen(p->groups[gi].name) + 1);
	n.epoch = p->groups[gi].epoch;
	n.policy_version = p->version;
	n.ts_ms = mqe2e_now_ms();
	if (mqe2e_rekey_topic(n.group, topic, sizeof(topic)) != MQE2E_OK ||
	    (need = mqe2e_rekey_notice_size(&n, bx.self->id)) == 0 ||
	    (buf = mosquitto_malloc(need)) == NULL)
		return;
	if (session__mac_b2c(s) == NULL) {
		mosquitto_free(buf);
		return;
	}
	if ((r = mqe2e_rekey_notice_seal(s->mac_b2c, bx.self->id, s->tx_seq++, &n, buf, need,
	    &len)) != MQE2E_OK) {
		mosquitto_free(buf);
		plugin__logf(MOSQ_LOG_WARNING, BX_LOG_PREFIX "cannot build the rekey notice of "
		    "group '%s' for '%s': %s", n.group, s->id, mqe2e_strerror(r));
		return;
	}
	/* Mosquitto owns buf from here, on success and failure alike. */
	if (mosquitto_broker_publish(s->id, topic, (int)len, buf, 1, false, NULL) !=
	    MOSQ_ERR_SUCCESS)
		return;
	stats__inc(BX_REKEY_NOTICES);
}

static void notify_session(struct bx_session *s, void *arg)
{
	struct notice_walk *w = arg;
	size_t gi;

	if (s->plain || !s->wants_rekey || !s->has_keys ||
	    policy__is_revoked_client(w->p, s->id) || policy__is_revoked_serial(w->p, s->serial))
		return;
	for (gi = 0; gi < w->p->ngroups; gi++) {
		if (w->moved[gi] && policy__rights(w->p, s->id, gi) != 0)
			send_one(s, w->p, gi);
	}
}

void notice__policy_changed(const struct bx_policy *old, const struct bx_policy *p)
{
	struct notice_walk w;
	uint8_t *moved;
	uint32_t e;
	size_t gi, n = 0;

	if (old == NULL || p == NULL || p->ngroups == 0 ||
	    (moved = calloc(p->ngroups, 1)) == NULL)
		return;
	for (gi = 0; gi < p->ngroups; gi++) {
		e = old_epoch(old, p->groups[gi].name);
		if (e != 0 && e != p->groups[gi].epoch) {
			moved[gi] = 1;
			n++;
			plugin__log(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "group '%s' moved from "
			    "epoch %u to %u (policy version %llu): sending rekey notices",
			    p->groups[gi].name, e, p->groups[gi].epoch,
			    (unsigned long long)p->version);
		}
	}
	if (n > 0) {
		w.p = p;
		w.moved = moved;
		session__foreach(notify_session, &w);
	}
	free(moved);
}
