/*
 * retained.c - the group topics that hold a retained message, so that the
 * retained messages of a deleted group can be dropped.
 *
 * Mosquitto 2.0 gives a plugin no way to list the retained messages it
 * stores, so the plugin notes each topic whose retained message it sees:
 * when it relays one (MOSQ_EVT_MESSAGE, after message.c has swapped in the
 * broker's frame) and when one is delivered to a new subscription (the read
 * check, which also covers messages loaded from a persistence file after a
 * restart).  When a new policy snapshot no longer has a group, an empty
 * retained publish clears each noted topic of that group.  A message stored
 * before a restart that nobody has received since is not known; no group
 * covers its topic any more, so no subscription can reach it (acl.c).
 * Broker thread only.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include "plugin.h"

#define RETAINED_TOPICS_MAX 100000

struct rtopic {
	char *topic;
	char *group;
};

static struct rtopic *rt;   /* sorted by topic */
static size_t nrt, caprt;
static bool warned_full;

static int find(const char *topic, size_t *at)
{
	size_t lo = 0, hi = nrt, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(topic, rt[mid].topic)) == 0) {
			*at = mid;
			return 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*at = lo;
	return 0;
}

static void drop_at(size_t i)
{
	free(rt[i].topic);
	free(rt[i].group);
	memmove(&rt[i], &rt[i + 1], (nrt - i - 1) * sizeof(*rt));
	nrt--;
}

static void note(const char *group, const char *topic, bool present)
{
	struct rtopic *n;
	size_t i;

	if (find(topic, &i)) {
		if (!present)
			drop_at(i);
		else if (strcmp(rt[i].group, group) != 0) {
			char *g = strdup(group);

			if (g != NULL) {
				free(rt[i].group);
				rt[i].group = g;
			}
		}
		return;
	}
	if (!present)
		return;
	if (nrt == RETAINED_TOPICS_MAX) {
		if (!warned_full)
			plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "more than %d topics hold "
			    "retained messages: those of further topics are not dropped with their "
			    "group", RETAINED_TOPICS_MAX);
		warned_full = true;
		return;
	}
	if (nrt == caprt) {
		size_t cap = caprt ? 2 * caprt : 64;

		if ((n = realloc(rt, cap * sizeof(*rt))) == NULL)
			return;
		rt = n;
		caprt = cap;
	}
	memmove(&rt[i + 1], &rt[i], (nrt - i) * sizeof(*rt));
	rt[i].topic = strdup(topic);
	rt[i].group = strdup(group);
	nrt++;
	if (rt[i].topic == NULL || rt[i].group == NULL)
		drop_at(i);
}

void retained__seen(const char *topic, size_t payloadlen)
{
	struct bx_group *g;
	size_t gi;

	if ((g = plugin__group_of(topic, &gi)) != NULL)
		note(g->name, topic, payloadlen > 0);
}

int retained__on_message(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_message *ed = event_data;

	(void)event;
	(void)userdata;
	if (ed->retain)
		retained__seen(ed->topic, ed->payloadlen);
	return MOSQ_ERR_SUCCESS;
}

void retained__policy_changed(const struct bx_policy *old, struct bx_policy *p)
{
	size_t i = 0;

	if (old == NULL)
		return;
	while (i < nrt) {
		if (policy__find(p, rt[i].group, NULL) != NULL) {
			i++;
			continue;
		}
		if (mosquitto_broker_publish_copy(NULL, rt[i].topic, 0, "", 0, true, NULL) !=
		    MOSQ_ERR_SUCCESS) {
			plugin__log(MOSQ_LOG_WARNING, BX_LOG_PREFIX "cannot clear the retained "
			    "message on '%s' of deleted group '%s'", rt[i].topic, rt[i].group);
			i++;
			continue;
		}
		plugin__log(MOSQ_LOG_NOTICE, BX_LOG_PREFIX "group '%s' is gone: retained "
		    "message on '%s' dropped", rt[i].group, rt[i].topic);
		stats__inc(BX_RETAINED_DROPPED);
		drop_at(i);
	}
}

void retained__cleanup(void)
{
	while (nrt > 0)
		drop_at(nrt - 1);
	free(rt);
	rt = NULL;
	caprt = 0;
	warned_full = false;
}
