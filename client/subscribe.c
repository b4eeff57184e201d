/*
 * subscribe.c - subscriptions and the receive path.
 *
 * A message from the broker is
 *   scheme 4/3  a channel frame under the group's GK_B (MAC / AEAD) around
 *               the publisher's E2E envelope under GK_P;
 *   scheme 2    an AEAD frame under my SK_CB b2c around my envelope under
 *               K_E2E(publisher, me);
 *   scheme 1    my envelope under K_E2E(publisher, me), as it is.
 * Each layer is checked before the next is looked at; the plaintext
 * reaches the application only after the envelope's tag verified and its
 * (sender, key, epoch, sequence) passed the replay window.  The broker's
 * frames (GK_B, and the session frames of scheme 2) have replay windows of
 * their own, in a separate table: (broker, group, epoch) and (broker, this
 * link).  The scheme the message claims must be the scheme of its group as
 * the KMS said.
 *
 * Live and late messages (docs/PROTOCOL.md 8.1).  A GK_B frame's sequence
 * number is the broker's clock when it made the frame, so a live frame must
 * not be older than the CONNACK that began this MQTT session: a frame
 * captured before, even by an earlier run of this process, is refused
 * whatever the windows hold.  The one exception is a retained message sent
 * on subscription (MQTT retain flag) whose envelope says it was published
 * retained (MQE2E_ENV_RETAINED, under the publisher's key): it is read
 * whatever its age, within its epoch's grace, once per (sender, topic) and
 * sequence number - its own table of windows, one per topic, so retained
 * messages of every earlier publisher run stay readable in any order.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "notice.h"

/* Plaintexts up to this size are opened into struct rx itself: no malloc
 * per message for the common small ones. */
#define RX_PT_INLINE 1024

/* What the receive path learnt about a message, for delivery or report. */
struct rx {
	char sender[MQE2E_ID_MAX + 1];
	char group[MQE2E_KEYNAME_MAX + 1];
	uint32_t epoch;
	uint8_t scheme;
	uint8_t *pt;             /* plaintext: pt_inline or malloc'd; wiped when freed */
	size_t pt_len;
	uint8_t *inner;          /* malloc'd opened frame body (scheme 3) */
	size_t inner_len;
	const char *why;         /* which check failed, for the report */
	int kms_miss;            /* a group key we lack: worth asking the KMS */
	uint32_t ahead;          /* that epoch is beyond every one the KMS had
	                            issued at its last answer (0: not) */
	uint32_t newest;         /* then: the newest epoch of the group held */
	int ahead_asked;         /* in: a fetch for such an epoch was let start
	                            for this message already (held) */
	int crypto;              /* OpenSSL was called for it (a memo miss) */
	/* where the checks found the frame's and the envelope's windows, for
	 * their accepts (replay.h: no second lookup of the same key) */
	struct mqe2e_replay_pos frame_pos, env_pos;
	uint8_t pt_inline[RX_PT_INLINE];   /* last: rx_clear() leaves it be */
};

/* A fresh rx: every field zero but the inline plaintext buffer (1 KiB,
 * written before it is read: pt_len says how much), which the receive path
 * used to clear for every copy of every message. */
static void
rx_clear(struct rx *rx)
{
	memset(rx, 0, offsetof(struct rx, pt_inline));
	rx->frame_pos.i = rx->env_pos.i = SIZE_MAX;
}

static void
rx_free(struct rx *rx)
{
	if (rx->pt == rx->pt_inline)
		mqe2e_wipe(rx->pt_inline, rx->pt_len);
	else
		mqe2e_free_secret(rx->pt, rx->pt_len);
	mqe2e_free_secret(rx->inner, rx->inner_len);
	rx->pt = rx->inner = NULL;
}

/* A name from an untrusted header, for display: printable ASCII or "". */
static void
view_name(struct mqe2e_view v, char *out, size_t len)
{
	size_t i;

	if (mqe2e_view_to_str(v, out, len) != MQE2E_OK) {
		out[0] = '\0';
		return;
	}
	for (i = 0; out[i] != '\0'; i++) {
		if ((unsigned char)out[i] < 0x21 || (unsigned char)out[i] > 0x7e)
			out[i] = '?';
	}
}

/* The pairwise key that opens env (mu held): the pair id must be
 * "<sender>|<me>|<group>", and a key paired for exactly that group and
 * generation held; the group's scheme must be the one the envelope claims. */
static int
pair_key(struct mqe2e_client *c, const struct mqe2e_envelope *env, uint8_t scheme,
    struct rx *rx, struct mqe2e_aead **key)
{
	struct pairkey *k;
	size_t slen = env->sender.len, ilen = strlen(c->id);

	if (env->key_name.len <= slen + 1 + ilen + 1 ||
	    memcmp(env->key_name.p, env->sender.p, slen) != 0 || env->key_name.p[slen] != '|' ||
	    memcmp(env->key_name.p + slen + 1, c->id, ilen) != 0 ||
	    env->key_name.p[slen + 1 + ilen] != '|') {
		rx->why = "the envelope is not under a key paired between its sender and us";
		return MQE2E_ERR_BAD_FORMAT;
	}
	view_name((struct mqe2e_view){ env->key_name.p + slen + ilen + 2,
	    env->key_name.len - slen - ilen - 2 }, rx->group, sizeof(rx->group));
	if ((k = pair__find_gen(c, env->key_name.p, env->key_name.len, env->epoch)) == NULL) {
		rx->why = "not paired with this sender for this group (or an older pairing)";
		return MQE2E_ERR_UNKNOWN_KEY;
	}
	client__fmt(rx->group, sizeof(rx->group), "%s", k->group);
	if (pair__group_scheme(c, k->group) != scheme) {
		rx->why = "the message's scheme differs from the group's scheme";
		return MQE2E_ERR_BAD_FORMAT;
	}
	*key = k->aead;
	return MQE2E_OK;
}

/*
 * 1 if asking the KMS may give the epoch of group that a message names and
 * we lack (mu held).  A fetch brings each group's window (current, next,
 * the newest grace epochs); the epoch is also asked for by number
 * (keys__want), since by the time the fetch runs a burst of rekeys may have
 * moved the window past it, or it is older than the window already.  Once
 * the KMS answered without it, it is gone and no fetch is made for it.
 */
