/*
 * session.c - the client-broker session: CONNECT carrying the signed
 * CONNECT_HELLO (MQTT 5 Authentication Method "mqe2e-v1"), verification of
 * the CONNACK_REPLY in paho's onSuccess5, the session keys SK_CB, losing the
 * link, and the client's own two threads: the link thread reconnects with
 * backoff (a fresh handshake each time: paho's automatic reconnect would
 * replay the old hello), the keys thread fetches keys and settles held
 * messages, so that neither a slow KMS nor a slow reconnect holds up the
 * other.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* A resumed session's queue can hold frames made up to this long before the
 * last connection ended (in flight, not yet acknowledged). */
#define RESUME_MARGIN_MS 60000u

#define RECONNECT_TIMEOUT_MS 10000
#define DEFERRED_DISCONNECT_MS 5000   /* a disconnect asked for in a callback */
#define NO_KEYS_DISCONNECT_MS 2000    /* the broker answered, the KMS did not */
#define KEY_RETRY_MIN_MS 1000    /* the KMS did not answer: ask again after */
#define KEY_RETRY_MAX_MS 10000   /* 1, 2, 4, 8, 10, 10 ... s, each jittered */
#define ATTEMPT_GRACE_MS 10000  /* beyond paho's connect timeout */
#define MISS_FETCH_INTERVAL_MS 1000  /* at most one KMS fetch a second for
                                        messages naming an epoch we lack */
#define IDLE_WAKE_MS 60000u     /* the two threads look at the state at least
                                   this often */

void
session__clear(struct mqe2e_client *c)
{
	mqe2e_aead_free(c->c2b_aead);
	mqe2e_mac_free(c->c2b_mac);
	mqe2e_aead_free(c->b2c_aead);
	mqe2e_mac_free(c->b2c_mac);
	c->c2b_aead = c->b2c_aead = NULL;
	c->c2b_mac = c->b2c_mac = NULL;
}

/* Session contexts from the raw keys (mu held).  Each direction key is used
 * by AEAD frames (schemes 2/3) and MAC frames (scheme 4). */
static int
session_install(struct mqe2e_client *c, const struct mqe2e_session_keys *k)
{
	int r;

	session__clear(c);
	if ((r = mqe2e_aead_new(k->c2b, &c->c2b_aead)) != MQE2E_OK ||
	    (r = mqe2e_mac_new(k->c2b, sizeof(k->c2b), &c->c2b_mac)) != MQE2E_OK ||
	    (r = mqe2e_aead_new(k->b2c, &c->b2c_aead)) != MQE2E_OK ||
	    (r = mqe2e_mac_new(k->b2c, sizeof(k->b2c), &c->b2c_mac)) != MQE2E_OK)
		session__clear(c);
	return r;
}

static void
state_changed(struct mqe2e_client *c, int up)
{
	pthread_mutex_lock(&c->cb_mu);
	if (c->state_cb != NULL)
		c->state_cb(c->state_arg, up);
	pthread_mutex_unlock(&c->cb_mu);
}

/* When the link thread has work (mu held): now, or the earliest deadline
 * of its link (an attempt's end, the next reconnect).  link_main sleeps
 * until this and session__changed wakes it when it moves earlier. */
static uint64_t
link_due(const struct mqe2e_client *c, uint64_t now)
{
	if (c->stopping || c->disconnect_deferred)
		return now;
	return link__wake(&c->link, c->auto_reconnect, now + IDLE_WAKE_MS);
}

/* The same for the keys thread: held messages to look at again or whose
 * hold ends, a fetch for an epoch messages named, the next
 * refresh.  Each term is one of keys_main's cases. */
static uint64_t
keys_due(const struct mqe2e_client *c, uint64_t now)
{
	uint64_t due = now + IDLE_WAKE_MS;

	if (c->stopping || (c->held != NULL && c->held_dirty))
		return now;
	if (c->held != NULL && c->held_wake_ms < due)
		due = c->held_wake_ms;
	if ((c->miss_fetch || (c->held != NULL && c->held_need)) && c->next_hold_fetch_ms < due)
		due = c->next_hold_fetch_ms;
	if (c->auto_reconnect && c->next_refresh_ms != 0 && c->next_refresh_ms < due)
		due = c->next_refresh_ms;
	return due;
}

