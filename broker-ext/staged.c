/*
 * staged.c - QoS 2 group messages between PUBREC and PUBREL (issue 9.7).
 *
 * Mosquitto 2.0.11 runs the ACL write check and MOSQ_EVT_MESSAGE when a
 * QoS 2 PUBLISH arrives, answers PUBREC, and queues the stored message to
 * the subscribers only when the PUBREL comes: possibly much later, under
 * another policy.  The one plugin hook on that path is the READ check of
 * each reader.  So every QoS 2 message of a scheme 3/4 group is recorded
 * here, under (group, the seq of the broker's frame), with its publisher;
 * the READ check (acl.c) looks each group frame up and lets a staged one
 * through only while its publisher still holds its pub grant and is not
 * revoked.  The broker frame's (group, seq) is never reused, so a record
 * cannot be confused with another message.
 *
 * Lifetime: a record that a READ check allowed is dropped at the next tick
 * (every reader of one release is checked in the same loop iteration); a
 * denied record is kept, so that the message stays refused when it is
 * retained and read again later.  Records older than STAGED_MAX_AGE_S are
 * dropped, and at most STAGED_MAX records are held (the oldest goes first):
 * the documented limit is that a QoS 2 message left unreleased for longer
 * than a day, or pushed out by 65536 younger ones, is judged on the
 * subscriber's rights alone.  Broker thread only.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin.h"

#define STAGED_MAX 65536
#define STAGED_MAX_AGE_S 86400
#define STAGED_BUCKETS 4096     /* power of two */

struct staged {
	uint64_t ghash;             /* hash of the group name */
	uint64_t seq;               /* the broker frame's seq */
	char *publisher;
	time_t t;
	bool allowed;               /* a READ check let it through */
	bool denied;                /* a READ check refused it */
	struct staged *next;        /* bucket chain */
	struct staged *newer;       /* FIFO, oldest first */
};

static struct staged *buckets[STAGED_BUCKETS];
static struct staged *oldest, *newest;
static size_t nstaged;
static bool any_allowed;
static uint64_t gen;                /* staged__gen() */

static uint64_t group_hash(const uint8_t *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a: names come from the policy */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= name[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static size_t bucket(uint64_t ghash, uint64_t seq)
{
	uint64_t h = ghash ^ (seq * 0x9e3779b97f4a7c15ull);

	h ^= h >> 29;
	return (size_t)h & (STAGED_BUCKETS - 1);
}

static void unlink_free(struct staged *e)
{
	struct staged **pp = &buckets[bucket(e->ghash, e->seq)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->next;
	if (*pp == e)
		*pp = e->next;
	free(e->publisher);
	free(e);
	nstaged--;
	gen++;
}

/* Drop the oldest record (the FIFO head). */
static void drop_oldest(void)
{
	struct staged *e = oldest;

	if (e == NULL)
		return;
	oldest = e->newer;
	if (oldest == NULL)
		newest = NULL;
	unlink_free(e);
}

void staged__add(const char *group, uint64_t seq, const char *publisher)
{
	struct staged *e;
	size_t b;

	if (nstaged >= STAGED_MAX)
		drop_oldest();
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->publisher = strdup(publisher)) == NULL) {
		free(e);
		return;
	}
	e->ghash = group_hash((const uint8_t *)group, strlen(group));
	e->seq = seq;
	e->t = time(NULL);
	b = bucket(e->ghash, seq);
	e->next = buckets[b];
	buckets[b] = e;
	if (newest != NULL)
		newest->newer = e;
	else
		oldest = e;
	newest = e;
	nstaged++;
	gen++;
}

uint64_t staged__gen(void)
{
	return gen;
}

static struct staged *find(const uint8_t *group, size_t group_len, uint64_t seq)
{
	uint64_t gh;
	struct staged *e;

	if (nstaged == 0)
		return NULL;
	gh = group_hash(group, group_len);
	for (e = buckets[bucket(gh, seq)]; e != NULL; e = e->next)
		if (e->ghash == gh && e->seq == seq)
			return e;
	return NULL;
}

int staged__check(const uint8_t *group, size_t group_len, uint64_t seq, size_t gi)
{
	struct staged *e = find(group, group_len, seq);

	if (e == NULL)
		return 0;
	if (!e->denied && bx.policy != NULL && gi < bx.policy->ngroups &&
	    (policy__rights(bx.policy, e->publisher, gi) & BX_RIGHT_PUB) &&
	    !policy__is_revoked_client(bx.policy, e->publisher)) {
		e->allowed = true;
		any_allowed = true;
		return 0;
	}
	if (!e->denied)
		gen++;
	e->denied = true;
	return -1;
}

void staged__tick(time_t now)
{
	struct staged *e, *newer, *prev = NULL;

	while (oldest != NULL && oldest->t + STAGED_MAX_AGE_S < now)
		drop_oldest();
	if (!any_allowed)
		return;
	any_allowed = false;
	for (e = oldest; e != NULL; e = newer) {
		newer = e->newer;
		if (e->allowed && !e->denied) {
			if (prev != NULL)
				prev->newer = newer;
			else
				oldest = newer;
			if (newest == e)
				newest = prev;
			unlink_free(e);
		} else {
			prev = e;
		}
	}
}

size_t staged__count(void)
{
	return nstaged;
}

void staged__cleanup(void)
{
	while (oldest != NULL)
		drop_oldest();
	memset(buckets, 0, sizeof(buckets));
	any_allowed = false;
}