static int
miss(struct mqe2e_client *c, struct mqe2e_view group, uint32_t epoch, struct rx *rx) /* 2: new */
{
	uint32_t newest;

	if (epoch == 0)
		return 0;
	newest = keys__newest_epoch(&c->keys, (const char *)group.p, group.len);
	if (newest != 0 && epoch > newest) {
		/*
		 * Beyond every epoch the KMS had issued when it last answered
		 * (an answer carries every next epoch of the group): issued
		 * since (a rotation), or never (a publisher naming epochs at
		 * will).  Not asked for by number: the window of the next
		 * answer brings it if it exists.  Fetches for such epochs are
		 * limited per group once one turned out never issued
		 * (keys__ahead_allowed), so a flood of made-up epochs cannot
		 * make every subscriber poll the KMS.
		 */
		rx->ahead = epoch;
		rx->newest = newest;
		if (rx->ahead_asked ||
		    keys__ahead_allowed(c, (const char *)group.p, group.len, client__mono_ms())) {
			/* by number too: in a burst of rekeys the window of the
			 * next answer may have moved past it already */
			int w = keys__want(c, (const char *)group.p, group.len, epoch);

			return w != 0 ? w : 1;
		}
		/* paused, but a fetch is due soon anyway (a rekey notice came:
		 * a rotation is what makes a publisher's epoch newer than ours):
		 * the message may wait for it */
		return c->next_refresh_ms != 0 &&
		    c->next_refresh_ms <= client__mono_ms() + KEYS_AHEAD_SOON_MS;
	}
	return keys__want(c, (const char *)group.p, group.len, epoch);
}

/* Why a message naming an epoch we lack is not fetched for (kms_miss 0). */
static const char *
no_fetch_why(const struct rx *rx, const char *past_grace)
{
	return rx->ahead != 0 ? "its epoch is beyond every one the KMS had issued at its "
	    "last answer, and this group named epochs that were never issued: such epochs "
	    "are fetched for at most once per pause (up to 60 s)" : past_grace;
}

/* The group key that opens env (mu held), and its raw bytes (for memo.c). */
static int
group_key(struct mqe2e_client *c, const struct mqe2e_envelope *env, uint8_t scheme,
    struct mqe2e_view frame_group, struct rx *rx, struct mqe2e_aead **key,
    const uint8_t **raw)
{
	struct keyslot *k;

	if (env->key_name.len != frame_group.len ||
	    memcmp(env->key_name.p, frame_group.p, frame_group.len) != 0) {
		rx->why = "the envelope's group differs from the broker's frame";
		return MQE2E_ERR_BAD_FORMAT;
	}
	if ((k = keys__find(&c->keys, (const char *)env->key_name.p, env->key_name.len,
	    MQE2E_GK_P, env->epoch)) == NULL || k->aead == NULL) {
		rx->kms_miss = miss(c, env->key_name, env->epoch, rx);
		rx->why = rx->kms_miss ? "no E2E group key for this epoch" : no_fetch_why(rx,
		    "no E2E group key for this epoch: it is past the group's grace period (the "
		    "KMS no longer delivers it)");
		return MQE2E_ERR_UNKNOWN_KEY;
	}
	if (k->scheme != scheme) {
		rx->why = "the message's scheme differs from the group's scheme";
		return MQE2E_ERR_BAD_FORMAT;
	}
	if (k->not_after_ms != 0 && mqe2e_now_ms() > k->not_after_ms) {
		/* The end of a current or next epoch is the KMS's estimate when
		 * it answered: a rotation that came late (after a KMS outage)
		 * keeps the epoch longer.  Unless an answer given since that end
		 * confirmed it, the message waits for a fetch (as for an epoch we
		 * lack) and is dropped only if the KMS says the epoch has ended. */
		rx->kms_miss = c->keys_answer_ms < k->not_after_ms;
		rx->why = "E2E key epoch past its grace period";
		return MQE2E_ERR_EXPIRED_KEY;
	}
	*key = k->aead;
	*raw = k->key;
	return MQE2E_OK;
}

/* 1 if body is an envelope published retained and delivered as retained:
 * a late message (PROTOCOL.md 8.1).  Not authenticated here: the envelope's
 * tag is checked before anything is accepted. */
static int
is_late(const uint8_t *body, size_t len, int retained)
{
	struct mqe2e_envelope env;

	return retained && mqe2e_envelope_decode(body, len, &env) == MQE2E_OK &&
	    (env.flags & MQE2E_ENV_RETAINED) != 0;
}

/* The window an envelope is checked against (mu held): (sender, key,
 * epoch) for live messages, (sender, topic) for late ones. */
static int
envelope_window(struct mqe2e_client *c, const struct mqe2e_envelope *env, const char *topic,
    int late, int accept, struct mqe2e_replay_pos *pos)
{
	struct mqe2e_replay_table *t = late ? c->late_replay : c->replay;
	const uint8_t *name = late ? (const uint8_t *)topic : env->key_name.p;
	size_t name_len = late ? strlen(topic) : env->key_name.len;
	uint32_t epoch = late ? 0 : env->epoch;

	return accept ? mqe2e_replay_table_accept_pos(t, pos, env->sender.p, env->sender.len,
	    env->key_kind, name, name_len, epoch, env->seq) :
	    mqe2e_replay_table_check_pos(t, env->sender.p, env->sender.len, env->key_kind, name,
	    name_len, epoch, env->seq, pos);
}

/* Open the E2E envelope in body (mu held).  frame_group: the group the
 * broker's frame named (schemes 3/4).  late: see is_late(). */
static int
open_envelope(struct mqe2e_client *c, const char *topic, const uint8_t *body, size_t len,
    struct mqe2e_view frame_group, uint8_t scheme, int late, struct rx *rx)
{
	struct mqe2e_envelope env;
	struct mqe2e_aead *key = NULL;
	struct memo_q q;
	const uint8_t *raw = NULL;      /* group keys only: pairwise keys are per client */
	size_t topic_len = strlen(topic);
	int r, pairwise = scheme == MQE2E_SCHEME_1 || scheme == MQE2E_SCHEME_2;

