/*
 * publish.c - sealing and sending one message.
 *
 *   scheme 4: envelope AEAD(GK_P), then a MAC frame under SK_CB c2b
 *   scheme 3: envelope AEAD(GK_P), then an AEAD frame under SK_CB c2b
 *   scheme 2: one envelope AEAD(K_E2E(P,S)) per recipient S in a BUNDLE,
 *             then an AEAD frame under SK_CB c2b
 *   scheme 1: the same BUNDLE, without a frame
 *
 * The envelope is sealed once; the frame is rebuilt for each attempt, since
 * a reconnect brings new session keys.  A retried message carries the same
 * envelope, so receivers drop the duplicate by its sequence number.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define KEYS_MISS_REFETCH_MS 1000

/* The group of topic and its scheme (mu held): the group whose filter
 * matches the topic, among those of the KMS's table.  The configured
 * "group" (mqe2e-pub --group) only asserts which one it must be. */
static int
pick_group(struct mqe2e_client *c, const char *topic, char *group, size_t group_len,
    uint8_t *scheme)
{
	const struct mqe2e_group_info *g = keys__topic_group(&c->keys, topic), *want = NULL;
	char held[CLIENT_ERRMSG_MAX / 2];

	keys__describe(&c->keys, held, sizeof(held));
	if (c->cfg.group != NULL) {
		if ((want = keys__group(&c->keys, c->cfg.group)) == NULL)
			return client__fail_locked(c, MQE2E_ERR_NOT_FOUND, "group '%s' (--group) "
			    "does not exist or client '%s' has no grant on it; its groups: %s",
			    c->cfg.group, c->id, held);
		if (g != want)
			return client__fail_locked(c, MQE2E_ERR_INVALID_ARG, "topic '%s' is not in "
			    "group '%s' (--group, filter '%s')%s%s%s", topic, want->name,
			    want->filter, g != NULL ? ": it belongs to group '" : "",
			    g != NULL ? g->name : "", g != NULL ? "'" : "");
	}
	if (g == NULL && c->keys.ngroups == 0)
		return client__fail_locked(c, MQE2E_ERR_UNKNOWN_KEY, "client '%s' holds no grant "
		    "on any topic group, so it cannot publish on '%s': grant it 'pub' on the "
		    "group of that topic in the KMS", c->id, topic);
	if (g == NULL)
		return client__fail_locked(c, MQE2E_ERR_UNKNOWN_KEY, "no topic group of client "
		    "'%s' covers topic '%s' (nothing was sent); its groups: %s", c->id, topic,
		    held);
	if (!(g->rights & MQE2E_RIGHT_PUB))
		return client__fail_locked(c, MQE2E_ERR_DENIED, "client '%s' may not publish on "
		    "'%s': it has no 'pub' grant on group '%s' (filter '%s'); grant it with "
		    "'mqe2e-kmsctl grant add %s %s pub'", c->id, topic, g->name, g->filter, c->id,
		    g->name);
	*scheme = g->scheme;
	client__fmt(group, group_len, "%s", g->name);
	return MQE2E_OK;
}

/* The recipients of a scheme 1/2 message. */
struct rcpt {
	char **ids;
	size_t n;
};

/* Schemes 1/2: one envelope per paired recipient, in a BUNDLE (mu held).
 * *out is malloc'd. */
