/*
 * pair.c - pairwise E2E keys for schemes 1 and 2 (docs/PROTOCOL.md 2.4).
 *
 * A publisher P pairs with each configured recipient S of a group: it
 * publishes a signed PAIR_REQUEST to mqe2e/v1/pair/req/<S> and S answers
 * with a signed PAIR_RESPONSE to mqe2e/v1/pair/resp/<P>; both derive
 * K_E2E(P,S).  The broker only relays: it cannot read or alter the exchange
 * undetected.  Keys live in memory only; the envelope epoch under K_E2E is
 * the pairing generation chosen by P.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"

#define PAIR_NONCES_MAX 4096

/* Inbox topics of id into out. */
static void
inbox(char *out, size_t len, const char *kind, const char *id)
{
	client__fmt(out, len, "%s%s/%s", PAIR_TOPIC_PREFIX, kind, id);
}

/* The same test as strcmp(topic, inbox(kind, id)) == 0, without formatting
 * the inbox: every message received asks it. */
int
pair__topic_is(const char *topic, const char *kind, const char *id)
{
	size_t pl = sizeof(PAIR_TOPIC_PREFIX) - 1, kl = strlen(kind);

	if (strncmp(topic, PAIR_TOPIC_PREFIX, pl) != 0)
		return 0;
	topic += pl;
	if (strncmp(topic, kind, kl) != 0 || topic[kl] != '/')
		return 0;
	return strcmp(topic + kl + 1, id) == 0;
}

void
pair__inboxes(const struct mqe2e_client *c, char req[PAIR_TOPIC_MAX], char resp[PAIR_TOPIC_MAX])
{
	inbox(req, PAIR_TOPIC_MAX, "req", c->id);
	inbox(resp, PAIR_TOPIC_MAX, "resp", c->id);
}

static void
pairkey_free(struct pairkey *k)
{
	mqe2e_aead_free(k->aead);
	free(k);
}

void
pair__free_all(struct mqe2e_client *c)
{
	struct pairkey *k;
	struct pairpend *p;

	while ((k = c->pairkeys) != NULL) {
		c->pairkeys = k->next;
		pairkey_free(k);
	}
	while ((p = c->pending) != NULL) {
		c->pending = p->next;
		mqe2e_pair_free(p->st);
		free(p);
	}
	while (c->pair_retries != NULL) {
		struct pairretry *t = c->pair_retries;

		c->pair_retries = t->next;
		free(t);
	}
	mqe2e_nonce_cache_free(c->pair_nc);
	c->pair_nc = NULL;
}

