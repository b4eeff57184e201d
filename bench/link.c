/*
 * link.c - one MQTT client of the bench, whatever carries it:
 *
 *   plain   paho MQTTAsync, MQTT 5, no security (stock broker)
 *   tls     the conventional model in practice: paho over ssl:// (TLS 1.3
 *           to a stock broker) with an end-to-end layer done here: each
 *           message is sealed with AES-256-GCM under the key of each
 *           publisher-subscriber pair and published once per subscriber on
 *           its own topic bench/tls/ID (a stock broker cannot split a
 *           bundle).  Pair keys are derived by HKDF from a secret of the
 *           bench run: key agreement is not part of what is measured.
 *   s1..s4  libmqe2e: the library seals, frames, verifies and opens.
 *
 * Every call that waits for paho does so through a heap record that the
 * last of the caller and paho's callbacks frees, so a callback arriving
 * after a timeout never touches freed memory.
 */
#include "config.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <MQTTAsync.h>

#include "bench.h"
#include "clock.h"
#include "crypto.h"
#include "hold.h"
#include "mqe2e.h"

#define TLS_NONCE_LEN MQE2E_GCM_NONCE_LEN
#define TLS_OVERHEAD (TLS_NONCE_LEN + MQE2E_GCM_TAG_LEN)

struct peer {
	char topic[BENCH_ID_MAX + 32];
	struct mqe2e_aead *aead;
};

struct link {
	enum bench_kind kind;
	char id[BENCH_ID_MAX + 1];
	char pub_id[BENCH_ID_MAX + 1];
	link_rx_cb cb;
	void *arg;
	struct mqe2e_client *mc;        /* s1..s4 */
	MQTTAsync pc;                   /* plain, tls */
	int pc_made;
	uint64_t spin_ns;               /* plain: CPU to burn per delivery (diagnostic) */
	char ca[BENCH_PATH_MAX];        /* tls: the TLS CA file */
	struct mqe2e_aead *own;         /* tls subscriber: its pair key */
	struct peer *peers;             /* tls publisher: one per subscriber */
	size_t npeers;
	uint64_t ctr;                   /* tls publisher: nonce counter */
	uint8_t *sealbuf;
	size_t sealcap;
	pthread_mutex_t seal_mu;        /* tls publisher: sealbuf, ctr */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned long rx_errors;        /* [mu] */
	char first_error[BENCH_MSG_MAX]; /* [mu] the library's first report */
	int ups;                        /* [mu] mqe2e state callbacks "up" */
};

/* A wait for `outstanding` paho completions. */
struct pwait {
	struct link *l;
	int outstanding;                /* [l->mu] callbacks still to come */
	int caller_gone;                /* [l->mu] */
	int failed;                     /* [l->mu] */
	int reason;                     /* [l->mu] MQTT reason code of a failure */
	char msg[256];                  /* [l->mu] */
};

static struct pwait *
pwait_new(struct link *l, int n)
{
	struct pwait *w = calloc(1, sizeof(*w));

	if (w != NULL) {
		w->l = l;
		w->outstanding = n;
	}
	return w;
}

/* One completion (mu held by the caller of this helper). */
static void
pwait_one(struct pwait *w, int failed, int reason, const char *msg)
{
	struct link *l = w->l;

	if (failed && !w->failed) {
		w->failed = 1;
		w->reason = reason;
		bench_fmt(w->msg, sizeof(w->msg), "%s", msg != NULL ? msg : "failed");
	}
	w->outstanding--;
	if (w->outstanding <= 0 && w->caller_gone)
		free(w);
	else
		pthread_cond_broadcast(&l->cv);
}

static void
on_ok5(void *ctx, MQTTAsync_successData5 *resp)
{
	struct pwait *w = ctx;
	struct link *l = w->l;
	int reason = resp != NULL ? (int)resp->reasonCode : 0;

	pthread_mutex_lock(&l->mu);
	if (reason >= 0x80)
		pwait_one(w, 1, reason, MQTTReasonCode_toString((enum MQTTReasonCodes)reason));
	else
		pwait_one(w, 0, 0, NULL);
	pthread_mutex_unlock(&l->mu);
}

