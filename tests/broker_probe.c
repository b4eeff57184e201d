/*
 * broker_probe.c - test tool for mqe2e_plugin.so: a minimal mqe2e client on
 * paho MQTTAsync (MQTT 5) and the protocol core, which can also misbehave.
 *
 *   broker_probe connect|pub|sub [options]
 *
 * connect   CONNECT with the mqe2e handshake, verify the CONNACK reply,
 *           print "connected" (exit 0) or "refused rc=N" (exit 2).
 * pub       connect, fetch GK_P from the KMS, publish --count messages on
 *           --topic (scheme 3 or 4 framing, QoS 1) and print one line per
 *           PUBACK: "puback I rc=N".  Schemes 1/2 (--scheme 1|2) send a
 *           BUNDLE with one pairwise envelope per --recipients id, sealed
 *           under a fixed test key per pair (the broker never opens them;
 *           the real pairing handshake is the client library's business).
 * sub       connect, fetch GK_P/GK_B from the KMS, subscribe to --topic and
 *           print one line per message: "recv TOPIC TEXT" when the broker's
 *           frame (GK_B, or for scheme 2 this connection's SK_CB b2c) and
 *           the E2E envelope verify (then "epoch E": the GK_B epoch of a
 *           group frame), "bad REASON" otherwise;
 *           ends after --count good messages or --timeout ms.  With
 *           --inbox it first subscribes to its pairing request inbox, as a
 *           scheme 1/2 subscriber does (that puts it on the group's roster),
 *           and prints "pairreq TOPIC" for each request (never answered).  With --plain
 *           (no mqe2e, plugin_opt_allow_plain) prints "raw TOPIC LEN HEX16".
 *
 * pairreq   connect, then publish --count signed PAIR_REQUESTs of mine for
 *           --group to the inbox of --other-id (mqe2e/v1/pair/req/<id>), one
 *           line per PUBACK as for pub (a flood of valid requests).
 *
 * pairpub   really pair with --other-id for each group of --group G1,G2
 *           at one generation (--epoch), then send one scheme 1 message per
 *           group on the matching topic of --topic T1,T2 under that K_E2E.
 *
 * stage     (issue 9.7) over a raw MQTT 5 socket (paho always answers PUBREC
 *           at once): connect, publish --count QoS 2 messages (scheme 3/4
 *           framing), print "pubrec I rc=N" for each, then "staged"; wait
 *           for a line on stdin, send the PUBRELs, print "pubcomp I".
 *
 * Publish options: --retain, --props (user property, content type and
 * response topic on every publish), --raw (the --message bytes as they are,
 * no mqe2e framing).  sub prints "props N" before a message that carries N
 * MQTT 5 properties.  connect --will-bundle: a scheme 1 BUNDLE for
 * --recipients as the will on --topic; stays connected for --timeout ms.
 * connect --stay: stays connected for --timeout ms after "connected",
 * subscribed to nothing (not even its pairing inboxes).
 *
 * keys      fetch my keys from the KMS and write them (a KEY_BUNDLE) to
 *           --keys FILE; pub and sub with --keys FILE read them from there
 *           instead of asking the KMS (tests with the KMS down).
 *
 * Attacks (--attack), each expected to be refused by the broker:
 *   tamper-envelope  flip a ciphertext byte of the envelope after MACing
 *   tamper-mac       flip a byte of the channel MAC
 *   replay           send every message twice, byte for byte
 *   other-sender     envelope names --other-id as its sender (MAC is valid)
 *   frame-sender     channel frame names --other-id as its sender
 *   wrong-pair       (schemes 1/2) a part under the pair key of --other-id
 *   stale-ts         CONNECT hello timestamped 10 minutes ago
 *   reuse-nonce      (connect) two CONNECTs with the same hello bytes
 *   flood            (connect) --count valid CONNECTs, each with a fresh hello
 *                    dated 5 s ahead, back to back; prints "flood ok=N
 *                    refused=M" (exit 0)
 *   id-mismatch      MQTT client id --other-id, certificate of --cert
 * and one the broker passes (within its look-ahead) for subscribers to refuse:
 *   epoch-walk       (pub) message i names epoch --epoch + i, under a random
 *                    key: a granted publisher making epochs up
 *
 * --broker-id ID: the CONNECT hello names that broker (docs/PROTOCOL.md 2.2).
 *
 * Exit: 0 ok, 2 connection refused, 3 other failure, 1 usage.
 */
#include "config.h"

#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <MQTTAsync.h>

#include "crypto.h"
#include "handshake.h"
#include "hold.h"
#include "http.h"
#include "kmsreq.h"
#include "replay.h"
#include "wire.h"

enum mode { M_CONNECT, M_PUB, M_SUB, M_KEYS, M_STAGE, M_PAIRREQ, M_PAIRPUB };

struct opts {
	enum mode mode;
	int port;
	const char *id;              /* MQTT client id (default: certificate CN) */
	const char *cert, *key, *ca, *kms;
	const char *topic, *group, *message, *attack, *other_id;
	const char *recipients;      /* schemes 1/2: comma-separated ids */
	const char *keys_file;       /* keys: write here; pub/sub: read instead of the KMS */
	const char *broker_id;       /* the broker the hello names (NULL: any) */
	int count, timeout_ms, scheme, qos;
	long epoch;                  /* -1: pick */
	int plain;
	int retain, props, raw, will_bundle, stay, inbox;
};

struct probe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;                    /* connect/subscribe finished */
	int ok;
	int rc;                      /* reason code */
	uint8_t *auth;               /* CONNACK authentication data */
	size_t auth_len;
	int acks;                    /* PUBACKs seen */
	int good;                    /* verified messages received */
	int lost;
	const struct opts *o;
	struct mqe2e_identity *self;
	struct mqe2e_trust *trust;
	struct mqe2e_keybundle kb;       /* the key bundle from the KMS or --keys */
	char broker_id[MQE2E_ID_MAX + 1];
	struct mqe2e_replay_table *replay;
	struct mqe2e_session_keys sk;    /* this connection's SK_CB */
	uint32_t last_epoch;             /* GK_B epoch of the last group frame */
	uint8_t *pair_resp;              /* pairpub: the PAIR_RESPONSE that came */
	size_t pair_resp_len;
};

static void die(const char *what, int r) __attribute__((noreturn));
static void usage(void) __attribute__((noreturn));

static void die(const char *what, int r)
{
	fprintf(stderr, "broker_probe: %s: %s\n", what, mqe2e_strerror(r));
	exit(3);
}

static void usage(void)
{
	fprintf(stderr, "usage: broker_probe connect|pub|sub|keys --port P --cert C --key K --ca CA "
	    "[--kms URL] [--id ID] [--topic T] [--group G] [--epoch E] [--scheme 3|4] [--count N] "
	    "[--message TEXT] [--timeout MS] [--attack NAME] [--other-id ID] [--plain] [--qos Q] "
	    "[--recipients ID,...] [--keys FILE] [--broker-id ID] [--stay] [--inbox]\n"
	    "       (modes also pairreq, pairpub, stage)\n");
	exit(1);
}

static long num(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
		usage();
	return v;
}

/*
 * Wait until p->done or ms have passed.  Every 5 ms meanwhile the probe
 * wakes paho's receive thread down hold.c's line, as libmqe2e's waker does
 * while a client connects: the probe connects one client after another, and
 * paho would otherwise notice each new socket only at the end of its 1 s poll.
 */