	if ((r = mqe2e_envelope_decode(body, len, &env)) != MQE2E_OK) {
		rx->why = "malformed E2E envelope";
		return r;
	}
	view_name(env.sender, rx->sender, sizeof(rx->sender));
	view_name(env.key_name, rx->group, sizeof(rx->group));
	rx->epoch = env.epoch;
	if (env.scheme != scheme ||
	    env.key_kind != (pairwise ? MQE2E_KEY_PAIR : MQE2E_KEY_GROUP)) {
		rx->why = "the envelope's scheme or key kind differs from the broker's frame";
		return MQE2E_ERR_BAD_FORMAT;
	}
	r = pairwise ? pair_key(c, &env, scheme, rx, &key) :
	    group_key(c, &env, scheme, frame_group, rx, &key, &raw);
	if (r != MQE2E_OK)
		return r;
	if ((r = envelope_window(c, &env, topic, late, 0, &rx->env_pos)) != MQE2E_OK) {
		rx->why = late ? "a retained message already read, or older than one read on "
		    "this topic" : "duplicate or replayed message";
		return r;
	}
	rx->pt_len = env.ct.len - MQE2E_GCM_TAG_LEN;
	if (rx->pt_len <= sizeof(rx->pt_inline))
		rx->pt = rx->pt_inline;
	else if ((rx->pt = malloc(rx->pt_len)) == NULL)
		return MQE2E_ERR_NOMEM;
	q = (struct memo_q){ MEMO_ENVELOPE, raw, topic, topic_len, body, len };
	if (!memo__get(&q, rx->pt, rx->pt_len)) {
		rx->crypto = 1;
		if ((r = mqe2e_envelope_open(key, &env, topic, topic_len, rx->pt)) != MQE2E_OK) {
			rx->why = "E2E envelope does not verify (altered, or not sealed for this "
			    "topic)";
			return r;
		}
		memo__put(&q, rx->pt, rx->pt_len);
	}
	if ((r = envelope_window(c, &env, topic, late, 1, &rx->env_pos)) != MQE2E_OK) {
		rx->why = "duplicate or replayed message";
		return r;
	}
	rx->scheme = scheme;
	return MQE2E_OK;
}

/* Open an AEAD frame's body into rx->inner (mu held).  raw: the key's bytes
 * if it is a group key (memo.c: p, len are the whole frame), else NULL. */
static int
open_aead_frame(struct mqe2e_aead *key, const uint8_t *raw, const uint8_t *p, size_t len,
    const struct mqe2e_frame *f, const char *topic, struct rx *rx, const char *why)
{
	struct memo_q q;
	int r;

	if (f->body.len < MQE2E_GCM_TAG_LEN) {
		rx->why = "frame too short";
		return MQE2E_ERR_TRUNCATED;
	}
	rx->inner_len = f->body.len - MQE2E_GCM_TAG_LEN;
	if ((rx->inner = malloc(rx->inner_len > 0 ? rx->inner_len : 1)) == NULL)
		return MQE2E_ERR_NOMEM;
	q = (struct memo_q){ MEMO_FRAME_AEAD, raw, topic, strlen(topic), p, len };
	if (memo__get(&q, rx->inner, rx->inner_len))
		return MQE2E_OK;
	rx->crypto = 1;
	if ((r = mqe2e_frame_aead_open(key, f, topic, q.aad_len, rx->inner)) != MQE2E_OK)
		rx->why = why;
	else
		memo__put(&q, rx->inner, rx->inner_len);
	return r;
}

/*
 * The replay window of a broker frame f (mu held): checked (accept == 0)
 * before the frame is verified, and the frame's seq recorded (accept == 1)
 * only once the whole message was accepted, so a frame whose envelope waits
 * for a key fetch can be opened again.  epoch: the GK_B epoch, or for a
 * session frame the link it came on (the session key changes with it).
 * Returns MQE2E_OK or MQE2E_ERR_REPLAY (why set).
 */
static int
frame_window(struct mqe2e_client *c, const struct mqe2e_frame *f, uint32_t epoch,
    int accept, struct rx *rx)
{
	int r;

	if (accept)
		r = mqe2e_replay_table_accept_pos(c->frame_replay, &rx->frame_pos, f->sender.p,
		    f->sender.len, f->key_kind, f->key_name.p, f->key_name.len, epoch, f->seq);
	else
		r = mqe2e_replay_table_check_pos(c->frame_replay, f->sender.p, f->sender.len,
		    f->key_kind, f->key_name.p, f->key_name.len, epoch, f->seq, &rx->frame_pos);
	if (r != MQE2E_OK)
		rx->why = "the broker's frame is a duplicate or replay";
	return r;
}

/*
 * The live checks of a GK_B frame (mu held): made after the CONNACK that
 * began the MQTT session it arrived on (floor: the broker's clock then; the
 * frame's sequence number is the broker's clock when it made the frame),
 * and not seen before on this (broker, group, epoch).
 */
static int
live_frame(struct mqe2e_client *c, const struct mqe2e_frame *f, uint64_t floor,
    struct rx *rx)
{
	if (f->seq < floor) {
		rx->why = "the broker's frame was made before this connection (a replay from "
		    "an earlier session, or a live message delivered late)";
		return MQE2E_ERR_REPLAY;
	}
	return frame_window(c, f, f->epoch, 0, rx);
}

/*
 * Verify the broker's frame, then open the envelope inside (mu held).
 * retained: the MQTT retain flag; floor: the session floor when the message
 * arrived (c->rx_floor_us then).  A frame is live unless the message is
 * late (is_late()); a live frame passes live_frame() (GK_B) or its link's
 * window (session frames), a late one only its envelope's tag and the
 * per-topic window.
 */