static void
on_fail5(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct pwait *w = ctx;
	struct link *l = w->l;
	char msg[256];

	bench_fmt(msg, sizeof(msg), "%s%s%s",
	    resp != NULL ? MQTTAsync_strerror(resp->code) : "failed",
	    resp != NULL && resp->message != NULL ? ": " : "",
	    resp != NULL && resp->message != NULL ? resp->message : "");
	pthread_mutex_lock(&l->mu);
	pwait_one(w, 1, resp != NULL ? (int)resp->reasonCode : 0, msg);
	pthread_mutex_unlock(&l->mu);
}

/* Wait for w (which the caller gives up): 0, or -1 with errbuf. */
static int
pwait_wait(struct pwait *w, int timeout_ms, const char *what, char *errbuf, size_t errlen)
{
	struct link *l = w->l;
	struct timespec ts;
	int r = 0;

	mqe2e_mono_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&l->mu);
	while (w->outstanding > 0)
		if (mqe2e_cond_wait_until(&l->cv, &l->mu, &ts) != 0)
			break;
	if (w->outstanding > 0) {
		bench_fmt(errbuf, errlen, "%s: no answer within %d ms", what, timeout_ms);
		r = -1;
	} else if (w->failed) {
		bench_fmt(errbuf, errlen, "%s: %s", what, w->msg);
		r = -1;
	}
	if (w->outstanding > 0)
		w->caller_gone = 1;
	else
		free(w);
	pthread_mutex_unlock(&l->mu);
	return r;
}

/*
 * TCP_NODELAY on every TCP socket of this process.  paho.mqtt.c 1.3 leaves
 * Nagle on, so a QoS 0 publish waits for the ACK of the one before, which
 * the broker delays up to 40 ms: latency would measure the TCP stack.
 * Mosquitto sets it on its side (set_tcp_nodelay); the bench sets it on
 * the clients' side for every kind alike, unless --nagle.
 */
int bench_nagle;

void
link_nodelay_all(void)
{
	struct dirent *d;
	int fd, one = 1, type;
	socklen_t sl;
	DIR *dir;

	if (bench_nagle || (dir = opendir("/proc/self/fd")) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		long v;

		if (d->d_name[0] == '.' || bench_parse_long(d->d_name, 0, 1 << 30, &v) != 0)
			continue;
		fd = (int)v;
		sl = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) != 0 || type != SOCK_STREAM)
			continue;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	closedir(dir);
}

int
link_pair_key(const uint8_t secret[32], const char *id, uint8_t key[32])
{
	char info[BENCH_ID_MAX + 32];

	bench_fmt(info, sizeof(info), "mqe2e-bench pair %s", id);
	return mqe2e_hkdf(NULL, 0, secret, 32, (const uint8_t *)info, strlen(info), key, 32) ==
	    MQE2E_OK ? 0 : -1;
}

static void
count_error(struct link *l)
{
	pthread_mutex_lock(&l->mu);
	l->rx_errors++;
	pthread_mutex_unlock(&l->mu);
}