static void wait_done(struct probe *p, int ms)
{
	struct timespec ts;
	int left;

	pthread_mutex_lock(&p->lock);
	for (left = ms; !p->done && left > 0; left -= 5) {
		pthread_mutex_unlock(&p->lock);
		(void)hold__wake();
		pthread_mutex_lock(&p->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!p->done && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&p->lock);
}

static void finish(struct probe *p, int ok, int rc)
{
	pthread_mutex_lock(&p->lock);
	p->done = 1;
	p->ok = ok;
	p->rc = rc;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* ---- connect ---------------------------------------------------------------- */
static void on_connect(void *ctx, MQTTAsync_successData5 *r)
{
	struct probe *p = ctx;
	MQTTProperty *ad = MQTTProperties_getProperty(&r->properties,
	    MQTTPROPERTY_CODE_AUTHENTICATION_DATA);

	if (ad != NULL && ad->value.data.len > 0) {
		p->auth = malloc((size_t)ad->value.data.len);
		if (p->auth != NULL) {
			memcpy(p->auth, ad->value.data.data, (size_t)ad->value.data.len);
			p->auth_len = (size_t)ad->value.data.len;
		}
	}
	finish(p, 1, r->reasonCode);
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
	/* paho reports a refusing CONNACK's reason code in r->code for MQTT 5
	 * (as a positive value), and sometimes in r->reasonCode. */
	int rc = -1;

	if (r != NULL)
		rc = r->reasonCode != 0 ? (int)r->reasonCode : r->code;
	finish(ctx, 0, rc);
}

static void on_lost(void *ctx, char *cause)
{
	struct probe *p = ctx;

	(void)cause;
	pthread_mutex_lock(&p->lock);
	p->lost = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	printf("lost\n");
	fflush(stdout);
}

/* The broker sent DISCONNECT (MQTT 5), e.g. a kick after revocation. */
static void on_disconnected(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
	(void)props;
	printf("disconnected rc=%d\n", (int)rc);
	on_lost(ctx, NULL);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m);

/* connect --will-bundle: the will's payload (built before connecting). */
static uint8_t *will_payload;
static size_t will_len;

/* Connect; hello NULL for a plain CONNECT.  Returns 1 if connected. */
static int do_connect(MQTTAsync *c, struct probe *p, const char *cid, const uint8_t *hello,
    size_t hello_len)
{
	MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer5;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty prop;
	char uri[64];

	snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", p->o->port);
	hold__paho();	/* client/hold.c: no paho teardown race (paho.mqtt.c #1669) */
	if (MQTTAsync_createWithOptions(c, uri, cid, MQTTCLIENT_PERSISTENCE_NONE, NULL, &co)
	    != MQTTASYNC_SUCCESS)
		die("MQTTAsync_create", MQE2E_ERR_INTERNAL);
	MQTTAsync_setCallbacks(*c, p, on_lost, on_message, NULL);
	MQTTAsync_setDisconnected(*c, p, on_disconnected);
	if (hello != NULL) {
		memset(&prop, 0, sizeof(prop));
		prop.identifier = MQTTPROPERTY_CODE_AUTHENTICATION_METHOD;
		prop.value.data.data = (char *)MQE2E_AUTH_METHOD;
		prop.value.data.len = (int)strlen(MQE2E_AUTH_METHOD);
		MQTTProperties_add(&props, &prop);
		prop.identifier = MQTTPROPERTY_CODE_AUTHENTICATION_DATA;
		prop.value.data.data = (char *)hello;
		prop.value.data.len = (int)hello_len;
		MQTTProperties_add(&props, &prop);
		opts.connectProperties = &props;
	}
	if (will_payload != NULL) {
		static MQTTAsync_willOptions wo = MQTTAsync_willOptions_initializer;

		wo.topicName = p->o->topic;
		wo.payload.data = will_payload;
		wo.payload.len = (int)will_len;
		wo.qos = 1;
		wo.retained = 1;
		opts.will = &wo;
	}
	opts.cleanstart = 1;
	opts.keepAliveInterval = 30;
	opts.connectTimeout = 5;
	opts.onSuccess5 = on_connect;
	opts.onFailure5 = on_connect_fail;
	opts.context = p;
	p->done = 0;
	if (MQTTAsync_connect(*c, &opts) != MQTTASYNC_SUCCESS)
		die("MQTTAsync_connect", MQE2E_ERR_UNAVAILABLE);
	MQTTProperties_free(&props);
	wait_done(p, 8000);
	if (!p->done)
		die("connect timed out", MQE2E_ERR_TIMEOUT);
	return p->ok;
}

static void disconnect(MQTTAsync *c)
{
	MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;

	d.timeout = 1000;
	MQTTAsync_disconnect(*c, &d);
	usleep(200000);
	MQTTAsync_destroy(c);
}

/* mqe2e connect; on success the session keys are in *keys. */
static int mqe2e_connect(MQTTAsync *c, struct probe *p, struct mqe2e_session_keys *keys,
    int stale)
{
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_peer broker;
	uint8_t *hello = NULL;
	size_t hello_len = 0;
	uint64_t now = mqe2e_now_ms() - (stale ? 600000u : 0u);
	int r;

	if ((r = mqe2e_hs_client_start(p->self, p->o->broker_id, now, &hs, &hello,
	    &hello_len)) != MQE2E_OK)
		die("hello", r);
	if (!do_connect(c, p, p->o->id, hello, hello_len)) {
		printf("refused rc=%d\n", p->rc);
		free(hello);
		mqe2e_hs_client_free(hs);
		return 0;
	}
	free(hello);
	if (p->auth == NULL)
		die("CONNACK without authentication data", MQE2E_ERR_TRUNCATED);
	if ((r = mqe2e_hs_client_finish(hs, p->trust, p->auth, p->auth_len, mqe2e_now_ms(), keys,
	    &broker)) != MQE2E_OK)
		die("CONNACK reply", r);
	memcpy(p->broker_id, broker.id, sizeof(p->broker_id));
	mqe2e_hs_client_free(hs);
	printf("connected broker=%s\n", broker.id);
	fflush(stdout);
	return 1;
}

/* ---- keys from the KMS --------------------------------------------------------- */
static void fetch_keys(struct probe *p)
{
	struct mqe2e_kmsreq kr;
	struct mqe2e_http_req rq;
	struct mqe2e_http_response resp;
	struct mqe2e_http *http = NULL;
	int r;

	if (p->o->kms == NULL)
		die("--kms is needed", MQE2E_ERR_INVALID_ARG);
	memset(&resp, 0, sizeof(resp));
	memset(&kr, 0, sizeof(kr));
	memset(&rq, 0, sizeof(rq));
	if ((r = mqe2e_http_new(p->o->kms, p->o->ca, 0, &http, resp.error, sizeof(resp.error))) !=
	    MQE2E_OK)
		die(resp.error, r);
	/* signed afresh for every attempt, as the plugin and the library do */
	kr.id = p->self;
	rq.path = "/v1/keys";
	rq.timeout_ms = 10000;
	rq.cancel_fd = -1;
	if ((r = mqe2e_kmsreq_post(http, &rq, &kr, &resp)) != MQE2E_OK)
		die(resp.error, r);
	if (resp.status != 200) {
		fprintf(stderr, "broker_probe: KMS HTTP %d: %s\n", resp.status,
		    resp.body ? (char *)resp.body : "");
		exit(3);
	}
	if ((r = mqe2e_keyresp_open(kr.st, p->trust, resp.body, resp.body_len, mqe2e_now_ms(),
	    &p->kb)) != MQE2E_OK)
		die("key response", r);
	mqe2e_http_response_free(&resp);
	mqe2e_http_free(http);
	mqe2e_kmsreq_clear(&kr);
}

static void save_keys(struct probe *p, const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if ((r = mqe2e_keybundle_encode(&p->kb, &buf, &len)) != MQE2E_OK)
		die("encode keys", r);
	if ((f = fopen(path, "wb")) == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		die(path, MQE2E_ERR_IO);
	mqe2e_free_secret(buf, len);
}

static void load_keys(struct probe *p, const char *path)
{
	uint8_t buf[65536];
	size_t len;
	FILE *f;
	int r;

	if ((f = fopen(path, "rb")) == NULL)
		die(path, MQE2E_ERR_IO);
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if ((r = mqe2e_keybundle_decode(buf, len, &p->kb)) != MQE2E_OK)
		die(path, r);
	mqe2e_wipe(buf, len);
}

/* Keys from --keys FILE or the KMS. */
static void get_keys(struct probe *p)
{
	if (p->o->keys_file != NULL)
		load_keys(p, p->o->keys_file);
	else
		fetch_keys(p);
}

/* The key of kind for group at epoch (epoch < 0: the newest one in force). */
static const struct mqe2e_key_entry *find_key(struct probe *p, const char *group, uint8_t kind,
    long epoch)
{
	const struct mqe2e_key_entry *best = NULL;
	uint64_t now = mqe2e_now_ms();
	size_t i;

	for (i = 0; i < p->kb.nkeys; i++) {
		const struct mqe2e_key_entry *e = &p->kb.keys[i];

		if (e->kind != kind || strcmp(e->group, group) != 0)
			continue;
		if (epoch >= 0) {
			if (e->epoch == (uint32_t)epoch)
				return e;
			continue;
		}
		if (e->not_before_ms > now || (e->not_after_ms != 0 && e->not_after_ms < now))
			continue;
		if (best == NULL || e->epoch > best->epoch)
			best = e;
	}
	return best;
}

/* ---- subscriber -------------------------------------------------------------------- */
static void hex16(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n && i < 16; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * i] = '\0';
}

/* The fixed test key of a pair: SHA-256("mqe2e test pair " || pair id). */
static struct mqe2e_aead *pair_key(const uint8_t *pair_id, size_t len)
{
	static const char label[] = "mqe2e test pair ";
	uint8_t buf[sizeof(label) + MQE2E_KEYNAME_MAX], k[MQE2E_SHA256_LEN];
	struct mqe2e_aead *a = NULL;

	if (len > MQE2E_KEYNAME_MAX)
		return NULL;
	memcpy(buf, label, sizeof(label) - 1);
	memcpy(buf + sizeof(label) - 1, pair_id, len);
	if (mqe2e_sha256(buf, sizeof(label) - 1 + len, k) != MQE2E_OK || mqe2e_aead_new(k, &a) != MQE2E_OK)
		a = NULL;
	mqe2e_wipe(k, sizeof(k));
	return a;
}

/* Schemes 1/2: a pairwise envelope addressed to me. */
static const char *open_pairwise(struct probe *p, const char *topic, const uint8_t *ep, size_t elen,
    char *text, size_t text_cap)
{
	struct mqe2e_envelope env;
	struct mqe2e_aead *a;
	char want[MQE2E_KEYNAME_MAX + 1], sender[MQE2E_ID_MAX + 1];
	int r;

	if (mqe2e_envelope_decode(ep, elen, &env) != MQE2E_OK)
		return "envelope-malformed";
	/* "sender|me|group": the group given, or any */
	if (env.key_kind != MQE2E_KEY_PAIR || mqe2e_view_to_str(env.sender, sender, sizeof(sender)) != MQE2E_OK ||
	    mqe2e_pair_id(sender, p->self->id, p->o->group ? p->o->group : "-", want,
	    sizeof(want)) != MQE2E_OK ||
	    (p->o->group != NULL ? !mqe2e_view_eq_str(env.key_name, want) :
	    env.key_name.len < strlen(want) || memcmp(env.key_name.p, want, strlen(want) - 1) != 0))
		return "envelope-not-for-me";
	if (env.ct.len - MQE2E_GCM_TAG_LEN + 1 > text_cap)
		return "too-long";
	if ((a = pair_key(env.key_name.p, env.key_name.len)) == NULL)
		return "internal";
	r = mqe2e_envelope_open(a, &env, topic, strlen(topic), (uint8_t *)text);
	mqe2e_aead_free(a);
	if (r != MQE2E_OK)
		return "envelope-tag";
	text[env.ct.len - MQE2E_GCM_TAG_LEN] = '\0';
	return NULL;
}

/* Scheme 2: an AEAD frame under my SK_CB b2c from the broker. */
static const char *open_session_frame(struct probe *p, const char *topic, const struct mqe2e_frame *f,
    char *text, size_t text_cap)
{
	struct mqe2e_aead *a = NULL;
	uint8_t *pt = NULL;
	const char *bad = NULL;

	if (f->type != MQE2E_MSG_FRAME_AEAD || !mqe2e_view_eq_str(f->sender, p->broker_id))
		return "session-frame-header";
	if (f->body.len < MQE2E_GCM_TAG_LEN || (pt = malloc(f->body.len)) == NULL ||
	    mqe2e_aead_new(p->sk.b2c, &a) != MQE2E_OK) {
		free(pt);
		return "internal";
	}
	if (mqe2e_replay_table_check(p->replay, f->sender.p, f->sender.len, f->key_kind, NULL, 0, 0,
	    f->seq) != MQE2E_OK)
		bad = "session-frame-replay";
	else if (mqe2e_frame_aead_open(a, f, topic, strlen(topic), pt) != MQE2E_OK)
		bad = "session-frame-aead";
	else if (mqe2e_replay_table_accept(p->replay, f->sender.p, f->sender.len, f->key_kind, NULL, 0,
	    0, f->seq) != MQE2E_OK)
		bad = "session-frame-replay";
	else
		bad = open_pairwise(p, topic, pt, f->body.len - MQE2E_GCM_TAG_LEN, text, text_cap);
	mqe2e_aead_free(a);
	free(pt);
	return bad;
}

static const char *verify_message(struct probe *p, const char *topic, const uint8_t *pl,
    size_t len, char *text, size_t text_cap)
{
	struct mqe2e_frame f;
	struct mqe2e_envelope env;
	const struct mqe2e_key_entry *kb, *kp;
	struct mqe2e_mac *mac = NULL;
	struct mqe2e_aead *aead = NULL;
	char group[MQE2E_ID_MAX + 1];
	uint8_t *pt = NULL;
	const uint8_t *ep;
	size_t elen;
	const char *bad = NULL;

	if (len >= 2 && pl[1] == MQE2E_MSG_ENVELOPE)
		return open_pairwise(p, topic, pl, len, text, text_cap);   /* scheme 1 */
	if (mqe2e_frame_decode(pl, len, &f) != MQE2E_OK)
		return "frame-malformed";
	if (f.key_kind == MQE2E_KEY_SESSION)
		return open_session_frame(p, topic, &f, text, text_cap);    /* scheme 2 */
	if (f.key_kind != MQE2E_KEY_GROUP || mqe2e_view_to_str(f.key_name, group, sizeof(group)) != MQE2E_OK)
		return "frame-not-group";
	if (!mqe2e_view_eq_str(f.sender, p->broker_id))
		return "frame-sender-not-broker";
	if ((kb = find_key(p, group, MQE2E_GK_B, f.epoch)) == NULL)
		return "no-gk-b";
	p->last_epoch = f.epoch;
	if (mqe2e_replay_table_check(p->replay, f.sender.p, f.sender.len, f.key_kind, f.key_name.p,
	    f.key_name.len, f.epoch, f.seq) != MQE2E_OK)
		return "frame-replay";
	if (f.type == MQE2E_MSG_FRAME_MAC) {
		if (mqe2e_mac_new(kb->key, MQE2E_KEY_LEN, &mac) != MQE2E_OK)
			return "internal";
		if (mqe2e_frame_mac_verify(mac, &f, topic, strlen(topic)) != MQE2E_OK) {
			bad = "frame-mac";
			goto out;
		}
		ep = f.body.p;
		elen = f.body.len;
	} else {
		if (mqe2e_aead_new(kb->key, &aead) != MQE2E_OK || f.body.len < MQE2E_GCM_TAG_LEN ||
		    (pt = malloc(f.body.len)) == NULL) {
			bad = "internal";
			goto out;
		}
		if (mqe2e_frame_aead_open(aead, &f, topic, strlen(topic), pt) != MQE2E_OK) {
			bad = "frame-aead";
			goto out;
		}
		ep = pt;
		elen = f.body.len - MQE2E_GCM_TAG_LEN;
	}
	if (mqe2e_replay_table_accept(p->replay, f.sender.p, f.sender.len, f.key_kind, f.key_name.p,
	    f.key_name.len, f.epoch, f.seq) != MQE2E_OK) {
		bad = "frame-replay";
		goto out;
	}
	mqe2e_aead_free(aead);
	aead = NULL;
	if (mqe2e_envelope_decode(ep, elen, &env) != MQE2E_OK) {
		bad = "envelope-malformed";
		goto out;
	}
	if ((kp = find_key(p, group, MQE2E_GK_P, env.epoch)) == NULL) {
		bad = "no-gk-p";
		goto out;
	}
	if (env.ct.len - MQE2E_GCM_TAG_LEN + 1 > text_cap) {
		bad = "too-long";
		goto out;
	}
	if (mqe2e_aead_new(kp->key, &aead) != MQE2E_OK ||
	    mqe2e_envelope_open(aead, &env, topic, strlen(topic), (uint8_t *)text) != MQE2E_OK) {
		bad = "envelope-tag";
		goto out;
	}
	text[env.ct.len - MQE2E_GCM_TAG_LEN] = '\0';
out:
	mqe2e_mac_free(mac);
	mqe2e_aead_free(aead);
	free(pt);
	return bad;
}

/* 1 if m is a broker frame under a group key (schemes 3/4). */
static int len_is_group(const MQTTAsync_message *m)
{
	struct mqe2e_frame f;

	return mqe2e_frame_decode(m->payload, (size_t)m->payloadlen, &f) == MQE2E_OK &&
	    f.key_kind == MQE2E_KEY_GROUP;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
	struct probe *p = ctx;
	char text[4096], hx[33];
	const char *bad = NULL;

	(void)topic_len;
	if (strncmp(topic, "mqe2e/v1/pair/resp/", 19) == 0) {
		/* pairpub: the answer to our pairing request */
		pthread_mutex_lock(&p->lock);
		free(p->pair_resp);
		if ((p->pair_resp = malloc((size_t)m->payloadlen + 1)) != NULL) {
			memcpy(p->pair_resp, m->payload, (size_t)m->payloadlen);
			p->pair_resp_len = (size_t)m->payloadlen;
		}
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		MQTTAsync_freeMessage(&m);
		MQTTAsync_free(topic);
		return 1;
	}
	if (strncmp(topic, "mqe2e/v1/pair/req/", 18) == 0) {
		/* sub --inbox: a pairing request, which the probe does not answer */
		printf("pairreq %s\n", topic);
		fflush(stdout);
		MQTTAsync_freeMessage(&m);
		MQTTAsync_free(topic);
		return 1;
	}
	if (m->properties.count > 0)
		printf("props %d\n", m->properties.count);
	if (strncmp(topic, "mqe2e/v1/roster/", 16) == 0) {
		/* The broker's roster of a scheme 1/2 group: ids, one per line. */
		int i;

		printf("roster %s ", topic);
		for (i = 0; i < m->payloadlen; i++)
			putchar(((char *)m->payload)[i] == '\n' ? (i + 1 < m->payloadlen ? ',' : '\n') :
			    ((char *)m->payload)[i]);
		if (m->payloadlen == 0)
			putchar('\n');
		bad = NULL;
	} else if (p->o->plain) {
		hex16(m->payload, (size_t)m->payloadlen, hx);
		printf("raw %s %d %s\n", topic, m->payloadlen, hx);
	} else if ((bad = verify_message(p, topic, m->payload, (size_t)m->payloadlen, text,
	    sizeof(text))) != NULL) {
		printf("bad %s\n", bad);
	} else {
		printf("recv %s %s\n", topic, text);
		if (len_is_group(m))
			printf("epoch %u\n", p->last_epoch);
	}
	fflush(stdout);
	pthread_mutex_lock(&p->lock);
	if (p->o->plain || bad == NULL)
		p->good++;
	if (p->good >= p->o->count)
		pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic);
	return 1;
}

static void on_sub(void *ctx, MQTTAsync_successData5 *r)
{
	finish(ctx, r->reasonCode < 0x80, r->reasonCode);
}

static void on_sub_fail(void *ctx, MQTTAsync_failureData5 *r)
{
	finish(ctx, 0, r ? (int)r->reasonCode : -1);
}

static int run_sub(MQTTAsync *c, struct probe *p)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct timespec ts;

	ro.onSuccess5 = on_sub;
	ro.onFailure5 = on_sub_fail;
	ro.context = p;
	if (p->o->inbox) {
		/* as a scheme 1/2 subscriber does: its pairing request inbox
		 * first, which puts it on the rosters of its groups */
		char inbox[64 + MQE2E_ID_MAX];

		snprintf(inbox, sizeof(inbox), "mqe2e/v1/pair/req/%s", p->o->id);
		p->done = 0;
		if (MQTTAsync_subscribe(*c, inbox, 1, &ro) != MQTTASYNC_SUCCESS)
			die("subscribe", MQE2E_ERR_UNAVAILABLE);
		wait_done(p, 5000);
		if (!p->done || !p->ok) {
			printf("inbox suback rc=%d\n", p->rc);
			return 3;
		}
	}
	p->done = 0;
	if (MQTTAsync_subscribe(*c, p->o->topic, p->o->qos, &ro) != MQTTASYNC_SUCCESS)
		die("subscribe", MQE2E_ERR_UNAVAILABLE);
	wait_done(p, 5000);
	if (!p->done || !p->ok) {
		printf("suback rc=%d\n", p->rc);
		return 3;
	}
	printf("subscribed\n");
	fflush(stdout);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += p->o->timeout_ms / 1000;
	ts.tv_nsec += (long)(p->o->timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&p->lock);
	while (p->good < p->o->count && !p->lost &&
	    pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&p->lock);
	printf("received %d\n", p->good);
	return p->good >= p->o->count ? 0 : 3;
}

