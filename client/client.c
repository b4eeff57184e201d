/*
 * client.c - client object life cycle, error reporting, waiters.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "client_int.h"
#include "hold.h"
#include "http.h"

void
client__fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

int
client__fail(struct mqe2e_client *c, int code, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&c->mu);
	va_start(ap, fmt);
	(void)vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&c->mu);
	return code;
}

int
client__fail_locked(struct mqe2e_client *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return code;
}

void
client__report(struct mqe2e_client *c, int code, const char *topic, const char *sender,
    const char *group, uint32_t epoch, const char *fmt, ...)
{
	char text[CLIENT_ERRMSG_MAX];
	struct mqe2e_error e;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	e.code = code;
	e.text = text;
	e.topic = topic != NULL ? topic : "";
	e.sender = sender != NULL ? sender : "";
	e.group = group != NULL ? group : "";
	e.epoch = epoch;
	pthread_mutex_lock(&c->cb_mu);
	if (c->err_cb != NULL)
		c->err_cb(c->err_arg, &e);
	pthread_mutex_unlock(&c->cb_mu);
}

void
client__deadline(struct timespec *ts, int timeout_ms)
{
	mqe2e_mono_deadline(ts, timeout_ms);
}

int
client__thread_hold(struct proc_thread *t)
{
	if (!t->running) {
		if (pthread_create(&t->th, NULL, t->main, (void *)t->gen) != 0)
			return MQE2E_ERR_NOMEM;
		t->running = 1;
	}
	t->users++;
	return MQE2E_OK;
}

int
client__thread_release(struct proc_thread *t, pthread_t *th)
{
	if (--t->users > 0 || !t->running)
		return 0;
	t->gen++;               /* that thread ends; a new one may start */
	t->running = 0;
	*th = t->th;
	return 1;
}

uint64_t
client__mono_ms(void)
{
	return mqe2e_mono_ms();
}

struct waiter *
client__waiter_new(struct mqe2e_client *c)
{
	struct waiter *w;
	MQTTProperties empty = MQTTProperties_initializer;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->c = c;
	w->props = empty;
	w->next = c->waiters;
	c->waiters = w;
	return w;
}