static int
open_message(struct mqe2e_client *c, const char *topic, const uint8_t *p, size_t len,
    int retained, uint64_t floor, struct rx *rx)
{
	struct mqe2e_frame f;
	struct keyslot *kb;
	struct memo_q q;
	const uint8_t *body;
	size_t body_len;
	uint32_t e;
	int r, late;

	static const struct mqe2e_view none = { NULL, 0 };

	if (len >= 2 && p[1] == MQE2E_MSG_ENVELOPE)
		return open_envelope(c, topic, p, len, none, MQE2E_SCHEME_1,
		    is_late(p, len, retained), rx);
	if ((r = mqe2e_frame_decode(p, len, &f)) != MQE2E_OK) {
		rx->why = "not an mqe2e frame or envelope";
		return r;
	}
	if (f.key_kind == MQE2E_KEY_SESSION && f.type == MQE2E_MSG_FRAME_AEAD) {
		/* scheme 2: my part, sealed for me under this link's b2c key */
		if (c->b2c_aead == NULL) {
			rx->why = "a session frame while no session is up";
			return MQE2E_ERR_UNKNOWN_KEY;
		}
		e = (uint32_t)c->link.gen;
		if ((r = open_aead_frame(c->b2c_aead, NULL, p, len, &f, topic, rx,
		    "the broker's session frame does not decrypt")) != MQE2E_OK)
			return r;
		late = is_late(rx->inner, rx->inner_len, retained);
		if ((!late && (r = frame_window(c, &f, e, 0, rx)) != MQE2E_OK) ||
		    (r = open_envelope(c, topic, rx->inner, rx->inner_len, none,
		    MQE2E_SCHEME_2, late, rx)) != MQE2E_OK)
			return r;
		return late ? MQE2E_OK : frame_window(c, &f, e, 1, rx);
	}
	if (f.key_kind != MQE2E_KEY_GROUP) {
		rx->why = "frame under an unexpected key";
		return MQE2E_ERR_BAD_TYPE;
	}
	view_name(f.key_name, rx->group, sizeof(rx->group));
	rx->epoch = f.epoch;
	if ((kb = keys__find(&c->keys, (const char *)f.key_name.p, f.key_name.len,
	    MQE2E_GK_B, f.epoch)) == NULL) {
		e = keys__newest_epoch(&c->keys, (const char *)f.key_name.p, f.key_name.len);
		rx->kms_miss = miss(c, f.key_name, f.epoch, rx);
		rx->why = !rx->kms_miss ? no_fetch_why(rx, "this epoch is past the group's "
		    "grace period (the KMS no longer delivers its keys)") : e > 0 ? "no broker "
		    "group key for this epoch" : "no broker group key for this epoch (no 'sub' "
		    "grant on the group?)";
		return MQE2E_ERR_UNKNOWN_KEY;
	}
	/* a live delivery is checked before the tag (cheap rejection) */
	if (!retained && (r = live_frame(c, &f, floor, rx)) != MQE2E_OK)
		return r;
	if (f.type == MQE2E_MSG_FRAME_MAC && kb->scheme == MQE2E_SCHEME_4 && kb->mac != NULL) {
		q = (struct memo_q){ MEMO_FRAME_MAC, kb->key, topic, strlen(topic), p, len };
		if (!memo__get(&q, NULL, 0)) {
			rx->crypto = 1;
			if ((r = mqe2e_frame_mac_verify(kb->mac, &f, topic, q.aad_len)) !=
			    MQE2E_OK) {
				rx->why = "the broker's frame MAC does not verify";
				return r;
			}
			memo__put(&q, NULL, 0);
		}
		body = f.body.p;
		body_len = f.body.len;
	} else if (f.type == MQE2E_MSG_FRAME_AEAD && kb->scheme == MQE2E_SCHEME_3 &&
	    kb->aead != NULL) {
		if ((r = open_aead_frame(kb->aead, kb->key, p, len, &f, topic, rx,
		    "the broker's frame does not decrypt")) != MQE2E_OK)
			return r;
		body = rx->inner;
		body_len = rx->inner_len;
	} else {
		rx->why = "frame type does not match the group's scheme";
		return MQE2E_ERR_BAD_TYPE;
	}
	/* delivered as retained but not published retained: live after all */
	late = is_late(body, body_len, retained);
	if (retained && !late && (r = live_frame(c, &f, floor, rx)) != MQE2E_OK)
		return r;
	if ((r = open_envelope(c, topic, body, body_len, f.key_name, kb->scheme, late,
	    rx)) != MQE2E_OK || late)
		return r;
	return frame_window(c, &f, f.epoch, 1, rx);
}

/* The callbacks a delivery goes to, collected while the client's mu is
 * held for the checks (so that a delivery takes mu once), called after. */
struct targets {
	struct target { mqe2e_message_cb cb; void *arg; } few[8], *to;
	size_t n;
};

/* mu held.  No memory for a list longer than few[]: no callback. */
static void
targets_collect(struct mqe2e_client *c, const char *topic, struct targets *t)
{
	struct sub *s;
	size_t n = 0, cap;

	t->to = t->few;
	for (s = c->subs; s != NULL; s = s->next)
		n++;
	cap = n;
	if (n > sizeof(t->few) / sizeof(t->few[0]) && (t->to = calloc(n, sizeof(*t->to))) == NULL) {
		t->to = t->few;
		cap = 0;
	}
	for (n = 0, s = c->subs; s != NULL && n < cap; s = s->next) {
		if (s->exact ? strcmp(s->filter, topic) == 0 :
		    mqe2e_topic_matches(s->filter, topic)) {
			t->to[n].cb = s->cb;
			t->to[n].arg = s->arg;
			n++;
		}
	}
	t->n = n;
}

/* No lock held: call the callbacks targets_collect() found. */
static void
deliver(struct mqe2e_client *c, const char *topic, int qos, int retained, const struct rx *rx,
    struct targets *t)
{
	struct mqe2e_message msg;
	size_t i;

	memset(&msg, 0, sizeof(msg));
	msg.topic = topic;
	msg.payload = rx->pt;
	msg.payload_len = rx->pt_len;
	msg.sender = rx->sender;
	msg.group = rx->group;
	msg.epoch = rx->epoch;
	msg.scheme = rx->scheme;
	msg.qos = qos;
	msg.retained = retained;
	pthread_mutex_lock(&c->cb_mu);
	for (i = 0; i < t->n; i++)
		t->to[i].cb(t->to[i].arg, &msg);
	pthread_mutex_unlock(&c->cb_mu);
	if (t->to != t->few)
		free(t->to);
	t->to = NULL;
	t->n = 0;
}

/*
 * What a message says about itself before any key opens it, for ordering
 * and reports (mu held): the group and epoch a broker frame names and, in
 * scheme 4 (whose envelope travels in clear inside the frame), the sender.
 * Fields already set in rx are kept.  Display only: nothing here is verified.
 */
static void
peek(const uint8_t *p, size_t len, struct rx *rx)
{
	struct mqe2e_frame f;
	struct mqe2e_envelope env;

	if (len >= 2 && p[1] == MQE2E_MSG_ENVELOPE)
		return;
	if (mqe2e_frame_decode(p, len, &f) != MQE2E_OK || f.key_kind != MQE2E_KEY_GROUP)
		return;
	if (rx->group[0] == '\0')
		view_name(f.key_name, rx->group, sizeof(rx->group));
	if (rx->epoch == 0)
		rx->epoch = f.epoch;
	if (rx->sender[0] == '\0' && f.type == MQE2E_MSG_FRAME_MAC &&
	    mqe2e_envelope_decode(f.body.p, f.body.len, &env) == MQE2E_OK)
		view_name(env.sender, rx->sender, sizeof(rx->sender));
}