/* ---- publisher ------------------------------------------------------------------------ */
static void on_pub(void *ctx, MQTTAsync_successData5 *r)
{
	struct probe *p = ctx;

	pthread_mutex_lock(&p->lock);
	printf("puback %d rc=%d\n", p->acks, (int)r->reasonCode);
	p->acks++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	fflush(stdout);
}

static void on_pub_fail(void *ctx, MQTTAsync_failureData5 *r)
{
	struct probe *p = ctx;

	pthread_mutex_lock(&p->lock);
	printf("puback %d rc=%d\n", p->acks, r ? (int)r->reasonCode : -1);
	p->acks++;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	fflush(stdout);
}

/* Build one scheme 3/4 publish of text; *out malloc'd. */
static void build_publish(struct probe *p, struct mqe2e_aead *gkp, uint32_t epoch,
    struct mqe2e_mac *mac, struct mqe2e_aead *aead, uint64_t e2e_seq, uint64_t chan_seq,
    const char *text, uint8_t **out, size_t *out_len)
{
	const struct opts *o = p->o;
	struct mqe2e_envelope_params ep;
	struct mqe2e_frame_params fp;
	const char *attack = o->attack ? o->attack : "none";
	uint8_t *env, *frame;
	size_t env_cap, env_len = 0, cap, len = 0;
	int r;

	memset(&ep, 0, sizeof(ep));
	ep.scheme = (uint8_t)o->scheme;
	ep.key_kind = MQE2E_KEY_GROUP;
	ep.key_name = o->group;
	ep.epoch = epoch;
	ep.sender = strcmp(attack, "other-sender") == 0 ? o->other_id : p->self->id;
	ep.seq = e2e_seq;
	env_cap = mqe2e_envelope_size(&ep, strlen(text));
	if ((env = malloc(env_cap)) == NULL)
		die("malloc", MQE2E_ERR_NOMEM);
	if ((r = mqe2e_envelope_seal(gkp, &ep, o->topic, strlen(o->topic), (const uint8_t *)text,
	    strlen(text), env, env_cap, &env_len)) != MQE2E_OK)
		die("envelope", r);
	memset(&fp, 0, sizeof(fp));
	fp.key_kind = MQE2E_KEY_SESSION;
	fp.key_name = "";
	fp.epoch = 0;
	fp.sender = strcmp(attack, "frame-sender") == 0 ? o->other_id : p->self->id;
	fp.seq = chan_seq;
	cap = o->scheme == 4 ? mqe2e_frame_mac_size(&fp, env_len) : mqe2e_frame_aead_size(&fp, env_len);
	if ((frame = malloc(cap)) == NULL)
		die("malloc", MQE2E_ERR_NOMEM);
	if (o->scheme == 4)
		r = mqe2e_frame_mac_build(mac, &fp, o->topic, strlen(o->topic), env, env_len, frame, cap, &len);
	else
		r = mqe2e_frame_aead_build(aead, &fp, o->topic, strlen(o->topic), env, env_len, frame, cap, &len);
	if (r != MQE2E_OK)
		die("frame", r);
	free(env);
	if (strcmp(attack, "tamper-envelope") == 0)
		frame[len - MQE2E_MAC_TAG_LEN - 3] ^= 0x01;   /* inside the envelope ct */
	else if (strcmp(attack, "tamper-mac") == 0)
		frame[len - 1] ^= 0x80;
	*out = frame;
	*out_len = len;
}

