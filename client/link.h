/*
 * link.h - the client's link to the broker as one state machine (link.c),
 * and the jittered exponential backoff that its reconnects and the key
 * fetches share.  Pure bookkeeping: no locks, no paho, no clock of its own
 * (callers pass the monotonic time), so the rules are unit-tested alone
 * (tests/client12_link.c).  The client keeps one struct link under its
 * mutex; nothing else writes the fields.
 */
#ifndef MQE2E_LINK_H
#define MQE2E_LINK_H

#include <stdint.h>

/* Equal jitter: each wait is half the current backoff plus a random part of
 * the other half, then the backoff doubles up to max_ms; reset brings it
 * back to min_ms.  So clients that lost a broker or a KMS together come
 * back spread out, and a long outage costs one try per max_ms at most. */
struct backoff {
	int min_ms, max_ms;
	int cur_ms;                   /* the backoff the next wait is drawn from */
	uint64_t next_ms;             /* monotonic: not before this (0: now) */
	unsigned failures;            /* waits drawn since the last reset */
};

void backoff__init(struct backoff *b, int min_ms, int max_ms);
/* After a failure at now: draw the next wait (rnd: any 32 random bits),
 * double the backoff; returns next_ms. */
uint64_t backoff__fail(struct backoff *b, uint64_t now_ms, uint32_t rnd);
/* After a success: the next failure waits min_ms again. */
void backoff__reset(struct backoff *b);
/* 32 random bits for backoff__fail (the OS's generator; never fails). */
uint32_t backoff__rand(void);

enum link_state { LINK_DOWN = 0, LINK_CONNECTING, LINK_UP };

enum link_event_kind {
	LINK_EV_ATTEMPT,        /* a connect attempt was handed to paho */
	LINK_EV_ABORT,          /* paho refused to start that attempt */
	LINK_EV_START_FAILED,   /* the link thread could not start one: retry later */
	LINK_EV_UP,             /* the attempt's CONNACK verified */
	LINK_EV_FAILED,         /* the attempt failed: refused, bad handshake,
	                           no route, or no answer by its deadline */
	LINK_EV_LOST,           /* paho: connection lost, or DISCONNECT from the broker */
	LINK_EV_STALE,          /* a send found paho disconnected before we heard */
	LINK_EV_CLOSED,         /* mqe2e_disconnect(): down, no retry */
	LINK_EV_RESET,          /* a first connect: the backoff starts over */
	LINK_EV_HURRY           /* someone waits for the link: next retry now */
};

struct link_event {
	enum link_event_kind kind;
	uint64_t now_ms;              /* monotonic */
	void *attempt;                /* ATTEMPT, ABORT, UP, FAILED: which one */
	uint64_t deadline_ms;         /* ATTEMPT: give up on it then */
	uint64_t gen;                 /* STALE: the generation the sender used */
};

struct link {
	enum link_state state;
	uint64_t gen;                 /* bumps at every up and every down */
	void *attempt;                /* the connect attempt in flight, or NULL */
	uint64_t attempt_deadline_ms; /* monotonic: give up on it then */
	struct backoff retry;         /* when the next attempt may start */
};

/* What link__handle changed, for the caller to act on (outside its lock). */
#define LINK_FX_CAME_UP   0x01    /* now up: renew subscriptions, tell the app */
#define LINK_FX_WENT_DOWN 0x02    /* was up, is not: tell the app */
#define LINK_FX_IGNORED   0x04    /* about an attempt that is not ours any more */

void link__init(struct link *l, int retry_min_ms, int retry_max_ms);
/* Apply one event; returns LINK_FX_* bits.  The rules:
 *   ATTEMPT   -> CONNECTING with that attempt and deadline
 *   ABORT     -> DOWN, no attempt (if it was that one)
 *   START_FAILED -> next attempt after a backoff wait
 *   UP        -> UP, gen+1, backoff reset             (if it is the attempt)
 *   FAILED    -> DOWN, next attempt after a backoff wait (if it is the attempt)
 *   LOST      -> gen+1, next attempt after a backoff wait, and DOWN unless
 *                an attempt is under way (then the news is the old link's)
 *   STALE     -> DOWN, gen+1, if still UP on that generation
 *   CLOSED    -> DOWN, gen+1
 *   RESET     -> backoff back to its minimum
 *   HURRY     -> the next attempt may start now */
unsigned link__handle(struct link *l, const struct link_event *ev);
/* 1 if a new attempt should start at now (down, none under way, wait over). */
int link__due(const struct link *l, uint64_t now_ms);
/* 1 if the attempt under way has passed its deadline at now. */
int link__expired(const struct link *l, uint64_t now_ms);
/* The next moment link__due or link__expired may change (<= limit_ms);
 * reconnecting: whether automatic reconnects are on. */
uint64_t link__wake(const struct link *l, int reconnecting, uint64_t limit_ms);

#endif