/* paho: a message for a plain or TLS link. */
static int
on_arrived(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
	struct link *l = ctx;
	const uint8_t *in = m->payload;
	size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
	size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
	uint8_t *pt;
	int ok;

	if (l->kind == KIND_PLAIN) {
		if (l->spin_ns > 0) {
			/* --plain-spin-us: a slower subscriber, on paho's receive
			 * thread like scheme 4's checks (BENCHMARKS.md, "Broker CPU
			 * at QoS 1") */
			uint64_t t0 = bench_now_ns();

			while (bench_now_ns() - t0 < l->spin_ns)
				;
		}
		l->cb(l->arg, in, len, 1);
	} else if (len < TLS_OVERHEAD || (pt = malloc(len - TLS_OVERHEAD + 1)) == NULL) {
		l->cb(l->arg, NULL, 0, 0);
	} else {
		/* nonce || ciphertext || tag, the topic as associated data */
		ok = l->own != NULL && mqe2e_aead_open(l->own, in, (const uint8_t *)topic, tlen,
		    in + TLS_NONCE_LEN, len - TLS_NONCE_LEN, pt) == MQE2E_OK;
		l->cb(l->arg, ok ? pt : NULL, ok ? len - TLS_OVERHEAD : 0, ok);
		free(pt);
	}
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void
on_lost(void *ctx, char *cause)
{
	struct link *l = ctx;

	count_error(l);
	(void)l;
	MQTTAsync_free(cause);
}

/* libmqe2e: a verified, decrypted message. */
static void
on_mqe2e_msg(void *arg, const struct mqe2e_message *m)
{
	struct link *l = arg;
	int ok = m->scheme == bench_kind_scheme(l->kind) && strcmp(m->sender, l->pub_id) == 0;

	l->cb(l->arg, m->payload, m->payload_len, ok);
}

static void
on_mqe2e_err(void *arg, const struct mqe2e_error *e)
{
	struct link *l = arg;

	pthread_mutex_lock(&l->mu);
	if (l->first_error[0] == '\0')
		bench_fmt(l->first_error, sizeof(l->first_error), "%s",
		    e->text != NULL ? e->text : mqe2e_strerror(e->code));
	pthread_mutex_unlock(&l->mu);
	count_error(l);
}

/* libmqe2e: the link came up; the library runs this last in its connect
 * callback (see link_connect). */
static void
on_mqe2e_state(void *arg, int up)
{
	struct link *l = arg;

	pthread_mutex_lock(&l->mu);
	if (up)
		l->ups++;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static int
make_mqe2e(struct link *l, const struct link_opts *o, char *errbuf, size_t errlen)
{
	struct mqe2e_config *cfg = NULL;
	char cert[BENCH_PATH_MAX], key[BENCH_PATH_MAX], ca[BENCH_PATH_MAX];
	char group[BENCH_ID_MAX], tls_ca[BENCH_PATH_MAX];
	int r = -1, tls = strncmp(o->uri, "ssl://", 6) == 0;

	bench_fmt(cert, sizeof(cert), "%s/%s.crt", o->pki, o->id);
	bench_fmt(key, sizeof(key), "%s/%s.key", o->pki, o->id);
	bench_fmt(ca, sizeof(ca), "%s/ca.crt", o->pki);
	bench_fmt(tls_ca, sizeof(tls_ca), "%s/tls-ca.crt", o->pki);
	bench_fmt(group, sizeof(group), "%ss%d", bench_prefix, bench_kind_scheme(o->kind));
	if (mqe2e_config_new(&cfg) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "group", group) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "broker", o->uri) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "client_id", o->id) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "cert", cert) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "key", key) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "cafile", ca) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "kms", o->kms_url) != MQE2E_OK ||
	    (o->recipients != NULL &&
	    mqe2e_config_set(cfg, "recipients", o->recipients) != MQE2E_OK) ||
	    (o->no_key_cache && mqe2e_config_set(cfg, "key_cache", "0") != MQE2E_OK) ||
	    /* --mqe2e-tls: the chain is checked, the host name not (the
	     * sub hosts of scenario 3 use other addresses), as the TLS
	     * baseline's links do */
	    (tls && (mqe2e_config_set(cfg, "tls_cafile", tls_ca) != MQE2E_OK ||
	    mqe2e_config_set(cfg, "tls_insecure", "1") != MQE2E_OK))) {
		bench_fmt(errbuf, errlen, "cannot configure client %s", o->id);
		goto out;
	}
	if (mqe2e_client_new(cfg, &l->mc, errbuf, errlen) != MQE2E_OK)
		goto out;
	mqe2e_client_set_error_cb(l->mc, on_mqe2e_err, l);
	mqe2e_client_set_state_cb(l->mc, on_mqe2e_state, l);
	r = 0;
out:
	mqe2e_config_free(cfg);
	return r;
}