/* Schemes 1/2: a BUNDLE of pairwise envelopes, one per recipient; scheme 2
 * wraps it in an AEAD frame under SK_CB c2b.  *out malloc'd. */
static void build_bundle(struct probe *p, struct mqe2e_aead *c2b, uint64_t e2e_seq,
    uint64_t chan_seq, const char *text, uint8_t **out, size_t *out_len)
{
	const struct opts *o = p->o;
	const char *attack = o->attack ? o->attack : "none";
	struct mqe2e_bundle_part parts[16];
	uint8_t *envs[16];
	char ids[16][MQE2E_ID_MAX + 1], pid[MQE2E_KEYNAME_MAX + 1];
	const char *r0 = o->recipients;
	size_t n = 0, i, cap, len = 0;
	uint8_t *bundle;
	int r;

	while (r0 != NULL && *r0 != '\0' && n < 16) {
		size_t k = strcspn(r0, ",");
		struct mqe2e_envelope_params ep;
		struct mqe2e_aead *a = NULL;
		size_t ecap, elen = 0;

		if (k == 0 || k > MQE2E_ID_MAX)
			die("--recipients", MQE2E_ERR_INVALID_ARG);
		memcpy(ids[n], r0, k);
		ids[n][k] = '\0';
		r0 = r0[k] == ',' ? r0 + k + 1 : NULL;
		memset(&ep, 0, sizeof(ep));
		ep.scheme = (uint8_t)o->scheme;
		ep.key_kind = MQE2E_KEY_PAIR;
		ep.sender = strcmp(attack, "other-sender") == 0 ? o->other_id : p->self->id;
		if (mqe2e_pair_id(ep.sender, strcmp(attack, "wrong-pair") == 0 ? o->other_id : ids[n],
		    o->group, pid, sizeof(pid)) != MQE2E_OK)
			die("pair id", MQE2E_ERR_INVALID_ARG);
		ep.key_name = pid;
		ep.epoch = 1;
		ep.seq = e2e_seq;
		ecap = mqe2e_envelope_size(&ep, strlen(text));
		if ((envs[n] = malloc(ecap)) == NULL || (a = pair_key((const uint8_t *)pid, strlen(pid))) == NULL)
			die("malloc", MQE2E_ERR_NOMEM);
		if ((r = mqe2e_envelope_seal(a, &ep, o->topic, strlen(o->topic), (const uint8_t *)text,
		    strlen(text), envs[n], ecap, &elen)) != MQE2E_OK)
			die("envelope", r);
		mqe2e_aead_free(a);
		parts[n].recipient = ids[n];
		parts[n].part = envs[n];
		parts[n].len = elen;
		n++;
	}
	if (n == 0)
		die("--recipients is needed for schemes 1/2", MQE2E_ERR_INVALID_ARG);
	cap = mqe2e_bundle_size(parts, n);
	if ((bundle = malloc(cap)) == NULL)
		die("malloc", MQE2E_ERR_NOMEM);
	if ((r = mqe2e_bundle_build(parts, n, bundle, cap, &len)) != MQE2E_OK)
		die("bundle", r);
	for (i = 0; i < n; i++)
		free(envs[i]);
	if (o->scheme == 2) {
		struct mqe2e_frame_params fp;
		uint8_t *frame;
		size_t fcap, flen = 0;

		memset(&fp, 0, sizeof(fp));
		fp.key_kind = MQE2E_KEY_SESSION;
		fp.key_name = "";
		fp.sender = strcmp(attack, "frame-sender") == 0 ? o->other_id : p->self->id;
		fp.seq = chan_seq;
		fcap = mqe2e_frame_aead_size(&fp, len);
		if ((frame = malloc(fcap)) == NULL)
			die("malloc", MQE2E_ERR_NOMEM);
		if ((r = mqe2e_frame_aead_build(c2b, &fp, o->topic, strlen(o->topic), bundle, len, frame,
		    fcap, &flen)) != MQE2E_OK)
			die("frame", r);
		free(bundle);
		bundle = frame;
		len = flen;
	}
	if (strcmp(attack, "tamper-envelope") == 0 || strcmp(attack, "tamper-mac") == 0)
		bundle[len - 1] ^= 0x80;
	*out = bundle;
	*out_len = len;
}

