/*
 * roster.c - who can be reached in a scheme 1/2 group right now.
 *
 * A scheme 1/2 publisher seals one envelope per subscriber, so it must know
 * the subscribers it can pair with.  For every scheme 1/2 group the broker
 * publishes, retained, on
 *
 *     mqe2e/v1/roster/<group>
 *
 * the sorted client ids of the connected mqe2e clients holding a "sub" grant
 * on the group that can be asked to pair, one per line ("\n"-terminated):
 * clients that subscribed to their pairing request inbox on this
 * connection, or resumed a persistent session (bx_session.pairable).
 * Listing a client before its inbox subscription would send a publisher's
 * request where nobody reads it, and the publisher would leave that
 * subscriber out until it asks again.  Nobody is an empty payload, which in
 * MQTT also clears the retained message, so a client subscribing then gets
 * no roster message at all.  It is republished when it changes (connect,
 * inbox subscription, disconnect, new policy), at most once per tick.
 * Clients with a grant on the group may subscribe to it
 * (acl.c).  The roster is a routing hint, not a trust decision: each
 * pairing is still authenticated end to end (PAIR_REQUEST/RESPONSE).
 * Broker thread only.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>

#include "plugin.h"

struct last {
	char *group;
	char *payload;     /* last published, "" for nobody */
};

static bool dirty;
static struct last *lasts;
static size_t nlasts;

void roster__mark_dirty(void)
{
	dirty = true;
}

struct collect {
	size_t gi;
	char **ids;
	size_t n, cap;
};

static void collect(struct bx_session *s, void *arg)
{
	struct collect *c = arg;
	char **nids;

	if (s->plain || !s->pairable || s->id[0] == '\0' || !(policy__rights(bx.policy, s->id, c->gi) & BX_RIGHT_SUB))
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;

		if ((nids = realloc(c->ids, cap * sizeof(*nids))) == NULL)
			return;
		c->ids = nids;
		c->cap = cap;
	}
	c->ids[c->n++] = s->id;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct last *last_of(const char *group)
{
	struct last *nl;
	size_t i;

	for (i = 0; i < nlasts; i++)
		if (!strcmp(lasts[i].group, group))
			return &lasts[i];
	if ((nl = realloc(lasts, (nlasts + 1) * sizeof(*lasts))) == NULL)
		return NULL;
	lasts = nl;
	if ((lasts[nlasts].group = strdup(group)) == NULL)
		return NULL;
	lasts[nlasts].payload = NULL;
	return &lasts[nlasts++];
}

static void publish_group(size_t gi)
{
	struct bx_group *g = &bx.policy->groups[gi];
	struct collect c = { gi, NULL, 0, 0 };
	struct last *l;
	char topic[64 + MQE2E_ID_MAX], *payload = NULL;
	size_t i, len = 0, off = 0;

	session__foreach(collect, &c);
	if (c.n > 1)
		qsort(c.ids, c.n, sizeof(*c.ids), cmp);
	for (i = 0; i < c.n; i++)
		len += strlen(c.ids[i]) + 1;
	if ((payload = malloc(len + 1)) == NULL)
		goto out;
	for (i = 0; i < c.n; i++) {
		size_t k = strlen(c.ids[i]);

		if (i > 0 && !strcmp(c.ids[i], c.ids[i - 1]))
			continue;   /* a session takeover in progress */
		memcpy(payload + off, c.ids[i], k);
		payload[off + k] = '\n';
		off += k + 1;
	}
	payload[off] = '\0';
	if ((l = last_of(g->name)) == NULL)
		goto out;
	if (l->payload != NULL && !strcmp(l->payload, payload))
		goto out;
	snprintf(topic, sizeof(topic), MQE2E_ROSTER_TOPIC_PREFIX "%s", g->name);
	if (mosquitto_broker_publish_copy(NULL, topic, (int)off, payload, 1, true, NULL) != MOSQ_ERR_SUCCESS)
		goto out;
	free(l->payload);
	l->payload = payload;
	payload = NULL;
out:
	free(payload);
	free(c.ids);
}

/* A group that is gone or no longer scheme 1/2 loses its retained roster. */
static void clear_stale(void)
{
	struct bx_group *g;
	char topic[64 + MQE2E_ID_MAX];
	size_t i;

	for (i = 0; i < nlasts; i++) {
		g = policy__find(bx.policy, lasts[i].group, NULL);
		if ((g != NULL && (g->scheme == MQE2E_SCHEME_1 || g->scheme == MQE2E_SCHEME_2)) ||
		    lasts[i].payload == NULL || lasts[i].payload[0] == '\0')
			continue;
		snprintf(topic, sizeof(topic), MQE2E_ROSTER_TOPIC_PREFIX "%s", lasts[i].group);
		if (mosquitto_broker_publish_copy(NULL, topic, 0, "", 1, true, NULL) == MOSQ_ERR_SUCCESS)
			lasts[i].payload[0] = '\0';
	}
}

void roster__tick(void)
{
	size_t gi;

	if (!dirty || bx.policy == NULL)
		return;
	dirty = false;
	clear_stale();
	for (gi = 0; gi < bx.policy->ngroups; gi++) {
		uint8_t sc = bx.policy->groups[gi].scheme;

		if (sc == MQE2E_SCHEME_1 || sc == MQE2E_SCHEME_2)
			publish_group(gi);
	}
}

void roster__cleanup(void)
{
	size_t i;

	for (i = 0; i < nlasts; i++) {
		free(lasts[i].group);
		free(lasts[i].payload);
	}
	free(lasts);
	lasts = NULL;
	nlasts = 0;
	dirty = false;
}

const char *roster__group(const char *topic)
{
	static const char prefix[] = MQE2E_ROSTER_TOPIC_PREFIX;

	if (strncmp(topic, prefix, sizeof(prefix) - 1) != 0)
		return NULL;
	return topic + sizeof(prefix) - 1;
}
