/*
 * rekey.c - rekey notices from the broker (docs/PROTOCOL.md section 12).
 *
 * The library subscribes to mqe2e/v1/rekey/+ at every connect.  When the
 * KMS moves a group to a new epoch, the broker sends each connected member
 * a notice MAC'd under this link's SK_CB.b2c.  A notice carries no key: it
 * only makes the keys thread fetch keys soon (publishers leave an epoch a
 * revoked client could read; subscribers hold the new epoch before its
 * first message; everyone tops up the epochs issued ahead).  Keys from a
 * KMS answer given after the notice's epoch began mean no fetch.  Every
 * member of a group gets its notice at the same moment, so each waits a
 * random 0..rekey_jitter_ms before it fetches: a thousand subscribers
 * spread their requests over that time instead of reaching the KMS
 * together (a message naming an epoch not yet held still makes its fetch
 * at once: subscribe.c).
 */
#include "config.h"

#include <string.h>

#include "client_int.h"
#include "notice.h"

void
rekey__on_notice(struct mqe2e_client *c, const char *topic, const uint8_t *p, size_t len)
{
	struct mqe2e_rekey_notice n;
	uint64_t seq = 0;
	int r, covered = 0;

	pthread_mutex_lock(&c->mu);
	if (c->b2c_mac == NULL) {
		r = MQE2E_ERR_UNKNOWN_KEY;
	} else if ((r = mqe2e_rekey_notice_open(c->b2c_mac, c->broker_id, topic, p, len,
	    mqe2e_now_ms(), MQE2E_SKEW_MS_DEFAULT, &n, &seq)) == MQE2E_OK &&
	    seq <= c->notice_seq) {
		r = MQE2E_ERR_REPLAY;
	}
	if (r == MQE2E_OK) {
		c->notice_seq = seq;
		/* the KMS tops the epochs issued ahead up at every rotation: a
		 * notice of an epoch that began after the answer our keys came
		 * from means keys we lack, even if we hold that epoch itself;
		 * fetching them keeps all the group's future epochs at hand
		 * (and in the key cache) for an outage */
		covered = keys__find(&c->keys, n.group, strlen(n.group), MQE2E_GK_P,
		    n.epoch) != NULL && n.epoch <= keys__epoch_at(&c->keys, n.group,
		    strlen(n.group), c->keys_answer_ms);
		if (!covered) {
			/* the keys thread fetches then (or earlier, if it was due) */
			uint64_t at = client__mono_ms() + (c->cfg.rekey_jitter_ms > 0 ?
			    backoff__rand() % ((uint32_t)c->cfg.rekey_jitter_ms + 1) : 0);

			if (c->next_refresh_ms == 0 || at < c->next_refresh_ms)
				c->next_refresh_ms = at;
			session__changed(c);
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (r != MQE2E_OK)
		client__report(c, r, topic, NULL, NULL, 0, "dropped a rekey notice on topic "
		    "'%s': %s", topic, mqe2e_strerror(r));
}