static int run_pub(MQTTAsync *c, struct probe *p, const struct mqe2e_session_keys *sk)
{
	const struct opts *o = p->o;
	const struct mqe2e_key_entry *k = NULL;
	struct mqe2e_key_entry fake;
	struct mqe2e_aead *gkp = NULL, *aead = NULL;
	struct mqe2e_mac *mac = NULL;
	uint64_t e2e_seq = mqe2e_seq_start(), chan_seq = mqe2e_seq_start();
	int i, sends = 0, rep, r;
	char text[1024];

	if (o->scheme >= 3 && !o->raw && (k = find_key(p, o->group, MQE2E_GK_P, o->epoch)) == NULL) {
		/* No grant: publish anyway under a made-up key (the broker
		 * cannot tell GK_P from noise; it must refuse on the grant). */
		fprintf(stderr, "broker_probe: no GK_P for group '%s': using a random key\n", o->group);
		memset(&fake, 0, sizeof(fake));
		fake.epoch = o->epoch >= 0 ? (uint32_t)o->epoch : 1;
		if ((r = mqe2e_random(fake.key, sizeof(fake.key))) != MQE2E_OK)
			die("random", r);
		k = &fake;
	}
	if ((o->scheme >= 3 && !o->raw && (r = mqe2e_aead_new(k->key, &gkp)) != MQE2E_OK) ||
	    (r = mqe2e_mac_new(sk->c2b, MQE2E_KEY_LEN, &mac)) != MQE2E_OK ||
	    (r = mqe2e_aead_new(sk->c2b, &aead)) != MQE2E_OK)
		die("keys", r);
	for (i = 0; i < o->count; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;

		snprintf(text, sizeof(text), "%s %d", o->message, i);
		if (o->raw) {
			len = strlen(o->message);
			if ((buf = malloc(len + 1)) == NULL)
				die("malloc", MQE2E_ERR_NOMEM);
			memcpy(buf, o->message, len + 1);
		} else if (o->scheme >= 3) {
			build_publish(p, gkp, k->epoch + (o->attack != NULL &&
			    strcmp(o->attack, "epoch-walk") == 0 ? (uint32_t)i : 0), mac, aead,
			    ++e2e_seq, ++chan_seq, text, &buf, &len);
		} else {
			build_bundle(p, aead, ++e2e_seq, ++chan_seq, text, &buf, &len);
		}
		for (rep = 0; rep < (o->attack && !strcmp(o->attack, "replay") ? 2 : 1); rep++) {
			MQTTAsync_message m = MQTTAsync_message_initializer;
			MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;

			m.payload = buf;
			m.payloadlen = (int)len;
			m.qos = o->qos;
			m.retained = o->retain;
			if (o->props) {
				MQTTProperty prop;

				memset(&prop, 0, sizeof(prop));
				prop.identifier = MQTTPROPERTY_CODE_USER_PROPERTY;
				prop.value.data.data = (char *)"forged-by";
				prop.value.data.len = 9;
				prop.value.value.data = (char *)"mallory";
				prop.value.value.len = 7;
				MQTTProperties_add(&m.properties, &prop);
				memset(&prop, 0, sizeof(prop));
				prop.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE;
				prop.value.data.data = (char *)"text/forged";
				prop.value.data.len = 11;
				MQTTProperties_add(&m.properties, &prop);
				memset(&prop, 0, sizeof(prop));
				prop.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC;
				prop.value.data.data = (char *)"evil/replies";
				prop.value.data.len = 12;
				MQTTProperties_add(&m.properties, &prop);
			}
			ro.onSuccess5 = on_pub;
			ro.onFailure5 = on_pub_fail;
			ro.context = p;
			if (MQTTAsync_sendMessage(*c, o->topic, &m, &ro) != MQTTASYNC_SUCCESS)
				die("publish", MQE2E_ERR_UNAVAILABLE);
			MQTTProperties_free(&m.properties);
			sends++;
			/* One at a time: the PUBACK order then matches ours. */
			if (o->qos > 0) {
				struct timespec ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += 5;
				pthread_mutex_lock(&p->lock);
				while (p->acks < sends && !p->lost &&
				    pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
					;
				pthread_mutex_unlock(&p->lock);
			}
		}
		free(buf);
	}
	if (o->qos == 0)
		usleep(300000);
	mqe2e_aead_free(gkp);
	mqe2e_aead_free(aead);
	mqe2e_mac_free(mac);
	return p->lost ? 3 : 0;
}

/* A flood of valid, signed PAIR_REQUESTs of mine into --other-id's inbox. */
static int run_pairreq(MQTTAsync *c, struct probe *p)
{
	const struct opts *o = p->o;
	char topic[64 + MQE2E_ID_MAX];
	int i, r;

	snprintf(topic, sizeof(topic), "mqe2e/v1/pair/req/%s", o->other_id);
	for (i = 0; i < o->count; i++) {
		MQTTAsync_message m = MQTTAsync_message_initializer;
		MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
		struct mqe2e_pair *st = NULL;
		struct timespec ts;
		uint8_t *req = NULL;
		size_t len = 0;

		if ((r = mqe2e_pair_request_build(p->self, o->other_id, o->group, (uint32_t)i + 1,
		    mqe2e_now_ms(), &st, &req, &len)) != MQE2E_OK)
			die("pair request", r);
		mqe2e_pair_free(st);
		m.payload = req;
		m.payloadlen = (int)len;
		m.qos = 1;
		ro.onSuccess5 = on_pub;
		ro.onFailure5 = on_pub_fail;
		ro.context = p;
		if (MQTTAsync_sendMessage(*c, topic, &m, &ro) != MQTTASYNC_SUCCESS)
			die("publish", MQE2E_ERR_UNAVAILABLE);
		free(req);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		pthread_mutex_lock(&p->lock);
		while (p->acks <= i && !p->lost &&
		    pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
			;
		pthread_mutex_unlock(&p->lock);
	}
	printf("pairreq sent %d\n", o->count);
	return p->lost ? 3 : 0;
}

/* Publish buf on topic at QoS 1 and wait for its PUBACK (printed). */
static void publish_wait(MQTTAsync *c, struct probe *p, const char *topic, const uint8_t *buf,
    size_t len)
{
	MQTTAsync_message m = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct timespec ts;
	int want;

	pthread_mutex_lock(&p->lock);
	want = p->acks + 1;
	pthread_mutex_unlock(&p->lock);
	m.payload = (void *)buf;
	m.payloadlen = (int)len;
	m.qos = 1;
	ro.onSuccess5 = on_pub;
	ro.onFailure5 = on_pub_fail;
	ro.context = p;
	if (MQTTAsync_sendMessage(*c, topic, &m, &ro) != MQTTASYNC_SUCCESS)
		die("publish", MQE2E_ERR_UNAVAILABLE);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&p->lock);
	while (p->acks < want && !p->lost && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&p->lock);
}

/*
 * pairpub: real pairing (docs/PROTOCOL.md 2.4) with --other-id for each group
 * of --group G1,G2,... (at most 8) at the one generation --epoch, and only
 * then one scheme 1 message per group, "<group> <--message>", on the
 * matching topic of --topic T1,T2,..., sealed under that pairing's K_E2E.
 * A publisher may choose one generation for several groups; the subscriber
 * must keep the keys apart.
 */
static int run_pairpub(MQTTAsync *c, struct probe *p)
{
	const struct opts *o = p->o;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	char inbox[64 + MQE2E_ID_MAX], req_topic[64 + MQE2E_ID_MAX];
	char groups[8][MQE2E_ID_MAX + 1], topics[8][256], ids[8][MQE2E_KEYNAME_MAX + 1];
	uint8_t keys[8][MQE2E_KEY_LEN];
	const char *gl = o->group, *tl = o->topic;
	uint32_t gen = o->epoch < 0 ? 1 : (uint32_t)o->epoch;
	uint64_t seq = mqe2e_seq_start();
	size_t n = 0, i;
	int r;

	while (gl != NULL && *gl != '\0' && tl != NULL && *tl != '\0' && n < 8) {
		size_t gn = strcspn(gl, ","), tn = strcspn(tl, ",");

		if (gn == 0 || gn > MQE2E_ID_MAX || tn == 0 || tn >= sizeof(topics[0]))
			usage();
		memcpy(groups[n], gl, gn);
		groups[n][gn] = '\0';
		memcpy(topics[n], tl, tn);
		topics[n][tn] = '\0';
		gl = gl[gn] == ',' ? gl + gn + 1 : NULL;
		tl = tl[tn] == ',' ? tl + tn + 1 : NULL;
		n++;
	}
	snprintf(inbox, sizeof(inbox), "mqe2e/v1/pair/resp/%s", p->self->id);
	snprintf(req_topic, sizeof(req_topic), "mqe2e/v1/pair/req/%s", o->other_id);
	ro.onSuccess5 = on_sub;
	ro.onFailure5 = on_sub_fail;
	ro.context = p;
	p->done = 0;
	if (MQTTAsync_subscribe(*c, inbox, 1, &ro) != MQTTASYNC_SUCCESS)
		die("subscribe", MQE2E_ERR_UNAVAILABLE);
	wait_done(p, 5000);
	if (!p->done || !p->ok)
		die("subscribe to my pairing inbox", MQE2E_ERR_DENIED);
	for (i = 0; i < n; i++) {
		struct mqe2e_pair *st = NULL;
		struct mqe2e_pair_info info;
		struct timespec ts;
		uint8_t *req = NULL;
		size_t rl = 0;

		if ((r = mqe2e_pair_request_build(p->self, o->other_id, groups[i], gen,
		    mqe2e_now_ms(), &st, &req, &rl)) != MQE2E_OK)
			die("pair request", r);
		pthread_mutex_lock(&p->lock);
		free(p->pair_resp);
		p->pair_resp = NULL;
		pthread_mutex_unlock(&p->lock);
		publish_wait(c, p, req_topic, req, rl);
		free(req);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		pthread_mutex_lock(&p->lock);
		while (p->pair_resp == NULL && pthread_cond_timedwait(&p->cond, &p->lock, &ts) == 0)
			;
		pthread_mutex_unlock(&p->lock);
		if (p->pair_resp == NULL)
			die("no pairing response", MQE2E_ERR_TIMEOUT);
		if ((r = mqe2e_pair_finish(st, p->trust, p->pair_resp, p->pair_resp_len,
		    mqe2e_now_ms(), &info, keys[i])) != MQE2E_OK)
			die("pairing response", r);
		mqe2e_pair_free(st);
		memcpy(ids[i], info.pair_id, sizeof(ids[i]));
		printf("paired %s generation %u\n", info.pair_id, gen);
	}
	for (i = 0; i < n; i++) {
		struct mqe2e_envelope_params ep;
		struct mqe2e_bundle_part part;
		struct mqe2e_aead *a = NULL;
		uint8_t env[1024], bundle[2048];
		char text[300];
		size_t el = 0, bl = 0;

		memset(&ep, 0, sizeof(ep));
		ep.scheme = MQE2E_SCHEME_1;
		ep.key_kind = MQE2E_KEY_PAIR;
		ep.key_name = ids[i];
		ep.epoch = gen;
		ep.sender = p->self->id;
		ep.seq = ++seq;
		snprintf(text, sizeof(text), "%s %s", groups[i], o->message);
		if ((r = mqe2e_aead_new(keys[i], &a)) != MQE2E_OK ||
		    (r = mqe2e_envelope_seal(a, &ep, topics[i], strlen(topics[i]),
		    (const uint8_t *)text, strlen(text), env, sizeof(env), &el)) != MQE2E_OK)
			die("envelope", r);
		mqe2e_aead_free(a);
		part.recipient = o->other_id;
		part.part = env;
		part.len = el;
		if ((r = mqe2e_bundle_build(&part, 1, bundle, sizeof(bundle), &bl)) != MQE2E_OK)
			die("bundle", r);
		publish_wait(c, p, topics[i], bundle, bl);
	}
	mqe2e_wipe(keys, sizeof(keys));
	printf("pairpub done\n");
	return p->lost ? 3 : 0;
}

/* ---- stage: QoS 2 over a raw MQTT 5 socket ---------------------------------------- */
struct raw_pkt {
	uint8_t type;                /* first byte */
	uint8_t *body;
	size_t len;
};

static void raw_write(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			die("raw write", MQE2E_ERR_IO);
		p += w;
		n -= (size_t)w;
	}
}