static int
seal_pairwise(struct mqe2e_client *c, const char *topic, const char *group, uint8_t scheme,
    const struct rcpt *to, uint8_t flags, const void *payload, size_t len, uint8_t **out,
    size_t *out_len)
{
	struct mqe2e_envelope_params ep;
	struct mqe2e_bundle_part *parts = NULL;
	struct pairkey *k;
	size_t n = 0, i, cap, plen;
	uint8_t *buf = NULL;
	uint64_t seq = client__next_seq(c);
	int r = MQE2E_ERR_NOMEM;

	*out = NULL;
	if (to->n == 0)
		return client__fail_locked(c, MQE2E_ERR_NOT_FOUND, "group '%s' of topic '%s' uses "
		    "scheme %u (pairwise keys) and %s: nothing was sent", group, topic, scheme,
		    c->nrecipients > 0 ? "the \"recipients\" option names no one but this client" :
		    "no subscriber of it is connected (the broker's roster is empty)");
	if ((parts = calloc(to->n, sizeof(*parts))) == NULL)
		goto fail;
	for (i = 0; i < to->n; i++) {
		if ((k = pair__find(c, MQE2E_PAIR_ROLE_PUB, to->ids[i], strlen(to->ids[i]),
		    group)) == NULL)
			continue;
		memset(&ep, 0, sizeof(ep));
		ep.scheme = scheme;
		ep.key_kind = MQE2E_KEY_PAIR;
		ep.key_name = k->pair_id;
		ep.epoch = k->generation;
		ep.sender = c->id;
		ep.seq = seq;
		ep.flags = flags;
		if ((cap = mqe2e_envelope_size(&ep, len)) == 0 || (buf = malloc(cap)) == NULL)
			goto fail;
		if ((r = mqe2e_envelope_seal(k->aead, &ep, topic, strlen(topic), payload, len,
		    buf, cap, &plen)) != MQE2E_OK) {
			free(buf);
			goto fail;
		}
		parts[n].recipient = k->peer;
		parts[n].part = buf;
		parts[n].len = plen;
		n++;
	}
	if (n == 0) {
		r = client__fail_locked(c, MQE2E_ERR_UNKNOWN_KEY, "no subscriber of group '%s' is "
		    "paired with client '%s': cannot publish on '%s'", group, c->id, topic);
		goto out;
	}
	r = MQE2E_ERR_NOMEM;
	if ((cap = mqe2e_bundle_size(parts, n)) == 0 || (buf = malloc(cap)) == NULL)
		goto fail;
	if ((r = mqe2e_bundle_build(parts, n, buf, cap, out_len)) != MQE2E_OK) {
		free(buf);
		goto fail;
	}
	*out = buf;
	r = MQE2E_OK;
	goto out;
fail:
	r = client__fail_locked(c, r, "cannot seal the message for topic '%s' (group '%s'): %s",
	    topic, group, mqe2e_strerror(r));
out:
	for (i = 0; i < n; i++)
		free((void *)parts[i].part);
	free(parts);
	return r;
}