void
session__changed(struct mqe2e_client *c)
{
	uint64_t now;

	pthread_cond_broadcast(&c->cv);
	if (c->link_sleep_ms == 0 && c->keys_sleep_ms == 0)
		return;                 /* both at work: they look again anyway */
	now = client__mono_ms();
	if (c->link_sleep_ms != 0 && link_due(c, now) < c->link_sleep_ms) {
		c->link_sleep_ms = 0;
		pthread_cond_signal(&c->link_cv);
	}
	if (c->keys_sleep_ms != 0 && keys_due(c, now) < c->keys_sleep_ms) {
		c->keys_sleep_ms = 0;
		pthread_cond_signal(&c->keys_cv);
	}
}

/* The link went away (mu held; kind LINK_EV_LOST or LINK_EV_CLOSED): the
 * session keys go.  1 if the application is to hear of it: only a link it
 * heard "up" for. */
static int
link_down(struct mqe2e_client *c, enum link_event_kind kind)
{
	int went = (session__link_event(c, kind, NULL, 0, 0) & LINK_FX_WENT_DOWN) != 0;
	int tell = went && c->up_announced;

	session__clear(c);
	if (went)
		c->up_pending = c->up_announced = 0;
	return tell;
}

unsigned
session__link_event(struct mqe2e_client *c, enum link_event_kind kind, struct waiter *w,
    uint64_t deadline_ms, uint64_t gen)
{
	struct link_event ev;
	unsigned fx;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.now_ms = client__mono_ms();
	ev.attempt = w;
	ev.deadline_ms = deadline_ms;
	ev.gen = gen;
	fx = link__handle(&c->link, &ev);
	/* paho's receive thread needs waking while an attempt is under way */
	wake__link(c, c->link.attempt != NULL);
	session__changed(c);
	return fx;
}

/* Finish the connect attempt of w (mu held): the waiter's result. */
static void
attempt_done(struct mqe2e_client *c, struct waiter *w, int rc, const char *msg)
{
	w->done = 1;
	w->rc = rc;
	client__fmt(w->msg, sizeof(w->msg), "%s", msg);
	if (w->abandoned)
		client__waiter_release(c, w);
	session__changed(c);
}

/* paho: CONNACK with success.  Verify the broker's CONNACK_REPLY before
 * anything else uses the link. */