static int
make_paho(struct link *l, const struct link_opts *o, char *errbuf, size_t errlen)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	uint8_t key[32];
	int prc;

	co.MQTTVersion = MQTTVERSION_5;
	co.sendWhileDisconnected = 0;
	/* libmqe2e's hold.c: no paho teardown (paho.mqtt.c #1669), and no
	 * line to wake paho through - plain MQTT waits for paho's polls */
	hold__paho_bare();
	/* the TLS publisher queues one copy per subscriber before waiting */
	co.maxBufferedMessages = 1 << 20;
	if ((prc = MQTTAsync_createWithOptions(&l->pc, o->uri, o->id,
	    MQTTCLIENT_PERSISTENCE_NONE, NULL, &co)) != MQTTASYNC_SUCCESS) {
		bench_fmt(errbuf, errlen, "paho: cannot create client %s for %s: %s", o->id,
		    o->uri, MQTTAsync_strerror(prc));
		return -1;
	}
	l->pc_made = 1;
	if (MQTTAsync_setCallbacks(l->pc, l, on_lost, on_arrived, NULL) != MQTTASYNC_SUCCESS) {
		bench_fmt(errbuf, errlen, "paho: cannot set callbacks");
		return -1;
	}
	if (l->kind == KIND_TLS) {
		bench_fmt(l->ca, sizeof(l->ca), "%s/tls-ca.crt", o->pki);
		if (link_pair_key(o->pair_secret, o->id, key) != 0 ||
		    mqe2e_aead_new(key, &l->own) != MQE2E_OK) {
			mqe2e_wipe(key, sizeof(key));
			bench_fmt(errbuf, errlen, "cannot derive the pair key of %s", o->id);
			return -1;
		}
		mqe2e_wipe(key, sizeof(key));
	}
	return 0;
}

int
link_new(const struct link_opts *o, link_rx_cb cb, void *arg, struct link **out,
    char *errbuf, size_t errlen)
{
	struct link *l;
	int r;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		bench_fmt(errbuf, errlen, "out of memory");
		return -1;
	}
	l->kind = o->kind;
	l->spin_ns = o->kind == KIND_PLAIN && o->spin_us > 0 ? (uint64_t)o->spin_us * 1000 : 0;
	l->cb = cb;
	l->arg = arg;
	bench_fmt(l->id, sizeof(l->id), "%s", o->id);
	bench_pub_id(l->pub_id, sizeof(l->pub_id));
	pthread_mutex_init(&l->mu, NULL);
	pthread_mutex_init(&l->seal_mu, NULL);
	(void)mqe2e_cond_init_mono(&l->cv);
	r = bench_kind_scheme(o->kind) != 0 ? make_mqe2e(l, o, errbuf, errlen) :
	    make_paho(l, o, errbuf, errlen);
	if (r != 0) {
		link_free(l);
		return -1;
	}
	*out = l;
	return 0;
}

void
link_free(struct link *l)
{
	size_t i;

	if (l == NULL)
		return;
	mqe2e_client_free(l->mc);
	if (l->pc_made)
		MQTTAsync_destroy(&l->pc);
	mqe2e_aead_free(l->own);
	for (i = 0; i < l->npeers; i++)
		mqe2e_aead_free(l->peers[i].aead);
	free(l->peers);
	free(l->sealbuf);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	pthread_mutex_destroy(&l->seal_mu);
	free(l);
}