/* Schemes 3/4: seal the envelope for topic (mu held).  *env is malloc'd. */
static int
seal_group(struct mqe2e_client *c, const char *topic, const char *g, uint8_t flags,
    const void *payload, size_t len, uint8_t **env, size_t *env_len)
{
	struct mqe2e_envelope_params ep;
	struct keyslot *k;
	size_t cap;
	uint8_t *buf = NULL;
	int r;

	*env = NULL;
	if ((k = keys__current(&c->keys, g, mqe2e_now_ms())) == NULL) {
		char kms[CLIENT_ERRMSG_MAX];
		uint32_t e = keys__newest_epoch(&c->keys, g, strlen(g));

		/* keys held but none valid now: a KMS outage past the grace
		 * period (no newer epoch came), or clocks that disagree */
		if (e > 0 && keys__kms_failing(c, kms, sizeof(kms)))
			return client__fail_locked(c, MQE2E_ERR_EXPIRED_KEY, "client '%s' holds "
			    "no valid publish key of group '%s' for topic '%s': its keys, up to "
			    "epoch %u, have run out and %s; bring the KMS back (a group's keys "
			    "outlast a KMS outage by about its future_epochs + 1 rotation periods "
			    "plus its grace period)", c->id, g, topic, e, kms);
		/* none at all, the KMS failing: the key cache had only epochs that
		 * had ended (they are dropped), so it is the outage, not a grant */
		if (keys__kms_failing(c, kms, sizeof(kms)))
			return client__fail_locked(c, MQE2E_ERR_EXPIRED_KEY, "client '%s' holds "
			    "no valid publish key of group '%s' for topic '%s': the keys it "
			    "held have ended and %s; bring the KMS back", c->id, g, topic, kms);
		if (e > 0)
			return client__fail_locked(c, MQE2E_ERR_EXPIRED_KEY, "client '%s' holds "
			    "no valid publish key of group '%s' for topic '%s': none of its keys, "
			    "up to epoch %u, is valid now although the KMS answers: check the "
			    "clocks of this host and of the KMS", c->id, g, topic, e);
		return client__fail_locked(c, MQE2E_ERR_UNKNOWN_KEY, "client '%s' holds no "
		    "publish key of group '%s' for topic '%s': grant it 'pub' on '%s' in "
		    "the KMS", c->id, g, topic, g);
	}
	memset(&ep, 0, sizeof(ep));
	ep.scheme = k->scheme;
	ep.key_kind = MQE2E_KEY_GROUP;
	ep.key_name = k->group;
	ep.epoch = k->epoch;
	ep.sender = c->id;
	ep.seq = client__next_seq(c);
	ep.flags = flags;
	cap = mqe2e_envelope_size(&ep, len);
	if (cap == 0 || (buf = malloc(cap)) == NULL)
		return client__fail_locked(c, MQE2E_ERR_NOMEM, "out of memory sealing a message "
		    "of %zu bytes for topic '%s'", len, topic);
	if ((r = mqe2e_envelope_seal(k->aead, &ep, topic, strlen(topic), payload, len, buf,
	    cap, env_len)) != MQE2E_OK) {
		free(buf);
		return client__fail_locked(c, r, "cannot seal the message for topic '%s' (group "
		    "'%s', epoch %u): %s", topic, k->group, k->epoch, mqe2e_strerror(r));
	}
	*env = buf;
	return MQE2E_OK;
}

/* Seal payload as the group's scheme wants (mu held).  A retained message
 * says so inside the envelope: subscribers read it later than live traffic
 * (docs/PROTOCOL.md 8). */
static int
seal(struct mqe2e_client *c, const char *topic, const char *group, uint8_t scheme,
    const struct rcpt *to, int retain, const void *payload, size_t len, uint8_t **body,
    size_t *body_len)
{
	uint8_t flags = retain ? MQE2E_ENV_RETAINED : 0;

	if (scheme == MQE2E_SCHEME_3 || scheme == MQE2E_SCHEME_4)
		return seal_group(c, topic, group, flags, payload, len, body, body_len);
	if (scheme == MQE2E_SCHEME_1 || scheme == MQE2E_SCHEME_2)
		return seal_pairwise(c, topic, group, scheme, to, flags, payload, len, body,
		    body_len);
	return client__fail_locked(c, MQE2E_ERR_BAD_FORMAT, "group '%s' has an unknown scheme %u",
	    group, scheme);
}