/*
 * A message held behind an earlier one of its group (mu held): name the
 * epochs it needs that we lack and that the KMS issued by its last answer
 * (its broker frame's, and the envelope's inside a MAC frame) to the fetches
 * now, so that the fetch the earlier message waits for brings them too,
 * instead of one more fetch (a second later) per message at the head.
 * Unverified bytes: an epoch beyond the newest held is left to miss() when
 * the message reaches the head (its fetches are limited per group).
 */
static void
want_early(struct mqe2e_client *c, const uint8_t *p, size_t len)
{
	struct mqe2e_frame f;
	struct mqe2e_envelope env;
	uint32_t newest;

	if (len < 2 || p[1] == MQE2E_MSG_ENVELOPE ||
	    mqe2e_frame_decode(p, len, &f) != MQE2E_OK || f.key_kind != MQE2E_KEY_GROUP)
		return;
	newest = keys__newest_epoch(&c->keys, (const char *)f.key_name.p, f.key_name.len);
	if (f.epoch != 0 && f.epoch <= newest && keys__find(&c->keys, (const char *)f.key_name.p,
	    f.key_name.len, MQE2E_GK_B, f.epoch) == NULL)
		(void)keys__want(c, (const char *)f.key_name.p, f.key_name.len, f.epoch);
	if (f.type == MQE2E_MSG_FRAME_MAC &&
	    mqe2e_envelope_decode(f.body.p, f.body.len, &env) == MQE2E_OK &&
	    env.key_kind == MQE2E_KEY_GROUP && env.key_name.len == f.key_name.len &&
	    memcmp(env.key_name.p, f.key_name.p, f.key_name.len) == 0 &&
	    env.epoch != 0 && env.epoch <= newest && keys__find(&c->keys,
	    (const char *)env.key_name.p, env.key_name.len, MQE2E_GK_P, env.epoch) == NULL)
		(void)keys__want(c, (const char *)env.key_name.p, env.key_name.len, env.epoch);
}

/* Is a message of group g held ahead of stop (NULL: anywhere)? (mu held) */
static int
group_held(const struct mqe2e_client *c, const char *g, const struct held *stop)
{
	const struct held *h;

	if (g[0] == '\0')
		return 0;
	for (h = c->held; h != NULL && h != stop; h = h->next) {
		if (strcmp(h->group, g) == 0)
			return 1;
	}
	return 0;
}

static void
held_free(struct held *h)
{
	if (h == NULL)
		return;
	free(h->topic);
	mqe2e_free_secret(h->payload, h->len);
	free(h);
}

/*
 * Keep a message for the keys thread (mu held): it waits for keys (rx->kms_miss)
 * or behind a held message of its group.  MQE2E_ERR_TOO_LONG when the hold
 * is full (hold_max messages or HOLD_BYTES_MAX bytes): the caller drops it.
 */
static int
hold(struct mqe2e_client *c, const char *topic, const MQTTAsync_message *m,
    const struct rx *rx, uint64_t floor)
{
	size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
	size_t bytes = len + strlen(topic) + 1;     /* topic <= 64 KiB, payload */
	struct held *h;

	if (c->nheld >= (size_t)c->cfg.hold_max || bytes > HOLD_BYTES_MAX - c->held_bytes)
		return MQE2E_ERR_TOO_LONG;
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->topic = strdup(topic)) == NULL ||
	    (h->payload = malloc(len > 0 ? len : 1)) == NULL) {
		held_free(h);
		return MQE2E_ERR_NOMEM;
	}
	memcpy(h->payload, m->payload, len);
	h->len = len;
	h->qos = m->qos;
	h->retained = m->retained;
	h->rx_floor_us = floor;
	memcpy(h->group, rx->group, sizeof(h->group));
	h->fetch_seq = c->fetch_started;
	h->ahead = rx->ahead != 0;
	h->deadline_ms = client__mono_ms() + (uint64_t)c->cfg.hold_s * 1000u;
	if (h->deadline_ms < c->held_wake_ms)
		c->held_wake_ms = h->deadline_ms;
	*c->held_tail = h;
	c->held_tail = &h->next;
	c->nheld++;
	c->held_bytes += bytes;
	return MQE2E_OK;
}

static int receive(struct mqe2e_client *c, char *topic_name, int topic_len,
    MQTTAsync_message *m);

static void
report_drop(struct mqe2e_client *c, int r, const char *topic, const struct rx *rx,
    const char *extra)
{
	client__report(c, r, topic, rx->sender, rx->group, rx->epoch, "dropped a message "
	    "on topic '%s' from '%s' (group '%s', epoch %u): %s: %s%s", topic,
	    rx->sender[0] != '\0' ? rx->sender : "?", rx->group[0] != '\0' ? rx->group : "?",
	    rx->epoch, rx->why != NULL ? rx->why : "", mqe2e_strerror(r), extra);
}

/*
 * paho's message callback, on paho's receive thread, which serves every
 * client of the process: the whole receive path runs here, in the order
 * paho read the messages.  (A worker thread that took group messages off
 * this thread, issue 15, cost more than it saved: a futex wake and two
 * contended locks per message, and paho's heap lock taken from two threads
 * when the worker freed paho's message; the subscribers' CPU per delivery
 * fell from 41 to 25 us with the worker gone, BENCHMARKS.md.)  Nothing waits
 * for the network: a message naming a group epoch we lack is held and the
 * keys thread fetches them (subscribe__held_run delivers it), so other
 * groups' messages keep flowing while the KMS is slow or down.  paho 1.3
 * has sent (or queued) the PUBACK/PUBREC when it calls us, whatever we
 * return, so returning 0 would not delay the acknowledgement: it would only
 * make paho retry this message ahead of every later one.  We always
 * return 1.
 */
int
subscribe__arrived(void *ctx, char *topic_name, int topic_len, MQTTAsync_message *m)
{
	client__paho_thread_enter();
	client__paho_thread_done_if(receive(ctx, topic_name, topic_len, m));
	return 1;
}

/*
 * Ask the CPU to start loading what the checks of one copy will read of
 * client c (mu held): the key slots the last lookups found, the replay
 * tables' headers and the entries they found last, the subscriptions.  A
 * process of many clients receives each message once per client, one
 * client after another, and meets each client's state cold (in the paced
 * phase of the bench 10 ms went by since, in which the broker and the
 * publisher ran): loaded as the checks come to them, the misses follow one
 * another; asked for together, they overlap (docs/BENCHMARKS.md, issue 15,
 * fifth pass).  A hint only: nothing is read through these addresses here
 * but the tables' headers.
 */