int
link_connect(struct link *l, int timeout_ms, char *errbuf, size_t errlen)
{
	MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
	MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
	struct pwait *w;
	char what[128];
	int r, prc;

	if (l->mc != NULL) {
		uint64_t t0 = bench_now_ns();

		/* as an application does: the library fetches the keys while
		 * the broker handshake runs (the KMS part is not timed apart) */
		if ((r = mqe2e_connect(l->mc, timeout_ms)) != MQE2E_OK) {
			char why[256];

			bench_fmt(errbuf, errlen, "%s: connect: %s", l->id,
			    mqe2e_client_errmsg(l->mc, why, sizeof(why)));
			return -1;
		}
		/*
		 * mqe2e_connect() returns while paho's connect callback is still
		 * running inside libmqe2e (renewing subscriptions under the
		 * client's lock, with paho's own lock held).  A disconnect in
		 * that window deadlocks libmqe2e (mqe2e_disconnect calls into
		 * paho under the client's lock), so wait for the state
		 * callback, which the library runs last.
		 */
		struct timespec ts;

		mqe2e_mono_deadline(&ts, 2000);
		pthread_mutex_lock(&l->mu);
		while (l->ups == 0)
			if (mqe2e_cond_wait_until(&l->cv, &l->mu, &ts) != 0)
				break;
		pthread_mutex_unlock(&l->mu);
		if (getenv("BENCH_DEBUG_CONNECT") != NULL && bench_now_ns() - t0 > 500000000u)
			bench_log("%s: keys and connect %.1f ms", l->id,
			    (double)(bench_now_ns() - t0) / 1e6);
		return 0;
	}
	if ((w = pwait_new(l, 1)) == NULL)
		return -1;
	o.keepAliveInterval = 60;
	o.cleanstart = 1;
	o.connectTimeout = timeout_ms < 1000 ? 1 : timeout_ms / 1000;
	o.automaticReconnect = 0;
	/* the TLS publisher has one QoS 1 copy per subscriber in flight at once */
	o.maxInflight = 65535;
	o.onSuccess5 = on_ok5;
	o.onFailure5 = on_fail5;
	o.context = w;
	if (l->kind == KIND_TLS) {
		ssl.trustStore = l->ca;
		ssl.enableServerCertAuth = 1;
		ssl.sslVersion = MQTT_SSL_VERSION_DEFAULT;
		o.ssl = &ssl;
	}
	if ((prc = MQTTAsync_connect(l->pc, &o)) != MQTTASYNC_SUCCESS) {
		free(w);
		bench_fmt(errbuf, errlen, "%s: connect: %s", l->id, MQTTAsync_strerror(prc));
		return -1;
	}
	bench_fmt(what, sizeof(what), "%s: connect", l->id);
	return pwait_wait(w, timeout_ms, what, errbuf, errlen);
}

int
link_subscribe(struct link *l, const char *topic, int qos, int timeout_ms, char *errbuf,
    size_t errlen)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct pwait *w;
	char what[128];
	int r, prc;

	if (l->mc != NULL) {
		if ((r = mqe2e_subscribe(l->mc, topic, qos, on_mqe2e_msg, l, timeout_ms)) !=
		    MQE2E_OK) {
			char why[256];

			bench_fmt(errbuf, errlen, "%s: subscribe %s: %s", l->id, topic,
			    mqe2e_client_errmsg(l->mc, why, sizeof(why)));
			return -1;
		}
		return 0;
	}
	if ((w = pwait_new(l, 1)) == NULL)
		return -1;
	ro.onSuccess5 = on_ok5;
	ro.onFailure5 = on_fail5;
	ro.context = w;
	if ((prc = MQTTAsync_subscribe(l->pc, topic, qos, &ro)) != MQTTASYNC_SUCCESS) {
		free(w);
		bench_fmt(errbuf, errlen, "%s: subscribe: %s", l->id, MQTTAsync_strerror(prc));
		return -1;
	}
	bench_fmt(what, sizeof(what), "%s: subscribe %s", l->id, topic);
	return pwait_wait(w, timeout_ms, what, errbuf, errlen);
}

void
link_disconnect(struct link *l)
{
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
	struct pwait *w;
	char err[256];

	if (l->mc != NULL) {
		(void)mqe2e_disconnect(l->mc, 2000);
		return;
	}
	if (!MQTTAsync_isConnected(l->pc) || (w = pwait_new(l, 1)) == NULL)
		return;
	d.timeout = 2000;
	d.onSuccess5 = on_ok5;
	d.onFailure5 = on_fail5;
	d.context = w;
	if (MQTTAsync_disconnect(l->pc, &d) != MQTTASYNC_SUCCESS) {
		free(w);
		return;
	}
	(void)pwait_wait(w, 3000, "disconnect", err, sizeof(err));
}

int
link_set_peer_keys(struct link *l, const uint8_t secret[32], char *const *ids, size_t n)
{
	char prefix[BENCH_ID_MAX + 32];
	uint8_t key[32];
	size_t i;

	if (l->kind != KIND_TLS || l->peers != NULL || n == 0)
		return -1;
	if ((l->peers = calloc(n, sizeof(*l->peers))) == NULL)
		return -1;
	l->npeers = n;
	bench_topic(KIND_TLS, prefix, sizeof(prefix));
	for (i = 0; i < n; i++) {
		bench_fmt(l->peers[i].topic, sizeof(l->peers[i].topic), "%s%s", prefix, ids[i]);
		if (link_pair_key(secret, ids[i], key) != 0 ||
		    mqe2e_aead_new(key, &l->peers[i].aead) != MQE2E_OK) {
			mqe2e_wipe(key, sizeof(key));
			return -1;
		}
	}
	mqe2e_wipe(key, sizeof(key));
	return 0;
}