static void
on_connect_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	struct mqe2e_client *c = ctx;
	struct waiter *w;
	struct mqe2e_session_keys keys;
	struct mqe2e_peer broker;
	MQTTProperty *method, *data;
	char msg[CLIENT_ERRMSG_MAX] = "";
	uint64_t gen = 0;
	int r = MQE2E_ERR_INTERNAL, report, announce;

	client__paho_thread_enter();
	memset(&broker, 0, sizeof(broker));
	pthread_mutex_lock(&c->mu);
	if ((w = c->link.attempt) == NULL) {
		/* no attempt of ours under way (a repeated callback, or one we
		 * gave up on): a link we hold no handshake for is not used */
		int up = c->link.state == LINK_UP;

		pthread_mutex_unlock(&c->mu);
		if (!up) {
			MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;

			d.timeout = 0;
			(void)MQTTAsync_disconnect(c->mqtt, &d);
		}
		client__paho_thread_done();
		return;
	}
	method = MQTTProperties_getProperty(&resp->properties,
	    MQTTPROPERTY_CODE_AUTHENTICATION_METHOD);
	data = MQTTProperties_getProperty(&resp->properties,
	    MQTTPROPERTY_CODE_AUTHENTICATION_DATA);
	if (w->hs == NULL) {
		r = MQE2E_ERR_INTERNAL;
		client__fmt(msg, sizeof(msg), "CONNACK without a handshake under way");
	} else if (data == NULL || method == NULL ||
	    method->value.data.len != (int)strlen(MQE2E_AUTH_METHOD) ||
	    memcmp(method->value.data.data, MQE2E_AUTH_METHOD, strlen(MQE2E_AUTH_METHOD)) != 0) {
		r = MQE2E_ERR_BAD_METHOD;
		client__fmt(msg, sizeof(msg), "the broker at %s accepted the connection "
		    "without the %s handshake: it does not run the mqe2e plugin "
		    "(or something in between stripped it); refusing to use it",
		    c->cfg.broker, MQE2E_AUTH_METHOD);
	} else if ((r = mqe2e_hs_client_finish(w->hs, c->trust,
	    (const uint8_t *)data->value.data.data, (size_t)data->value.data.len,
	    mqe2e_now_ms(), &keys, &broker)) != MQE2E_OK) {
		client__fmt(msg, sizeof(msg), "the broker at %s failed the mqe2e handshake: "
		    "%s%s%s%s%s; refusing the connection", c->cfg.broker, mqe2e_strerror(r),
		    r == MQE2E_ERR_ID_MISMATCH && c->cfg.broker_id != NULL ? " (its certificate "
		    "is not the one of the configured broker_id)" : "",
		    r == MQE2E_ERR_UNKNOWN_CA ? " (checked against the CA file " : "",
		    r == MQE2E_ERR_UNKNOWN_CA && c->cfg.cafile != NULL ? c->cfg.cafile : "",
		    r == MQE2E_ERR_UNKNOWN_CA ? ": is it the CA of this deployment?)" : "");
	} else {
		r = session_install(c, &keys);
		mqe2e_wipe(&keys, sizeof(keys));
		if (r != MQE2E_OK)
			client__fmt(msg, sizeof(msg), "cannot set up the session keys: %s",
			    mqe2e_strerror(r));
	}
	mqe2e_hs_client_free(w->hs);
	w->hs = NULL;
	if (r == MQE2E_OK) {
		memcpy(c->broker_id, broker.id, sizeof(c->broker_id));
		/* A new MQTT session starts at this CONNACK: the broker frames
		 * every live message for it later (PROTOCOL.md 8.1).  A resumed
		 * session keeps its floor: its queue was framed since then.  A
		 * process that resumes a session it did not start can only bound
		 * the queue's age by the session expiry (plus a margin for what
		 * was in flight when the last connection ended). */
		if (!resp->alt.connect.sessionPresent)
			c->rx_floor_us = broker.ts_ms * 1000u;
		else if (c->rx_floor_us == 0 && broker.ts_ms > RESUME_MARGIN_MS +
		    (uint64_t)c->cfg.session_expiry_s * 1000u)
			c->rx_floor_us = (broker.ts_ms - RESUME_MARGIN_MS -
			    (uint64_t)c->cfg.session_expiry_s * 1000u) * 1000u;
		c->notice_seq = 0;
		/* paho leaves Nagle on: small publishes would wait for the
		 * broker's delayed ACKs */
		sock__nodelay(c);
		(void)session__link_event(c, LINK_EV_UP, w, 0, 0);
		gen = c->link.gen;
	} else {
		(void)session__link_event(c, LINK_EV_FAILED, w, 0, 0);
	}
	report = w->abandoned;          /* nobody waits for this attempt */
	attempt_done(c, w, r, msg);
	pthread_mutex_unlock(&c->mu);

	if (r == MQE2E_OK) {
		subscribe__renew(c);
		/* "up" once the keys are there too: the first connect fetches
		 * them while this handshake ran (mqe2e_connect says it then) */
		pthread_mutex_lock(&c->mu);
		announce = c->link.state == LINK_UP && c->link.gen == gen && !c->up_announced;
		if (announce && c->keys_fetched_ms == 0) {
			c->up_pending = 1;
			announce = 0;
		}
		if (announce)
			c->up_announced = 1;
		pthread_mutex_unlock(&c->mu);
		if (announce)
			state_changed(c, 1);
	} else {
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;

		d.timeout = 0;
		(void)MQTTAsync_disconnect(c->mqtt, &d);
		if (report)
			client__report(c, r, NULL, NULL, NULL, 0, "%s", msg);
	}
	client__paho_thread_done();
}