/* The retry entry of peer, created if asked (mu held); NULL if none. */
static struct pairretry *
retry_of(struct mqe2e_client *c, const char *peer, int create)
{
	struct pairretry *t;

	for (t = c->pair_retries; t != NULL; t = t->next)
		if (strcmp(t->peer, peer) == 0)
			return t;
	if (!create || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	client__fmt(t->peer, sizeof(t->peer), "%s", peer);
	t->next = c->pair_retries;
	c->pair_retries = t;
	return t;
}

struct pairkey *
pair__find_gen(struct mqe2e_client *c, const uint8_t *pair_id, size_t pair_id_len,
    uint32_t generation)
{
	struct pairkey *k;

	for (k = c->pairkeys; k != NULL; k = k->next) {
		if (k->role == MQE2E_PAIR_ROLE_SUB && k->generation == generation &&
		    strlen(k->pair_id) == pair_id_len &&
		    memcmp(k->pair_id, pair_id, pair_id_len) == 0)
			return k;
	}
	return NULL;
}

/* Find my newest key with peer for group (mu held); role MQE2E_PAIR_ROLE_*. */
struct pairkey *
pair__find(struct mqe2e_client *c, int role, const char *peer, size_t peer_len,
    const char *group)
{
	struct pairkey *k;

	for (k = c->pairkeys; k != NULL; k = k->next) {
		if (k->role == role && strlen(k->peer) == peer_len &&
		    memcmp(k->peer, peer, peer_len) == 0 &&
		    (group == NULL || strcmp(k->group, group) == 0))
			return k;
	}
	return NULL;
}

/* Keep a new K_E2E (mu held), dropping older ones of the same peer, group
 * and role beyond what the role keeps.  Wipes key. */
static int
pair_store(struct mqe2e_client *c, int role, const struct mqe2e_pair_info *info,
    uint8_t key[MQE2E_KEY_LEN])
{
	struct pairkey *k, *old, **pp;
	int r, keep;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		mqe2e_wipe(key, MQE2E_KEY_LEN);
		return MQE2E_ERR_NOMEM;
	}
	r = mqe2e_aead_new(key, &k->aead);
	mqe2e_wipe(key, MQE2E_KEY_LEN);
	if (r != MQE2E_OK) {
		free(k);
		return r;
	}
	k->role = role;
	memcpy(k->peer, info->peer.id, sizeof(k->peer));
	memcpy(k->group, info->group, sizeof(k->group));
	memcpy(k->pair_id, info->pair_id, sizeof(k->pair_id));
	k->generation = info->generation;
	k->made_ms = client__mono_ms();
	k->next = c->pairkeys;
	c->pairkeys = k;
	/* a publisher seals with its newest key only; a subscriber keeps the
	 * one before too, for messages sealed before the publisher re-paired */
	keep = role == MQE2E_PAIR_ROLE_PUB ? 1 : 2;
	for (pp = &c->pairkeys; (old = *pp) != NULL;) {
		if (old->role == role && strcmp(old->peer, k->peer) == 0 &&
		    strcmp(old->group, k->group) == 0 && keep-- <= 0) {
			*pp = old->next;
			pairkey_free(old);
		} else {
			pp = &old->next;
		}
	}
	return MQE2E_OK;
}

uint8_t
pair__group_scheme(struct mqe2e_client *c, const char *group)
{
	const struct mqe2e_group_info *g = keys__group(&c->keys, group);

	return g != NULL ? g->scheme : 0;
}

/* Publish bytes to topic without waiting (paho's thread or ours). */
static int
send_raw(struct mqe2e_client *c, const char *topic, const uint8_t *p, size_t len,
    const char *response_topic)
{
	MQTTAsync_message m = MQTTAsync_message_initializer;
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	MQTTProperties props = MQTTProperties_initializer;
	MQTTProperty prop;
	int prc;

	if (response_topic != NULL) {
		memset(&prop, 0, sizeof(prop));
		prop.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC;
		prop.value.data.data = (char *)response_topic;
		prop.value.data.len = (int)strlen(response_topic);
		if (MQTTProperties_add(&props, &prop) != 0)
			return MQE2E_ERR_NOMEM;
	}
	m.payload = (void *)p;
	m.payloadlen = (int)len;
	m.qos = 1;
	m.properties = props;
	prc = MQTTAsync_sendMessage(c->mqtt, topic, &m, &ro);
	MQTTProperties_free(&props);
	return prc == MQTTASYNC_SUCCESS ? MQE2E_OK : MQE2E_ERR_UNAVAILABLE;
}

/* mqe2e_pair_group_cb (mu held): I pair only for a scheme 1/2 group on
 * which the KMS's group table gives me a 'sub' grant.  Checked before the
 * request's nonce is stored. */
static int
pair_group_ok(void *arg, const char *publisher, const char *group)
{
	struct mqe2e_client *c = arg;
	const struct mqe2e_group_info *g = keys__group(&c->keys, group);

	(void)publisher;
	return g != NULL && (g->rights & MQE2E_RIGHT_SUB) &&
	    (g->scheme == MQE2E_SCHEME_1 || g->scheme == MQE2E_SCHEME_2) ? MQE2E_OK :
	    MQE2E_ERR_DENIED;
}