static void
prefetch_client(const struct mqe2e_client *c)
{
	const struct keystore *ks = &c->keys;
	size_t i;

	for (i = 0; i < sizeof(ks->hint) / sizeof(ks->hint[0]); i++) {
		if (ks->hint[i] < ks->n) {
			__builtin_prefetch(&ks->slot[ks->hint[i]]);
			__builtin_prefetch(ks->slot[ks->hint[i]].group);
		}
	}
	__builtin_prefetch(c->subs);
	mqe2e_replay_table_prefetch(c->frame_replay);
	mqe2e_replay_table_prefetch(c->replay);
}

/*
 * The receive path of one message (no lock held; frees m and topic_name).
 * Returns 0 if it delivered the message without calling OpenSSL (the memo
 * answered every check), else 1: then the caller releases OpenSSL's state
 * of this thread (client__paho_thread_done).  That release walks OpenSSL's
 * global list of every thread's handlers under its global lock - in a
 * process of 200 clients, 400 threads - so it is made only when there may
 * be something to release, not for each of the 200 copies of a message.
 */
static int
receive(struct mqe2e_client *c, char *topic_name, int topic_len, MQTTAsync_message *m)
{
	struct rx rx;
	struct targets tg;
	char *topic = topic_name, *own = NULL;
	const uint8_t *p = m->payload;
	size_t len = (size_t)(m->payloadlen > 0 ? m->payloadlen : 0);
	const char *extra = "";
	uint64_t floor;
	int r, used_openssl = 1;

	/* the lines of c every copy reads (client_int.h): they load while the
	 * topic is looked at */
	__builtin_prefetch(c, 1);
	__builtin_prefetch((const char *)c + 64);
	__builtin_prefetch((const char *)c + 128);
	rx_clear(&rx);
	/* topic_len is 0 when paho's name is NUL-terminated (used as it is),
	 * else its length: then it holds a NUL and is refused */
	if (topic_len > 0) {
		if ((own = malloc((size_t)topic_len + 1)) == NULL)
			goto out;
		memcpy(own, topic_name, (size_t)topic_len);
		own[topic_len] = '\0';
		topic = own;
		if (strlen(topic) != (size_t)topic_len) {
			client__report(c, MQE2E_ERR_BAD_FORMAT, NULL, NULL, NULL, 0,
			    "dropped a message whose topic holds a NUL byte");
			goto out;
		}
	}
	/* the library's own topics (roster, pairing inboxes, rekey notices)
	 * all begin so: one comparison for every other message */
	if (strncmp(topic, MQE2E_OWN_TOPIC_PREFIX, sizeof(MQE2E_OWN_TOPIC_PREFIX) - 1) == 0) {
		if (roster__group_of_topic(topic) != NULL) {
			roster__on_message(c, topic, m->payload, (size_t)(m->payloadlen > 0 ?
			    m->payloadlen : 0));
			goto out;
		}
		if (pair__topic_is(topic, "req", c->id)) {
			pair__on_request(c, p, len);
			goto out;
		}
		if (pair__topic_is(topic, "resp", c->id)) {
			pair__on_response(c, p, len);
			goto out;
		}
		if (mqe2e_rekey_topic_group(topic) != NULL) {
			rekey__on_notice(c, topic, p, len);
			goto out;
		}
	}
	pthread_mutex_lock(&c->mu);
	prefetch_client(c);
	floor = c->rx_floor_us;         /* of the session this message came on */
	if (c->held != NULL) {
		peek(p, len, &rx);
		if (group_held(c, rx.group, NULL)) {
			/* keep the group's order: wait behind its held message */
			if ((r = hold(c, topic, m, &rx, floor)) == MQE2E_OK) {
				want_early(c, p, len);
				pthread_mutex_unlock(&c->mu);
				goto out;
			}
			pthread_mutex_unlock(&c->mu);
			client__report(c, r, topic, rx.sender, rx.group, rx.epoch, "dropped a "
			    "message on topic '%s' from '%s' (group '%s', epoch %u): an earlier "
			    "message of its group waits for keys and %s", topic,
			    rx.sender[0] != '\0' ? rx.sender : "?", rx.group, rx.epoch,
			    r == MQE2E_ERR_TOO_LONG ? "there is no room to hold this one behind "
			    "it (hold_max)" : "holding this one failed: out of memory");
			goto out;
		}
		rx_clear(&rx);
	}
	r = open_message(c, topic, p, len, m->retained, floor, &rx);
	if ((r == MQE2E_ERR_UNKNOWN_KEY || r == MQE2E_ERR_EXPIRED_KEY) && rx.kms_miss) {
		/* an epoch we lack (a rotation, or a grant newer than our keys):
		 * the keys thread fetches keys; the message waits for them */
		int hr;

		c->miss_fetch = 1;
		peek(p, len, &rx);
		rx_free(&rx);
		hr = hold(c, topic, m, &rx, floor);
		if (hr == MQE2E_OK)
			c->held_need = 1;       /* fetch until a pass says otherwise */
		session__changed(c);        /* the keys thread's work */
		if (hr == MQE2E_OK) {
			pthread_mutex_unlock(&c->mu);
			goto out;
		}
		extra = hr == MQE2E_ERR_NOMEM ? " (out of memory to hold it until the keys "
		    "arrive)" : c->cfg.hold_max == 0 ? " (hold_max 0: not held while the keys "
		    "are fetched)" : " (no room to hold it until the keys arrive: hold_max)";
	}
	if (r == MQE2E_OK)
		targets_collect(c, topic, &tg);
	pthread_mutex_unlock(&c->mu);
	if (r == MQE2E_OK) {
		used_openssl = rx.crypto;
		deliver(c, topic, m->qos, m->retained, &rx, &tg);
	} else {
		if (r == MQE2E_ERR_UNKNOWN_KEY)
			peek(p, len, &rx);      /* the context of the report */
		report_drop(c, r, topic, &rx, extra);
	}
out:
	rx_free(&rx);
	free(own);
	MQTTAsync_freeMessage(&m);
	MQTTAsync_free(topic_name);
	return used_openssl;
}