/* The channel frame around env under this link's session key (mu held). */
static int
frame(struct mqe2e_client *c, uint8_t scheme, const char *topic, const uint8_t *env,
    size_t env_len, uint8_t **out, size_t *out_len)
{
	struct mqe2e_frame_params fp;
	size_t cap;
	uint8_t *buf;
	int r;

	*out = NULL;
	if (scheme == MQE2E_SCHEME_1) {
		/* no channel crypto: the bundle goes as it is */
		if ((buf = malloc(env_len)) == NULL)
			return MQE2E_ERR_NOMEM;
		memcpy(buf, env, env_len);
		*out = buf;
		*out_len = env_len;
		return MQE2E_OK;
	}
	memset(&fp, 0, sizeof(fp));
	fp.key_kind = MQE2E_KEY_SESSION;
	fp.key_name = "";
	fp.epoch = 0;
	fp.sender = c->id;
	fp.seq = client__next_seq(c);
	cap = scheme == MQE2E_SCHEME_4 ? mqe2e_frame_mac_size(&fp, env_len) :
	    mqe2e_frame_aead_size(&fp, env_len);
	if (cap == 0 || (buf = malloc(cap)) == NULL)
		return MQE2E_ERR_NOMEM;
	if (scheme == MQE2E_SCHEME_4)
		r = mqe2e_frame_mac_build(c->c2b_mac, &fp, topic, strlen(topic), env, env_len,
		    buf, cap, out_len);
	else
		r = mqe2e_frame_aead_build(c->c2b_aead, &fp, topic, strlen(topic), env,
		    env_len, buf, cap, out_len);
	if (r != MQE2E_OK) {
		free(buf);
		return r;
	}
	*out = buf;
	return MQE2E_OK;
}

/*
 * The broker refused a message we sealed (reason why, PUBACK/PUBREC >= 0x80):
 * say why in c->errmsg.  Mosquitto 2.0 gives no reason string, and the
 * plugin refuses both a client without a 'pub' grant and any message while
 * it holds no valid key for the group's current epoch - which is what a KMS
 * outage longer than rotation plus grace brings.  So ask the KMS (not from a
 * callback, not twice a second): failing fetches name the outage, an answer
 * that still grants us the group points at the broker's side.
 */
static void
explain_refusal(struct mqe2e_client *c, const char *topic, const char *group, const char *why)
{
	char kms[CLIENT_ERRMSG_MAX];
	int probe, granted;

	pthread_mutex_lock(&c->mu);
	probe = !client__on_paho_thread() &&
	    client__mono_ms() - c->keys_fetched_ms >= KEYS_MISS_REFETCH_MS;
	pthread_mutex_unlock(&c->mu);
	if (probe)
		(void)keys__fetch(c, NULL, 0);
	pthread_mutex_lock(&c->mu);
	granted = keys__current(&c->keys, group, mqe2e_now_ms()) != NULL;
	if (keys__kms_failing(c, kms, sizeof(kms)))
		client__fmt(c->errmsg, sizeof(c->errmsg), "the broker refused the message on "
		    "topic '%s' (group '%s'): %s; %s: the broker refuses every message of a "
		    "group once the KMS has missed a due rotation by more than the group's "
		    "rotation period plus its grace period (its keys, even the pre-issued "
		    "next epoch's, have ended) - bring the KMS back", topic, group, why, kms);
	else if (granted)
		client__fmt(c->errmsg, sizeof(c->errmsg), "the broker refused the message on "
		    "topic '%s' (group '%s'): %s; the KMS answers and grants client '%s' "
		    "'pub' on '%s', so the broker lacks the grant or the group's current key: "
		    "see the broker's log (mqe2e plugin counters drop_no_grant, drop_no_key)",
		    topic, group, why, c->id, group);
	else
		client__fmt(c->errmsg, sizeof(c->errmsg), "the broker refused the message on "
		    "topic '%s' (group '%s'): %s; client '%s' holds no valid 'pub' key of "
		    "'%s' any more: check its grants in the KMS", topic, group, why, c->id,
		    group);
	pthread_mutex_unlock(&c->mu);
}