/* Subscriber: a PAIR_REQUEST arrived in my inbox (paho's thread). */
void
pair__on_request(struct mqe2e_client *c, const uint8_t *req, size_t len)
{
	struct mqe2e_pair_info info;
	uint8_t key[MQE2E_KEY_LEN];
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char topic[PAIR_TOPIC_MAX];
	int r;

	memset(&info, 0, sizeof(info));
	pthread_mutex_lock(&c->mu);
	if (c->pair_nc == NULL &&
	    mqe2e_nonce_cache_new(PAIR_NONCES_MAX, MQE2E_SKEW_MS_DEFAULT, &c->pair_nc) != MQE2E_OK) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	/* answer only for a pairwise group I may read */
	r = mqe2e_pair_respond(c->ident, c->trust, c->pair_nc, pair_group_ok, c, req, len,
	    mqe2e_now_ms(), &resp, &resp_len, &info, key);
	if (r == MQE2E_OK)
		r = pair_store(c, MQE2E_PAIR_ROLE_SUB, &info, key);
	pthread_mutex_unlock(&c->mu);
	if (r != MQE2E_OK) {
		client__report(c, r, NULL, info.peer.id, info.group, info.generation,
		    "refused a pairing request from '%s' for group '%s': %s%s",
		    info.peer.id[0] != '\0' ? info.peer.id : "?",
		    info.group[0] != '\0' ? info.group : "?", mqe2e_strerror(r),
		    r == MQE2E_ERR_DENIED ? " (no 'sub' grant on a scheme 1/2 group of "
		    "that name)" : "");
		goto out;
	}
	inbox(topic, sizeof(topic), "resp", info.peer.id);
	if ((r = send_raw(c, topic, resp, resp_len, NULL)) != MQE2E_OK)
		client__report(c, r, topic, info.peer.id, info.group, info.generation,
		    "cannot answer the pairing request of '%s'", info.peer.id);
out:
	free(resp);
}

/* Publisher: a PAIR_RESPONSE arrived in my inbox (paho's thread). */
void
pair__on_response(struct mqe2e_client *c, const uint8_t *resp, size_t len)
{
	struct mqe2e_reply rep;
	struct mqe2e_pair_info info;
	struct pairpend *p;
	uint8_t key[MQE2E_KEY_LEN];
	char peer[MQE2E_ID_MAX + 1] = "?", group[MQE2E_ID_MAX + 1];
	int r;

	memset(&info, 0, sizeof(info));
	/* the claimed responder only selects the pending request; everything
	 * is verified by mqe2e_pair_finish */
	if ((r = mqe2e_reply_decode(resp, len, MQE2E_MSG_PAIR_RESPONSE, &rep)) != MQE2E_OK ||
	    (r = mqe2e_view_to_str(rep.client_id, peer, sizeof(peer))) != MQE2E_OK) {
		client__report(c, r, NULL, NULL, NULL, 0, "dropped a malformed pairing "
		    "response: %s", mqe2e_strerror(r));
		return;
	}
	pthread_mutex_lock(&c->mu);
	for (p = c->pending; p != NULL; p = p->next) {
		if (!p->done && strcmp(p->peer, peer) == 0)
			break;
	}
	if (p == NULL) {
		pthread_mutex_unlock(&c->mu);
		client__report(c, MQE2E_ERR_NOT_FOUND, NULL, peer, NULL, 0, "dropped a pairing "
		    "response from '%s' that answers no request of ours", peer);
		return;
	}
	r = mqe2e_pair_finish(p->st, c->trust, resp, len, mqe2e_now_ms(), &info, key);
	if (r == MQE2E_OK)
		r = pair_store(c, MQE2E_PAIR_ROLE_PUB, &info, key);
	p->done = 1;
	p->rc = r;
	memcpy(group, p->group, sizeof(group));
	session__changed(c);
	pthread_mutex_unlock(&c->mu);
	if (r != MQE2E_OK)
		client__report(c, r, NULL, peer, group, 0, "the pairing response of '%s' "
		    "for group '%s' does not verify: %s", peer, group, mqe2e_strerror(r));
}

static void
pend_remove(struct mqe2e_client *c, struct pairpend *target)
{
	struct pairpend **pp;

	for (pp = &c->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == target) {
			*pp = target->next;
			mqe2e_pair_free(target->st);
			free(target);
			return;
		}
	}
}