int
subscribe__held_run(struct mqe2e_client *c, uint64_t now, uint64_t *wake)
{
	struct held **pp = &c->held, *h;
	struct rx rx;
	struct targets tg;
	char extra[CLIENT_ERRMSG_MAX];
	int r, need = 0;

	c->held_dirty = 0;
	while ((h = *pp) != NULL) {
		if (group_held(c, h->group, h)) {
			pp = &h->next;          /* behind an earlier one of its group */
			continue;
		}
		rx_clear(&rx);
		rx.ahead_asked = h->ahead;
		r = open_message(c, h->topic, h->payload, h->len, h->retained, h->rx_floor_us,
		    &rx);
		extra[0] = '\0';
		if (r == MQE2E_ERR_UNKNOWN_KEY)
			peek(h->payload, h->len, &rx);  /* the context of the report */
		if (r == MQE2E_ERR_UNKNOWN_KEY && rx.kms_miss == 2 && now < h->deadline_ms) {
			/* an epoch no fetch has asked for yet (the message
			 * waited behind another): the next one will */
			h->fetch_seq = c->fetch_started;
			c->miss_fetch = 1;
		}
		if ((r == MQE2E_ERR_UNKNOWN_KEY || r == MQE2E_ERR_EXPIRED_KEY) && rx.kms_miss) {
			/*
			 * It waits while the KMS may still give the key: a group
			 * this client holds keys of, whose epoch no fetch has
			 * asked for and been refused (a refusal marks the epoch
			 * gone and kms_miss is 0 then).  That a fetch answered
			 * since it arrived says nothing: in a burst of rekeys
			 * the epoch may have been named only after that fetch
			 * took its list, and the window it brought moved past
			 * it; the next fetch asks for it by number.  A group
			 * the KMS gives this client no keys of is settled by
			 * the first answer after the message arrived.
			 */
			int granted = keys__group(&c->keys, h->group) != NULL;

			if (rx.ahead != 0 && c->keys_seq > h->fetch_seq) {
				/* an answer given after the message arrived has
				 * every epoch issued by then, and not this one: it
				 * was never issued (the publisher made it up) */
				keys__ahead_bogus(c, h->group, strlen(h->group), client__mono_ms());
				client__fmt(extra, sizeof(extra), " (epoch %u was never issued: the "
				    "newest epoch of group '%s' was %u when the KMS answered after the "
				    "message arrived)", rx.ahead, h->group, rx.newest);
				goto settled;
			}
			if (now < h->deadline_ms && (granted || c->keys_seq <= h->fetch_seq)) {
				h->ahead |= rx.ahead != 0;
				rx_free(&rx);
				need = 1;
				if (h->deadline_ms < *wake)
					*wake = h->deadline_ms;
				pp = &h->next;
				continue;
			}
			if (c->keys_seq <= h->fetch_seq || granted)
				client__fmt(extra, sizeof(extra), " (held %d s waiting for the "
				    "keys: %s)", c->cfg.hold_s, c->fetch_failing_ms != 0 ?
				    c->kms_err : c->keys_seq <= h->fetch_seq ? "no key fetch "
				    "from the KMS answered" : "the KMS did not deliver it in time");
			else
				client__fmt(extra, sizeof(extra), " (the KMS at %s delivered no "
				    "keys of group '%s' to this client after it arrived)", c->cfg.kms,
				    h->group);
		}
settled:
		if (r == MQE2E_OK && h->ahead)
			keys__ahead_legit(c, h->group, strlen(h->group));
		/* settled: deliver or drop it; it stays first of its group until
		 * the callbacks ran, so later messages of the group wait */
		if (r == MQE2E_OK)
			targets_collect(c, h->topic, &tg);
		pthread_mutex_unlock(&c->mu);
		if (r == MQE2E_OK)
			deliver(c, h->topic, h->qos, h->retained, &rx, &tg);
		else
			report_drop(c, r, h->topic, &rx, extra);
		rx_free(&rx);
		pthread_mutex_lock(&c->mu);
		/* only this thread unlinks: the list up to pp is as it was, the
		 * receive thread may have appended */
		*pp = h->next;
		if (c->held_tail == &h->next)
			c->held_tail = pp;
		c->nheld--;
		c->held_bytes -= h->len + strlen(h->topic) + 1;
		held_free(h);
	}
	return need;
}

void
subscribe__held_free(struct mqe2e_client *c)
{
	struct held *h;

	while ((h = c->held) != NULL) {
		c->held = h->next;
		held_free(h);
	}
	c->held_tail = &c->held;
	c->nheld = c->held_bytes = 0;
}

static void
sub_remove(struct mqe2e_client *c, struct sub *target)
{
	struct sub **pp;

	for (pp = &c->subs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == target) {
			*pp = target->next;
			free(target);
			return;
		}
	}
}