static void raw_read_n(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);

		if (r <= 0)
			die("raw read (connection closed)", MQE2E_ERR_IO);
		p += r;
		n -= (size_t)r;
	}
}

static void raw_read(int fd, struct raw_pkt *pk)
{
	uint8_t b;
	size_t len = 0, mul = 1;
	int i;

	raw_read_n(fd, &pk->type, 1);
	for (i = 0; i < 4; i++) {
		raw_read_n(fd, &b, 1);
		len += (b & 0x7f) * mul;
		mul *= 128;
		if (!(b & 0x80))
			break;
	}
	if (i == 4 || len > 1000000)
		die("raw read: bad length", MQE2E_ERR_BAD_FORMAT);
	if ((pk->body = malloc(len ? len : 1)) == NULL)
		die("malloc", MQE2E_ERR_NOMEM);
	raw_read_n(fd, pk->body, len);
	pk->len = len;
}

/* Send one packet: type byte, varint length, body. */
static void raw_send(int fd, uint8_t type, const uint8_t *body, size_t len)
{
	uint8_t hdr[5];
	size_t n = 0, l = len;

	hdr[n++] = type;
	do {
		hdr[n] = (uint8_t)(l % 128);
		l /= 128;
		if (l > 0)
			hdr[n] |= 0x80;
		n++;
	} while (l > 0);
	raw_write(fd, hdr, n);
	raw_write(fd, body, len);
}