int
pair__ensure(struct mqe2e_client *c, const char *group, char *const *ids, size_t n,
    const struct timespec *deadline)
{
	struct pairpend *p, *mine = NULL, **tail;
	struct pairkey *k;
	struct pairretry *t;
	uint64_t now, refresh_ms = (uint64_t)c->cfg.pair_refresh_s * 1000u;
	uint8_t *req = NULL;
	size_t req_len = 0, i;
	char topic[PAIR_TOPIC_MAX], resp_topic[PAIR_TOPIC_MAX];
	int r, missing = 0, failed = 0, err = MQE2E_OK;
	uint32_t gen;

	if (client__on_paho_thread())
		return MQE2E_OK;        /* a callback cannot wait for the answers */
	inbox(resp_topic, sizeof(resp_topic), "resp", c->id);
	/* requests for every recipient without a key */
	for (i = 0; i < n; i++) {
		const char *peer = ids[i];

		pthread_mutex_lock(&c->mu);
		k = pair__find(c, MQE2E_PAIR_ROLE_PUB, peer, strlen(peer), group);
		t = retry_of(c, peer, 0);
		now = client__mono_ms();
		if ((k != NULL && now - k->made_ms < refresh_ms) || (t != NULL && now < t->until_ms)) {
			/* paired lately, or did not answer lately: do not stall
			 * every publish (a key older than pair_refresh_s is renewed,
			 * so that a subscriber that restarted gets one again) */
			pthread_mutex_unlock(&c->mu);
			continue;
		}
		/* a fresh generation, never one used before by this client */
		gen = (uint32_t)time(NULL);
		if (gen <= c->pair_gen)
			gen = c->pair_gen + 1;
		c->pair_gen = gen;
		pthread_mutex_unlock(&c->mu);
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			err = MQE2E_ERR_NOMEM;
			break;
		}
		client__fmt(p->peer, sizeof(p->peer), "%s", peer);
		client__fmt(p->group, sizeof(p->group), "%s", group);
		if ((err = mqe2e_pair_request_build(c->ident, peer, group, gen, mqe2e_now_ms(),
		    &p->st, &req, &req_len)) != MQE2E_OK) {
			free(p);
			break;
		}
		pthread_mutex_lock(&c->mu);
		p->next = c->pending;
		c->pending = p;
		pthread_mutex_unlock(&c->mu);
		p->mine_next = mine;
		mine = p;
		inbox(topic, sizeof(topic), "req", peer);
		r = send_raw(c, topic, req, req_len, resp_topic);
		free(req);
		req = NULL;
		if (r != MQE2E_OK) {
			pthread_mutex_lock(&c->mu);
			p->done = 1;
			p->rc = r;
			pthread_mutex_unlock(&c->mu);
		}
		missing++;
	}
	if (missing == 0)
		return err;
	/* wait for the answers */
	pthread_mutex_lock(&c->mu);
	for (;;) {
		int open = 0;

		for (p = mine; p != NULL; p = p->mine_next)
			open += !p->done;
		if (open == 0)
			break;
		if (mqe2e_cond_wait_until(&c->cv, &c->mu, deadline) != 0)
			break;
	}
	for (tail = &mine; (p = *tail) != NULL;) {
		*tail = p->mine_next;
		if (!p->done || p->rc != MQE2E_OK) {
			failed++;
			if ((t = retry_of(c, p->peer, 1)) != NULL)
				t->until_ms = client__mono_ms() + PAIR_RETRY_MS;
			client__fmt(c->errmsg, sizeof(c->errmsg), "subscriber '%s' did not "
			    "complete pairing for group '%s' (%s): is it connected, and does it "
			    "hold a 'sub' grant on '%s'? Messages leave it out unless it was "
			    "paired before; asking again in %d s", p->peer, group,
			    p->done ? mqe2e_strerror(p->rc) : "no answer in time", group,
			    PAIR_RETRY_MS / 1000);
		}
		pend_remove(c, p);
	}
	if (err != MQE2E_OK)
		client__fmt(c->errmsg, sizeof(c->errmsg), "cannot ask for pairing in group "
		    "'%s': %s", group, mqe2e_strerror(err));
	pthread_mutex_unlock(&c->mu);
	return err != MQE2E_OK ? err : failed == 0 ? MQE2E_OK : MQE2E_ERR_TIMEOUT;
}
