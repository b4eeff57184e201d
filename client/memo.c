/*
 * memo.c - a message's group-key checks made once per process.
 *
 * A process with many clients of one group (a gateway, the bench's 200
 * subscribers) receives each message once per client, byte for byte the
 * same: the broker's frame under the same GK_B, the envelope inside under
 * the same GK_P.  Checking a MAC and opening an AEAD are deterministic
 * functions of (key, associated data, input), so the answer for the first
 * client holds for the next ones: the memo keeps the last success of each
 * operation and answers a later question that is the same byte for byte
 * (the key compared in constant time, the topic and the whole input with
 * memcmp, never through a hash).  It keeps the last MEMO_WAYS successes of
 * each operation, not only the last one: at saturation a subscriber
 * process reads its sockets in the order they become ready, and copies of
 * the few messages in flight reach it interleaved (a broker fanning out
 * four publishers' messages: with one success kept, a full check (and
 * OpenSSL's thread release after it) ran 0.10-0.41 times per copy, about
 * 0.01 with four - BENCHMARKS.md, issue 15, session 9).  Failures are not
 * kept: an altered copy differs in its bytes and is checked in full.  Everything that is per
 * client - the key lookup in that client's own store, the session floor,
 * the replay windows, the grace period - still runs for every copy.
 *
 * What the memo holds are copies of a few group keys and plaintexts (the
 * last MEMO_WAYS of each check) that the process has anyway; each is
 * replaced in turn by a newer message's, and all are wiped when a client of
 * the process is freed (memo__wipe).  Inputs over
 * MEMO_IN_MAX bytes or topics over MEMO_AAD_MAX are not kept.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client_int.h"

#define MEMO_KEY_LEN MQE2E_KEY_LEN
#define MEMO_AAD_MAX 256
#define MEMO_IN_MAX 2048
#define MEMO_OUT_MAX MEMO_IN_MAX
#define MEMO_WAYS 4             /* successes kept per operation */

struct memo_slot {
	/* what a lookup compares first, on one line */
	int set;
	size_t in_len;
	size_t aad_len;
	size_t out_len;
	uint8_t key[MEMO_KEY_LEN];
	char aad[MEMO_AAD_MAX];
	uint8_t in[MEMO_IN_MAX];
	uint8_t out[MEMO_OUT_MAX];
};

static pthread_mutex_t memo_mu = PTHREAD_MUTEX_INITIALIZER;
static struct memo_slot slots[MEMO__OPS][MEMO_WAYS];   /* [memo_mu] */
static unsigned next_way[MEMO__OPS];                    /* [memo_mu] replaced next */

static int
fits(const struct memo_q *q, size_t out_len)
{
	return q->op < MEMO__OPS && q->key != NULL && q->aad_len <= MEMO_AAD_MAX &&
	    q->in_len <= MEMO_IN_MAX && out_len <= MEMO_OUT_MAX;
}

int
memo__get(const struct memo_q *q, uint8_t *out, size_t out_len)
{
	struct memo_slot *s;
	int hit = 0;
	unsigned w;

	if (!fits(q, out_len))
		return 0;
	pthread_mutex_lock(&memo_mu);
	for (w = 0; w < MEMO_WAYS && !hit; w++) {
		s = &slots[q->op][w];
		hit = s->set && s->in_len == q->in_len && s->aad_len == q->aad_len &&
		    s->out_len == out_len && memcmp(s->in, q->in, q->in_len) == 0 &&
		    memcmp(s->aad, q->aad, q->aad_len) == 0 &&
		    CRYPTO_memcmp(s->key, q->key, MEMO_KEY_LEN) == 0;
		if (hit && out_len > 0)
			memcpy(out, s->out, out_len);
	}
	pthread_mutex_unlock(&memo_mu);
	return hit;
}

void
memo__put(const struct memo_q *q, const uint8_t *out, size_t out_len)
{
	struct memo_slot *s;

	if (!fits(q, out_len))
		return;
	pthread_mutex_lock(&memo_mu);
	/* the oldest success of the operation makes room (in turn) */
	s = &slots[q->op][next_way[q->op]];
	next_way[q->op] = (next_way[q->op] + 1) % MEMO_WAYS;
	mqe2e_wipe(s, sizeof(*s));
	memcpy(s->key, q->key, MEMO_KEY_LEN);
	memcpy(s->aad, q->aad, q->aad_len);
	s->aad_len = q->aad_len;
	memcpy(s->in, q->in, q->in_len);
	s->in_len = q->in_len;
	if (out_len > 0)
		memcpy(s->out, out, out_len);
	s->out_len = out_len;
	s->set = 1;
	pthread_mutex_unlock(&memo_mu);
}

void
memo__wipe(void)
{
	pthread_mutex_lock(&memo_mu);
	mqe2e_wipe(slots, sizeof(slots));
	pthread_mutex_unlock(&memo_mu);
}
