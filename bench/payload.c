/*
 * payload.c - the plaintext of a bench message.
 *
 *   0..3    "MQB1"
 *   4       phase (1 paced, 2 burst, 3 warm-up)
 *   5..7    zero
 *   8..11   sequence number (big endian)
 *   12..19  scheduled send time, CLOCK_MONOTONIC ns (big endian)
 *   20..27  run id (big endian): stragglers of an earlier run are refused
 *   28..39  zero
 *   40..    fill: byte i = (seq * 31 + i * 7 + 0x5a) mod 256
 *
 * A receiver checks every byte, so a message that the layers below let
 * through corrupted is counted as bad, not as delivered.
 */
#include "config.h"

#include <string.h>

#include "bench.h"

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static uint8_t
fill_byte(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 31u + (uint32_t)i * 7u + 0x5au);
}

void
payload_make(uint8_t *p, size_t len, uint64_t run_id, int phase, uint32_t seq,
    uint64_t sched_ns)
{
	size_t i;

	memset(p, 0, BENCH_PAYLOAD_MIN);
	memcpy(p, "MQB1", 4);
	p[4] = (uint8_t)phase;
	put_be(p + 8, seq, 4);
	put_be(p + 12, sched_ns, 8);
	put_be(p + 20, run_id, 8);
	for (i = BENCH_PAYLOAD_MIN; i < len; i++)
		p[i] = fill_byte(seq, i);
}

int
payload_check(const uint8_t *p, size_t len, size_t want_len, uint64_t run_id, int *phase,
    uint32_t *seq, uint64_t *sched_ns)
{
	static const uint8_t zero[12];
	uint32_t s;
	size_t i;

	if (len != want_len || len < BENCH_PAYLOAD_MIN || memcmp(p, "MQB1", 4) != 0 ||
	    (p[4] != PHASE_PACED && p[4] != PHASE_BURST && p[4] != PHASE_WARM) || p[5] != 0 || p[6] != 0 ||
	    p[7] != 0 || memcmp(p + 28, zero, sizeof(zero)) != 0 ||
	    get_be(p + 20, 8) != run_id)
		return -1;
	s = (uint32_t)get_be(p + 8, 4);
	for (i = BENCH_PAYLOAD_MIN; i < len; i++)
		if (p[i] != fill_byte(s, i))
			return -1;
	*phase = p[4];
	*seq = s;
	*sched_ns = get_be(p + 12, 8);
	return 0;
}