int
mqe2e_publish(struct mqe2e_client *c, const char *topic, const void *payload, size_t len,
    int qos, int retain, int timeout_ms)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message m = MQTTAsync_message_initializer;
	char group[MQE2E_ID_MAX + 1] = "";
	struct rcpt to = { NULL, 0 };
	struct timespec deadline;
	struct waiter *w;
	uint8_t *env = NULL, *fr = NULL;
	size_t env_len = 0, fr_len = 0;
	uint8_t scheme = 0;
	uint64_t gen;
	char why[128], refusal[CLIENT_ERRMSG_MAX] = "";
	int r, prc, refetched = 0, fresh, nowait;

	if (c == NULL || topic == NULL || (payload == NULL && len > 0))
		return MQE2E_ERR_INVALID_ARG;
	client__paho_openssl_note();    /* sealing draws random nonces */
	if (!mqe2e_topic_name_check(topic, MQE2E_TOPIC_MAX, why, sizeof(why)))
		return client__fail(c, MQE2E_ERR_INVALID_ARG, "cannot publish on '%s': %s",
		    topic, why);
	if (qos < 0 || qos > 2)
		return client__fail(c, MQE2E_ERR_INVALID_ARG, "QoS %d: use 0, 1 or 2", qos);
	if (len > MQE2E_PAYLOAD_MAX - 1024)
		return client__fail(c, MQE2E_ERR_TOO_LONG, "a message of %zu bytes for topic "
		    "'%s' does not fit in MQTT once sealed", len, topic);
	client__deadline(&deadline, timeout_ms);

	for (;;) {
		pthread_mutex_lock(&c->mu);
		r = pick_group(c, topic, group, sizeof(group), &scheme);
		pthread_mutex_unlock(&c->mu);
		if (r == MQE2E_OK && (scheme == MQE2E_SCHEME_1 || scheme == MQE2E_SCHEME_2)) {
			/* whom to seal for: --to, or the broker's roster of the group */
			roster__free_list(to.ids, to.n);
			to.ids = NULL;
			to.n = 0;
			if ((r = roster__recipients(c, group, &deadline, &to.ids, &to.n)) != MQE2E_OK)
				r = client__fail(c, r, "out of memory");
		}
		if (r == MQE2E_OK && to.n > 0 &&
		    pair__ensure(c, group, to.ids, to.n, &deadline) != MQE2E_OK) {
			char msg[CLIENT_ERRMSG_MAX];

			/* go on with the recipients that are paired */
			client__report(c, MQE2E_ERR_TIMEOUT, topic, NULL, group, 0, "%s",
			    mqe2e_client_errmsg(c, msg, sizeof(msg)));
		}
		if (r == MQE2E_OK) {
			pthread_mutex_lock(&c->mu);
			r = seal(c, topic, group, scheme, &to, retain, payload, len, &env, &env_len);
			pthread_mutex_unlock(&c->mu);
		}
		if ((r != MQE2E_ERR_UNKNOWN_KEY && r != MQE2E_ERR_EXPIRED_KEY &&
		    r != MQE2E_ERR_DENIED && r != MQE2E_ERR_NOT_FOUND) || refetched)
			break;
		/* maybe a new grant or a rotation: ask the KMS once, unless the
		 * keys are less than a second old (a typo must not hammer it);
		 * in a callback, have the keys thread ask: paho's thread never waits
		 * for the KMS */
		refetched = 1;
		pthread_mutex_lock(&c->mu);
		fresh = client__mono_ms() - c->keys_fetched_ms < KEYS_MISS_REFETCH_MS;
		if (!fresh && client__on_paho_thread()) {
			c->next_refresh_ms = client__mono_ms();
			session__changed(c);
			fresh = 1;
		}
		pthread_mutex_unlock(&c->mu);
		if (fresh)
			break;
		/* once more either way: with new keys, or to word the refusal
		 * with what the failed fetch said about the KMS */
		(void)keys__fetch(c, NULL, 0);
	}
	roster__free_list(to.ids, to.n);
	if (r != MQE2E_OK)
		return r;

	/* pairing (schemes 1/2) had its own timeout: sending gets a full one */
	client__deadline(&deadline, timeout_ms);
	nowait = client__on_paho_thread();
	for (;;) {
		pthread_mutex_lock(&c->mu);
		if (nowait && c->link.state != LINK_UP)
			r = MQE2E_ERR_UNAVAILABLE;   /* a callback cannot wait for it */
		else
			r = session__wait_up(c, &deadline);
		if (r != MQE2E_OK) {
			pthread_mutex_unlock(&c->mu);
			client__fail(c, r, "cannot publish on '%s': no verified connection to "
			    "the broker at %s%s", topic, c->cfg.broker,
			    r == MQE2E_ERR_TIMEOUT ? " within the timeout" : " (not connected)");
			goto out;
		}
		gen = c->link.gen;
		r = frame(c, scheme, topic, env, env_len, &fr, &fr_len);
		w = r == MQE2E_OK ? client__waiter_new(c) : NULL;
		pthread_mutex_unlock(&c->mu);
		if (r != MQE2E_OK || w == NULL) {
			r = client__fail(c, r != MQE2E_OK ? r : MQE2E_ERR_NOMEM, "cannot frame "
			    "the message for topic '%s': %s", topic,
			    mqe2e_strerror(r != MQE2E_OK ? r : MQE2E_ERR_NOMEM));
			goto out;
		}
		m.payload = fr;
		m.payloadlen = (int)fr_len;
		m.qos = qos;
		m.retained = retain ? 1 : 0;
		ro.onSuccess5 = client__on_success;
		ro.onFailure5 = client__on_failure;
		ro.context = w;
		prc = MQTTAsync_sendMessage(c->mqtt, topic, &m, &ro);
		free(fr);
		fr = NULL;

		pthread_mutex_lock(&c->mu);
		if (prc != MQTTASYNC_SUCCESS) {
			w->done = 1;
			client__waiter_release(c, w);
			/* paho saw the drop before we did: let the link thread
			 * catch up */
			if (prc == MQTTASYNC_DISCONNECTED)
				(void)session__link_event(c, LINK_EV_STALE, NULL, 0, gen);
			pthread_mutex_unlock(&c->mu);
			if (prc == MQTTASYNC_DISCONNECTED)
				continue;
			r = client__fail(c, MQE2E_ERR_UNAVAILABLE, "cannot publish on '%s': %s",
			    topic, MQTTAsync_strerror(prc));
			goto out;
		}
		if (nowait) {
			/* in a callback: the acknowledgement comes after we return */
			client__waiter_release(c, w);
			pthread_mutex_unlock(&c->mu);
			r = MQE2E_OK;
			goto out;
		}
		r = client__wait(c, w, &deadline, &gen);
		if (r == MQE2E_OK)
			r = w->rc;
		if (r == MQE2E_ERR_DENIED) {
			client__fmt(refusal, sizeof(refusal), "%s", w->msg);
		} else if (r == MQE2E_ERR_TIMEOUT) {
			client__fmt(c->errmsg, sizeof(c->errmsg), "no acknowledgement from the "
			    "broker for the message on topic '%s' within %d ms", topic,
			    timeout_ms);
		}
		client__waiter_release(c, w);
		if (r == MQE2E_ERR_UNAVAILABLE) {
			/* the link dropped (or is dropping) under us: send again on
			 * the next one */
			while (c->link.gen == gen && r == MQE2E_ERR_UNAVAILABLE) {
				if (mqe2e_cond_wait_until(&c->cv, &c->mu, &deadline) != 0 &&
				    c->link.gen == gen)
					r = MQE2E_ERR_TIMEOUT;
			}
			if (r == MQE2E_ERR_UNAVAILABLE) {
				pthread_mutex_unlock(&c->mu);
				continue;
			}
			client__fmt(c->errmsg, sizeof(c->errmsg), "the message on topic "
			    "'%s' was not acknowledged and the link to %s did not recover "
			    "within %d ms", topic, c->cfg.broker, timeout_ms);
		}
		pthread_mutex_unlock(&c->mu);
		goto out;
	}
out:
	if (r == MQE2E_ERR_DENIED && refusal[0] != '\0')
		explain_refusal(c, topic, group, refusal);
	free(fr);
	free(env);
	return r;
}