int
mqe2e_subscribe(struct mqe2e_client *c, const char *filter, int qos, mqe2e_message_cb cb,
    void *arg, int timeout_ms)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	struct timespec deadline;
	struct waiter *w;
	struct sub *s;
	char why[128];
	int r, prc;

	if (c == NULL || filter == NULL || cb == NULL)
		return MQE2E_ERR_INVALID_ARG;
	if (!mqe2e_topic_filter_check(filter, MQE2E_TOPIC_MAX, 0, why, sizeof(why)))
		return client__fail(c, MQE2E_ERR_INVALID_ARG, "'%s' is not a valid topic "
		    "filter: %s", filter, why);
	if (qos < 0 || qos > 2)
		return client__fail(c, MQE2E_ERR_INVALID_ARG, "QoS %d: use 0, 1 or 2", qos);
	client__deadline(&deadline, timeout_ms);
	if ((s = calloc(1, sizeof(*s) + strlen(filter) + 1)) == NULL)
		return client__fail(c, MQE2E_ERR_NOMEM, "out of memory");
	memcpy(s->filter, filter, strlen(filter) + 1);
	/* no wildcard: it matches exactly the topic spelt the same */
	s->exact = strpbrk(filter, "+#") == NULL;
	s->qos = qos;
	s->cb = cb;
	s->arg = arg;

	pthread_mutex_lock(&c->mu);
	s->next = c->subs;
	c->subs = s;            /* renewed by the next reconnect in any case */
	if (!c->cfg.clean_start && !c->auto_reconnect && c->link.state == LINK_DOWN) {
		/* Resuming a session: registered before the first connect, so that
		 * what the broker kept is delivered as soon as the link is up. */
		pthread_mutex_unlock(&c->mu);
		return MQE2E_OK;
	}
	if (client__on_paho_thread() && c->link.state != LINK_UP)
		r = MQE2E_OK;   /* in a callback: the reconnect will subscribe */
	else
		r = session__wait_up(c, &deadline);
	if (r == MQE2E_OK && c->link.state != LINK_UP) {
		pthread_mutex_unlock(&c->mu);
		return MQE2E_OK;
	}
	if (r != MQE2E_OK) {
		sub_remove(c, s);
		pthread_mutex_unlock(&c->mu);
		return client__fail(c, r, "cannot subscribe to '%s': no verified connection "
		    "to the broker at %s", filter, c->cfg.broker);
	}
	if ((w = client__waiter_new(c)) == NULL) {
		sub_remove(c, s);
		pthread_mutex_unlock(&c->mu);
		return client__fail(c, MQE2E_ERR_NOMEM, "out of memory");
	}
	pthread_mutex_unlock(&c->mu);

	ro.onSuccess5 = client__on_success;
	ro.onFailure5 = client__on_failure;
	ro.context = w;
	prc = MQTTAsync_subscribe(c->mqtt, filter, qos, &ro);

	pthread_mutex_lock(&c->mu);
	if (prc != MQTTASYNC_SUCCESS) {
		w->done = 1;
		r = MQE2E_ERR_UNAVAILABLE;
		client__fmt(c->errmsg, sizeof(c->errmsg), "cannot subscribe to '%s': %s",
		    filter, MQTTAsync_strerror(prc));
	} else if (client__on_paho_thread()) {
		r = MQE2E_OK;   /* in a callback: the SUBACK cannot come before we return */
	} else if ((r = client__wait(c, w, &deadline, NULL)) != MQE2E_OK) {
		client__fmt(c->errmsg, sizeof(c->errmsg), "no SUBACK from the broker at %s "
		    "for '%s' within %d ms", c->cfg.broker, filter, timeout_ms);
	} else if ((r = w->rc) != MQE2E_OK && r != MQE2E_ERR_DENIED) {
		client__fmt(c->errmsg, sizeof(c->errmsg), "the broker refused the "
		    "subscription to '%s' of client '%s': %s", filter, c->id, w->msg);
	} else if (r == MQE2E_ERR_DENIED) {
		char held[CLIENT_ERRMSG_MAX / 2];

		/* a filter wider than every group, or outside them: say which
		 * groups the client may use */
		keys__describe(&c->keys, held, sizeof(held));
		client__fmt(c->errmsg, sizeof(c->errmsg), "the broker refused the "
		    "subscription to '%s' of client '%s': %s; a filter must lie within one "
		    "group on which the client has a 'sub' grant; its groups: %s", filter, c->id,
		    w->msg, held);
	}
	client__waiter_release(c, w);
	if (r != MQE2E_OK)
		sub_remove(c, s);
	pthread_mutex_unlock(&c->mu);
	return r;
}

static void
renew_refused(struct mqe2e_client *c, int reason, int refused, int total)
{
	client__report(c, MQE2E_ERR_DENIED, NULL, NULL, NULL, 0, "the broker at %s refused "
	    "%d of the %d subscriptions of client '%s' renewed after reconnecting: %s "
	    "(was a grant removed?)", c->cfg.broker, refused, total, c->id,
	    MQTTReasonCode_toString((enum MQTTReasonCodes)reason));
}

/* paho: SUBACK of the renewed subscriptions, one reason code each. */
static void
on_renew_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	struct mqe2e_client *c = ctx;
	int i, n = resp->alt.sub.reasonCodeCount, refused = 0, reason = 0;

	client__paho_thread_enter();
	roster__on_suback(c);
	for (i = 0; i < n; i++) {
		if ((int)resp->alt.sub.reasonCodes[i] >= 0x80) {
			refused++;
			reason = (int)resp->alt.sub.reasonCodes[i];
		}
	}
	if (n == 0 && (int)resp->reasonCode >= 0x80) {
		refused = n = 1;
		reason = (int)resp->reasonCode;
	}
	if (refused > 0)
		renew_refused(c, reason, refused, n);
}

/* paho: the renewal failed; a lost link (reported on its own, and renewed
 * again at the next connect) says nothing more. */
static void
on_renew_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct mqe2e_client *c = ctx;

	client__paho_thread_enter();
	if (resp != NULL && (int)resp->reasonCode >= 0x80)
		renew_refused(c, (int)resp->reasonCode, 1, 1);
}

void
subscribe__renew(struct mqe2e_client *c)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	char **filters = NULL, **rosters = NULL;
	int *qos = NULL, n = 0, got = 0;
	size_t nrosters, j;
	struct sub *s;

	char req[PAIR_TOPIC_MAX], resp[PAIR_TOPIC_MAX];
	const char *inboxes[3] = { req, resp, MQE2E_REKEY_FILTER };
	int i;

	pair__inboxes(c, req, resp);
	pthread_mutex_lock(&c->mu);
	nrosters = roster__filters(c, &rosters);
	/* pairing inboxes, rekey notices, rosters, the application's */
	n = 3 + (int)nrosters;
	for (s = c->subs; s != NULL; s = s->next)
		n++;
	if ((filters = calloc((size_t)n, sizeof(*filters))) == NULL ||
	    (qos = calloc((size_t)n, sizeof(*qos))) == NULL)
		n = -1;
	for (i = 0; n > 0 && i < 3; i++, got++) {
		if ((filters[got] = strdup(inboxes[i])) == NULL) {
			n = -1;
			break;
		}
		qos[got] = 1;
	}
	for (j = 0; n > 0 && j < nrosters; j++, got++) {
		filters[got] = rosters[j];
		rosters[j] = NULL;
		qos[got] = 1;
	}
	for (s = c->subs; n > 0 && s != NULL; s = s->next, got++) {
		if ((filters[got] = strdup(s->filter)) == NULL) {
			n = -1;
			break;
		}
		qos[got] = s->qos;
	}
	pthread_mutex_unlock(&c->mu);
	if (n < 0) {
		client__report(c, MQE2E_ERR_NOMEM, NULL, NULL, NULL, 0, "out of memory "
		    "renewing the subscriptions of client '%s'", c->id);
	} else {
		ro.onSuccess5 = on_renew_ok;
		ro.onFailure5 = on_renew_fail;
		ro.context = c;
		if (MQTTAsync_subscribeMany(c->mqtt, n, filters, qos, &ro) != MQTTASYNC_SUCCESS)
			client__report(c, MQE2E_ERR_UNAVAILABLE, NULL, NULL, NULL, 0,
			    "cannot renew the subscriptions of client '%s'", c->id);
	}
	while (got > 0)
		free(filters[--got]);
	free(filters);
	free(qos);
	for (j = 0; j < nrosters; j++)
		free(rosters[j]);
	free(rosters);
}

void
subscribe__free_all(struct mqe2e_client *c)
{
	while (c->subs != NULL)
		sub_remove(c, c->subs);
}