/* The CONNACK's Authentication Data (property 0x16), or die. */
static void connack_auth(const struct raw_pkt *pk, const uint8_t **ad, size_t *ad_len)
{
	size_t off = 2, plen = 0, mul = 1, end;

	if ((pk->type & 0xf0) != 0x20 || pk->len < 3)
		die("raw: no CONNACK", MQE2E_ERR_BAD_FORMAT);
	if (pk->body[1] != 0) {
		printf("refused rc=%d\n", pk->body[1]);
		exit(2);
	}
	while (off < pk->len) {
		plen += (pk->body[off] & 0x7fu) * mul;
		mul *= 128;
		if (!(pk->body[off++] & 0x80))
			break;
	}
	end = off + plen;
	while (off < end && end <= pk->len) {
		uint8_t id = pk->body[off++];
		size_t n;

		switch (id) {
		case 0x24: case 0x25: case 0x28: case 0x29: case 0x2a: n = 1; break;
		case 0x21: case 0x22: case 0x13: n = 2; break;
		case 0x11: case 0x27: n = 4; break;
		case 0x12: case 0x1a: case 0x1c: case 0x1f: case 0x15: case 0x16:
			if (off + 2 > end)
				die("raw: CONNACK property", MQE2E_ERR_TRUNCATED);
			n = 2 + ((size_t)pk->body[off] << 8 | pk->body[off + 1]);
			if (id == 0x16) {
				*ad = pk->body + off + 2;
				*ad_len = n - 2;
			}
			break;
		case 0x26:
			if (off + 2 > end)
				die("raw: CONNACK property", MQE2E_ERR_TRUNCATED);
			n = 2 + ((size_t)pk->body[off] << 8 | pk->body[off + 1]);
			if (off + n + 2 > end)
				die("raw: CONNACK property", MQE2E_ERR_TRUNCATED);
			n += 2 + ((size_t)pk->body[off + n] << 8 | pk->body[off + n + 1]);
			break;
		default:
			die("raw: unknown CONNACK property", MQE2E_ERR_BAD_FORMAT);
		}
		off += n;
	}
	if (*ad == NULL)
		die("raw: CONNACK without authentication data", MQE2E_ERR_TRUNCATED);
}

