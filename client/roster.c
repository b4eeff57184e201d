/*
 * roster.c - whom a scheme 1/2 publisher seals for: the subscribers of each
 * pairwise group, from the broker's retained roster
 *
 *     mqe2e/v1/roster/<group>     "id\n" per connected subscriber, sorted
 *
 * (docs/PLUGIN.md), unless the "recipients" option (mqe2e-pub --to) names
 * them.  The library subscribes to the roster of every scheme 1/2 group it
 * may publish to, at each connect and whenever a key fetch brings such a
 * group, and keeps the latest roster per group, so that a subscriber that
 * joins later is paired with at the next message.  The roster is a routing
 * hint, not a trust decision: each pairing is authenticated end to end.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define ROSTER_GRACE_MS 300       /* for the retained roster after the SUBACK */

static void
ids_free(char **ids, size_t n)
{
	while (n > 0)
		free(ids[--n]);
	free(ids);
}

static struct roster *
find(struct mqe2e_client *c, const char *group)
{
	struct roster *r;

	for (r = c->rosters; r != NULL; r = r->next)
		if (strcmp(r->group, group) == 0)
			return r;
	return NULL;
}

/* The roster entry of group, created empty (mu held). */
static struct roster *
get(struct mqe2e_client *c, const char *group)
{
	struct roster *r = find(c, group);

	if (r != NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return r;
	client__fmt(r->group, sizeof(r->group), "%s", group);
	r->next = c->rosters;
	c->rosters = r;
	return r;
}

const char *
roster__group_of_topic(const char *topic)
{
	const char *g;

	if (strncmp(topic, MQE2E_ROSTER_TOPIC_PREFIX, sizeof(MQE2E_ROSTER_TOPIC_PREFIX) - 1) != 0)
		return NULL;
	g = topic + sizeof(MQE2E_ROSTER_TOPIC_PREFIX) - 1;
	return mqe2e_id_valid_str(g) ? g : NULL;
}

/* 1 if the library follows the roster of g (mu held). */
static int
followed(const struct mqe2e_client *c, const struct mqe2e_group_info *g)
{
	return c->nrecipients == 0 && (g->rights & MQE2E_RIGHT_PUB) &&
	    (g->scheme == MQE2E_SCHEME_1 || g->scheme == MQE2E_SCHEME_2);
}

void
roster__on_message(struct mqe2e_client *c, const char *topic, const uint8_t *p, size_t len)
{
	const char *group = roster__group_of_topic(topic);
	char **ids = NULL;
	size_t n = 0, i, start, cap = 0;
	struct roster *r;

	if (group == NULL)
		return;
	/* untrusted: ids one per line, each a valid id */
	for (i = start = 0; i < len; i++) {
		char **nids;

		if (p[i] != '\n')
			continue;
		if (!mqe2e_id_valid(p + start, i - start) || n == CLIENT_RECIPIENTS_MAX)
			goto bad;
		if (n == cap) {
			cap = cap ? 2 * cap : 8;
			if ((nids = realloc(ids, cap * sizeof(*ids))) == NULL)
				goto nomem;
			ids = nids;
		}
		if ((ids[n] = strndup((const char *)p + start, i - start)) == NULL)
			goto nomem;
		n++;
		start = i + 1;
	}
	if (start != len)
		goto bad;
	pthread_mutex_lock(&c->mu);
	if ((r = get(c, group)) != NULL) {
		ids_free(r->ids, r->n);
		r->ids = ids;
		r->n = n;
		r->received = 1;
		ids = NULL;
		n = 0;
		session__changed(c);
	}
	pthread_mutex_unlock(&c->mu);
	ids_free(ids, n);
	return;
bad:
	client__report(c, MQE2E_ERR_BAD_FORMAT, topic, NULL, group, 0, "dropped a malformed "
	    "roster of group '%s'", group);
	ids_free(ids, n);
	return;
nomem:
	ids_free(ids, n);
}

size_t
roster__filters(struct mqe2e_client *c, char ***out)
{
	char **f = NULL;
	size_t i, n = 0;

	*out = NULL;
	for (i = 0; i < c->keys.ngroups; i++)
		n += followed(c, &c->keys.groups[i]);
	if (n == 0 || (f = calloc(n, sizeof(*f))) == NULL)
		return 0;
	for (i = 0, n = 0; i < c->keys.ngroups; i++) {
		const struct mqe2e_group_info *g = &c->keys.groups[i];
		struct roster *r;
		size_t len = sizeof(MQE2E_ROSTER_TOPIC_PREFIX) + strlen(g->name);

		if (!followed(c, g) || (r = get(c, g->name)) == NULL ||
		    (f[n] = malloc(len)) == NULL)
			continue;
		client__fmt(f[n], len, "%s%s", MQE2E_ROSTER_TOPIC_PREFIX, g->name);
		r->link_gen = c->link.gen;
		r->suback_ms = 0;
		n++;
	}
	if (n == 0) {
		free(f);
		return 0;
	}
	*out = f;
	return n;
}

void
roster__on_suback(struct mqe2e_client *c)
{
	struct roster *r;

	pthread_mutex_lock(&c->mu);
	for (r = c->rosters; r != NULL; r = r->next)
		if (r->link_gen == c->link.gen && r->suback_ms == 0)
			r->suback_ms = client__mono_ms();
	session__changed(c);
	pthread_mutex_unlock(&c->mu);
}

static void
on_sub_ok(void *ctx, MQTTAsync_successData5 *resp)
{
	(void)resp;
	client__paho_thread_enter();
	roster__on_suback(ctx);
}

/* paho: a roster subscription was refused or failed; the next connect or
 * key fetch asks again. */
static void
on_sub_fail(void *ctx, MQTTAsync_failureData5 *resp)
{
	struct mqe2e_client *c = ctx;

	client__paho_thread_enter();
	client__report(c, MQE2E_ERR_DENIED, NULL, NULL, NULL, 0, "the broker refused the "
	    "roster subscription of client '%s' (reason %d): scheme 1/2 recipients are "
	    "unknown until the next connect", c->id, resp != NULL ? (int)resp->reasonCode : -1);
}

void
roster__sync(struct mqe2e_client *c)
{
	MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
	char topic[sizeof(MQE2E_ROSTER_TOPIC_PREFIX) + MQE2E_ID_MAX];
	char (*todo)[MQE2E_ID_MAX + 1] = NULL;
	size_t i, n = 0;
	struct roster *r;

	pthread_mutex_lock(&c->mu);
	if (c->link.state != LINK_UP || c->keys.ngroups == 0 ||
	    (todo = calloc(c->keys.ngroups, sizeof(*todo))) == NULL) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	for (i = 0; i < c->keys.ngroups; i++) {
		const struct mqe2e_group_info *g = &c->keys.groups[i];

		if (!followed(c, g) || (r = get(c, g->name)) == NULL || r->link_gen == c->link.gen)
			continue;
		r->link_gen = c->link.gen;
		r->received = 0;
		r->suback_ms = 0;
		memcpy(todo[n++], g->name, sizeof(todo[0]));
	}
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < n; i++) {
		client__fmt(topic, sizeof(topic), "%s%s", MQE2E_ROSTER_TOPIC_PREFIX, todo[i]);
		ro.onSuccess5 = on_sub_ok;
		ro.onFailure5 = on_sub_fail;
		ro.context = c;
		(void)MQTTAsync_subscribe(c->mqtt, topic, 1, &ro);
	}
	free(todo);
}