static void
waiter_unlink_free(struct mqe2e_client *c, struct waiter *w)
{
	struct waiter **pp;

	for (pp = &c->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	MQTTProperties_free(&w->props);
	mqe2e_hs_client_free(w->hs);
	free(w);
}

/* The caller is done with w: free it if paho is too, else leave it for the
 * paho callback (which frees abandoned waiters) or for mqe2e_client_free. */
void
client__waiter_release(struct mqe2e_client *c, struct waiter *w)
{
	if (w->done)
		waiter_unlink_free(c, w);
	else
		w->abandoned = 1;
}

/* Set on the threads paho calls us on (they never run anything else).
 * paho_openssl: OpenSSL may hold state for this thread since its last
 * release (client__paho_openssl_note). */
static _Thread_local int on_paho_thread, paho_openssl;

void
client__paho_thread_enter(void)
{
	on_paho_thread = 1;
}

int
client__on_paho_thread(void)
{
	return on_paho_thread;
}

void
client__paho_thread_done(void)
{
	paho_openssl = 0;
	OPENSSL_thread_stop();
}

void
client__paho_openssl_note(void)
{
	if (on_paho_thread)
		paho_openssl = 1;
}

void
client__paho_thread_done_if(int used)
{
	if (used || paho_openssl)
		client__paho_thread_done();
}

uint64_t
client__next_seq(struct mqe2e_client *c)
{
	return c->seq++;
}

/* The comma-separated recipient list into c->recipients (valid ids,
 * distinct).  errbuf names the bad one. */
static int
parse_recipients(struct mqe2e_client *c, const char *list, char *errbuf, size_t errlen)
{
	const char *p = list, *e;
	size_t n, i;

	while (*p != '\0') {
		e = p + strcspn(p, ",");
		n = (size_t)(e - p);
		if (n > 0) {
			if (!mqe2e_id_valid((const uint8_t *)p, n)) {
				client__fmt(errbuf, errlen, "recipient '%.*s' is not a valid "
				    "client id", (int)(n > 300 ? 300 : n), p);
				return MQE2E_ERR_INVALID_ARG;
			}
			for (i = 0; i < c->nrecipients; i++) {
				if (strlen(c->recipients[i]) == n &&
				    memcmp(c->recipients[i], p, n) == 0)
					break;
			}
			if (i == c->nrecipients) {
				char **v;

				if (c->nrecipients == CLIENT_RECIPIENTS_MAX) {
					client__fmt(errbuf, errlen, "more than %d recipients",
					    CLIENT_RECIPIENTS_MAX);
					return MQE2E_ERR_TOO_LONG;
				}
				if ((v = realloc(c->recipients, (c->nrecipients + 1) *
				    sizeof(*v))) == NULL)
					return MQE2E_ERR_NOMEM;
				c->recipients = v;
				if ((v[c->nrecipients] = strndup(p, n)) == NULL)
					return MQE2E_ERR_NOMEM;
				c->nrecipients++;
			}
		}
		p = *e == ',' ? e + 1 : e;
	}
	return MQE2E_OK;
}

int
mqe2e_client_new(const struct mqe2e_config *cfg, struct mqe2e_client **out, char *errbuf,
    size_t errlen)
{
	struct mqe2e_client *c = NULL;
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	pthread_mutexattr_t recursive;
	pthread_cond_t *cvs[3];
	size_t ncv;
	int r = MQE2E_ERR_INTERNAL, prc;

	if (out == NULL || cfg == NULL) {
		client__fmt(errbuf, errlen, "mqe2e_client_new: no configuration given");
		return MQE2E_ERR_INVALID_ARG;
	}
	*out = NULL;
	if (cfg->cert == NULL || cfg->key == NULL || cfg->cafile == NULL) {
		client__fmt(errbuf, errlen, "no %s configured: give the PEM file made by "
		    "'mqe2e-kmsctl cert issue' (--cert, --key, --cafile)",
		    cfg->cert == NULL ? "certificate" : cfg->key == NULL ? "private key" :
		    "CA certificate");
		return MQE2E_ERR_INVALID_ARG;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		client__fmt(errbuf, errlen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	pthread_mutex_init(&c->mu, NULL);
	cvs[0] = &c->cv;
	cvs[1] = &c->link_cv;
	cvs[2] = &c->keys_cv;
	for (ncv = 0; ncv < 3 && mqe2e_cond_init_mono(cvs[ncv]) == 0; ncv++)
		;
	if (ncv < 3) {
		while (ncv > 0)
			pthread_cond_destroy(cvs[--ncv]);
		pthread_mutex_destroy(&c->mu);
		free(c);
		client__fmt(errbuf, errlen, "out of memory");
		return MQE2E_ERR_NOMEM;
	}
	/* a callback may call back into the library (mqe2e_disconnect runs the
	 * state callback): the same thread may take cb_mu again */
	pthread_mutexattr_init(&recursive);
	pthread_mutexattr_settype(&recursive, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->cb_mu, &recursive);
	pthread_mutexattr_destroy(&recursive);
	pthread_mutex_init(&c->kms_mu, NULL);
	pthread_mutex_init(&c->tls_mu, NULL);
	c->held_tail = &c->held;
	if ((r = config__copy(&c->cfg, cfg)) != MQE2E_OK) {
		client__fmt(errbuf, errlen, "out of memory");
		goto out;
	}
	if ((r = mqe2e_identity_load(cfg->cert, cfg->key, &c->ident, errbuf, errlen)) != MQE2E_OK)
		goto out;
	if ((r = trust__get(cfg->cafile, &c->trust, errbuf, errlen)) != MQE2E_OK)
		goto out;
	if ((r = mqe2e_http_new(c->cfg.kms, c->cfg.cafile, 0, &c->kms, errbuf, errlen)) !=
	    MQE2E_OK)
		goto out;
	if (cfg->client_id != NULL) {
		if (!mqe2e_id_valid_str(cfg->client_id) ||
		    strlen(cfg->client_id) >= sizeof(c->id)) {
			client__fmt(errbuf, errlen, "client id '%s' is not valid "
			    "(1-255 printable ASCII characters, no spaces or '|')", cfg->client_id);
			r = MQE2E_ERR_INVALID_ARG;
			goto out;
		}
		if (strcmp(cfg->client_id, c->ident->id) != 0) {
			client__fmt(errbuf, errlen, "client id '%s' differs from the "
			    "identity '%s' in certificate %s: the broker refuses that; "
			    "drop -i or use the certificate of '%s'",
			    cfg->client_id, c->ident->id, cfg->cert, cfg->client_id);
			r = MQE2E_ERR_ID_MISMATCH;
			goto out;
		}
	}
	memcpy(c->id, c->ident->id, sizeof(c->id));
	if ((r = cache__init(c, errbuf, errlen)) != MQE2E_OK)
		goto out;
	if (cfg->recipients != NULL &&
	    (r = parse_recipients(c, cfg->recipients, errbuf, errlen)) != MQE2E_OK)
		goto out;
	if ((r = mqe2e_replay_table_new(CLIENT_REPLAY_SENDERS, &c->replay)) != MQE2E_OK ||
	    (r = mqe2e_replay_table_new(CLIENT_FRAME_WINDOWS, &c->frame_replay)) != MQE2E_OK ||
	    (r = mqe2e_replay_table_new(CLIENT_REPLAY_SENDERS, &c->late_replay)) != MQE2E_OK) {
		client__fmt(errbuf, errlen, "out of memory");
		goto out;
	}
	c->seq = mqe2e_seq_start();
	if ((r = tls__check(&c->cfg, errbuf, errlen)) != MQE2E_OK)
		goto out;
	co.sendWhileDisconnected = 0;
	hold__paho();
	/* on the maker thread: paho walks these structures of every client
	 * for every packet it reads (maker.c) */
	if ((prc = maker__create(&c->mqtt, c->cfg.broker, c->id, &co)) != MQTTASYNC_SUCCESS) {
		client__fmt(errbuf, errlen, "cannot use broker URI '%s' (%s): give "
		    "tcp://host:port or ssl://host:port", c->cfg.broker, MQTTAsync_strerror(prc));
		c->mqtt = NULL;
		r = MQE2E_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = wake__register(c)) != MQE2E_OK) {
		client__fmt(errbuf, errlen, "out of memory");
		goto out;
	}
	if ((r = session__start_worker(c)) != MQE2E_OK) {
		client__fmt(errbuf, errlen, "cannot start the client thread");
		goto out;
	}
	*out = c;
	c = NULL;
	r = MQE2E_OK;
out:
	mqe2e_client_free(c);
	return r;
}

void
mqe2e_client_free(struct mqe2e_client *c)
{
	struct waiter *w, *next;

	if (c == NULL)
		return;
	if (c->worker_started)
		(void)mqe2e_disconnect(c, 2000);
	session__stop_worker(c);
	cache__unregister(c);           /* the writer no longer touches c */
	if (c->cache_path != NULL)
		cache__flush(c);        /* what the writer had no time for */
	wake__unregister(c);
	memo__wipe();
	if (c->mqtt != NULL)
		MQTTAsync_destroy(&c->mqtt);
	/* paho is gone: no callback can run any more (paho 1.3 runs them with
	 * its mutex held, which MQTTAsync_destroy takes, and calls the failure
	 * callbacks of what is still queued from inside MQTTAsync_destroy) */
	c->link.attempt = NULL;
	for (w = c->waiters; w != NULL; w = next) {
		next = w->next;
		MQTTProperties_free(&w->props);
		mqe2e_hs_client_free(w->hs);
		free(w);
	}
	c->waiters = NULL;
	session__clear(c);
	keys__clear(&c->keys);
	subscribe__free_all(c);
	subscribe__held_free(c);
	pair__free_all(c);
	roster__free_all(c);
	while (c->nrecipients > 0)
		free(c->recipients[--c->nrecipients]);
	free(c->recipients);
	mqe2e_replay_table_free(c->replay);
	mqe2e_replay_table_free(c->frame_replay);
	mqe2e_replay_table_free(c->late_replay);
	trust__put(c->trust);
	mqe2e_http_free(c->kms);
	mqe2e_identity_free(c->ident);
	free(c->cache_path);
	config__clear(&c->cfg);
	pthread_mutex_destroy(&c->kms_mu);
	pthread_mutex_destroy(&c->tls_mu);
	pthread_mutex_destroy(&c->cb_mu);
	pthread_cond_destroy(&c->keys_cv);
	pthread_cond_destroy(&c->link_cv);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	mqe2e_wipe(c, sizeof(*c));
	free(c);
}

void
mqe2e_client_set_error_cb(struct mqe2e_client *c, mqe2e_error_cb cb, void *arg)
{
	pthread_mutex_lock(&c->cb_mu);
	c->err_cb = cb;
	c->err_arg = arg;
	pthread_mutex_unlock(&c->cb_mu);
}

void
mqe2e_client_set_state_cb(struct mqe2e_client *c, mqe2e_state_cb cb, void *arg)
{
	pthread_mutex_lock(&c->cb_mu);
	c->state_cb = cb;
	c->state_arg = arg;
	pthread_mutex_unlock(&c->cb_mu);
}

const char *
mqe2e_client_errmsg(struct mqe2e_client *c, char *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return buf;
	pthread_mutex_lock(&c->mu);
	client__fmt(buf, len, "%s", c->errmsg[0] != '\0' ? c->errmsg : "no error");
	pthread_mutex_unlock(&c->mu);
	return buf;
}

const char *
mqe2e_client_id(const struct mqe2e_client *c)
{
	return c->id;
}

/* Generic paho completions for a waiter (context = the waiter). */
static void
waiter_finish(struct waiter *w, int rc, int reason, const char *text)
{
	struct mqe2e_client *c = w->c;

	pthread_mutex_lock(&c->mu);
	w->done = 1;
	w->rc = rc;
	w->reason = reason;
	client__fmt(w->msg, sizeof(w->msg), "%s", text != NULL ? text : "");
	if (w->abandoned)
		waiter_unlink_free(c, w);
	session__changed(c);
	pthread_mutex_unlock(&c->mu);
}

void
client__on_success(void *ctx, MQTTAsync_successData5 *resp)
{
	int reason = resp != NULL ? (int)resp->reasonCode : 0;

	if (reason >= 0x80)
		waiter_finish(ctx, MQE2E_ERR_DENIED, reason,
		    MQTTReasonCode_toString((enum MQTTReasonCodes)reason));
	else
		waiter_finish(ctx, MQE2E_OK, reason, NULL);
}

void
client__on_failure(void *ctx, MQTTAsync_failureData5 *resp)
{
	char text[CLIENT_ERRMSG_MAX];
	int reason = resp != NULL ? (int)resp->reasonCode : 0;
	int rc = reason >= 0x80 ? MQE2E_ERR_DENIED : MQE2E_ERR_UNAVAILABLE;

	client__fmt(text, sizeof(text), "%s%s%s",
	    reason >= 0x80 ? MQTTReasonCode_toString((enum MQTTReasonCodes)reason) :
	    resp != NULL ? MQTTAsync_strerror(resp->code) : "failed",
	    resp != NULL && resp->message != NULL ? ": " : "",
	    resp != NULL && resp->message != NULL ? resp->message : "");
	waiter_finish(ctx, rc, reason, text);
}

/* Wait (mu held) for w to finish, the deadline to pass, or, if gen is not
 * NULL, the link generation to move away from *gen.  MQE2E_OK when w is
 * done (look at w->rc), MQE2E_ERR_TIMEOUT, or MQE2E_ERR_UNAVAILABLE when
 * the link changed. */
int
client__wait(struct mqe2e_client *c, struct waiter *w, const struct timespec *deadline,
    const uint64_t *gen)
{
	while (!w->done) {
		if (gen != NULL && c->link.gen != *gen)
			return MQE2E_ERR_UNAVAILABLE;
		if (mqe2e_cond_wait_until(&c->cv, &c->mu, deadline) != 0 && !w->done)
			return MQE2E_ERR_TIMEOUT;
	}
	return MQE2E_OK;
}