static int
send_one(struct link *l, struct pwait *w, const char *topic, const void *p, size_t len,
    int qos)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTAsync_message m = MQTTAsync_message_initializer;

	m.payload = (void *)p;
	m.payloadlen = (int)len;
	m.qos = qos;
	m.retained = 0;
	ro.onSuccess5 = on_ok5;
	ro.onFailure5 = on_fail5;
	ro.context = w;
	return MQTTAsync_sendMessage(l->pc, topic, &m, &ro);
}

int
link_publish(struct link *l, const char *topic, const uint8_t *pt, size_t len, int qos,
    int timeout_ms, char *errbuf, size_t errlen)
{
	struct pwait *w;
	uint8_t nonce[TLS_NONCE_LEN];
	uint64_t ctr;
	size_t i, n = l->kind == KIND_TLS ? l->npeers : 1;
	int r, prc, k;

	if (l->mc != NULL) {
		if ((r = mqe2e_publish(l->mc, topic, pt, len, qos, 0, timeout_ms)) != MQE2E_OK) {
			char why[256];

			bench_fmt(errbuf, errlen, "publish: %s",
			    mqe2e_client_errmsg(l->mc, why, sizeof(why)));
			return -1;
		}
		return 0;
	}
	if (n == 0 || (w = pwait_new(l, (int)n)) == NULL) {
		bench_fmt(errbuf, errlen, "publish: no peers or out of memory");
		return -1;
	}
	pthread_mutex_lock(&l->seal_mu);
	if (l->kind == KIND_TLS && l->sealcap < len + TLS_OVERHEAD) {
		free(l->sealbuf);
		l->sealcap = 0;
		if ((l->sealbuf = malloc(len + TLS_OVERHEAD)) == NULL) {
			pthread_mutex_unlock(&l->seal_mu);
			free(w);
			return -1;
		}
		l->sealcap = len + TLS_OVERHEAD;
	}
	for (i = 0; i < n; i++) {
		if (l->kind == KIND_TLS) {
			/* nonce: 4 zero bytes and a 64-bit counter, never repeated
			 * under one pair key */
			ctr = ++l->ctr;
			memset(nonce, 0, sizeof(nonce));
			for (k = 0; k < 8; k++)
				nonce[4 + k] = (uint8_t)(ctr >> (56 - 8 * k));
			memcpy(l->sealbuf, nonce, sizeof(nonce));
			topic = l->peers[i].topic;
			if (mqe2e_aead_seal(l->peers[i].aead, nonce, (const uint8_t *)topic,
			    strlen(topic), pt, len, l->sealbuf + TLS_NONCE_LEN) != MQE2E_OK) {
				prc = MQTTASYNC_FAILURE;
			} else {
				prc = send_one(l, w, topic, l->sealbuf, len + TLS_OVERHEAD, qos);
			}
		} else {
			prc = send_one(l, w, topic, pt, len, qos);
		}
		if (prc != MQTTASYNC_SUCCESS) {
			pthread_mutex_lock(&l->mu);
			pwait_one(w, 1, 0, MQTTAsync_strerror(prc));
			pthread_mutex_unlock(&l->mu);
		}
	}
	pthread_mutex_unlock(&l->seal_mu);
	return pwait_wait(w, timeout_ms, "publish", errbuf, errlen);
}

/* How many reports the link's library made (refused deliveries, pairings
 * not completed, ...), and the first of them if first != NULL. */
unsigned long
link_rx_errors(struct link *l, char *first, size_t firstlen)
{
	unsigned long n;

	pthread_mutex_lock(&l->mu);
	n = l->rx_errors;
	if (first != NULL)
		bench_fmt(first, firstlen, "%s", l->first_error);
	pthread_mutex_unlock(&l->mu);
	return n;
}