static int run_stage(struct probe *p)
{
	const struct opts *o = p->o;
	struct sockaddr_in sa;
	struct mqe2e_hs_client *hs = NULL;
	struct mqe2e_peer broker;
	struct raw_pkt pk;
	const struct mqe2e_key_entry *k;
	struct mqe2e_aead *gkp = NULL, *aead = NULL;
	struct mqe2e_mac *mac = NULL;
	uint8_t *hello = NULL, *buf, line[64];
	const uint8_t *ad = NULL;
	size_t hello_len = 0, ad_len = 0, n, tl = strlen(o->topic), idl = strlen(o->id);
	uint64_t e2e_seq = mqe2e_seq_start(), chan_seq = mqe2e_seq_start();
	int fd, i, r;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		die("socket", MQE2E_ERR_IO);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect", MQE2E_ERR_UNAVAILABLE);
	if ((r = mqe2e_hs_client_start(p->self, p->o->broker_id, mqe2e_now_ms(), &hs, &hello,
	    &hello_len)) != MQE2E_OK)
		die("hello", r);
	/* CONNECT: "MQTT" 5, clean start, keep alive 60, method + data, client id */
	n = 0;
	if ((buf = malloc(64 + hello_len + idl)) == NULL)
		die("malloc", MQE2E_ERR_NOMEM);
	memcpy(buf, "\0\4MQTT\5\2\0\74", 10);
	n = 10;
	{
		size_t plen = 3 + strlen(MQE2E_AUTH_METHOD) + 3 + hello_len, l = plen;

		do {
			buf[n] = (uint8_t)(l % 128);
			l /= 128;
			if (l > 0)
				buf[n] |= 0x80;
			n++;
		} while (l > 0);
	}
	buf[n++] = 0x15;
	buf[n++] = 0;
	buf[n++] = (uint8_t)strlen(MQE2E_AUTH_METHOD);
	memcpy(buf + n, MQE2E_AUTH_METHOD, strlen(MQE2E_AUTH_METHOD));
	n += strlen(MQE2E_AUTH_METHOD);
	buf[n++] = 0x16;
	buf[n++] = (uint8_t)(hello_len >> 8);
	buf[n++] = (uint8_t)hello_len;
	memcpy(buf + n, hello, hello_len);
	n += hello_len;
	buf[n++] = (uint8_t)(idl >> 8);
	buf[n++] = (uint8_t)idl;
	memcpy(buf + n, o->id, idl);
	n += idl;
	raw_send(fd, 0x10, buf, n);
	free(buf);
	free(hello);
	raw_read(fd, &pk);
	connack_auth(&pk, &ad, &ad_len);
	if ((r = mqe2e_hs_client_finish(hs, p->trust, ad, ad_len, mqe2e_now_ms(), &p->sk, &broker))
	    != MQE2E_OK)
		die("CONNACK reply", r);
	mqe2e_hs_client_free(hs);
	free(pk.body);
	printf("connected broker=%s\n", broker.id);
	get_keys(p);
	if ((k = find_key(p, o->group, MQE2E_GK_P, o->epoch)) == NULL)
		die("no GK_P for the group", MQE2E_ERR_UNKNOWN_KEY);
	if ((r = mqe2e_aead_new(k->key, &gkp)) != MQE2E_OK ||
	    (r = mqe2e_mac_new(p->sk.c2b, MQE2E_KEY_LEN, &mac)) != MQE2E_OK ||
	    (r = mqe2e_aead_new(p->sk.c2b, &aead)) != MQE2E_OK)
		die("keys", r);
	for (i = 0; i < o->count; i++) {
		uint8_t *frame = NULL;
		size_t flen = 0;
		char text[1024];

		snprintf(text, sizeof(text), "%s %d", o->message, i);
		build_publish(p, gkp, k->epoch, mac, aead, ++e2e_seq, ++chan_seq, text, &frame, &flen);
		if ((buf = malloc(tl + flen + 8)) == NULL)
			die("malloc", MQE2E_ERR_NOMEM);
		buf[0] = (uint8_t)(tl >> 8);
		buf[1] = (uint8_t)tl;
		memcpy(buf + 2, o->topic, tl);
		buf[2 + tl] = 0;
		buf[3 + tl] = (uint8_t)(i + 1);   /* packet id */
		buf[4 + tl] = 0;                  /* no properties */
		memcpy(buf + 5 + tl, frame, flen);
		raw_send(fd, 0x34 | (o->retain ? 1 : 0), buf, 5 + tl + flen);
		free(buf);
		free(frame);
		raw_read(fd, &pk);
		if ((pk.type & 0xf0) != 0x50 || pk.len < 2)
			die("raw: expected PUBREC", MQE2E_ERR_BAD_FORMAT);
		printf("pubrec %d rc=%d\n", i, pk.len > 2 ? pk.body[2] : 0);
		free(pk.body);
	}
	printf("staged\n");
	fflush(stdout);
	if (fgets((char *)line, sizeof(line), stdin) == NULL)
		die("stdin closed before release", MQE2E_ERR_IO);
	for (i = 0; i < o->count; i++) {
		uint8_t rel[2] = { 0, (uint8_t)(i + 1) };

		raw_send(fd, 0x62, rel, 2);
		raw_read(fd, &pk);
		if ((pk.type & 0xf0) != 0x70)
			die("raw: expected PUBCOMP", MQE2E_ERR_BAD_FORMAT);
		printf("pubcomp %d\n", i);
		free(pk.body);
	}
	raw_send(fd, 0xe0, (const uint8_t *)"", 0);
	close(fd);
	mqe2e_aead_free(gkp);
	mqe2e_aead_free(aead);
	mqe2e_mac_free(mac);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "port", required_argument, NULL, 'p' }, { "id", required_argument, NULL, 'i' },
		{ "cert", required_argument, NULL, 'c' }, { "key", required_argument, NULL, 'k' },
		{ "ca", required_argument, NULL, 'a' }, { "kms", required_argument, NULL, 'K' },
		{ "topic", required_argument, NULL, 't' }, { "group", required_argument, NULL, 'g' },
		{ "message", required_argument, NULL, 'm' }, { "attack", required_argument, NULL, 'A' },
		{ "other-id", required_argument, NULL, 'o' }, { "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'T' }, { "scheme", required_argument, NULL, 's' },
		{ "epoch", required_argument, NULL, 'e' }, { "plain", no_argument, NULL, 'P' },
		{ "qos", required_argument, NULL, 'q' }, { "recipients", required_argument, NULL, 'r' },
		{ "keys", required_argument, NULL, 'f' },
		{ "retain", no_argument, NULL, 'R' }, { "props", no_argument, NULL, 'X' },
		{ "raw", no_argument, NULL, 'W' }, { "will-bundle", no_argument, NULL, 'B' },
		{ "broker-id", required_argument, NULL, 'I' }, { "stay", no_argument, NULL, 'S' },
		{ "inbox", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	struct opts o;
	struct probe p;
	MQTTAsync c = NULL;
	char err[256] = "";
	int ch, r, rc = 0;

	memset(&o, 0, sizeof(o));
	o.count = 1;
	o.timeout_ms = 5000;
	o.scheme = 4;
	o.qos = 1;
	o.epoch = -1;
	o.message = "hello";
	o.other_id = "mallory";
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "connect"))
		o.mode = M_CONNECT;
	else if (!strcmp(argv[1], "pub"))
		o.mode = M_PUB;
	else if (!strcmp(argv[1], "sub"))
		o.mode = M_SUB;
	else if (!strcmp(argv[1], "keys"))
		o.mode = M_KEYS;
	else if (!strcmp(argv[1], "stage"))
		o.mode = M_STAGE;
	else if (!strcmp(argv[1], "pairreq"))
		o.mode = M_PAIRREQ;
	else if (!strcmp(argv[1], "pairpub"))
		o.mode = M_PAIRPUB;
	else
		usage();
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (ch) {
		case 'p': o.port = (int)num(optarg, 1, 65535); break;
		case 'i': o.id = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'a': o.ca = optarg; break;
		case 'K': o.kms = optarg; break;
		case 't': o.topic = optarg; break;
		case 'g': o.group = optarg; break;
		case 'm': o.message = optarg; break;
		case 'A': o.attack = optarg; break;
		case 'o': o.other_id = optarg; break;
		case 'n': o.count = (int)num(optarg, 1, 1000000); break;
		case 'T': o.timeout_ms = (int)num(optarg, 1, 600000); break;
		case 's': o.scheme = (int)num(optarg, 1, 4); break;
		case 'r': o.recipients = optarg; break;
		case 'f': o.keys_file = optarg; break;
		case 'e': o.epoch = num(optarg, 0, 4294967295L); break;
		case 'P': o.plain = 1; break;
		case 'R': o.retain = 1; break;
		case 'X': o.props = 1; break;
		case 'W': o.raw = 1; break;
		case 'B': o.will_bundle = 1; break;
		case 'S': o.stay = 1; break;
		case 'N': o.inbox = 1; break;
		case 'q': o.qos = (int)num(optarg, 0, 2); break;
		case 'I': o.broker_id = optarg; break;
		default: usage();
		}
	}
	if ((o.port == 0 && o.mode != M_KEYS) || (o.mode == M_KEYS && o.keys_file == NULL) || (!o.plain && (o.cert == NULL || o.key == NULL || o.ca == NULL)) ||
	    (o.mode != M_CONNECT && o.mode != M_KEYS && o.mode != M_PAIRREQ && o.topic == NULL) ||
	    ((o.mode == M_PAIRREQ || o.mode == M_PAIRPUB) && o.group == NULL) ||
	    ((o.mode == M_PUB || o.mode == M_STAGE) && o.scheme >= 3 && o.group == NULL && !o.raw) ||
	    (o.will_bundle && (o.topic == NULL || o.recipients == NULL)))
		usage();
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	p.o = &o;
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (o.plain) {
		if (!do_connect(&c, &p, o.id ? o.id : "curious", NULL, 0)) {
			printf("refused rc=%d\n", p.rc);
			return 2;
		}
		printf("connected plain\n");
		if (o.mode == M_SUB)
			rc = run_sub(&c, &p);
		disconnect(&c);
		return rc;
	}
	if ((r = mqe2e_identity_load(o.cert, o.key, &p.self, err, sizeof(err))) != MQE2E_OK)
		die(err, r);
	if ((r = mqe2e_trust_new(o.ca, &p.trust, err, sizeof(err))) != MQE2E_OK)
		die(err, r);
	if ((r = mqe2e_replay_table_new(64, &p.replay)) != MQE2E_OK)
		die("replay table", r);
	if (o.mode == M_KEYS) {
		fetch_keys(&p);
		save_keys(&p, o.keys_file);
		printf("keys %zu\n", p.kb.nkeys);
		goto out;
	}
	if (o.id == NULL)
		o.id = (o.attack && !strcmp(o.attack, "id-mismatch")) ? o.other_id : p.self->id;

	if (o.mode == M_CONNECT && o.attack && !strcmp(o.attack, "reuse-nonce")) {
		/* The same hello twice: the second must be refused. */
		static const uint8_t eph[MQE2E_X25519_LEN] = { 7, 7, 7, 7, 7, 7, 7, 7 };
		static const uint8_t nonce[MQE2E_NONCE_LEN] = { 9, 9, 9, 9 };
		struct mqe2e_hs_client *hs = NULL;
		uint8_t *hello = NULL;
		size_t hello_len = 0;
		int round;

		if ((r = mqe2e_hs_client_start_ex(p.self, NULL, mqe2e_now_ms(), eph, nonce, &hs, &hello,
		    &hello_len)) != MQE2E_OK)
			die("hello", r);
		for (round = 0; round < 2; round++) {
			if (do_connect(&c, &p, o.id, hello, hello_len)) {
				printf("connected\n");
				disconnect(&c);
			} else {
				printf("refused rc=%d\n", p.rc);
				MQTTAsync_destroy(&c);
				rc = 2;
			}
			free(p.auth);
			p.auth = NULL;
		}
		free(hello);
		mqe2e_hs_client_free(hs);
		goto out;
	}

	if (o.mode == M_STAGE) {
		rc = run_stage(&p);
		goto out;
	}
	if (o.will_bundle) {
		int save = o.scheme;

		o.scheme = 1;
		build_bundle(&p, NULL, mqe2e_seq_start(), 0, "will", &will_payload, &will_len);
		o.scheme = save;
	}
	if (o.mode == M_CONNECT && o.attack && !strcmp(o.attack, "flood")) {
		int i, ok = 0, refused = 0;

		for (i = 0; i < o.count; i++) {
			struct mqe2e_hs_client *hs = NULL;
			MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
			uint8_t *hello = NULL;
			size_t hello_len = 0;

			if ((r = mqe2e_hs_client_start(p.self, o.broker_id, mqe2e_now_ms() + 5000, &hs, &hello,
			    &hello_len)) != MQE2E_OK)
				die("hello", r);
			if (do_connect(&c, &p, o.id, hello, hello_len)) {
				ok++;
				d.timeout = 0;
				MQTTAsync_disconnect(c, &d);
			} else {
				refused++;
			}
			MQTTAsync_destroy(&c);
			free(p.auth);
			p.auth = NULL;
			free(hello);
			mqe2e_hs_client_free(hs);
		}
		printf("flood ok=%d refused=%d\n", ok, refused);
		goto out;
	}

	if (!mqe2e_connect(&c, &p, &p.sk, o.attack && !strcmp(o.attack, "stale-ts"))) {
		MQTTAsync_destroy(&c);
		rc = 2;
		goto out;
	}
	if (o.mode == M_PUB) {
		get_keys(&p);
		rc = run_pub(&c, &p, &p.sk);
	} else if (o.mode == M_SUB) {
		get_keys(&p);
		rc = run_sub(&c, &p);
	} else if (o.mode == M_PAIRREQ) {
		rc = run_pairreq(&c, &p);
	} else if (o.mode == M_PAIRPUB) {
		rc = run_pairpub(&c, &p);
	} else if (o.will_bundle || o.stay) {
		/* Stay connected: another connection with this id takes over. */
		usleep((useconds_t)o.timeout_ms * 1000);
	}
	disconnect(&c);
	free(will_payload);
out:
	mqe2e_wipe(&p.sk, sizeof(p.sk));
	mqe2e_keybundle_free(&p.kb);
	mqe2e_replay_table_free(p.replay);
	mqe2e_trust_free(p.trust);
	mqe2e_identity_free(p.self);
	free(p.auth);
	free(p.pair_resp);
	return rc;
}
