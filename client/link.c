/*
 * link.c - the client's link state machine and the shared backoff
 * (link.h).  session.c and publish.c feed it events; it alone moves the
 * state, the generation, the attempt in flight and the backoff.
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "crypto.h"
#include "link.h"

void
backoff__init(struct backoff *b, int min_ms, int max_ms)
{
	memset(b, 0, sizeof(*b));
	b->min_ms = min_ms > 0 ? min_ms : 1;
	b->max_ms = max_ms >= b->min_ms ? max_ms : b->min_ms;
	b->cur_ms = b->min_ms;
}

uint64_t
backoff__fail(struct backoff *b, uint64_t now_ms, uint32_t rnd)
{
	uint64_t half = (uint64_t)b->cur_ms / 2;

	b->next_ms = now_ms + half + (half > 0 ? rnd % (half + 1) : 0);
	b->cur_ms = b->cur_ms > b->max_ms / 2 ? b->max_ms : b->cur_ms * 2;
	b->failures++;
	return b->next_ms;
}

void
backoff__reset(struct backoff *b)
{
	b->cur_ms = b->min_ms;
	b->failures = 0;
}

uint32_t
backoff__rand(void)
{
	static _Thread_local uint32_t fallback;
	struct timespec ts;
	uint32_t r = 0;

	if (mqe2e_random(&r, sizeof(r)) == MQE2E_OK)
		return r;
	/* no OS randomness: anything that differs between processes spreads
	 * them well enough (this is jitter, not a secret) */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fallback = (fallback ^ (uint32_t)ts.tv_nsec ^ (uint32_t)(uintptr_t)&ts) * 2654435761u;
	return fallback;
}

void
link__init(struct link *l, int retry_min_ms, int retry_max_ms)
{
	memset(l, 0, sizeof(*l));
	l->state = LINK_DOWN;
	backoff__init(&l->retry, retry_min_ms, retry_max_ms);
}

/* Down, with the next attempt after a backoff wait. */
static void
retry_later(struct link *l, uint64_t now_ms)
{
	(void)backoff__fail(&l->retry, now_ms, backoff__rand());
}

unsigned
link__handle(struct link *l, const struct link_event *ev)
{
	int was_up = l->state == LINK_UP;
	unsigned fx = 0;

	switch (ev->kind) {
	case LINK_EV_ATTEMPT:
		l->attempt = ev->attempt;
		l->attempt_deadline_ms = ev->deadline_ms;
		l->state = LINK_CONNECTING;
		break;
	case LINK_EV_ABORT:
		if (l->attempt != ev->attempt)
			return LINK_FX_IGNORED;
		l->attempt = NULL;
		l->state = LINK_DOWN;
		break;
	case LINK_EV_START_FAILED:
		retry_later(l, ev->now_ms);
		break;
	case LINK_EV_UP:
		if (ev->attempt == NULL || l->attempt != ev->attempt)
			return LINK_FX_IGNORED;
		l->attempt = NULL;
		l->state = LINK_UP;
		l->gen++;
		backoff__reset(&l->retry);
		fx |= LINK_FX_CAME_UP;
		break;
	case LINK_EV_FAILED:
		if (ev->attempt == NULL || l->attempt != ev->attempt)
			return LINK_FX_IGNORED;
		l->attempt = NULL;
		l->state = LINK_DOWN;
		retry_later(l, ev->now_ms);
		break;
	case LINK_EV_LOST:
		if (l->attempt == NULL)
			l->state = LINK_DOWN;
		l->gen++;
		retry_later(l, ev->now_ms);
		break;
	case LINK_EV_STALE:
		if (l->state != LINK_UP || l->gen != ev->gen)
			return LINK_FX_IGNORED;
		/* paho saw the drop before we did: the link thread catches up */
		l->state = LINK_DOWN;
		l->gen++;
		break;
	case LINK_EV_CLOSED:
		l->state = LINK_DOWN;
		l->gen++;
		break;
	case LINK_EV_RESET:
		backoff__reset(&l->retry);
		break;
	case LINK_EV_HURRY:
		l->retry.next_ms = 0;
		break;
	}
	if (was_up && l->state != LINK_UP)
		fx |= LINK_FX_WENT_DOWN;
	return fx;
}

int
link__due(const struct link *l, uint64_t now_ms)
{
	return l->state == LINK_DOWN && l->attempt == NULL && now_ms >= l->retry.next_ms;
}

int
link__expired(const struct link *l, uint64_t now_ms)
{
	return l->attempt != NULL && now_ms >= l->attempt_deadline_ms;
}

uint64_t
link__wake(const struct link *l, int reconnecting, uint64_t limit_ms)
{
	uint64_t wake = limit_ms;

	if (reconnecting && l->state == LINK_DOWN && l->attempt == NULL &&
	    l->retry.next_ms < wake)
		wake = l->retry.next_ms;
	if (l->attempt != NULL && l->attempt_deadline_ms < wake)
		wake = l->attempt_deadline_ms;
	return wake;
}