/* paho: the connect failed (refused CONNACK, no route, timeout). */
static void
on_connect_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct mqe2e_client *c = ctx;
	struct waiter *w;
	MQTTProperty *why = NULL;
	char msg[CLIENT_ERRMSG_MAX];
	int reason = resp != NULL ? (int)resp->reasonCode : 0;
	int r, report;

	client__paho_thread_enter();
	if (resp != NULL) {
		why = MQTTProperties_getProperty(&resp->properties,
		    MQTTPROPERTY_CODE_REASON_STRING);
		/* paho reports a refusing CONNACK's reason code in code */
		if (reason == 0 && resp->code >= 0x80 && resp->code <= 0xff)
			reason = resp->code;
	}
	if (reason >= 0x80) {
		r = reason == MQTTREASONCODE_BAD_AUTHENTICATION_METHOD ? MQE2E_ERR_BAD_METHOD :
		    MQE2E_ERR_DENIED;
		client__fmt(msg, sizeof(msg), "the broker at %s refused client '%s': %s%s%.*s "
		    "(%s)", c->cfg.broker, c->id,
		    MQTTReasonCode_toString((enum MQTTReasonCodes)reason),
		    why != NULL ? ": " : "", why != NULL ? why->value.data.len : 0,
		    why != NULL ? why->value.data.data : "",
		    r == MQE2E_ERR_BAD_METHOD ? "it does not run the mqe2e plugin" :
		    "check that the certificate is valid and not revoked, and that the "
		    "clocks agree");
	} else if (tls__failure(c, resp != NULL ? MQTTAsync_strerror(resp->code) : "failed",
	    resp != NULL ? resp->message : NULL, msg, sizeof(msg))) {
		r = MQE2E_ERR_UNAVAILABLE;
	} else {
		r = MQE2E_ERR_UNAVAILABLE;
		client__fmt(msg, sizeof(msg), "cannot connect to the broker at %s: %s%s%s",
		    c->cfg.broker, resp != NULL ? MQTTAsync_strerror(resp->code) : "failed",
		    resp != NULL && resp->message != NULL ? ": " : "",
		    resp != NULL && resp->message != NULL ? resp->message : "");
	}
	pthread_mutex_lock(&c->mu);
	if ((w = c->link.attempt) == NULL) {
		/* not about an attempt under way: paho reuses the connect
		 * callbacks of a handle (a repeated call, or one we gave up on) */
		pthread_mutex_unlock(&c->mu);
		client__paho_thread_done();
		return;
	}
	mqe2e_hs_client_free(w->hs);
	w->hs = NULL;
	(void)session__link_event(c, LINK_EV_FAILED, w, 0, 0);
	report = w->abandoned;
	attempt_done(c, w, r, msg);
	pthread_mutex_unlock(&c->mu);
	if (report)
		client__report(c, r, NULL, NULL, NULL, 0, "%s", msg);
	client__paho_thread_done();
}

/* paho: the link dropped. */
static void
on_connection_lost(void *ctx, char *cause)
{
	struct mqe2e_client *c = ctx;
	int was_up;

	client__paho_thread_enter();
	pthread_mutex_lock(&c->mu);
	/* an attempt under way stays so: this is the old link's news */
	was_up = link_down(c, LINK_EV_LOST);
	pthread_mutex_unlock(&c->mu);
	if (was_up) {
		state_changed(c, 0);
		client__report(c, MQE2E_ERR_UNAVAILABLE, NULL, NULL, NULL, 0,
		    "lost the connection to the broker at %s%s%s; reconnecting",
		    c->cfg.broker, cause != NULL ? ": " : "", cause != NULL ? cause : "");
	}
	free(cause);
	client__paho_thread_done();
}

/* paho: the broker sent DISCONNECT (Mosquitto does when an administrator or
 * the mqe2e plugin kicks the client, e.g. after a revocation).  paho closes
 * the link without calling on_connection_lost, so this is a lost link too. */
static void
on_disconnected(void *ctx, MQTTProperties *props, enum MQTTReasonCodes reason)
{
	struct mqe2e_client *c = ctx;
	int was_up;

	(void)props;
	client__paho_thread_enter();
	pthread_mutex_lock(&c->mu);
	was_up = link_down(c, LINK_EV_LOST);
	pthread_mutex_unlock(&c->mu);
	if (was_up) {
		state_changed(c, 0);
		client__report(c, MQE2E_ERR_UNAVAILABLE, NULL, NULL, NULL, 0,
		    "the broker at %s disconnected client '%s': %s (reason code 0x%02x)%s; "
		    "reconnecting", c->cfg.broker, c->id, MQTTReasonCode_toString(reason),
		    (unsigned)reason, reason == MQTTREASONCODE_ADMINISTRATIVE_ACTION ?
		    " - was the client revoked?" : "");
	}
	client__paho_thread_done();
}

/*
 * Start one connect attempt: a fresh CONNECT_HELLO in the CONNECT.  Returns
 * the waiter (linked, to release with client__waiter_release under mu) or
 * NULL with *rc and msg set when the attempt could not even start.
 */