int
roster__recipients(struct mqe2e_client *c, const char *group, const struct timespec *deadline,
    char ***out, size_t *nout)
{
	const struct mqe2e_group_info *g;
	struct timespec until;
	struct roster *r;
	char **ids = NULL, *const *src;
	size_t i, n;

	*out = NULL;
	*nout = 0;
	pthread_mutex_lock(&c->mu);
	/* a roster subscribed but not yet heard from: the broker sends the
	 * retained roster right behind the SUBACK, and an empty roster is no
	 * message at all, hence a short grace once the SUBACK is in */
	while (c->nrecipients == 0 && !client__on_paho_thread() && c->link.state == LINK_UP &&
	    (g = keys__group(&c->keys, group)) != NULL && followed(c, g) &&
	    ((r = find(c, group)) == NULL || r->link_gen != c->link.gen || !r->received)) {
		/* (no entry or an old link: the subscription at this connect is
		 * on its way) */
		client__deadline(&until, 100);
		if (r != NULL && r->link_gen == c->link.gen && r->suback_ms != 0 &&
		    client__mono_ms() >= r->suback_ms + ROSTER_GRACE_MS) {
			r->received = 1;        /* nothing came: nobody is there */
			break;
		}
		if (deadline->tv_sec < until.tv_sec ||
		    (deadline->tv_sec == until.tv_sec && deadline->tv_nsec <= until.tv_nsec)) {
			(void)mqe2e_cond_wait_until(&c->cv, &c->mu, deadline);
			break;
		}
		(void)mqe2e_cond_wait_until(&c->cv, &c->mu, &until);
	}
	r = find(c, group);
	src = c->nrecipients > 0 ? c->recipients : r != NULL ? r->ids : NULL;
	n = c->nrecipients > 0 ? c->nrecipients : r != NULL ? r->n : 0;
	if (n > 0 && (ids = calloc(n, sizeof(*ids))) == NULL) {
		pthread_mutex_unlock(&c->mu);
		return MQE2E_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(src[i], c->id) == 0)
			continue;               /* not myself, if I also subscribe */
		if ((ids[*nout] = strdup(src[i])) == NULL) {
			pthread_mutex_unlock(&c->mu);
			ids_free(ids, *nout);
			*nout = 0;
			return MQE2E_ERR_NOMEM;
		}
		(*nout)++;
	}
	pthread_mutex_unlock(&c->mu);
	*out = ids;
	return MQE2E_OK;
}

void
roster__free_list(char **ids, size_t n)
{
	ids_free(ids, n);
}

void
roster__free_all(struct mqe2e_client *c)
{
	struct roster *r;

	while ((r = c->rosters) != NULL) {
		c->rosters = r->next;
		ids_free(r->ids, r->n);
		free(r);
	}
}