static struct waiter *
attempt_start(struct mqe2e_client *c, int timeout_ms, int *rc, char *msg, size_t msglen)
{
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty p;
	struct mqe2e_hs_client *hs = NULL;
	struct waiter *w = NULL;
	uint8_t *hello = NULL;
	size_t hello_len = 0;
	int r, prc;

	/* bound to the configured broker (PROTOCOL.md 2.2); none: any broker */
	if ((r = mqe2e_hs_client_start(c->ident, c->cfg.broker_id, mqe2e_now_ms(), &hs, &hello,
	    &hello_len)) != MQE2E_OK) {
		client__fmt(msg, msglen, "cannot build the handshake: %s", mqe2e_strerror(r));
		goto out;
	}
	memset(&p, 0, sizeof(p));
	p.identifier = MQTTPROPERTY_CODE_AUTHENTICATION_METHOD;
	p.value.data.data = (char *)MQE2E_AUTH_METHOD;
	p.value.data.len = (int)strlen(MQE2E_AUTH_METHOD);
	if (MQTTProperties_add(&props, &p) != 0) {
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	p.identifier = MQTTPROPERTY_CODE_AUTHENTICATION_DATA;
	p.value.data.data = (char *)hello;
	p.value.data.len = (int)hello_len;
	if (hello_len > 65535 || MQTTProperties_add(&props, &p) != 0) {
		r = MQE2E_ERR_TOO_LONG;
		client__fmt(msg, msglen, "the handshake does not fit in CONNECT");
		goto out;
	}
	if (c->cfg.session_expiry_s > 0) {
		memset(&p, 0, sizeof(p));
		p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
		p.value.integer4 = (unsigned int)c->cfg.session_expiry_s;
		if (MQTTProperties_add(&props, &p) != 0) {
			r = MQE2E_ERR_NOMEM;
			goto out;
		}
	}

	/* where the broker is: its sockets get TCP_NODELAY once verified */
	sock__resolve_broker(c);
	pthread_mutex_lock(&c->mu);
	if (c->link.attempt != NULL) {
		/* paho holds one set of connect callbacks: never two attempts */
		pthread_mutex_unlock(&c->mu);
		r = MQE2E_ERR_UNAVAILABLE;
		client__fmt(msg, msglen, "a connection to %s is being set up already",
		    c->cfg.broker);
		goto out;
	}
	if ((w = client__waiter_new(c)) == NULL) {
		pthread_mutex_unlock(&c->mu);
		r = MQE2E_ERR_NOMEM;
		goto out;
	}
	w->hs = hs;
	hs = NULL;
	(void)session__link_event(c, LINK_EV_ATTEMPT, w, client__mono_ms() +
	    (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) + ATTEMPT_GRACE_MS, 0);
	pthread_mutex_unlock(&c->mu);

	o.keepAliveInterval = c->cfg.keepalive;
	o.cleanstart = c->cfg.clean_start;
	o.connectTimeout = timeout_ms < 1000 ? 1 : (timeout_ms + 999) / 1000;
	o.automaticReconnect = 0;
	o.connectProperties = &props;
	o.onSuccess5 = on_connect_ok;
	o.onFailure5 = on_connect_fail;
	o.context = c;
	if (tls__uri_scheme(c->cfg.broker) == 1) {
		tls__connect_options(c, &ssl);
		o.ssl = &ssl;
	}
	if ((prc = MQTTAsync_connect(c->mqtt, &o)) != MQTTASYNC_SUCCESS) {
		pthread_mutex_lock(&c->mu);
		(void)session__link_event(c, LINK_EV_ABORT, w, 0, 0);
		w->done = 1;
		client__waiter_release(c, w);
		w = NULL;
		pthread_mutex_unlock(&c->mu);
		r = MQE2E_ERR_UNAVAILABLE;
		client__fmt(msg, msglen, "cannot start connecting to %s: %s", c->cfg.broker,
		    MQTTAsync_strerror(prc));
		goto out;
	}
	r = MQE2E_OK;
out:
	*rc = r;
	MQTTProperties_free(&props);
	mqe2e_free_secret(hello, hello_len);
	mqe2e_hs_client_free(hs);
	return w;
}

int
mqe2e_connect(struct mqe2e_client *c, int timeout_ms)
{
	char msg[CLIENT_ERRMSG_MAX], kmsg[CLIENT_ERRMSG_MAX];
	struct timespec deadline;
	struct waiter *w;
	int r, kr = MQE2E_OK, have_keys, busy, announce = 0, cached = 0;

	if (c == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (client__on_paho_thread())
		return client__fail(c, MQE2E_ERR_INVALID_ARG, "mqe2e_connect() cannot be "
		    "called from a callback: the client reconnects by itself");
	client__deadline(&deadline, timeout_ms);
	pthread_mutex_lock(&c->mu);
	have_keys = c->keys_fetched_ms != 0;
	busy = c->link.state != LINK_DOWN || c->auto_reconnect || c->link.attempt != NULL;
	if (!busy)
		(void)session__link_event(c, LINK_EV_RESET, NULL, 0, 0);
	pthread_mutex_unlock(&c->mu);

	if (busy) {
		/* up or being brought up by the link thread: hurry it and wait */
		if (!have_keys && (r = keys__first(c, &cached, msg, sizeof(msg))) != MQE2E_OK)
			return client__fail(c, r, "%s", msg);
		pthread_mutex_lock(&c->mu);
		(void)session__link_event(c, LINK_EV_HURRY, NULL, 0, 0);
		r = session__wait_up(c, &deadline);
		pthread_mutex_unlock(&c->mu);
		return r == MQE2E_OK ? r : client__fail(c, r, "no verified connection to "
		    "the broker at %s within %d ms", c->cfg.broker, timeout_ms);
	}

	/* The CONNECT goes out first and the keys are fetched while the broker
	 * answers: the handshake needs only the certificate, and what arrives
	 * before the keys is held until they come (docs/CLIENT.md, "Connect").
	 * The rosters of schemes 1/2 are subscribed to by whichever ends last
	 * (subscribe__renew at the CONNACK, roster__sync after the fetch). */
	w = attempt_start(c, timeout_ms, &r, msg, sizeof(msg));
	if (!have_keys)
		kr = keys__first(c, &cached, kmsg, sizeof(kmsg));
	if (w == NULL)
		return kr != MQE2E_OK ? client__fail(c, kr, "%s", kmsg) :
		    client__fail(c, r, "%s", msg);
	pthread_mutex_lock(&c->mu);
	if (client__wait(c, w, &deadline, NULL) != MQE2E_OK) {
		r = MQE2E_ERR_TIMEOUT;
		client__fmt(msg, sizeof(msg), "no answer from the broker at %s within %d ms",
		    c->cfg.broker, timeout_ms);
	} else {
		r = w->rc;
		client__fmt(msg, sizeof(msg), "%s", w->msg);
	}
	client__waiter_release(c, w);
	if (r == MQE2E_ERR_DENIED && cached && c->keys_seq == 0) {
		/* the broker refused a client that started from its key cache
		 * without asking the KMS: ask it now, so that a revoked or
		 * deleted client learns it from the KMS and its cache is
		 * deleted, as a start that asked would have (keys__fetch) */
		pthread_mutex_unlock(&c->mu);
		kr = keys__fetch(c, kmsg, sizeof(kmsg));
		if (kr != MQE2E_ERR_REVOKED && kr != MQE2E_ERR_DENIED)
			kr = MQE2E_OK;  /* the broker's refusal is the answer */
		pthread_mutex_lock(&c->mu);
	}
	if (r == MQE2E_OK && kr == MQE2E_OK) {
		c->auto_reconnect = 1;
		session__changed(c);    /* a link lost meanwhile is now reconnected */
		/* the CONNACK callback found no keys yet: "up" is said here */
		announce = c->up_pending && c->link.state == LINK_UP;
		if (announce) {
			c->up_pending = 0;
			c->up_announced = 1;
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (announce)
		state_changed(c, 1);
	if (kr != MQE2E_OK) {
		/* no keys, no use for the link (the key error says why) */
		if (r == MQE2E_OK)
			(void)mqe2e_disconnect(c, NO_KEYS_DISCONNECT_MS);
		return client__fail(c, kr, "%s", kmsg);
	}
	return r == MQE2E_OK ? r : client__fail(c, r, "%s", msg);
}

int
session__wait_up(struct mqe2e_client *c, const struct timespec *deadline)
{
	while (c->link.state != LINK_UP) {
		if (c->stopping || (!c->auto_reconnect && c->link.state == LINK_DOWN))
			return MQE2E_ERR_UNAVAILABLE;
		if (mqe2e_cond_wait_until(&c->cv, &c->mu, deadline) != 0 &&
		    c->link.state != LINK_UP)
			return MQE2E_ERR_TIMEOUT;
	}
	return MQE2E_OK;
}

int
mqe2e_is_connected(struct mqe2e_client *c)
{
	int up;

	pthread_mutex_lock(&c->mu);
	up = c->link.state == LINK_UP;
	pthread_mutex_unlock(&c->mu);
	return up;
}

int
mqe2e_disconnect(struct mqe2e_client *c, int timeout_ms)
{
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
	struct timespec deadline;
	struct waiter *w = NULL;
	int r = MQE2E_OK, was_up, connected, prc, link_thread;

	if (c == NULL)
		return MQE2E_ERR_INVALID_ARG;
	client__deadline(&deadline, timeout_ms);
	link_thread = c->worker_started && pthread_equal(pthread_self(), c->worker);
	if (client__on_paho_thread() && !link_thread) {
		/* inside a callback: the link thread disconnects (paho must not
		 * be asked to from its own thread) */
		pthread_mutex_lock(&c->mu);
		c->auto_reconnect = 0;
		c->disconnect_deferred = 1;
		session__changed(c);
		pthread_mutex_unlock(&c->mu);
		goto down;
	}
	/* a deferred disconnect goes first: never two at once */
	pthread_mutex_lock(&c->mu);
	while (!link_thread && (c->disconnect_deferred || c->disconnecting) &&
	    mqe2e_cond_wait_until(&c->cv, &c->mu, &deadline) == 0)
		;
	pthread_mutex_unlock(&c->mu);
	/* never call paho with mu held: paho runs some of our callbacks (which
	 * take mu) with its own lock held */
	connected = MQTTAsync_isConnected(c->mqtt);
	pthread_mutex_lock(&c->mu);
	c->auto_reconnect = 0;
	if (connected && (w = client__waiter_new(c)) == NULL) {
		pthread_mutex_unlock(&c->mu);
		return MQE2E_ERR_NOMEM;
	}
	pthread_mutex_unlock(&c->mu);

	if (w != NULL) {
		d.timeout = timeout_ms;
		d.onSuccess5 = client__on_success;
		d.onFailure5 = client__on_failure;
		d.context = w;
		prc = MQTTAsync_disconnect(c->mqtt, &d);
		pthread_mutex_lock(&c->mu);
		if (prc != MQTTASYNC_SUCCESS)
			w->done = 1;    /* paho will not call back */
		else if (client__wait(c, w, &deadline, NULL) != MQE2E_OK)
			r = MQE2E_ERR_TIMEOUT;
		client__waiter_release(c, w);
		pthread_mutex_unlock(&c->mu);
	}

down:
	pthread_mutex_lock(&c->mu);
	was_up = link_down(c, LINK_EV_CLOSED);
	pthread_mutex_unlock(&c->mu);
	if (was_up)
		state_changed(c, 0);
	return r;
}

/* The link thread: gives up on connect attempts paho never answers and
 * reconnects after a lost link.  It never waits for the KMS (the keys
 * thread does), so a hanging KMS cannot delay a reconnect. */
static void *
link_main(void *arg)
{
	struct mqe2e_client *c = arg;
	char msg[CLIENT_ERRMSG_MAX];
	struct timespec ts;
	struct waiter *w;
	uint64_t now, wake;
	int r;

	/* named for top -H and profiles (not checked: a name is a nicety) */
	(void)pthread_setname_np(pthread_self(), "mqe2e-link");
	/* user callbacks (the error callback) run here: inside them, calls
	 * must not wait for a reconnect (this thread makes it) */
	client__paho_thread_enter();
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		now = client__mono_ms();
		if (link__expired(&c->link, now)) {
			/* paho never answered: stop waiting (its connect callbacks
			 * find no attempt now and are ignored) */
			struct waiter *w0 = c->link.attempt;

			mqe2e_hs_client_free(w0->hs);
			w0->hs = NULL;
			(void)session__link_event(c, LINK_EV_FAILED, w0, 0, 0);
			attempt_done(c, w0, MQE2E_ERR_TIMEOUT, "no answer from the broker");
			continue;
		}
		if (c->disconnect_deferred) {
			c->disconnect_deferred = 0;
			c->disconnecting = 1;
			pthread_mutex_unlock(&c->mu);
			(void)mqe2e_disconnect(c, DEFERRED_DISCONNECT_MS);
			pthread_mutex_lock(&c->mu);
			c->disconnecting = 0;
			session__changed(c);
			continue;
		}
		if (c->auto_reconnect && link__due(&c->link, now)) {
			pthread_mutex_unlock(&c->mu);
			w = attempt_start(c, RECONNECT_TIMEOUT_MS, &r, msg, sizeof(msg));
			pthread_mutex_lock(&c->mu);
			if (w != NULL) {
				client__waiter_release(c, w);
			} else {
				(void)session__link_event(c, LINK_EV_START_FAILED, NULL, 0, 0);
				pthread_mutex_unlock(&c->mu);
				client__report(c, r, NULL, NULL, NULL, 0, "%s", msg);
				pthread_mutex_lock(&c->mu);
			}
			continue;
		}
		/* nothing due now: sleep until something is (session__changed
		 * wakes this thread if that moves earlier) */
		wake = link_due(c, now);
		c->link_sleep_ms = wake;
		client__deadline(&ts, (int)(wake > now ? wake - now : 0) + 1);
		(void)mqe2e_cond_wait_until(&c->link_cv, &c->mu, &ts);
		c->link_sleep_ms = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* After a failed background fetch (mu held): when the keys thread may ask
 * the KMS again, a jittered growing wait (1, 2, 4, 8, 10 s) or later if the
 * KMS said so.  Each fetch of this thread is one pass over the KMS URLs:
 * this wait is the only retry layer, so a fleet does not multiply its tries
 * against a KMS that is down or overloaded. */
static uint64_t
kms_next_try(struct mqe2e_client *c, uint64_t now)
{
	uint64_t next = backoff__fail(&c->kms_retry, now, backoff__rand());

	if (c->kms_retry_after_ms > next)
		next = c->kms_retry_after_ms;
	c->next_refresh_ms = next;
	c->next_hold_fetch_ms = next;
	return next;
}

/* The keys thread: fetches keys (periodic refresh, rekey notices, epochs
 * that messages named) and delivers or drops the held messages. */
static void *
keys_main(void *arg)
{
	struct mqe2e_client *c = arg;
	char msg[CLIENT_ERRMSG_MAX];
	struct timespec ts;
	uint64_t now, wake;
	int r;

	(void)pthread_setname_np(pthread_self(), "mqe2e-keys");
	/* this thread delivers held messages: inside those callbacks, calls
	 * must not wait for anything a thread of ours does */
	client__paho_thread_enter();
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		now = client__mono_ms();
		if (c->held != NULL && (c->held_dirty || now >= c->held_wake_ms)) {
			uint64_t next = UINT64_MAX;

			/* deliver or drop held messages (runs callbacks without mu) */
			c->held_need = subscribe__held_run(c, now, &next);
			c->held_wake_ms = next;
			continue;
		}
		if ((c->miss_fetch || (c->held != NULL && c->held_need)) &&
		    now >= c->next_hold_fetch_ms) {
			/* a message waits for an epoch we lack: ask the KMS, at
			 * most once a second (its answer settles the messages held
			 * before it started), and after a backoff while it fails */
			c->miss_fetch = 0;
			c->next_hold_fetch_ms = now + MISS_FETCH_INTERVAL_MS;
			pthread_mutex_unlock(&c->mu);
			r = keys__refresh(c, NULL, 0);
			pthread_mutex_lock(&c->mu);
			if (r != MQE2E_OK)
				(void)kms_next_try(c, client__mono_ms());
			continue;
		}
		if (c->auto_reconnect && c->next_refresh_ms != 0 && now >= c->next_refresh_ms) {
			c->next_refresh_ms = now + KEY_RETRY_MAX_MS;   /* while asking */
			pthread_mutex_unlock(&c->mu);
			r = keys__refresh(c, msg, sizeof(msg));
			pthread_mutex_lock(&c->mu);
			if (r != MQE2E_OK) {
				/* ask again after a jittered, growing wait: a fleet
				 * does not hammer a KMS that is coming back */
				(void)kms_next_try(c, client__mono_ms());
				pthread_mutex_unlock(&c->mu);
				client__report(c, r, NULL, NULL, NULL, 0, "%s (keeping the "
				    "keys held; asking again in %llu ms)", msg,
				    (unsigned long long)(c->next_refresh_ms - now));
				pthread_mutex_lock(&c->mu);
			}
			continue;
		}
		wake = keys_due(c, now);
		c->keys_sleep_ms = wake;
		client__deadline(&ts, (int)(wake > now ? wake - now : 0) + 1);
		(void)mqe2e_cond_wait_until(&c->keys_cv, &c->mu, &ts);
		c->keys_sleep_ms = 0;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int
session__start_worker(struct mqe2e_client *c)
{
	if (MQTTAsync_setCallbacks(c->mqtt, c, on_connection_lost, subscribe__arrived,
	    NULL) != MQTTASYNC_SUCCESS ||
	    MQTTAsync_setDisconnected(c->mqtt, c, on_disconnected) != MQTTASYNC_SUCCESS)
		return MQE2E_ERR_INTERNAL;
	link__init(&c->link, c->cfg.reconnect_min_ms, c->cfg.reconnect_max_ms);
	backoff__init(&c->kms_retry, KEY_RETRY_MIN_MS, KEY_RETRY_MAX_MS);
	if (pthread_create(&c->worker, NULL, link_main, c) != 0)
		return MQE2E_ERR_NOMEM;
	c->worker_started = 1;
	if (pthread_create(&c->keys_worker, NULL, keys_main, c) != 0) {
		session__stop_worker(c);
		return MQE2E_ERR_NOMEM;
	}
	c->keys_worker_started = 1;
	return MQE2E_OK;
}

void
session__stop_worker(struct mqe2e_client *c)
{
	if (!c->worker_started)
		return;
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	session__changed(c);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->worker, NULL);
	c->worker_started = 0;
	if (c->keys_worker_started) {
		pthread_join(c->keys_worker, NULL);
		c->keys_worker_started = 0;
	}
}
